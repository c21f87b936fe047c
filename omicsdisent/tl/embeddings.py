"""Embeddings on a MuData or AnnData: choosing a representation, reading labels, writing results.

Embeddings live in ``obsm`` (``mdata.obsm`` of a MuData, ``adata.obsm`` of an AnnData):

- ``X_shared``: the shared code z, float [n_obs, z_dim];
- ``X_private_<modality>``: the private code w_m, float [n_obs, w_dim], NaN rows for samples that
  lack modality m.

Every analysis in :mod:`omicsdisent.tl` picks its representation with ``rep``: one obsm key,
``"both"`` (``X_shared`` followed by every ``X_private_*`` in obsm order, concatenated) or a list of
obsm keys (concatenated in the order given).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError

SHARED_KEY = "X_shared"
PRIVATE_PREFIX = "X_private_"


def _check_data(data) -> None:
    if not isinstance(data, (md.MuData, ad.AnnData)):
        raise InputError(f"data: got a {type(data).__name__}; expected a MuData or an AnnData with embeddings in obsm")


def embedding_keys(data: md.MuData | ad.AnnData) -> list[str]:
    """The embedding keys of ``data.obsm``: ``X_shared`` (if present), then ``X_private_*`` in obsm order."""
    _check_data(data)
    keys = [SHARED_KEY] if SHARED_KEY in data.obsm else []
    return keys + [k for k in data.obsm if str(k).startswith(PRIVATE_PREFIX)]


def _obsm_listing(data) -> str:
    # A MuData also keeps one presence mask per modality in obsm, named after it: not embeddings.
    modalities = set(data.mod) if isinstance(data, md.MuData) else set()
    keys = [k for k in data.obsm if k not in modalities]
    return ", ".join(map(repr, keys)) if keys else "none"


def resolve_rep(data: md.MuData | ad.AnnData, rep: str | Sequence[str]) -> list[str]:
    """The obsm keys that ``rep`` names (see the module docstring); InputError lists the obsm keys otherwise."""
    _check_data(data)
    if isinstance(rep, str):
        if rep == "both":
            private = [k for k in embedding_keys(data) if k != SHARED_KEY]
            if SHARED_KEY not in data.obsm or not private:
                raise InputError(
                    f"rep='both' needs obsm 'X_shared' and at least one 'X_private_<modality>'; "
                    f"obsm has {_obsm_listing(data)}"
                )
            keys = [SHARED_KEY, *private]
        else:
            keys = [rep]
    else:
        keys = [str(k) for k in rep]
        if not keys:
            raise InputError("rep: the list of obsm keys is empty")
    for key in keys:
        if key not in data.obsm:
            raise InputError(
                f"rep: no embedding {key!r} in obsm; obsm has {_obsm_listing(data)} "
                "(or use 'both' for X_shared with every X_private_*)"
            )
    if len(set(keys)) != len(keys):
        raise InputError(f"rep: {keys} names an obsm key twice")
    return keys


def short_name(key: str) -> str:
    """A short name of an embedding: ``X_shared`` -> ``z``, ``X_private_rna`` -> ``w_rna``, others unchanged."""
    if key == SHARED_KEY:
        return "z"
    if key.startswith(PRIVATE_PREFIX):
        return "w_" + key[len(PRIVATE_PREFIX):]
    return key


def embedding_matrix(data: md.MuData | ad.AnnData, rep: str | Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """The representation ``rep`` as float64 [n_obs, d], its obsm keys, and one name per column.

    Column names are ``<short>_<i>`` (``z_0``, ``w_rna_3``; see :func:`short_name`). A row is NaN
    wherever one of its values is not finite (e.g. a sample without that modality's private code).
    """
    keys = resolve_rep(data, rep)
    blocks, names = [], []
    for key in keys:
        value = data.obsm[key]
        if isinstance(value, pd.DataFrame):
            value = value.to_numpy()
        try:
            block = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"obsm[{key!r}] holds non-numeric values; expected an embedding of numbers") from None
        if block.ndim == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[0] != data.n_obs:
            raise InputError(f"obsm[{key!r}] has shape {block.shape}; expected (n_obs={data.n_obs}, dims)")
        blocks.append(block)
        names += [f"{short_name(key)}_{i}" for i in range(block.shape[1])]
    matrix = np.concatenate(blocks, axis=1)
    matrix[~np.isfinite(matrix).all(axis=1)] = np.nan
    return matrix, keys, names


def obs_column(data: md.MuData | ad.AnnData, column: str, option: str) -> pd.Series:
    """``data.obs[column]``; InputError naming ``option`` and listing the obs columns when it is absent."""
    _check_data(data)
    if column not in data.obs.columns:
        columns = [str(c) for c in data.obs.columns]
        listing = ", ".join(map(repr, columns[:30])) + (f", ... ({len(columns)} in all)" if len(columns) > 30 else "")
        raise InputError(f"{option}: no obs column {column!r}; obs has {listing or 'no columns'}")
    return data.obs[column]


def numeric_obs_column(data: md.MuData | ad.AnnData, column: str, option: str, unit: str) -> np.ndarray:
    """An obs column as float64 [n_obs] (NaN where missing); InputError when it holds text."""
    values = obs_column(data, column, option)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float).to_numpy()
    numbers = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise InputError(
            f"{option}: obs column {column!r} holds non-numeric values such as {values[bad].iloc[0]!r}; "
            f"expected {unit}"
        )
    return numbers.astype(float).to_numpy()


def missing_labels(values: pd.Series) -> np.ndarray:
    """Bool [n]: True where a label is missing (NaN, None or blank/'nan' text)."""
    text = values.astype(object).map(lambda v: "" if v is None else str(v).strip())
    return (values.isna() | text.str.lower().isin({"", "nan", "none", "na"})).to_numpy()


def set_obs(data: md.MuData | ad.AnnData, column: str, values: pd.Series) -> None:
    """Write ``values`` (indexed by obs names, a subset allowed) into ``data.obs[column]``; NaN elsewhere."""
    data.obs[column] = values.reindex(data.obs_names)


def uns_safe(value):
    """``value`` made writable to .h5ad/.h5mu ``uns``: None -> NaN, lists -> arrays, mixed lists -> JSON text.

    Names become h5 keys, where "/" separates groups: it is replaced by "_" in dict keys and columns.
    """
    if value is None:
        return np.nan
    if isinstance(value, Mapping):
        return {str(k).replace("/", "_"): uns_safe(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        frame = value.copy()
        frame.columns = [str(c).replace("/", "_") for c in frame.columns]
        frame.index = frame.index.astype(str)
        return frame
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value):
            return np.asarray(value, dtype=float)
        if all(isinstance(v, str) for v in value):
            return np.asarray(value, dtype=object)
        return json.dumps(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return value


def read_embeddings(path, clinical=None, *, time_col: str | None = None, event_col: str | None = None,
                    time_unit: str = "days") -> md.MuData | ad.AnnData:
    """Read embeddings (.h5mu or .h5ad with ``X_shared`` / ``X_private_*`` in obsm), optionally joining clinical data.

    ``path`` may also be the folder ``omicsdisent embed`` writes (its ``embeddings.h5mu`` is read).

    ``clinical`` is a CSV/TSV read by :func:`omicsdisent.io.read_clinical` (survival standardised to
    ``OS_time`` in days and ``OS_event`` 1/0; ``time_col``/``event_col``/``time_unit`` name other
    survival columns). Its rows are joined to the samples by id: the clinical id column (or any text
    column) whose TCGA patient barcodes (or plain ids) match the most samples. Clinical columns replace
    obs columns of the same name; samples without a clinical row get NaN. The id column used and the
    number of matched samples are recorded in ``data.uns["clinical_join"]``.
    """
    from omicsdisent.io import read_clinical

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file (embeddings .h5mu or .h5ad)")
    if path.is_dir():
        # The folder that 'omicsdisent embed' writes.
        if not (path / "embeddings.h5mu").is_file():
            raise InputError(f"{path}: is a folder without embeddings.h5mu; expected an embeddings file (.h5mu or .h5ad)")
        path = path / "embeddings.h5mu"
    suffix = path.suffix.lower()
    if suffix not in (".h5mu", ".h5ad"):
        raise InputError(f"{path}: expected an .h5mu or .h5ad file with embeddings in obsm")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = md.read_h5mu(path) if suffix == ".h5mu" else ad.read_h5ad(path)
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"{path}: cannot be read as {suffix} ({str(err).strip().splitlines()[0]})") from None
    if not embedding_keys(data):
        raise InputError(
            f"{path}: no embeddings in obsm (expected 'X_shared' and/or 'X_private_<modality>'); "
            f"obsm has {_obsm_listing(data)}"
        )
    if clinical is not None:
        table = read_clinical(clinical, time_col=time_col, event_col=event_col, time_unit=time_unit)
        _join_clinical(data, table, str(clinical))
    return data


def _join_clinical(data, table: pd.DataFrame, label: str) -> None:
    from omicsdisent.io import alignment_key

    def key(value) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
            return None
        return alignment_key(str(value), "patient")[0]

    sample_keys = [key(o) for o in data.obs_names]
    candidates = [("(id column)", list(table.index))]
    candidates += [(str(c), table[c].tolist()) for c in table.columns if table[c].dtype == object]
    best = None
    for name, values in candidates:
        keys = [key(v) for v in values]
        first: dict[str, int] = {}
        for row, k in enumerate(keys):
            if k is not None and k not in first:
                first[k] = row  # a duplicated id keeps its first row
        rows = np.array([first.get(k, -1) for k in sample_keys])
        n_match = int((rows >= 0).sum())
        if best is None or n_match > best[2]:
            best = (name, rows, n_match)
    name, rows, n_match = best
    if n_match == 0:
        examples = ", ".join(repr(str(v)) for v in list(table.index[:2]))
        samples = ", ".join(repr(str(v)) for v in list(data.obs_names[:2]))
        raise InputError(
            f"{label}: no clinical id matches a sample id; clinical ids look like {examples}, samples like {samples}"
        )
    joined = table.reset_index(drop=True).reindex(rows)
    joined.index = data.obs_names.copy()
    for column in joined.columns:
        values = joined[column]
        if values.dtype == object:
            values = values.astype("category")  # text columns stay writable to .h5mu
        data.obs[str(column)] = values
    data.uns["clinical_join"] = {"source": label, "id_column": name, "matched": n_match, "n_obs": int(data.n_obs)}
