"""The preprocessing record of a modality, and applying it to new raw data.

Preprocessing learns from the training cohort: the features kept, the library-size target, the
feature medians that fill missing values, the means and sds that standardise. A
:class:`PreprocessingRecord` holds all of it, so that a new cohort (other samples) is transformed
with the training cohort's numbers, not its own, and lands in the same space the model was fitted in.

Where it lives after :func:`omicsdisent.pp.preprocess`:

- ``adata.uns["omicsdisent"]``: ``modality_type`` and the settings (``target_sum``; ``methylation_input``
  and ``eps``; ``log``);
- ``adata.var``: the kept features in order, and per feature ``var["median"]`` (methylation: on the
  input scale, betas or M-values; continuous: after the log) and, for continuous data,
  ``var["mean"]`` and ``var["std"]`` (population sd, after the log).

:func:`preprocessing_record` collects them; :func:`apply_preprocessing` applies one to raw values.
A saved :class:`omicsdisent.IDMVAE` keeps the record of each modality.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from anndata import AnnData

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.pp.continuous import CONTINUOUS_LOGS, apply_log, standardise
from omicsdisent.pp.counts import check_counts
from omicsdisent.pp.methylation import beta_to_mvalue, mvalue_to_beta
from omicsdisent.pp.selection import fill_missing
from omicsdisent.pp.types import MODALITY_TYPES, dense_values, describe, is_preprocessed

# Per-feature arrays each type needs, all float64 of length n_features.
RECORD_ARRAYS = {"counts": (), "methylation": ("median",), "continuous": ("median", "mean", "std")}


@dataclass(frozen=True, eq=False)
class PreprocessingRecord:
    """How one modality's raw values were turned into the model's inputs (see the module docstring).

    ``feature_names``: the kept features, in the model's order. Settings by type:

    - counts: ``target_sum`` (reads each sample is normalised to before log1p) and ``n_features_before``
      (features in the training file; library sizes are summed over every feature of a file);
    - methylation: ``methylation_input`` (``"beta"`` or ``"mvalue"``, as resolved on the training
      data), ``eps`` (betas clipped to ``[eps, 1 - eps]``), ``median`` (per feature, input scale);
    - continuous: ``log`` (None, ``"log1p"`` or ``"log2"``), ``median``, ``mean`` and ``std`` per
      feature (after the log; population sd).
    """

    modality_type: str
    feature_names: tuple[str, ...]
    target_sum: float | None = None
    n_features_before: int | None = None
    methylation_input: str | None = None
    eps: float | None = None
    log: str | None = None
    median: np.ndarray | None = field(default=None, repr=False)
    mean: np.ndarray | None = field(default=None, repr=False)
    std: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def settings(self) -> dict:
        """The scalar settings as a JSON-able dict (no feature names, no per-feature arrays)."""
        out = {"modality_type": self.modality_type}
        if self.modality_type == "counts":
            out.update(target_sum=self.target_sum, n_features_before=self.n_features_before)
        elif self.modality_type == "methylation":
            out.update(methylation_input=self.methylation_input, eps=self.eps)
        else:
            out.update(log=self.log)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-feature arrays (float64, shape (n_features,)) this type needs, by name."""
        return {name: getattr(self, name) for name in RECORD_ARRAYS[self.modality_type]}

    @classmethod
    def from_parts(
        cls, settings: Mapping, feature_names, arrays: Mapping[str, np.ndarray], where: str = "the record"
    ) -> PreprocessingRecord:
        """Rebuild a record from :meth:`settings`, the feature names and :meth:`arrays`; checks every part.

        Raises InputError naming ``where`` when a setting or an array is missing or malformed.
        """
        mtype = settings.get("modality_type")
        if mtype not in MODALITY_TYPES:
            raise InputError(f"{where}: modality_type must be one of {', '.join(MODALITY_TYPES)}, got {mtype!r}")
        names = tuple(str(f) for f in feature_names)
        kwargs = {"modality_type": mtype, "feature_names": names}
        for name in RECORD_ARRAYS[mtype]:
            if arrays.get(name) is None:
                raise InputError(f"{where}: per-feature {name!r} values are missing")
            values = np.asarray(arrays[name], dtype=np.float64).reshape(-1)
            if values.shape != (len(names),):
                raise InputError(f"{where}: {name!r} has {values.size} values for {len(names)} features")
            kwargs[name] = values
        if mtype == "counts":
            target = settings.get("target_sum")
            if not isinstance(target, (int, float)) or not target > 0:
                raise InputError(f"{where}: target_sum must be a positive number, got {target!r}")
            kwargs["target_sum"] = float(target)
            before = settings.get("n_features_before")
            kwargs["n_features_before"] = None if before is None else int(before)
        elif mtype == "methylation":
            if settings.get("methylation_input") not in ("beta", "mvalue"):
                raise InputError(
                    f"{where}: methylation_input must be 'beta' or 'mvalue', got {settings.get('methylation_input')!r}"
                )
            eps = settings.get("eps")
            if not isinstance(eps, float) or not 0 < eps < 0.5:
                raise InputError(f"{where}: eps must be a float in (0, 0.5), got {eps!r}")
            kwargs.update(methylation_input=settings["methylation_input"], eps=eps)
        else:
            if settings.get("log") not in CONTINUOUS_LOGS:
                raise InputError(f"{where}: log must be None, 'log1p' or 'log2', got {settings.get('log')!r}")
            if not (np.isfinite(kwargs["mean"]).all() and np.isfinite(kwargs["std"]).all()):
                raise InputError(f"{where}: the feature means and sds must be finite")
            kwargs["log"] = settings.get("log")
        return cls(**kwargs)


