"""Align modalities by sample id into one MuData: union of samples, presence mask, clinical obs.

Ids are reduced to the alignment level first (TCGA patient ``TCGA-XX-XXXX`` by default, or the
15-character sample ``TCGA-XX-XXXX-NN``; other ids are kept as written). Then, within each modality:

- an id written twice in one file is an error (it cannot be told which row is right);
- normal tissue (sample types 10-19) is dropped unless ``keep_normal=True``;
- several samples that reduce to one id are resolved by
  :func:`omicsdisent.io.barcodes.sample_preference` (primary tumour first) and the rest reported.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from omicsdisent.errors import InputError
from omicsdisent.files import atomic_path, check_new_file
from omicsdisent.io.barcodes import alignment_key, sample_preference, try_parse_barcode
from omicsdisent.io.clinical import (
    CLINICAL_ID_COLUMNS,
    read_clinical,
    standardise_survival_with_source,
)
from omicsdisent.io.readers import (
    ORIENTATIONS,
    read_h5mu_obs,
    read_sources,
    split_source,
)
from omicsdisent.io.summary import AlignmentSummary, DroppedSample

LEVELS = ("patient", "sample")

# Modality obs columns stay in the modality; pulling them into mdata.obs only adds noise.
md.set_options(pull_on_update=False)


def presence_mask(mdata: md.MuData) -> pd.DataFrame:
    """Boolean DataFrame (samples x modalities): True where the sample has that modality."""
    return pd.DataFrame(
        {mod: np.asarray(mdata.obsmap[mod]).ravel() > 0 for mod in mdata.mod},
        index=mdata.obs_names.copy(),
    )


def read_modalities(sources, *, clinical=None, level: str = "patient", keep_normal: bool = False,
                    orientation: str = "auto", time_col: str | None = None, event_col: str | None = None,
                    time_unit: str = "days", max_nan_fraction: float = 0.5, clinical_id_col: str | None = None,
                    verbose: bool = True) -> md.MuData:
    """Read several modality files and align them into one MuData (see :func:`align_modalities`).

    ``sources``: paths or ``"name=path"`` strings (a ``.h5mu`` adds each of its modalities), or a
    mapping name -> path or AnnData. Modality names come from the file stem unless given; a name
    used twice is an error. ``clinical`` is a path or a DataFrame; without it, the ``obs`` columns of
    ``.h5mu`` sources (e.g. an aligned file written before) are joined instead. With ``verbose`` the
    alignment summary is printed.
    """
    if orientation not in ORIENTATIONS:
        raise InputError(f"orientation={orientation!r}: expected one of {', '.join(ORIENTATIONS)}")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    items = list(sources.items()) if isinstance(sources, Mapping) else [(None, s) for s in sources]
    if not items:
        raise InputError("no modalities given; pass at least one file")
    modalities: dict[str, ad.AnnData] = {}
    origin: dict[str, str] = {}
    h5mu_obs: list[pd.DataFrame] = []
    for name, source in items:
        if isinstance(source, ad.AnnData):
            if name is None:
                raise InputError("an AnnData modality needs a name: pass a mapping name -> AnnData")
            read = {str(name): source.copy()}
            where = f"AnnData {name!r}"
        else:
            read = read_sources(source, name=None if name is None else str(name), orientation=orientation)
            where = str(split_source(source)[1])
            if clinical is None and where.lower().endswith(".h5mu"):
                h5mu_obs.append(read_h5mu_obs(where))
        for mod, adata in read.items():
            if mod in modalities:
                raise InputError(
                    f"modality name {mod!r} is used twice ({origin[mod]} and {where}); "
                    "give each its own name with name=path"
                )
            modalities[mod], origin[mod] = adata, where
    h5mu_obs = [obs for obs in h5mu_obs if obs.shape[1] > 0]
    if clinical is None and h5mu_obs:
        # An aligned .h5mu carries its clinical columns in obs; join them again unless a table is given.
        clinical = h5mu_obs[0]
        for extra in h5mu_obs[1:]:
            clinical = clinical.combine_first(extra)
        clinical.attrs.update(h5mu_obs[0].attrs)
    return align_modalities(
        modalities, clinical=clinical, level=level, keep_normal=keep_normal, time_col=time_col,
        event_col=event_col, time_unit=time_unit, max_nan_fraction=max_nan_fraction,
        clinical_id_col=clinical_id_col, verbose=verbose,
    )


def align_modalities(modalities: Mapping[str, ad.AnnData], *, clinical=None, level: str = "patient",
                     keep_normal: bool = False, time_col: str | None = None, event_col: str | None = None,
                     time_unit: str = "days", max_nan_fraction: float = 0.5,
                     clinical_id_col: str | None = None, verbose: bool = False) -> md.MuData:
    """Align in-memory modalities (AnnData, samples x features, ``obs_names`` = ids) into a MuData.

    Returns a MuData whose ``obs_names`` are the union of aligned ids; ``mdata.mod[m]`` holds the
    samples that have modality ``m`` (their ids as written in ``obs["source_id"]``), with ``X``
    float32. ``clinical`` (a path or DataFrame) is joined into ``mdata.obs`` by the id column that
    matches most samples (or ``clinical_id_col``), with ``OS_time`` (days) and ``OS_event``. The
    :class:`AlignmentSummary` is in ``mdata.uns["omicsdisent"]["alignment"]`` as a dict.

    Raises InputError for: an unknown ``level``; a modality with no samples, repeated ids, or a NaN
    share above ``max_nan_fraction`` (0..1); a modality sharing no sample with any other; a clinical
    table without matching ids or without a named column.
    """
    if level not in LEVELS:
        raise InputError(f"level={level!r}: expected 'patient' or 'sample' (--level)")
    if not 0.0 <= float(max_nan_fraction) <= 1.0:
        raise InputError(f"max_nan_fraction={max_nan_fraction!r}: expected a share between 0 and 1")
    if not modalities:
        raise InputError("no modalities given; pass at least one")
    aligned: dict[str, ad.AnnData] = {}
    dropped: list[DroppedSample] = []
    sources: dict[str, str] = {}
    for name, adata in modalities.items():
        name = str(name)
        if not isinstance(adata, ad.AnnData):
            raise InputError(f"modality {name!r}: expected an AnnData, got {type(adata).__name__}")
        if "/" in name:
            raise InputError(f"modality name {name!r}: must not contain '/'")
        source = str(adata.uns.get("omicsdisent", {}).get("source", ""))
        sources[name] = source
        label = f"modality {name!r}" + (f" ({source})" if source else "")
        _check_nan_share(adata, label, max_nan_fraction)
        aligned[name], drops = _align_one(adata, name, label, level, keep_normal)
        dropped.extend(drops)
    _check_overlap(aligned, level)

    with warnings.catch_warnings():
        # Modalities may share feature names (gene symbols in RNA and protein); that is expected.
        warnings.simplefilter("ignore", UserWarning)
        mdata = md.MuData(aligned)

    summary = AlignmentSummary(
        level=level,
        modalities=list(aligned),
        samples={m: int(a.n_obs) for m, a in aligned.items()},
        features={m: int(a.n_vars) for m, a in aligned.items()},
        n_union=int(mdata.n_obs),
        n_complete=int(presence_mask(mdata).all(axis=1).sum()),
        sources=sources,
        dropped=dropped,
    )
    if clinical is not None:
        obs = _join_clinical(mdata.obs_names, clinical, summary, level=level, time_col=time_col,
                             event_col=event_col, time_unit=time_unit, id_col=clinical_id_col)
        mdata.obs = obs
        if "OS_time" in obs.columns:
            summary.n_with_survival_time = int(obs["OS_time"].notna().sum())
            summary.n_events = int((obs["OS_event"] == 1.0).sum())
    mdata.uns["omicsdisent"] = {"alignment": summary.to_dict()}
    if verbose:
        print(summary)
    return mdata


def alignment_summary(mdata: md.MuData) -> AlignmentSummary:
    """The :class:`AlignmentSummary` stored in an aligned MuData (also after a .h5mu round trip)."""
    try:
        data = mdata.uns["omicsdisent"]["alignment"]
    except KeyError:
        raise InputError("this MuData holds no alignment summary; build it with read_modalities") from None
    return AlignmentSummary.from_dict(data)


def write_h5mu(mdata: md.MuData, path, *, overwrite: bool = False) -> Path:
    """Write ``mdata`` to ``path`` (.h5mu) atomically; an existing file is kept unless ``overwrite``."""
    path = check_new_file(path, overwrite, option="--out", suffixes=(".h5mu",))
    with atomic_path(path) as tmp:
        mdata.write_h5mu(tmp)
    return path


# --- per modality ------------------------------------------------------------------------------


def _check_nan_share(adata: ad.AnnData, label: str, limit: float) -> None:
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{label}: is empty ({adata.n_obs} samples x {adata.n_vars} features)")
    X = adata.X
    if X is None:
        raise InputError(f"{label}: has no X matrix")
    if sp.issparse(X):
        n_nan = int(np.isnan(X.data).sum()) if np.issubdtype(X.dtype, np.floating) else 0
    else:
        X = np.asarray(X)
        n_nan = int(np.isnan(X).sum()) if np.issubdtype(X.dtype, np.floating) else 0
    share = n_nan / (adata.n_obs * adata.n_vars)
    if share > limit:
        raise InputError(
            f"{label}: {share:.1%} of the values are missing (NaN), above max_nan_fraction={limit:g} "
            "(--max-nan-fraction)"
        )


def _align_one(adata: ad.AnnData, name: str, label: str, level: str, keep_normal: bool):
    raw = pd.Index(adata.obs_names.astype(str))
    repeated = raw[raw.duplicated()]
    if len(repeated):
        raise InputError(
            f"{label}: sample id {repeated[0]!r} appears {int((raw == repeated[0]).sum())} times; "
            "ids must be unique within a modality"
        )
    keys, barcodes = zip(*(alignment_key(i, level) for i in raw)) if len(raw) else ((), ())
    if level == "sample":
        patient_only = [r for r, b in zip(raw, barcodes) if b is not None and b.sample is None]
        if patient_only:
            raise InputError(
                f"{label}: ids such as {patient_only[0]!r} are patient barcodes with no sample type; "
                "level='sample' needs sample barcodes (TCGA-XX-XXXX-NN...); use level='patient'"
            )
    dropped: list[DroppedSample] = []
    keep = np.ones(len(raw), dtype=bool)
    if not keep_normal:
        for i, barcode in enumerate(barcodes):
            if barcode is not None and barcode.is_normal:
                keep[i] = False
                dropped.append(DroppedSample(name, raw[i], "normal_tissue",
                                             f"sample type {barcode.sample_type:02d}: {barcode.sample_type_name}"))
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(keep):
        groups.setdefault(keys[i], []).append(int(i))
    for key, members in groups.items():
        if len(members) < 2:
            continue
        ranked = sorted(members, key=lambda i: sample_preference(barcodes[i], i))
        kept = ranked[0]
        for i in ranked[1:]:
            keep[i] = False
            what = barcodes[i].sample_type_name if barcodes[i] is not None else "same id"
            dropped.append(DroppedSample(name, raw[i], "duplicate_sample",
                                         f"{what}; kept {raw[kept]} for {key}"))
    if not keep.any():
        raise InputError(f"{label}: no samples left after dropping normal tissue; pass keep_normal=True (--keep-normal)")
    out = adata[keep].copy()
    if "source_id" not in out.obs.columns:  # an aligned file read again keeps the original ids
        out.obs["source_id"] = raw[keep].to_numpy()
    out.obs_names = pd.Index(np.asarray(keys, dtype=object)[keep].astype(str))
    if not sp.issparse(out.X):
        out.X = np.asarray(out.X, dtype=np.float32)
    elif out.X.dtype != np.float32:
        out.X = out.X.astype(np.float32)
    return out, dropped


def _check_overlap(aligned: dict[str, ad.AnnData], level: str) -> None:
    if len(aligned) < 2:
        return
    ids = {m: set(a.obs_names) for m, a in aligned.items()}
    for mod, own in ids.items():
        others = set().union(*(ids[o] for o in ids if o != mod))
        if not own & others:
            other = next(o for o in ids if o != mod)
            raise InputError(
                f"modality {mod!r} shares no sample with any other modality (level={level}): its ids look "
                f"like {_examples(aligned[mod].obs_names)}, {other!r} has {_examples(aligned[other].obs_names)}; "
                "check that the files are from one cohort and use the same kind of id"
            )


def _examples(values, n: int = 2) -> str:
    return ", ".join(repr(str(v)) for v in list(values)[:n])


# --- clinical ------------------------------------------------------------------------------------


def _join_clinical(obs_names: pd.Index, clinical, summary: AlignmentSummary, *, level, time_col, event_col,
                   time_unit, id_col) -> pd.DataFrame:
    """The clinical columns for ``obs_names`` (NaN where a sample has no clinical row)."""
    if isinstance(clinical, pd.DataFrame):
        label = str(clinical.attrs.get("source", "clinical table"))
        table, survival = standardise_survival_with_source(
            clinical, time_col=time_col, event_col=event_col, time_unit=time_unit, label=label
        )
    else:
        table = read_clinical(clinical, time_col=time_col, event_col=event_col, time_unit=time_unit)
        label, survival = str(clinical), table.attrs["survival"]
    if table.shape[0] == 0:
        raise InputError(f"{label}: the clinical table has no rows")

    candidates = _id_candidates(table, id_col, label)
    # At sample level a patient-level clinical row serves every sample of that patient.
    barcodes = {o: try_parse_barcode(o) for o in obs_names}
    patients = {o: b.patient if b is not None else None for o, b in barcodes.items()}
    best = None
    for cand_name, values in candidates:
        keys = [None if _blank(v) else alignment_key(v, level)[0] for v in values]
        key_set = {k for k in keys if k is not None}
        n_match = sum(1 for o in obs_names if o in key_set or patients[o] in key_set)
        if best is None or n_match > best[2]:
            best = (cand_name, keys, n_match, values)
    cand_name, keys, n_match, values = best
    if n_match == 0:
        tried = ", ".join(repr(c) for c, _ in candidates[:6])
        clin_ids = [v for v in candidates[0][1] if not _blank(v)]
        raise InputError(
            f"{label}: no clinical id matches a sample id (tried {tried}); clinical ids look like "
            f"{_examples(clin_ids)}, samples like {_examples(obs_names)}"
        )

    table = table.reset_index(drop=True)
    keep_row: dict[str, int] = {}
    dropped = summary.dropped
    for i, key in enumerate(keys):
        if key is None:
            dropped.append(DroppedSample("clinical", f"row {i + 1}", "clinical_without_id",
                                         f"empty {cand_name!r}"))
            continue
        if key in keep_row:
            j = keep_row[key]
            first, second = sorted((j, i), key=lambda r: sample_preference(try_parse_barcode(str(values[r])), r))
            keep_row[key] = first
            dropped.append(DroppedSample("clinical", str(values[second]), "duplicate_clinical_row",
                                         f"kept row {first + 1} for {key}"))
        else:
            keep_row[key] = i
    lookup = []
    used: set[str] = set()
    for o in obs_names:
        key = o if o in keep_row else patients[o] if patients[o] in keep_row else None
        lookup.append(keep_row[key] if key is not None else -1)
        if key is not None:
            used.add(key)
    for key, row in keep_row.items():
        if key not in used:
            dropped.append(DroppedSample("clinical", str(values[row]), "clinical_without_omics",
                                         f"no sample {key} in any modality"))
    rows = np.asarray(lookup)
    obs = table.reindex(rows)  # row -1 does not exist: NaN for samples without clinical
    obs.index = obs_names.copy()
    obs = _h5_safe(obs)

    summary.clinical_source = label
    summary.clinical_rows = int(table.shape[0])
    summary.clinical_matched = int((rows >= 0).sum())
    summary.clinical_id_column = cand_name
    summary.survival = survival
    return obs


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() in ("", "nan")


def _id_candidates(table: pd.DataFrame, id_col: str | None, label: str) -> list[tuple[str, list]]:
    """(name, values) pairs to try as the clinical id, most likely first."""
    if id_col is not None:
        if id_col not in table.columns:
            raise InputError(f"{label}: no column {id_col!r} named by clinical_id_col (--clinical-id-col)")
        return [(id_col, table[id_col].tolist())]
    text_cols = [c for c in table.columns
                 if table[c].dtype == object or isinstance(table[c].dtype, pd.CategoricalDtype)]
    lowered = {str(c).lower(): c for c in text_cols}
    ordered = [lowered[n] for n in CLINICAL_ID_COLUMNS if n in lowered]
    ordered += [c for c in text_cols if c not in ordered]
    candidates = []
    if not isinstance(table.index, pd.RangeIndex):
        index_name = str(table.attrs.get("id_column") or table.index.name or "(index)")
        candidates.append((index_name, [str(v) for v in table.index]))
    candidates += [(str(c), table[c].tolist()) for c in ordered]
    if table.shape[1] and table.columns[0] not in ordered:
        candidates.append((str(table.columns[0]), table.iloc[:, 0].astype(str).tolist()))
    return candidates


def _h5_safe(obs: pd.DataFrame) -> pd.DataFrame:
    """Make obs writable to .h5mu: text columns as categoricals of strings, no '/' in names."""
    obs = obs.copy()
    names: list[str] = []
    for col in obs.columns:
        name = str(col).replace("/", "_")
        while name in names:
            name += "_"
        names.append(name)
    obs.columns = names
    for col in names:
        values = obs[col]
        if values.dtype == object or pd.api.types.is_bool_dtype(values) and values.isna().any():
            obs[col] = values.map(lambda v: v if _blank(v) and not isinstance(v, str) else str(v)).astype("category")
    return obs
