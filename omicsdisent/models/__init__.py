"""IDMVAE: the user-facing model (:class:`IDMVAE`) and its configuration dataclasses.

``IDMVAE`` lives in :mod:`omicsdisent.models.idmvae`, the Pyro maths in :mod:`omicsdisent.models.module`
and saving/loading in :mod:`omicsdisent.models.persistence`. Names are imported on first use, so that
importing a submodule (e.g. ``omicsdisent.models.config``) does not pull in the whole model.
"""

from __future__ import annotations

import importlib

_ATTRS = {
    "IDMVAE": "omicsdisent.models.idmvae",
    "fit_from_files": "omicsdisent.models.idmvae",
    "ModelConfig": "omicsdisent.models.config",
    "ModalitySpec": "omicsdisent.models.config",
}

__all__ = sorted(_ATTRS)


def __getattr__(name):
    if name in _ATTRS:
        return getattr(importlib.import_module(_ATTRS[name]), name)
    raise AttributeError(f"module 'omicsdisent.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ATTRS))
