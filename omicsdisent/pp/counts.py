"""Preprocessing for count data (RNA-seq read counts)."""

from __future__ import annotations

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

from omicsdisent.errors import InputError
from omicsdisent.pp.selection import check_n_top_features, top_variance_mask
from omicsdisent.pp.types import check_not_preprocessed, describe, record_preprocessing, stored_values

COUNT_SELECTIONS = ("hvg", "variance")


def preprocess_counts(
    adata: AnnData,
    *,
    n_top_features: int | None = 2000,
    selection: str = "hvg",
    target_sum: float | None = None,
    name: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Normalise counts by library size, log1p them and keep the most variable features.

    ``adata.X`` (samples x features) must hold non-negative integer counts with no missing values.
    Afterwards:

    - ``layers["counts"]``: the raw counts of the selected features (same dtype as the input);
    - ``X``: ``log1p(counts / total * target_sum)`` (float32), via ``sc.pp.normalize_total`` and
      ``sc.pp.log1p``; ``target_sum`` defaults to the median library size;
    - ``obs["total_counts"]``: each sample's library size over all input features (reads);
    - ``uns["omicsdisent"]``: ``modality_type="counts"``, ``selection``, ``n_top_features``,
      ``target_sum``, ``n_features_before`` / ``n_features_after``. ``target_sum`` and the kept
      features are the preprocessing record that :func:`omicsdisent.pp.apply_preprocessing` applies
      to new samples (their library sizes also summed over every feature of their file).

    ``selection="hvg"`` ranks features with ``sc.pp.highly_variable_genes(flavor="seurat")`` on the
    log data (its columns stay in ``var``); ``"variance"`` ranks them by variance of the log data.
    ``n_top_features=None``, or a number not below the feature count, keeps every feature.

    Returns None (``adata`` changed in place) or, with ``copy=True``, a new AnnData.
    """
    where = describe(adata, name)
    n_top = check_n_top_features(n_top_features, where)
    if selection not in COUNT_SELECTIONS:
        raise InputError(f"{where}: option selection must be one of {', '.join(COUNT_SELECTIONS)}, got {selection!r}")
    if target_sum is not None and not (isinstance(target_sum, (int, float)) and target_sum > 0):
        raise InputError(f"{where}: option target_sum must be a positive number or None, got {target_sum!r}")
    check_not_preprocessed(adata, name)
    check_counts(adata, name)
    if copy:
        adata = adata.copy()

    raw = adata.X.copy()
    totals = np.asarray(raw.sum(axis=1), dtype=np.float64).ravel()
    empty = np.flatnonzero(totals == 0)
    if empty.size:
        shown = ", ".join(map(str, adata.obs_names[empty[:3]]))
        raise InputError(
            f"{where}: {empty.size} sample(s) have no counts at all (e.g. {shown}); "
            "library-size normalisation needs at least one read per sample: drop them first"
        )
    target = float(np.median(totals)) if target_sum is None else float(target_sum)
    n_before = adata.n_vars

    adata.X = raw.astype(np.float32)
    adata.obs["total_counts"] = totals
    sc.pp.normalize_total(adata, target_sum=target)
    sc.pp.log1p(adata)

    if selection == "hvg" and n_top is not None and n_top < n_before:
        sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_top)
        # Ties in the binned dispersions can mark a few extra genes: keep exactly n_top by rank.
        dispersion = adata.var["dispersions_norm"].to_numpy(dtype=np.float64)
        order = np.argsort(-np.nan_to_num(dispersion, nan=-np.inf), kind="stable")
        keep = np.zeros(n_before, dtype=bool)
        keep[order[:n_top]] = True
        adata.var["highly_variable"] = keep
    else:
        log_values = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
        keep = top_variance_mask(log_values, n_top)

    adata.layers["counts"] = raw
    adata._inplace_subset_var(np.flatnonzero(keep))
    record_preprocessing(
        adata,
        {
            "modality_type": "counts",
            "inferred": False,
            "selection": selection,
            "n_top_features": n_top,
            "target_sum": target,
            "n_features_before": int(n_before),
            "n_features_after": int(adata.n_vars),
        },
    )
    return adata if copy else None


def check_counts(adata: AnnData, name: str | None) -> None:
    """Raise :class:`InputError` unless ``adata.X`` holds finite, non-negative integer counts."""
    where = describe(adata, name)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{where} is empty ({adata.n_obs} samples x {adata.n_vars} features)")
    values = stored_values(adata)
    n_missing = int(np.isnan(values).sum())
    if n_missing:
        raise InputError(
            f"{where}: type 'counts' needs complete counts but {n_missing} values are missing (NaN); "
            "use type 'continuous' (which imputes) or fill them first"
        )
    if np.isinf(values).any():
        raise InputError(f"{where}: type 'counts' needs finite counts but found infinite values")
    if (values < 0).any():
        raise InputError(
            f"{where}: type 'counts' needs non-negative counts but found negative values "
            f"(min {values.min():g}); these look like log or centred data: use type 'continuous'"
        )
    if (values != np.round(values)).any():
        raise InputError(
            f"{where}: type 'counts' needs integer counts but found non-integer values "
            "(e.g. normalised or RSEM expected counts): round raw counts first or use type 'continuous'"
        )
