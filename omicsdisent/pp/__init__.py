"""Preprocessing per modality type, scanpy style.

Each function takes an AnnData, changes it in place and returns None, or with ``copy=True`` returns
a new one. The type and every choice made are recorded in ``adata.uns["omicsdisent"]``; its
``modality_type`` (``"counts"``, ``"methylation"``, ``"continuous"``) tells ``omicsdisent.models``
which likelihood to use (see ``docs/architecture.md``).

- :func:`preprocess_counts`: library-size normalisation + log1p, HVG or top-variance selection,
  raw counts in ``layers["counts"]``.
- :func:`preprocess_methylation`: betas or M-values -> M-values in ``X``, betas in ``layers["beta"]``.
- :func:`preprocess_continuous`: optional log, median imputation, standardisation per feature.
- :func:`preprocess`: every modality of a MuData, the type inferred where not given.
- :func:`preprocessing_record` / :func:`apply_preprocessing`: what preprocessing learnt from the
  training samples (:class:`PreprocessingRecord`), and the same transform applied to new raw samples.
"""

from omicsdisent.pp.continuous import preprocess_continuous
from omicsdisent.pp.counts import preprocess_counts
from omicsdisent.pp.methylation import beta_to_mvalue, mvalue_to_beta, preprocess_methylation
from omicsdisent.pp.multimodal import format_preprocessing, preprocess
from omicsdisent.pp.record import PreprocessingRecord, apply_preprocessing, preprocessing_record
from omicsdisent.pp.types import MODALITY_TYPES, infer_modality_type

__all__ = [
    "MODALITY_TYPES",
    "PreprocessingRecord",
    "apply_preprocessing",
    "beta_to_mvalue",
    "format_preprocessing",
    "infer_modality_type",
    "mvalue_to_beta",
    "preprocess",
    "preprocess_continuous",
    "preprocess_counts",
    "preprocess_methylation",
    "preprocessing_record",
]
