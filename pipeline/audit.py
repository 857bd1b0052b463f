"""Referral audit: who was flagged and never referred, who was referred or treated without qualifying imaging.

`modic audit DIR --referrals FILE --out AUDIT_DIR` joins the patients `modic flag` wrote to DIR
with a referral table (one row per referral or procedure; a row with no referral date,
destination or procedure only carries the patient's site and provider) and writes the audit
tables as CSV, an `audit.duckdb` holding the same tables and a self-contained `audit.html`.

Which destinations count as a spine or pain specialist and which procedure names mean a
basivertebral nerve ablation (BVNA) is data: `patterns/audit.toml`.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .csvcells import unescape_frame
from .errors import InputError, ModicError
from .io import read_records, shown_names, shown_value
from .outdir import Products
from .outputs import cell, database, load_csv
from .schema import (
    CANDIDATE,
    MODIC,
    MODIC_TYPES,
    NOT_CANDIDATE,
    PATIENT_STATUSES,
    STATUS_OK,
    exam_kind,
    kind_label,
    level_sort_key,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RULES_FILE = "audit.toml"
DEFAULT_WINDOW_DAYS = 180
UNKNOWN = "unknown"
ALL = "all"
SPECIALIST, NON_SPECIALIST, OTHER = "specialist", "non_specialist", "other"
KINDS = (SPECIALIST, NON_SPECIALIST)

# When a referral happened, relative to the patient's index MRI.
BEFORE_MRI, WITHIN, AFTER, NO_DATE, NO_INDEX = "before_mri", "within_window", "after_window", "no_date", "no_index_mri"

TIMING_TEXT = {
    BEFORE_MRI: "before the MRI",
    WITHIN: "within the window",
    AFTER: "after the window",
    NO_DATE: "date unreadable",
    NO_INDEX: "no index MRI date",
}

# Concern labels of a specialist referral or BVNA procedure of a patient who is not a candidate, worst first.
CONCERNS = (
    "procedure_without_qualifying_imaging",
    "procedure_despite_exclusion",
    "procedure_pending_review",
    "referral_despite_exclusion",
    "referral_pending_review",
)

# Why a candidate has no specialist referral within the window.
GAPS = (
    "index_mri_undated",
    "specialist_after_window",
    "specialist_date_unreadable",
    "non_specialist_only",
    "specialist_before_mri_only",
    "other_referral_outside_window",
    "never_referred",
)

GAP_TEXT = {
    "index_mri_undated": "index MRI undated",
    "specialist_after_window": "late",
    "specialist_date_unreadable": "date unreadable",
    "non_specialist_only": "non-specialist only",
    "specialist_before_mri_only": "only before the MRI",
    "other_referral_outside_window": "other referral outside the window",
    "never_referred": "never referred",
}

# -- rules (patterns/audit.toml) ---------------------------------------------------------------


class AuditRulesError(ModicError):
    """The audit rule file cannot be used: names the file and the key."""


def _normalise(text: str) -> str:
    """Lower case, every run of characters that are not letters or digits -> one space."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split())


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern:
    alternatives = sorted({_normalise(p) for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![0-9a-z])(?:" + "|".join(map(re.escape, alternatives)) + r")(?![0-9a-z])")


@dataclass(frozen=True)
class Destination:
    name: str
    kind: str  # specialist | non_specialist
    label: str
    synonyms: tuple[str, ...]
    regex: re.Pattern = field(compare=False, repr=False)


@dataclass(frozen=True)
class AuditRules:
    description: str
    destinations: tuple[Destination, ...]
    bvna: tuple[str, ...]
    path: Path
    bvna_regex: re.Pattern = field(compare=False, repr=False)

    cache: dict = field(default_factory=dict, compare=False, repr=False)  # text -> answer (values repeat)

    def destination(self, referred_to: str) -> Destination | None:
        """The group a destination names: a specialist group first, then file order; None if none."""
        key = ("to", referred_to)
        if key not in self.cache:
            text = _normalise(referred_to)
            found = None
            for kind in KINDS if text else ():
                found = next((d for d in self.destinations if d.kind == kind and d.regex.search(text)), None)
                if found:
                    break
            self.cache[key] = found
        return self.cache[key]

    def is_bvna(self, procedure: str) -> bool:
        key = ("bvna", procedure)
        if key not in self.cache:
            text = _normalise(procedure)
            self.cache[key] = bool(text) and self.bvna_regex.search(text) is not None
        return self.cache[key]


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = ("description", "destinations", "procedures")
_GROUP_KEYS = ("kind", "label", "synonyms")
_PROCEDURE_KEYS = ("bvna",)


def _strings(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and _normalise(v) for v in value):
        raise AuditRulesError(f"{path}: {key} = {value!r}: expected a non-empty list of phrases")
    return tuple(value)


def _unknown(path: Path, prefix: str, data: dict, known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise AuditRulesError(f"{path}: unknown key '{prefix}{key}'; known keys: {', '.join(known)}")


def default_rules_path() -> Path:
    """patterns/audit.toml of this checkout, or of $MODIC_PATTERNS."""
    env = os.environ.get("MODIC_PATTERNS")
    return (Path(env) if env else Path(__file__).resolve().parents[1] / "patterns") / RULES_FILE


def load_rules(path: Path | None = None) -> AuditRules:
    """Read and check the audit rule file; an unknown key or a bad value is refused, naming the key."""
    path = Path(path) if path is not None else default_rules_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditRulesError(f"{path}: no such rule file") from None
    except tomllib.TOMLDecodeError as exc:
        raise AuditRulesError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditRulesError(f"{path}: cannot read: {exc}") from None
    _unknown(path, "", data, _TOP_KEYS)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise AuditRulesError(f"{path}: description = {description!r}: expected a string")
    groups = data.get("destinations")
    if not isinstance(groups, dict) or not groups:
        raise AuditRulesError(f"{path}: missing [destinations.NAME] tables (kind, synonyms)")
    destinations = []
    owner: dict[str, str] = {}
    for name, group in groups.items():
        prefix = f"destinations.{name}."
        if not _NAME.match(name):
            raise AuditRulesError(f"{path}: destinations.{name}: a name is lowercase letters, digits and _")
        if not isinstance(group, dict):
            raise AuditRulesError(f"{path}: destinations.{name}: expected a table with kind and synonyms")
        _unknown(path, prefix, group, _GROUP_KEYS)
        for key in ("kind", "synonyms"):
            if key not in group:
                raise AuditRulesError(f"{path}: missing key '{prefix}{key}'")
        if group["kind"] not in KINDS:
            raise AuditRulesError(f"{path}: {prefix}kind = {group['kind']!r}: expected one of {', '.join(KINDS)}")
        label = group.get("label", name.replace("_", " ").capitalize())
        if not isinstance(label, str) or not label.strip():
            raise AuditRulesError(f"{path}: {prefix}label = {label!r}: expected a non-empty string")
        synonyms = _strings(path, f"{prefix}synonyms", group["synonyms"])
        for phrase in synonyms:
            other = owner.setdefault(_normalise(phrase), name)
            if other != name:
                raise AuditRulesError(f"{path}: {prefix}synonyms: {phrase!r} is already a synonym of {other}")
        destinations.append(Destination(name, group["kind"], label, synonyms, _phrase_regex(synonyms)))
    procedures = data.get("procedures")
    if not isinstance(procedures, dict):
        raise AuditRulesError(f"{path}: missing table [procedures] with bvna = [...]")
    _unknown(path, "procedures.", procedures, _PROCEDURE_KEYS)
    if "bvna" not in procedures:
        raise AuditRulesError(f"{path}: missing key 'procedures.bvna'")
    bvna = _strings(path, "procedures.bvna", procedures["bvna"])
    return AuditRules(description, tuple(destinations), bvna, path, _phrase_regex(bvna))


# -- the referral table --------------------------------------------------------------------------

FIELDS = ("patient_id", "referral_date", "referred_to", "procedure", "site", "provider")
REQUIRED = ("patient_id", "referral_date", "referred_to")


@dataclass
class Referral:
    """One referral or procedure row; `date` is None when the file's date could not be read."""

    where: str  # "row 7" or "line 7", as the user finds it in the file
    patient_id: str
    date: dt.date | None
    date_text: str
    referred_to: str
    procedure: str
    site: str
    provider: str


@dataclass
class ReferralTable:
    path: Path
    referrals: list[Referral]
    site: dict[str, str]  # patient -> most common non-empty site of their rows
    provider: dict[str, str]
    messages: list[str]
    n_rows: int
    n_unreadable: int
    n_placeholders: int  # rows with no referral (site/provider only)


def _blank(value: object) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip() == ""


def _text(value: object) -> str:
    if type(value) is str:
        return " ".join(value.split())
    if _blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?$")


def parse_date(value: object) -> dt.date:
    """An ISO date (a datetime keeps its date); raises ValueError otherwise."""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _ISO.match(str(value).strip())
    if not match:
        raise ValueError(value)
    return dt.date.fromisoformat(match.group(1))


def _most_common(values: list[str]) -> str:
    """The most common non-empty value; a tie goes to the value seen first."""
    counts = Counter(v for v in values if v)
    if not counts:
        return UNKNOWN
    first = {v: i for i, v in reversed(list(enumerate(values)))}
    return max(counts, key=lambda v: (counts[v], -first[v]))


def read_referrals(path: Path, columns: dict[str, str] | None = None) -> ReferralTable:
    """Read the referral table; `columns` maps field -> column name (the --referral-col option)."""
    path = Path(path)
    unknown = set(columns or {}) - set(FIELDS)
    if unknown:
        raise InputError(f"unknown referral field(s) {', '.join(sorted(unknown))}; fields: {', '.join(FIELDS)}")
    names = {f: (columns or {}).get(f, f) for f in FIELDS}
    found, records = read_records(path)
    for f in REQUIRED:
        if names[f] not in found:
            raise InputError(
                f"{path}: missing required column {names[f]!r} (map another with --referral-col {f}=COLUMN); "
                f"columns found: {shown_names(found)}"
            )
    present = [f for f in FIELDS if names[f] in found]
    referrals: list[Referral] = []
    messages: list[str] = []
    sites: dict[str, list[str]] = {}
    providers: dict[str, list[str]] = {}
    unreadable = placeholders = 0
    for where, record in records:
        raw = {f: record.get(names[f]) for f in present}
        values = {f: _text(raw.get(f)) for f in FIELDS}
        pid = values["patient_id"]
        problem = False
        if not pid:
            messages.append(f"{path} {where}, column {names['patient_id']}: no patient id; the row cannot be joined")
            unreadable += 1
            continue
        sites.setdefault(pid, []).append(values["site"])
        providers.setdefault(pid, []).append(values["provider"])
        if not (values["referral_date"] or values["referred_to"] or values["procedure"]):
            placeholders += 1  # a cohort row without a referral: site and provider only
            continue
        date = None
        if not values["referral_date"]:
            messages.append(f"{path} {where}, column {names['referral_date']}: no referral date; kept without a date")
            problem = True
        else:
            try:
                date = parse_date(raw["referral_date"])
            except (ValueError, TypeError):
                messages.append(
                    f"{path} {where}, column {names['referral_date']}: {shown_value(values['referral_date'])} "
                    "is not an ISO date (YYYY-MM-DD); kept without a date"
                )
                problem = True
        unreadable += problem
        referrals.append(
            Referral(
                where,
                pid,
                date,
                values["referral_date"],
                values["referred_to"],
                values["procedure"],
                values["site"],
                values["provider"],
            )  # fmt: skip
        )
    site = {p: _most_common(v) for p, v in sites.items()}
    provider = {p: _most_common(v) for p, v in providers.items()}
    return ReferralTable(path, referrals, site, provider, messages, len(records), unreadable, placeholders)


# -- the patients `modic flag` wrote -------------------------------------------------------------

PATIENT_FIELDS = (
    "patient_id", "status", "reasons", "index_report_id", "index_report_date", "qualifying_levels", "evidence",
)  # fmt: skip


@dataclass
class Patient:
    patient_id: str
    status: str
    reasons: tuple[str, ...]
    index_report_id: str
    index_date: dt.date | None
    qualifying_levels: str
    evidence: str
    criteria: str = ""
    site: str = UNKNOWN
    provider: str = UNKNOWN
    set_aside: tuple[str, ...] = ()  # reports that could not be the index (not a lumbar MRI)

    @property
    def month(self) -> str:
        return self.index_date.strftime("%Y-%m") if self.index_date else UNKNOWN


def _read_csv(path: Path, needed: Iterable[str], hint: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: not found; {hint}")
    try:
        frame = unescape_frame(pd.read_csv(path, dtype=str, keep_default_na=False))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {' '.join(str(exc).split())}") from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; columns found: {', '.join(map(str, frame.columns))}"
        )
    return frame


def load_patients(out_dir: Path) -> list[Patient]:
    path = Path(out_dir) / "patients.csv"
    frame = _read_csv(path, PATIENT_FIELDS, f"run `modic flag {out_dir} --symptoms FILE` first")
    patients = []
    columns = list(frame.columns)
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        r = dict(zip(columns, values))
        if r["status"] not in PATIENT_STATUSES:
            raise InputError(f"{path} row {i + 1}, column status: {r['status']!r} is not one of {PATIENT_STATUSES}")
        try:
            index_date = parse_date(r["index_report_date"]) if r["index_report_date"] else None
        except ValueError:
            raise InputError(
                f"{path} row {i + 1}, column index_report_date: {r['index_report_date']!r} is not an ISO date"
            ) from None
        patients.append(
            Patient(
                r["patient_id"],
                r["status"],
                tuple(x for x in r["reasons"].split(";") if x),
                r["index_report_id"],
                index_date,
                r["qualifying_levels"],
                r["evidence"],
                r.get("criteria", ""),
                set_aside=tuple(x for x in r.get("set_aside", "").split(";") if x),
            )  # fmt: skip
        )
    return patients


def load_index_findings(out_dir: Path, patients: list[Patient]) -> dict[str, list[dict]]:
    """patient -> the current Modic findings of their index report (findings.csv)."""
    path = Path(out_dir) / "findings.csv"
    frame = _read_csv(path, ("report_id", "level", "finding", "modic_type", "uncertain"), "run `modic extract` first")
    by_report = {p.index_report_id: p.patient_id for p in patients if p.index_report_id}
    out: dict[str, list[dict]] = {}
    for r in frame.to_dict("records"):
        pid = by_report.get(r["report_id"])
        if pid is not None and r["finding"] == MODIC and r["level"]:
            out.setdefault(pid, []).append(r)
    return out


# -- one patient's referrals -------------------------------------------------------------------


@dataclass
class Event:
    """A referral row seen from the patient's index MRI."""

    referral: Referral
    kind: str  # specialist | non_specialist | other
    destination: str  # the group's label, or the text as written when no group matched
    bvna: bool
    days: int | None
    timing: str

    @property
    def specialist(self) -> bool:
        """A specialist destination, or a BVNA procedure (done by a specialist, whatever the destination says)."""
        return self.kind == SPECIALIST or self.bvna

    def describe(self) -> str:
        """'2021-03-02: Physiotherapy (day 15, within the window)', as the audit tables list a referral."""
        r = self.referral
        what = r.referred_to or "(no destination)"
        if r.procedure:
            what += f" [{r.procedure}]"
        when = r.date.isoformat() if r.date else repr(r.date_text) if r.date_text else "no date"
        day = f"day {self.days}, " if self.days is not None else ""
        return f"{when}: {what} ({day}{TIMING_TEXT[self.timing]})"


@dataclass
class PatientAudit:
    patient: Patient
    events: list[Event]
    specialist_within: bool
    any_within: bool
    bvna: bool  # a BVNA procedure not dated before the index MRI
    first_specialist: Event | None  # the first specialist referral on or after the index MRI
    specialist_before_mri: bool
    specialist_after_window: bool  # no specialist referral within the window, one after it


def timing(date: dt.date | None, index_date: dt.date | None, window_days: int) -> tuple[int | None, str]:
    """Days from the index MRI and where that falls: the window is 0 to window_days, both inclusive."""
    if date is None:
        return None, NO_DATE
    if index_date is None:
        return None, NO_INDEX
    days = (date - index_date).days
    return days, BEFORE_MRI if days < 0 else WITHIN if days <= window_days else AFTER


def audit_patient(patient: Patient, referrals: list[Referral], rules: AuditRules, window_days: int) -> PatientAudit:
    events = []
    for r in sorted(referrals, key=lambda r: (r.date is None, r.date or dt.date.min)):
        group = rules.destination(r.referred_to)
        days, when = timing(r.date, patient.index_date, window_days)
        events.append(
            Event(
                r,
                group.kind if group else OTHER,
                group.label if group else r.referred_to,
                rules.is_bvna(r.procedure),
                days,
                when,
            )  # fmt: skip
        )
    specialist = [e for e in events if e.specialist]
    after_mri = [e for e in specialist if e.days is not None and e.days >= 0]
    within = any(e.timing == WITHIN for e in specialist)
    return PatientAudit(
        patient=patient,
        events=events,
        specialist_within=within,
        any_within=any(e.timing == WITHIN for e in events),
        bvna=any(e.bvna and e.timing != BEFORE_MRI for e in events),
        first_specialist=min(after_mri, key=lambda e: e.days, default=None),
        specialist_before_mri=any(e.timing == BEFORE_MRI for e in specialist),
        specialist_after_window=not within and any(e.timing == AFTER for e in specialist),
    )


# -- measures ----------------------------------------------------------------------------------

MEASURE_TYPES = {
    "patients": "BIGINT",
    "specialist_within_n": "BIGINT",
    "specialist_within_pct": "DOUBLE",
    "any_referral_within_n": "BIGINT",
    "any_referral_within_pct": "DOUBLE",
    "bvna_n": "BIGINT",
    "bvna_pct": "DOUBLE",
    "specialist_before_mri_n": "BIGINT",
    "specialist_after_window_n": "BIGINT",
    "days_to_specialist_n": "BIGINT",
    "days_to_specialist_median": "DOUBLE",
    "days_to_specialist_p25": "DOUBLE",
    "days_to_specialist_p75": "DOUBLE",
}


def percent(n: int, total: int) -> float | None:
    return round(100.0 * n / total, 1) if total else None


def percentiles(values: list[int]) -> tuple[float | None, float | None, float | None]:
    """25th, 50th and 75th percentile (linear interpolation between the closest ranks)."""
    if not values:
        return None, None, None
    p25, p50, p75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return round(float(p25), 1), round(float(p50), 1), round(float(p75), 1)


def measures(audits: list[PatientAudit]) -> dict[str, object]:
    """The audit's measures over a group of patients."""
    n = len(audits)
    days = [a.first_specialist.days for a in audits if a.first_specialist is not None]
    p25, p50, p75 = percentiles(days)
    counts = {
        "specialist_within": sum(a.specialist_within for a in audits),
        "any_referral_within": sum(a.any_within for a in audits),
        "bvna": sum(a.bvna for a in audits),
    }
    out: dict[str, object] = {"patients": n}
    for name, count in counts.items():
        out[f"{name}_n"] = count
        out[f"{name}_pct"] = percent(count, n)
    out["specialist_before_mri_n"] = sum(a.specialist_before_mri for a in audits)
    out["specialist_after_window_n"] = sum(a.specialist_after_window for a in audits)
    out["days_to_specialist_n"] = len(days)
    out["days_to_specialist_median"] = p50
    out["days_to_specialist_p25"] = p25
    out["days_to_specialist_p75"] = p75
    return out


def _by_status(audits: list[PatientAudit], always: bool) -> list[tuple[str, list[PatientAudit]]]:
    groups = [(s, [a for a in audits if a.patient.status == s]) for s in PATIENT_STATUSES] + [(ALL, audits)]
    return [(s, g) for s, g in groups if g or always]


def summary_rows(audits: list[PatientAudit]) -> list[dict[str, object]]:
    return [{"status": s, **measures(g)} for s, g in _by_status(audits, always=True)]


def _group_order(value: str, key: str) -> tuple:
    return (value == UNKNOWN, value.lower() if key != "month" else value, value)


def grouped_rows(audits: list[PatientAudit], key: str) -> list[dict[str, object]]:
    """The measures per value of `key` (site, provider or month) x status; empty cells are left out."""
    groups: dict[str, list[PatientAudit]] = {}
    for a in audits:
        value = a.patient.month if key == "month" else getattr(a.patient, key)
        groups.setdefault(value, []).append(a)
    rows = []
    for value in sorted(groups, key=lambda v: _group_order(v, key)):
        for status, members in _by_status(groups[value], always=False):
            rows.append({key: value, "status": status, **measures(members)})
    return rows


def candidates_not_referred(audits: list[PatientAudit]) -> list[dict[str, object]]:
    rows = []
    for a in audits:
        p = a.patient
        if p.status != CANDIDATE or a.specialist_within:
            continue
        rows.append(
            {
                "patient_id": p.patient_id,
                "index_report_id": p.index_report_id,
                "index_report_date": p.index_date,
                "site": p.site,
                "provider": p.provider,
                "qualifying_levels": p.qualifying_levels,
                "gap": gap(a),
                "referrals": "; ".join(e.describe() for e in a.events),
                "evidence": p.evidence,
            }
        )
    return sorted(rows, key=lambda r: (GAPS.index(r["gap"]), r["patient_id"]))


def gap(a: PatientAudit) -> str:
    """Why a candidate has no specialist referral within the window (GAPS, first that applies)."""
    specialist = [e for e in a.events if e.specialist]
    if a.patient.index_date is None:
        return "index_mri_undated"
    if a.specialist_after_window:
        return "specialist_after_window"
    if any(e.timing == NO_DATE for e in specialist):
        return "specialist_date_unreadable"
    if a.any_within:
        return "non_specialist_only"
    if a.specialist_before_mri:
        return "specialist_before_mri_only"
    return "other_referral_outside_window" if a.events else "never_referred"


def concern(patient: Patient, procedure: bool) -> str:
    if procedure:
        if not patient.qualifying_levels:
            return "procedure_without_qualifying_imaging"
        return "procedure_despite_exclusion" if patient.status == NOT_CANDIDATE else "procedure_pending_review"
    return "referral_despite_exclusion" if patient.status == NOT_CANDIDATE else "referral_pending_review"


def referrals_not_candidates(audits: list[PatientAudit]) -> list[dict[str, object]]:
    """Every specialist referral or BVNA procedure of a needs_review or not_candidate patient.

    Rows dated before the index MRI are left out: they cannot have followed it.
    """
    rows = []
    for a in audits:
        p = a.patient
        if p.status == CANDIDATE:
            continue
        for e in a.events:
            if not e.specialist or e.timing == BEFORE_MRI:
                continue
            r = e.referral
            rows.append(
                {
                    "concern": concern(p, e.bvna),
                    "patient_id": p.patient_id,
                    "status": p.status,
                    "reasons": ";".join(p.reasons),
                    "qualifying_levels": p.qualifying_levels,
                    "index_report_id": p.index_report_id,
                    "index_report_date": p.index_date,
                    "site": p.site,
                    "provider": p.provider,
                    "referral_date": r.date,
                    "days_from_mri": e.days,
                    "timing": e.timing,
                    "referred_to": r.referred_to,
                    "destination": e.destination if e.kind != OTHER else "",
                    "procedure": r.procedure,
                    "is_procedure": e.bvna,
                    "source_row": r.where,
                }
            )
    return sorted(rows, key=lambda r: (CONCERNS.index(r["concern"]), r["patient_id"], str(r["referral_date"])))


def days_to_referral(audits: list[PatientAudit], window_days: int) -> list[dict[str, object]]:
    rows = []
    for a in audits:
        e = a.first_specialist
        if e is None:
            continue
        p = a.patient
        rows.append(
            {
                "patient_id": p.patient_id,
                "status": p.status,
                "site": p.site,
                "provider": p.provider,
                "index_report_date": p.index_date,
                "referral_date": e.referral.date,
                "days": e.days,
                "within_window": e.days is not None and e.days <= window_days,
                "destination": e.destination,
                "procedure": e.referral.procedure,
            }
        )
    return rows


def modic_prevalence(patients: list[Patient], findings: dict[str, list[dict]]) -> list[dict[str, object]]:
    """Patients with an index MRI whose index report has a current Modic change, per level x type.

    One row per level and type, then one per level with modic_type `any`; hedged changes count
    (`hedged_n` says how many of them were hedged).
    """
    total = sum(1 for p in patients if p.index_report_id)
    cells: dict[tuple[str, str], dict[str, set[str]]] = {}
    for pid, rows in findings.items():
        for r in rows:
            for t in (r["modic_type"], "any"):
                cell = cells.setdefault((r["level"], t), {"all": set(), "hedged": set()})
                cell["all"].add(pid)
                if r["uncertain"] == "true":
                    cell["hedged"].add(pid)
    order = {t: i for i, t in enumerate((*MODIC_TYPES, "any"))}
    out = []
    for level, t in sorted(cells, key=lambda k: (level_sort_key(k[0]), k[0], order.get(k[1], len(order)), k[1])):
        cell = cells[(level, t)]
        out.append(
            {
                "level": level,
                "modic_type": t,
                "patients": len(cell["all"]),
                "percent": percent(len(cell["all"]), total),
                "hedged_n": len(cell["hedged"]),
                "patients_with_index_mri": total,
            }
        )
    return out


EXAM_READ = ("report_id", "patient_id", "status", "exam_modality", "exam_region", "document_type", "exam_source")


def reports_by_exam(out_dir: Path, patients: list[Patient]) -> list[dict[str, object]]:
    """The reports of the extraction per exam kind: how many, of how many patients, how many were a
    patient's index MRI and how many were set aside as not a lumbar MRI, most common kind first."""
    frame = _read_csv(Path(out_dir) / "reports.csv", EXAM_READ, f"run `modic extract ... --out {out_dir}` again")
    index = {p.index_report_id for p in patients if p.index_report_id}
    aside = {rid for p in patients for rid in p.set_aside}
    kinds: dict[tuple[str, str, str], dict[str, object]] = {}
    for r in frame.to_dict("records"):
        key = (r["exam_modality"], r["exam_region"], r["document_type"])
        row = kinds.setdefault(
            key,
            {"exam_kind": kind_label(exam_kind(*key)), "exam_modality": key[0], "exam_region": key[1],
             "document_type": key[2], "reports": 0, "patients": set(), "ok_reports": 0, "index_reports": 0,
             "set_aside_reports": 0, "from_exam_column": 0},
        )  # fmt: skip
        row["reports"] += 1
        if r["patient_id"]:
            row["patients"].add(r["patient_id"])
        row["ok_reports"] += r["status"] == STATUS_OK
        row["index_reports"] += r["report_id"] in index
        row["set_aside_reports"] += r["report_id"] in aside
        row["from_exam_column"] += r["exam_source"] == "column"
    rows = sorted(kinds.values(), key=lambda r: (-r["reports"], r["exam_kind"]))
    for row in rows:
        row["patients"] = len(row["patients"])
    return rows


def unmatched_rows(table: ReferralTable, known: set[str]) -> list[dict[str, object]]:
    return [
        {
            "source_row": r.where,
            "patient_id": r.patient_id,
            "referral_date": r.date,
            "referral_date_text": r.date_text,
            "referred_to": r.referred_to,
            "procedure": r.procedure,
            "site": r.site,
            "provider": r.provider,
        }
        for r in table.referrals
        if r.patient_id not in known
    ]


# -- tables and the run --------------------------------------------------------------------------

_ID = {"patient_id": "VARCHAR", "status": "VARCHAR"}
TABLE_TYPES: dict[str, dict[str, str]] = {
    "summary": {"status": "VARCHAR", **MEASURE_TYPES},
    "by_site": {"site": "VARCHAR", "status": "VARCHAR", **MEASURE_TYPES},
    "by_provider": {"provider": "VARCHAR", "status": "VARCHAR", **MEASURE_TYPES},
    "by_month": {"month": "VARCHAR", "status": "VARCHAR", **MEASURE_TYPES},
    "candidates_not_referred": {
        "patient_id": "VARCHAR", "index_report_id": "VARCHAR", "index_report_date": "DATE", "site": "VARCHAR",
        "provider": "VARCHAR", "qualifying_levels": "VARCHAR", "gap": "VARCHAR", "referrals": "VARCHAR",
        "evidence": "VARCHAR",
    },
    "referrals_not_candidates": {
        "concern": "VARCHAR", **_ID, "reasons": "VARCHAR", "qualifying_levels": "VARCHAR",
        "index_report_id": "VARCHAR", "index_report_date": "DATE", "site": "VARCHAR", "provider": "VARCHAR",
        "referral_date": "DATE", "days_from_mri": "BIGINT", "timing": "VARCHAR", "referred_to": "VARCHAR",
        "destination": "VARCHAR", "procedure": "VARCHAR", "is_procedure": "BOOLEAN", "source_row": "VARCHAR",
    },
    "days_to_referral": {
        **_ID, "site": "VARCHAR", "provider": "VARCHAR", "index_report_date": "DATE", "referral_date": "DATE",
        "days": "BIGINT", "within_window": "BOOLEAN", "destination": "VARCHAR", "procedure": "VARCHAR",
    },
    "modic_prevalence": {
        "level": "VARCHAR", "modic_type": "VARCHAR", "patients": "BIGINT", "percent": "DOUBLE", "hedged_n": "BIGINT",
        "patients_with_index_mri": "BIGINT",
    },
    "unmatched_referrals": {
        "source_row": "VARCHAR", "patient_id": "VARCHAR", "referral_date": "DATE", "referral_date_text": "VARCHAR",
        "referred_to": "VARCHAR", "procedure": "VARCHAR", "site": "VARCHAR", "provider": "VARCHAR",
    },
    "reports_by_exam": {
        "exam_kind": "VARCHAR", "exam_modality": "VARCHAR", "exam_region": "VARCHAR", "document_type": "VARCHAR",
        "reports": "BIGINT", "patients": "BIGINT", "ok_reports": "BIGINT", "index_reports": "BIGINT",
        "set_aside_reports": "BIGINT", "from_exam_column": "BIGINT",
    },
}  # fmt: skip
DB_NAME = "audit.duckdb"
PAGE_NAME = "audit.html"
#: What `modic audit` writes into its folder (see outdir.py).
PRODUCTS = Products(frozenset({f"{name}.csv" for name in TABLE_TYPES} | {DB_NAME, PAGE_NAME}))


@dataclass
class Audit:
    """Everything the audit found: the tables (name -> rows), the per-patient view and the counts."""

    source_dir: Path
    referrals_path: Path
    window_days: int
    rules: AuditRules
    criteria: str
    audits: list[PatientAudit]
    tables: dict[str, list[dict[str, object]]]
    messages: list[str]
    n_rows: int
    n_referrals: int
    n_unreadable: int
    n_placeholders: int
    unmatched_destinations: list[tuple[str, int]]

    def candidates(self) -> list[PatientAudit]:
        return [a for a in self.audits if a.patient.status == CANDIDATE]

    def line(self, out_dir: Path) -> str:
        """The one-line summary the command prints."""
        cands = self.candidates()
        referred = sum(a.specialist_within for a in cands)
        gaps = Counter(r["gap"] for r in self.tables["candidates_not_referred"])
        detail = ", ".join(f"{gaps[g]} {GAP_TEXT[g]}" for g in GAPS if gaps[g])
        rows = self.tables["referrals_not_candidates"]
        procedures = [r for r in rows if r["is_procedure"]]
        no_imaging = sum(r["concern"] == "procedure_without_qualifying_imaging" for r in procedures)
        return (
            f"{len(cands)} candidates: {referred} referred to a specialist within {self.window_days} days, "
            f"{len(cands) - referred} not" + (f" ({detail})" if detail else "") + "; "
            f"non-candidates: {len(procedures)} BVNA procedures ({no_imaging} without qualifying imaging), "
            f"{len(rows) - len(procedures)} specialist referrals; "
            f"{len(self.tables['unmatched_referrals'])} referral rows for unknown patients; "
            f"{self.n_unreadable} unreadable rows -> {out_dir}/"
        )


def run_audit(
    source_dir: Path,
    referrals_path: Path,
    window_days: int = DEFAULT_WINDOW_DAYS,
    rules: AuditRules | None = None,
    columns: dict[str, str] | None = None,
) -> Audit:
    """Compute every audit table (nothing is written)."""
    if window_days < 0:
        raise ModicError(f"--window-days {window_days}: expected 0 or more days")
    rules = rules or load_rules()
    source_dir = Path(source_dir)
    patients = load_patients(source_dir)
    findings = load_index_findings(source_dir, patients)
    table = read_referrals(referrals_path, columns)
    by_patient: dict[str, list[Referral]] = {}
    for r in table.referrals:
        by_patient.setdefault(r.patient_id, []).append(r)
    for p in patients:
        p.site = table.site.get(p.patient_id, UNKNOWN)
        p.provider = table.provider.get(p.patient_id, UNKNOWN)
    audits = [audit_patient(p, by_patient.get(p.patient_id, []), rules, window_days) for p in patients]
    known = {p.patient_id for p in patients}
    tables = {
        "summary": summary_rows(audits),
        "by_site": grouped_rows(audits, "site"),
        "by_provider": grouped_rows(audits, "provider"),
        "by_month": grouped_rows(audits, "month"),
        "candidates_not_referred": candidates_not_referred(audits),
        "referrals_not_candidates": referrals_not_candidates(audits),
        "days_to_referral": days_to_referral(audits, window_days),
        "modic_prevalence": modic_prevalence(patients, findings),
        "unmatched_referrals": unmatched_rows(table, known),
        "reports_by_exam": reports_by_exam(source_dir, patients),
    }
    unmatched = Counter(
        r.referred_to for r in table.referrals if r.referred_to and rules.destination(r.referred_to) is None
    )
    criteria = _most_common([p.criteria for p in patients])
    return Audit(
        source_dir, Path(referrals_path), window_days, rules, criteria if criteria != UNKNOWN else "", audits, tables,
        table.messages, table.n_rows, len(table.referrals), table.n_unreadable, table.n_placeholders,
        sorted(unmatched.items(), key=lambda x: (-x[1], x[0])),
    )  # fmt: skip


def write_audit(audit: Audit, out_dir: Path, page: Callable[[Audit], str] | None = None) -> Path:
    """Write every table as CSV, the same tables into audit.duckdb, and audit.html."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, rows in audit.tables.items():
            columns = list(TABLE_TYPES[name])
            partial = out_dir / f"{name}.csv.partial"
            with partial.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(columns)
                writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
            os.replace(partial, out_dir / f"{name}.csv")
        db_partial = out_dir / f"{DB_NAME}.partial"
        db_partial.unlink(missing_ok=True)
        with database(db_partial) as con:
            for name, types in TABLE_TYPES.items():
                load_csv(con, name, out_dir / f"{name}.csv", types)
        os.replace(db_partial, out_dir / DB_NAME)
        if page is None:
            from .audit_page import render_page as page
        html_partial = out_dir / f"{PAGE_NAME}.partial"
        html_partial.write_text(page(audit), encoding="utf-8")
        os.replace(html_partial, out_dir / PAGE_NAME)
    except OSError as exc:
        raise ModicError(f"{out_dir}: cannot write the audit: {exc.strerror or exc}") from None
    return out_dir
