"""IDMVAEModule: regularisers are wired into the gradients; encode / decode / sample follow the interface."""

from __future__ import annotations

import dataclasses

import pyro
import pytest
import torch

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.module import IDMVAEModule
from omicsdisent.models.objectives import cross_view_infonce


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.poisson(torch.rand(n, 7, generator=g) * 10)
    library = counts.sum(1).clamp(min=1)
    betas = torch.rand(n, 5, generator=g) * 0.9 + 0.05
    mask = torch.ones(n, 3, dtype=torch.bool)
    mask[::4, 1] = False
    mask[1::5, 2] = False
    return {
        "x": {
            "rna": torch.log1p(counts / library[:, None] * 1e3),
            "prot": torch.randn(n, 6, generator=g),
            "meth": torch.log2(betas / (1 - betas)),
        },
        "mask": mask,
        "target": {"rna": counts, "meth": betas},
        "library": {"rna": library},
    }


SPECS = [
    ModalitySpec("rna", 7, likelihood="nb", library_target=1e3),
    ModalitySpec("prot", 6, likelihood="normal"),
    ModalitySpec("meth", 5, likelihood="beta"),
]


def _small(**overrides) -> ModelConfig:
    base = dict(z_dim=3, w_dim=2, hidden=(16,), diffusion_steps=50, diffusion_sampling_steps=10, diffusion_hidden=16,
                lambda_mi=0.0, lambda_genaug=0.0)
    base.update(overrides)
    return ModelConfig(**base)


def _encoder_grads(config: ModelConfig, state=None, seed=7):
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, config)
    if state is not None:
        module.load_state_dict(state, strict=False)
    pyro.set_rng_seed(seed)
    total, terms = module.loss(_batch())
    total.backward()
    grads = torch.cat([p.grad.flatten() for p in module.encoders.parameters()])
    return grads, terms, module


@pytest.mark.parametrize(
    "term, overrides",
    [
        ("cross_mi", dict(lambda_mi=10.0)),
        ("genaug", dict(lambda_genaug=1.0)),
        ("genaug", dict(lambda_genaug=1.0, genaug="l2")),
        ("diffusion", dict(prior="diffusion", diffusion_formulation="authors")),
    ],
)
def test_each_regulariser_changes_the_encoder_gradients(term, overrides):
    base_grads, base_terms, base_module = _encoder_grads(_small())
    grads, terms, _ = _encoder_grads(_small(**overrides), state=base_module.state_dict())
    assert term in terms and torch.isfinite(terms[term]) and terms[term] != 0
    # Same weights and draws: the MMVAE+ part is identical, so the gradient change comes from the term.
    assert torch.equal(terms["mmvae_plus"], base_terms["mmvae_plus"])
    assert not torch.allclose(grads, base_grads)


def test_paper_diffusion_prior_sits_in_the_log_weight_and_trains_encoder_and_denoiser():
    base_grads, base_terms, base_module = _encoder_grads(_small())
    grads, terms, module = _encoder_grads(
        _small(prior="diffusion", diffusion_formulation="paper"), state=base_module.state_dict()
    )
    assert set(terms) == {"mmvae_plus"}
    assert terms["mmvae_plus"] != base_terms["mmvae_plus"]
    assert not torch.allclose(grads, base_grads)
    denoiser_grad = module.z_prior.denoiser.mid.weight.grad
    assert denoiser_grad is not None and denoiser_grad.abs().sum() > 0
    assert all(p.denoiser.mid.weight.grad.abs().sum() > 0 for p in module.w_priors)


def test_terms_sum_to_the_total_and_match_term_names():
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, _small(lambda_mi=2.0, lambda_genaug=0.5, prior="diffusion"))
    total, terms = module.loss(_batch())
    assert list(terms) == module.term_names() == ["mmvae_plus", "cross_mi", "genaug", "diffusion"]
    assert all(not t.requires_grad for t in terms.values())
    assert torch.allclose(sum(terms.values()), total.detach())


