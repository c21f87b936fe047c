"""A simulated multi-omics cohort whose shared and private factors are known.

Generative story (every draw comes from one seed):

- **Subtypes**: ``n_subtypes`` groups (``S1``, ``S2``, ...) with Dirichlet proportions. Each has a mean
  in shared space.
- **Shared factors** ``z`` (samples x ``n_shared``): the sample's subtype mean plus unit Gaussian noise,
  then standardised per factor (mean 0, sd 1). Subtype is therefore a function of the shared space.
- **Private factors** ``w_m`` (samples x ``n_private``), one independent standard Gaussian set per
  modality; ``w_m`` drives modality ``m`` only.
- **Modalities**: a signal ``eta = z A_m^T + w_m B_m^T`` (samples x features). A row of ``A_m`` is
  non-zero for a ``shared_feature_fraction`` of the features, scaled so that the shared signal has sd
  ``shared_effect`` on those features (likewise ``B_m`` with the private fraction and effect). Then:

  - ``rna`` (counts): negative binomial counts, mean ``library_i * exp(baseline_j + eta_ij)``,
    inverse dispersion 5 to 20 per gene; library factors are log-normal (sd 0.35 on the log scale).
    ``eta`` is on the natural-log scale of the mean.
  - ``methyl`` (betas): M-value ``baseline_j + eta_ij + N(0, 0.5^2)`` with bimodal baselines
    (hypo / intermediate / hyper methylated), turned into betas ``2^M / (1 + 2^M)``. ``eta`` is in
    M-value units (log2 ratio).
  - ``mirna``, ``protein``, ``cnv`` (continuous): ``baseline_j + eta_ij + N(0, 0.5^2)`` on a log scale.

- **Survival**: Weibull proportional hazards (shape 1.3, scale 2000 days) with log hazard ratio
  ``z . beta``, ``|beta| = 0.8``, so only the shared factors carry risk; independent uniform censoring
  between 180 and 4000 days. About half the patients have an event.

Regimes (defaults of the ``None`` options):

==========================  =================  ===============
option                      default            ``weak_shared``
==========================  =================  ===============
shared_feature_fraction     0.30               0.05
shared_effect               0.8                0.3
private_feature_fraction    0.30               0.60
private_effect              0.8                1.0
==========================  =================  ===============

With ``weak_shared=True`` the shared signal sits in few features, below the noise level, while the
private factors drive many features strongly: reconstruction alone tends to miss it.

Ids and files: sample barcodes ``TCGA-SM-XXXX-01A`` (project code ``SM``, 4-character base-36
participant code, primary tumour ``01A``); patients are ``TCGA-SM-XXXX``. The clinical table follows the
TCGA-CDR columns: ``bcr_patient_barcode``, ``OS`` (1 death, 0 censored), ``OS.time`` (days), plus
``subtype``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import mudata
import numpy as np
import pandas as pd
from mudata import MuData

from omicsdisent.errors import InputError

# Modality name -> kind of values written; the kind decides the noise model above.
MODALITY_KINDS = {"rna": "counts", "methyl": "methylation", "mirna": "continuous", "protein": "continuous", "cnv": "continuous"}
DEFAULT_N_FEATURES = {"rna": 1000, "methyl": 1000, "mirna": 300, "protein": 150, "cnv": 300}
REGIMES = {
    False: {"shared_feature_fraction": 0.30, "shared_effect": 0.8, "private_feature_fraction": 0.30, "private_effect": 0.8},
    True: {"shared_feature_fraction": 0.05, "shared_effect": 0.3, "private_feature_fraction": 0.60, "private_effect": 1.0},
}
PROJECT_CODE = "SM"
SURVIVAL_LOG_HAZARD_NORM = 0.8
WEIBULL_SHAPE = 1.3
WEIBULL_SCALE_DAYS = 2000.0
CENSORING_DAYS = (180.0, 4000.0)
NOISE_SD = 0.5
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def simulate_cohort(
    n_samples: int = 500,
    n_shared: int = 4,
    n_private: int = 4,
    modalities: Sequence[str] = ("rna", "methyl"),
    n_features: int | Mapping[str, int] | None = None,
    weak_shared: bool = False,
    shared_feature_fraction: float | None = None,
    shared_effect: float | None = None,
    private_feature_fraction: float | None = None,
    private_effect: float | None = None,
    missing_fraction: float = 0.0,
    n_subtypes: int = 4,
    seed: int = 0,
) -> MuData:
    """Simulate a cohort with known shared and private factors (see the module docstring).

    Parameters: ``modalities`` from ``rna`` (counts), ``methyl`` (betas), ``mirna`` / ``protein`` /
    ``cnv`` (continuous log-scale); ``n_features`` one count for all or a mapping per modality
    (default 1000 for rna and methyl); ``missing_fraction``: the share of samples (rounded) that each
    lack exactly one modality, chosen uniformly, so at least one is always present; ``None`` effect
    options take the regime defaults in the module docstring.

    Returns a MuData whose ``mod[m]`` (samples x features, sample barcodes as ``obs_names``, only the
    samples that have ``m``) holds exactly what :func:`write_simulated_cohort` writes to ``m.h5ad``:

    - ``X``: counts (float32 integers), betas or log-scale values;
    - ``obsm["true_shared"]`` (n x ``n_shared``), ``obsm["true_private"]`` (n x ``n_private``, this
      modality's own factors); for ``rna`` also ``obs["true_library_size"]`` (reads);
    - ``var["shared_feature"]`` / ``var["private_feature"]`` (bool) and ``varm["shared_loadings"]`` /
      ``varm["private_loadings"]``: which features carry which signal;
    - ``uns["simulation"]``: every parameter, the kind and the seed.

    ``mdata.obs`` (all samples, in mudata's union order: those of the first modality, then the
    others) has ``patient``, ``subtype`` (categorical ``S1``...), ``OS_time``
    (days, float) and ``OS_event`` (1.0 death, 0.0 censored); ``mdata.obsm["true_shared"]`` holds the
    shared factors of every sample. Equal arguments give identical data on every machine.
    """
    params = _check_parameters(
        n_samples, n_shared, n_private, modalities, n_features, weak_shared, shared_feature_fraction,
        shared_effect, private_feature_fraction, private_effect, missing_fraction, n_subtypes, seed,
    )
    modalities = params["modalities"]
    # One independent stream per part, so adding a modality does not change the others.
    streams = np.random.SeedSequence(seed).spawn(3 + len(MODALITY_KINDS))
    rng_cohort, rng_survival, rng_missing = (np.random.default_rng(s) for s in streams[:3])
    modality_rngs = {name: np.random.default_rng(streams[3 + i]) for i, name in enumerate(MODALITY_KINDS)}

    samples = [f"TCGA-{PROJECT_CODE}-{_base36(i + 1)}-01A" for i in range(n_samples)]
    patients = [s[:12] for s in samples]
    subtype_codes, shared = _shared_factors(rng_cohort, n_samples, n_shared, n_subtypes)
    os_time, os_event, log_hazard_weights = _survival(rng_survival, shared)
    present = _presence(rng_missing, n_samples, modalities, missing_fraction)

    mods = {}
    for name in modalities:
        rng = modality_rngs[name]
        private = rng.standard_normal((n_samples, n_private))
        values, var, varm, extra_obs = _modality_values(rng, name, shared, private, params)
        keep = present[name]
        obs = pd.DataFrame({key: col[keep] for key, col in extra_obs.items()}, index=pd.Index(np.array(samples)[keep]))
        adata = ad.AnnData(X=values[keep], obs=obs, var=var)
        adata.varm["shared_loadings"] = varm["shared"]
        adata.varm["private_loadings"] = varm["private"]
        adata.obsm["true_shared"] = shared[keep]
        adata.obsm["true_private"] = private[keep]
        adata.uns["simulation"] = {
            **_uns_parameters(params),
            "modality": name,
            "kind": MODALITY_KINDS[name],
            "survival_log_hazard_weights": log_hazard_weights.tolist(),
        }
        mods[name] = adata

    # The mudata 0.4 behaviour (no pulling of modality columns), without its FutureWarning.
    with mudata.set_options(pull_on_update=False):
        mdata = MuData(mods)
    # Per-modality columns (``rna:true_library_size``) stay in their modality; obs holds the clinical data.
    mdata.obs = mdata.obs.drop(columns=[c for c in mdata.obs.columns if ":" in c])
    # MuData orders the union by first appearance in the modalities; map each sample back to the cohort.
    order = pd.Index(samples).get_indexer(mdata.obs_names)
    mdata.obs["patient"] = np.array(patients)[order]
    mdata.obs["subtype"] = pd.Categorical.from_codes(subtype_codes[order], categories=_subtype_names(n_subtypes))
    mdata.obs["OS_time"] = os_time[order]
    mdata.obs["OS_event"] = os_event[order]
    mdata.obsm["true_shared"] = shared[order]
    mdata.uns["simulation"] = {**_uns_parameters(params), "survival_log_hazard_weights": log_hazard_weights.tolist()}
    return mdata


def clinical_table(mdata: MuData) -> pd.DataFrame:
    """The TCGA-CDR-style clinical table of a simulated cohort, one row per patient.

    Columns: ``bcr_patient_barcode``, ``subtype``, ``OS`` (int, 1 death / 0 censored) and ``OS.time``
    (days, float).
    """
    obs = mdata.obs
    return pd.DataFrame(
        {
            "bcr_patient_barcode": obs["patient"].to_numpy(),
            "subtype": obs["subtype"].astype(str).to_numpy(),
            "OS": obs["OS_event"].astype(int).to_numpy(),
            "OS.time": obs["OS_time"].to_numpy(),
        }
    )


def write_simulated_cohort(out_dir: str | os.PathLike, overwrite: bool = False, **kwargs) -> dict[str, Path]:
    """Simulate a cohort (``kwargs`` as :func:`simulate_cohort`) and write it to ``out_dir``.

    Writes ``<modality>.h5ad`` for each modality and ``clinical.csv`` (see :func:`clinical_table`).
    Existing files are refused with :class:`InputError` unless ``overwrite=True``; other files in the
    folder are left alone. Every file is first written under a temporary name in ``out_dir`` and moved
    into place only once all of them are written, so a failure leaves no partial output.

    Returns ``{modality: path, ..., "clinical": path}``.
    """
    mdata = simulate_cohort(**kwargs)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is not a folder")
    targets = {name: out / f"{name}.h5ad" for name in mdata.mod}
    targets["clinical"] = out / "clinical.csv"
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]} already exists; pass --force (overwrite=True) to replace it")
    out.mkdir(parents=True, exist_ok=True)

    temporary: dict[str, Path] = {}
    try:
        for name, path in targets.items():
            handle, tmp_name = tempfile.mkstemp(dir=out, prefix=f".{path.stem}.", suffix=".tmp" + path.suffix)
            os.close(handle)
            temporary[name] = Path(tmp_name)
            if name == "clinical":
                clinical_table(mdata).to_csv(temporary[name], index=False)
            else:
                mdata.mod[name].write_h5ad(temporary[name])
        for name, path in targets.items():
            os.replace(temporary[name], path)
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
    return targets


def _check_parameters(
    n_samples, n_shared, n_private, modalities, n_features, weak_shared, shared_feature_fraction,
    shared_effect, private_feature_fraction, private_effect, missing_fraction, n_subtypes, seed,
) -> dict:
    def positive_int(value, option, minimum=1):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise InputError(f"option {option} must be an integer >= {minimum}, got {value!r}")
        return int(value)

    def fraction(value, option, low_open=False):
        ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
        if not ok or not (0 < value <= 1 if low_open else 0 <= value <= 1):
            interval = "(0, 1]" if low_open else "[0, 1]"
            raise InputError(f"option {option} must be a number in {interval}, got {value!r}")
        return float(value)

    def effect(value, option):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or value < 0:
            raise InputError(f"option {option} must be a non-negative number, got {value!r}")
        return float(value)

    n_samples = positive_int(n_samples, "n_samples", 10)
    if n_samples > 36**4 - 1:
        raise InputError(f"option n_samples must be at most {36**4 - 1} (4-character participant codes), got {n_samples}")
    if isinstance(modalities, str):
        modalities = (modalities,)
    modalities = tuple(modalities)
    if not modalities:
        raise InputError("option modalities must name at least one modality")
    for name in modalities:
        if name not in MODALITY_KINDS:
            raise InputError(f"option modalities: unknown modality {name!r}; expected some of {', '.join(MODALITY_KINDS)}")
    if len(set(modalities)) != len(modalities):
        raise InputError(f"option modalities lists a modality twice: {modalities}")
    if n_features is None:
        n_features = {name: DEFAULT_N_FEATURES[name] for name in modalities}
    elif isinstance(n_features, Mapping):
        unknown = sorted(set(n_features) - set(modalities))
        if unknown:
            raise InputError(f"option n_features names modality {unknown[0]!r}, which is not simulated")
        n_features = {name: n_features.get(name, DEFAULT_N_FEATURES[name]) for name in modalities}
    else:
        n_features = dict.fromkeys(modalities, n_features)
    n_features = {name: positive_int(n, f"n_features[{name!r}]", 2) for name, n in n_features.items()}
    regime = REGIMES[bool(weak_shared)]
    missing_fraction = fraction(missing_fraction, "missing_fraction")
    if missing_fraction > 0 and len(modalities) < 2:
        raise InputError("option missing_fraction > 0 needs at least two modalities (every sample keeps one)")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"option seed must be a non-negative integer, got {seed!r}")
    return {
        "n_samples": n_samples,
        "n_shared": positive_int(n_shared, "n_shared"),
        "n_private": positive_int(n_private, "n_private"),
        "modalities": modalities,
        "n_features": n_features,
        "weak_shared": bool(weak_shared),
        "shared_feature_fraction": fraction(
            regime["shared_feature_fraction"] if shared_feature_fraction is None else shared_feature_fraction,
            "shared_feature_fraction", low_open=True,
        ),
        "shared_effect": effect(regime["shared_effect"] if shared_effect is None else shared_effect, "shared_effect"),
        "private_feature_fraction": fraction(
            regime["private_feature_fraction"] if private_feature_fraction is None else private_feature_fraction,
            "private_feature_fraction", low_open=True,
        ),
        "private_effect": effect(regime["private_effect"] if private_effect is None else private_effect, "private_effect"),
        "missing_fraction": missing_fraction,
        "n_subtypes": positive_int(n_subtypes, "n_subtypes"),
        "seed": int(seed),
    }


def _uns_parameters(params: dict) -> dict:
    """The parameters as plain h5ad-friendly values."""
    return {**params, "modalities": list(params["modalities"]), "n_features": dict(params["n_features"])}


def _base36(number: int) -> str:
    digits = []
    for _ in range(4):
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits))


def _subtype_names(n_subtypes: int) -> list[str]:
    return [f"S{k + 1}" for k in range(n_subtypes)]


def _shared_factors(rng: np.random.Generator, n: int, n_shared: int, n_subtypes: int):
    """Subtype codes (n,) and standardised shared factors (n x n_shared)."""
    proportions = rng.dirichlet(np.full(n_subtypes, 4.0))
    codes = rng.choice(n_subtypes, size=n, p=proportions)
    means = rng.normal(0.0, 1.5, size=(n_subtypes, n_shared))
    shared = means[codes] + rng.standard_normal((n, n_shared))
    shared = (shared - shared.mean(axis=0)) / shared.std(axis=0)
    return codes, shared


def _survival(rng: np.random.Generator, shared: np.ndarray):
    """Overall survival (days, float; event 1.0/0.0) from Weibull proportional hazards in the shared factors."""
    weights = rng.standard_normal(shared.shape[1])
    weights *= SURVIVAL_LOG_HAZARD_NORM / np.linalg.norm(weights)
    log_hazard = shared @ weights
    # Inverse-CDF draw: S(t) = exp(-(t / scale)^shape * exp(log_hazard)).
    event_time = WEIBULL_SCALE_DAYS * (-np.log(rng.uniform(size=len(shared))) * np.exp(-log_hazard)) ** (1 / WEIBULL_SHAPE)
    censor_time = rng.uniform(*CENSORING_DAYS, size=len(shared))
    time = np.maximum(np.ceil(np.minimum(event_time, censor_time)), 1.0)
    event = (event_time <= censor_time).astype(float)
    return time, event, weights


def _presence(rng: np.random.Generator, n: int, modalities: tuple, missing_fraction: float) -> dict:
    """Boolean presence (n,) per modality: round(missing_fraction * n) samples each lack one modality."""
    present = {name: np.ones(n, dtype=bool) for name in modalities}
    n_missing = int(round(missing_fraction * n))
    if n_missing:
        lacking = rng.choice(n, size=n_missing, replace=False)
        dropped = rng.integers(len(modalities), size=n_missing)
        for sample, which in zip(lacking, dropped):
            present[modalities[which]][sample] = False
    return present


def _loadings(rng: np.random.Generator, n_features: int, n_factors: int, fraction: float, effect: float):
    """Loadings (n_features x n_factors): a random ``fraction`` of rows with norm ``effect``, others zero.

    With standardised, roughly independent factors, an active feature's signal then has sd ~ ``effect``.
    """
    n_active = max(1, int(round(fraction * n_features)))
    active = np.zeros(n_features, dtype=bool)
    active[rng.choice(n_features, size=n_active, replace=False)] = True
    loadings = np.zeros((n_features, n_factors))
    rows = rng.standard_normal((n_active, n_factors))
    loadings[active] = effect * rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return loadings, active


def _modality_values(rng: np.random.Generator, name: str, shared: np.ndarray, private: np.ndarray, params: dict):
    """Values (samples x features), var, varm loadings and extra obs columns of one modality."""
    n, p = len(shared), params["n_features"][name]
    shared_loadings, shared_active = _loadings(
        rng, p, shared.shape[1], params["shared_feature_fraction"], params["shared_effect"]
    )
    private_loadings, private_active = _loadings(
        rng, p, private.shape[1], params["private_feature_fraction"], params["private_effect"]
    )
    signal = shared @ shared_loadings.T + private @ private_loadings.T
    kind = MODALITY_KINDS[name]
    extra_obs = {}
    if kind == "counts":
        feature_names = [f"GENE{j + 1:05d}" for j in range(p)]
        baseline = rng.normal(2.5, 1.2, size=p)
        library = np.exp(rng.normal(0.0, 0.35, size=n))
        inverse_dispersion = rng.uniform(5.0, 20.0, size=p)
        mean = library[:, None] * np.exp(baseline + signal)
        # Negative binomial as a Gamma-Poisson mixture with mean `mean` and shape `inverse_dispersion`.
        rate = rng.gamma(shape=inverse_dispersion, scale=mean / inverse_dispersion)
        values = rng.poisson(rate).astype(np.float32)
        extra_obs["true_library_size"] = library * np.exp(baseline).sum()
    elif kind == "methylation":
        feature_names = [f"cg{j + 1:08d}" for j in range(p)]
        state = rng.choice(3, size=p, p=[0.4, 0.2, 0.4])
        baseline = np.array([-3.0, 0.0, 3.0])[state] + rng.normal(0.0, 1.0, size=p)
        mvalues = baseline + signal + rng.normal(0.0, NOISE_SD, size=(n, p))
        values = (1.0 / (1.0 + np.exp2(-mvalues))).astype(np.float32)
    else:
        feature_names = [f"{name.upper()}{j + 1:05d}" for j in range(p)]
        baseline = rng.normal(5.0, 2.0, size=p)
        values = (baseline + signal + rng.normal(0.0, NOISE_SD, size=(n, p))).astype(np.float32)
    var = pd.DataFrame(
        {"shared_feature": shared_active, "private_feature": private_active}, index=pd.Index(feature_names)
    )
    return values, var, {"shared": shared_loadings, "private": private_loadings}, extra_obs
