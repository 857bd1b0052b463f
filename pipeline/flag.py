"""Judge each patient against a criteria profile: index MRI x nearest symptom assessment.

Works on the tables `modic extract` wrote (no NLP), so re-running with other criteria is
cheap. Every patient of either input appears once, with a status and every reason found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .criteria import Criteria
from .csvcells import unescape_frame
from .errors import InputError
from .schema import (
    CANDIDATE,
    EXAM_COLUMNS,
    EXCLUSIONS,
    LISTHESIS,
    MODIC,
    NOT_CANDIDATE,
    REVIEW,
    STATUS_OK,
    UNKNOWN,
    exam_kind,
    kind_label,
    level_sort_key,
)
from .symptoms import OPTIONAL, Assessment, SymptomTable

#: Reason name of an imaging exclusion finding (fusion is named for what it means to the patient).
FINDING_REASON = {name: name for name in EXCLUSIONS} | {"fusion": "prior_fusion"}
DAYS_PER_MONTH = 365.25 / 12
#: patients.csv joins a patient's evidence sentences with this (a sentence may hold a semicolon).
EVIDENCE_SEPARATOR = " | "


@dataclass(frozen=True)
class ImagingFinding:
    level: str
    finding: str
    modic_type: str
    uncertain: bool
    evidence: str
    lumbar: bool = True  # counts for the lumbar spine (a cervical root compression does not)


@dataclass
class ImagingReport:
    """What one report's extraction (or its gold labels) says, as the judge needs it."""

    report_id: str
    patient_id: str
    report_date: dt.date | None
    status: str
    order: int
    exclusions: dict[str, bool]
    findings: list[ImagingFinding] = field(default_factory=list)
    modality: str = UNKNOWN
    region: str = UNKNOWN
    document_type: str = UNKNOWN

    @property
    def kind(self) -> str:
        return exam_kind(self.modality, self.region, self.document_type)

    def named(self) -> str:
        """ "R12 (cervical MRI, 2021-03-02)", as the notes name a report."""
        date = f", {self.report_date}" if self.report_date else ""
        return f"{self.report_id} ({kind_label(self.kind)}{date})"


@dataclass
class PatientResult:
    patient_id: str
    status: str
    reasons: list[str]
    criteria: str
    index_report_id: str = ""
    index_report_date: dt.date | None = None
    set_aside: list[str] = field(default_factory=list)  # reports that could not be the index, newest first
    qualifying_levels: str = ""
    assessment: Assessment | None = None
    lbp_duration_months: float | None = None
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, optional: Iterable[str]) -> dict[str, object]:
        a = self.assessment
        out: dict[str, object] = {
            "patient_id": self.patient_id,
            "status": self.status,
            "reasons": ";".join(self.reasons),
            "criteria": self.criteria,
            "index_report_id": self.index_report_id,
            "index_report_date": self.index_report_date,
            "set_aside": ";".join(self.set_aside),
            "qualifying_levels": self.qualifying_levels,
            "assessment_date": a.assessment_date if a else None,
            "lbp_duration_months": _round(self.lbp_duration_months),
            "conservative_care_months": _round(a.conservative_care_months) if a else None,
            "radicular_pain": a.radicular_pain if a else None,
        }
        for name in optional:
            out[name] = getattr(a, name) if a else None
        out["evidence"] = EVIDENCE_SEPARATOR.join(self.evidence)
        out["notes"] = "; ".join(self.notes)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class _Reasons:
    """Collects reasons with their weight: `exclude` rules a patient out, `review` asks for a look."""

    def __init__(self):
        self.exclude: set[str] = set()
        self.review: set[str] = set()

    def add(self, reason: str, action: str) -> None:
        if action == "exclude":
            self.exclude.add(reason)
        elif action == "review":
            self.review.add(reason)

    def status(self) -> str:
        return NOT_CANDIDATE if self.exclude else REVIEW if self.review else CANDIDATE

    def sorted(self) -> list[str]:
        return sorted(self.exclude | self.review)


def _vertebrae(levels: Iterable[str]) -> set[str]:
    return {v for level in levels for v in level.split("-")}


def _levels_text(findings: Iterable[ImagingFinding]) -> str:
    ordered = sorted(findings, key=lambda f: level_sort_key(f.level))
    return ";".join(f"{f.level}:{f.modic_type}" for f in ordered)


def _modic_evidence(findings: list[ImagingFinding]) -> list[str]:
    """ "L3-L4 Modic 2, L4-L5 Modic 2: <the sentence naming both>", one line per sentence."""
    by_sentence: dict[str, list[str]] = {}
    for f in sorted(findings, key=lambda f: level_sort_key(f.level)):
        by_sentence.setdefault(f.evidence, []).append(f"{f.level} Modic {f.modic_type}")
    return [f"{', '.join(levels)}: {sentence}" for sentence, levels in by_sentence.items()]