def test_encode_combines_present_experts_and_marks_absent_private_codes():
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, _small())
    batch = _batch()
    mask = batch["mask"]
    with torch.no_grad():
        z, w = module.encode(batch["x"], mask)
        experts = [module.encode_modality(name, batch["x"][name])[0].mean for name in module.names]
    for i in range(mask.shape[0]):
        present = [e for m, e in enumerate(experts) if mask[i, m]]
        assert torch.allclose(z[i], torch.stack([e[i] for e in present]).mean(0), atol=1e-6)
    assert z.shape == (24, 3)
    for m, name in enumerate(module.names):
        assert w[name].shape == (24, 2)
        assert torch.isnan(w[name][~mask[:, m]]).all()
        assert torch.isfinite(w[name][mask[:, m]]).all()
    z_draw, _ = module.encode(batch["x"], mask, give_mean=False)
    assert torch.isfinite(z_draw).all() and not torch.allclose(z_draw, z)


def test_decode_returns_data_space_means():
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, _small())
    z, w = module.sample_prior(10)
    library = {"rna": torch.full((10,), 500.0)}
    out = module.decode(z, w, library)
    assert torch.allclose(out["rna"].sum(1), torch.full((10,), 500.0), rtol=1e-5)
    assert torch.allclose(module.decode(z, w)["rna"].sum(1), torch.full((10,), 1e3), rtol=1e-5)
    assert ((out["meth"] > 0) & (out["meth"] < 1)).all()
    assert out["prot"].shape == (10, 6)
    dist = module.likelihood_dist("prot", z, w["prot"])
    assert dist.event_shape == (6,) and dist.batch_shape == (10,)


def test_diffusion_prior_sampling_gives_finite_latents():
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, _small(prior="diffusion"))
    z, w = module.sample_prior(7)
    assert z.shape == (7, 3) and torch.isfinite(z).all()
    assert all(v.shape == (7, 2) and torch.isfinite(v).all() for v in w.values())


def test_validate_data_names_the_modality_and_problem():
    module = IDMVAEModule(SPECS, _small())
    batch = _batch()
    bad = dict(batch, x=dict(batch["x"], prot=torch.randn(24, 5)))
    with pytest.raises(DataMismatchError, match="'prot'.*expected \\(24, 6\\)"):
        module.validate_data(bad)
    counts = batch["target"]["rna"].clone()
    counts[0, 0] = -1.0
    with pytest.raises(InputError, match="'rna'.*counts >= 0"):
        module.validate_data(dict(batch, target=dict(batch["target"], rna=counts)))
    betas = batch["target"]["meth"].clone()
    betas[2, 1] = 1.5
    with pytest.raises(InputError, match="'meth'.*betas in \\[0, 1\\]"):
        module.validate_data(dict(batch, target=dict(batch["target"], meth=betas)))
    with pytest.raises(DataMismatchError, match="'library'\\['rna'\\]"):
        module.validate_data(dict(batch, library={}))


def test_config_rejects_unknown_choices_and_round_trips():
    with pytest.raises(InputError, match="prior='flow'"):
        ModelConfig(prior="flow")
    with pytest.raises(InputError, match="likelihood"):
        ModalitySpec("a", 3, likelihood="poisson")
    config = ModelConfig(hidden=(32, 16), prior="diffusion")
    assert ModelConfig.from_dict(dataclasses.asdict(config)) == config
    with pytest.raises(InputError, match="unknown option"):
        ModelConfig.from_dict({"z_dims": 3})


def test_separate_encoder_trunks_keep_the_shared_term_out_of_the_private_network():
    """With encoder_trunk="separate" the cross-view InfoNCE (a function of the z means only) sends no gradient
    to the private head's MLP; with the shared trunk it does."""
    batch = _batch()
    grads = {}
    for trunk in ("shared", "separate"):
        torch.manual_seed(0)
        module = IDMVAEModule(SPECS, _small(encoder_trunk=trunk))
        z_means = [module.encoders[m](batch["x"][name])[0] for m, name in enumerate(module.names)]
        cross_view_infonce(z_means, batch["mask"], tau=0.1).backward()
        encoder = module.encoders[0]
        private = encoder.private_net if encoder.private_net is not None else encoder.net
        grads[trunk] = sum(float(p.grad.abs().sum()) for p in private.parameters() if p.grad is not None)
        z, w = module.encode(batch["x"], batch["mask"])
        assert z.shape == (24, 3) and w["rna"].shape == (24, 2)
    assert grads["shared"] > 0
    assert grads["separate"] == 0
