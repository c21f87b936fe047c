"""Held-out survival metrics: they agree with scikit-survival and are computed on the test folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from omicsdisent import pl
from omicsdisent.errors import InputError
from omicsdisent.tl import survival
from omicsdisent.tl import survival_metrics as sm


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    event_time = rng.exponential(900.0 * np.exp(-x[:, 0]))
    censor = rng.uniform(100.0, 2500.0, n)
    return x, np.minimum(event_time, censor).round(), (event_time <= censor).astype(float)


def _structured(time, event):
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"], out["time"] = event == 1, time
    return out


def test_metrics_agree_with_scikit_survival_on_a_cox_model():
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.metrics import (concordance_index_censored, concordance_index_ipcw, cumulative_dynamic_auc,
                                integrated_brier_score)

    x, t, e = _data()
    last = int(np.argmax(t))  # the longest follow-up in the training part: no administrative censoring
    order = np.array([last, *[i for i in range(len(t)) if i != last]])
    train, test = order[:180], order[180:]
    model = CoxPHSurvivalAnalysis(alpha=0, ties="breslow").fit(x[train], _structured(t[train], e[train]))
    r_train, r_test = x[train] @ model.coef_, x[test] @ model.coef_
    metrics, skipped = sm.held_out_metrics(t[train], e[train], r_train, t[test], e[test], r_test, horizons=(1, 2))
    assert skipped == {}
    y_train, y_test = _structured(t[train], e[train]), _structured(t[test], e[test])
    assert t[test].max() < t[train].max()  # no administrative censoring needed on this split
    assert metrics["c_index"] == pytest.approx(concordance_index_censored(y_test["event"], y_test["time"], r_test)[0])
    tau = np.quantile(t[test], 0.95)
    assert metrics["uno_tau"] == pytest.approx(tau)
    assert metrics["uno_c"] == pytest.approx(concordance_index_ipcw(y_train, y_test, r_test, tau=tau)[0])
    auc, _ = cumulative_dynamic_auc(y_train, y_test, r_test, [365.25, 730.5])
    assert [metrics["auc_1y"], metrics["auc_2y"]] == pytest.approx(list(auc))
    # The Brier score from scikit-survival's own Breslow survival functions of the same model.
    grid = np.linspace(*np.quantile(t[test], [0.05, 0.95]), 100, endpoint=False)
    curves = np.array([f(grid) for f in model.predict_survival_function(x[test])])
    assert metrics["ibs"] == pytest.approx(integrated_brier_score(y_train, y_test, curves, grid))
    assert 0.0 < metrics["ibs"] < 0.25 and metrics["auc_1y"] > 0.6


def test_a_horizon_past_the_follow_up_is_skipped_with_the_reason():
    x, t, e = _data()
    t = np.minimum(t, 1500.0)
    train, test = np.arange(180), np.arange(180, 240)
    metrics, skipped = sm.held_out_metrics(t[train], e[train], x[train, 0], t[test], e[test], x[test, 0])
    assert np.isfinite(metrics["auc_1y"]) and np.isfinite(metrics["auc_3y"])
    assert np.isnan(metrics["auc_5y"]) and "5 years is beyond the test follow-up" in skipped["auc_5y"]
    assert set(skipped) == {"auc_5y"}


def test_a_test_time_past_the_last_training_time_is_censored_there_not_an_error():
    x, t, e = _data()
    train, test = np.arange(180), np.arange(180, 240)
    t, e = t.copy(), e.copy()
    t[test[0]], e[test[0]] = t[train].max() + 500.0, 1.0  # the latest death of all is in the test part
    e[np.argmax(np.where(np.isin(np.arange(240), train), t, -1))] = 0.0  # the last training time is censored
    metrics, skipped = sm.held_out_metrics(t[train], e[train], x[train, 0], t[test], e[test], x[test, 0])
    assert skipped == {} and all(np.isfinite(v) for v in metrics.values())


def test_tl_survival_metrics_are_those_of_each_held_out_fold():
    from sklearn.model_selection import StratifiedKFold

    x, t, e = _data()
    import anndata as ad

    adata = ad.AnnData(obs=pd.DataFrame({"OS_time": t, "OS_event": e}, index=[f"s{i}" for i in range(len(t))]))
    adata.obsm["X_shared"] = x
    res = survival(adata, cv=4, seed=3, horizons=(1, 2))
    folds = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=3).split(x, e))
    risk = res.risk.to_numpy()
    for (train, test), (_, row) in zip(folds, res.per_fold.iterrows()):
        assert row["n_test"] == len(test)
        # Recompute Uno's C and the 1-year AUC from the out-of-fold risks of this fold's test rows alone.
        from sksurv.metrics import concordance_index_ipcw, cumulative_dynamic_auc

        y_train, y_test = _structured(t[train], e[train]), _structured(t[test], e[test])
        tau = np.quantile(np.minimum(t[test], t[train].max()), 0.95)
        assert row["uno_c"] == pytest.approx(concordance_index_ipcw(y_train, y_test, risk[test], tau=tau)[0])
        assert row["auc_1y"] == pytest.approx(cumulative_dynamic_auc(y_train, y_test, risk[test], [365.25])[0][0])
    assert res.metrics["uno_c"]["mean"] == pytest.approx(res.per_fold["uno_c"].mean())
    assert res.metrics["ibs"]["folds"] == 4 and 0 < res.metrics["ibs"]["mean"] < 0.25
    # Out-of-fold predicted survival falls with the risk and with the horizon.
    at = res.survival_at
    assert list(at.columns) == ["auc_1y", "auc_2y"] and (at["auc_2y"] <= at["auc_1y"] + 1e-12).all()
    assert np.corrcoef(risk, at["auc_1y"])[0, 1] < -0.5


def test_calibration_table_and_figure_compare_predicted_with_kaplan_meier(tmp_path):
    x, t, e = _data(n=400, seed=1)
    import anndata as ad

    adata = ad.AnnData(obs=pd.DataFrame({"OS_time": t, "OS_event": e}, index=[f"s{i}" for i in range(len(t))]))
    adata.obsm["X_shared"] = x
    res = survival(adata, seed=0)
    frame = pl.calibration_table(res, horizon=1, n_groups=4)
    assert list(frame["group"]) == ["G1", "G2", "G3", "G4"] and frame["n"].sum() == 400
    # Risk groups ordered: predicted and observed survival both fall, and agree within 0.1 for a true model.
    assert (np.diff(frame["predicted"]) < 0).all() and frame["observed"].iloc[0] > frame["observed"].iloc[-1]
    assert (frame["predicted"] - frame["observed"]).abs().max() < 0.1
    figure = pl.calibration(res, horizon=1, save=tmp_path / "cal.png")
    assert (tmp_path / "cal.png").stat().st_size > 0 and "1 years" in figure.axes[0].get_xlabel()
    with pytest.raises(InputError, match="horizon=2"):
        pl.calibration_table(res, horizon=2)
