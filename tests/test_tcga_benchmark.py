"""The TCGA benchmark: omicsdisent.tl.benchmark's pieces and workflows/tcga_benchmark.py end to end
on a small simulated cohort."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from omicsdisent.errors import InputError
from omicsdisent.tl import benchmark as bm

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("tcga_benchmark", REPO / "workflows" / "tcga_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tcga_benchmark"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# -- splits -----------------------------------------------------------------------------------------
def test_splits_are_stratified_disjoint_and_cover_every_row():
    strata = np.array(["a"] * 60 + ["b"] * 30 + ["c"] * 10)
    splits = bm.stratified_splits(strata, n_splits=5, test_fraction=0.25, seed=0)
    assert len(splits) == 5
    for split in splits:
        assert len(np.intersect1d(split.train, split.test)) == 0
        assert np.array_equal(np.sort(np.concatenate([split.train, split.test])), np.arange(100))
        counts = pd.Series(strata[split.test]).value_counts()
        for label, size in (("a", 60), ("b", 30), ("c", 10)):  # a quarter of each stratum, give or take one
            assert abs(counts[label] - 0.25 * size) <= 1, (label, counts[label])
    # different seeds give different test sets
    assert len({tuple(s.test) for s in splits}) == 5


def test_split_i_depends_only_on_seed_plus_i():
    strata = np.repeat(["x", "y"], [40, 25])
    three = bm.stratified_splits(strata, n_splits=3, seed=7)
    twenty = bm.stratified_splits(strata, n_splits=20, seed=7)
    again = bm.stratified_splits(strata, n_splits=3, seed=7)
    for a, b, c in zip(three, twenty, again):
        assert a.seed == b.seed == c.seed
        assert np.array_equal(a.test, b.test) and np.array_equal(a.test, c.test)
    shifted = bm.stratified_splits(strata, n_splits=2, seed=8)
    assert np.array_equal(shifted[0].test, three[1].test)


def test_splits_refuse_a_stratum_of_one():
    with pytest.raises(InputError, match="fewer than 2"):
        bm.stratified_splits(["a", "a", "a", "b"], n_splits=2)


def test_survival_and_one_year_share_splits_and_rare_labels_are_reported(tmp_path):
    tb = _load_script()
    n = 200
    rng = np.random.default_rng(0)
    time = rng.uniform(10, 3000, n)
    event = (rng.random(n) < 0.4).astype(float)
    time[:5], event[:5] = 100.0, 1.0  # exactly 5 deaths within a year
    time[5:][(event[5:] == 1) & (time[5:] < 365)] = 400.0
    out = tb.Outcomes(subtype=np.repeat(["A", "B"], n // 2), time=time, event=event,
                      one_year=bm.one_year_mortality(time, event))
    splits, skipped = tb.task_splits(out, n_splits=3, seed=0)
    assert set(splits) == {"subtype", "survival"}
    assert "5 deaths within a year" in skipped["one_year"]
    out.one_year[5:15] = 1.0  # now 15 positives
    splits, skipped = tb.task_splits(out, n_splits=3, seed=0)
    for (s_train, s_test), (y_train, y_test) in zip(splits["survival"], splits["one_year"]):
        assert set(y_train) <= set(s_train) and set(y_test) <= set(s_test)
        assert np.isfinite(out.one_year[y_train]).all() and np.isfinite(out.one_year[y_test]).all()


def test_a_rare_subtype_leaves_the_subtype_task_and_the_others_stay():
    tb = _load_script()
    subtype = np.array(["A"] * 40 + ["B"] * 30 + ["C"] * 4 + [""] * 6)
    nan = np.full(80, np.nan)
    out = tb.Outcomes(subtype=subtype, time=nan, event=nan, one_year=nan)
    splits, skipped = tb.task_splits(out, n_splits=3, seed=0)
    assert "subtype" not in skipped
    used = np.unique(np.concatenate([np.concatenate(split) for split in splits["subtype"]]))
    assert set(subtype[used]) == {"A", "B"} and len(used) == 70
    out.subtype[:] = np.array(["A"] * 75 + ["B"] * 5)
    splits, skipped = tb.task_splits(out, n_splits=3, seed=0)
    assert "subtype" in skipped and "need 2 or more" in skipped["subtype"]


def test_subsample_keeps_the_share_of_deaths_and_is_seeded():
    import anndata as ad
    import mudata as md

    tb = _load_script()
    rng = np.random.default_rng(0)
    n = 400
    obs = pd.DataFrame({"OS_event": np.where(rng.random(n) < 0.15, 1.0, 0.0)}, index=[f"p{i}" for i in range(n)])
    obs.iloc[:20, 0] = np.nan
    mdata = md.MuData({"rna": ad.AnnData(rng.normal(size=(n, 3)), obs=obs.copy())})
    mdata.obs["OS_event"] = obs["OS_event"]
    rows = tb.subsample_patients(mdata, 80, seed=1)
    assert len(rows) == 80 and len(np.unique(rows)) == 80
    np.testing.assert_array_equal(rows, tb.subsample_patients(mdata, 80, seed=1))
    assert not np.array_equal(rows, tb.subsample_patients(mdata, 80, seed=2))
    deaths = np.nansum(obs["OS_event"].to_numpy()[rows])
    assert abs(deaths - 80 * np.nansum(obs["OS_event"]) / n) <= 1
    with pytest.raises(InputError, match="--subsample 400"):
        tb.subsample_patients(mdata, 400, seed=0)


# -- the 1-year label -------------------------------------------------------------------------------
def test_one_year_mortality_rule_and_its_edges():
    cases = [  # (time in days, event, label)
        (100.0, 1.0, 1.0),  # death within a year
        (364.0, 1.0, 1.0),
        (364.9, 1.0, 1.0),
        (365.0, 1.0, np.nan),  # a death on day 365 is not within the year, nor alive at one year
        (800.0, 1.0, np.nan),  # a later death: excluded
        (365.0, 0.0, 0.0),  # alive with exactly a year of follow-up
        (2000.0, 0.0, 0.0),
        (364.0, 0.0, np.nan),  # alive, follow-up too short
        (0.0, 1.0, 1.0),
        (-7.0, 1.0, np.nan),  # negative time: unusable
        (np.nan, 1.0, np.nan),
        (500.0, np.nan, np.nan),
    ]
    time, event, expected = map(np.array, zip(*cases))
    np.testing.assert_array_equal(bm.one_year_mortality(time, event), expected)


# -- paired statistics ------------------------------------------------------------------------------
def test_paired_difference_matches_scipy_and_handles_ties_and_nan():
    values = np.array([0.80, 0.82, 0.79, 0.85, 0.90, np.nan])
    reference = np.array([0.78, 0.80, 0.80, 0.81, 0.84, 0.70])
    out = bm.paired_difference(values, reference)
    diff = values[:5] - reference[:5]
    assert out["n"] == 5
    assert out["mean_diff"] == pytest.approx(diff.mean())
    assert out["sd_diff"] == pytest.approx(diff.std(ddof=1))
    assert out["p"] == pytest.approx(wilcoxon(diff).pvalue)
    same = bm.paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same["mean_diff"] == 0 and same["p"] == 1.0
    assert np.isnan(bm.paired_difference([0.5], [0.4])["p"])


def test_paired_against_pairs_rows_by_split():
    rows = []
    for split, (ref, other) in enumerate([(0.70, 0.75), (0.60, 0.61), (0.80, 0.90), (0.50, 0.52)]):
        rows.append({"cohort": "c", "split": split, "method": "pca_concat", "embedding": "pca", "task": "t",
                     "metric": "m", "value": ref})
        rows.append({"cohort": "c", "split": split, "method": "idmvae", "embedding": "z", "task": "t",
                     "metric": "m", "value": other})
    results = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # row order must not matter
    paired = bm.paired_against(results, ("pca_concat", "pca"))
    assert len(paired) == 1
    assert paired.loc[0, "mean_diff"] == pytest.approx(np.mean([0.05, 0.01, 0.10, 0.02]))
    assert paired.loc[0, "n"] == 4


# -- probes -----------------------------------------------------------------------------------------
def _labelled(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    y = np.where(x[:, 5] + 0.5 * rng.normal(size=n) > 0, "pos", "neg")
    return x, y


def test_classification_probe_choice_ignores_the_test_rows():
    x, y = _labelled()
    train, test = np.arange(200), np.arange(200, 300)
    first = bm.classification_probe(x[train], y[train], x[test], y[test], prefixes=[2, 12], seed=3)
    rng = np.random.default_rng(1)
    other = bm.classification_probe(x[train], y[train], rng.normal(size=(100, 12)), rng.permutation(y[test]),
                                    prefixes=[2, 12], seed=3)
    assert first.params == other.params
    assert first.inner_scores == other.inner_scores
    assert first.metrics["accuracy"] != other.metrics["accuracy"]  # the test rows did change the score
    # The signal is in column 5, so the inner CV picks all 12 columns over the first 2 ...
    assert first.params["n_dims"] == 12 and first.metrics["accuracy"] > 0.8
    # ... and the chosen candidate is the best inner score; other training labels change the scores.
    assert first.inner_scores[(first.params["n_dims"], first.params["C"])] == max(first.inner_scores.values())
    shuffled = bm.classification_probe(x[train], rng.permutation(y[train]), x[test], y[test], prefixes=[2, 12],
                                       seed=3)
    assert shuffled.inner_scores != first.inner_scores


def test_ridge_cox_matches_lifelines_without_ties():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    x = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)  # lifelines standardises internally (ddof=1)
    t = rng.exponential(np.exp(-x @ np.array([0.8, -0.5, 0.3, 0.0, 0.0, 0.2]))) * 1000
    censor = rng.exponential(1500, 300)
    e, t = (t < censor).astype(float), np.minimum(t, censor)
    for penalizer in (0.01, 0.5):
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(T=t, E=e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = CoxPHFitter(penalizer=penalizer, l1_ratio=0.0).fit(frame, "T", "E").params_.to_numpy()
        np.testing.assert_allclose(bm.ridge_cox(x, t, e, penalizer), expected, atol=1e-4)


def test_cox_probe_finds_the_risk_and_ignores_the_test_rows():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 8))
    t = rng.exponential(np.exp(-1.0 * x[:, 0])) * 1000
    censor = rng.exponential(1500, 300)
    e, t = (t < censor).astype(float), np.minimum(t, censor)
    train, test = np.arange(220), np.arange(220, 300)
    result = bm.cox_probe(x[train], t[train], e[train], x[test], t[test], e[test], prefixes=[4, 8], seed=0)
    assert result.metrics["c_index"] > 0.7
    scrambled = bm.cox_probe(x[train], t[train], e[train], x[test], rng.permutation(t[test]),
                             rng.permutation(e[test]), prefixes=[4, 8], seed=0)
    assert scrambled.params == result.params and scrambled.inner_scores == result.inner_scores
    assert scrambled.metrics["c_index"] < result.metrics["c_index"]
    # The metrics beyond Harrell's C, on the same test rows.
    assert result.metrics["uno_c"] > 0.65 and result.metrics["auc_1y"] > 0.65 and 0 < result.metrics["ibs"] < 0.25
    assert scrambled.metrics["uno_c"] < result.metrics["uno_c"] and scrambled.metrics["ibs"] > result.metrics["ibs"]


# -- the script end to end --------------------------------------------------------------------------
@pytest.mark.usefixtures("one_torch_thread")
def test_script_runs_end_to_end_refuses_to_overwrite_and_reuses_its_embeddings(tmp_path, capsys):
    tb = _load_script()
    out = tmp_path / "run"
    argv = ["--out", str(out), "--cohorts", "simulated", "--splits", "2", "--max-epochs", "2"]
    assert tb.main(argv) == 0
    for name in ("results.csv", "summary.csv", "paired.csv", "tcga.md", "protocol.json"):
        assert (out / name).is_file(), name
    methods = ["idmvae", "idmvae_diffusion", "mmvae_plus", "mofa", "pca_concat", "pca_rna", "pca_methyl"]
    assert sorted(p.name for p in (out / "embeddings").iterdir()) == sorted(f"simulated__{m}.npz" for m in methods)
    results = pd.read_csv(out / "results.csv")
    assert set(results["method"]) == {*methods, "majority_class"}
    assert set(results["task"]) == {"subtype", "survival", "one_year"}
    assert set(results["split"]) == {0, 1}
    assert set(results.loc[results["method"] == "idmvae", "embedding"]) == {"z", "w", "z+w"}
    assert results["value"].notna().all()
    markdown = (out / "tcga.md").read_text()
    assert "| pca_concat | pca |" in markdown and "Paired against PCA" in markdown
    assert set(results.loc[results["task"] == "survival", "metric"]) == {"c_index", "uno_c", "auc_1y", "auc_3y",
                                                                          "auc_5y", "ibs"}
    assert "read from the cache" not in markdown
    assert "2 seeded splits (seeds 0-1)" in markdown

    # A second run into the same folder stops before touching anything.
    capsys.readouterr()
    assert tb.main(argv) == 2
    assert "already holds results" in capsys.readouterr().err
    # Without the results (an interrupted run), it reuses the cached embeddings and repeats the numbers.
    for name in ("results.csv", "summary.csv", "paired.csv", "tcga.md", "protocol.json"):
        (out / name).unlink()
    assert tb.main(argv) == 0
    assert "read from" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), results)
    assert "7 of 7 embeddings were read from the cache" in (out / "tcga.md").read_text()
    # A cache fitted with other settings is refused rather than silently reused.
    for name in ("results.csv", "summary.csv", "paired.csv", "tcga.md", "protocol.json"):
        (out / name).unlink()
    assert tb.main([*argv[:-1], "3"]) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.usefixtures("one_torch_thread")
def test_supervised_rows_are_fitted_inside_each_split_on_a_two_split_smoke_run(tmp_path):
    tb = _load_script()
    out = tmp_path / "run"
    assert tb.main(["--out", str(out), "--cohorts", "simulated", "--splits", "2", "--max-epochs", "2",
                    "--methods", "pca_concat", "--supervised", "all"]) == 0
    results = pd.read_csv(out / "results.csv")
    survival = results[results["task"] == "survival"]
    supervised = survival[survival["method"].isin(["idmvae_supervised", "coxnet", "pca_cox"])]
    assert set(zip(supervised["method"], supervised["embedding"])) == {
        ("idmvae_supervised", "head"), ("coxnet", "features"), ("pca_cox", "pca")}
    assert len(supervised) == 3 * 2 * 6  # methods x splits x metrics
    harrell = supervised[supervised["metric"] == "c_index"]
    chosen = harrell[harrell["method"] == "idmvae_supervised"]["penalizer"]  # the inner choice of the Cox weight
    assert chosen.isin([1.0, 10.0, 100.0]).all()
    assert harrell["value"].between(0.5, 1.0).all()
    ibs = supervised[supervised["metric"] == "ibs"].set_index(["method", "split"])["value"]
    assert ibs.between(0.0, 0.4).all() and ibs.loc["coxnet"].max() < 0.25
    # The test rows are the reference's test rows: the same n_test per split.
    reference = survival[(survival["method"] == "pca_concat") & (survival["metric"] == "c_index")]
    assert (harrell.groupby("split")["n_test"].first() == reference.set_index("split")["n_test"]).all()
    markdown = (out / "tcga.md").read_text()
    assert "| coxnet | features |" in markdown and "fitted inside each survival split" in markdown

    # Coxnet's and PCA + Cox's choices do not depend on the test part's outcomes.
    mdata = tb.load_cohort(tb.COHORTS["simulated"])
    outcome = tb.outcomes(mdata, "subtype")
    splits, _ = tb.task_splits(outcome, 1, 0)
    train, test = splits["survival"][0]
    matrix, _ = tb.concatenated(mdata)
    scrambled = tb.Outcomes(outcome.subtype, outcome.time.copy(), outcome.event.copy(), outcome.one_year)
    order = np.random.default_rng(0).permutation(test)
    scrambled.time[test], scrambled.event[test] = outcome.time[order], outcome.event[order]
    for fit in (tb._coxnet, tb._pca_cox):
        first, params = fit(matrix, outcome, train, test, 0)
        second, params_scrambled = fit(matrix, scrambled, train, test, 0)
        assert params_scrambled == params and second["c_index"] != first["c_index"]
