"""Cross-validated classification of a clinical label (e.g. PAM50) from embeddings."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.embeddings import embedding_matrix, missing_labels, obs_column, set_obs, uns_safe

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")


@dataclass
class ClassificationResult:
    """What :func:`classify` found.

    ``metrics``: ``{name: {"mean", "sd"}}`` over the folds for ``accuracy``, ``balanced_accuracy``,
    ``macro_f1`` and ``auroc`` (one-vs-rest, macro; binary: the usual AUROC); sd is the sample sd
    (ddof=1). ``baseline_accuracy``: accuracy of predicting each training fold's majority class, mean
    over folds. ``per_fold``: DataFrame (one row per fold: ``fold``, ``n_train``, ``n_test``, the four
    metrics and ``baseline_accuracy``). ``confusion``: DataFrame of counts summed over folds, true
    labels as index, predicted as columns, both in ``classes`` order. ``predictions``: out-of-fold
    predicted label per kept sample; ``probabilities``: out-of-fold class probabilities (kept samples
    x classes). ``n_dropped``: ``{"missing_label", "missing_embedding"}`` sample counts.
    """

    label: str
    rep: list[str]
    classes: list[str]
    class_counts: dict[str, int]
    metrics: dict[str, dict[str, float]]
    baseline_accuracy: float
    per_fold: pd.DataFrame
    confusion: pd.DataFrame
    predictions: pd.Series
    probabilities: pd.DataFrame
    n_samples: int
    n_dropped: dict[str, int]
    cv: int
    seed: int
    C: float
    key_added: str | None = None
    model: str = field(default="standardise + multinomial logistic regression (lbfgs)")

    def to_dict(self) -> dict:
        """Everything but the per-sample predictions, as plain JSON-able types."""
        return {
            "label": self.label,
            "rep": list(self.rep),
            "model": self.model,
            "C": float(self.C),
            "cv": int(self.cv),
            "seed": int(self.seed),
            "n_samples": int(self.n_samples),
            "n_dropped": {k: int(v) for k, v in self.n_dropped.items()},
            "classes": list(self.classes),
            "class_counts": {k: int(v) for k, v in self.class_counts.items()},
            "metrics": {k: {s: _json_float(v) for s, v in d.items()} for k, d in self.metrics.items()},
            "baseline_accuracy": _json_float(self.baseline_accuracy),
            "per_fold": [{k: _json_value(v) for k, v in row.items()} for row in self.per_fold.to_dict("records")],
            "confusion": {
                "labels": list(self.classes),
                "matrix": self.confusion.to_numpy().astype(int).tolist(),
                "rows": "true",
                "columns": "predicted",
            },
        }

    def format(self) -> str:
        """A readable summary: metrics (mean ± sd over folds), the baseline and the confusion matrix."""
        dropped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.n_dropped.items() if v) or "none"
        lines = [
            f"classify {self.label!r} from {' + '.join(self.rep)}: {self.n_samples} samples, "
            f"{len(self.classes)} classes, {self.cv}-fold CV (seed {self.seed}); dropped: {dropped}",
        ]
        for name in METRICS:
            m = self.metrics[name]
            lines.append(f"  {name:<18} {m['mean']:.3f} ± {m['sd']:.3f}")
        lines.append(f"  {'majority baseline':<18} {self.baseline_accuracy:.3f} (accuracy)")
        lines.append("confusion matrix (rows: true, columns: predicted; summed over folds):")
        lines += ["  " + line for line in self.confusion.to_string().splitlines()]
        return "\n".join(lines)


def _json_float(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _json_value(value):
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _json_float(value)
    return value


def _check_cv(cv) -> int:
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise InputError(f"cv={cv!r}: expected an integer number of folds >= 2")
    return int(cv)


def _labels(values: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(missing mask [n], labels as text [n], class order): categories keep their order, others sort."""
    missing = missing_labels(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        order = [str(c) for c in values.cat.categories]
    else:
        order = None
    text = values.astype(object).map(lambda v: str(v).strip() if v is not None else "").to_numpy(dtype=object)
    present = sorted(set(text[~missing]))
    classes = [c for c in order if c in present] if order is not None else present
    return missing, text, classes


def classify(
    data: md.MuData | ad.AnnData,
    label: str,
    rep: str | Sequence[str] = "X_shared",
    cv: int = 5,
    seed: int = 0,
    key_added: str | None = None,
    C: float = 1.0,
) -> ClassificationResult:
    """Predict ``obs[label]`` from an embedding by stratified cross-validated logistic regression.

    Parameters
    ----------
    data
        MuData or AnnData with embeddings in ``obsm`` and the label in ``obs``.
    label
        An ``obs`` column of class labels (text or categorical; e.g. ``"PAM50"``).
    rep
        ``"X_shared"``, ``"X_private_<m>"``, ``"both"`` (X_shared with every X_private_*) or a list of
        obsm keys, concatenated.
    cv
        Number of stratified folds (shuffled with ``seed``). A class with fewer than ``cv`` samples is
        an InputError: lower ``cv`` or drop the class (the folds would otherwise miss it).
    seed
        Fixes the folds and the solver: the same seed gives the same result.
    key_added
        Where results go (default ``f"classify_{label}"``): ``obs[f"{key_added}_prediction"]``
        (out-of-fold predicted class, NaN for dropped samples) and ``uns[key_added]`` (the summary).
    C
        Inverse L2 regularisation strength of the logistic regression (on standardised features).

    Each fold standardises the features on its training part (a scikit-learn pipeline), then fits a
    multinomial (softmax) logistic regression. Samples with a missing label or an embedding row with
    NaN are dropped and counted in ``n_dropped``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = _check_cv(cv)
    if not (isinstance(C, (int, float, np.number)) and not isinstance(C, bool) and np.isfinite(C) and C > 0):
        raise InputError(f"C={C!r}: expected a positive number (inverse regularisation strength)")
    matrix, keys, _ = embedding_matrix(data, rep)
    missing, text, classes = _labels(obs_column(data, label, "label"))
    no_embedding = np.isnan(matrix).any(axis=1)
    keep = ~missing & ~no_embedding
    n_dropped = {"missing_label": int(missing.sum()), "missing_embedding": int((~missing & no_embedding).sum())}
    X, y = matrix[keep], text[keep].astype(str)
    counts = {c: int((y == c).sum()) for c in classes}
    counts = {c: n for c, n in counts.items() if n > 0}
    classes = list(counts)
    if len(classes) < 2:
        raise InputError(
            f"label {label!r}: {len(classes)} class among the {keep.sum()} usable samples; expected at least 2"
        )
    small = {c: n for c, n in counts.items() if n < cv}
    if small:
        listing = ", ".join(f"{c!r} ({n})" for c, n in small.items())
        raise InputError(
            f"label {label!r}: class {listing} has fewer samples than cv={cv} folds; "
            "lower cv (--cv) or remove that class"
        )

    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    predictions = np.empty(len(y), dtype=object)
    probabilities = np.zeros((len(y), len(classes)))
    rows = []
    for fold, (train, test) in enumerate(folds.split(X, y)):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, random_state=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            pipeline.fit(X[train], y[train])
        fitted = list(pipeline.classes_)
        proba = np.zeros((len(test), len(classes)))
        proba[:, [classes.index(c) for c in fitted]] = pipeline.predict_proba(X[test])
        pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        predictions[test], probabilities[test] = pred, proba
        majority = pd.Series(y[train]).value_counts().index[0]
        rows.append({
            "fold": fold,
            "n_train": len(train),
            "n_test": len(test),
            "accuracy": accuracy_score(y[test], pred),
            "balanced_accuracy": balanced_accuracy_score(y[test], pred),
            "macro_f1": f1_score(y[test], pred, labels=classes, average="macro", zero_division=0),
            "auroc": _auroc(y[test], proba, classes, roc_auc_score),
            "baseline_accuracy": float(np.mean(y[test] == majority)),
        })
    per_fold = pd.DataFrame(rows)
    metrics = {name: {"mean": float(per_fold[name].mean()), "sd": float(per_fold[name].std(ddof=1))} for name in METRICS}
    confusion = pd.DataFrame(
        confusion_matrix(y, predictions.astype(str), labels=classes),
        index=pd.Index(classes, name="true"),
        columns=pd.Index(classes, name="predicted"),
    )
    kept_names = data.obs_names[keep]
    result = ClassificationResult(
        label=label,
        rep=keys,
        classes=classes,
        class_counts=counts,
        metrics=metrics,
        baseline_accuracy=float(per_fold["baseline_accuracy"].mean()),
        per_fold=per_fold,
        confusion=confusion,
        predictions=pd.Series(pd.Categorical(predictions, categories=classes), index=kept_names, name="prediction"),
        probabilities=pd.DataFrame(probabilities, index=kept_names, columns=classes),
        n_samples=int(keep.sum()),
        n_dropped=n_dropped,
        cv=cv,
        seed=seed,
        C=float(C),
    )
    key = key_added or f"classify_{label}"
    result.key_added = key
    set_obs(data, f"{key}_prediction", result.predictions)
    data.uns[key] = uns_safe({**result.to_dict(), "per_fold": per_fold, "confusion": confusion})
    return result


def _auroc(y_true: np.ndarray, proba: np.ndarray, classes: list[str], roc_auc_score) -> float:
    """One-vs-rest macro AUROC over the classes present in this fold (NaN with a single class)."""
    present = [i for i, c in enumerate(classes) if (y_true == c).any()]
    if len(present) < 2:
        return float("nan")
    if len(classes) == 2:
        return float(roc_auc_score(y_true == classes[1], proba[:, 1]))
    scores = [roc_auc_score(y_true == classes[i], proba[:, i]) for i in present]
    return float(np.mean(scores))
