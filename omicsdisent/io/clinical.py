"""Clinical tables: reading, and survival endpoints standardised to ``<E>_time`` (days) and ``<E>_event``.

Overall survival (``OS_time``/``OS_event``) is found as below. The other TCGA-CDR endpoints (Liu et
al. 2018: ``PFI`` progression-free interval, ``DSS`` disease-specific survival, ``DFI`` disease-free
interval) are read from their TCGA-CDR columns ``PFI``/``PFI.time`` (and ``DSS``, ``DFI``), or from
``PFI_time``/``PFI_event`` already standardised, into ``PFI_time`` (days) and ``PFI_event``, with
the same checks as OS (non-numeric times and unrecognised events are errors naming the column;
negative and missing times are kept, for the analysis to count and drop).

Survival sources, the first that applies wins:

1. Columns the user names (``time_col``, ``event_col``, with ``time_unit`` "days", "months" or
   "years"; a month is 365.25 / 12 = 30.4375 days).
2. ``OS_time`` (or ``OS_time_days``) and ``OS_event`` already present (a table standardised before).
3. TCGA-CDR (Liu et al. 2018): ``OS`` (1/0) and ``OS.time`` (days).
4. TCGA clinical: ``vital_status`` (Dead/Alive, DECEASED/LIVING) with ``days_to_death`` and
   ``days_to_last_followup`` or ``days_to_last_follow_up``: time is days to death for the dead and
   days to last follow-up otherwise.
5. cBioPortal: ``OS_MONTHS`` and ``OS_STATUS`` (any case; ``1:DECEASED``/``0:LIVING``), months.

Event values are read as 1.0 (dead, deceased, 1, true, yes) or 0.0 (alive, living, censored, 0,
false, no); empty cells and TCGA's bracketed placeholders (``[Not Available]``) become NaN. Any other
value is an error naming the column.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from omicsdisent.errors import InputError

ENDPOINTS = ("OS", "PFI", "DSS", "DFI")
ENDPOINT_NAMES = {
    "OS": "overall survival",
    "PFI": "progression-free interval",
    "DSS": "disease-specific survival",
    "DFI": "disease-free interval",
}
DAYS_PER_UNIT = {"days": 1.0, "months": 365.25 / 12.0, "years": 365.25}
CLINICAL_ID_COLUMNS = (
    "patient", "bcr_patient_barcode", "submitter_id", "case_submitter_id", "sample", "bcr_sample_barcode",
    "sample_id", "patient_id", "barcode", "tcga_patient", "id",
)

_EVENT_WORDS = {
    "dead": 1.0, "deceased": 1.0, "died": 1.0, "1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0, "event": 1.0,
    "alive": 0.0, "living": 0.0, "censored": 0.0, "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0,
}
_MISSING_WORDS = {"", "na", "nan", "none", "null", "unknown", "not reported", "not available", "n/a", "--"}
_PLACEHOLDER = re.compile(r"^\[.*\]$")


def read_clinical(path, *, time_col: str | None = None, event_col: str | None = None,
                  time_unit: str = "days") -> pd.DataFrame:
    """Read a clinical CSV/TSV (optionally .gz) and standardise overall survival.

    Returns a DataFrame (one row per table row) holding every column of the file plus ``OS_time``
    (days, float) and ``OS_event`` (1.0/0.0/NaN) where a survival source is found (see the module
    docstring). The index is the id column: the first of ``patient``, ``bcr_patient_barcode``,
    ``submitter_id``, ``sample``, ``id``, ... that exists, else the first column; the id column is also
    kept as a column, so a join can try the others. ``df.attrs["source"]`` is the path and
    ``df.attrs["survival"]`` says where survival came from.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file (clinical table)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a clinical table file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the clinical table is empty")
    lower = path.name.lower().removesuffix(".gz")
    sep = "\t" if lower.endswith((".tsv", ".txt")) else ","
    try:
        frame = pd.read_csv(path, sep=sep, low_memory=False, compression="infer")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the clinical table is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as err:
        raise InputError(f"{path}: cannot be parsed as a table ({str(err).strip().splitlines()[0]})") from None
    if sep == "," and frame.shape[1] == 1 and "\t" in str(frame.columns[0]):
        frame = pd.read_csv(path, sep="\t", low_memory=False, compression="infer")
    if frame.shape[0] == 0:
        raise InputError(f"{path}: the clinical table has a header but no rows")
    frame.columns = ["" if str(c).startswith("Unnamed: ") else str(c).strip() for c in frame.columns]
    if frame.columns[0] == "":
        frame = frame.rename(columns={"": "id"}) if "id" not in frame.columns else frame
    id_col = _default_id_column(frame)
    out, survival = standardise_survival_with_source(
        frame, time_col=time_col, event_col=event_col, time_unit=time_unit, label=str(path)
    )
    out.index = pd.Index(out[id_col].astype(str).str.strip(), name=None)
    out.attrs.update(source=str(path), survival=survival, id_column=id_col)
    return out


