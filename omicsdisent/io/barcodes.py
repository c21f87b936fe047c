"""TCGA barcodes: parsing, reduction to the alignment level, and which sample of a patient to keep.

A TCGA aliquot barcode reads ``TCGA-A1-A0SB-01A-11R-A144-07``::

    TCGA  project          A1    tissue source site (TSS)   A0SB  participant
    01    sample type      A     vial                       11    portion
    R     analyte          A144  plate                      07    sequencing/characterisation centre

Shorter prefixes are valid too: ``TCGA-A1-A0SB`` is the patient (12 characters) and
``TCGA-A1-A0SB-01`` the sample (15 characters; 16 with the vial). Dots or underscores in place of the
dashes (as R's ``make.names`` writes them) and lower case are accepted and normalised.

Alignment keys: at patient level a barcode becomes ``TCGA-XX-XXXX``; at sample level it becomes the
15-character ``TCGA-XX-XXXX-NN``. The vial letter is left out on purpose, so that a file with ``-01A``
and one with ``-01`` meet; two vials of one sample in one file are then duplicates, resolved by
:func:`sample_preference`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from omicsdisent.errors import InputError

_SEP = r"[-._]"
_BARCODE_RE = re.compile(
    rf"^(TCGA){_SEP}([A-Z0-9]{{2}}){_SEP}([A-Z0-9]{{4}})"
    rf"(?:{_SEP}(\d{{2}})([A-Z])?"
    rf"(?:{_SEP}(\d{{2}})([A-Z])?"
    rf"(?:{_SEP}([A-Z0-9]{{4}})"
    rf"(?:{_SEP}([A-Z0-9]{{2}}))?)?)?)?$",
    re.IGNORECASE,
)

SAMPLE_TYPES = {
    1: "Primary Solid Tumor",
    2: "Recurrent Solid Tumor",
    3: "Primary Blood Derived Cancer - Peripheral Blood",
    4: "Recurrent Blood Derived Cancer - Bone Marrow",
    5: "Additional - New Primary",
    6: "Metastatic",
    7: "Additional Metastatic",
    8: "Human Tumor Original Cells",
    9: "Primary Blood Derived Cancer - Bone Marrow",
    10: "Blood Derived Normal",
    11: "Solid Tissue Normal",
    12: "Buccal Cell Normal",
    13: "EBV Immortalized Normal",
    14: "Bone Marrow Normal",
    15: "sample type 15",
    16: "sample type 16",
    20: "Control Analyte",
    40: "Recurrent Blood Derived Cancer - Peripheral Blood",
    50: "Cell Lines",
    60: "Primary Xenograft Tissue",
    61: "Cell Line Derived Xenograft Tissue",
    99: "sample type 99",
}

# Which sample of a patient to keep when one modality has several: primary tumours first
# (solid 01, blood 03, bone marrow 09), then metastases (06), recurrences (02), new primaries (05),
# additional metastases (07), the remaining tumour codes, and normal tissue (10-19) last.
SAMPLE_TYPE_PREFERENCE = (1, 3, 9, 6, 2, 5, 7, 4, 40, 8, 11, 10, 12, 14, 13, 15, 16, 19, 17, 18)

NORMAL_SAMPLE_TYPES = range(10, 20)


@dataclass(frozen=True)
class TCGABarcode:
    """The fields of a TCGA barcode; fields that the barcode does not reach are ``None``."""

    project: str
    tss: str
    participant: str
    sample_type: int | None = None
    vial: str | None = None
    portion: str | None = None
    analyte: str | None = None
    plate: str | None = None
    centre: str | None = None

    @property
    def patient(self) -> str:
        """The 12-character patient barcode, ``TCGA-XX-XXXX``."""
        return f"{self.project}-{self.tss}-{self.participant}"

    @property
    def sample(self) -> str | None:
        """The 15-character sample barcode ``TCGA-XX-XXXX-NN`` (no vial), or None for a patient barcode."""
        if self.sample_type is None:
            return None
        return f"{self.patient}-{self.sample_type:02d}"

    @property
    def sample_type_name(self) -> str:
        if self.sample_type is None:
            return "patient barcode (no sample type)"
        return SAMPLE_TYPES.get(self.sample_type, f"sample type {self.sample_type:02d}")

    @property
    def is_normal(self) -> bool:
        """True for normal tissue (sample types 10-19)."""
        return self.sample_type is not None and self.sample_type in NORMAL_SAMPLE_TYPES

    def __str__(self) -> str:
        text = self.patient
        if self.sample_type is not None:
            text += f"-{self.sample_type:02d}{self.vial or ''}"
            if self.portion is not None:
                text += f"-{self.portion}{self.analyte or ''}"
                if self.plate is not None:
                    text += f"-{self.plate}"
                    if self.centre is not None:
                        text += f"-{self.centre}"
        return text


def try_parse_barcode(text: str) -> TCGABarcode | None:
    """The parsed barcode, or None where ``text`` is not a TCGA barcode."""
    match = _BARCODE_RE.match(str(text).strip())
    if match is None:
        return None
    project, tss, participant, stype, vial, portion, analyte, plate, centre = match.groups()

    def upper(value):
        return None if value is None else value.upper()

    return TCGABarcode(
        project=project.upper(),
        tss=tss.upper(),
        participant=participant.upper(),
        sample_type=None if stype is None else int(stype),
        vial=upper(vial),
        portion=portion,
        analyte=upper(analyte),
        plate=upper(plate),
        centre=upper(centre),
    )


def parse_barcode(text: str) -> TCGABarcode:
    """Parse a TCGA barcode (patient, sample or aliquot); raise InputError if ``text`` is not one."""
    barcode = try_parse_barcode(text)
    if barcode is None:
        raise InputError(
            f"{text!r} is not a TCGA barcode; expected e.g. 'TCGA-A1-A0SB' (patient) or "
            "'TCGA-A1-A0SB-01A-11R-A144-07' (aliquot)"
        )
    return barcode


def is_barcode(text: str) -> bool:
    return _BARCODE_RE.match(str(text).strip()) is not None


def barcode_fraction(values) -> float:
    """Share (0..1) of ``values`` that are TCGA barcodes; 0 for an empty sequence."""
    values = list(values)
    if not values:
        return 0.0
    return sum(is_barcode(v) for v in values) / len(values)


def alignment_key(text: str, level: str) -> tuple[str, TCGABarcode | None]:
    """The id a sample aligns by at ``level`` ("patient" or "sample"), and its barcode if it has one.

    Non-TCGA ids align by their exact text (surrounding spaces removed). A patient-only barcode stays
    a patient id at sample level; callers decide whether that is acceptable.
    """
    barcode = try_parse_barcode(text)
    if barcode is None:
        return str(text).strip(), None
    if level == "sample" and barcode.sample is not None:
        return barcode.sample, barcode
    return barcode.patient, barcode


def sample_preference(barcode: TCGABarcode | None, position: int) -> tuple:
    """Sort key: the smallest key is the sample to keep among several of one patient/sample.

    Order: sample type by :data:`SAMPLE_TYPE_PREFERENCE` (other codes after, ascending), then vial
    (A before B), portion, analyte and plate, then the position in the file.
    """
    if barcode is None or barcode.sample_type is None:
        return (len(SAMPLE_TYPE_PREFERENCE) + 100, "", "", "", "", position)
    stype = barcode.sample_type
    if stype in SAMPLE_TYPE_PREFERENCE:
        rank = SAMPLE_TYPE_PREFERENCE.index(stype)
    else:
        rank = len(SAMPLE_TYPE_PREFERENCE) + stype
    return (rank, barcode.vial or "", barcode.portion or "", barcode.analyte or "", barcode.plate or "", position)
