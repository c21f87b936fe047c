"""Held-out survival metrics beyond Harrell's C, from scikit-survival.

For a risk score fitted on training rows and scored on test rows (times in days, events 1/0):

- Harrell's C (lifelines ``concordance_index``), as everywhere in the package;
- Uno's IPCW C-index (``sksurv.metrics.concordance_index_ipcw``) truncated at ``tau``;
- the cumulative/dynamic AUC at horizons (``sksurv.metrics.cumulative_dynamic_auc``; default 1, 3
  and 5 years of 365.25 days), where cases are test patients with an event by the horizon and
  controls those still followed after it; a horizon with no case or no control among the test rows
  is skipped, and the reason is kept;
- the integrated Brier score (``sksurv.metrics.integrated_brier_score``) of the Cox model's predicted
  survival ``S(t | x) = exp(-H0(t) exp(eta))``, with ``H0`` the Breslow estimate on the training rows.

The inverse-probability-of-censoring weights come from a Kaplan-Meier estimate of the censoring
distribution on the *training* rows only. It is zero after the last training time when that time is
censored, so the test rows are censored administratively at the last training time ``T`` first
(time ``min(t, T)``, event only if ``t < T``). That changes no metric below ``T``. Uno's C is
truncated at ``tau``, and the Brier scores are integrated over 100 even steps from the 5th to the
95th percentile of those test times. ``tau`` is that same 95th percentile.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from omicsdisent.errors import InputError

YEAR_DAYS = 365.25
DEFAULT_HORIZONS = (1.0, 3.0, 5.0)  # years
IBS_POINTS = 100
IBS_QUANTILES = (0.05, 0.95)


def horizon_key(years: float) -> str:
    """The metric name of the AUC at ``years``: ``auc_1y``, ``auc_2.5y``."""
    return f"auc_{float(years):g}y"


def metric_names(horizons: Sequence[float] = DEFAULT_HORIZONS) -> list[str]:
    """The metric names :func:`held_out_metrics` returns, in order."""
    return ["c_index", "uno_c", *[horizon_key(h) for h in horizons], "ibs"]


def check_horizons(horizons, option: str = "horizons") -> tuple[float, ...]:
    """Horizons in years as a sorted tuple of distinct positive floats (InputError otherwise)."""
    try:
        values = [float(h) for h in horizons]
    except (TypeError, ValueError):
        raise InputError(f"{option}={horizons!r}: expected numbers of years such as 1,3,5") from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"{option}={horizons!r}: expected one or more positive numbers of years")
    return tuple(sorted(set(values)))


def breslow_cumulative_hazard(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's baseline cumulative hazard of a Cox model: its jump times (days) and ``H0`` just after each.

    ``H0(t) = sum over distinct event times s <= t of d_s / sum_{j: t_j >= s} exp(eta_j)``, with
    ``d_s`` the deaths at ``s`` and ``eta`` = ``risk`` [n], the fitted linear predictor of each row.
    """
    time, event, risk = (np.asarray(a, dtype=float) for a in (time, event, risk))
    shift = risk.max()
    weight = np.exp(risk - shift)
    jumps = np.unique(time[event == 1])
    order = np.argsort(time)
    sorted_time, sorted_weight = time[order], weight[order]
    # sum of weights of rows with time >= s: the tail sums of the sorted weights
    tail = np.concatenate([np.cumsum(sorted_weight[::-1])[::-1], [0.0]])
    at_risk = tail[np.searchsorted(sorted_time, jumps, side="left")]
    deaths = np.array([np.sum((time == s) & (event == 1)) for s in jumps], dtype=float)
    return jumps, np.cumsum(deaths / at_risk) * math.exp(-shift)


