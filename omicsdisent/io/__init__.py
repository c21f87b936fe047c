"""Reading and aligning multi-omics data: files -> one MuData with a presence mask and clinical obs.

    >>> from omicsdisent.io import read_modalities, presence_mask
    >>> mdata = read_modalities(["rna.csv", "meth.csv"], clinical="clinical.csv")
    >>> presence_mask(mdata).sum()          # samples per modality

See ``docs/architecture.md`` for the MuData contract other layers rely on.
"""

from __future__ import annotations

from omicsdisent.io.align import (
    LEVELS,
    align_modalities,
    alignment_summary,
    presence_mask,
    read_modalities,
    write_h5mu,
)
from omicsdisent.io.barcodes import (
    SAMPLE_TYPE_PREFERENCE,
    SAMPLE_TYPES,
    TCGABarcode,
    alignment_key,
    parse_barcode,
)
from omicsdisent.io.clinical import read_clinical, standardise_survival
from omicsdisent.io.readers import ORIENTATIONS, read_modality
from omicsdisent.io.summary import AlignmentSummary, DroppedSample

__all__ = [
    "AlignmentSummary",
    "DroppedSample",
    "LEVELS",
    "ORIENTATIONS",
    "SAMPLE_TYPES",
    "SAMPLE_TYPE_PREFERENCE",
    "TCGABarcode",
    "align_modalities",
    "alignment_key",
    "alignment_summary",
    "parse_barcode",
    "presence_mask",
    "read_clinical",
    "read_modalities",
    "read_modality",
    "standardise_survival",
    "write_h5mu",
]
