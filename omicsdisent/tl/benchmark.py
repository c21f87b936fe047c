"""The pieces of a benchmark protocol on embeddings: splits, labels, probes, paired statistics, tables.

Used by ``workflows/tcga_benchmark.py``; each piece is small and tested on its own.

- :func:`stratified_splits`: seeded, stratified train/test splits; split ``i`` depends only on
  ``seed + i``, so the first 3 of 20 splits are the 3 splits of a 3-split run.
- :func:`one_year_mortality`: death before day 365 -> 1, alive with follow-up >= 365 days -> 0,
  everyone else NaN (excluded).
- :func:`classification_probe` / :func:`cox_probe`: a logistic regression or a penalised Cox model
  fitted on the training rows of one split and scored on its test rows. Their hyperparameters (the
  inverse penalty ``C`` or the ``penalizer``, and optionally how many leading columns to use) are
  chosen by an inner stratified cross-validation on the training rows alone; the test rows enter
  only the final score.
- :func:`paired_difference`, :func:`summarise`, :func:`paired_against`: mean ± sd over splits, and a
  method's mean difference from a reference method over the same splits with the Wilcoxon
  signed-rank p.
- :func:`markdown_table`, :func:`format_mean_sd`: plain markdown rendering.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.survival_metrics import DEFAULT_HORIZONS, held_out_metrics

ONE_YEAR_DAYS = 365.0
RESULT_KEYS = ("cohort", "task", "metric", "method", "embedding")


# --------------------------------------------------------------------------------------------------
# Splits and labels
@dataclass(frozen=True)
class Split:
    """One train/test split: ``train`` and ``test`` are sorted row positions (int arrays) into the
    array of strata the split was drawn from; ``seed`` is the random state that drew it."""

    index: int
    seed: int
    train: np.ndarray
    test: np.ndarray


def stratified_splits(strata: Sequence, n_splits: int = 20, test_fraction: float = 0.25,
                      seed: int = 0) -> list[Split]:
    """``n_splits`` stratified train/test splits of ``len(strata)`` rows.

    Split ``i`` is drawn by scikit-learn's ``StratifiedShuffleSplit`` with ``random_state=seed + i``,
    so it does not depend on how many splits are asked for. ``strata`` holds one label per row (any
    values; compared as strings); each needs at least 2 rows, else :class:`InputError`.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    if not isinstance(n_splits, int) or isinstance(n_splits, bool) or n_splits < 1:
        raise InputError(f"n_splits={n_splits!r}: expected an integer >= 1")
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction={test_fraction!r}: expected a number in (0, 1)")
    labels = np.asarray([str(s) for s in strata])
    values, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        rare = {str(v): int(c) for v, c in zip(values, counts) if c < 2}
        raise InputError(f"stratified_splits: strata {rare} have fewer than 2 rows; each needs 2")
    splits = []
    for i in range(n_splits):
        shuffle = StratifiedShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed + i)
        train, test = next(shuffle.split(np.zeros(len(labels)), labels))
        splits.append(Split(index=i, seed=seed + i, train=np.sort(train), test=np.sort(test)))
    return splits


def one_year_mortality(time: Sequence[float], event: Sequence[float], horizon: float = ONE_YEAR_DAYS) -> np.ndarray:
    """The 1-year mortality label per patient: float array of 1.0, 0.0 or NaN (excluded).

    ``time`` in days, ``event`` 1 (death) / 0 (alive at last follow-up). A death before ``horizon``
    (``time < horizon``) is 1; a patient alive with follow-up of at least ``horizon`` days is 0;
    everyone else is NaN: alive with shorter follow-up, a death on or after day ``horizon``, and any
    missing or negative time or missing event.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    if time.shape != event.shape:
        raise InputError(f"one_year_mortality: time {time.shape} and event {event.shape} differ in shape")
    valid = np.isfinite(time) & np.isfinite(event) & (time >= 0)
    label = np.full(time.shape, np.nan)
    label[valid & (event == 1) & (time < horizon)] = 1.0
    label[valid & (event == 0) & (time >= horizon)] = 0.0
    return label


# --------------------------------------------------------------------------------------------------
# Probes
@dataclass
class ProbeResult:
    """A probe's test metrics, the hyperparameters the inner CV chose, and every candidate's inner score.

    ``metrics``: name -> value on the test rows. ``params``: the chosen ``n_dims`` (leading columns
    used) and ``C`` or ``penalizer``. ``inner_scores``: one entry per candidate, ``(n_dims, value)``
    -> mean score over the inner folds (higher is better; NaN where every fold failed).
    """

    metrics: dict[str, float]
    params: dict[str, float]
    inner_scores: dict[tuple, float] = field(default_factory=dict)


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``train`` and ``others`` centred and scaled by the train rows' mean and sd (a constant column stays 0)."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return [(a - mean) / sd for a in (train, *others)]


def _check_prefixes(prefixes: Sequence[int] | None, width: int) -> list[int]:
    if prefixes is None:
        return [width]
    chosen = sorted({int(k) for k in prefixes})
    if not chosen or chosen[0] < 1 or chosen[-1] > width:
        raise InputError(f"prefixes={list(prefixes)!r}: expected widths between 1 and {width}")
    return chosen


def _choose(candidates: list[tuple], fold_scores: np.ndarray) -> tuple[tuple, dict[tuple, float]]:
    """The candidate of highest mean inner score; ties go to the earliest (the simplest) candidate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a candidate whose every fold failed
        means = np.nanmean(fold_scores, axis=1)
    scores = {c: float(m) for c, m in zip(candidates, means)}
    if np.isnan(means).all():
        return candidates[0], scores
    return candidates[int(np.nanargmax(means))], scores


