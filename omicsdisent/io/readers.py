"""Read one modality from ``.h5ad``, ``.h5mu`` or delimited text into an AnnData (samples x features).

Text tables come in two orientations. With ``orientation="auto"`` the reader decides by this
evidence, in order, and raises :class:`InputError` naming the ``orientation`` option if none applies:

1. TCGA barcodes: in the header (over half of the header cells after the first) means features x
   samples, as UCSC Xena, GDC and cBioPortal write it; in one of the first three columns means
   samples x features (that column holds the ids).
2. Column names: a first column named like a feature annotation (``Hugo_Symbol``, ``Entrez_Gene_Id``,
   ``gene_id``, ``ID_REF``, ...) means features x samples; one of the first three named like a
   sample id (``patient``, ``sample_id``, ``bcr_patient_barcode``, ``submitter_id``, ...) means
   samples x features.
3. Recognisable feature ids (Ensembl ``ENSG...``, miRNA ``hsa-mir-...``/``MIMAT...``, CpG probes
   ``cg01234567``, ``SYMBOL_EntrezID`` such as ``TP53_7157``) on over half of one axis and at most
   half of the other: that axis holds the features. Plain integers are not evidence: they may be
   row numbers as well as feature numbers.
4. 4-character TCGA participant codes (``A0FJ``, as the mixOmics files use) on at least 90% of one
   axis and under half of the other: that axis holds the samples.

An unnamed first column in front of the sample-id column is R's row names and is dropped.
Non-numeric annotation columns (entirely text, or a known annotation name such as
``Entrez_Gene_Id``) are dropped and listed in ``adata.uns["omicsdisent"]["dropped_columns"]``; a column
that mixes numbers and text is an error, since it is most likely a malformed data column.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from omicsdisent.errors import InputError
from omicsdisent.io.barcodes import barcode_fraction

ORIENTATIONS = ("auto", "samples_x_features", "features_x_samples")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")

# Lower-cased first-column names that say which axis the rows are.
FEATURE_ID_COLUMNS = {
    "hugo_symbol", "entrez_gene_id", "gene", "genes", "gene_id", "gene_ids", "gene_name", "gene_symbol",
    "symbol", "id_ref", "composite element ref", "probe", "probe_id", "probeset", "probe_set_id",
    "feature", "features", "feature_id", "ensembl_gene_id", "ensembl_id", "transcript_id", "mirna",
    "mirna_id", "mir", "cpg", "protein", "antibody", "module", "genesymbol", "gene symbol", "name",
}
SAMPLE_ID_COLUMNS = {
    "patient", "patient_id", "patient_barcode", "bcr_patient_barcode", "bcr_sample_barcode",
    "submitter_id", "case_id", "case_submitter_id", "sample_id", "sample_barcode", "sampleid",
    "barcode", "tcga_id", "tcga_barcode", "tcga_patient",
}
# Annotation columns dropped from features x samples tables even where they hold numbers.
ANNOTATION_COLUMNS = FEATURE_ID_COLUMNS | {
    "description", "cytoband", "chromosome", "chr", "chrom", "start", "end", "strand", "locus",
    "gene_type", "gene_biotype", "length", "entrez_id", "entrezid",
}

_FEATURE_PATTERNS = re.compile(
    r"^((?i:ENS[A-Z]*[GTP]\d{6,}(\.\d+)?|hsa[-_.](mir|let)[-_.].*|MIMAT\d+|cg\d{8}|ch\.\d+\..*)"
    r"|[A-Z][A-Z0-9.-]+[_|]\d{2,})$"
)
# Sample ids may sit in one of the first few columns (R's write.csv puts row numbers first).
_LEADING_ID_COLUMNS = 3
_PARTICIPANT_CODE = re.compile(r"^[A-Z0-9]{4}$")


def split_source(source) -> tuple[str | None, Path]:
    """``"name=path"`` -> (name, path); a plain path -> (None, path). An existing path is never split."""
    text = str(source)
    if "=" in text and not Path(text).exists():
        name, _, path = text.partition("=")
        name = name.strip()
        if not name or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise InputError(
                f"modality {text!r}: the name before '=' must be letters, digits, '_', '-', '.' or '+' "
                "(e.g. rna=path/to/rna.csv)"
            )
        return name, Path(path.strip())
    return None, Path(text)


def modality_name_from_path(path: Path) -> str:
    """``rna.h5ad`` -> ``rna``; ``rna.csv.gz`` -> ``rna``; ``data.train_mrna.csv`` -> ``data.train_mrna``."""
    name = path.name
    lower = name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            name, lower = name[: -len(suffix)], lower[: -len(suffix)]
            break
    for suffix in TEXT_SUFFIXES + (".h5ad", ".h5mu"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _format_of(path: Path) -> str:
    lower = path.name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
            break
    for fmt in (".h5ad", ".h5mu") + TEXT_SUFFIXES:
        if lower.endswith(fmt):
            return fmt.lstrip(".")
    raise InputError(
        f"{path}: unknown file type; expected .h5ad, .h5mu, or delimited text .csv/.tsv/.txt "
        "(optionally compressed: .gz, .bz2, .xz)"
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")


def read_sources(source, *, name: str | None = None, orientation: str = "auto") -> dict[str, ad.AnnData]:
    """Read one source into ``{modality name: AnnData}``: one entry, or one per modality of a ``.h5mu``."""
    if orientation not in ORIENTATIONS:
        raise InputError(f"orientation={orientation!r}: expected one of {', '.join(ORIENTATIONS)}")
    given_name, path = split_source(source)
    name = name or given_name
    _check_file(path)
    fmt = _format_of(path)
    if fmt == "h5mu":
        mods = _read_h5mu(path)
        if name:
            mods = {f"{name}_{mod}": adata for mod, adata in mods.items()}
        for mod, adata in mods.items():
            mods[mod] = _finish(adata, path, orientation, f"{path} (modality {mod!r})")
        return mods
    if fmt == "h5ad":
        adata = _finish(_read_h5ad(path), path, orientation, str(path))
    else:
        adata = _read_text(path, orientation)
    return {name or modality_name_from_path(path): adata}


def read_modality(source, *, name: str | None = None, orientation: str = "auto") -> ad.AnnData:
    """Read one modality file into an AnnData of shape (samples, features), ``X`` float32.

    ``source`` is a path or ``"name=path"``; formats ``.h5ad``, ``.h5mu`` holding one modality, and
    delimited text (``.csv``, ``.tsv``, ``.txt``, optionally ``.gz``/``.bz2``/``.xz``) in either orientation (see the
    module docstring for how ``orientation="auto"`` decides). ``obs_names`` are the file's sample ids
    as written; ``var_names`` its features. The modality's name is in
    ``adata.uns["omicsdisent"]["name"]`` and the source path in ``adata.uns["omicsdisent"]["source"]``.
    """
    mods = read_sources(source, name=name, orientation=orientation)
    if len(mods) != 1:
        raise InputError(
            f"{split_source(source)[1]}: holds {len(mods)} modalities ({', '.join(mods)}); "
            "read it with read_modalities, which keeps each as its own modality"
        )
    (mod, adata), = mods.items()
    adata.uns["omicsdisent"]["name"] = mod
    return adata


# --- binary formats ----------------------------------------------------------------------------


def _read_h5ad(path: Path) -> ad.AnnData:
    try:
        return ad.read_h5ad(path)
    except Exception as err:  # h5py raises OSError/KeyError/... for files that are not AnnData
        raise InputError(f"{path}: cannot be read as .h5ad ({_first_line(err)})") from None


def _read_h5mu(path: Path) -> dict[str, ad.AnnData]:
    import mudata as md

    try:
        mdata = md.read_h5mu(path)
    except Exception as err:
        raise InputError(f"{path}: cannot be read as .h5mu ({_first_line(err)})") from None
    if not mdata.mod:
        raise InputError(f"{path}: the .h5mu file holds no modalities")
    return {mod: mdata.mod[mod].copy() for mod in mdata.mod}


def read_h5mu_obs(path) -> pd.DataFrame:
    """The sample table (global ``obs``, e.g. clinical columns) of a ``.h5mu`` file, without its data."""
    import h5py
    from anndata.io import read_elem

    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            obs = read_elem(handle["obs"]) if "obs" in handle else pd.DataFrame()
    except Exception as err:
        raise InputError(f"{path}: cannot be read as .h5mu ({_first_line(err)})") from None
    obs.attrs.update(source=f"{path} (obs)", id_column="obs_names")
    return obs


def _finish(adata: ad.AnnData, path: Path, orientation: str, label: str) -> ad.AnnData:
    """Orient an AnnData read from a binary file and make ``X`` float32."""
    if adata.X is None:
        raise InputError(f"{label}: has no X matrix")
    if orientation == "auto":
        # AnnData is samples x features by convention; transpose only on clear barcode evidence.
        transposed = barcode_fraction(adata.var_names) > 0.5 and barcode_fraction(adata.obs_names) <= 0.5
        orientation = "features_x_samples" if transposed else "samples_x_features"
    if orientation == "features_x_samples":
        adata = adata.T.copy()
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{label}: is empty ({adata.n_obs} samples x {adata.n_vars} features)")
    X = adata.X
    dtype = X.dtype
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        raise InputError(f"{label}: X holds non-numeric values (dtype {dtype}); expected numbers")
    if sp.issparse(X):
        adata.X = X.astype(np.float32)
    else:
        adata.X = np.asarray(X, dtype=np.float32)
    adata.obs_names = adata.obs_names.astype(str)
    adata.var_names = adata.var_names.astype(str)
    uns = dict(adata.uns.get("omicsdisent", {}))
    uns.update(source=str(path), orientation=orientation)
    adata.uns["omicsdisent"] = uns
    return adata


# --- delimited text ------------------------------------------------------------------------------


def _open_text(path: Path):
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding="utf-8", errors="replace", newline="")


def _header(path: Path) -> tuple[str, list[str], int]:
    """The separator, the parsed header cells, and how many lines the header took (blank lines included)."""
    try:
        with _open_text(path) as handle:
            line, consumed = handle.readline(), 1
            while line and not line.strip():
                line, consumed = handle.readline(), consumed + 1
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot be read ({_first_line(err)})") from None
    if not line.strip():
        raise InputError(f"{path}: the file is empty")
    preferred = {"csv": ",", "tsv": "\t"}.get(_format_of(path))
    if preferred and preferred in line:
        sep = preferred
    elif "\t" in line:
        sep = "\t"
    elif "," in line:
        sep = ","
    elif ";" in line:
        sep = ";"
    else:
        sep = r"\s+"
    if sep == r"\s+":
        cells = line.split()
    else:
        cells = next(csv.reader([line.rstrip("\r\n")], delimiter=sep))
    return sep, [c.strip() for c in cells], consumed


def _read_text(path: Path, orientation: str) -> ad.AnnData:
    sep, header, consumed = _header(path)
    try:
        # Columns by position: the header is parsed separately so that '' and repeated names survive.
        frame = pd.read_csv(
            path, sep=sep, header=None, skiprows=consumed, index_col=False, low_memory=False,
            compression="infer",
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: has a header but no data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as err:
        raise InputError(f"{path}: cannot be parsed as a table ({_first_line(err)})") from None
    if frame.shape[0] == 0:
        raise InputError(f"{path}: has a header but no data rows")
    if len(header) == frame.shape[1] - 1:
        header = [""] + header  # R's write.table leaves out the row-name cell of the header
    if len(header) != frame.shape[1]:
        raise InputError(
            f"{path}: the header has {len(header)} cells but the rows have {frame.shape[1]}; "
            "expected one header cell per column"
        )
    if frame.shape[1] < 2:
        raise InputError(
            f"{path}: has a single column; expected ids plus value columns separated by ',' or tabs"
        )
    if orientation == "auto":
        orientation = _decide_orientation(path, frame, header)
    if orientation == "features_x_samples":
        adata = _features_x_samples(path, frame, header)
    else:
        adata = _samples_x_features(path, frame, header)
    adata.uns["omicsdisent"]["orientation"] = orientation
    return adata


def _barcode_column(frame: pd.DataFrame) -> int | None:
    """The first of the leading columns that holds TCGA barcodes in over half its rows, if any."""
    for pos in range(min(_LEADING_ID_COLUMNS, frame.shape[1] - 1)):
        if frame[pos].dtype == object and barcode_fraction(frame[pos].astype(str)) > 0.5:
            return pos
    return None


def _decide_orientation(path: Path, frame: pd.DataFrame, header: list[str]) -> str:
    header_values = header[1:]
    first_values = frame[0].astype(str).tolist()
    in_header = barcode_fraction(header_values) > 0.5
    in_rows = _barcode_column(frame) is not None
    if in_header and not in_rows:
        return "features_x_samples"
    if in_rows and not in_header:
        return "samples_x_features"
    if not in_header and not in_rows:
        if header[0].lower() in FEATURE_ID_COLUMNS:
            return "features_x_samples"
        if any(name.lower() in SAMPLE_ID_COLUMNS for name in header[:_LEADING_ID_COLUMNS]):
            return "samples_x_features"
        feat_header = _share(header_values, _FEATURE_PATTERNS)
        feat_rows = _share(first_values, _FEATURE_PATTERNS)
        if feat_header > 0.5 and feat_rows <= 0.5:
            return "samples_x_features"
        if feat_rows > 0.5 and feat_header <= 0.5:
            return "features_x_samples"
        code_header = _share(header_values, _PARTICIPANT_CODE)
        code_rows = _share(first_values, _PARTICIPANT_CODE)
        if code_rows >= 0.9 and code_header < 0.5:
            return "samples_x_features"
        if code_header >= 0.9 and code_rows < 0.5:
            return "features_x_samples"
    raise InputError(
        f"{path}: cannot tell whether rows are samples or features (no TCGA barcodes or recognisable "
        "feature ids on one axis only); set orientation='samples_x_features' or 'features_x_samples' "
        "(--orientation)"
    )


def _share(values: list[str], pattern: re.Pattern) -> float:
    if not values:
        return 0.0
    return sum(pattern.match(v.strip()) is not None for v in values) / len(values)


def _numeric_columns(path: Path, frame: pd.DataFrame, positions, header, describe_row) -> tuple[list[int], list[int]]:
    """Split column ``positions`` into numeric ones and text annotation ones; mixed columns are an error.

    Converts object columns that hold numbers in place. ``describe_row(i)`` names row ``i`` in messages.
    """
    numeric, text = [], []
    for pos in positions:
        values = frame[pos]
        if pd.api.types.is_bool_dtype(values):
            text.append(pos)
            continue
        if pd.api.types.is_numeric_dtype(values):
            numeric.append(pos)
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna().to_numpy() & converted.isna().to_numpy()
        n_bad, n_present = int(bad.sum()), int(values.notna().sum())
        if n_bad == 0:
            frame[pos] = converted
            numeric.append(pos)
        elif n_bad == n_present:
            text.append(pos)
        else:
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: non-numeric value {values.iloc[row]!r} in column {header[pos]!r} at "
                f"{describe_row(row)} ({n_bad} such cells in that column); expected numbers or an empty/NA cell"
            )
    return numeric, text


def _samples_x_features(path: Path, frame: pd.DataFrame, header: list[str]) -> ad.AnnData:
    id_pos = next((i for i, name in enumerate(header) if name.lower() in SAMPLE_ID_COLUMNS), None)
    if id_pos is None:
        id_pos = _barcode_column(frame) or 0
    # An unnamed first column before the id column is R's row names (1, 2, ...), not data.
    row_names = [0] if id_pos != 0 and header[0] == "" else []
    ids = frame[id_pos]
    _check_ids(path, ids, "sample id", f"column {header[id_pos]!r}")
    ids = ids.astype(str).str.strip()
    value_pos = [i for i in range(frame.shape[1]) if i != id_pos and i not in row_names]
    numeric, text = _numeric_columns(path, frame, value_pos, header, lambda i: f"sample {ids.iloc[i]!r}")
    text = sorted(row_names + text)
    if not numeric:
        raise InputError(f"{path}: no numeric data columns besides the ids in column {header[id_pos]!r}")
    X = frame[numeric].to_numpy(dtype=np.float32)
    features = pd.Index([header[i] for i in numeric])
    n_repeated = int(features.duplicated().sum())
    adata = _make_adata(X, ids, features, path)
    if n_repeated:
        adata.var_names_make_unique()
    adata.uns["omicsdisent"].update(
        dropped_columns=[header[i] for i in text], id_column=header[id_pos], repeated_feature_ids=n_repeated
    )
    return adata


def _features_x_samples(path: Path, frame: pd.DataFrame, header: list[str]) -> ad.AnnData:
    sample_pos = list(range(1, frame.shape[1]))
    known = [i for i in sample_pos if header[i].lower() in ANNOTATION_COLUMNS]
    candidates = [i for i in sample_pos if i not in known]
    feature_ids = frame[0]
    numeric, text = _numeric_columns(
        path, frame, candidates, header, lambda i: f"feature {str(feature_ids.iloc[i])!r}"
    )
    if not numeric:
        raise InputError(f"{path}: no numeric sample columns besides the feature ids in column {header[0]!r}")
    samples = pd.Series([header[i] for i in numeric])
    _check_ids(path, samples, "sample id", "the header")
    annotation = sorted(known + text)
    if feature_ids.isna().any() and annotation:
        # cBioPortal: a missing Hugo_Symbol can be named by the next annotation column (Entrez id).
        feature_ids = feature_ids.fillna(frame[annotation[0]].astype(str))
    _check_ids(path, feature_ids, "feature id", f"column {header[0]!r}", unique=False)
    features = pd.Index(feature_ids.astype(str).str.strip())
    n_repeated = int(features.duplicated().sum())
    X = frame[numeric].to_numpy(dtype=np.float32).T
    adata = _make_adata(X, samples.str.strip(), features, path)
    if n_repeated:
        adata.var_names_make_unique()
    adata.uns["omicsdisent"].update(
        dropped_columns=[header[i] for i in annotation], id_column=header[0], repeated_feature_ids=n_repeated
    )
    return adata


def _check_ids(path: Path, ids: pd.Series, what: str, where: str, unique: bool = True) -> None:
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(f"{path}: {int(missing.sum())} empty {what}(s) in {where} (first at position {row + 1})")
    if unique:
        cleaned = ids.astype(str).str.strip()
        repeated = cleaned[cleaned.duplicated()]
        if len(repeated):
            first = repeated.iloc[0]
            raise InputError(
                f"{path}: {what} {first!r} appears {int((cleaned == first).sum())} times in {where}; "
                "ids must be unique within a file"
            )


def _make_adata(X: np.ndarray, samples: pd.Series, features: pd.Index, path: Path) -> ad.AnnData:
    obs = pd.DataFrame(index=pd.Index(samples.to_numpy(dtype=str), name=None))
    var = pd.DataFrame(index=pd.Index(features.to_numpy(dtype=str), name=None))
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.uns["omicsdisent"] = {"source": str(path)}
    return adata


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
