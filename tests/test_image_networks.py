"""Conv encoder/decoder: shapes through the registries, and a tiny image model training through Trainer."""

from __future__ import annotations

import pytest
import torch

from omicsdisent.errors import InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.image_networks import ConvDecoder, ConvEncoder, set_image_precision
from omicsdisent.models.module import IDMVAEModule
from omicsdisent.models.networks import build_decoder, build_encoder
from omicsdisent.train import Trainer


def image_spec(name="m0", shape=(3, 16, 16)):
    return ModalitySpec(name, shape[0] * shape[1] * shape[2], likelihood="laplace_fixed", encoder="conv",
                        decoder="conv", input_shape=shape)


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 28, 28), (1, 12, 20)])
def test_conv_networks_map_flat_images_to_codes_and_back(shape):
    spec, config = image_spec(shape=shape), ModelConfig(z_dim=4, w_dim=6, hidden=(4, 8))
    encoder, decoder = build_encoder(spec, config), build_decoder(spec, config)
    assert isinstance(encoder, ConvEncoder) and isinstance(decoder, ConvDecoder)
    x = torch.rand(5, spec.n_features)
    z_loc, z_scale, w_loc, w_scale = encoder(x)
    assert z_loc.shape == z_scale.shape == (5, 4) and w_loc.shape == w_scale.shape == (5, 6)
    assert (z_scale > 0).all() and (w_scale > 0).all()
    # Decoders take any leading dims (importance draws x sources x samples).
    mean = decoder(torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 6))
    assert mean.shape == (2, 3, 5, spec.n_features)
    assert ((mean > 0) & (mean < 1)).all()


def test_input_shape_must_match_the_feature_count():
    with pytest.raises(InputError, match="input_shape"):
        ModalitySpec("img", 100, encoder="conv", input_shape=(3, 8, 8))
    spec = ModalitySpec("img", 192, encoder="conv", decoder="conv")
    with pytest.raises(InputError, match="input_shape"):
        build_encoder(spec, ModelConfig())


def test_fixed_laplace_scores_pixels_with_scale_075():
    spec = image_spec(shape=(1, 4, 4))
    module = IDMVAEModule([spec, image_spec("m1", (1, 4, 4))], ModelConfig(z_dim=2, w_dim=2, hidden=(2,)))
    dist = module.likelihood_dist("m0", torch.zeros(3, 2), torch.zeros(3, 2))
    assert torch.allclose(dist.base_dist.scale, torch.full((3, 16), 0.75))
    assert torch.allclose(dist.base_dist.loc, module.decoders[0](torch.zeros(3, 2), torch.zeros(3, 2)))


def test_tiny_image_model_trains_through_the_trainer_and_its_loss_falls():
    torch.manual_seed(0)
    shape = (3, 16, 16)
    specs = [image_spec(f"m{i}", shape) for i in range(3)]
    module = IDMVAEModule(specs, ModelConfig(z_dim=4, w_dim=8, hidden=(4, 8), lambda_mi=5.0, lambda_genaug=1.0))
    n = 64
    digit = torch.randint(0, 2, (n,))  # a shared bit: a bright or dark square, on noisy images
    x = {}
    for s in specs:
        img = 0.2 * torch.rand(n, *shape)
        img[:, :, 4:12, 4:12] += 0.7 * digit.view(-1, 1, 1, 1)
        x[s.name] = img.reshape(n, -1)
    data = {"x": x, "mask": torch.ones(n, 3, dtype=torch.bool)}
    history = Trainer(epochs=10, batch_size=32, lr=3e-3, val_fraction=0.0, progress=False).fit(module, data)
    totals = history.train["total"]
    assert history.epochs_run == 10 and set(history.train) == {"mmvae_plus", "cross_mi", "genaug", "total"}
    assert totals[-1] < totals[0] - 0.03 * abs(totals[0])


def test_precision_switches_reach_every_image_network():
    specs = [image_spec(f"m{i}") for i in range(2)]
    module = IDMVAEModule(specs, ModelConfig(z_dim=2, w_dim=3, hidden=(4,)))
    assert set_image_precision(module, torch.bfloat16, channels_last=True) == 4
    for tower in (module.encoders[0].z_tower, module.encoders[0].w_tower):
        assert tower.stem.weight.is_contiguous(memory_format=torch.channels_last)
    z_loc, *_ = module.encoders[0](torch.rand(4, 768))
    assert z_loc.dtype == torch.float32  # autocast inside, float32 out
    assert module.decoders[1](torch.zeros(4, 2), torch.zeros(4, 3)).dtype == torch.float32


@pytest.mark.parametrize("trunk", ["separate", "shared"])
def test_encoder_trunk_decides_whether_z_and_w_share_conv_features(trunk):
    spec = image_spec("m0")
    encoder = IDMVAEModule([spec], ModelConfig(z_dim=2, w_dim=3, hidden=(4,), encoder_trunk=trunk)).encoders[0]
    z_loc, z_scale, w_loc, w_scale = encoder(torch.rand(5, 768))
    assert z_loc.shape == z_scale.shape == (5, 2) and w_loc.shape == w_scale.shape == (5, 3)
    w_loc.sum().backward()
    stems = [encoder.z_tower.stem, encoder.w_tower.stem] if trunk == "separate" else [encoder.tower.stem]
    touched = [stem.weight.grad is not None and bool(stem.weight.grad.abs().sum() > 0) for stem in stems]
    # Separate: the private head's loss reaches only its own tower; shared: the one tower.
    assert touched == ([False, True] if trunk == "separate" else [True])