def preprocessing_record(adata: AnnData, name: str | None = None) -> PreprocessingRecord | None:
    """The :class:`PreprocessingRecord` of an AnnData preprocessed by :mod:`omicsdisent.pp`.

    Reads ``adata.uns["omicsdisent"]`` and ``adata.var`` (features in ``adata``'s order). Returns None
    when ``adata`` was not preprocessed by omicsdisent or was preprocessed before records existed
    (no ``var["median"]``); raises InputError when the record is there but malformed.
    """
    if not is_preprocessed(adata):
        return None
    info = adata.uns["omicsdisent"]
    mtype = info.get("modality_type")
    needed = RECORD_ARRAYS.get(mtype)
    if needed is None or any(col not in adata.var.columns for col in needed):
        return None
    if mtype == "counts" and info.get("target_sum") is None:
        return None
    arrays = {col: adata.var[col].to_numpy(dtype=np.float64) for col in needed}
    where = f"{describe(adata, name)} preprocessing record (uns['omicsdisent'] and var)"
    settings = {key: info.get(key) for key in ("modality_type", "target_sum", "n_features_before",
                                               "methylation_input", "eps", "log")}
    for key in ("target_sum", "eps"):
        if isinstance(settings[key], (np.floating, np.integer)):
            settings[key] = float(settings[key])  # h5ad gives numpy scalars back
    if isinstance(settings["n_features_before"], np.integer):
        settings["n_features_before"] = int(settings["n_features_before"])
    return PreprocessingRecord.from_parts(settings, adata.var_names.astype(str), arrays, where)


def feature_columns(adata, feature_names, where: str, described: str = "the {n} recorded features") -> np.ndarray:
    """Column index in ``adata`` of each of ``feature_names`` (the features a model was fitted on), in order.

    Raises DataMismatchError naming ``where`` when ``adata``'s feature names repeat or any is missing;
    ``described`` names the expected set in that message (``{n}``: how many there are).
    """
    names = adata.var_names.astype(str)
    if not names.is_unique:
        duplicate = names[names.duplicated()][0]
        raise DataMismatchError(f"{where}: feature names are not unique (first duplicate: {duplicate!r})")
    columns = names.get_indexer(list(feature_names))
    if (columns < 0).any():
        missing = [feature_names[i] for i in np.flatnonzero(columns < 0)]
        raise DataMismatchError(
            f"{where}: {len(missing)} of {described.format(n=len(feature_names))} are missing "
            f"(first: {', '.join(missing[:3])}); the file must hold the features the model was fitted on"
        )
    return columns


