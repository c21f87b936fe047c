"""Preprocessing for DNA methylation (beta values or M-values, per probe or per gene)."""

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

METHYLATION_INPUTS = ("auto", "beta", "mvalue")


def beta_to_mvalue(beta: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """M-values ``log2(b / (1 - b))`` of betas, after clipping the betas to ``[eps, 1 - eps]``."""
    clipped = np.clip(beta, eps, 1 - eps)
    return np.log2(clipped / (1 - clipped))


def mvalue_to_beta(mvalue: np.ndarray) -> np.ndarray:
    """Betas ``2^M / (1 + 2^M)`` of M-values (written to avoid overflow for large M)."""
    return 1.0 / (1.0 + np.exp2(-mvalue))


def preprocess_methylation(
    adata: AnnData,
    *,
    input: str = "auto",
    max_missing: float = 0.2,
    eps: float = 1e-6,
    n_top_features: int | None = 2000,
    name: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Turn methylation values into M-values, with betas kept, and keep the most variable features.

    ``adata.X`` (samples x probes or genes) holds betas in [0, 1] or M-values (log2 ratios); NaN marks
    a missing value. ``input="auto"`` reads all-in-[0, 1] data as betas and anything else as M-values.

    Steps: drop features missing in more than ``max_missing`` of the samples (a share in [0, 1]);
    impute the rest with the feature median; convert (betas clipped to ``[eps, 1 - eps]`` first);
    keep the ``n_top_features`` features of highest M-value variance (None keeps all). Afterwards
    ``X`` holds M-values (float32), ``layers["beta"]`` the betas (float32, within ``[eps, 1 - eps]``),
    and ``uns["omicsdisent"]`` records ``modality_type="methylation"``, ``methylation_input``,
    ``n_dropped_missing``, ``missing_share`` (share of kept values imputed) and the feature counts;
    ``var["median"]`` the medians that filled missing values (on the input scale). With ``eps`` these
    are the preprocessing record that :func:`omicsdisent.pp.apply_preprocessing` applies to new samples.

    Returns None (``adata`` changed in place) or, with ``copy=True``, a new AnnData.
    """
    where = describe(adata, name)
    n_top = check_n_top_features(n_top_features, where)
    if input not in METHYLATION_INPUTS:
        raise InputError(f"{where}: option input must be one of {', '.join(METHYLATION_INPUTS)}, got {input!r}")
    max_missing = check_fraction(max_missing, "max_missing", where)
    if not (isinstance(eps, float) and 0 < eps < 0.5):
        raise InputError(f"{where}: option eps must be a float in (0, 0.5), got {eps!r}")
    check_not_preprocessed(adata, name)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{where} is empty ({adata.n_obs} samples x {adata.n_vars} features)")

    values = dense_values(adata)
    if np.isinf(values).any():
        raise InputError(f"{where}: methylation values must be finite (NaN for missing) but found infinite values")
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        raise InputError(f"{where}: every methylation value is missing")
    in_unit_interval = bool(((observed >= 0) & (observed <= 1)).all())
    resolved = _resolve_input(input, in_unit_interval, observed, where)

    values, usable, medians, missing_share = drop_and_impute_missing(values, max_missing, where)

    if resolved == "beta":
        mvalues = beta_to_mvalue(values, eps)
    else:
        mvalues = values
    betas = np.clip(mvalue_to_beta(mvalues), eps, 1 - eps)

    keep = top_variance_mask(mvalues, n_top)
    if copy:
        adata = adata.copy()
    n_before = adata.n_vars
    adata._inplace_subset_var(np.flatnonzero(usable)[keep])
    adata.X = mvalues[:, keep].astype(np.float32)
    adata.layers["beta"] = betas[:, keep].astype(np.float32)
    adata.var["median"] = medians[keep]
    record_preprocessing(
        adata,
        {
            "modality_type": "methylation",
            "inferred": False,
            "methylation_input": resolved,
            "input_option": input,
            "eps": eps,
            "max_missing": max_missing,
            "n_dropped_missing": int((~usable).sum()),
            "missing_share": missing_share,
            "selection": "variance",
            "n_top_features": n_top,
            "n_features_before": int(n_before),
            "n_features_after": int(adata.n_vars),
        },
    )
    return adata if copy else None


def _resolve_input(option: str, in_unit_interval: bool, observed: np.ndarray, where: str) -> str:
    if option == "beta":
        if not in_unit_interval:
            raise InputError(
                f"{where}: option input='beta' but values lie outside [0, 1] "
                f"(range {observed.min():g}..{observed.max():g}); use input='mvalue' for M-values"
            )
        return "beta"
    if option == "mvalue":
        return "mvalue"
    if in_unit_interval:
        return "beta"
    if observed.min() >= 0 and observed.max() <= 100:
        # Non-negative values up to 100 are percentages far more often than M-values.
        raise InputError(
            f"{where}: methylation values range {observed.min():g}..{observed.max():g}, which looks like "
            "percent methylation; divide by 100 for betas, or pass input='mvalue' if they are M-values"
        )
    return "mvalue"
