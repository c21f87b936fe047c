"""TCGA barcode parsing, alignment keys and the primary-tumour preference."""

from __future__ import annotations

import pytest

from omicsdisent.errors import InputError
from omicsdisent.io import alignment_key, parse_barcode
from omicsdisent.io.barcodes import sample_preference


def test_parse_full_aliquot_barcode_gives_every_field():
    barcode = parse_barcode("TCGA-A1-A0SB-01A-11R-A144-07")
    assert (barcode.project, barcode.tss, barcode.participant) == ("TCGA", "A1", "A0SB")
    assert (barcode.sample_type, barcode.vial, barcode.portion, barcode.analyte) == (1, "A", "11", "R")
    assert (barcode.plate, barcode.centre) == ("A144", "07")
    assert barcode.patient == "TCGA-A1-A0SB"
    assert barcode.sample == "TCGA-A1-A0SB-01"
    assert str(barcode) == "TCGA-A1-A0SB-01A-11R-A144-07"
    assert barcode.sample_type_name == "Primary Solid Tumor"


def test_parse_accepts_r_style_dots_and_lower_case():
    barcode = parse_barcode("tcga.a1.a0sb.11b")
    assert barcode.patient == "TCGA-A1-A0SB"
    assert barcode.sample_type == 11 and barcode.vial == "B"
    assert barcode.is_normal


def test_patient_barcode_has_no_sample():
    barcode = parse_barcode("TCGA-3C-AAAU")
    assert barcode.sample is None and barcode.sample_type is None and not barcode.is_normal


@pytest.mark.parametrize("text", ["A0FJ", "sample_1", "TCGA-A1", "TCGA-A1-A0SB-1"])
def test_non_tcga_ids_are_rejected_with_input_error(text):
    with pytest.raises(InputError, match="not a TCGA barcode"):
        parse_barcode(text)


@pytest.mark.parametrize("code,normal", [(1, False), (6, False), (9, False), (10, True), (11, True), (19, True), (20, False)])
def test_normal_tissue_is_sample_types_10_to_19(code, normal):
    assert parse_barcode(f"TCGA-A1-A0SB-{code:02d}A").is_normal is normal


def test_alignment_key_reduces_to_patient_or_15_character_sample():
    assert alignment_key("TCGA-A1-A0SB-01A-11R-A144-07", "patient")[0] == "TCGA-A1-A0SB"
    assert alignment_key("TCGA-A1-A0SB-01A-11R-A144-07", "sample")[0] == "TCGA-A1-A0SB-01"
    assert alignment_key("TCGA.A1.A0SB.01", "sample")[0] == "TCGA-A1-A0SB-01"
    key, barcode = alignment_key(" A0FJ ", "patient")
    assert key == "A0FJ" and barcode is None


def test_preference_puts_primary_tumour_first_then_blood_metastasis_recurrence():
    ids = ["TCGA-A1-A0SB-02A", "TCGA-A1-A0SB-06A", "TCGA-A1-A0SB-01B", "TCGA-A1-A0SB-03A", "TCGA-A1-A0SB-01A",
           "TCGA-A1-A0SB-11A", "TCGA-A1-A0SB-05A"]
    ranked = sorted(range(len(ids)), key=lambda i: sample_preference(parse_barcode(ids[i]), i))
    assert [ids[i][-3:] for i in ranked] == ["01A", "01B", "03A", "06A", "02A", "05A", "11A"]
