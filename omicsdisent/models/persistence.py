"""Saving and loading an :class:`~omicsdisent.models.IDMVAE` as a folder, without pickle.

A model folder holds two files:

- ``model.safetensors``: the module's weights (``state_dict``), read back with safetensors only;
- ``config.json``: the format version, the ModelConfig, the ModalitySpecs, the TrainConfig used,
  each modality's type, likelihood, feature names and library target, the training history, and
  ``preprocessing``: per modality the settings of its :class:`omicsdisent.pp.PreprocessingRecord`
  (or null when the training data was not preprocessed by omicsdisent.pp).

The records' per-feature arrays (training medians, means, sds; float64) are tensors in
``model.safetensors`` named ``preprocessing/<modality>/<array>``, beside the weights. Format 1
(before records) still loads; its models have no records.

The folder is written under a temporary name beside its final place and renamed into place, so an
interrupted save never leaves half a model, and an existing folder is replaced only when asked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from omicsdisent.errors import InputError

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
RECORD_PREFIX = "preprocessing/"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def _jsonable(value):
    """Plain JSON values (NaN/inf become None; numpy and torch scalars become Python numbers)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def history_to_json(history) -> dict:
    """A TrainingHistory (dataclass, mapping or object with ``to_dict``) as a JSON-able dict."""
    if history is None:
        return {}
    if hasattr(history, "to_dict"):
        return _jsonable(history.to_dict())
    if dataclasses.is_dataclass(history) or isinstance(history, dict):
        return _jsonable(history)
    return _jsonable(vars(history))


def check_writable(path: Path, overwrite: bool) -> None:
    """Raise InputError when saving to ``path`` would replace something it should not.

    An existing path is replaced only with ``overwrite``, and even then only when it is an empty
    folder or an omicsdisent model folder (never a user's file or a folder of other things).
    """
    path = Path(path)
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise InputError(f"cannot save the model to {path}: {parent} is a file, not a folder")
        return
    if not overwrite:
        raise InputError(f"{path} already exists; choose another folder or overwrite it (--force / overwrite=True)")
    if not path.is_dir():
        raise InputError(f"{path} exists and is a file, not a model folder; refusing to replace it")
    if any(path.iterdir()) and not (path / CONFIG_FILE).is_file():
        raise InputError(f"{path} is a non-empty folder that is not an omicsdisent model; refusing to replace it")


def _model_config_json(model) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "omicsdisent_version": _package_version(),
        "model_config": _jsonable(model.config),
        "modality_specs": [_jsonable(spec) for spec in model.specs],
        "modalities": [layout.to_json() for layout in model.layouts],
        "train_config": None if model.train_config is None else _jsonable(model.train_config),
        "is_trained": bool(model.is_trained),
        "history": history_to_json(model.history),
        "preprocessing": {
            name: None if record is None else _jsonable(record.settings())
            for name, record in model.preprocessing.items()
        },
    }


def _record_tensors(model) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, record in model.preprocessing.items():
        if record is not None:
            for key, values in record.arrays().items():
                tensors[f"{RECORD_PREFIX}{name}/{key}"] = torch.from_numpy(np.asarray(values, dtype=np.float64).copy())
    return tensors


def _records_from_saved(config: dict, weights: dict, layouts, where: Path) -> dict:
    """Each modality's PreprocessingRecord (None where none was saved); pops its tensors from ``weights``."""
    from omicsdisent.pp.record import RECORD_ARRAYS, PreprocessingRecord

    saved = config.get("preprocessing") or {}
    tensors = {key: weights.pop(key) for key in [k for k in weights if k.startswith(RECORD_PREFIX)]}
    records = {}
    for layout in layouts:
        settings = saved.get(layout.name)
        if settings is None:
            records[layout.name] = None
            continue
        if settings.get("modality_type") != layout.modality_type:
            raise InputError(
                f"{where}: modality {layout.name!r} preprocessing record is for {settings.get('modality_type')!r} "
                f"data but the modality is {layout.modality_type!r}"
            )
        arrays = {}
        for key in RECORD_ARRAYS.get(settings.get("modality_type"), ()):
            tensor = tensors.get(f"{RECORD_PREFIX}{layout.name}/{key}")
            arrays[key] = None if tensor is None else tensor.numpy()
        records[layout.name] = PreprocessingRecord.from_parts(
            settings, layout.feature_names, arrays, f"{where}: modality {layout.name!r} preprocessing record"
        )
    return records