def _default_id_column(frame: pd.DataFrame) -> str:
    lowered = {str(c).lower(): c for c in frame.columns}
    for name in CLINICAL_ID_COLUMNS:
        if name in lowered:
            return lowered[name]
    return frame.columns[0]


def standardise_survival(df: pd.DataFrame, *, time_col: str | None = None, event_col: str | None = None,
                         time_unit: str = "days", label: str = "clinical table") -> pd.DataFrame:
    """A copy of ``df`` with ``OS_time`` (days, float) and ``OS_event`` (1.0/0.0/NaN) added.

    Uses the first survival source that applies (module docstring); where none applies the copy has
    no OS columns. ``df.attrs["survival"]`` on the result describes the source used. ``label`` names
    the table in error messages.
    """
    out, survival = standardise_survival_with_source(
        df, time_col=time_col, event_col=event_col, time_unit=time_unit, label=label
    )
    out.attrs["survival"] = survival
    return out


def standardise_survival_with_source(df: pd.DataFrame, *, time_col=None, event_col=None, time_unit="days",
                                     label="clinical table") -> tuple[pd.DataFrame, str]:
    """:func:`standardise_survival`, also returning a one-line description of the source used."""
    if time_unit not in DAYS_PER_UNIT:
        raise InputError(f"time_unit={time_unit!r}: expected one of {', '.join(DAYS_PER_UNIT)}")
    out = df.copy()
    if (time_col is None) != (event_col is None):
        missing = "event_col (--event-col)" if event_col is None else "time_col (--time-col)"
        raise InputError(f"{label}: survival columns must be named together; also set {missing}")
    if time_col is not None:
        for option, col in (("time_col (--time-col)", time_col), ("event_col (--event-col)", event_col)):
            if col not in out.columns:
                raise InputError(
                    f"{label}: no column {col!r} named by {option}; columns are {_preview(out.columns)}"
                )
        time = _days(out[time_col], time_col, label) * DAYS_PER_UNIT[time_unit]
        event = _events(out[event_col], event_col, label)
        source = f"columns {time_col!r} ({time_unit}) and {event_col!r}"
    elif "OS_event" in out.columns and ({"OS_time", "OS_time_days"} & set(out.columns)):
        time_name = "OS_time" if "OS_time" in out.columns else "OS_time_days"
        time, event = _days(out[time_name], time_name, label), _events(out["OS_event"], "OS_event", label)
        source = f"columns {time_name!r} (days) and 'OS_event'"
    elif {"OS", "OS.time"} <= set(out.columns):
        time, event = _days(out["OS.time"], "OS.time", label), _events(out["OS"], "OS", label)
        source = "TCGA-CDR columns 'OS.time' (days) and 'OS'"
    elif "vital_status" in out.columns and (
        "days_to_death" in out.columns or _followup_column(out) is not None
    ):
        event = _events(out["vital_status"], "vital_status", label)
        death = _days(out["days_to_death"], "days_to_death", label) if "days_to_death" in out.columns \
            else pd.Series(np.nan, index=out.index)
        follow_col = _followup_column(out)
        follow = _days(out[follow_col], follow_col, label) if follow_col else pd.Series(np.nan, index=out.index)
        time = pd.Series(np.where(event == 1.0, death, np.where(event == 0.0, follow, np.nan)), index=out.index)
        source = f"TCGA columns 'vital_status', 'days_to_death' and {follow_col or 'no follow-up column'!r}"
    else:
        lowered = {str(c).lower(): c for c in out.columns}
        if "os_months" in lowered and "os_status" in lowered:
            months, status = lowered["os_months"], lowered["os_status"]
            time = _days(out[months], months, label) * DAYS_PER_UNIT["months"]
            event = _events(out[status], status, label)
            source = f"cBioPortal columns {months!r} (months) and {status!r}"
        else:
            return out, _with_endpoints("none found", _standardise_other_endpoints(out, label))
    out["OS_time"] = time.astype(float).to_numpy()
    out["OS_event"] = event.astype(float).to_numpy()
    return out, _with_endpoints(source, _standardise_other_endpoints(out, label))


