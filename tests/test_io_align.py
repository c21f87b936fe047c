"""Alignment into one MuData: union of samples, presence mask, duplicates, normals, clinical join."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.io import (
    AlignmentSummary,
    align_modalities,
    alignment_summary,
    presence_mask,
    read_modalities,
    write_h5mu,
)


def _adata(ids, n_features, prefix, seed=0):
    values = np.random.default_rng(seed).normal(size=(len(ids), n_features)).astype(np.float32)
    return ad.AnnData(values, obs=pd.DataFrame(index=list(ids)),
                      var=pd.DataFrame(index=[f"{prefix}{i}" for i in range(n_features)]))


def test_union_of_samples_with_presence_mask_and_own_features():
    rna = _adata(["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"], 4, "g")
    meth = _adata(["TCGA-AA-0002", "TCGA-AA-0003", "TCGA-AA-0004"], 6, "cg", seed=1)
    mdata = align_modalities({"rna": rna, "meth": meth})
    assert set(mdata.obs_names) == {"TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003", "TCGA-AA-0004"}
    assert mdata.mod["rna"].shape == (3, 4) and mdata.mod["meth"].shape == (3, 6)
    mask = presence_mask(mdata)
    assert mask.dtypes.eq(bool).all()
    assert mask.loc["TCGA-AA-0001"].tolist() == [True, False]
    assert mask.loc["TCGA-AA-0004"].tolist() == [False, True]
    assert int(mask.all(axis=1).sum()) == 2
    summary = alignment_summary(mdata)
    assert (summary.n_union, summary.n_complete) == (4, 2)
    assert summary.features == {"rna": 4, "meth": 6}
    np.testing.assert_array_equal(mdata.mod["rna"]["TCGA-AA-0002"].X, rna["TCGA-AA-0002"].X)


def test_patient_level_keeps_primary_tumour_and_reports_the_other_sample():
    rna = _adata(["TCGA-AA-0001-06A", "TCGA-AA-0001-01A", "TCGA-AA-0002-01A"], 3, "g")
    mdata = align_modalities({"rna": rna})
    assert list(mdata.mod["rna"].obs_names) == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert list(mdata.mod["rna"].obs["source_id"]) == ["TCGA-AA-0001-01A", "TCGA-AA-0002-01A"]
    np.testing.assert_array_equal(mdata.mod["rna"].X[0], rna.X[1])
    (drop,) = alignment_summary(mdata).dropped
    assert (drop.source, drop.id, drop.reason) == ("rna", "TCGA-AA-0001-06A", "duplicate_sample")
    assert "kept TCGA-AA-0001-01A" in drop.detail


def test_normal_tissue_is_dropped_unless_kept():
    ids = ["TCGA-AA-0001-01A", "TCGA-AA-0001-11A", "TCGA-AA-0002-11A"]
    mdata = align_modalities({"rna": _adata(ids, 2, "g")}, level="sample")
    assert list(mdata.obs_names) == ["TCGA-AA-0001-01"]
    assert alignment_summary(mdata).dropped_counts() == {"normal_tissue": 2}
    kept = align_modalities({"rna": _adata(ids, 2, "g")}, level="sample", keep_normal=True)
    assert list(kept.obs_names) == ["TCGA-AA-0001-01", "TCGA-AA-0001-11", "TCGA-AA-0002-11"]
    assert alignment_summary(kept).dropped == []


def test_sample_level_meets_across_vial_letters_and_needs_sample_barcodes():
    rna = _adata(["TCGA-AA-0001-01A-11R-A144-07", "TCGA-AA-0002-01A"], 2, "g")
    meth = _adata(["TCGA-AA-0001-01B", "TCGA-AA-0002-01"], 2, "cg")
    mdata = align_modalities({"rna": rna, "meth": meth}, level="sample")
    assert sorted(mdata.obs_names) == ["TCGA-AA-0001-01", "TCGA-AA-0002-01"]
    assert alignment_summary(mdata).n_complete == 2
    with pytest.raises(InputError, match="patient barcodes.*level='patient'"):
        align_modalities({"rna": _adata(["TCGA-AA-0001"], 2, "g")}, level="sample")


def test_non_tcga_ids_align_by_exact_id():
    mdata = align_modalities({"a": _adata(["A0FJ", "A13E"], 2, "g"), "b": _adata(["A13E", "B001"], 2, "p")})
    assert sorted(mdata.obs_names) == ["A0FJ", "A13E", "B001"]
    assert alignment_summary(mdata).n_complete == 1


def test_modalities_without_shared_samples_are_an_error():
    with pytest.raises(InputError, match="shares no sample"):
        align_modalities({"a": _adata(["x1", "x2"], 2, "g"), "b": _adata(["y1"], 2, "p")})


def test_nan_share_above_threshold_is_an_error_stating_the_share():
    rna = _adata(["s1", "s2"], 5, "g")
    rna.X[:, :3] = np.nan
    with pytest.raises(InputError, match=r"60\.0% of the values are missing.*max_nan_fraction=0\.5"):
        align_modalities({"rna": rna})
    assert align_modalities({"rna": rna}, max_nan_fraction=0.7).n_obs == 2


def test_clinical_dataframe_joins_by_best_matching_column_and_reports_unmatched():
    rna = _adata(["TCGA-AA-0001-01A", "TCGA-AA-0002-01A", "TCGA-AA-0003-01A"], 2, "g")
    clinical = pd.DataFrame({
        "short": ["0001", "0002", "0009"],
        "submitter_id": ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0009"],
        "vital_status": ["Dead", "Alive", "Alive"],
        "days_to_death": [10.0, np.nan, np.nan],
        "days_to_last_followup": [5.0, 20.0, 30.0],
        "stage": ["II", "III", "I"],
    })
    mdata = align_modalities({"rna": rna}, clinical=clinical)
    obs = mdata.obs
    assert list(obs.index) == ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"]
    assert obs.loc["TCGA-AA-0001", "OS_time"] == 10.0 and obs.loc["TCGA-AA-0001", "OS_event"] == 1.0
    assert obs.loc["TCGA-AA-0002", "OS_time"] == 20.0 and obs.loc["TCGA-AA-0002", "OS_event"] == 0.0
    assert np.isnan(obs.loc["TCGA-AA-0003", "OS_time"]) and pd.isna(obs.loc["TCGA-AA-0003", "stage"])
    assert obs.loc["TCGA-AA-0002", "stage"] == "III"
    summary = alignment_summary(mdata)
    assert summary.clinical_id_column == "submitter_id" and summary.clinical_matched == 2
    assert [(d.id, d.reason) for d in summary.dropped] == [("TCGA-AA-0009", "clinical_without_omics")]
    assert (summary.n_with_survival_time, summary.n_events) == (2, 1)


def test_patient_clinical_joins_samples_at_sample_level():
    rna = _adata(["TCGA-AA-0001-01A", "TCGA-AA-0001-06A"], 2, "g")
    clinical = pd.DataFrame({"patient": ["TCGA-AA-0001"], "OS": [1], "OS.time": [7.0]})
    mdata = align_modalities({"rna": rna}, clinical=clinical, level="sample")
    assert mdata.obs["OS_time"].tolist() == [7.0, 7.0]


def test_clinical_without_matching_ids_is_an_error():
    with pytest.raises(InputError, match="no clinical id matches a sample id"):
        align_modalities({"rna": _adata(["s1"], 2, "g")}, clinical=pd.DataFrame({"id": ["other"], "age": [1]}))


def test_read_modalities_rejects_duplicate_names_and_prints_summary(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    for folder in (tmp_path, tmp_path / "a"):
        (folder / "rna.csv").write_text("patient,G1\nTCGA-AA-0001,1\n")
    with pytest.raises(InputError, match="'rna' is used twice"):
        read_modalities([tmp_path / "rna.csv", tmp_path / "a" / "rna.csv"])
    mdata = read_modalities([tmp_path / "rna.csv", f"rna2={tmp_path / 'a' / 'rna.csv'}"], verbose=True)
    assert list(mdata.mod) == ["rna", "rna2"]
    printed = capsys.readouterr().out
    assert "1 samples in the union, 1 complete" in printed and "rna2" in printed


def test_mapping_of_in_memory_anndata_is_accepted_and_not_modified():
    rna = _adata(["TCGA-AA-0001-01A"], 2, "g")
    mdata = read_modalities({"rna": rna}, verbose=False)
    assert list(mdata.obs_names) == ["TCGA-AA-0001"] and list(rna.obs_names) == ["TCGA-AA-0001-01A"]


def test_h5mu_round_trip_keeps_modalities_obs_and_summary(tmp_path):
    rna = _adata(["TCGA-AA-0001-01A", "TCGA-AA-0001-11A", "TCGA-AA-0002-01A"], 3, "g")
    meth = _adata(["TCGA-AA-0002", "TCGA-AA-0003"], 2, "cg")
    clinical = pd.DataFrame({"patient": ["TCGA-AA-0001", "TCGA-AA-0002"], "OS": [1, 0], "OS.time": [5.0, 9.0],
                             "flag": [True, np.nan], "note/x": ["a", "b"]})
    mdata = align_modalities({"rna": rna, "meth": meth}, clinical=clinical)
    path = write_h5mu(mdata, tmp_path / "aligned.h5mu")
    back = md.read_h5mu(path)
    assert {m: back.mod[m].shape for m in back.mod} == {"rna": (2, 3), "meth": (2, 2)}
    pd.testing.assert_frame_equal(presence_mask(back), presence_mask(mdata))
    assert back.obs.loc["TCGA-AA-0001", "OS_time"] == 5.0
    assert alignment_summary(back).to_dict() == alignment_summary(mdata).to_dict()
    with pytest.raises(InputError, match="already exists"):
        write_h5mu(mdata, path)
    assert write_h5mu(mdata, path, overwrite=True) == path
    assert [p.name for p in tmp_path.iterdir()] == ["aligned.h5mu"]  # no temporary files left


def test_summary_str_is_a_table_with_counts_and_drops():
    summary = AlignmentSummary(level="patient", modalities=["rna", "meth"], samples={"rna": 10, "meth": 8},
                               features={"rna": 2500, "meth": 2203}, n_union=11, n_complete=7)
    text = str(summary)
    assert "11 samples in the union, 7 complete" in text
    assert any(line.split()[:4] == ["rna", "10", "2500", "0"] for line in text.splitlines())
    assert AlignmentSummary.from_dict(summary.to_dict()) == summary


def test_clinical_indexed_by_id_and_duplicate_rows_resolved_by_sample_type():
    rna = _adata(["TCGA-AA-0001", "TCGA-AA-0002"], 2, "g")
    clinical = pd.DataFrame({"OS": [0, 1, 0], "OS.time": [1.0, 2.0, 3.0]},
                            index=["TCGA-AA-0001-11A", "TCGA-AA-0001-01A", "TCGA-AA-0002-01A"])
    mdata = align_modalities({"rna": rna}, clinical=clinical)
    assert mdata.obs["OS_time"].tolist() == [2.0, 3.0]  # the tumour row of patient 0001
    (drop,) = alignment_summary(mdata).dropped
    assert (drop.id, drop.reason) == ("TCGA-AA-0001-11A", "duplicate_clinical_row")


def test_aligned_h5mu_read_again_keeps_clinical_and_original_ids(tmp_path):
    rna = _adata(["TCGA-AA-0001-01A", "TCGA-AA-0002-01A"], 2, "g")
    clinical = pd.DataFrame({"patient": ["TCGA-AA-0001", "TCGA-AA-0002"], "OS": [1, 0], "OS.time": [5.0, 9.0]})
    write_h5mu(align_modalities({"rna": rna}, clinical=clinical), tmp_path / "a.h5mu")
    again = read_modalities([tmp_path / "a.h5mu"], verbose=False)
    assert again.obs["OS_time"].tolist() == [5.0, 9.0] and again.obs["OS_event"].tolist() == [1.0, 0.0]
    assert list(again.mod["rna"].obs["source_id"]) == ["TCGA-AA-0001-01A", "TCGA-AA-0002-01A"]
    assert alignment_summary(again).clinical_source.endswith("a.h5mu (obs)")
