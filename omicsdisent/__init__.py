"""omicsdisent: shared and private representations of multi-omics cohorts.

Submodules follow the scanpy layout: ``io`` (read and align), ``pp`` (preprocess), ``datasets``
(registry, simulator, PolyMNIST builder), ``models`` (IDMVAE), ``train``, ``tl`` (analysis on
embeddings), ``pl`` (plots), ``report`` (the HTML report) and ``bench`` (the image benchmark).
They are imported lazily so that ``import omicsdisent`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"io", "pp", "datasets", "models", "train", "tl", "pl", "report", "bench"}
_ATTRS = {"IDMVAE": "omicsdisent.models"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"omicsdisent.{name}")
    if name in _ATTRS:
        return getattr(importlib.import_module(_ATTRS[name]), name)
    raise AttributeError(f"module 'omicsdisent' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_ATTRS))
