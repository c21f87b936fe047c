"""Preprocess every modality of an aligned MuData, each by its type."""

from __future__ import annotations

from collections.abc import Mapping

import mudata
from mudata import MuData

from omicsdisent.errors import InputError
from omicsdisent.pp.continuous import preprocess_continuous
from omicsdisent.pp.counts import preprocess_counts
from omicsdisent.pp.methylation import preprocess_methylation
from omicsdisent.pp.selection import check_n_top_features
from omicsdisent.pp.types import MODALITY_TYPES, infer_modality_type, is_preprocessed

# What each type's record reports, in this order, in mdata.uns["omicsdisent"]["preprocessing"].
SUMMARY_KEYS = (
    "modality_type",
    "inferred",
    "n_features_before",
    "n_features_after",
    "selection",
    "n_top_features",
    "target_sum",
    "methylation_input",
    "log",
    "n_dropped_missing",
    "missing_share",
    "n_constant_features",
)


def preprocess(
    mdata: MuData,
    types: Mapping[str, str] | None = None,
    n_top_features: int | None | Mapping[str, int | None] = 2000,
    *,
    selection: str = "hvg",
    target_sum: float | None = None,
    methylation_input: str = "auto",
    max_missing: float = 0.2,
    log: str | None = None,
    copy: bool = False,
) -> MuData | None:
    """Preprocess each modality of ``mdata`` by its type and update the MuData.

    ``types`` maps modality names to ``"counts"``, ``"methylation"`` or ``"continuous"``; a modality
    not listed gets :func:`infer_modality_type` (recorded as ``inferred=True``). ``n_top_features`` is
    one number for all modalities or a mapping per modality (None keeps every feature). The other
    options go to the function of each type: ``selection`` and ``target_sum`` to
    :func:`preprocess_counts`, ``methylation_input`` (as ``input``) to
    :func:`preprocess_methylation`, ``log`` to :func:`preprocess_continuous`, and ``max_missing`` to
    the last two. For per-modality settings beyond these, call the per-type functions on
    ``mdata.mod[name]`` and then ``mdata.update()``.

    A modality already preprocessed (``uns["omicsdisent"]["preprocessed"]``, e.g. read back from an
    h5ad written after preprocessing) and not named in ``types`` is kept as it is and reported with
    ``kept_as_is=True``; naming it in ``types`` raises :class:`InputError`.

    Each modality's record is in ``mdata.mod[name].uns["omicsdisent"]``; a summary per modality
    (plain JSON-able dict) is in ``mdata.uns["omicsdisent"]["preprocessing"]``. Samples are never
    dropped, so presence and ``mdata.obs`` are unchanged.

    Returns None (``mdata`` changed in place) or, with ``copy=True``, a new MuData.
    """
    if not isinstance(mdata, MuData):
        raise InputError(f"preprocess expects a MuData, got {type(mdata).__name__}")
    modalities = list(mdata.mod)
    types = dict(types or {})
    unknown = sorted(set(types) - set(modalities))
    if unknown:
        raise InputError(
            f"option types names modality {unknown[0]!r}, which is not in the data (modalities: {', '.join(modalities)})"
        )
    for name, kind in types.items():
        if kind not in MODALITY_TYPES:
            raise InputError(
                f"modality {name!r}: option types must be one of {', '.join(MODALITY_TYPES)}, got {kind!r}"
            )
    if isinstance(n_top_features, Mapping):
        unknown = sorted(set(n_top_features) - set(modalities))
        if unknown:
            raise InputError(f"option n_top_features names modality {unknown[0]!r}, which is not in the data")
        n_top = {name: n_top_features.get(name, 2000) for name in modalities}
    else:
        n_top = dict.fromkeys(modalities, n_top_features)
    for name in modalities:
        check_n_top_features(n_top[name], f"modality {name!r}")

    # Work on copies and swap them in at the end, so a failure in one modality leaves mdata untouched.
    processed, summaries = {}, {}
    for name in modalities:
        adata = mdata.mod[name]
        if name not in types and is_preprocessed(adata):
            # Mixed input (one modality read from a preprocessed h5ad) is kept as it is.
            summaries[name] = {**_summary(adata.uns["omicsdisent"]), "kept_as_is": True}
            continue
        inferred = name not in types
        kind = infer_modality_type(adata, name=name) if inferred else types[name]
        if kind == "counts":
            result = preprocess_counts(
                adata, n_top_features=n_top[name], selection=selection, target_sum=target_sum, name=name, copy=True
            )
        elif kind == "methylation":
            result = preprocess_methylation(
                adata,
                input=methylation_input,
                max_missing=max_missing,
                n_top_features=n_top[name],
                name=name,
                copy=True,
            )
        else:
            result = preprocess_continuous(
                adata, log=log, max_missing=max_missing, n_top_features=n_top[name], name=name, copy=True
            )
        result.uns["omicsdisent"]["inferred"] = inferred
        processed[name] = result
        summaries[name] = _summary(result.uns["omicsdisent"])

    target = mdata.copy() if copy else mdata
    for name, result in processed.items():
        target.mod[name] = result
    # Keep per-modality obs columns (e.g. total_counts) out of mdata.obs: it holds clinical data.
    with mudata.set_options(pull_on_update=False):
        target.update()
    record = target.uns.get("omicsdisent")
    record = dict(record) if isinstance(record, Mapping) else {}
    record["preprocessing"] = {name: summaries[name] for name in modalities}
    target.uns["omicsdisent"] = record
    return target if copy else None


def _summary(record: Mapping) -> dict:
    return {key: record[key] for key in SUMMARY_KEYS if key in record}


def format_preprocessing(summary: Mapping[str, Mapping]) -> str:
    """Plain-text lines describing ``mdata.uns["omicsdisent"]["preprocessing"]``, one per modality."""
    lines = []
    for name, info in summary.items():
        how = "inferred" if info.get("inferred") else "given"
        if info.get("kept_as_is"):
            how = "already preprocessed, kept as is"
        parts = [
            f"{name}: type {info['modality_type']} ({how})",
            f"{info['n_features_before']} -> {info['n_features_after']} features ({info.get('selection')})"
            if info["n_features_after"] < info["n_features_before"]
            else f"all {info['n_features_after']} features kept",
        ]
        if info["modality_type"] == "counts":
            parts.append(f"library-size normalised to {info['target_sum']:.0f} reads, log1p")
        elif info["modality_type"] == "methylation":
            parts.append(f"input {info['methylation_input']} -> M-values")
        else:
            parts.append(f"log {info.get('log') or 'none'}, standardised")
        if info.get("missing_share"):
            parts.append(f"{100 * info['missing_share']:.2f}% values imputed (median)")
        if info.get("n_dropped_missing"):
            parts.append(f"{info['n_dropped_missing']} features dropped for missing values")
        lines.append("; ".join(parts))
    return "\n".join(lines)
