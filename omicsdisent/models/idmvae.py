"""The user-facing model: :class:`IDMVAE` on a MuData (or a dict of AnnData).

This is the *model* layer of the scvi-tools split: it turns AnnData into tensors, hands them to the
Pyro *module* (:class:`omicsdisent.models.module.IDMVAEModule`, pure maths) and the *trainer*
(:mod:`omicsdisent.train`), and turns the module's codes back into arrays and AnnData.

Typical use::

    import omicsdisent as od

    od.pp.preprocess(mdata)
    model = od.IDMVAE(mdata, z_dim=16, w_dim=32)
    model.train(max_epochs=50, seed=0)
    mdata.obsm["X_shared"] = model.get_latent(kind="shared")
    mdata.obsm["X_private_rna"] = model.get_latent(kind="private", modality="rna")
    model.save("model/")
    model = od.IDMVAE.load("model/", mdata)
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig, default_hidden
from omicsdisent.models.module import IDMVAEModule

MODALITY_TYPES = ("counts", "methylation", "continuous")

# modality type -> (default likelihood, likelihoods allowed for it)
_LIKELIHOODS_BY_TYPE = {
    "counts": ("nb", ("nb", "normal", "laplace")),
    "methylation": ("normal", ("normal", "beta", "laplace")),
    "continuous": ("normal", ("normal", "laplace")),
}
# likelihood -> the AnnData layer holding its targets (None: X)
_TARGET_LAYER = {"nb": "counts", "beta": "beta", "normal": None, "laplace": None}

# Betas of exactly 0 or 1 have no Beta density; they are pulled this far inside (0, 1).
_BETA_EPS = 1e-4
_EVAL_CHUNK = 1024


@dataclass(frozen=True)
class ModalityLayout:
    """How one modality's AnnData becomes tensors; saved with the model.

    ``feature_names`` fixes the column order of every tensor; ``target_layer`` is where the likelihood's
    targets are read (``None``: ``X``). For count modalities, ``library_median`` is the median library
    size (total counts per sample) of the training data, used when a sample's own library is unknown,
    ``library_target`` the ``normalize_total`` target that ``pp`` used to make ``X``, and ``input_total``
    the median over training samples of ``sum_g expm1(X_g)`` over the kept features (what the encoder's
    inputs add up to on the count scale; below ``library_target`` when genes were selected after
    normalisation). Models saved before ``input_total`` existed load with None (``library_target`` is used).
    """

    name: str
    modality_type: str
    likelihood: str
    feature_names: tuple[str, ...]
    target_layer: str | None
    library_median: float | None = None
    library_target: float | None = None
    input_total: float | None = None

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def uses_library(self) -> bool:
        return self.likelihood == "nb"

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["feature_names"] = list(self.feature_names)
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> ModalityLayout:
        data = dict(data)
        data["feature_names"] = tuple(data["feature_names"])
        return cls(**data)


# ----------------------------------------------------------------------------------------------
# Input checks and tensors
# ----------------------------------------------------------------------------------------------


def as_mudata(data: md.MuData | Mapping[str, ad.AnnData], what: str = "data") -> md.MuData:
    """Accept a MuData or a dict ``{modality: AnnData}`` (samples in ``obs_names``); return a MuData."""
    if isinstance(data, md.MuData):
        return data
    if isinstance(data, Mapping):
        if not data:
            raise InputError(f"{what}: the dict of modalities is empty; expected {{name: AnnData}}")
        for name, adata in data.items():
            if not isinstance(adata, ad.AnnData):
                raise InputError(
                    f"{what}: modality {name!r} is a {type(adata).__name__}; expected an AnnData"
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mudata warns about var names shared across modalities
            return md.MuData(dict(data))
    raise InputError(f"{what}: got a {type(data).__name__}; expected a MuData or a dict of AnnData")


def _recorded_type(adata: ad.AnnData) -> str | None:
    info = adata.uns.get("omicsdisent", {})
    return info.get("modality_type") if isinstance(info, Mapping) else None


def _modality_type(adata: ad.AnnData, name: str) -> str:
    recorded = _recorded_type(adata)
    if recorded is not None:
        if recorded not in MODALITY_TYPES:
            raise InputError(
                f"modality {name!r}: uns['omicsdisent']['modality_type'] is {recorded!r}; "
                f"expected one of {', '.join(MODALITY_TYPES)}"
            )
        return recorded
    try:
        from omicsdisent.pp import infer_modality_type
    except ImportError:
        infer_modality_type = None
    if infer_modality_type is not None:
        inferred = infer_modality_type(adata, name=name)
        if inferred in MODALITY_TYPES:
            return inferred
    warnings.warn(
        f"modality {name!r} has no recorded type (run omicsdisent.pp.preprocess first); "
        "treating it as continuous with a Normal likelihood on X",
        UserWarning,
        stacklevel=3,
    )
    return "continuous"


def _preprocessing_record(adata: ad.AnnData, name: str, mtype: str):
    """The pp record of a modality (None when it was not preprocessed by omicsdisent.pp or predates records)."""
    try:
        from omicsdisent.pp import preprocessing_record
    except ImportError:
        return None
    record = preprocessing_record(adata, name)
    if record is not None and record.modality_type != mtype:
        return None
    return record


def _dense(matrix) -> np.ndarray:
    if sp.issparse(matrix):
        matrix = matrix.toarray()
    return np.asarray(matrix)


def _numeric_matrix(matrix, where: str) -> np.ndarray:
    array = _dense(matrix)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{where} has dtype {array.dtype}; expected numbers")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise InputError(
            f"{where} has non-finite values (NaN or inf), first at row {bad[0]}, column {bad[1]}; "
            "impute or drop them before fitting"
        )
    return array


def _feature_order(adata: ad.AnnData, layout: ModalityLayout) -> np.ndarray | None:
    """Column indexer that puts ``adata``'s features in the layout's order (None: already in order)."""
    names = adata.var_names.astype(str)
    expected = pd.Index(layout.feature_names)
    if names.equals(expected):
        return None
    missing = expected.difference(names, sort=False)
    extra = names.difference(expected, sort=False)
    if len(missing) or len(extra) or not names.is_unique:
        parts = []
        if len(missing):
            parts.append(f"{len(missing)} missing (first: {', '.join(map(str, missing[:3]))})")
        if len(extra):
            parts.append(f"{len(extra)} unexpected (first: {', '.join(map(str, extra[:3]))})")
        if not names.is_unique:
            parts.append("duplicated feature names")
        raise DataMismatchError(
            f"modality {layout.name!r}: features differ from the model's {layout.n_features}: "
            + "; ".join(parts)
        )
    return names.get_indexer(expected)


def input_totals(x: np.ndarray) -> np.ndarray:
    """Per-sample totals on the count scale of log1p-normalised inputs: ``sum_g expm1(x_g)``, ``[n]``.

    x ``[n, d]`` is a count modality's ``X`` (``log1p`` of counts scaled to the library target).
    """
    return np.expm1(np.asarray(x, dtype=np.float64)).sum(axis=1)


def _modality_arrays(adata: ad.AnnData, layout: ModalityLayout, order: np.ndarray | None) -> dict:
    """Encoder inputs, likelihood targets and library sizes of one modality (present samples only)."""
    name = layout.name
    x = _numeric_matrix(adata.X, f"modality {name!r} X")
    if layout.target_layer is None:
        target = x
    else:
        if layout.target_layer not in adata.layers:
            raise InputError(
                f"modality {name!r}: the {layout.likelihood!r} likelihood needs "
                f"layers[{layout.target_layer!r}], which is absent; run omicsdisent.pp.preprocess "
                "or choose another likelihood"
            )
        target = _numeric_matrix(adata.layers[layout.target_layer], f"modality {name!r} layers[{layout.target_layer!r}]")
    if layout.likelihood == "nb" and (target < 0).any():
        raise InputError(f"modality {name!r} layers['counts'] has negative values; expected counts >= 0")
    if layout.likelihood == "beta":
        if ((target < 0) | (target > 1)).any():
            raise InputError(f"modality {name!r} layers['beta'] has values outside [0, 1]; expected betas")
        target = np.clip(target, _BETA_EPS, 1 - _BETA_EPS)
    if order is not None:
        x, target = x[:, order], target[:, order]
    out = {"x": x, "target": target}
    if layout.uses_library:
        out["library"] = target.sum(axis=1)
        empty = np.flatnonzero(out["library"] <= 0)
        if empty.size:
            raise InputError(
                f"modality {name!r}: sample {adata.obs_names[empty[0]]!r} has no counts "
                f"({empty.size} such samples); drop them or remove the modality for them"
            )
    return out


@dataclass
class TensorData:
    """The whole data set as tensors, in the module's batch layout.

    ``batch`` has ``"x"`` ({modality: float32 [n, d_m]}, rows of absent modalities zero), ``"mask"``
    (bool [n, M], column i = modality i of the model), the likelihood targets and ``"library"``
    ({count modality: float32 [n]}, total counts; absent rows hold the training median).
    """

    obs_names: pd.Index
    batch: dict


def build_tensors(
    mdata: md.MuData, layouts: Sequence[ModalityLayout], *, require_all: bool = True
) -> TensorData:
    """Turn ``mdata`` into :class:`TensorData` over the union of its samples (``mdata.obs_names``).

    Features of each modality must be those of ``layouts`` (another order is reordered). With
    ``require_all=False`` a modality absent from ``mdata`` is treated as missing for every sample.
    """
    obs_names = pd.Index(mdata.obs_names.astype(str))
    if not obs_names.is_unique:
        dup = obs_names[obs_names.duplicated()][0]
        raise InputError(f"sample ids are not unique (first duplicate: {dup!r})")
    n = len(obs_names)
    xs, targets, libraries = {}, {}, {}
    mask = np.zeros((n, len(layouts)), dtype=bool)
    for i, layout in enumerate(layouts):
        name = layout.name
        xs[name] = np.zeros((n, layout.n_features), dtype=np.float32)
        targets[name] = np.zeros((n, layout.n_features), dtype=np.float32)
        if layout.uses_library:
            libraries[name] = np.full(n, layout.library_median or 1.0, dtype=np.float32)
        if name not in mdata.mod:
            if require_all:
                raise InputError(
                    f"modality {name!r} is absent from the data; it has {', '.join(mdata.mod)}"
                )
            continue
        adata = mdata.mod[name]
        arrays = _modality_arrays(adata, layout, _feature_order(adata, layout))
        rows = np.asarray(mdata.obsmap[name]).astype(np.int64) - 1  # mudata: 0 = absent, else 1-based row
        present = rows >= 0
        mask[present, i] = True
        xs[name][present] = arrays["x"][rows[present]]
        targets[name][present] = arrays["target"][rows[present]]
        if layout.uses_library:
            libraries[name][present] = arrays["library"][rows[present]]
    batch = {
        "x": {k: torch.from_numpy(v) for k, v in xs.items()},
        "mask": torch.from_numpy(mask),
        "library": {k: torch.from_numpy(v) for k, v in libraries.items()},
        "target": {k: torch.from_numpy(v) for k, v in targets.items()},
    }
    return TensorData(obs_names=obs_names, batch=batch)


def _slice_batch(batch: dict, index: slice) -> dict:
    out = {}
    for key, value in batch.items():
        out[key] = {k: v[index] for k, v in value.items()} if isinstance(value, dict) else value[index]
    return out


def _to_device(batch: dict, device: torch.device) -> dict:
    out = {}
    for key, value in batch.items():
        out[key] = {k: v.to(device) for k, v in value.items()} if isinstance(value, dict) else value.to(device)
    return out


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------


class IDMVAE:
    """IDMVAE on a multi-omics cohort: a shared code ``z`` and one private code ``w_m`` per modality.

    Parameters
    ----------
    mdata
        A MuData aligned by :func:`omicsdisent.io.read_modalities` (``mdata.obs_names`` is the union of
        samples, presence from ``mdata.obsmap``), or a dict ``{modality: AnnData}`` whose AnnData are
        aligned by their ``obs_names``. Preprocess it first with :func:`omicsdisent.pp.preprocess`.
    modalities
        Modalities to model, in order (default: all of ``mdata.mod``).
    likelihoods
        ``{modality: likelihood}`` to override the default chosen from the modality type recorded in
        ``adata.uns["omicsdisent"]["modality_type"]``: counts -> ``"nb"`` (negative binomial on
        ``layers["counts"]`` with the library size), methylation -> ``"normal"`` on the M-values in ``X``
        (``"beta"``: Beta on ``layers["beta"]``), continuous -> ``"normal"`` on ``X`` (``"laplace"``).
        The encoders always read ``X``.
    **model_config
        Fields of :class:`omicsdisent.models.ModelConfig` (``z_dim``, ``w_dim``, ``beta``, ``lambda_mi``,
        ``lambda_genaug``, ``prior``, ...).

    Attributes
    ----------
    preprocessing
        ``{modality: omicsdisent.pp.PreprocessingRecord or None}``: how each modality's raw values were
        preprocessed (features, library target, training medians, means and sds), taken from
        ``adata.uns["omicsdisent"]`` and ``adata.var`` of data preprocessed by :mod:`omicsdisent.pp`;
        None for data preprocessed otherwise. Saved with the model; ``omicsdisent embed`` and
        ``impute`` apply it to new raw files (:func:`omicsdisent.pp.apply_preprocessing`).
    """

    def __init__(
        self,
        mdata: md.MuData | Mapping[str, ad.AnnData],
        modalities: Sequence[str] | None = None,
        likelihoods: Mapping[str, str] | None = None,
        **model_config,
    ):
        mdata = as_mudata(mdata)
        names = list(mdata.mod) if modalities is None else list(modalities)
        if isinstance(modalities, str):
            raise InputError("modalities: expected a list of modality names, got a single string")
        unknown = [m for m in names if m not in mdata.mod]
        if unknown:
            raise InputError(
                f"modalities: {', '.join(map(repr, unknown))} not in the data; it has {', '.join(mdata.mod)}"
            )
        if len(names) < 2:
            raise InputError(f"modalities: IDMVAE needs at least 2 modalities, got {len(names)}")
        likelihoods = dict(likelihoods or {})
        extra = set(likelihoods) - set(names)
        if extra:
            raise InputError(f"likelihoods: {', '.join(sorted(extra))} not among the modalities {', '.join(names)}")
        if "hidden" not in model_config:  # the size rule (config.default_hidden), not ModelConfig's own default
            model_config = {**model_config, "hidden": default_hidden(int(mdata.n_obs))}
        try:
            config = ModelConfig(**model_config)
        except TypeError as err:
            fields = ", ".join(f.name for f in dataclasses.fields(ModelConfig))
            raise InputError(f"model options: {err}; ModelConfig has {fields}") from None
        if config.supervise is not None and config.supervise.startswith("label:") and not config.supervise_classes:
            from omicsdisent.models.supervision import label_classes, outcome_columns

            column = outcome_columns(config.supervise)[0]
            if column not in mdata.obs.columns:
                shown = ", ".join(map(str, mdata.obs.columns[:12])) or "none"
                raise InputError(f"supervise {config.supervise}: obs has no column {column!r}; obs has {shown}")
            config = dataclasses.replace(config, supervise_classes=label_classes(mdata.obs, column))

        layouts, records = [], {}
        for name in names:
            adata = mdata.mod[name]
            mtype = _modality_type(adata, name)
            records[name] = _preprocessing_record(adata, name, mtype)
            default, allowed = _LIKELIHOODS_BY_TYPE[mtype]
            likelihood = likelihoods.get(name, default)
            if likelihood not in allowed:
                raise InputError(
                    f"likelihoods[{name!r}] = {likelihood!r} does not fit a {mtype} modality; "
                    f"expected one of {', '.join(allowed)}"
                )
            features = adata.var_names.astype(str)
            if not features.is_unique:
                dup = features[features.duplicated()][0]
                raise InputError(f"modality {name!r}: feature names are not unique (first duplicate: {dup!r})")
            target_layer = _TARGET_LAYER[likelihood]
            if target_layer == "counts" and "counts" not in adata.layers and _recorded_type(adata) is None:
                target_layer = None  # not preprocessed: the inferred counts are X itself
            layout = ModalityLayout(
                name=name,
                modality_type=mtype,
                likelihood=likelihood,
                feature_names=tuple(features),
                target_layer=target_layer,
            )
            if layout.uses_library:
                arrays = _modality_arrays(adata, layout, None)
                target_sum = adata.uns.get("omicsdisent", {}).get("target_sum")
                layout = dataclasses.replace(
                    layout,
                    library_median=float(np.median(arrays["library"])),
                    library_target=None if target_sum is None else float(target_sum),
                    input_total=float(np.median(input_totals(arrays["x"]))),
                )
            layouts.append(layout)

        self._setup(layouts, config)
        self.preprocessing = records
        self.mdata = mdata
        self._data = build_tensors(mdata, self.layouts)
        if self._data.batch["mask"].shape[0] == 0:
            raise InputError("the data has no samples")
        self._attach_outcome()

    def _attach_outcome(self) -> None:
        """Put the supervised outcome of ``self.mdata.obs`` into the training batch (supervised models only)."""
        if self.config.supervise is None or self._data is None or "outcome" in self._data.batch:
            return
        from omicsdisent.models.supervision import outcome_tensors

        obs = self.mdata.obs.copy()
        obs.index = obs.index.astype(str)
        obs = obs.reindex(self._data.obs_names)
        self._data.batch["outcome"] = outcome_tensors(obs, self.config.supervise, self.config.supervise_classes)

    def _setup(self, layouts: Sequence[ModalityLayout], config: ModelConfig) -> None:
        self.layouts = list(layouts)
        self.modalities = [layout.name for layout in self.layouts]
        self.config = config
        self.specs = [
            ModalitySpec(
                name=lay.name,
                n_features=lay.n_features,
                likelihood=lay.likelihood,
                library_target=lay.library_target if lay.uses_library else None,
                input_total=lay.input_total if lay.uses_library else None,
            )
            for lay in self.layouts
        ]
        self.module = IDMVAEModule(self.specs, self.config)
        self.preprocessing = dict.fromkeys(self.modalities)
        self.history = None
        self.train_config = None
        self.is_trained = False
        self.mdata = None
        self._data = None

    # -- training ------------------------------------------------------------------------------

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 128,
        lr: float = 5e-4,
        accelerator: str = "auto",
        seed: int = 0,
        early_stopping: bool = True,
        progress: bool = True,
        **train_kwargs,
    ):
        """Fit the model to the data it was built on; returns the TrainingHistory (also ``self.history``).

        ``max_epochs`` defaults to ``min(400, max(50, ceil(4000 / steps per epoch)))`` (about 4,000
        optimiser steps, never fewer than 50 epochs). ``accelerator`` is ``"auto"`` (CUDA when
        available), ``"cpu"`` or ``"cuda"``. ``seed`` fixes the initial weights, the validation split,
        minibatch order and noise: on CPU the same seed gives the same model. A first call
        re-initialises the weights under ``seed``; a later call continues from the trained weights.
        With ``early_stopping`` the trainer holds out ``val_fraction`` of the samples (default 0.1),
        stops when their loss stops improving and keeps the best weights. Other keywords are fields
        of :class:`omicsdisent.train.TrainConfig` (``val_fraction``, ``patience``, ``weight_decay``,
        ``grad_clip``, ``compile``).
        """
        from omicsdisent.train import TrainConfig, Trainer

        if self._data is None:
            raise InputError("this model was loaded without data; pass mdata to IDMVAE.load to train it")
        n = self._data.batch["mask"].shape[0]
        if max_epochs is None:
            steps = math.ceil(n / batch_size)
            max_epochs = min(400, max(50, math.ceil(4000 / steps)))
        try:
            train_config = TrainConfig(
                epochs=max_epochs,
                batch_size=batch_size,
                lr=lr,
                accelerator=accelerator,
                seed=seed,
                early_stopping=early_stopping,
                progress=progress,
                **train_kwargs,
            )
        except TypeError as err:
            fields = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
            raise InputError(f"training options: {err}; TrainConfig has {fields}") from None
        if not self.is_trained:
            _seed_everything(seed)
            self.module = IDMVAEModule(self.specs, self.config)
        self._attach_outcome()
        batch = self._data.batch
        has_any = batch["mask"].any(dim=1)
        if not bool(has_any.all()):
            # Samples with none of the chosen modalities carry nothing to learn from (they embed as NaN).
            batch = _slice_batch(batch, has_any.nonzero().squeeze(1))
        history = Trainer(train_config).fit(self.module, batch)
        self.history = history
        self.train_config = train_config
        self.is_trained = True
        return history

    # -- codes ---------------------------------------------------------------------------------

    def _tensors(self, mdata) -> TensorData:
        if mdata is None:
            if self._data is None:
                raise InputError("this model was loaded without data; pass mdata=")
            return self._data
        return build_tensors(as_mudata(mdata, "mdata"), self.layouts, require_all=False)

    def _device(self) -> torch.device:
        param = next(self.module.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @torch.no_grad()
    def _encode_all(self, data: TensorData, give_mean: bool, mask: torch.Tensor | None = None):
        """Shared codes [n, z_dim] and private codes {m: [n, w_dim]} for every sample (numpy)."""
        self.module.eval()
        device = self._device()
        batch = dict(data.batch)
        if mask is not None:
            batch["mask"] = mask
        n = batch["mask"].shape[0]
        zs, ws = [], {m: [] for m in self.modalities}
        for start in range(0, n, _EVAL_CHUNK):
            chunk = _to_device(_slice_batch(batch, slice(start, start + _EVAL_CHUNK)), device)
            z, w = self.module.encode(chunk["x"], chunk["mask"], give_mean=give_mean)
            zs.append(z.detach().cpu())
            for m in self.modalities:
                ws[m].append(w[m].detach().cpu())
        z = torch.cat(zs).numpy().astype(np.float32) if zs else np.zeros((0, self.config.z_dim), np.float32)
        w = {
            m: torch.cat(ws[m]).numpy().astype(np.float32) if ws[m] else np.zeros((0, self.config.w_dim), np.float32)
            for m in self.modalities
        }
        present = batch["mask"].numpy()
        z[~present.any(axis=1)] = np.nan  # a sample with no modality has no shared code
        for i, m in enumerate(self.modalities):
            w[m][~present[:, i]] = np.nan
        return z, w

    def get_latent(
        self,
        kind: str = "shared",
        modality: str | None = None,
        give_mean: bool = True,
        mdata: md.MuData | Mapping[str, ad.AnnData] | None = None,
    ) -> np.ndarray | dict[str, np.ndarray]:
        """Embeddings of every sample, rows in ``mdata.obs_names`` order.

        ``kind="shared"``: the shared code z, float32 [n_obs, z_dim], inferred from the modalities each
        sample has (a sample with none of the model's modalities gets NaN). ``kind="private"``: the
        private code of ``modality`` as float32 [n_obs, w_dim], or with ``modality=None`` a dict
        ``{modality: array}``; rows of samples that lack that modality are NaN. ``give_mean=True`` gives
        posterior means (deterministic), else one posterior draw. ``mdata`` embeds other samples (same
        features per modality; another order is reordered); default: the training data.
        """
        if kind not in ("shared", "private"):
            raise InputError(f"kind={kind!r}; expected 'shared' or 'private'")
        if modality is not None and modality not in self.modalities:
            raise InputError(f"modality={modality!r}; the model has {', '.join(self.modalities)}")
        z, w = self._encode_all(self._tensors(mdata), give_mean)
        if kind == "shared":
            return z
        return w if modality is None else w[modality]

    @torch.no_grad()
    def predict(self, mdata: md.MuData | Mapping[str, ad.AnnData] | None = None) -> pd.DataFrame:
        """The supervised head's predictions for every sample, from whichever modalities it has.

        Rows in ``mdata.obs_names`` order (default: the training data); ``mdata`` may hold any subset of
        the model's modalities, and a sample with one modality gets its score from that modality's
        codes (a sample with none gets NaN). Columns, for a survival head: ``risk`` (log hazard; higher
        is worse), its exact split ``risk_z`` (+ ``risk_w_<m>`` per modality with
        ``supervise_inputs="z+w"``; an absent modality's part is 0, its prior mean) and ``modalities``
        (those used, joined by "+"); for a label head: ``prediction`` and ``p_<class>`` per class.
        """
        head = self.module.head
        if head is None:
            raise InputError("this model has no supervised head; fit it with supervise='survival[:ENDPOINT]' or "
                             "'label:COLUMN' (omicsdisent fit --supervise)")
        data = self._tensors(mdata)
        z, w = self._encode_all(data, give_mean=True)
        present = data.batch["mask"].numpy()
        none = ~present.any(axis=1)
        blocks = [np.nan_to_num(z, nan=0.0)] + [np.nan_to_num(w[m], nan=0.0) for m in self.modalities]
        features = blocks[0] if head.inputs == "z" else np.concatenate(blocks, axis=1)
        weight = head.linear.weight.detach().cpu().numpy().astype(np.float64)  # [out, width]
        index = pd.Index(data.obs_names, name=None)
        used = ["+".join(m for m, p in zip(self.modalities, row) if p) for row in present]
        if head.kind == "survival":
            parts = {name: features[:, cols].astype(np.float64) @ weight[0, cols]
                     for name, cols in head.block_slices(self.modalities).items()}
            frame = pd.DataFrame({f"risk_{name}": values for name, values in parts.items()}, index=index)
            frame.insert(0, "risk", frame.sum(axis=1))
            frame.loc[none, :] = np.nan
            frame["modalities"] = used
            return frame
        logits = features.astype(np.float64) @ weight.T + head.linear.bias.detach().cpu().numpy()
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        classes = list(self.config.supervise_classes)
        frame = pd.DataFrame(probs, index=index, columns=[f"p_{c}" for c in classes])
        frame.insert(0, "prediction", pd.Categorical(np.array(classes)[probs.argmax(axis=1)], categories=classes))
        frame.loc[none, :] = np.nan
        frame["modalities"] = used
        return frame

    def _source_mask(self, data: TensorData, sources: Sequence[str]) -> torch.Tensor:
        keep = torch.tensor([m in sources for m in self.modalities])
        return data.batch["mask"] & keep

    def _check_modalities(self, names, option: str) -> list[str]:
        names = [names] if isinstance(names, str) else list(names)
        unknown = [m for m in names if m not in self.modalities]
        if unknown or not names:
            raise InputError(
                f"{option}={names!r}; expected one or more of the model's modalities: {', '.join(self.modalities)}"
            )
        return names

    # -- generation ----------------------------------------------------------------------------

    @torch.no_grad()
    def _decode(self, z: np.ndarray, w: Mapping[str, np.ndarray], library: Mapping[str, np.ndarray] | None = None):
        """Decoder means {modality: float32 [n, d_m]} on each likelihood's scale (counts: at ``library``)."""
        self.module.eval()
        device = self._device()
        n = z.shape[0]
        if library is None:
            library = {}
        lib = {
            lay.name: np.asarray(library.get(lay.name, np.full(n, lay.library_median or 1.0)), dtype=np.float32)
            for lay in self.layouts
            if lay.uses_library
        }
        out = {m: [] for m in w}
        for start in range(0, n, _EVAL_CHUNK):
            part = slice(start, start + _EVAL_CHUNK)
            zt = torch.from_numpy(np.ascontiguousarray(z[part], dtype=np.float32)).to(device)
            wt = {m: torch.from_numpy(np.ascontiguousarray(v[part], dtype=np.float32)).to(device) for m, v in w.items()}
            lt = {m: torch.from_numpy(v[part]).to(device) for m, v in lib.items()}
            means = self.module.decode(zt, wt, lt)
            for m in w:
                out[m].append(means[m].detach().cpu())
        return {m: torch.cat(v).numpy().astype(np.float32) for m, v in out.items()}

    def _as_anndata(self, modality: str, values: np.ndarray, obs: pd.DataFrame, **info) -> ad.AnnData:
        layout = self.layouts[self.modalities.index(modality)]
        adata = ad.AnnData(X=values, obs=obs, var=pd.DataFrame(index=pd.Index(layout.feature_names)))
        adata.uns["omicsdisent"] = {
            "modality_type": layout.modality_type,
            "likelihood": layout.likelihood,
            "scale": _scale_description(layout),
            **info,
        }
        return adata

    def impute(
        self,
        source: str | Sequence[str],
        target: str,
        mdata: md.MuData | Mapping[str, ad.AnnData] | None = None,
        private: str = "mean",
        seed: int | None = None,
    ) -> ad.AnnData:
        """Predict modality ``target`` from the ``source`` modalities, for every sample of ``mdata``.

        As in MMVAE+ cross-generation, the shared code is the posterior mean of z given only the source
        modalities a sample has; the target's private code is zero (``private="mean"``: deterministic;
        zero is the mean of the Gaussian prior and of the auxiliary prior r(w) that cross-reconstruction
        is trained with, also when the model has a diffusion prior) or one draw from the model's prior
        (``private="sample"``, Gaussian or diffusion, repeatable with ``seed``). Returns an AnnData
        [n_obs, target features] of decoder means on the likelihood's scale (counts: expected counts at
        the training median library size; methylation/continuous: values on the scale of ``X`` or of the
        Beta layer). Samples with none of the source modalities get NaN rows.
        """
        sources = self._check_modalities(source, "source")
        (target_name,) = self._check_modalities(target, "target")
        if target_name in sources:
            raise InputError(f"target={target_name!r} is also a source; impute predicts a modality from others")
        if private not in ("mean", "sample"):
            raise InputError(f"private={private!r}; expected 'mean' or 'sample'")
        data = self._tensors(mdata)
        mask = self._source_mask(data, sources)
        z, _ = self._encode_all(data, give_mean=True, mask=mask)
        w = self._prior_private(z.shape[0], target_name, private, seed)
        missing = np.isnan(z).any(axis=1)
        z = np.where(missing[:, None], 0.0, z).astype(np.float32)
        values = self._decode(z, {target_name: w})[target_name]
        values[missing] = np.nan
        obs = pd.DataFrame(index=data.obs_names.copy())
        return self._as_anndata(
            target_name,
            values,
            obs,
            imputed_from=list(sources),
            private_code="prior mean" if private == "mean" else "prior draw",
        )

    def _prior_private(self, n: int, modality: str, private: str, seed: int | None) -> np.ndarray:
        if private == "mean":
            return np.zeros((n, self.config.w_dim), dtype=np.float32)
        with _fork_rng(seed):
            _, w = self.module.sample_prior(n)
        return w[modality].detach().cpu().numpy().astype(np.float32)

    def sample(self, n: int, seed: int | None = None) -> dict[str, ad.AnnData]:
        """Unconditional generation: ``n`` draws (z, w_1..w_M) from the prior, decoded.

        The prior is the module's (Gaussian, or the diffusion prior when the model uses one). Returns
        ``{modality: AnnData [n, features]}`` of decoder means on each likelihood's scale (counts at the
        training median library size); ``obsm["z"]`` holds the shared draw. ``seed`` makes it repeatable.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n={n!r}; expected a positive number of samples")
        with _fork_rng(seed), torch.no_grad():
            self.module.eval()
            z, w = self.module.sample_prior(int(n))
        z = z.detach().cpu().numpy().astype(np.float32)
        w = {m: w[m].detach().cpu().numpy().astype(np.float32) for m in self.modalities}
        values = self._decode(z, w)
        obs = pd.DataFrame(index=pd.Index([f"sample_{i}" for i in range(n)]))
        out = {}
        for m in self.modalities:
            adata = self._as_anndata(m, values[m], obs.copy(), generated="prior")
            adata.obsm["z"] = z
            adata.obsm["w"] = w[m]
            out[m] = adata
        return out

    def generate(
        self,
        shared_from: Sequence[str],
        private_from: Sequence[str],
        mdata: md.MuData | Mapping[str, ad.AnnData] | None = None,
        modalities: Sequence[str] | None = None,
    ) -> dict[str, ad.AnnData]:
        """Controllable generation: decode the shared code of some samples with the private codes of others.

        ``shared_from`` and ``private_from`` are equal-length lists of sample ids (of ``mdata``, default the
        training data); output row i combines z of ``shared_from[i]`` (from all its modalities) with
        w_m of ``private_from[i]``. A modality the private sample lacks uses the prior mean (zero) for
        w_m. Returns ``{modality: AnnData [len(shared_from), features]}`` of decoder means (counts: at
        the private sample's library size when known, else the training median), with obs columns
        ``shared_from`` and ``private_from``.
        """
        names = self.modalities if modalities is None else self._check_modalities(modalities, "modalities")
        shared_from = [shared_from] if isinstance(shared_from, str) else list(shared_from)
        private_from = [private_from] if isinstance(private_from, str) else list(private_from)
        if len(shared_from) != len(private_from) or not shared_from:
            raise InputError(
                f"shared_from has {len(shared_from)} ids and private_from {len(private_from)}; "
                "expected two non-empty lists of the same length"
            )
        data = self._tensors(mdata)
        z_all, w_all = self._encode_all(data, give_mean=True)
        rows_z = _rows(data.obs_names, shared_from, "shared_from")
        rows_w = _rows(data.obs_names, private_from, "private_from")
        z = z_all[rows_z]
        if np.isnan(z).any():
            bad = shared_from[int(np.isnan(z).any(axis=1).argmax())]
            raise InputError(f"shared_from: sample {bad!r} has none of the model's modalities")
        w = {m: np.nan_to_num(w_all[m][rows_w], nan=0.0) for m in names}
        library = {
            m: data.batch["library"][m].numpy()[rows_w] for m in names if m in data.batch["library"]
        }
        values = self._decode(z, w, library)
        index = pd.Index([f"{a}|{b}" for a, b in zip(shared_from, private_from)])
        if not index.is_unique:
            index = pd.Index([f"{i}:{name}" for i, name in enumerate(index)])
        obs = pd.DataFrame({"shared_from": shared_from, "private_from": private_from}, index=index)
        return {m: self._as_anndata(m, values[m], obs.copy(), generated="mixed") for m in names}

    # -- persistence ---------------------------------------------------------------------------

    def save(self, dir_path: str | Path, overwrite: bool = False) -> Path:
        """Save to folder ``dir_path``: ``model.safetensors`` (weights) and ``config.json`` (everything else).

        No pickle anywhere. The folder is written beside its final place and renamed, so a crash never
        leaves half a model; an existing folder is replaced only with ``overwrite=True``.
        """
        from omicsdisent.models.persistence import save_model

        return save_model(self, dir_path, overwrite=overwrite)

    @classmethod
    def load(cls, dir_path: str | Path, mdata: md.MuData | Mapping[str, ad.AnnData] | None = None) -> IDMVAE:
        """Load a model saved by :meth:`save`; with ``mdata``, check its features and attach it as the data.

        Raises InputError for a folder that is not a model or has an unknown format version, and
        DataMismatchError when ``mdata`` lacks a modality or has other features (same features in
        another order are reordered).
        """
        from omicsdisent.models.persistence import load_model

        return load_model(cls, dir_path, mdata)

    @classmethod
    def _from_saved(cls, layouts, config, state_dict, mdata=None, preprocessing=None) -> IDMVAE:
        model = cls.__new__(cls)
        model._setup(layouts, config)
        model.preprocessing.update(preprocessing or {})
        missing, unexpected = model.module.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise InputError(
                "model weights do not match the saved configuration "
                f"(missing: {list(missing)[:3]}, unexpected: {list(unexpected)[:3]})"
            )
        model.is_trained = True
        if mdata is not None:
            mdata = as_mudata(mdata, "mdata")
            model._data = build_tensors(mdata, model.layouts)
            model.mdata = mdata
        return model

    def __repr__(self) -> str:
        mods = ", ".join(f"{lay.name} ({lay.modality_type}, {lay.n_features} features, {lay.likelihood})" for lay in self.layouts)
        n = "no data" if self._data is None else f"{self._data.batch['mask'].shape[0]} samples"
        state = "trained" if self.is_trained else "untrained"
        return f"IDMVAE({mods}; z_dim={self.config.z_dim}, w_dim={self.config.w_dim}; {n}; {state})"


def _scale_description(layout: ModalityLayout) -> str:
    if layout.likelihood == "nb":
        return "expected counts"
    if layout.likelihood == "beta":
        return "beta values"
    if layout.modality_type == "methylation":
        return "M-values (as X)"
    return "as X"


def _rows(obs_names: pd.Index, ids: Sequence[str], option: str) -> np.ndarray:
    rows = obs_names.get_indexer([str(i) for i in ids])
    if (rows < 0).any():
        bad = [ids[i] for i in np.flatnonzero(rows < 0)[:3]]
        raise InputError(f"{option}: sample ids not in the data: {', '.join(map(repr, bad))}")
    return rows


def _seed_everything(seed: int) -> None:
    import pyro

    np.random.seed(seed)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


class _fork_rng:
    """Run a block under ``seed`` without disturbing the caller's global RNG state (no-op for None)."""

    def __init__(self, seed: int | None):
        self.seed = seed

    def __enter__(self):
        if self.seed is not None:
            self._state = torch.random.get_rng_state()
            torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        if self.seed is not None:
            torch.random.set_rng_state(self._state)
        return False


# ----------------------------------------------------------------------------------------------
# From files (CLI and demo)
# ----------------------------------------------------------------------------------------------


def fit_from_files(
    sources: Sequence[str],
    out: str | Path,
    clinical: str | Path | None = None,
    n_top_features: int | None = None,
    types: Mapping[str, str] | None = None,
    overwrite: bool = False,
    train_options: Mapping[str, Any] | None = None,
    verbose: bool = False,
    **model_config,
) -> tuple[IDMVAE, dict]:
    """Read, align, preprocess, fit and save: the whole ``omicsdisent fit`` in one call.

    ``sources`` are paths (``.h5ad``, ``.h5mu``, ``.csv/.tsv[.gz]``) or ``name=path``, read with
    :func:`omicsdisent.io.read_modalities`. Data already preprocessed (``uns["omicsdisent"]["modality_type"]``
    recorded in every modality) is used as is; otherwise :func:`omicsdisent.pp.preprocess` runs (with
    ``n_top_features`` and ``types`` ``{modality: "counts"|"methylation"|"continuous"}`` when given;
    untyped modalities are inferred from their values, so M-values read as continuous unless typed).
    Each modality's preprocessing record (:attr:`IDMVAE.preprocessing`) is saved with the model, so
    ``omicsdisent embed`` / ``impute`` transform new files with the training statistics; the summary
    says per modality whether there was one (``preprocessing_record``). ``train_options`` go to
    :meth:`IDMVAE.train`; ``verbose`` prints the alignment summary. Refuses to replace ``out`` unless ``overwrite``. Returns the model and a
    summary dict (epochs run, final losses, wall time in seconds, sample and feature counts).

    The same in five lines (what the demo does)::

        mdata = omicsdisent.io.read_modalities(["rna.h5ad", "methyl.h5ad"], clinical="clinical.csv")
        omicsdisent.pp.preprocess(mdata)
        model = omicsdisent.IDMVAE(mdata, z_dim=16, w_dim=32)
        model.train(max_epochs=50, seed=0)
        model.save("model/")
    """
    from omicsdisent.io import read_modalities
    from omicsdisent.models.persistence import check_writable

    out = Path(out)
    # Fail on options and the output folder before reading data and minutes of training, not after.
    check_writable(out, overwrite)
    try:
        ModelConfig(**model_config)
    except TypeError as err:
        raise InputError(f"model options: {err}") from None
    start = time.perf_counter()
    mdata = read_modalities(list(sources), clinical=clinical, verbose=verbose)
    if not all(_recorded_type(mdata.mod[m]) for m in mdata.mod):  # pp keeps those already done
        from omicsdisent import pp

        kwargs = {} if n_top_features is None else {"n_top_features": n_top_features}
        pp.preprocess(mdata, types=dict(types or {}), **kwargs)
    model = IDMVAE(mdata, **model_config)
    history = model.train(**dict(train_options or {}))
    model.save(out, overwrite=overwrite)
    summary = {
        "out": str(out),
        "n_samples": int(model._data.batch["mask"].shape[0]),
        "modalities": {
            lay.name: {
                "type": lay.modality_type,
                "likelihood": lay.likelihood,
                "n_features": lay.n_features,
                "n_samples": int(model._data.batch["mask"][:, i].sum()),
                "preprocessing_record": model.preprocessing[lay.name] is not None,
            }
            for i, lay in enumerate(model.layouts)
        },
        **history_summary(history),
        **_supervision_summary(model),
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    return model, summary


def _supervision_summary(model: IDMVAE) -> dict:
    if model.config.supervise is None:
        return {}
    known = model._data.batch["outcome"]["known"]
    return {"supervise": model.config.supervise, "n_with_outcome": int(known.sum())}


def history_summary(history) -> dict:
    """Epochs run and the last value of every loss series in a TrainingHistory."""
    from omicsdisent.models.persistence import history_to_json

    data = history_to_json(history)
    final = {}
    for split in ("train", "validation"):
        for term, values in (data.get(split) or {}).items():
            if values:
                final[f"{split}_{term}"] = values[-1]
    return {
        "epochs_run": int(data.get("epochs_run", 0)),
        "stopped_early": bool(data.get("stopped_early", False)),
        "final": final,
    }
