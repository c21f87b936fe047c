"""The ``simulate`` and ``demo`` commands, run as a user would."""

from __future__ import annotations

import time

import anndata as ad
import pandas as pd
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


def test_demo_runs_every_stage_quickly_in_the_default_folder(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as folder:
        start = time.perf_counter()
        result = runner.invoke(main, ["demo"])
        elapsed = time.perf_counter() - start
        assert result.exit_code == 0, result.output
        assert elapsed < 20
        output = result.output
        stages = ["1. Simulate", "2. Read and align", "3. Preprocess", "4. Model"]
        assert [output.index(s) for s in stages] == sorted(output.index(s) for s in stages)
        assert "500 samples in the union, 500 complete" in output
        assert "rna: type counts (inferred); 1000 -> 500 features (hvg)" in output
        assert "methyl: type methylation (inferred); 1000 -> 500 features" in output
        assert "Model fitting arrives with the model" in output
        written = sorted(p.name for p in (tmp_path / folder / "omicsdisent-demo").iterdir())
        assert written == ["clinical.csv", "methyl.h5ad", "rna.h5ad"]


def test_demo_keeps_a_non_empty_folder_unless_forced(tmp_path):
    (tmp_path / "results.txt").write_text("keep me")
    runner = CliRunner()
    refused = runner.invoke(main, ["demo", "--out", str(tmp_path)])
    assert refused.exit_code == 1 and "not empty" in refused.output and "--force" in refused.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]
    forced = runner.invoke(main, ["demo", "--out", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "results.txt").read_text() == "keep me"
    assert (tmp_path / "rna.h5ad").exists()