def inner_folds(strata: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``n_folds``-fold (train, validation) row positions within the training rows."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(strata)), strata))


def _logistic_path(x_train, y_train, x_eval, Cs, max_iter) -> list[np.ndarray]:
    """Class probabilities on ``x_eval`` for each C in ``Cs`` (ascending), warm-starting along the path."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=max_iter, warm_start=True)
    probabilities = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in Cs:
            model.set_params(C=C)
            model.fit(x_train, y_train)
            probabilities.append(model.predict_proba(x_eval))
    return probabilities


def classification_probe(x_train: np.ndarray, y_train: Sequence, x_test: np.ndarray, y_test: Sequence, *,
                         Cs: Sequence[float] = (0.01, 0.1, 1.0), prefixes: Sequence[int] | None = None,
                         n_folds: int = 3, seed: int = 0, max_iter: int = 1000) -> ProbeResult:
    """Logistic regression (lbfgs, L2; multinomial for more than 2 classes) from an embedding to a label.

    ``x_train`` [n_train, d] and ``x_test`` [n_test, d] are embeddings (no NaN); columns are
    standardised on the training rows. Candidates are every ``(n_dims, C)`` with ``n_dims`` from
    ``prefixes`` (use the first ``n_dims`` columns, e.g. leading principal components; default all
    ``d``) and ``C`` from ``Cs``; the one with the lowest mean log-loss over a stratified
    ``n_folds``-fold CV of the training rows is refitted on all of them. Log-loss, not accuracy,
    picks the candidate: it is smooth, and it still separates candidates when the positives are few.

    ``metrics``: ``accuracy``, ``macro_f1`` and ``auroc`` (binary: of the second class in sorted
    order; more classes: one-vs-rest macro) on the test rows, plus ``n_train``/``n_test`` and
    ``baseline_accuracy`` (always predicting the training majority class). ``auroc`` is NaN when the
    test rows hold a single class.
    """
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    x_train = np.asarray(x_train, dtype=float)
    x_test = np.asarray(x_test, dtype=float)
    y_train = np.asarray([str(v) for v in y_train])
    y_test = np.asarray([str(v) for v in y_test])
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise InputError(f"classification_probe: the training rows hold one class ({classes.tolist()})")
    prefixes = _check_prefixes(prefixes, x_train.shape[1])
    Cs = sorted(float(c) for c in Cs)
    candidates = [(k, C) for k in prefixes for C in Cs]
    folds = inner_folds(y_train, n_folds, seed)
    scores = np.full((len(candidates), len(folds)), np.nan)
    for f, (tr, va) in enumerate(folds):
        fold_classes = np.unique(y_train[tr])
        for i, k in enumerate(prefixes):
            a, b = _standardise(x_train[tr, :k], x_train[va, :k])
            for j, proba in enumerate(_logistic_path(a, y_train[tr], b, Cs, max_iter)):
                scores[i * len(Cs) + j, f] = -log_loss(y_train[va], proba, labels=fold_classes)
    (k, C), inner = _choose(candidates, scores)

    a, b = _standardise(x_train[:, :k], x_test[:, :k])
    proba = _logistic_path(a, y_train, b, [C], max_iter)[0]
    predicted = classes[proba.argmax(axis=1)]
    present = np.unique(np.concatenate([y_train, y_test]))
    if len(np.unique(y_test)) < 2:
        auroc = math.nan
    elif len(classes) == 2:
        auroc = roc_auc_score(y_test == classes[1], proba[:, 1])
    else:
        known = np.isin(y_test, classes)
        auroc = roc_auc_score(y_test[known], proba[known], multi_class="ovr", average="macro", labels=classes)
    majority = classes[np.argmax([(y_train == c).sum() for c in classes])]
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_f1": float(f1_score(y_test, predicted, labels=present, average="macro", zero_division=0)),
        "auroc": float(auroc),
        "baseline_accuracy": float((y_test == majority).mean()),
        "n_train": float(len(y_train)),
        "n_test": float(len(y_test)),
    }
    return ProbeResult(metrics=metrics, params={"n_dims": k, "C": C}, inner_scores=inner)


def ridge_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, penalizer: float,
              initial: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Coefficients [d] of a Cox model with a ridge penalty, by Newton-Raphson.

    Maximises the Breslow log partial likelihood minus ``n * penalizer / 2 * ||beta||^2``, the
    scaling of lifelines' ``CoxPHFitter(penalizer=..., l1_ratio=0)``; without tied event times the
    Breslow and Efron likelihoods agree, and so do the two fits. A vectorised fit costs O(n d^2) per
    step, milliseconds for a few hundred patients, against lifelines' tenths of a second (its Efron
    terms loop over the rows in Python), which matters for thousands of probe fits. ``x`` [n, d],
    ``time`` [n] (days), ``event`` [n] (1/0). Raises :class:`numpy.linalg.LinAlgError` or
    ``FloatingPointError`` where the fit breaks down.
    """
    x = np.asarray(x, dtype=float)
    n, d = x.shape
    order = np.argsort(-np.asarray(time, dtype=float), kind="stable")
    x, time, event = x[order], np.asarray(time, dtype=float)[order], np.asarray(event, dtype=float)[order]
    # Rows sorted by decreasing time: the risk set of row i is rows 0..last[i] (every time >= its own).
    last = np.searchsorted(-time, -time, side="right") - 1
    dead = event == 1
    penalty = n * penalizer

    def objective(beta: np.ndarray, derivatives: bool):
        eta = x @ beta
        shift = eta.max()
        w = np.exp(eta - shift)
        s0 = np.cumsum(w)[last]
        loglik = float((eta[dead] - shift - np.log(s0[dead])).sum()) - 0.5 * penalty * float(beta @ beta)
        if not derivatives:
            return loglik, None, None
        s1 = np.cumsum(w[:, None] * x, axis=0)[last]
        mean = s1[dead] / s0[dead, None]  # risk-weighted mean of x at each death
        gradient = (x[dead] - mean).sum(axis=0) - penalty * beta
        # sum over deaths i of 1/s0_i, for every row j in i's risk set (j <= last[i])
        at_last = np.zeros(n)
        np.add.at(at_last, last[dead], 1.0 / s0[dead])
        weight = w * np.cumsum(at_last[::-1])[::-1]
        information = (x * weight[:, None]).T @ x - mean.T @ mean + penalty * np.eye(d)
        return loglik, gradient, information

    beta = np.zeros(d) if initial is None else np.asarray(initial, dtype=float).copy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loglik, gradient, information = objective(beta, True)
        for _ in range(max_iter):
            step = np.linalg.solve(information, gradient)
            scale = 1.0
            while True:  # halve the step until the penalised likelihood does not fall
                candidate = beta + scale * step
                new_loglik = objective(candidate, False)[0]
                if new_loglik >= loglik - 1e-12 or scale < 1e-6:
                    break
                scale /= 2
            beta = candidate
            converged = abs(new_loglik - loglik) <= tol * (1 + abs(loglik)) and np.abs(scale * step).max() < 1e-6
            loglik, gradient, information = objective(beta, True)
            if converged:
                break
    return beta


def _cox_path(x_train, time_train, event_train, x_evals, penalizers) -> list[list[np.ndarray]]:
    """Linear predictors (log partial hazards) on each of ``x_evals`` for each penalizer (descending),
    each fit started from the previous one's coefficients; a fit that breaks down gives NaN."""
    start, out = None, []
    for penalizer in penalizers:
        try:
            beta = ridge_cox(x_train, time_train, event_train, penalizer, initial=start)
            start = beta
            out.append([x @ beta for x in x_evals])
        except (np.linalg.LinAlgError, FloatingPointError):
            out.append([np.full(len(x), np.nan) for x in x_evals])
    return out


def _c_index(time: np.ndarray, risk: np.ndarray, event: np.ndarray) -> float:
    from lifelines.utils import concordance_index

    if not np.isfinite(risk).all() or event.sum() == 0:
        return math.nan
    return float(concordance_index(time, -risk, event))


def cox_probe(x_train: np.ndarray, time_train: Sequence[float], event_train: Sequence[float],
              x_test: np.ndarray, time_test: Sequence[float], event_test: Sequence[float], *,
              penalizers: Sequence[float] = (0.01, 0.1, 1.0), prefixes: Sequence[int] | None = None,
              n_folds: int = 3, seed: int = 0, horizons: Sequence[float] = DEFAULT_HORIZONS) -> ProbeResult:
    """Cox model with a ridge penalty (:func:`ridge_cox`) from an embedding to overall survival.

    Times in days, events 1/0. Columns are standardised on the training rows. Candidates are every
    ``(n_dims, penalizer)``; the one with the highest mean Harrell's C over an ``n_folds``-fold CV of
    the training rows, stratified by the event, is refitted on all of them (ties: the stronger
    penalty, then fewer dims). ``metrics``: ``c_index`` on the test rows, from
    ``concordance_index(time, -risk, event)`` with risk the linear predictor, Uno's C, the AUC at
    each of ``horizons`` (years) and the integrated Brier score of the Breslow survival curves
    (:func:`omicsdisent.tl.survival_metrics.held_out_metrics`, censoring weights from the training
    rows), plus ``n_train``, ``n_test`` and ``n_events_test``. NaN where the final fit fails or a
    metric cannot be computed on these test rows (``skipped`` in ``params`` says why).
    """
    x_train = np.asarray(x_train, dtype=float)
    x_test = np.asarray(x_test, dtype=float)
    t_train, e_train = np.asarray(time_train, dtype=float), np.asarray(event_train, dtype=float)
    t_test, e_test = np.asarray(time_test, dtype=float), np.asarray(event_test, dtype=float)
    if e_train.sum() < n_folds:
        raise InputError(f"cox_probe: {int(e_train.sum())} events among the training rows; the inner CV needs {n_folds}")
    prefixes = _check_prefixes(prefixes, x_train.shape[1])
    penalizers = sorted((float(p) for p in penalizers), reverse=True)
    candidates = [(k, p) for k in prefixes for p in penalizers]
    folds = inner_folds(e_train, n_folds, seed)
    scores = np.full((len(candidates), len(folds)), np.nan)
    for f, (tr, va) in enumerate(folds):
        for i, k in enumerate(prefixes):
            a, b = _standardise(x_train[tr, :k], x_train[va, :k])
            for j, (risk,) in enumerate(_cox_path(a, t_train[tr], e_train[tr], [b], penalizers)):
                scores[i * len(penalizers) + j, f] = _c_index(t_train[va], risk, e_train[va])
    (k, penalizer), inner = _choose(candidates, scores)

    a, b = _standardise(x_train[:, :k], x_test[:, :k])
    risk_train, risk = _cox_path(a, t_train, e_train, [a, b], [penalizer])[0]
    metrics, skipped = survival_metrics(t_train, e_train, risk_train, t_test, e_test, risk, horizons)
    return ProbeResult(metrics=metrics, params={"n_dims": k, "penalizer": penalizer, "skipped": skipped},
                       inner_scores=inner)


def survival_metrics(time_train, event_train, risk_train, time_test, event_test, risk_test,
                     horizons: Sequence[float] = DEFAULT_HORIZONS) -> tuple[dict[str, float], dict[str, str]]:
    """The held-out metrics of a risk score (see :func:`omicsdisent.tl.survival_metrics.held_out_metrics`)
    with ``n_train``, ``n_test`` and ``n_events_test``; returns ``(metrics, skipped)``."""
    metrics, skipped = held_out_metrics(time_train, event_train, risk_train, time_test, event_test, risk_test,
                                        horizons)
    metrics.update(n_train=float(len(time_train)), n_test=float(len(time_test)),
                   n_events_test=float(np.asarray(event_test, dtype=float).sum()))
    return metrics, skipped


# --------------------------------------------------------------------------------------------------
# Statistics over splits
def paired_difference(values: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """``values - reference`` over the same splits: ``n`` pairs (NaN pairs dropped), ``mean_diff``,
    ``sd_diff`` (ddof=1) and the two-sided Wilcoxon signed-rank ``p`` (1.0 when every difference is
    0; NaN with fewer than 2 pairs)."""
    from scipy.stats import wilcoxon

    values = np.asarray(values, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if values.shape != reference.shape:
        raise InputError(f"paired_difference: {values.shape} values against {reference.shape} reference values")
    diff = values - reference
    diff = diff[np.isfinite(diff)]
    n = len(diff)
    out = {"n": float(n), "mean_diff": float(diff.mean()) if n else math.nan,
           "sd_diff": float(diff.std(ddof=1)) if n > 1 else math.nan, "p": math.nan}
    if n < 2:
        return out
    if np.all(diff == 0):
        out["p"] = 1.0
        return out
    out["p"] = float(wilcoxon(diff, alternative="two-sided").pvalue)
    return out


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd (ddof=1) and number of splits of ``value`` per cohort, task, metric, method and
    embedding (NaN values skipped), in the order they first appear."""
    _check_columns(results, (*RESULT_KEYS, "split", "value"), "summarise")
    grouped = results.groupby(list(RESULT_KEYS), sort=False)["value"]
    summary = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    return summary


def paired_against(results: pd.DataFrame, reference: tuple[str, str]) -> pd.DataFrame:
    """Each (method, embedding) against ``reference`` = (method, embedding) on the same cohort, task,
    metric and splits: columns ``n``, ``mean_diff``, ``sd_diff``, ``p`` (see :func:`paired_difference`).
    Rows where the cohort/task has no reference result are left out."""
    _check_columns(results, (*RESULT_KEYS, "split", "value"), "paired_against")
    methods = list(dict.fromkeys(zip(results["method"], results["embedding"])))
    rows = []
    for (cohort, task, metric), block in results.groupby(["cohort", "task", "metric"], sort=False):
        by_split = block.set_index(["split", "method", "embedding"])["value"].unstack(["method", "embedding"])
        if reference not in by_split.columns:
            continue
        ref = by_split[reference].to_numpy()
        for method, embedding in methods:
            if (method, embedding) == reference or (method, embedding) not in by_split.columns:
                continue
            stats = paired_difference(by_split[(method, embedding)].to_numpy(), ref)
            rows.append({"cohort": cohort, "task": task, "metric": metric, "method": method,
                         "embedding": embedding, **stats})
    return pd.DataFrame(rows, columns=[*RESULT_KEYS, "n", "mean_diff", "sd_diff", "p"])


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{where}: the results table lacks columns {missing}")


# --------------------------------------------------------------------------------------------------
# Markdown
def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """``"0.812 ± 0.021"``; ``"n/a"`` for a NaN mean; the sd left out when NaN (a single split)."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    if sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_p(p: float) -> str:
    """A p-value in two significant digits (``"0.0012"``, ``"3.2e-06"``); ``"n/a"`` for NaN."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A GitHub markdown table of ``rows`` (dicts), one column per name in ``columns`` (missing cells empty)."""
    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def results_table(summary: pd.DataFrame, metrics: Sequence[str], extra: Callable[[str, str], dict] | None = None,
                  digits: int = 3) -> str:
    """One markdown table for one cohort and task: a row per (method, embedding), a column per metric
    (mean ± sd over splits), and the columns ``extra(method, embedding)`` returns (e.g. fit time)."""
    rows = []
    for (method, embedding), block in summary.groupby(["method", "embedding"], sort=False):
        by_metric = block.set_index("metric")
        row = {"method": method, "embedding": embedding}
        for metric in metrics:
            if metric in by_metric.index:
                row[metric] = format_mean_sd(by_metric.at[metric, "mean"], by_metric.at[metric, "sd"], digits)
                row["splits"] = int(by_metric.at[metric, "n"])
        if extra is not None:
            row.update(extra(method, embedding))
        rows.append(row)
    extra_columns = list(dict.fromkeys(itertools.chain.from_iterable(
        [c for c in row if c not in ("method", "embedding", "splits", *metrics)] for row in rows)))
    return markdown_table(rows, ["method", "embedding", *metrics, "splits", *extra_columns])


def paired_table(paired: pd.DataFrame, digits: int = 3) -> str:
    """One markdown table of :func:`paired_against` rows for one cohort: a row per (method,
    embedding), a column per task/metric holding ``mean difference (p)``."""
    keys = list(dict.fromkeys(zip(paired["task"], paired["metric"])))
    rows = []
    for (method, embedding), block in paired.groupby(["method", "embedding"], sort=False):
        row = {"method": method, "embedding": embedding}
        for task, metric, diff, p in block[["task", "metric", "mean_diff", "p"]].itertuples(index=False):
            text = "n/a" if not np.isfinite(diff) else f"{diff:+.{digits}f} (p {format_p(p)})"
            row[f"{task} {metric}"] = text
        rows.append(row)
    return markdown_table(rows, ["method", "embedding", *[f"{t} {m}" for t, m in keys]])
