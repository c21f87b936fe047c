"""The supervised head: Cox and cross-entropy terms, training with missing outcomes, predict, fit/predict CLI."""

from __future__ import annotations

import json

import mudata as md
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from scipy.stats import spearmanr

import omicsdisent as od
from omicsdisent.cli import main
from omicsdisent.errors import InputError
from omicsdisent.models import objectives
from omicsdisent.models.config import ModelConfig
from omicsdisent.models.supervision import parse_supervise

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = {"z_dim": 4, "w_dim": 4, "hidden": (32,)}


def _breslow_nll(risk, time, event):
    """The Breslow negative log partial likelihood per event, written out row by row."""
    total, deaths = 0.0, 0
    for i in range(len(time)):
        if event[i] == 1:
            at_risk = time >= time[i]
            total += risk[i] - np.log(np.exp(risk[at_risk]).sum())
            deaths += 1
    return -total / deaths


def test_cox_term_is_breslows_partial_likelihood_and_ignores_unknown_outcomes():
    rng = np.random.default_rng(0)
    risk = rng.normal(size=12)
    time = np.array([5, 3, 3, 8, 1, 9, 3, 6, 2, 7, 4, 4], dtype=float)  # ties at 3 and 4
    event = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1], dtype=float)
    known = np.ones(12, dtype=bool)
    known[[0, 5]] = False
    value = objectives.cox_partial_likelihood_loss(torch.tensor(risk), torch.tensor(time), torch.tensor(event),
                                                  torch.tensor(known))
    assert float(value) == pytest.approx(_breslow_nll(risk[known], time[known], event[known]))
    none = objectives.cox_partial_likelihood_loss(torch.tensor(risk), torch.tensor(time), torch.zeros(12),
                                                 torch.tensor(known))
    assert float(none) == 0.0  # a batch without events adds nothing


def test_cross_entropy_term_averages_over_the_known_labels_only():
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    label = torch.tensor([0, 2, 1, 1, 0, 2])
    known = torch.tensor([True, False, True, True, False, True])
    expected = torch.nn.functional.cross_entropy(logits[known], label[known])
    assert float(objectives.masked_cross_entropy(logits, label, known)) == pytest.approx(float(expected))


def test_supervise_option_forms():
    assert parse_supervise("survival") == "survival:OS"
    assert parse_supervise("survival:pfi") == "survival:PFI"
    assert parse_supervise("label:PAM50") == "label:PAM50"
    assert ModelConfig().supervise is None
    for bad in ("survival:EFS", "label:", "cox"):
        with pytest.raises(InputError, match="option supervise="):
            parse_supervise(bad)


@pytest.fixture(scope="module")
def cohort():
    mdata = od.datasets.simulate_cohort(n_samples=240, modalities=("rna", "methyl"), n_features=40, n_subtypes=3,
                                        seed=0)
    od.pp.preprocess(mdata)
    # A third of the patients without a known outcome: they train only the unsupervised terms.
    event = mdata.obs["OS_event"].to_numpy(dtype=float).copy()
    event[::3] = np.nan
    mdata.obs["OS_event"] = event
    return mdata


@pytest.fixture(scope="module")
def supervised(cohort):
    model = od.IDMVAE(cohort, supervise="survival", supervise_inputs="z+w", **SMALL)
    model.train(max_epochs=40, lr=5e-3, seed=0, progress=False, accelerator="cpu", early_stopping=False)
    return model


def test_supervised_fit_trains_with_some_outcomes_missing(supervised, cohort):
    known = supervised._data.batch["outcome"]["known"].numpy()
    assert known.sum() == np.isfinite(cohort.obs["OS_event"]).sum() < cohort.n_obs
    series = supervised.history.train["supervised"]
    assert np.isfinite(series).all() and series[-1] < series[0] - 0.05
    # A batch whose outcomes are all unknown gives the unsupervised loss alone.
    batch = dict(supervised._data.batch)
    batch["outcome"] = {**batch["outcome"], "known": torch.zeros_like(batch["outcome"]["known"])}
    supervised.module.eval()
    with torch.no_grad():
        _, terms = supervised.module.loss(batch)
    assert float(terms["supervised"]) == 0.0 and set(terms) >= {"mmvae_plus", "supervised"}


def test_one_modality_gives_a_finite_risk_ranked_like_both_and_like_tl_survival(supervised, cohort):
    both = supervised.predict()
    assert list(both.columns) == ["risk", "risk_z", "risk_w_rna", "risk_w_methyl", "modalities"]
    np.testing.assert_allclose(both[["risk_z", "risk_w_rna", "risk_w_methyl"]].sum(axis=1), both["risk"], atol=1e-9)
    rna_only = supervised.predict(md.MuData({"rna": cohort.mod["rna"]}))
    assert np.isfinite(rna_only["risk"]).all() and (rna_only["risk_w_methyl"] == 0).all()
    assert set(rna_only["modalities"]) == {"rna"}
    assert spearmanr(rna_only["risk"], both["risk"].reindex(rna_only.index)).statistic > 0.7
    # The head's risk and tl.survival's Cox model on the same shared code agree in direction.
    data = cohort.copy()
    data.obsm["X_shared"] = supervised.get_latent()
    result = od.tl.survival(data, key_added=None)
    assert spearmanr(result.risk, both["risk"].reindex(result.risk.index)).statistic > 0.5
    from lifelines.utils import concordance_index

    kept = result.risk.index
    assert concordance_index(data.obs.loc[kept, "OS_time"], -both.loc[kept, "risk"],
                             data.obs.loc[kept, "OS_event"]) > 0.6


