"""The ``simulate`` and ``demo`` commands, run as a user would."""

from __future__ import annotations

import re

import anndata as ad
import pandas as pd
import pytest
from click.testing import CliRunner

from omicsdisent.cli import main


def test_simulate_writes_the_cohort_and_reports_its_shape(tmp_path):
    out = tmp_path / "sim"
    result = CliRunner().invoke(main, ["simulate", "--out", str(out), "--n-samples", "60", "--missing-fraction", "0.5", "--seed", "4"])
    assert result.exit_code == 0, result.output
    rna, methyl = ad.read_h5ad(out / "rna.h5ad"), ad.read_h5ad(out / "methyl.h5ad")
    assert rna.n_obs + methyl.n_obs == 2 * 60 - 30
    assert f"rna: {rna.n_obs} samples x 1000 features" in result.output
    assert "clinical.csv" in result.output
    clinical = pd.read_csv(out / "clinical.csv")
    assert len(clinical) == 60 and {"OS", "OS.time", "subtype"} <= set(clinical.columns)


def test_simulate_weak_shared_flag_reaches_the_files(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--out", str(tmp_path), "--n-samples", "40", "--weak-shared"])
    assert result.exit_code == 0, result.output
    rna = ad.read_h5ad(tmp_path / "rna.h5ad")
    assert rna.uns["simulation"]["weak_shared"]
    assert rna.var["shared_feature"].sum() == 50


def test_simulate_refuses_to_overwrite_without_force(tmp_path):
    runner = CliRunner()
    args = ["simulate", "--out", str(tmp_path), "--n-samples", "30"]
    assert runner.invoke(main, args).exit_code == 0
    before = (tmp_path / "clinical.csv").read_text()
    refused = runner.invoke(main, [*args, "--seed", "9"])
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: ") and "already exists" in refused.output and "--force" in refused.output
    assert "Traceback" not in refused.output
    assert (tmp_path / "clinical.csv").read_text() == before
    forced = runner.invoke(main, [*args, "--seed", "9", "--force"])
    assert forced.exit_code == 0 and (tmp_path / "clinical.csv").read_text() != before


def test_simulate_bad_option_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--out", str(tmp_path / "x"), "--missing-fraction", "1.5"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "missing_fraction" in result.output
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One full demo (it takes about a minute), in a folder that already holds a user's file, with --force."""
    folder = tmp_path_factory.mktemp("demo")
    (folder / "results.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--out", str(folder), "--force"])
    return folder, result


def test_demo_runs_every_stage_in_order_and_points_at_the_report(demo_run):
    folder, result = demo_run
    assert result.exit_code == 0, result.output
    output = result.output
    stages = ["1. Simulate", "2. Read and align", "3. Preprocess", "4. Fit IDMVAE", "5. Embed",
              "6. Against the true factors", "7. Classify the subtype", "8. Survival", "9. Report"]
    assert [output.index(s) for s in stages] == sorted(output.index(s) for s in stages)
    assert "500 samples in the union, 500 complete" in output
    assert "rna: type counts (inferred); 1000 -> 500 features (hvg)" in output
    assert "methyl: type methylation (inferred); 1000 -> 500 features" in output
    assert output.rstrip().endswith(f"Open the report: {folder / 'report.html'}")


def test_demo_writes_model_embeddings_and_report_and_keeps_other_files(demo_run):
    folder, result = demo_run
    assert result.exit_code == 0, result.output
    assert (folder / "results.txt").read_text() == "keep me"
    assert {"config.json", "model.safetensors"} <= {p.name for p in (folder / "model").iterdir()}
    shared = pd.read_csv(folder / "embeddings" / "shared.csv")
    assert shared.shape == (500, 1 + 16)  # sample_id + z_dim
    for name in ("rna", "methyl"):
        assert pd.read_csv(folder / "embeddings" / f"private_{name}.csv").shape == (500, 1 + 32)
    html = (folder / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html


def test_demo_shared_code_recovers_the_true_factors_and_predicts_subtype(demo_run):
    _, result = demo_run
    output = result.output
    r2 = float(re.search(r"X_shared -> true shared factors: R² (-?[0-9.]+)", output).group(1))
    accuracy = float(re.search(r"accuracy ([0-9.]+) ±", output).group(1))
    baseline = float(re.search(r"majority-class baseline ([0-9.]+)\)", output).group(1))
    assert r2 > 0.5
    assert accuracy > baseline + 0.2
    assert re.search(r"C-index 0\.[5-9][0-9]* ±", output)


def test_demo_refuses_a_non_empty_folder_without_force(tmp_path):
    (tmp_path / "results.txt").write_text("keep me")
    refused = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert refused.exit_code == 1 and "not empty" in refused.output and "--force" in refused.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]
