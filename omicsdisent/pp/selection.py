"""Feature selection shared by every modality type."""

from __future__ import annotations

import numpy as np

from omicsdisent.errors import InputError


def check_n_top_features(n_top_features, where: str) -> int | None:
    """Validate the ``n_top_features`` option: a positive integer, or None to keep every feature."""
    if n_top_features is None:
        return None
    if isinstance(n_top_features, bool) or not isinstance(n_top_features, (int, np.integer)) or n_top_features < 1:
        raise InputError(f"{where}: option n_top_features must be a positive integer or None, got {n_top_features!r}")
    return int(n_top_features)


def check_fraction(value, option: str, where: str) -> float:
    """Validate an option that is a fraction in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= value <= 1:
        raise InputError(f"{where}: option {option} must be a number in [0, 1], got {value!r}")
    return float(value)


def top_variance_mask(values: np.ndarray, n_top: int | None) -> np.ndarray:
    """Boolean mask (features,) of the ``n_top`` features of highest variance in ``values`` (samples x features).

    Keeps every feature when ``n_top`` is None or not smaller than the number of features. Ties are
    broken by feature order, so the choice is deterministic; selected features keep their order.
    """
    n_features = values.shape[1]
    mask = np.ones(n_features, dtype=bool)
    if n_top is None or n_top >= n_features:
        return mask
    variance = np.nanvar(values, axis=0)
    # Highest variance first; a stable sort of the negated values keeps earlier features on ties.
    order = np.argsort(-variance, kind="stable")
    mask[:] = False
    mask[order[:n_top]] = True
    return mask


def feature_medians(values: np.ndarray) -> np.ndarray:
    """The median of each feature (column) of ``values`` (samples x features), ignoring NaNs; shape (features,)."""
    if not np.isnan(values).any():
        return np.median(values, axis=0)
    with np.errstate(all="ignore"):
        return np.nanmedian(values, axis=0)


def fill_missing(values: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Replace NaNs in ``values`` (samples x features, modified in place) with ``fill[feature]``; returns ``values``."""
    missing = np.isnan(values)
    if missing.any():
        rows, cols = np.nonzero(missing)
        values[rows, cols] = fill[cols]
    return values


def drop_and_impute_missing(
    values: np.ndarray, max_missing: float, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Drop features missing in more than ``max_missing`` of the samples, then fill the rest with medians.

    values: samples x features with NaN for missing. Returns the kept values (filled), the boolean
    mask of kept features (over the input's features), their medians (the fill values, also what new
    samples are filled with later) and the share of kept values that were missing.
    """
    usable = np.isnan(values).mean(axis=0) <= max_missing
    if not usable.any():
        raise InputError(
            f"{where}: every feature is missing in more than max_missing={max_missing:g} of the samples; "
            "raise max_missing or check the file"
        )
    values = values[:, usable]
    missing_share = float(np.isnan(values).mean())
    medians = feature_medians(values)
    fill_missing(values, medians)
    return values, usable, medians, missing_share


def impute_median(values: np.ndarray) -> np.ndarray:
    """Fill NaNs in ``values`` (samples x features, modified in place) with each feature's median.

    Every column must have at least one observed value. Returns ``values``.
    """
    if np.isnan(values).any():
        fill_missing(values, feature_medians(values))
    return values
