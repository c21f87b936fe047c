"""Modality types, their inference from the values, and the record each preprocessing step leaves.

Every preprocessing function records what it did in ``adata.uns["omicsdisent"]`` (a plain dict that
round-trips through h5ad). ``modality_type`` there is the contract with ``omicsdisent.models``; see
``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from omicsdisent.errors import InputError

MODALITY_TYPES = ("counts", "methylation", "continuous")


def describe(adata: AnnData, name: str | None) -> str:
    """How error messages name a modality: ``modality 'rna'`` or ``the AnnData``."""
    return f"modality {name!r}" if name else "the AnnData"


def dense_values(adata: AnnData) -> np.ndarray:
    """``adata.X`` as a dense float64 array (samples x features); missing values stay NaN."""
    X = adata.X
    if X is None:
        raise InputError("the AnnData has no X matrix to preprocess")
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return X.astype(np.float64, copy=True)


def stored_values(adata: AnnData) -> np.ndarray:
    """The explicitly stored values of ``adata.X`` (1-D); for sparse X the implicit zeros are left out."""
    X = adata.X
    if X is None:
        raise InputError("the AnnData has no X matrix to preprocess")
    if sp.issparse(X):
        return np.asarray(X.data, dtype=np.float64)
    return np.asarray(X, dtype=np.float64).ravel()


def infer_modality_type(adata: AnnData, *, name: str | None = None) -> str:
    """Guess the modality type of an AnnData from its values.

    Rules, applied to the non-missing values of ``adata.X`` (samples x features):
    all non-negative integers -> ``"counts"``; otherwise all within [0, 1] -> ``"methylation"``
    (beta values); otherwise ``"continuous"``. A 0/1 matrix therefore reads as counts: pass the type
    explicitly where that is wrong.

    Returns one of :data:`MODALITY_TYPES`. Raises :class:`InputError` for an empty matrix, a matrix
    with no observed values, or infinite values.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{describe(adata, name)} is empty ({adata.n_obs} samples x {adata.n_vars} features)")
    values = stored_values(adata)
    if np.isinf(values).any():
        raise InputError(f"{describe(adata, name)} holds infinite values; expected finite numbers or NaN for missing")
    observed = values[~np.isnan(values)]
    if observed.size == 0 and not sp.issparse(adata.X):
        raise InputError(f"{describe(adata, name)} has no observed values (all missing)")
    if (observed >= 0).all() and (observed == np.round(observed)).all():
        return "counts"
    if ((observed >= 0) & (observed <= 1)).all():
        return "methylation"
    return "continuous"


def is_preprocessed(adata: AnnData) -> bool:
    """Whether an omicsdisent preprocessing function has already run on ``adata``."""
    record = adata.uns.get("omicsdisent")
    return isinstance(record, Mapping) and bool(record.get("preprocessed"))


def check_not_preprocessed(adata: AnnData, name: str | None) -> None:
    """Refuse to preprocess twice: a second log or M-value transform would silently corrupt the data."""
    record = adata.uns.get("omicsdisent")
    if is_preprocessed(adata):
        raise InputError(
            f"{describe(adata, name)} is already preprocessed "
            f"(uns['omicsdisent']['modality_type'] = {record.get('modality_type')!r}); preprocess raw values once"
        )


def record_preprocessing(adata: AnnData, record: dict) -> None:
    """Merge ``record`` into ``adata.uns["omicsdisent"]``, keeping what other layers put there."""
    existing = adata.uns.get("omicsdisent")
    merged = dict(existing) if isinstance(existing, Mapping) else {}
    merged.update(record)
    merged["preprocessed"] = True
    adata.uns["omicsdisent"] = merged
