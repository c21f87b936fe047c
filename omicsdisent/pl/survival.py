"""Kaplan-Meier curves with the number at risk under the plot, and the calibration of predicted survival."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from omicsdisent.errors import InputError
from omicsdisent.pl.figures import finish, new_figure

KM_COLUMNS = ("group", "time", "survival", "ci_lower_95", "ci_upper_95", "at_risk")


@dataclass
class KaplanMeierCurve:
    """One group's Kaplan-Meier estimate: arrays over ``timeline`` (days, increasing from 0).

    ``survival`` is S(t) just after each time, ``lower``/``upper`` its 95% confidence band (NaN where
    unknown) and ``at_risk`` the number of samples still at risk just before each time.
    """

    label: str
    timeline: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray

    def at_risk_at(self, times: np.ndarray) -> np.ndarray:
        """Samples at risk at each of ``times`` (days): at risk just before the first recorded time >= t."""
        position = np.searchsorted(self.timeline, times, side="left")
        counts = np.zeros(len(times), dtype=int)
        inside = position < len(self.timeline)
        counts[inside] = self.at_risk[position[inside]]
        return counts


def kaplan_meier_curves(time: np.ndarray, event: np.ndarray, groups: pd.Series) -> list[KaplanMeierCurve]:
    """Kaplan-Meier estimates per group with lifelines; rows with a missing time, event or group are left out.

    ``time`` in days (float [n]), ``event`` 1 death / 0 censored (float [n]), ``groups`` labels [n].
    """
    from lifelines import KaplanMeierFitter

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    known = np.isfinite(time) & np.isfinite(event) & groups.notna().to_numpy()
    if isinstance(groups.dtype, pd.CategoricalDtype):
        labels = [c for c in groups.cat.categories if (groups[known] == c).any()]
    else:
        labels = sorted(groups[known].astype(str).unique())
        groups = groups.astype(str)
    curves = []
    for label in labels:
        rows = known & (groups == label).to_numpy()
        fitter = KaplanMeierFitter().fit(time[rows], event[rows], label=str(label))
        band = fitter.confidence_interval_survival_function_
        curves.append(
            KaplanMeierCurve(
                label=str(label),
                timeline=fitter.survival_function_.index.to_numpy(dtype=float),
                survival=fitter.survival_function_.iloc[:, 0].to_numpy(dtype=float),
                lower=band.iloc[:, 0].to_numpy(dtype=float),
                upper=band.iloc[:, 1].to_numpy(dtype=float),
                at_risk=fitter.event_table["at_risk"].to_numpy(dtype=int),
            )
        )
    return curves


def kaplan_meier(
    result_or_data,
    *,
    groups: str = "risk_group",
    time: str = "OS_time",
    event: str = "OS_event",
    title: str | None = None,
    n_ticks: int = 5,
    save=None,
    overwrite: bool = False,
) -> Figure:
    """Kaplan-Meier curves per group with 95% bands and a number-at-risk table under the axes.

    ``result_or_data`` is a :class:`omicsdisent.tl.SurvivalResult` (its Kaplan-Meier estimates per risk
    group and log-rank p are drawn as they are) or an AnnData/MuData whose ``obs`` has the ``groups``
    column and survival columns ``time`` (days) and ``event`` (1 death, 0 censored); there the curves
    are estimated here. The number at risk is shown at ``n_ticks`` evenly spaced times.

    Returns the figure; ``save="km.png"`` (or ``.pdf``) also writes it.
    """
    p_value = None
    if isinstance(result_or_data, (ad.AnnData, md.MuData)):
        obs = result_or_data.obs
        for option, column in (("groups", groups), ("time", time), ("event", event)):
            if column not in obs.columns:
                raise InputError(f"{option}={column!r}: no such column in obs; obs has {', '.join(map(str, obs.columns)) or 'none'}")
        curves = kaplan_meier_curves(obs[time].to_numpy(dtype=float), obs[event].to_numpy(dtype=float), obs[groups])
        subtitle = groups
    else:
        curves, p_value = curves_from_result(result_or_data)
        subtitle = "risk groups"
    if not curves:
        raise InputError("kaplan_meier: no group has samples with a known survival time and event")

    figure = new_figure(6.4, 5.2)
    grid = figure.add_gridspec(2, 1, height_ratios=(4, 1))
    ax = figure.add_subplot(grid[0])
    table = figure.add_subplot(grid[1], sharex=ax)
    palette = colormaps["tab10"]
    end = max(float(c.timeline[-1]) for c in curves if len(c.timeline))
    ticks = np.linspace(0.0, end, max(2, n_ticks))
    for i, curve in enumerate(curves):
        colour = palette(i % palette.N)
        ax.step(curve.timeline, curve.survival, where="post", color=colour, label=curve.label)
        band = np.isfinite(curve.lower) & np.isfinite(curve.upper)
        if band.any():
            ax.fill_between(curve.timeline[band], curve.lower[band], curve.upper[band], step="post", color=colour, alpha=0.15, linewidth=0)
        for tick, count in zip(ticks, curve.at_risk_at(ticks)):
            table.text(tick, len(curves) - 1 - i, str(count), ha="center", va="center", color=colour, fontsize="small")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(-0.05 * end if end > 0 else -0.05, end * 1.05 if end > 0 else 1.0)
    ax.set_ylabel("Survival probability")
    ax.legend(frameon=False, loc="lower left", fontsize="small")
    heading = title if title is not None else f"Kaplan-Meier by {subtitle}"
    if p_value is not None and np.isfinite(p_value):
        heading += f" (log-rank p = {p_value:.3g})"
    ax.set_title(heading)
    ax.tick_params(labelbottom=False)
    table.set_ylim(-0.5, len(curves) - 0.5)
    table.set_yticks(range(len(curves)), [c.label for c in reversed(curves)], fontsize="small")
    table.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
    table.set_xlabel("Time (days)")
    table.set_title("Number at risk", fontsize="small", loc="left")
    for side in ("top", "right", "left"):
        table.spines[side].set_visible(False)
    table.tick_params(axis="y", length=0)
    return finish(figure, save, overwrite)


def curves_from_result(result) -> tuple[list[KaplanMeierCurve], float | None]:
    """The Kaplan-Meier curves and log-rank p of a :class:`omicsdisent.tl.SurvivalResult`.

    Reads its tidy ``km`` table (columns ``group``, ``time`` in days, ``survival``, ``ci_lower_95``,
    ``ci_upper_95``, ``at_risk``; groups in their categorical order) and ``logrank_p``.
    """
    km = getattr(result, "km", None)
    if not isinstance(km, pd.DataFrame):
        raise InputError(
            f"kaplan_meier: got a {type(result).__name__}; expected a SurvivalResult (tl.survival) or an AnnData/MuData"
        )
    missing = [c for c in KM_COLUMNS if c not in km.columns]
    if missing:
        raise InputError(f"kaplan_meier: the result's km table lacks column(s) {', '.join(missing)}")
    groups = km["group"]
    labels = list(groups.cat.categories) if isinstance(groups.dtype, pd.CategoricalDtype) else list(dict.fromkeys(groups))
    curves = []
    for label in labels:
        rows = km[(groups == label).to_numpy()].sort_values("time", kind="stable")
        if rows.empty:
            continue
        curves.append(
            KaplanMeierCurve(
                label=str(label),
                timeline=rows["time"].to_numpy(dtype=float),
                survival=rows["survival"].to_numpy(dtype=float),
                lower=rows["ci_lower_95"].to_numpy(dtype=float),
                upper=rows["ci_upper_95"].to_numpy(dtype=float),
                at_risk=rows["at_risk"].to_numpy(dtype=int),
            )
        )
    p_value = getattr(result, "logrank_p", None)
    return curves, None if p_value is None else float(p_value)


def calibration_table(result, horizon: float = 1.0, n_groups: int = 4) -> pd.DataFrame:
    """Predicted against observed survival at ``horizon`` years, per group of out-of-fold risk.

    ``result`` is a :class:`omicsdisent.tl.SurvivalResult`; its samples are cut into ``n_groups``
    groups of equal size by out-of-fold risk (``G1`` lowest). Per group: ``n``, ``events``,
    ``predicted`` (mean out-of-fold predicted survival S(horizon | x)), ``observed`` (Kaplan-Meier
    S(horizon) of the group) and its 95% band ``observed_lower``/``observed_upper`` (NaN past the
    group's last follow-up).
    """
    from lifelines import KaplanMeierFitter

    from omicsdisent.tl.survival_metrics import YEAR_DAYS, horizon_key

    table = getattr(result, "survival_at", None)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"calibration: got a {type(result).__name__}; expected a SurvivalResult (tl.survival)")
    key = horizon_key(horizon)
    if key not in table.columns:
        shown = ", ".join(c.removeprefix("auc_") for c in table.columns)
        raise InputError(f"horizon={horizon!r}: the result has predicted survival at {shown} only (tl.survival horizons=)")
    integer = isinstance(n_groups, (int, np.integer)) and not isinstance(n_groups, bool)
    if not integer or not 2 <= n_groups <= len(table):
        raise InputError(f"n_groups={n_groups!r}: expected an integer from 2 to the {len(table)} samples")
    risk = result.risk.reindex(table.index).to_numpy(dtype=float)
    order = np.argsort(risk, kind="stable")
    group = np.empty(len(risk), dtype=int)
    group[order] = np.arange(len(risk)) * n_groups // len(risk)
    days = float(horizon) * YEAR_DAYS
    rows = []
    t = result.times.reindex(table.index).to_numpy(dtype=float)
    e = result.events.reindex(table.index).to_numpy(dtype=float)
    for g in range(n_groups):
        member = group == g
        fitter = KaplanMeierFitter().fit(t[member], e[member])
        inside = days <= t[member].max()
        band = fitter.confidence_interval_survival_function_
        at = band.index.searchsorted(days, side="right") - 1
        rows.append({
            "group": f"G{g + 1}",
            "n": int(member.sum()),
            "events": int(e[member].sum()),
            "predicted": float(table[key].to_numpy()[member].mean()),
            "observed": float(fitter.survival_function_at_times(days).iloc[0]) if inside else np.nan,
            "observed_lower": float(band.iloc[max(at, 0), 0]) if inside else np.nan,
            "observed_upper": float(band.iloc[max(at, 0), 1]) if inside else np.nan,
        })
    return pd.DataFrame(rows)


def calibration(result, horizon: float = 1.0, n_groups: int = 4, *, title: str | None = None, save=None,
                overwrite: bool = False) -> Figure:
    """Calibration at ``horizon`` years: Kaplan-Meier survival (95% bars) against the mean predicted
    survival per group of out-of-fold risk (:func:`calibration_table`), with the diagonal of perfect
    calibration. Returns the figure; ``save="calibration.png"`` also writes it."""
    frame = calibration_table(result, horizon, n_groups)
    shown = frame[np.isfinite(frame["observed"])]
    if shown.empty:
        raise InputError(f"calibration: no risk group is followed up to {horizon:g} years")
    figure = new_figure(4.8, 4.6)
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    below = shown["observed"] - shown["observed_lower"]
    above = shown["observed_upper"] - shown["observed"]
    ax.errorbar(shown["predicted"], shown["observed"], yerr=[below.clip(lower=0), above.clip(lower=0)], fmt="o",
                color=colormaps["tab10"](0), capsize=3)
    for row in shown.itertuples():
        ax.annotate(f"{row.group} (n={row.n})", (row.predicted, row.observed), textcoords="offset points",
                    xytext=(5, -10), fontsize="x-small")
    low = float(min(shown["predicted"].min(), shown["observed_lower"].min(), 1.0)) - 0.05
    ax.set_xlim(max(0.0, low), 1.02)
    ax.set_ylim(max(0.0, low), 1.02)
    ax.set_xlabel(f"Predicted survival at {horizon:g} years (out-of-fold)")
    ax.set_ylabel(f"Kaplan-Meier survival at {horizon:g} years")
    ax.set_title(title if title is not None else f"Calibration at {horizon:g} years, {n_groups} risk groups")
    return finish(figure, save, overwrite)