def endpoint_columns(endpoint: str) -> tuple[str, str]:
    """The standardised ``(time, event)`` obs columns of a TCGA-CDR endpoint, e.g. ``("PFI_time", "PFI_event")``."""
    name = str(endpoint).upper()
    if name not in ENDPOINTS:
        raise InputError(f"endpoint={endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
    return f"{name}_time", f"{name}_event"


def _standardise_other_endpoints(out: pd.DataFrame, label: str) -> list[str]:
    """Add ``<E>_time``/``<E>_event`` in place for PFI, DSS and DFI where their columns exist; the endpoints found."""
    found = []
    for endpoint in ENDPOINTS[1:]:
        time_name, event_name = endpoint_columns(endpoint)
        if {time_name, event_name} <= set(out.columns):
            time, event = _days(out[time_name], time_name, label), _events(out[event_name], event_name, label)
        elif {endpoint, f"{endpoint}.time"} <= set(out.columns):
            time = _days(out[f"{endpoint}.time"], f"{endpoint}.time", label)
            event = _events(out[endpoint], endpoint, label)
        else:
            continue
        out[time_name] = time.astype(float).to_numpy()
        out[event_name] = event.astype(float).to_numpy()
        found.append(endpoint)
    return found


def _with_endpoints(source: str, endpoints: list[str]) -> str:
    if not endpoints:
        return source
    return f"{source}; also {', '.join(endpoints)} (TCGA-CDR columns, as <E>_time/<E>_event)"


def _followup_column(df: pd.DataFrame) -> str | None:
    for name in ("days_to_last_followup", "days_to_last_follow_up"):
        if name in df.columns:
            return name
    return None


def _is_missing_text(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip()
    return values.isna() | text.str.lower().isin(_MISSING_WORDS) | text.str.match(_PLACEHOLDER)


def _days(values: pd.Series, column: str, label: str) -> pd.Series:
    """Numeric times; placeholders become NaN; other text is an error naming the column."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & ~_is_missing_text(values)
    if bad.any():
        raise InputError(
            f"{label}: column {column!r} holds non-numeric survival times such as "
            f"{values[bad].iloc[0]!r}; expected numbers"
        )
    return numbers.astype(float)


def _events(values: pd.Series, column: str, label: str) -> pd.Series:
    """Events as 1.0 (death), 0.0 (censored) or NaN; unrecognised values are an error."""
    text = values.astype(str).str.strip().str.lower()
    # cBioPortal writes "1:DECEASED" / "0:LIVING".
    text = text.str.replace(r"^([01]):.*$", r"\1", regex=True)
    mapped = text.map(_EVENT_WORDS)
    missing = _is_missing_text(values)
    bad = mapped.isna() & ~missing
    if bad.any():
        examples = sorted(set(values[bad].astype(str)))[:3]
        raise InputError(
            f"{label}: column {column!r} holds unrecognised survival events {examples}; expected "
            "Dead/Alive, DECEASED/LIVING or 1/0"
        )
    return mapped.where(~missing).astype(float)


def _preview(columns, limit: int = 12) -> str:
    names = [str(c) for c in columns]
    text = ", ".join(repr(n) for n in names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")