def _package_version() -> str:
    from omicsdisent import __version__

    return __version__


def save_model(model, dir_path: str | Path, overwrite: bool = False) -> Path:
    """Write ``model`` to folder ``dir_path`` (see the module docstring); returns the folder path."""
    path = Path(dir_path)
    check_writable(path, overwrite)
    config = _model_config_json(model)
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.module.state_dict().items()}
    weights.update(_record_tensors(model))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
        with open(tmp / CONFIG_FILE, "w") as handle:
            json.dump(config, handle, indent=1, allow_nan=False)
        # safetensors writes its file owner-only; give it the same permissions as config.json (umask).
        os.chmod(tmp / WEIGHTS_FILE, (tmp / CONFIG_FILE).stat().st_mode & 0o777)
        if path.exists():
            # Move the old folder aside first so the new one lands with a single rename.
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_model_dir(dir_path: str | Path) -> tuple[dict, dict]:
    """The (config dict, weights dict) of a model folder, after checking its format version."""
    path = Path(dir_path)
    if not path.is_dir():
        raise InputError(f"model folder {path} does not exist (or is not a folder)")
    config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_file.is_file() or not weights_file.is_file():
        raise InputError(f"{path} is not an omicsdisent model folder: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        with open(config_file) as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{config_file} is not valid JSON ({err})") from None
    version = config.get("format_version") if isinstance(config, dict) else None
    if version not in READABLE_VERSIONS:
        raise InputError(
            f"{config_file}: model format version {version!r} is not supported; this omicsdisent "
            f"({_package_version()}) reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    try:
        weights = load_file(str(weights_file), device="cpu")
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise InputError(f"{weights_file} is not a readable safetensors file ({err})") from None
    return config, weights


def _dataclass_from_json(cls, data: dict):
    """Build dataclass ``cls`` from JSON, turning lists back into tuples where the default is a tuple."""
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise InputError(f"saved configuration has field {key!r}, unknown to {cls.__name__} in this version")
        field = names[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        if isinstance(value, list) and isinstance(default, tuple):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def load_model(cls, dir_path: str | Path, mdata=None):
    """Rebuild an IDMVAE (class ``cls``) from a folder written by :func:`save_model`."""
    from omicsdisent.models.config import ModelConfig
    from omicsdisent.models.idmvae import ModalityLayout

    config, weights = read_model_dir(dir_path)
    try:
        model_config = _dataclass_from_json(ModelConfig, config["model_config"])
        layouts = [ModalityLayout.from_json(item) for item in config["modalities"]]
        records = _records_from_saved(config, weights, layouts, Path(dir_path) / CONFIG_FILE)
    except (KeyError, TypeError, AttributeError) as err:
        raise InputError(f"{Path(dir_path) / CONFIG_FILE}: incomplete model configuration ({err})") from None
    model = cls._from_saved(layouts, model_config, weights, mdata, preprocessing=records)
    if config.get("train_config") is not None:
        try:
            from omicsdisent.train import TrainConfig

            model.train_config = _dataclass_from_json(TrainConfig, config["train_config"])
        except (ImportError, InputError, TypeError):
            model.train_config = config["train_config"]  # kept as the plain record it is
    model.history = None
    if config.get("history"):
        try:
            from omicsdisent.train import TrainingHistory

            model.history = TrainingHistory.from_dict(config["history"])
        except (ImportError, TypeError):
            model.history = config["history"]  # kept as the plain record it is
    model.is_trained = bool(config.get("is_trained", True))
    return model
