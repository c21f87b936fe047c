"""Linear probes of disentanglement: how well z and each w_m predict shared and private labels."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.classify import _check_cv
from omicsdisent.tl.embeddings import PRIVATE_PREFIX, SHARED_KEY, missing_labels, uns_safe

# A numeric label with more distinct values than this is continuous (probed by ridge R²).
_MAX_CLASSES = 20


@dataclass
class ProbeResult:
    """What :func:`disentanglement_probes` found.

    ``table``: DataFrame, rows ``z`` and ``w_<modality>``, one column per label (private labels are
    named ``<modality>:<label>``); each cell is the cross-validated probe score: accuracy for a
    categorical label, R² for a continuous one (``kinds``). ``summary``: the averages
    ``z->shared`` (up is good), ``z->private`` (down), ``w->private`` (up; each w_m on its own
    modality's private labels) and ``w->shared`` (down), as in METHOD.md's PolyMNIST table; NaN where
    a kind of label was not given. ``n_samples``: usable samples per cell (same shape as ``table``).
    """

    table: pd.DataFrame
    kinds: dict[str, str]
    summary: dict[str, float]
    n_samples: pd.DataFrame
    shared_labels: list[str]
    private_labels: dict[str, list[str]]
    cv: int
    seed: int

    def to_dict(self) -> dict:
        def plain(v):
            return float(v) if np.isfinite(v) else None

        return {
            "table": {rep: {col: plain(v) for col, v in row.items()} for rep, row in self.table.iterrows()},
            "kinds": dict(self.kinds),
            "summary": {k: plain(v) for k, v in self.summary.items()},
            "n_samples": {rep: {c: int(v) for c, v in row.items()} for rep, row in self.n_samples.iterrows()},
            "shared_labels": list(self.shared_labels),
            "private_labels": {m: list(v) for m, v in self.private_labels.items()},
            "cv": int(self.cv),
            "seed": int(self.seed),
            "probe": "standardise + logistic regression (accuracy) or ridge regression (R²), stratified/plain K-fold",
        }

    def format(self) -> str:
        lines = ["linear probes (rows: representation, columns: label; accuracy or R²):"]
        lines += ["  " + line for line in self.table.to_string(float_format=lambda v: f"{v:.3f}").splitlines()]
        lines.append("  " + ", ".join(f"{k} {v:.3f}" for k, v in self.summary.items()))
        return "\n".join(lines)


def _label_values(data, name: str, modality: str | None) -> np.ndarray:
    """Label ``name`` for every sample of ``data`` (obs column or obsm key; [n] or [n, k]).

    Looked up in ``data.obs``, then ``data.obsm``, then (MuData, private labels) the modality's own
    ``obs``/``obsm``, aligned to ``data.obs_names`` with missing rows as NaN.
    """
    if name in data.obs.columns:
        return data.obs[name].to_numpy()
    if name in data.obsm:
        return np.asarray(data.obsm[name], dtype=float)
    places = ["obs", "obsm"]
    if modality is not None and isinstance(data, md.MuData) and modality in data.mod:
        sub = data.mod[modality]
        rows = sub.obs_names.get_indexer(data.obs_names)
        if name in sub.obs.columns or name in sub.obsm:
            raw = sub.obs[name].to_numpy() if name in sub.obs.columns else np.asarray(sub.obsm[name], dtype=float)
            if raw.ndim == 1:
                out = np.empty(data.n_obs, dtype=object if raw.dtype == object else float)
            else:
                out = np.empty((data.n_obs, raw.shape[1]), dtype=float)
            out[...] = np.nan if out.dtype != object else None
            out[rows >= 0] = raw[rows[rows >= 0]]
            return out
        places.append(f"mod[{modality!r}].obs/obsm")
    raise InputError(f"label {name!r}: not found in {', '.join(places)}; give an obs column or an obsm key")


def _is_continuous(values: np.ndarray) -> bool:
    if values.ndim == 2:
        return True
    series = pd.Series(values)
    if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object or pd.api.types.is_bool_dtype(series):
        return False
    finite = series.dropna()
    return bool(finite.nunique() > _MAX_CLASSES or not np.allclose(finite, np.round(finite)))


def _probe(X: np.ndarray, target: np.ndarray, continuous: bool, cv: int, seed: int) -> tuple[float, int]:
    """Cross-validated score of a linear probe and the number of samples it used."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if continuous:
        target = target.astype(float)
        ok = ~np.isnan(X).any(axis=1) & np.isfinite(target.reshape(len(target), -1)).all(axis=1)
        X, target = X[ok], target[ok]
        if len(target) < 2 * cv:
            return float("nan"), int(ok.sum())
        estimator = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        folds = KFold(n_splits=cv, shuffle=True, random_state=seed)
        scores = cross_val_score(estimator, X, target, cv=folds, scoring="r2")
        return float(np.mean(scores)), int(ok.sum())
    missing = missing_labels(pd.Series(target))
    ok = ~np.isnan(X).any(axis=1) & ~missing
    X, y = X[ok], np.asarray([str(v) for v in target[ok]])
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < cv:
        return float("nan"), int(ok.sum())
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        scores = cross_val_score(estimator, X, y, cv=folds, scoring="accuracy")
    return float(np.mean(scores)), int(ok.sum())


def disentanglement_probes(
    data: md.MuData | ad.AnnData,
    shared_labels: Sequence[str] = (),
    private_labels: Mapping[str, Sequence[str]] | None = None,
    cv: int = 5,
    seed: int = 0,
    key_added: str | None = "disentanglement_probes",
) -> ProbeResult:
    """Linear-probe scores of z and of each w_m for shared and private labels.

    Parameters
    ----------
    data
        MuData or AnnData with ``obsm["X_shared"]`` and ``obsm["X_private_<m>"]``.
    shared_labels
        Labels that the modalities share (e.g. ``["PAM50"]`` or the simulator's ``"true_shared"``).
    private_labels
        ``{modality: [labels]}``: labels private to one modality (e.g. ``{"rna": ["true_private"]}``).
        A label is an obs column or an obsm key; for a MuData, a private label is also looked up in
        ``mod[modality].obs``/``obsm`` (where the simulator keeps ``true_private``).
    cv, seed
        Folds (stratified for categorical labels) and their shuffling seed.
    key_added
        With a name, the table goes to ``uns[key_added]``.

    A categorical label (text, categorical, bool, or integers with at most 20 values) is probed by
    standardise + logistic regression and scored by accuracy; a continuous one (floats, or an obsm
    matrix [n, k]: multi-output) by standardise + ridge regression (alpha 1) and scored by R²
    (averaged over outputs). Scores are means over the folds; samples with a missing label or a NaN
    code are left out of that cell. A cell with too few samples or classes for ``cv`` folds is NaN.
    """
    cv = _check_cv(cv)
    shared_labels = [shared_labels] if isinstance(shared_labels, str) else list(shared_labels)
    private_labels = {str(m): ([v] if isinstance(v, str) else list(v)) for m, v in (private_labels or {}).items()}
    if not shared_labels and not any(private_labels.values()):
        raise InputError("disentanglement_probes: give shared_labels and/or private_labels")
    if SHARED_KEY not in data.obsm:
        listing = ", ".join(map(repr, data.obsm)) or "nothing"
        raise InputError(f"disentanglement_probes: obsm has no 'X_shared'; it has {listing}")
    reps = {"z": SHARED_KEY}
    reps.update({f"w_{k[len(PRIVATE_PREFIX):]}": k for k in data.obsm if str(k).startswith(PRIVATE_PREFIX)})
    for modality in private_labels:
        if f"w_{modality}" not in reps:
            raise InputError(
                f"private_labels: no obsm 'X_private_{modality}' for modality {modality!r}; "
                f"obsm has {', '.join(map(repr, data.obsm))}"
            )

    columns: dict[str, tuple[np.ndarray, bool]] = {}
    for name in shared_labels:
        values = _label_values(data, name, None)
        columns[name] = (values, _is_continuous(values))
    owner: dict[str, str] = {}
    for modality, names in private_labels.items():
        for name in names:
            values = _label_values(data, name, modality)
            column = f"{modality}:{name}"
            columns[column] = (values, _is_continuous(values))
            owner[column] = modality

    table = pd.DataFrame(np.nan, index=list(reps), columns=list(columns))
    counts = pd.DataFrame(0, index=list(reps), columns=list(columns))
    for rep, key in reps.items():
        X = np.asarray(data.obsm[key], dtype=float)
        X[~np.isfinite(X).all(axis=1)] = np.nan
        for column, (values, continuous) in columns.items():
            table.loc[rep, column], counts.loc[rep, column] = _probe(X, values, continuous, cv, seed)

    def mean(cells) -> float:
        cells = [c for c in cells if np.isfinite(c)]
        return float(np.mean(cells)) if cells else float("nan")

    private_cols = list(owner)
    w_reps = [r for r in reps if r != "z"]
    summary = {
        "z->shared": mean(table.loc["z", shared_labels]) if shared_labels else float("nan"),
        "z->private": mean(table.loc["z", private_cols]) if private_cols else float("nan"),
        "w->private": mean([table.loc[f"w_{owner[c]}", c] for c in private_cols]),
        "w->shared": mean([table.loc[r, c] for r in w_reps for c in shared_labels]),
    }
    result = ProbeResult(
        table=table,
        kinds={c: "r2" if cont else "accuracy" for c, (_, cont) in columns.items()},
        summary=summary,
        n_samples=counts,
        shared_labels=shared_labels,
        private_labels=private_labels,
        cv=cv,
        seed=seed,
    )
    if key_added is not None:
        data.uns[key_added] = uns_safe({"table": table, "summary": summary, "kinds": result.kinds})
    return result