def apply_preprocessing(adata: AnnData, record: PreprocessingRecord, *, name: str | None = None) -> AnnData:
    """Transform raw ``adata`` (samples x features, as read from a file) exactly as ``record`` says.

    The record's features are kept, in its order (extra features are dropped); every sample is kept.
    Missing values are filled with the *training* medians and continuous data is standardised with
    the *training* means and sds, so a sample's result does not depend on the other samples given.
    By type:

    - counts: ``X = log1p(counts / library * target_sum)`` (float32), with each sample's library
      summed over *every* feature of ``adata`` as in training (so the file should hold the training
      file's genes; a different gene count gives a warning); ``layers["counts"]``: the raw counts of
      the kept features; ``obs["total_counts"]``: the library sizes (reads);
    - methylation: values read as the training input kind; betas become M-values after clipping to
      ``[eps, 1 - eps]``. ``X``: M-values, ``layers["beta"]``: betas (both float32);
    - continuous: the training log, then ``(x - mean) / std`` (a feature constant in training stays 0).

    Returns a new AnnData (``adata`` is left as it is) with ``var`` holding the record's per-feature
    values and ``uns["omicsdisent"]`` its settings plus ``preprocessed=True``. Raises
    DataMismatchError when features are missing or not unique (naming ``name`` and the first missing
    features) and InputError for values the type cannot hold.
    """
    where = describe(adata, name)
    if is_preprocessed(adata):
        raise InputError(f"{where} is already preprocessed; apply the preprocessing record to raw values only")
    if adata.n_obs == 0:
        raise InputError(f"{where} has no samples")
    columns = feature_columns(adata, record.feature_names, where)

    layers, obs_columns = {}, {}
    if record.modality_type == "counts":
        check_counts(adata, name)
        values = dense_values(adata)
        library = values.sum(axis=1)
        empty = np.flatnonzero(library <= 0)
        if empty.size:
            raise InputError(
                f"{where}: sample {adata.obs_names[empty[0]]!r} has no counts ({empty.size} such samples); "
                "drop them or leave them out of this file"
            )
        if record.n_features_before is not None and adata.n_vars != record.n_features_before:
            warnings.warn(
                f"{where}: library sizes are summed over this file's {adata.n_vars} genes but the training "
                f"file had {record.n_features_before}; normalised values are comparable only for the same genes",
                UserWarning,
                stacklevel=2,
            )
        counts = values[:, columns]
        x = np.log1p(counts / library[:, None] * record.target_sum)
        layers["counts"] = counts.astype(np.float32)
        obs_columns["total_counts"] = library
    else:
        values = dense_values(adata)[:, columns]
        if np.isinf(values).any():
            raise InputError(f"{where}: values must be finite (NaN for missing) but found infinite values")
        if record.modality_type == "methylation":
            _check_methylation_input(values, record.methylation_input, where)
            fill_missing(values, record.median)
            x = beta_to_mvalue(values, record.eps) if record.methylation_input == "beta" else values
            layers["beta"] = np.clip(mvalue_to_beta(x), record.eps, 1 - record.eps).astype(np.float32)
        else:
            x = apply_log(values, record.log, where)
            fill_missing(x, record.median)
            x = standardise(x, record.mean, record.std)

    var = adata.var.iloc[columns].copy()
    var.index = pd.Index(record.feature_names)
    for key, value in record.arrays().items():
        var[key] = value
    out = AnnData(X=x.astype(np.float32), obs=adata.obs.copy(), var=var)
    for key, value in obs_columns.items():
        out.obs[key] = value
    for key, value in layers.items():
        out.layers[key] = value
    out.uns["omicsdisent"] = {
        **{k: v for k, v in record.settings().items() if v is not None},
        "preprocessed": True,
        "applied_record": True,
        "n_features_before": int(adata.n_vars),
        "n_features_after": record.n_features,
    }
    return out


def _check_methylation_input(values: np.ndarray, kind: str, where: str) -> None:
    """Refuse values that cannot be of the training input kind; warn when they look like the other kind."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return
    in_unit_interval = bool(((observed >= 0) & (observed <= 1)).all())
    if kind == "beta" and not in_unit_interval:
        raise InputError(
            f"{where}: the model was fitted on betas but these values lie outside [0, 1] "
            f"(range {observed.min():g}..{observed.max():g}); give betas, as in training"
        )
    if kind == "mvalue" and in_unit_interval and observed.size > 1 and observed.max() > observed.min():
        warnings.warn(
            f"{where}: the model was fitted on M-values but every value lies in [0, 1], as betas do; "
            "they are read as M-values, as in training",
            UserWarning,
            stacklevel=3,
        )
