"""Clinical tables: survival standardised to OS_time (days) and OS_event from each kind of source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.io import read_clinical, standardise_survival


def test_tcga_columns_use_death_for_dead_and_follow_up_otherwise():
    df = pd.DataFrame({
        "bcr_patient_barcode": ["TCGA-A1-A0SB", "TCGA-A1-A0SD", "TCGA-A2-A04N", "TCGA-A2-A04U"],
        "vital_status": ["Dead", "Alive", "DECEASED", "[Not Available]"],
        "days_to_death": [614.0, np.nan, 100.0, np.nan],
        "days_to_last_follow_up": [326.0, 242.0, "[Not Available]", 50.0],
    })
    out = standardise_survival(df)
    np.testing.assert_array_equal(out["OS_event"].to_numpy(), [1.0, 0.0, 1.0, np.nan])
    np.testing.assert_array_equal(out["OS_time"].to_numpy(), [614.0, 242.0, 100.0, np.nan])
    assert "vital_status" in out.attrs["survival"]
    assert "OS_time" not in df.columns  # the input is left alone


def test_tcga_cdr_columns():
    out = standardise_survival(pd.DataFrame({"OS": [1, 0, np.nan], "OS.time": [10.0, 20.0, 30.0]}))
    np.testing.assert_array_equal(out["OS_event"].to_numpy(), [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(out["OS_time"].to_numpy(), [10.0, 20.0, 30.0])
    assert "TCGA-CDR" in out.attrs["survival"]


def test_user_named_columns_in_months_become_days():
    df = pd.DataFrame({"OS_Months": [12.0, 1.0], "OS_Status": ["1:DECEASED", "0:LIVING"]})
    out = standardise_survival(df, time_col="OS_Months", event_col="OS_Status", time_unit="months")
    np.testing.assert_allclose(out["OS_time"].to_numpy(), [365.25, 30.4375])
    np.testing.assert_array_equal(out["OS_event"].to_numpy(), [1.0, 0.0])


def test_cbioportal_columns_are_found_without_naming_them():
    out = standardise_survival(pd.DataFrame({"OS_MONTHS": [2.0], "OS_STATUS": ["DECEASED"]}))
    assert out["OS_time"].iloc[0] == pytest.approx(60.875) and out["OS_event"].iloc[0] == 1.0


def test_table_without_survival_gets_no_os_columns():
    out = standardise_survival(pd.DataFrame({"patient": ["a"], "age": [50]}))
    assert "OS_time" not in out.columns and out.attrs["survival"] == "none found"


def test_named_column_that_is_absent_is_an_error_naming_it():
    with pytest.raises(InputError, match="no column 'OS_days' named by time_col"):
        standardise_survival(pd.DataFrame({"OS_event": [1]}), time_col="OS_days", event_col="OS_event")


def test_naming_only_the_time_column_is_an_error():
    with pytest.raises(InputError, match="event_col"):
        standardise_survival(pd.DataFrame({"t": [1.0]}), time_col="t")


def test_unrecognised_event_values_are_an_error():
    with pytest.raises(InputError, match="'vital_status'.*'Maybe'"):
        standardise_survival(pd.DataFrame({"vital_status": ["Maybe"], "days_to_death": [1.0]}))


def test_read_clinical_tsv_indexes_by_id_column_and_standardises(tmp_path):
    path = tmp_path / "clin.tsv"
    path.write_text("age\tpatient\tOS\tOS.time\n50\tTCGA-A1-A0SB\t1\t99\n60\tTCGA-A1-A0SD\t0\t120\n")
    df = read_clinical(path)
    assert list(df.index) == ["TCGA-A1-A0SB", "TCGA-A1-A0SD"]
    assert list(df["OS_time"]) == [99.0, 120.0] and list(df["age"]) == [50, 60]
    assert df.attrs["source"] == str(path)


def test_read_clinical_missing_or_empty_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_clinical(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_clinical(tmp_path / "empty.csv")


def test_os_time_days_with_os_event_is_recognised_without_naming_columns(tmp_path):
    path = tmp_path / "clin.csv"
    path.write_text("patient,OS_time_days,OS_event\nTCGA-AA-0001,100,1\nTCGA-AA-0002,250.5,0\n")
    table = read_clinical(path)
    assert table["OS_time"].tolist() == [100.0, 250.5]
    assert table["OS_event"].tolist() == [1.0, 0.0]


def test_tcga_cdr_endpoints_pfi_dss_dfi_are_standardised_beside_os():
    df = pd.DataFrame({
        "bcr_patient_barcode": ["TCGA-A1-A0SB", "TCGA-A1-A0SD", "TCGA-A2-A04N"],
        "OS": [1, 0, 0], "OS.time": [614.0, 242.0, 100.0],
        "PFI": [1, "#N/A", 0], "PFI.time": [300.0, 242.0, "[Not Available]"],
        "DSS": ["1", "0", ""], "DSS.time": [614, 242, 100],
        "DFI": [0, 1, 0], "DFI.time": [-5.0, 120.0, 80.0],
    })
    df.loc[1, "PFI"] = np.nan
    out = standardise_survival(df)
    np.testing.assert_array_equal(out["PFI_event"].to_numpy(), [1.0, np.nan, 0.0])
    np.testing.assert_array_equal(out["PFI_time"].to_numpy(), [300.0, 242.0, np.nan])
    np.testing.assert_array_equal(out["DSS_event"].to_numpy(), [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(out["DSS_time"].to_numpy(), [614.0, 242.0, 100.0])
    # A negative time is kept for the analysis to count and drop, as for OS.
    np.testing.assert_array_equal(out["DFI_time"].to_numpy(), [-5.0, 120.0, 80.0])
    assert "PFI, DSS, DFI" in out.attrs["survival"] and "TCGA-CDR" in out.attrs["survival"]


def test_an_endpoint_without_os_is_still_read():
    out = standardise_survival(pd.DataFrame({"PFI": [1, 0], "PFI.time": [10.0, 20.0]}))
    assert "OS_time" not in out.columns
    np.testing.assert_array_equal(out["PFI_event"].to_numpy(), [1.0, 0.0])
    assert out.attrs["survival"].startswith("none found; also PFI")


@pytest.mark.parametrize(("column", "value", "fragment"), [
    ("PFI", 2, "column 'PFI' holds unrecognised survival events ['2']"),
    ("PFI.time", "soon", "column 'PFI.time' holds non-numeric survival times such as 'soon'"),
])
def test_bad_endpoint_values_are_errors_naming_the_column(column, value, fragment):
    df = pd.DataFrame({"PFI": [1, 0], "PFI.time": [10.0, 20.0]}).astype(object)
    df.loc[0, column] = value
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        standardise_survival(df, label="cdr.tsv")


def test_endpoint_columns_name_the_standardised_pair():
    from omicsdisent.io.clinical import endpoint_columns

    assert endpoint_columns("pfi") == ("PFI_time", "PFI_event")
    with pytest.raises(InputError, match="endpoint='PFS': expected one of OS, PFI, DSS, DFI"):
        endpoint_columns("PFS")