def test_a_saved_supervised_model_predicts_the_same_and_an_unsupervised_one_refuses(supervised, cohort, tmp_path):
    supervised.save(tmp_path / "model")
    back = od.IDMVAE.load(tmp_path / "model")
    assert back.config.supervise == "survival:OS" and back.config.supervise_inputs == "z+w"
    pd.testing.assert_frame_equal(back.predict(cohort), supervised.predict(cohort))
    plain = od.IDMVAE(cohort, **SMALL)
    with pytest.raises(InputError, match="no supervised head"):
        plain.predict()


def test_the_report_section_of_a_supervised_model_names_the_blocks(supervised, cohort):
    from omicsdisent.report.build import _prognostic_head

    html = _prognostic_head(supervised, cohort).render()
    assert "Supervised head (survival:OS)" in html and "hr_per_sd" in html
    assert all(block in html for block in ("<th>z</th>", "<th>w_rna</th>", "<th>w_methyl</th>")), html


def test_label_head_learns_the_subtype_from_half_the_labels(cohort):
    data = cohort.copy()
    labels = data.obs["subtype"].astype(object).to_numpy().copy()
    labels[::2] = None
    data.obs["half"] = labels
    model = od.IDMVAE(data, supervise="label:half", **SMALL)
    assert model.config.supervise_classes == ("S1", "S2", "S3")
    model.train(max_epochs=25, lr=5e-3, seed=0, progress=False, accelerator="cpu")
    table = model.predict()
    np.testing.assert_allclose(table[["p_S1", "p_S2", "p_S3"]].sum(axis=1), 1.0, atol=1e-9)
    unlabelled = data.obs["half"].isna().to_numpy()
    truth = data.obs["subtype"].astype(str).to_numpy()
    assert (table["prediction"].astype(str).to_numpy()[unlabelled] == truth[unlabelled]).mean() > 0.5
    with pytest.raises(InputError, match="obs has no column 'grade'"):
        od.IDMVAE(data, supervise="label:grade", **SMALL)
    with pytest.raises(InputError, match="no column 'PFI_time'"):
        od.IDMVAE(data, supervise="survival:PFI", **SMALL)


def test_fit_supervise_then_predict_from_one_modality_on_the_command_line(tmp_path):
    from omicsdisent.datasets.simulate import write_simulated_cohort

    files = write_simulated_cohort(tmp_path / "cohort", n_samples=80, n_features=25, seed=3)
    model_dir = tmp_path / "model"
    fast = ["--epochs", "3", "--z-dim", "3", "--w-dim", "2", "--batch-size", "32", "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(main, ["fit", str(files["rna"]), str(files["methyl"]), "--clinical",
                                       str(files["clinical"]), "--supervise", "survival:OS", "--supervise-inputs",
                                       "z+w", "--out", str(model_dir), *fast])
    assert result.exit_code == 0, result.output
    assert "supervised head: survival:OS on z+w" in result.output and "80 samples with the outcome" in result.output
    out, summary = tmp_path / "risk.csv", tmp_path / "risk.json"
    result = CliRunner().invoke(main, ["predict", str(model_dir), str(files["rna"]), "--out", str(out),
                                       "--json", str(summary)])
    assert result.exit_code == 0, result.output
    assert "risk per block" in result.output and "w_methyl" in result.output
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["sample_id", "risk", "risk_z"] and len(table) == 80
    assert np.isfinite(table["risk"]).all() and set(table["modalities"]) == {"rna"}
    payload = json.loads(summary.read_text())
    assert payload["supervise"] == "survival:OS" and [a["block"] for a in payload["attribution"]] == [
        "z", "w_rna", "w_methyl"]
    again = CliRunner().invoke(main, ["predict", str(model_dir), str(files["rna"]), "--out", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = CliRunner().invoke(main, ["fit", str(files["rna"]), str(files["methyl"]), "--supervise", "survival:EFS",
                                    "--out", str(tmp_path / "bad"), *fast])
    assert bad.exit_code == 1 and "supervise='survival:EFS'" in bad.output and not (tmp_path / "bad").exists()


def test_the_cox_head_does_not_push_the_shared_signal_into_the_private_codes():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "supervised_decomposition.py"
    spec = importlib.util.spec_from_file_location("supervised_decomposition", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.run(samples=400, features=60, epochs=15, weights=[10.0])
    assert report["w_to_shared_increase"]["cox_weight_10"] <= 0.05
    assert report["cox_weight_10"]["z_to_shared"] >= report["unsupervised"]["z_to_shared"] - 0.05
