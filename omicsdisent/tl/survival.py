"""Survival from embeddings: a penalised Cox model, held-out metrics, risk groups, Kaplan-Meier.

The endpoint is overall survival by default or any TCGA-CDR endpoint (``endpoint="PFI"`` reads
``obs["PFI_time"]``/``obs["PFI_event"]``). Per fold the metrics of :mod:`omicsdisent.tl.survival_metrics`
are computed on the held-out part: Harrell's C, Uno's C, the cumulative/dynamic AUC at horizons and
the integrated Brier score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.classify import _check_cv, _json_float, _json_value
from omicsdisent.tl.embeddings import embedding_matrix, numeric_obs_column, set_obs, short_name, uns_safe
from omicsdisent.tl.survival_metrics import (
    DEFAULT_HORIZONS,
    YEAR_DAYS,
    block_attribution,
    breslow_cumulative_hazard,
    check_horizons,
    cox_survival,
    held_out_metrics,
    horizon_key,
    metric_names,
)

GROUPINGS = ("median", "clusters")
HAZARD_COLUMNS = ("coef", "se", "hr", "hr_lower_95", "hr_upper_95", "z", "p")
KM_COLUMNS = ("group", "time", "survival", "ci_lower_95", "ci_upper_95", "at_risk")


@dataclass
class SurvivalResult:
    """What :func:`survival` found.

    ``c_index``: ``{"mean", "sd"}`` of Harrell's C over the folds (out-of-fold risk; sd with ddof=1);
    ``c_index_oof``: C of all out-of-fold risks pooled. ``per_fold``: DataFrame (``fold``, ``n_train``,
    ``n_test``, ``n_events_test``, ``c_index``). ``hazard_ratios``: DataFrame indexed by dimension
    (``z_0``, ``w_rna_3``, ...) with columns ``coef`` (log hazard per sd of the dimension), ``se``,
    ``hr`` = exp(coef), ``hr_lower_95``, ``hr_upper_95``, ``z`` and ``p`` (Wald), from a fit on all
    samples. ``risk``: out-of-fold log partial hazard per kept sample; ``risk_groups``: categorical
    group per kept sample (``low``/``high`` for a median split, ``C1``..``Ck`` by increasing mean
    risk for clusters); ``events``: the event (1/0) per kept sample. ``km``: tidy Kaplan-Meier table
    with columns ``group``, ``time`` (days), ``survival``, ``ci_lower_95``, ``ci_upper_95``,
    ``at_risk``. ``logrank_p``/``logrank_statistic``: the multivariate log-rank test between the groups. ``n_dropped``: counts of samples dropped for
    ``missing_time``, ``negative_time``, ``missing_event`` and ``missing_embedding`` (first reason wins).

    ``endpoint``: the TCGA-CDR endpoint (``OS``, ``PFI``, ``DSS``, ``DFI``) or None where the columns
    were named directly. ``metrics``: ``{name: {"mean", "sd"}}`` over the folds for ``c_index``
    (Harrell's), ``uno_c``, ``auc_<h>y`` per horizon and ``ibs``, each computed on the fold's test
    part (``per_fold`` has one column each; NaN where a fold cannot compute it). ``skipped``: metric ->
    why it is NaN in some fold (e.g. a horizon beyond follow-up). ``horizons``: years.
    ``survival_at``: out-of-fold predicted survival probability per kept sample (rows) at each
    horizon (columns ``auc_1y``... named as the metrics, values S(h | x) of the fold's Cox model with
    its training part's Breslow baseline). ``times``: the time (days) per kept sample. ``blocks``:
    which block of ``rep`` (``z``, ``w_rna``, ...) drives the risk of the fit on all samples, indexed by
    block: ``sd`` of the block's part of the linear predictor over the samples, ``hr_per_sd`` =
    exp(sd) and ``share`` of the parts' summed variance (the linear predictor splits exactly by block;
    this split is also the integrated-gradients attribution from the mean sample).
    """

    time: str
    event: str
    rep: list[str]
    n_samples: int
    n_events: int
    n_dropped: dict[str, int]
    c_index: dict[str, float]
    c_index_oof: float
    per_fold: pd.DataFrame
    hazard_ratios: pd.DataFrame
    risk: pd.Series
    risk_groups: pd.Series
    events: pd.Series
    km: pd.DataFrame
    logrank_p: float
    logrank_statistic: float
    groups: str
    n_clusters: int
    cv: int
    seed: int
    penalizer: float
    l1_ratio: float
    key_added: str | None = None
    endpoint: str | None = None
    metrics: dict[str, dict[str, float]] | None = None
    skipped: dict[str, str] | None = None
    horizons: tuple[float, ...] = DEFAULT_HORIZONS
    survival_at: pd.DataFrame | None = None
    times: pd.Series | None = None
    blocks: pd.DataFrame | None = None

    @property
    def group_sizes(self) -> dict[str, int]:
        """Samples per risk group, in group order."""
        return {str(g): int(n) for g, n in self.risk_groups.value_counts(sort=False).items()}

    def to_dict(self) -> dict:
        """Everything but the per-sample risks and the Kaplan-Meier curves, as plain JSON-able types."""
        hr = self.hazard_ratios.reset_index().rename(columns={"index": "dimension"})
        return {
            "endpoint": self.endpoint,
            "time": self.time,
            "event": self.event,
            "rep": list(self.rep),
            "model": "penalised Cox (lifelines CoxPHFitter), embedding standardised within each fold",
            "penalizer": float(self.penalizer),
            "l1_ratio": float(self.l1_ratio),
            "cv": int(self.cv),
            "seed": int(self.seed),
            "n_samples": int(self.n_samples),
            "n_events": int(self.n_events),
            "n_dropped": {k: int(v) for k, v in self.n_dropped.items()},
            "c_index": {k: _json_float(v) for k, v in self.c_index.items()},
            "c_index_oof": _json_float(self.c_index_oof),
            "horizons_years": [float(h) for h in self.horizons],
            "metrics": {k: {s: _json_float(v) for s, v in d.items()} for k, d in (self.metrics or {}).items()},
            "metrics_skipped": dict(self.skipped or {}),
            "per_fold": [{k: _json_value(v) for k, v in row.items()} for row in self.per_fold.to_dict("records")],
            "hazard_ratios": [{k: _json_value(v) for k, v in row.items()} for row in hr.to_dict("records")],
            "blocks": [] if self.blocks is None else [
                {"block": b, **{k: _json_float(v) for k, v in row.items()}} for b, row in self.blocks.iterrows()],
            "groups": self.groups,
            "n_clusters": int(self.n_clusters) if self.groups == "clusters" else None,
            "group_sizes": self.group_sizes,
            "group_events": self.group_events,
            "logrank_p": _json_float(self.logrank_p),
            "logrank_statistic": _json_float(self.logrank_statistic),
        }

    @property
    def group_events(self) -> dict[str, int]:
        """Deaths per risk group, in group order."""
        frame = pd.DataFrame({"group": self.risk_groups, "event": self.events})
        return {str(g): int(n) for g, n in frame.groupby("group", observed=False, sort=False)["event"].sum().items()}

    def format(self) -> str:
        """A readable summary: C-index (mean ± sd over folds), hazard ratios, groups and the log-rank p."""
        dropped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.n_dropped.items() if v) or "none"
        folds = ", ".join(f"{c:.3f}" for c in self.per_fold["c_index"])
        lines = [
            f"survival ({self.time!r}, {self.event!r}) from {' + '.join(self.rep)}: {self.n_samples} samples, "
            f"{self.n_events} events; dropped: {dropped}",
            f"  penalised Cox (penalizer {self.penalizer:g}, l1_ratio {self.l1_ratio:g}), "
            f"{self.cv}-fold CV (seed {self.seed})",
            f"  C-index {self.c_index['mean']:.3f} ± {self.c_index['sd']:.3f} (folds: {folds}); "
            f"pooled out-of-fold {self.c_index_oof:.3f}",
        ]
        for name, value in (self.metrics or {}).items():
            if name == "c_index":
                continue
            note = f" ({self.skipped[name]})" if self.skipped and name in self.skipped else ""
            lines.append(f"  {_metric_label(name)} {value['mean']:.3f} ± {value['sd']:.3f}{note}")
        if self.blocks is not None and len(self.blocks) > 1:
            parts = ", ".join(f"{b} sd {r['sd']:.3g} (HR per sd {r['hr_per_sd']:.3g}, {r['share']:.0%})"
                              for b, r in self.blocks.iterrows())
            lines.append(f"  risk by block: {parts}")
        lines.append("hazard ratios per sd (fit on all samples):")
        table = self.hazard_ratios[["hr", "hr_lower_95", "hr_upper_95", "p"]].copy()
        table.columns = ["HR", "lower 95%", "upper 95%", "p"]
        text = table.to_string(float_format=lambda v: f"{v:.3g}")
        lines += ["  " + line for line in text.splitlines()]
        events = self.group_events
        sizes = ", ".join(f"{g}: {n} ({events.get(g, 0)} events)" for g, n in self.group_sizes.items())
        how = "median split of out-of-fold risk" if self.groups == "median" else f"k-means, {self.n_clusters} clusters"
        lines.append(f"risk groups ({how}): {sizes}")
        lines.append(f"  log-rank p = {self.logrank_p:.3g} (statistic {self.logrank_statistic:.3g})")
        return "\n".join(lines)


def _metric_label(name: str) -> str:
    if name.startswith("auc_"):
        return f"AUC at {name.removeprefix('auc_')}"
    return {"uno_c": "Uno's C", "ibs": "integrated Brier score"}.get(name, name)


def _check_number(value, option: str, low: float, high: float | None = None, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = f" and <= {high}" if high is not None else ""
        raise InputError(f"{option}={value!r}: expected a number {bound}{upper}")
    return float(value)


def survival(
    data: md.MuData | ad.AnnData,
    time: str = "OS_time",
    event: str = "OS_event",
    rep: str | Sequence[str] = "X_shared",
    cv: int = 5,
    penalizer: float = 0.1,
    l1_ratio: float = 0.0,
    groups: str = "median",
    n_clusters: int = 2,
    seed: int = 0,
    key_added: str | None = "survival",
    endpoint: str | None = None,
    horizons: Sequence[float] = DEFAULT_HORIZONS,
) -> SurvivalResult:
    """Relate overall survival to an embedding with a penalised Cox model.

    Parameters
    ----------
    data
        MuData or AnnData with embeddings in ``obsm`` and survival in ``obs``.
    time, event
        ``obs`` columns: time in days (numbers) and the event (1 death, 0 censored; NaN unknown).
    endpoint
        A TCGA-CDR endpoint, ``"OS"``, ``"PFI"``, ``"DSS"`` or ``"DFI"``: reads ``obs[f"{endpoint}_time"]``
        and ``obs[f"{endpoint}_event"]`` (what :func:`omicsdisent.io.read_clinical` writes from the
        ``PFI``/``PFI.time`` columns) in place of ``time``/``event``, which must then keep their defaults.
    horizons
        Years at which the cumulative/dynamic AUC is computed (default 1, 3, 5); a horizon past the
        follow-up of a fold's test part is skipped there, with the reason in ``skipped``.
    rep
        ``"X_shared"``, ``"X_private_<m>"``, ``"both"`` or a list of obsm keys (see ``classify``).
    cv
        Folds of the cross-validated C-index, stratified by event and shuffled with ``seed``.
    penalizer, l1_ratio
        lifelines ``CoxPHFitter(penalizer=..., l1_ratio=...)``: elastic-net penalty on the
        coefficients of the standardised dimensions (l1_ratio 0 = ridge).
    groups
        ``"median"``: ``high``/``low`` by the median of the out-of-fold risk; ``"clusters"``: k-means
        (``n_clusters``, seeded) on the standardised embedding, named ``C1``.. by increasing mean risk.
    key_added
        Where results go: ``obs[f"{key_added}_risk"]`` (out-of-fold log partial hazard),
        ``obs[f"{key_added}_risk_group"]`` (categorical; NaN for dropped samples) and
        ``uns[key_added]`` (summary, hazard-ratio table, Kaplan-Meier table). ``None`` writes nothing.

    Samples with a missing or negative time, a missing event or a NaN embedding row are dropped and
    counted. Within each fold the embedding is standardised on the training part, a Cox model is fit
    there and the test part's risk (log partial hazard) is scored by Harrell's C. Hazard ratios come
    from one fit on all kept samples (per sd of each dimension; the CIs and p-values are lifelines'
    Wald statistics of the penalised fit, so they are approximate when the penalty is large).
    """
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import multivariate_logrank_test
    from lifelines.utils import concordance_index
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    cv = _check_cv(cv)
    horizons = check_horizons(horizons)
    if endpoint is not None:
        from omicsdisent.io.clinical import ENDPOINT_NAMES, endpoint_columns

        if (time, event) != ("OS_time", "OS_event"):
            raise InputError(f"endpoint={endpoint!r} names the survival columns; leave time and event unset")
        time, event = endpoint_columns(endpoint)
        endpoint = time.removesuffix("_time")
        if time not in data.obs.columns or event not in data.obs.columns:
            raise InputError(
                f"endpoint={endpoint!r}: obs has no {time!r}/{event!r} columns ({ENDPOINT_NAMES[endpoint]}); join a "
                f"clinical table with the TCGA-CDR columns {endpoint!r} and '{endpoint}.time'"
            )
    penalizer = _check_number(penalizer, "penalizer", 0.0)
    l1_ratio = _check_number(l1_ratio, "l1_ratio", 0.0, 1.0)
    if groups not in GROUPINGS:
        raise InputError(f"groups={groups!r}: expected one of {', '.join(GROUPINGS)}")
    integer = isinstance(n_clusters, (int, np.integer)) and not isinstance(n_clusters, bool)
    if groups == "clusters" and not (integer and n_clusters >= 2):
        raise InputError(f"n_clusters={n_clusters!r}: expected an integer >= 2")

    matrix, keys, names = embedding_matrix(data, rep)
    t = numeric_obs_column(data, time, "time", "survival times in days")
    e = numeric_obs_column(data, event, "event", "events as 1 (death) / 0 (censored)")
    bad_event = np.isfinite(e) & ~np.isin(e, (0.0, 1.0))
    if bad_event.any():
        raise InputError(
            f"event: obs column {event!r} holds {float(e[bad_event][0])!r}; expected 1 (death), 0 (censored) or NaN"
        )
    reasons = {
        "missing_time": ~np.isfinite(t),
        "negative_time": np.isfinite(t) & (t < 0),
        "missing_event": ~np.isfinite(e),
        "missing_embedding": np.isnan(matrix).any(axis=1),
    }
    dropped_so_far = np.zeros(data.n_obs, dtype=bool)
    n_dropped = {}
    for reason, mask in reasons.items():
        n_dropped[reason] = int((mask & ~dropped_so_far).sum())
        dropped_so_far |= mask
    keep = ~dropped_so_far
    X, t, e = matrix[keep], t[keep], e[keep]
    n_events = int(e.sum())
    if n_events < cv or int((e == 0).sum()) < cv:
        raise InputError(
            f"survival: {n_events} events and {int((e == 0).sum())} censored among {keep.sum()} usable samples; "
            f"each of the cv={cv} folds needs both (lower cv or check {time!r}/{event!r})"
        )

    def fit(x: np.ndarray, times: np.ndarray, events: np.ndarray):
        frame = pd.DataFrame(x, columns=names).assign(_time=times, _event=events)
        cph = CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph.fit(frame, duration_col="_time", event_col="_event")
        except ConvergenceError as err:
            raise InputError(
                f"survival: the Cox model did not converge ({str(err).splitlines()[0]}); "
                "raise penalizer (--penalizer) or use fewer dimensions"
            ) from None
        return cph

    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    risk = np.zeros(len(t))
    survival_at = np.full((len(t), len(horizons)), np.nan)
    rows, skipped = [], {}
    for fold, (train, test) in enumerate(folds.split(X, e)):
        scaler = StandardScaler().fit(X[train])
        cph = fit(scaler.transform(X[train]), t[train], e[train])
        train_risk = np.asarray(cph.predict_log_partial_hazard(pd.DataFrame(scaler.transform(X[train]), columns=names)),
                                dtype=float)
        fold_risk = cph.predict_log_partial_hazard(pd.DataFrame(scaler.transform(X[test]), columns=names))
        risk[test] = np.asarray(fold_risk, dtype=float)
        baseline = breslow_cumulative_hazard(t[train], e[train], train_risk)
        survival_at[test] = cox_survival(risk[test], np.array(horizons) * YEAR_DAYS, baseline)
        fold_metrics, fold_skipped = held_out_metrics(t[train], e[train], train_risk, t[test], e[test], risk[test],
                                                      horizons)
        for name, reason in fold_skipped.items():
            skipped.setdefault(name, f"fold {fold}: {reason}")
        rows.append({
            "fold": fold,
            "n_train": len(train),
            "n_test": len(test),
            "n_events_test": int(e[test].sum()),
            **{name: fold_metrics[name] for name in metric_names(horizons)},
        })
    per_fold = pd.DataFrame(rows)
    metrics = {}
    for name in metric_names(horizons):
        values = per_fold[name].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        metrics[name] = {
            "mean": float(finite.mean()) if len(finite) else float("nan"),
            "sd": float(finite.std(ddof=1)) if len(finite) > 1 else float("nan"),
            "folds": float(len(finite)),
        }

    standardised = StandardScaler().fit_transform(X)
    full = fit(standardised, t, e)
    summary = full.summary
    hazard_ratios = pd.DataFrame(
        {
            "coef": summary["coef"],
            "se": summary["se(coef)"],
            "hr": summary["exp(coef)"],
            "hr_lower_95": summary["exp(coef) lower 95%"],
            "hr_upper_95": summary["exp(coef) upper 95%"],
            "z": summary["z"],
            "p": summary["p"],
        }
    ).reindex(names)
    hazard_ratios.index.name = "dimension"
    coefficients = hazard_ratios["coef"].to_numpy(dtype=float)
    starts = np.cumsum([0] + [int(np.asarray(data.obsm[k]).reshape(data.n_obs, -1).shape[1]) for k in keys])
    blocks = block_attribution(pd.DataFrame({
        short_name(k): standardised[:, a:b] @ coefficients[a:b] for k, a, b in zip(keys, starts[:-1], starts[1:])}))

    if groups == "median":
        labels = np.where(risk > np.median(risk), "high", "low")
        order = ["low", "high"]
    else:
        from sklearn.cluster import KMeans

        if n_clusters > len(t):
            raise InputError(f"n_clusters={n_clusters}: more clusters than the {len(t)} usable samples")
        clusters = KMeans(n_clusters=n_clusters, random_state=seed, n_init=10).fit_predict(standardised)
        by_risk = sorted(range(n_clusters), key=lambda k: risk[clusters == k].mean() if (clusters == k).any() else np.inf)
        names_of = {k: f"C{i + 1}" for i, k in enumerate(by_risk)}
        labels = np.array([names_of[k] for k in clusters])
        order = [f"C{i + 1}" for i in range(n_clusters)]

    km_parts = []
    for group in order:
        member = labels == group
        if not member.any():
            continue
        kmf = KaplanMeierFitter().fit(t[member], e[member], label=group)
        ci = kmf.confidence_interval_survival_function_
        km_parts.append(pd.DataFrame({
            "group": group,
            "time": kmf.survival_function_.index.to_numpy(dtype=float),
            "survival": kmf.survival_function_[group].to_numpy(dtype=float),
            "ci_lower_95": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_upper_95": ci.iloc[:, 1].to_numpy(dtype=float),
            "at_risk": kmf.event_table["at_risk"].reindex(kmf.survival_function_.index).to_numpy(dtype=int),
        }))
    km = pd.concat(km_parts, ignore_index=True)
    km["group"] = pd.Categorical(km["group"], categories=order)
    if len(set(labels)) > 1:
        test = multivariate_logrank_test(t, labels, e)
        logrank_p, logrank_statistic = float(test.p_value), float(test.test_statistic)
    else:
        logrank_p = logrank_statistic = float("nan")

    kept_names = data.obs_names[keep]
    result = SurvivalResult(
        time=time,
        event=event,
        rep=keys,
        n_samples=int(keep.sum()),
        n_events=n_events,
        n_dropped=n_dropped,
        c_index={"mean": float(per_fold["c_index"].mean()), "sd": float(per_fold["c_index"].std(ddof=1))},
        c_index_oof=float(concordance_index(t, -risk, e)),
        per_fold=per_fold,
        hazard_ratios=hazard_ratios,
        risk=pd.Series(risk, index=kept_names, name="risk"),
        risk_groups=pd.Series(pd.Categorical(labels, categories=order), index=kept_names, name="risk_group"),
        events=pd.Series(e.astype(int), index=kept_names, name="event"),
        km=km,
        logrank_p=logrank_p,
        logrank_statistic=logrank_statistic,
        groups=groups,
        n_clusters=int(n_clusters) if groups == "clusters" else 2,
        cv=cv,
        seed=seed,
        penalizer=penalizer,
        l1_ratio=l1_ratio,
        key_added=key_added,
        endpoint=endpoint,
        metrics=metrics,
        skipped=skipped,
        horizons=horizons,
        times=pd.Series(t, index=kept_names, name="time"),
        blocks=blocks,
        survival_at=pd.DataFrame(survival_at, index=kept_names, columns=[horizon_key(h) for h in horizons]),
    )
    if key_added is not None:
        set_obs(data, f"{key_added}_risk", result.risk)
        set_obs(data, f"{key_added}_risk_group", result.risk_groups)
        data.uns[key_added] = uns_safe({
            **result.to_dict(),
            "per_fold": per_fold,
            "hazard_ratios": hazard_ratios,
            "blocks": blocks,
            "km": km.assign(group=km["group"].astype(str)),
        })
    return result
