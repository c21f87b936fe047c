"""``omicsdisent inspect``: the printed summary, and a one-line error for each kind of bad input."""

from __future__ import annotations

import json

import mudata as md
import numpy as np
import pytest
from click.testing import CliRunner

from omicsdisent.cli import main


def _run(*args):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def _write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path):
    rna = _write(tmp_path / "rna.csv",
                 "patient,G1,G2\nTCGA-AA-0001-01A,1,2\nTCGA-AA-0001-06A,3,4\nTCGA-AA-0002-01A,5,6\n"
                 "TCGA-AA-0003-11A,7,8\n")
    meth = _write(tmp_path / "meth.tsv", "gene\tTCGA-AA-0001\tTCGA-AA-0004\nCG1\t0.1\t0.2\nCG2\t0.3\t0.4\n")
    clinical = _write(tmp_path / "clin.csv",
                      "bcr_patient_barcode,vital_status,days_to_death,days_to_last_followup,OS_Months\n"
                      "TCGA-AA-0001,Dead,100,,3\nTCGA-AA-0002,Alive,,50,x\nTCGA-AA-0099,Alive,,10,1\n")
    return tmp_path, rna, meth, clinical


def _assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_inspect_prints_counts_drops_and_clinical_join(files):
    _, rna, meth, clinical = files
    result = _run(rna, f"methyl={meth}", "--clinical", clinical)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 samples in the union, 1 complete" in out  # 0003 is normal tissue
    rows = {line.split()[0]: line.split()[1:4] for line in out.splitlines() if line.startswith(("rna ", "methyl "))}
    assert rows == {"rna": ["2", "2", "2"], "methyl": ["2", "2", "0"]}
    assert "TCGA-AA-0001-06A: duplicate_sample" in out
    assert "TCGA-AA-0003-11A: normal_tissue" in out
    assert "TCGA-AA-0099: clinical_without_omics" in out
    assert "2 joined by column 'bcr_patient_barcode'" in out


def test_inspect_keep_normal_sample_level_json_and_out(files):
    tmp, rna, _, _ = files
    out = tmp / "aligned.h5mu"
    result = _run(rna, "--level", "sample", "--keep-normal", "--json", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    assert data["level"] == "sample" and data["samples"] == {"rna": 4} and data["dropped_counts"] == {}
    back = md.read_h5mu(out)
    assert sorted(back.obs_names) == ["TCGA-AA-0001-01", "TCGA-AA-0001-06", "TCGA-AA-0002-01", "TCGA-AA-0003-11"]
    _assert_one_line_error(_run(rna, "--out", out), "already exists", "--force")
    assert _run(rna, "--out", out, "--force").exit_code == 0


def test_inspect_help_shows_an_example():
    result = CliRunner().invoke(main, ["inspect", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "omicsdisent inspect rna=" in result.output


def test_missing_path(files):
    tmp, rna, _, _ = files
    _assert_one_line_error(_run(rna, tmp / "absent.csv"), "absent.csv", "no such file")


def test_empty_file(files):
    tmp, rna, _, _ = files
    _assert_one_line_error(_run(rna, _write(tmp / "empty.csv", "")), "empty.csv", "empty")


def test_no_overlap_between_modalities(files):
    tmp, rna, _, _ = files
    other = _write(tmp / "other.csv", "patient,G1\nTCGA-BB-0001,1\nTCGA-BB-0002,2\n")
    _assert_one_line_error(_run(rna, other), "shares no sample")


def test_duplicated_ids_in_a_file(files):
    tmp, rna, _, _ = files
    dup = _write(tmp / "dup.csv", "patient,G1\nTCGA-AA-0001-01A,1\nTCGA-AA-0001-01A,2\n")
    _assert_one_line_error(_run(rna, dup), "dup.csv", "'TCGA-AA-0001-01A' appears 2 times")


def test_non_numeric_values(files):
    tmp, rna, _, _ = files
    bad = _write(tmp / "bad.csv", "patient,G1,G2\nTCGA-AA-0001,1,2\nTCGA-AA-0002,3,abc\n")
    _assert_one_line_error(_run(rna, bad), "bad.csv", "'abc'", "'G2'")


def test_high_nan_share_names_the_share_and_option(files):
    tmp, rna, _, _ = files
    holes = _write(tmp / "holes.csv", "patient,G1,G2\nTCGA-AA-0001,,\nTCGA-AA-0002,NA,4\n")
    _assert_one_line_error(_run(rna, holes), "holes.csv", "75.0%", "--max-nan-fraction")
    assert _run(rna, holes, "--max-nan-fraction", "0.8").exit_code == 0


def test_orientation_that_cannot_be_decided(files):
    tmp, rna, _, _ = files
    square = _write(tmp / "square.csv", "id,a,b\nx,1,2\ny,3,4\n")
    _assert_one_line_error(_run(rna, square), "square.csv", "--orientation")


def test_missing_named_clinical_column(files):
    _, rna, _, clinical = files
    _assert_one_line_error(_run(rna, "--clinical", clinical, "--time-col", "OS_days", "--event-col", "vital_status"),
                           "clin.csv", "'OS_days'", "--time-col")


def test_non_numeric_named_survival_time(files):
    _, rna, _, clinical = files
    _assert_one_line_error(_run(rna, "--clinical", clinical, "--time-col", "OS_Months", "--event-col",
                                "vital_status", "--time-unit", "months"), "clin.csv", "'OS_Months'", "'x'")


def test_clinical_table_with_no_matching_ids(files):
    tmp, rna, _, _ = files
    clinical = _write(tmp / "nomatch.csv", "patient,age\nTCGA-ZZ-0001,50\n")
    _assert_one_line_error(_run(rna, "--clinical", clinical), "nomatch.csv", "no clinical id matches")


def test_duplicate_modality_names(files):
    _, rna, _, _ = files
    _assert_one_line_error(_run(rna, rna), "'rna' is used twice")


def test_values_are_read_exactly(files):
    tmp, _, meth, _ = files
    out = tmp / "m.h5mu"
    assert _run(meth, "--out", out).exit_code == 0
    back = md.read_h5mu(out)
    np.testing.assert_allclose(back.mod["meth"]["TCGA-AA-0004"].X.ravel(), [0.2, 0.4], rtol=1e-6)
