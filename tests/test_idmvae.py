"""The user API: IDMVAE on MuData, embeddings with missing modalities, new data, imputation, generation."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.models import IDMVAE

SMALL = {"z_dim": 3, "w_dim": 2, "hidden": (32,)}
FAST = {"max_epochs": 3, "batch_size": 32, "progress": False, "accelerator": "cpu"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_cohort(n=80, seed=0, missing=None, prefix="s"):
    """Two modalities from 2 shared factors: counts 'rna' (12 genes) and methylation 'meth' (10 sites).

    ``missing``: fraction of samples without 'meth'. Built directly (not with the simulator) so these
    unit tests depend only on the model layer.
    """
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 2))
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    rate = np.exp(1.5 + shared @ rng.normal(scale=0.6, size=(2, 12)))
    counts = rng.poisson(rate).astype(np.float32)
    target_sum = float(np.median(counts.sum(1)))
    rna = ad.AnnData(
        np.log1p(counts / counts.sum(1, keepdims=True).clip(1) * target_sum).astype(np.float32),
        obs=pd.DataFrame(index=ids),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(12)]),
    )
    rna.layers["counts"] = counts
    rna.uns["omicsdisent"] = {"modality_type": "counts", "target_sum": target_sum}
    mvals = (shared @ rng.normal(size=(2, 10)) + rng.normal(scale=0.5, size=(n, 10))).astype(np.float32)
    keep = np.ones(n, bool)
    if missing:
        keep[rng.choice(n, int(round(missing * n)), replace=False)] = False
    meth = ad.AnnData(
        mvals[keep],
        obs=pd.DataFrame(index=np.array(ids)[keep]),
        var=pd.DataFrame(index=[f"cg{j}" for j in range(10)]),
    )
    meth.layers["beta"] = (2**meth.X / (1 + 2**meth.X)).astype(np.float32)
    meth.uns["omicsdisent"] = {"modality_type": "methylation"}
    return md.MuData({"rna": rna, "meth": meth})


@pytest.fixture(scope="module")
def trained():
    """A model trained briefly on a cohort where 30% of samples lack methylation."""
    mdata = small_cohort(missing=0.3)
    model = IDMVAE(mdata, **SMALL)
    model.train(seed=0, **FAST)
    return model, mdata


def test_default_likelihoods_follow_recorded_modality_types():
    model = IDMVAE(small_cohort(), **SMALL)
    assert {lay.name: lay.likelihood for lay in model.layouts} == {"rna": "nb", "meth": "normal"}
    assert {lay.name: lay.target_layer for lay in model.layouts} == {"rna": "counts", "meth": None}
    rna = model.layouts[0]
    assert rna.library_target == pytest.approx(small_cohort().mod["rna"].uns["omicsdisent"]["target_sum"])


def test_beta_likelihood_reads_the_beta_layer():
    mdata = small_cohort()
    model = IDMVAE(mdata, likelihoods={"meth": "beta"}, **SMALL)
    meth = model.layouts[model.modalities.index("meth")]
    assert meth.target_layer == "beta"
    target = model._data.batch["target"]["meth"].numpy()
    assert np.allclose(target, np.clip(mdata.mod["meth"].layers["beta"], 1e-4, 1 - 1e-4), atol=1e-6)


def test_likelihood_that_does_not_fit_the_type_is_rejected():
    with pytest.raises(InputError, match="'meth'.*nb"):
        IDMVAE(small_cohort(), likelihoods={"meth": "nb"}, **SMALL)


def test_untyped_modality_is_inferred_or_treated_as_continuous():
    mdata = small_cohort()
    prot = ad.AnnData(np.random.default_rng(1).normal(size=(80, 4)).astype(np.float32),
                      obs=pd.DataFrame(index=mdata.mod["rna"].obs_names))
    model = IDMVAE({"rna": mdata.mod["rna"], "prot": prot}, **SMALL)
    assert model.layouts[1].modality_type == "continuous"
    assert model.layouts[1].likelihood == "normal"


def test_non_finite_values_are_rejected_naming_the_modality():
    mdata = small_cohort()
    mdata.mod["meth"].X[3, 2] = np.nan
    with pytest.raises(InputError, match="modality 'meth' X has non-finite values"):
        IDMVAE(mdata, **SMALL)


def test_text_values_are_rejected_naming_the_modality():
    mdata = small_cohort()
    meth = mdata.mod["meth"]
    bad = ad.AnnData(np.full(meth.shape, "x", dtype=object), obs=meth.obs, var=meth.var)
    bad.uns["omicsdisent"] = {"modality_type": "continuous"}
    with pytest.raises(InputError, match="modality 'meth' X has dtype object"):
        IDMVAE({"rna": mdata.mod["rna"], "meth": bad}, **SMALL)


def test_unknown_modality_and_model_option_give_clear_errors():
    with pytest.raises(InputError, match="'prot' not in the data"):
        IDMVAE(small_cohort(), modalities=["rna", "prot"], **SMALL)
    with pytest.raises(InputError, match="z_dim"):
        IDMVAE(small_cohort(), z_dim=0)
    with pytest.raises(InputError, match="model options"):
        IDMVAE(small_cohort(), zdim=4)


def test_presence_mask_comes_from_obsmap():
    mdata = small_cohort(missing=0.3)
    model = IDMVAE(mdata, **SMALL)
    mask = model._data.batch["mask"].numpy()
    assert mask.shape == (80, 2)
    assert mask[:, 0].all()
    expected = mdata.obs_names.isin(mdata.mod["meth"].obs_names)
    assert np.array_equal(mask[:, 1], expected)
    # rows of absent samples are zero, present rows hold the sample's own values
    x = model._data.batch["x"]["meth"].numpy()
    assert np.all(x[~expected] == 0)
    row = mdata.obs_names.get_loc(mdata.mod["meth"].obs_names[5])
    assert np.array_equal(x[row], mdata.mod["meth"].X[5])


def test_training_with_30_percent_missing_embeds_every_sample(trained):
    model, mdata = trained
    assert model.history is not None and model.is_trained
    shared = model.get_latent(kind="shared")
    assert shared.shape == (mdata.n_obs, 3)
    assert np.isfinite(shared).all()
    private = model.get_latent(kind="private")
    has_meth = mdata.obs_names.isin(mdata.mod["meth"].obs_names)
    assert (~has_meth).sum() == 24
    assert np.array_equal(np.isnan(private["meth"]).any(axis=1), ~has_meth)
    assert np.isnan(private["meth"][~has_meth]).all()
    assert np.isfinite(private["rna"]).all()
    assert private["rna"].shape == (mdata.n_obs, 2)
    assert np.array_equal(model.get_latent("private", modality="meth"), private["meth"], equal_nan=True)


def test_posterior_means_are_deterministic_and_draws_are_not(trained):
    model, _ = trained
    assert np.array_equal(model.get_latent(), model.get_latent())
    assert not np.array_equal(model.get_latent(give_mean=False), model.get_latent(give_mean=False))


def test_same_seed_gives_the_same_model_on_cpu():
    mdata = small_cohort(n=40)
    first = IDMVAE(mdata, **SMALL)
    first.train(seed=3, **FAST)
    second = IDMVAE(mdata, **SMALL)
    second.train(seed=3, **FAST)
    assert np.array_equal(first.get_latent(), second.get_latent())


def test_latent_of_new_samples_with_reordered_features(trained):
    model, _ = trained
    new = small_cohort(n=30, seed=7, prefix="new")
    reordered = md.MuData({
        "rna": new.mod["rna"][:, ::-1].copy(),
        "meth": new.mod["meth"],
    })
    z_new = model.get_latent(mdata=new)
    assert z_new.shape == (30, 3)
    assert np.isfinite(z_new).all()
    assert np.allclose(model.get_latent(mdata=reordered), z_new, atol=1e-6)


def test_new_samples_with_only_one_modality_get_shared_codes(trained):
    model, _ = trained
    new = small_cohort(n=20, seed=8, prefix="new")
    only_rna = {"rna": new.mod["rna"]}
    z = model.get_latent(mdata=only_rna)
    assert np.isfinite(z).all()
    assert np.isnan(model.get_latent("private", "meth", mdata=only_rna)).all()


def test_new_data_with_other_features_is_rejected(trained):
    model, _ = trained
    new = small_cohort(n=20, seed=8)
    rna = new.mod["rna"]
    rna.var_names = [f"other{j}" for j in range(rna.n_vars)]
    with pytest.raises(DataMismatchError, match="modality 'rna'.*missing \\(first: gene0"):
        model.get_latent(mdata=new)


def test_impute_predicts_the_target_from_the_source(trained):
    model, mdata = trained
    imputed = model.impute(source="rna", target="meth")
    assert imputed.shape == (mdata.n_obs, 10)
    assert list(imputed.var_names) == list(mdata.mod["meth"].var_names)
    assert list(imputed.obs_names) == list(mdata.obs_names)
    assert np.isfinite(imputed.X).all()
    assert imputed.uns["omicsdisent"]["private_code"] == "prior mean"
    drawn = model.impute(source="rna", target="meth", private="sample", seed=5)
    assert np.array_equal(drawn.X, model.impute(source="rna", target="meth", private="sample", seed=5).X)
    assert not np.array_equal(drawn.X, imputed.X)
    # different samples' shared codes give different predictions
    assert np.ptp(imputed.X, axis=0).max() > 0
    counts = model.impute(source="meth", target="rna")
    has_meth = mdata.obs_names.isin(mdata.mod["meth"].obs_names)
    assert np.isnan(counts.X[~has_meth]).all()
    assert (counts.X[has_meth] >= 0).all()
    # expected counts sum to the training median library size
    assert np.allclose(counts.X[has_meth].sum(1), model.layouts[0].library_median, rtol=1e-3)


def test_impute_rejects_target_among_sources(trained):
    model, _ = trained
    with pytest.raises(InputError, match="target='meth' is also a source"):
        model.impute(source=["rna", "meth"], target="meth")


def test_sample_draws_from_the_prior_and_is_repeatable_with_a_seed(trained):
    model, _ = trained
    first = model.sample(6, seed=11)
    again = model.sample(6, seed=11)
    other = model.sample(6, seed=12)
    assert set(first) == {"rna", "meth"}
    assert first["rna"].shape == (6, 12) and first["meth"].shape == (6, 10)
    assert np.array_equal(first["meth"].X, again["meth"].X)
    assert not np.array_equal(first["meth"].X, other["meth"].X)


def test_generate_mixes_shared_and_private_codes(trained):
    model, mdata = trained
    a, b = mdata.mod["meth"].obs_names[:2]
    mixed = model.generate(shared_from=[a, b], private_from=[b, a])
    assert list(mixed["meth"].obs["shared_from"]) == [a, b]
    assert mixed["meth"].shape == (2, 10)
    # with the same private code, only the shared code changes the output
    same_private = model.generate(shared_from=[a, b], private_from=[a, a])["meth"].X
    own = model.generate(shared_from=[a], private_from=[a])["meth"].X
    assert np.allclose(same_private[0], own[0], atol=1e-6)
    assert not np.allclose(same_private[0], same_private[1])
    with pytest.raises(InputError, match="private_from: sample ids not in the data: 'nope'"):
        model.generate(shared_from=[a], private_from=["nope"])


def test_idmvae_shared_code_finds_weak_shared_signal_that_mmvae_plus_misses():
    """The shared-signal benchmark at its own budget, one seed: IDMVAE's z predicts the true shared factors
    clearly better than MMVAE+'s (lambda_mi = lambda_genaug = 0) after the same training, while its private
    codes carry little of them and still carry their own private factors.

    lambda_mi is 40 here, not the default 10: at 10 and this 50-epoch budget z's R^2 ranged from 0.03 to
    0.17 over seeds 0-2 (and a CPU with other rounding is another seed), at 40 from 0.16 to 0.28 over
    seeds 0-3 against MMVAE+'s -0.003 to 0.0 (``python benchmarks/shared_signal_probe.py --lambda-mi 40
    --seeds S --data-seed S``). Whether IDMVAE's w carries less shared signal than MMVAE+'s is not asserted:
    both are near zero (R^2 0.016-0.045 against 0.024-0.033) and their order flips between seeds."""
    import importlib.util
    from pathlib import Path

    import torch

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "shared_signal_probe.py"
    spec = importlib.util.spec_from_file_location("shared_signal_probe", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert torch.get_num_threads() == 1  # the figures below are for one thread (module fixture)
    models = {name: dict(options) for name, options in probe.MODELS.items()}
    models["idmvae"]["lambda_mi"] = 40.0
    report = probe.run_probe(n_samples=3000, n_features=200, epochs=50, seeds=(0,), data_seed=0, models=models)
    ours, base = report["models"]["idmvae"], report["models"]["mmvae_plus"]
    # Observed at this seed: z 0.28 against -0.003 (a linear probe on the raw data reaches about 0.56);
    # private codes 0.045 against 0.033.
    assert ours["z_to_shared"] > base["z_to_shared"] + 0.08
    assert ours["z_to_shared"] > 0.08
    assert ours["w_to_shared_mean"] < 0.1
    assert ours["w_to_shared_mean"] < ours["z_to_shared"] / 2
    assert min(ours["runs"][0]["w_to_private"].values()) > 0.9
    assert report["setting"]["models"]["mmvae_plus"]["lambda_mi"] == 0.0
    assert report["setting"]["models"]["mmvae_plus"]["lambda_genaug"] == 0.0


def test_samples_without_any_chosen_modality_are_left_out_of_training_and_embed_as_nan():
    mdata = small_cohort(n=50, missing=0.2)
    rng = np.random.default_rng(2)
    extra_ids = list(mdata.obs_names[:40]) + ["only_prot_1", "only_prot_2"]
    prot = ad.AnnData(rng.normal(size=(42, 3)).astype(np.float32), obs=pd.DataFrame(index=extra_ids))
    prot.uns["omicsdisent"] = {"modality_type": "continuous"}
    three = md.MuData({"rna": mdata.mod["rna"], "meth": mdata.mod["meth"], "prot": prot})
    model = IDMVAE(three, modalities=["rna", "meth"], **SMALL)
    model.train(seed=0, **FAST)
    z = model.get_latent()
    rows = three.obs_names.get_indexer(["only_prot_1", "only_prot_2"])
    assert np.isnan(z[rows]).all()
    assert np.isfinite(np.delete(z, rows, axis=0)).all()


def test_hidden_layers_follow_the_cohort_size_unless_given():
    from omicsdisent.models.config import SMALL_COHORT, default_hidden

    assert default_hidden(SMALL_COHORT - 1) == (64,) and default_hidden(SMALL_COHORT) == (128,)
    small = IDMVAE(small_cohort(n=80))
    assert small.config.hidden == (64,)
    assert small.module.encoders[0].net[0].out_features == 64  # the network is built with it
    large = IDMVAE(small_cohort(n=SMALL_COHORT))
    assert large.config.hidden == (128,)
    assert IDMVAE(small_cohort(n=80), hidden=(16, 8)).config.hidden == (16, 8)
    with pytest.raises(InputError, match="n_samples"):
        default_hidden(0)
