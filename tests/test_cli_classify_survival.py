"""``omicsdisent classify`` and ``omicsdisent survival`` on an embeddings.h5mu like the one ``embed`` writes."""

from __future__ import annotations

import json

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from omicsdisent.cli import main


def _run(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """embeddings.h5mu (PAM50-like label and survival in obs) and a TCGA-CDR clinical TSV for the same patients."""
    folder = tmp_path_factory.mktemp("embeddings")
    rng = np.random.default_rng(0)
    n = 200
    patients = [f"TCGA-AA-{i:04d}" for i in range(n)]
    subtype = rng.choice(["LumA", "LumB", "Basal"], size=n, p=[0.5, 0.3, 0.2])
    shared = rng.normal(size=(n, 4))
    shared[:, 0] += 4.0 * (subtype == "Basal") - 4.0 * (subtype == "LumB")
    event_time = rng.exponential(1000.0 * np.exp(-1.2 * shared[:, 1]))
    censor = rng.uniform(200.0, 3000.0, size=n)
    time, event = np.minimum(event_time, censor), (event_time <= censor).astype(float)
    samples = [f"{p}-01A" for p in patients]
    rna = ad.AnnData(np.zeros((n, 2), dtype=np.float32), obs=pd.DataFrame(index=samples))
    rna.var_names = ["G1", "G2"]
    mdata = md.MuData({"rna": rna})
    mdata.obs["PAM50"] = pd.Categorical(subtype)
    mdata.obs["OS_time"], mdata.obs["OS_event"] = time, event
    mdata.obsm["X_shared"] = shared.astype(np.float32)
    mdata.obsm["X_private_rna"] = rng.normal(size=(n, 3)).astype(np.float32)
    path = folder / "embeddings.h5mu"
    mdata.write_h5mu(path)
    bare = folder / "bare.h5ad"
    adata = ad.AnnData(obs=pd.DataFrame(index=samples))
    adata.obsm["X_shared"] = shared
    adata.write_h5ad(bare)
    cdr = folder / "cdr.tsv"
    # Progression-free interval driven by dimension 2 (its own stream: the draws above stay as they were).
    pfi_rng = np.random.default_rng(1)
    progression = pfi_rng.exponential(600.0 * np.exp(-1.5 * shared[:, 2]))
    pfi_censor = pfi_rng.uniform(200.0, 3000.0, size=n)
    pd.DataFrame({"bcr_patient_barcode": patients, "type": "BRCA", "OS": event.astype(int),
                  "OS.time": time, "stage": rng.choice(["I", "II"], size=n),
                  "PFI": (progression <= pfi_censor).astype(int), "PFI.time": np.minimum(progression, pfi_censor),
                  }).to_csv(cdr, sep="\t", index=False)
    months = folder / "months.csv"
    pd.DataFrame({"patient": patients, "months": time / 30.4375,
                  "status": np.where(event == 1, "Dead", "Alive")}).to_csv(months, index=False)
    (folder / "garbage.h5mu").write_text("not hdf5")
    (folder / "empty").mkdir()
    return {"h5mu": path, "bare": bare, "cdr": cdr, "months": months, "folder": folder,
            "garbage": folder / "garbage.h5mu", "empty_folder": folder / "empty"}


def test_classify_prints_metrics_and_the_confusion_matrix_and_writes_json(cohort, tmp_path):
    out = tmp_path / "pam50.json"
    result = _run("classify", cohort["h5mu"], "--label", "PAM50", "--rep", "both", "--out", out)
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "majority baseline" in result.output and "±" in result.output
    assert "confusion matrix" in result.output and "Basal" in result.output
    payload = json.loads(out.read_text())
    assert payload["command"] == "classify" and payload["rep"] == ["X_shared", "X_private_rna"]
    assert payload["metrics"]["accuracy"]["mean"] > 0.9 > payload["baseline_accuracy"]
    assert f"wrote {out}" in result.output


def test_an_existing_out_file_is_kept_unless_forced(cohort, tmp_path):
    out = tmp_path / "r.json"
    out.write_text("keep me")
    result = _run("classify", cohort["h5mu"], "--label", "PAM50", "--out", out)
    _assert_one_line_error(result, "already exists", "--force")
    assert out.read_text() == "keep me"
    forced = _run("classify", cohort["h5mu"], "--label", "PAM50", "--out", out, "--force")
    assert forced.exit_code == 0 and json.loads(out.read_text())["label"] == "PAM50"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_survival_with_cdr_clinical_prints_c_index_hazard_ratios_and_log_rank(cohort, tmp_path):
    out = tmp_path / "os.json"
    result = _run("survival", cohort["bare"], "--clinical", cohort["cdr"], "--out", out, "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "C-index" in result.output and "hazard ratios" in result.output and "log-rank p" in result.output
    payload = json.loads(out.read_text())
    hr = {row["dimension"]: row for row in payload["hazard_ratios"]}
    assert hr["z_1"]["hr"] > 2.0 and payload["c_index"]["mean"] > 0.7
    assert payload["n_samples"] == 200 and payload["logrank_p"] < 1e-4


def test_survival_endpoint_pfi_reads_the_cdr_pfi_columns_and_reports_held_out_metrics(cohort, tmp_path):
    out = tmp_path / "pfi.json"
    result = _run("survival", cohort["bare"], "--clinical", cohort["cdr"], "--endpoint", "PFI", "--horizons", "1,3",
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert "'PFI_time'" in result.output and "Uno's C" in result.output and "AUC at 3y" in result.output
    payload = json.loads(out.read_text())
    assert payload["endpoint"] == "PFI" and payload["time"] == "PFI_time"
    hr = {row["dimension"]: row for row in payload["hazard_ratios"]}
    assert hr["z_2"]["hr"] > 2.0 and hr["z_1"]["hr"] < 1.5  # PFI's driver, not OS's
    assert payload["horizons_years"] == [1.0, 3.0]
    assert set(payload["metrics"]) == {"c_index", "uno_c", "auc_1y", "auc_3y", "ibs"}
    assert payload["metrics"]["uno_c"]["mean"] > 0.65 and payload["metrics"]["auc_1y"]["mean"] > 0.65
    assert 0 < payload["metrics"]["ibs"]["mean"] < 0.25
    assert all(set(row) >= {"uno_c", "auc_1y", "ibs"} for row in payload["per_fold"])


def test_survival_reads_named_clinical_columns_in_months(cohort):
    result = _run("survival", cohort["bare"], "--clinical", cohort["months"], "--time", "months",
                  "--event", "status", "--time-unit", "months", "--groups", "clusters", "--n-clusters", "3")
    assert result.exit_code == 0, result.output
    assert "k-means, 3 clusters" in result.output and "C3" in result.output
    assert "200 samples" in result.output


def test_survival_uses_obs_columns_of_the_embeddings_file_in_embeds_output_folder(cohort):
    # 'omicsdisent embed' writes a folder holding embeddings.h5mu; the folder is accepted as EMBEDDINGS.
    result = _run("survival", cohort["folder"], "--rep", "X_private_rna", "--penalizer", "0.5")
    assert result.exit_code == 0, result.output
    assert "w_rna_0" in result.output and "penalizer 0.5" in result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["classify", "{folder}/nope.h5mu", "--label", "PAM50"], ["nope.h5mu: no such file"]),
        (["classify", "{h5mu}", "--label", "grade"], ["no obs column 'grade'", "'PAM50'"]),
        (["classify", "{cdr}", "--label", "PAM50"], ["cdr.tsv: expected an .h5mu or .h5ad file"]),
        (["classify", "{garbage}", "--label", "PAM50"], ["garbage.h5mu: cannot be read as .h5mu"]),
        (["classify", "{empty_folder}", "--label", "PAM50"], ["is a folder without embeddings.h5mu"]),
        (["classify", "{h5mu}", "--label", "PAM50", "--rep", "X_private_cnv"],
         ["no embedding 'X_private_cnv'", "'X_shared'", "'X_private_rna'"]),
        (["classify", "{h5mu}", "--label", "PAM50", "--cv", "1"], ["cv=1"]),
        (["survival", "{h5mu}", "--time", "days"], ["no obs column 'days'", "'OS_time'"]),
        (["survival", "{bare}"], ["no obs column 'OS_time'"]),
        (["survival", "{h5mu}", "--rep", "X_shared,X_umap"], ["no embedding 'X_umap'"]),
        (["survival", "{bare}", "--clinical", "{folder}/missing.csv"], ["missing.csv: no such file"]),
        (["survival", "{bare}", "--clinical", "{cdr}", "--time", "days", "--event", "OS"], ["no column 'days'"]),
        (["survival", "{h5mu}", "--time-unit", "months"], ["--time-unit applies to the --clinical file"]),
        (["survival", "{bare}", "--clinical", "{cdr}", "--time", "OS.time"], ["--time and --event", "set both"]),
        (["survival", "{h5mu}", "--out", "{folder}/no/dir/x.json"], ["no such folder"]),
        (["survival", "{bare}", "--clinical", "{cdr}", "--endpoint", "DSS"], ["'DSS_time'", "'DSS.time'"]),
        (["survival", "{h5mu}", "--endpoint", "PFI", "--time", "OS_time2"], ["--endpoint", "leave --time"]),
        (["survival", "{h5mu}", "--horizons", "1,x"], ["--horizons '1,x'"]),
        (["survival", "{h5mu}", "--horizons", "0"], ["horizons", "positive"]),
    ],
)
def test_bad_input_gives_a_one_line_error(cohort, args, fragments):
    args = [a.format(**{k: str(v) for k, v in cohort.items()}) for a in args]
    _assert_one_line_error(_run(*args), *fragments)


def test_help_shows_an_example():
    for command in ("classify", "survival"):
        result = _run(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output and f"omicsdisent {command}" in result.output
