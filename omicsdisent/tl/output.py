"""Writing analysis results: JSON files, atomically and never over a user's file unless asked."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from omicsdisent.errors import InputError


def check_output(path, overwrite: bool, option: str = "--out") -> Path:
    """``path`` as a Path, after checking it can be written: its folder exists and it is new (or ``overwrite``)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file name such as results.json")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: already exists; pass --force (overwrite=True) to replace it")
    if not path.parent.is_dir():
        raise InputError(f"{option} {path}: no such folder {path.parent}")
    return path


def _finite(value):
    """NaN/inf become None (null): strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path, payload: dict, overwrite: bool = False) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically (a temporary file in the same folder, then rename)."""
    path = check_output(path, overwrite)
    text = json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n"
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
