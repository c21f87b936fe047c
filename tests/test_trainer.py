"""Trainer: trains with missing modalities, repeats exactly with a seed, stops on NaN naming the term."""

from __future__ import annotations

import json

import pyro
import pytest
import torch

from omicsdisent.errors import InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.module import IDMVAEModule
from omicsdisent.train import TrainConfig, Trainer, TrainingError, epoch_batches, evaluate
from omicsdisent.train.trainer import split_indices

pytestmark = pytest.mark.usefixtures("one_torch_thread")


SPECS = [ModalitySpec("a", 12), ModalitySpec("b", 10, likelihood="laplace")]


def _data(n=160, missing=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(n, 2, generator=g)
    x = {
        "a": shared @ torch.randn(2, 12, generator=g) + 0.3 * torch.randn(n, 12, generator=g),
        "b": shared @ torch.randn(2, 10, generator=g) + 0.3 * torch.randn(n, 10, generator=g),
    }
    mask = torch.ones(n, 2, dtype=torch.bool)
    if missing:
        drop = torch.randperm(n, generator=g)[: int(missing * n)]
        mask[drop[: len(drop) // 2], 0] = False
        mask[drop[len(drop) // 2 :], 1] = False
        for m, name in enumerate(x):
            x[name][~mask[:, m]] = 0.0
    return {"x": x, "mask": mask}


def _config(**overrides):
    base = dict(z_dim=2, w_dim=2, hidden=(16,), diffusion_steps=50, diffusion_sampling_steps=10, diffusion_hidden=16)
    base.update(overrides)
    return ModelConfig(**base)


def _fit(config, data, seed=0, **train):
    torch.manual_seed(seed)
    module = IDMVAEModule(SPECS, config)
    options = dict(epochs=3, batch_size=32, progress=False, accelerator="cpu", seed=seed)
    options.update(train)
    history = Trainer(**options).fit(module, data)
    return module, history


@pytest.mark.parametrize("formulation", ["authors", "paper"])
def test_training_with_missing_modalities_is_finite_and_encodes_every_sample(formulation):
    data = _data(missing=0.3)
    assert (~data["mask"]).any(1).float().mean() == pytest.approx(0.3, abs=0.01)
    module, history = _fit(_config(prior="diffusion", diffusion_formulation=formulation), data, epochs=4)
    expected_terms = {"mmvae_plus", "cross_mi", "genaug", "total"} | ({"diffusion"} if formulation == "authors" else set())
    for store in (history.train, history.validation):
        assert set(store) == expected_terms
        assert all(len(v) == 4 and all(map(lambda f: f == f and abs(f) < float("inf"), v)) for v in store.values())
    assert history.train["total"][-1] < history.train["total"][0]
    with torch.no_grad():
        z, w = module.encode(data["x"], data["mask"])
    assert z.shape == (160, 2) and torch.isfinite(z).all()
    assert torch.isnan(w["a"][~data["mask"][:, 0]]).all() and torch.isfinite(w["a"][data["mask"][:, 0]]).all()
    json.dumps(history.to_dict())  # JSON-able


def test_same_seed_gives_identical_weights_and_history():
    data = _data()
    module_1, history_1 = _fit(_config(prior="diffusion", n_importance=2), data, seed=3)
    module_2, history_2 = _fit(_config(prior="diffusion", n_importance=2), data, seed=3)
    state_1, state_2 = module_1.state_dict(), module_2.state_dict()
    assert all(torch.equal(state_1[k], state_2[k]) for k in state_1)
    assert history_1.train == history_2.train and history_1.validation == history_2.validation
    module_3, history_3 = _fit(_config(prior="diffusion", n_importance=2), data, seed=4)
    assert history_3.train != history_1.train


def test_nan_loss_raises_an_error_naming_the_term():
    torch.manual_seed(0)
    module = IDMVAEModule(SPECS, _config(prior="diffusion"))
    with torch.no_grad():
        module.z_prior.denoiser.out.bias.fill_(float("nan"))
    trainer = Trainer(epochs=2, batch_size=32, progress=False, accelerator="cpu")
    with pytest.raises(TrainingError, match="first non-finite term: diffusion\\b"):
        trainer.fit(module, _data())


def test_early_stopping_restores_the_best_validation_weights():
    data = _data()
    # A learning rate this high makes the validation loss worse after the first epochs.
    module, history = _fit(_config(lambda_mi=0.0, lambda_genaug=0.0), data, epochs=30, lr=0.3, patience=2, grad_clip=None)
    assert history.stopped_early and history.epochs_run < 30
    best = history.best_epoch
    assert history.validation["total"][best] == min(history.validation["total"])
    _, val_idx = split_indices(160, 0.1, torch.Generator().manual_seed(0))
    pyro.set_rng_seed(0)
    restored = evaluate(module, data, val_idx, 32)[-1].item()
    # The restored weights score like the best epoch (up to the randomness of the draws), not the last.
    assert abs(restored - history.validation["total"][best]) < abs(restored - history.validation["total"][-1])


def test_without_a_validation_split_training_runs_every_epoch():
    _, history = _fit(_config(), _data(), epochs=3, val_fraction=0.0)
    assert history.validation == {} and history.best_epoch is None
    assert history.epochs_run == 3 and not history.stopped_early


def test_batches_cover_every_training_sample_once_per_epoch():
    torch.manual_seed(0)
    indices = torch.arange(100, 171)
    batches = list(epoch_batches(indices, 32, shuffle=True))
    assert [len(b) for b in batches] == [32, 32, 7]
    assert torch.equal(torch.cat(batches).sort().values, indices)


def test_train_config_rejects_bad_options():
    with pytest.raises(InputError, match="accelerator='tpu'"):
        TrainConfig(accelerator="tpu")
    with pytest.raises(InputError, match="val_fraction"):
        TrainConfig(val_fraction=1.5)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            Trainer(accelerator="cuda", progress=False).fit(IDMVAEModule(SPECS, _config()), _data())