def _judge_imaging(report: ImagingReport, c: Criteria, reasons: _Reasons, result: PatientResult) -> None:
    img = c.imaging
    modic = [f for f in report.findings if f.finding == MODIC and f.level and f.lumbar]
    typed = [f for f in modic if f.modic_type in img.modic_types]
    in_range = [f for f in typed if f.level in img.levels]
    sure = [f for f in in_range if not f.uncertain or img.hedged_modic == "accept"]
    hedged = [f for f in in_range if f not in sure]
    unspecified = [f for f in modic if f.modic_type == "unspecified" and f.level in img.levels]
    used = sure or hedged
    if not sure:
        if hedged:
            reasons.add("modic_uncertain", img.hedged_modic)
        if unspecified:
            reasons.add("modic_type_unspecified", img.unspecified_modic)
        if not hedged and not unspecified:
            reasons.add("no_qualifying_modic", "exclude")
    result.qualifying_levels = _levels_text(used)
    result.evidence += _modic_evidence(used or unspecified)
    outside = [f for f in typed if f.level not in img.levels]
    if outside:
        reasons.add("modic_outside_levels", img.modic_outside_levels)
        if img.modic_outside_levels != "ignore":
            result.evidence += _modic_evidence(outside)
    if img.max_vertebrae and len(_vertebrae(f.level for f in used)) > img.max_vertebrae:
        reasons.add("too_many_vertebrae", "exclude")

    for name in EXCLUSIONS:
        if not report.exclusions.get(name):
            continue
        action = "exclude" if name in img.exclude else "review" if name in img.review else "ignore"
        reasons.add(FINDING_REASON[name], action)
        if action != "ignore":
            result.evidence += [f"{name}: {f.evidence}" for f in report.findings if f.finding == name and f.lumbar][:1]
    slips = [f for f in report.findings if f.finding in (LISTHESIS, "instability") and f.lumbar]
    if slips and img.listhesis != "ignore":
        reasons.add("listhesis", img.listhesis)
        result.evidence.append(f"listhesis: {slips[0].evidence}")


def nearest_assessment(
    assessments: list[Assessment], index_date: dt.date | None, window_days: int
) -> tuple[Assessment | None, str]:
    """The assessment nearest the index MRI date within the window; ties go to the earlier one.

    Without an MRI date the latest dated assessment is used, and the note says so.
    """
    dated = [a for a in assessments if a.assessment_date is not None]
    if index_date is None:
        if not dated:
            return None, ""
        return max(dated, key=lambda a: (a.assessment_date, -a.row)), "index MRI has no date: latest assessment used"
    within = [a for a in dated if abs((a.assessment_date - index_date).days) <= window_days]
    if not within:
        return None, ""
    return min(within, key=lambda a: (abs((a.assessment_date - index_date).days), a.assessment_date, a.row)), ""


def _judge_symptoms(a: Assessment, index_date: dt.date | None, c: Criteria, reasons: _Reasons, result) -> None:
    s = c.symptoms
    months = a.lbp_duration_months
    if months is None and a.lbp_onset_date is not None:
        anchor = index_date or a.assessment_date
        months = max(0.0, (anchor - a.lbp_onset_date).days / DAYS_PER_MONTH)
        result.notes.append(f"low back pain months counted from onset {a.lbp_onset_date} to {anchor}")
    result.lbp_duration_months = months
    if months is None:
        reasons.add("missing_lbp_duration", "review")
    elif months < s.min_lbp_months:
        reasons.add("lbp_duration_short", "exclude")
    if a.conservative_care_months is None:
        reasons.add("missing_conservative_care", "review")
    elif a.conservative_care_months < s.min_conservative_care_months:
        reasons.add("conservative_care_short", "exclude")
    if a.radicular_pain:
        reasons.add("radicular_pain", s.radicular_pain)
    if a.prior_lumbar_surgery:
        reasons.add("prior_lumbar_surgery", s.prior_lumbar_surgery)
    for value, limit, low_is_bad, name in (
        (a.odi, s.min_odi, True, "odi"),
        (a.pain_score, s.min_pain_score, True, "pain_score"),
        (a.bmi, s.max_bmi, False, "bmi"),
    ):
        if limit is None:
            continue
        if value is None:
            reasons.add(f"missing_{name}", "review")
        elif (value < limit) if low_is_bad else (value > limit):
            reasons.add(f"{name}_low" if low_is_bad else f"{name}_high", "exclude")
    result.notes += a.notes


def judge_patient(
    patient_id: str, reports: list[ImagingReport], assessments: list[Assessment], c: Criteria
) -> PatientResult:
    """One patient's status and reasons under criteria `c`."""
    reasons = _Reasons()
    result = PatientResult(patient_id, "", [], c.name)
    usable = [r for r in reports if r.status == STATUS_OK]
    candidates = _index_candidates(usable, c, reasons, result)
    if not candidates:
        if not usable:
            reasons.add("no_mri_report", "exclude")
            if reports:
                result.notes.append(f"{len(reports)} report(s) but none with status ok")
        else:
            reasons.add("no_lumbar_mri", "exclude")
        result.assessment = max(assessments, key=lambda a: (a.assessment_date or dt.date.min, a.row), default=None)
    else:
        index = max(candidates, key=_latest)
        if index.report_date is None and len(candidates) > 1:
            result.notes.append("no report has a date: the last one in the input is the index MRI")
        result.index_report_id, result.index_report_date = index.report_id, index.report_date
        _judge_imaging(index, c, reasons, result)
        chosen, note = nearest_assessment(assessments, index.report_date, c.window_days)
        if note:
            result.notes.append(note)
        result.assessment = chosen
        if chosen is None:
            reasons.add("no_symptom_data", "review")
            if assessments:
                result.notes.append(f"{len(assessments)} assessment(s), none dated within {c.window_days} days")
        else:
            _judge_symptoms(chosen, index.report_date, c, reasons, result)
    result.status = reasons.status()
    result.reasons = reasons.sorted()
    return result


