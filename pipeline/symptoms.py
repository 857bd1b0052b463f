"""Read the symptom table: one row per patient assessment.

Values that cannot be read (a date like 31/02/2024, "six" for months, a negative number)
give a message naming the file, row and column; the row is kept with that field missing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError
from .io import read_records, shown_names, shown_value

#: field -> kind of value
FIELDS = {
    "patient_id": "id",
    "assessment_date": "date",
    "lbp_duration_months": "months",
    "lbp_onset_date": "date",
    "conservative_care_months": "months",
    "radicular_pain": "bool",
    "odi": "odi",
    "pain_score": "pain",
    "bmi": "bmi",
    "prior_lumbar_surgery": "bool",
}
REQUIRED = ("patient_id", "assessment_date", "conservative_care_months", "radicular_pain")
OPTIONAL = ("odi", "pain_score", "bmi", "prior_lumbar_surgery")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
_RANGES = {"months": (0, 1200), "odi": (0, 100), "pain": (0, 10), "bmi": (5, 150)}
_EXPECTED = {
    "date": "an ISO date (YYYY-MM-DD)",
    "bool": "true/false, yes/no or 1/0",
    "months": "a number of months from 0",
    "odi": "an ODI score from 0 to 100",
    "pain": "a pain score from 0 to 10",
    "bmi": "a BMI from 5 to 150",
}


@dataclass
class Assessment:
    """One symptom assessment; a field the table left blank or could not be read is None."""

    patient_id: str
    row: int
    assessment_date: dt.date | None = None
    lbp_duration_months: float | None = None
    lbp_onset_date: dt.date | None = None
    conservative_care_months: float | None = None
    radicular_pain: bool | None = None
    odi: float | None = None
    pain_score: float | None = None
    bmi: float | None = None
    prior_lumbar_surgery: bool | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class SymptomTable:
    by_patient: dict[str, list[Assessment]]
    fields: tuple[str, ...]  # the fields the table has a column for
    messages: list[str]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def parse_value(kind: str, value: object) -> object:
    """The value read as `kind`; raises ValueError when it cannot be."""
    if kind == "id":
        return str(value).strip()
    if kind == "date":
        if isinstance(value, (dt.datetime, pd.Timestamp)):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value).strip()[:10])
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text.endswith(".0"):
            text = text[:-2]
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError
    number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    low, high = _RANGES[kind]
    if math.isnan(number) or not low <= number <= high:
        raise ValueError
    return number


def read_symptoms(path: Path, columns: dict[str, str] | None = None) -> SymptomTable:
    """Read a CSV, Parquet or JSON Lines symptom table; `columns` maps field -> column name."""
    path = Path(path)
    names = {f: (columns or {}).get(f, f) for f in FIELDS}
    unknown = set(columns or {}) - set(FIELDS)
    if unknown:
        raise InputError(f"unknown symptom field(s) {', '.join(sorted(unknown))}; fields: {', '.join(FIELDS)}")
    found, records = read_records(path)
    needed = list(REQUIRED)
    if names["lbp_duration_months"] not in found and names["lbp_onset_date"] not in found:
        needed.append("lbp_duration_months")
    for f in needed:
        if names[f] not in found:
            raise InputError(
                f"{path}: missing required column {names[f]!r} (map another with --symptom-col {f}=COLUMN); "
                f"columns found: {shown_names(found)}"
                + ("; lbp_onset_date may stand in for lbp_duration_months" if f == "lbp_duration_months" else "")
            )
    present = tuple(f for f in FIELDS if names[f] in found)
    by_patient: dict[str, list[Assessment]] = {}
    messages: list[str] = []
    for n, (where, record) in enumerate(records, 1):
        values: dict[str, object] = {}
        notes = []
        for f in present:
            raw = record[names[f]]
            if _blank(raw):
                continue
            try:
                values[f] = parse_value(FIELDS[f], raw)
            except (ValueError, TypeError):
                shown = shown_value(raw)
                messages.append(f"{path} {where}, column {names[f]}: {shown} is not {_EXPECTED[FIELDS[f]]}; left empty")
                notes.append(f"symptom {where}: {names[f]} {shown} unreadable")
        pid = values.pop("patient_id", "")
        if not pid:
            messages.append(f"{path} {where}, column {names['patient_id']}: no patient id; the row cannot be joined")
            continue
        by_patient.setdefault(pid, []).append(Assessment(pid, n, notes=notes, **values))
    return SymptomTable(by_patient, present, messages)


