"""Preprocessing for generic continuous data (log-scale RNA, miRNA, protein, CNV, eigengenes)."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from omicsdisent.errors import InputError
from omicsdisent.pp.selection import (
    check_fraction,
    check_n_top_features,
    drop_and_impute_missing,
    top_variance_mask,
)
from omicsdisent.pp.types import check_not_preprocessed, dense_values, describe, record_preprocessing

CONTINUOUS_LOGS = (None, "log1p", "log2")


def preprocess_continuous(
    adata: AnnData,
    *,
    log: str | None = None,
    max_missing: float = 0.2,
    n_top_features: int | None = 2000,
    name: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Optionally log, impute, select the most variable features and standardise each feature.

    ``adata.X`` (samples x features) holds real numbers; NaN marks a missing value. Steps, in order:

    1. ``log``: None (data already on a log scale), ``"log1p"`` (natural log of x + 1) or ``"log2"``
       (log2 of x + 1); a log needs non-negative values.
    2. Drop features missing in more than ``max_missing`` of the samples; impute the rest with the
       feature median; the imputed share is recorded as ``missing_share``.
    3. Keep the ``n_top_features`` features of highest variance (None keeps all).
    4. Standardise each feature to zero mean and unit variance (population sd). A constant feature
       becomes all zeros. The means and sds (in the units after step 1) are kept in
       ``var["mean"]`` and ``var["std"]``, so ``X * std + mean`` undoes the scaling; the medians
       that filled missing values (same units) in ``var["median"]``. These, with ``log``, are the
       preprocessing record that :func:`omicsdisent.pp.apply_preprocessing` applies to new samples.

    ``uns["omicsdisent"]`` records ``modality_type="continuous"``, ``log``, ``missing_share``,
    ``n_dropped_missing``, ``n_constant_features`` and the feature counts. ``X`` becomes float32.

    Returns None (``adata`` changed in place) or, with ``copy=True``, a new AnnData.
    """
    where = describe(adata, name)
    n_top = check_n_top_features(n_top_features, where)
    if log not in CONTINUOUS_LOGS:
        raise InputError(f"{where}: option log must be None, 'log1p' or 'log2', got {log!r}")
    max_missing = check_fraction(max_missing, "max_missing", where)
    check_not_preprocessed(adata, name)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{where} is empty ({adata.n_obs} samples x {adata.n_vars} features)")

    values = dense_values(adata)
    if np.isinf(values).any():
        raise InputError(f"{where}: values must be finite (NaN for missing) but found infinite values")
    values = apply_log(values, log, where)

    values, usable, medians, missing_share = drop_and_impute_missing(values, max_missing, where)

    keep = top_variance_mask(values, n_top)
    values = values[:, keep]
    means = values.mean(axis=0)
    sds = values.std(axis=0)
    constant = constant_features(means, sds)
    scaled = standardise(values, means, sds)

    if copy:
        adata = adata.copy()
    n_before = adata.n_vars
    adata._inplace_subset_var(np.flatnonzero(usable)[keep])
    adata.X = scaled.astype(np.float32)
    adata.var["mean"] = means
    adata.var["std"] = sds
    adata.var["median"] = medians[keep]
    record_preprocessing(
        adata,
        {
            "modality_type": "continuous",
            "inferred": False,
            "log": log,
            "max_missing": max_missing,
            "n_dropped_missing": int((~usable).sum()),
            "missing_share": missing_share,
            "n_constant_features": int(constant.sum()),
            "selection": "variance",
            "n_top_features": n_top,
            "n_features_before": int(n_before),
            "n_features_after": int(adata.n_vars),
        },
    )
    return adata if copy else None


def apply_log(values: np.ndarray, log: str | None, where: str) -> np.ndarray:
    """``values`` (samples x features, NaN for missing) after the ``log`` option: None, log1p or log2(x + 1)."""
    if log is None:
        return values
    if (values[~np.isnan(values)] < 0).any():
        raise InputError(
            f"{where}: option log={log!r} needs non-negative values but found negatives "
            "(the data is probably on a log scale already: use log=None)"
        )
    return np.log1p(values) if log == "log1p" else np.log2(values + 1)


def constant_features(means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """Boolean mask (features,) of features treated as constant: rounding leaves a tiny sd on those."""
    return sds <= 1e-10 * np.maximum(1.0, np.abs(means))


def standardise(values: np.ndarray, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """``(values - means) / sds`` per feature (samples x features); a constant feature becomes 0, not NaN."""
    return (values - means) / np.where(constant_features(means, sds), 1.0, sds)