def _latest(r: ImagingReport) -> tuple:
    return (r.report_date is not None, r.report_date or dt.date.min, r.order)


#: At most this many set-aside reports are named in a patient's notes.
MAX_NAMED = 5


def _index_candidates(
    usable: list[ImagingReport], c: Criteria, reasons: _Reasons, result: PatientResult
) -> list[ImagingReport]:
    """The reports that may be the patient's index MRI under the profile's [index] table.

    Reports of another kind are set aside and named in the notes. A report whose kind could not
    be told is accepted, ignored, or (review) used only when the patient has no lumbar MRI."""
    rule = c.index
    accepted = [r for r in usable if rule.accepts(r.modality, r.region, r.document_type)]
    unknown = [r for r in usable if rule.unknown(r.modality, r.region, r.document_type)]
    if rule.unknown_exams == "accept":
        accepted += unknown
        unknown = []
    elif rule.unknown_exams == "review" and not accepted and unknown:
        accepted, unknown = unknown, []
        reasons.add("index_exam_unknown", "review")
        result.notes.append("no report is known to be a lumbar MRI: the latest report of unknown kind is the index")
    aside = sorted((r for r in usable if r not in accepted), key=_latest, reverse=True)
    result.set_aside = [r.report_id for r in aside]
    if aside:
        what = "not a lumbar MRI" if accepted else "none a lumbar MRI"
        named = ", ".join(r.named() for r in aside[:MAX_NAMED])
        more = f" and {len(aside) - MAX_NAMED} more" if len(aside) > MAX_NAMED else ""
        result.notes.append(f"{len(aside)} report(s) set aside, {what}: {named}{more}")
    return sorted(accepted, key=_latest)


def flag(reports: Iterable[ImagingReport], symptoms: SymptomTable, c: Criteria) -> list[PatientResult]:
    """Every patient of either input, once, sorted by patient id."""
    by_patient: dict[str, list[ImagingReport]] = {}
    for r in reports:
        if r.patient_id:
            by_patient.setdefault(r.patient_id, []).append(r)
    patients = sorted(set(by_patient) | set(symptoms.by_patient))
    return [judge_patient(p, by_patient.get(p, []), symptoms.by_patient.get(p, []), c) for p in patients]


def optional_columns(symptoms: SymptomTable, c: Criteria) -> tuple[str, ...]:
    """The optional symptom fields the table has or the profile uses, in a fixed order."""
    used = {
        "odi": c.symptoms.min_odi is not None,
        "pain_score": c.symptoms.min_pain_score is not None,
        "bmi": c.symptoms.max_bmi is not None,
        "prior_lumbar_surgery": c.symptoms.prior_lumbar_surgery != "ignore",
    }
    return tuple(f for f in OPTIONAL if f in symptoms.fields or used[f])


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def load_extraction(out_dir: Path) -> list[ImagingReport]:
    """The reports and findings tables `modic extract` wrote to out_dir."""
    tables = {}
    for name in ("reports", "findings"):
        path = Path(out_dir) / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"{path}: not found; run `modic extract ... --out {out_dir}` first")
        tables[name] = unescape_frame(pd.read_csv(path, dtype=str, keep_default_na=False))
    missing = [c for c in (*EXAM_COLUMNS, *EXCLUSIONS) if c not in tables["reports"].columns]
    missing += [c for c in ("lumbar",) if c not in tables["findings"].columns]
    if missing:
        raise InputError(
            f"{Path(out_dir) / 'reports.csv'}: no column {missing[0]!r} (written by an older modic-pipeline); "
            f"run `modic extract ... --out {out_dir}` again"
        )
    reports: dict[str, ImagingReport] = {}
    for order, r in enumerate(tables["reports"].itertuples(index=False)):
        exclusions = {name: getattr(r, name) == "true" for name in EXCLUSIONS}
        reports[r.report_id] = ImagingReport(
            r.report_id,
            r.patient_id,
            _date(r.report_date),
            r.status,
            order,
            exclusions,
            modality=r.exam_modality,
            region=r.exam_region,
            document_type=r.document_type,
        )
    for f in tables["findings"].itertuples(index=False):
        report = reports.get(f.report_id)
        if report is not None:
            report.findings.append(
                ImagingFinding(f.level, f.finding, f.modic_type, f.uncertain == "true", f.evidence, f.lumbar == "true")
            )
    return list(reports.values())