def cox_survival(risk: np.ndarray, times: np.ndarray, baseline: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Predicted survival [n, len(times)]: ``exp(-H0(t) exp(eta))`` with ``baseline`` from
    :func:`breslow_cumulative_hazard` and ``risk`` the linear predictors ``eta`` [n] on the same scale."""
    jumps, hazard = baseline
    position = np.searchsorted(jumps, np.asarray(times, dtype=float), side="right")
    h0 = np.concatenate([[0.0], hazard])[position]
    return np.exp(-np.outer(np.exp(np.asarray(risk, dtype=float)), h0))


def _structured(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"], out["time"] = event == 1, time
    return out


def held_out_metrics(
    time_train: Sequence[float], event_train: Sequence[float], risk_train: Sequence[float],
    time_test: Sequence[float], event_test: Sequence[float], risk_test: Sequence[float],
    horizons: Sequence[float] = DEFAULT_HORIZONS,
) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics of a risk score (higher = worse prognosis) on test rows; see the module docstring.

    ``risk_train``/``risk_test`` are the Cox linear predictors of the training and test rows (the
    training ones give the Breslow baseline for the Brier score). ``horizons`` are in years.
    Returns ``(metrics, skipped)``: ``metrics`` maps every name of :func:`metric_names` (``c_index``
    Harrell's, ``uno_c``, ``auc_<h>y``, ``ibs``) to a value, NaN where it cannot be computed, plus
    ``uno_tau`` and the ``ibs_from``/``ibs_to`` range (days); ``skipped`` maps each NaN metric to the
    reason.
    """
    from lifelines.utils import concordance_index
    from sksurv.metrics import concordance_index_ipcw, cumulative_dynamic_auc, integrated_brier_score

    horizons = check_horizons(horizons)
    t_tr, e_tr, r_tr = (np.asarray(a, dtype=float) for a in (time_train, event_train, risk_train))
    t_te, e_te, r_te = (np.asarray(a, dtype=float) for a in (time_test, event_test, risk_test))
    names = metric_names(horizons)
    metrics = dict.fromkeys(names, math.nan)
    metrics.update(uno_tau=math.nan, ibs_from=math.nan, ibs_to=math.nan)
    skipped: dict[str, str] = {}
    if not (np.isfinite(r_te).all() and np.isfinite(r_tr).all()):
        return metrics, dict.fromkeys(names, "the model gave non-finite risk scores")
    if e_te.sum() == 0:
        return metrics, dict.fromkeys(names, "no events among the test rows")
    metrics["c_index"] = float(concordance_index(t_te, -r_te, e_te))

    last = float(t_tr.max())
    time_c = np.minimum(t_te, last)
    event_c = np.where(t_te < last, e_te, 0.0)
    train, test = _structured(t_tr, e_tr), _structured(time_c, event_c)
    if event_c.sum() == 0:
        reason = f"no test event before the last training time ({last:.0f} days)"
        skipped.update({n: reason for n in names if n != "c_index"})
        return metrics, skipped
    low, high = (float(q) for q in np.quantile(time_c, IBS_QUANTILES))
    low = max(low, float(time_c.min()))
    metrics["uno_tau"] = high
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            metrics["uno_c"] = float(concordance_index_ipcw(train, test, r_te, tau=high)[0])
        except ValueError as err:
            skipped["uno_c"] = str(err).splitlines()[0]

        follow_up = float(time_c.max())
        usable = []
        for h in horizons:
            days = h * YEAR_DAYS
            key = horizon_key(h)
            cases, controls = int(((time_c <= days) & (event_c == 1)).sum()), int((time_c > days).sum())
            if days >= follow_up:
                skipped[key] = f"{h:g} years is beyond the test follow-up ({follow_up / YEAR_DAYS:.2f} years)"
            elif cases == 0 or controls == 0:
                skipped[key] = f"{cases} test events by {h:g} years and {controls} test patients followed past it"
            else:
                usable.append((key, days))
        if usable:
            try:
                auc, _ = cumulative_dynamic_auc(train, test, r_te, [d for _, d in usable])
                metrics.update({key: float(a) for (key, _), a in zip(usable, np.atleast_1d(auc))})
            except ValueError as err:
                skipped.update({key: str(err).splitlines()[0] for key, _ in usable})

        if high > low:
            grid = np.linspace(low, high, IBS_POINTS, endpoint=False)
            surv = cox_survival(r_te, grid, breslow_cumulative_hazard(t_tr, e_tr, r_tr))
            try:
                metrics["ibs"] = float(integrated_brier_score(train, test, surv, grid))
                metrics["ibs_from"], metrics["ibs_to"] = float(grid[0]), float(grid[-1])
            except ValueError as err:
                skipped["ibs"] = str(err).splitlines()[0]
        else:
            skipped["ibs"] = "the test follow-up times span no interval"
    return metrics, skipped


def block_attribution(contributions: pd.DataFrame) -> pd.DataFrame:
    """Which block drives the risk: per block column of ``contributions`` (log-hazard parts, one row per
    patient), ``sd`` of the part over patients, ``hr_per_sd`` = exp(sd) (the hazard ratio between
    patients one sd apart in that block alone) and ``share`` = its variance over the sum of the
    blocks' variances. Rows with NaN (no modality) are left out."""
    frame = contributions.dropna()
    sd = frame.std(ddof=1)
    variance = sd**2
    total = float(variance.sum())
    return pd.DataFrame({
        "sd": sd,
        "hr_per_sd": np.exp(sd),
        "share": variance / total if total > 0 else np.nan,
    }).rename_axis("block")
