"""Column names and allowed values, defined once for writers, readers, evaluation and tests."""

from __future__ import annotations

MODIC = "modic"
ENDPLATE_FINDINGS = (
    "schmorl_node",
    "endplate_irregularity",
    "endplate_sclerosis",
    "endplate_erosion",
    "endplate_fracture",
)
EXCLUSIONS = ("nerve_compression", "instability", "infection", "fracture", "tumor", "fusion")
#: A spondylo-/antero-/retrolisthesis of any grade (grade 2 and more is also `instability`):
#: recorded for criteria that exclude any slip, such as the INTRACEPT trial's.
LISTHESIS = "listhesis"
FINDINGS = (MODIC, *ENDPLATE_FINDINGS, *EXCLUSIONS, LISTHESIS)

MODIC_TYPES = ("1", "2", "3", "1/2", "2/3", "unspecified")
#: Modic types that make imaging qualify for basivertebral nerve ablation.
QUALIFYING_TYPES = ("1", "2", "1/2", "2/3")
QUALIFYING_LEVELS = ("L3-L4", "L4-L5", "L5-S1")

#: Disc levels in anatomical order (cervical and thoracic included so nothing is lost).
DISC_LEVELS = (
    *(f"C{i}-C{i + 1}" for i in range(2, 7)),
    "C7-T1",
    *(f"T{i}-T{i + 1}" for i in range(1, 12)),
    "T12-L1",
    *(f"L{i}-L{i + 1}" for i in range(1, 5)),
    "L5-S1",
)
LEVEL_ORDER = {level: i for i, level in enumerate(DISC_LEVELS)}

#: Sections whose mentions never count as current findings.
NON_CURRENT_SECTIONS = ("history", "comparison", "technique", "plan")

STATUS_OK, STATUS_EMPTY, STATUS_ERROR = "ok", "empty", "error"

# -- exams (pipeline/exams.py) ------------------------------------------------------------------
UNKNOWN = "unknown"
MODALITIES = ("mri", "ct", "radiograph", "nuclear_medicine", "ultrasound")
REGIONS = (
    "lumbar",
    "thoracolumbar",
    "whole_spine",
    "thoracic",
    "cervical",
    "brain",
    "pelvis_sij",
    "other_joint",
    "abdomen_pelvis",
    "chest",
    "other",
)
IMAGING_REPORT = "imaging_report"
DOCUMENT_TYPES = (IMAGING_REPORT, "operative_note", "clinical_note")
#: Where a report's exam kind came from: the input's exam column, or the report text.
EXAM_SOURCES = ("column", "text")
#: Regions whose exam shows the lumbar spine: the default index exams.
LUMBAR_REGIONS = ("lumbar", "thoracolumbar", "whole_spine")
EXAM_COLUMNS = ("exam_modality", "exam_region", "document_type", "exam_source", "exam_evidence")


def exam_kind(modality: str, region: str, document_type: str) -> str:
    """ "lumbar mri" for an imaging report, else the document type ("operative_note", "unknown")."""
    return f"{region} {modality}" if document_type == IMAGING_REPORT else document_type


def kind_label(kind: str, n: int = 1) -> str:
    """An exam kind for people: "lumbar mri" -> "lumbar MRI", "operative_note" -> "operative note(s)"."""
    if kind in ("operative_note", "clinical_note"):
        return kind.replace("_", " ") + ("s" if n != 1 else "")
    if kind == UNKNOWN:
        return "of unknown kind"
    region, _, modality = kind.partition(" ")
    shown = {"mri": "MRI", "ct": "CT", "nuclear_medicine": "nuclear medicine"}.get(modality, modality)
    place = _REGION_LABEL.get(region, region.replace("_", " "))
    if region == UNKNOWN and modality == UNKNOWN:
        return "imaging of unknown region and modality"
    if modality == UNKNOWN:
        return f"{place} imaging of unknown modality"
    if region == UNKNOWN:
        return f"{shown} of unknown region"
    return f"{place} {shown}"


_REGION_LABEL = {
    "whole_spine": "whole-spine",
    "pelvis_sij": "pelvis/SIJ",
    "other_joint": "joint",
    "abdomen_pelvis": "abdomen/pelvis",
    "other": "other-region",
}

ID_COLUMNS = ("report_id", "patient_id", "report_date")

MENTION_COLUMNS = (
    *ID_COLUMNS,
    "finding",
    "modic_type",
    "level",
    "region",
    "lumbar",
    "section",
    "negated",
    "uncertain",
    "hypothetical",
    "historical",
    "family",
    "current",
    "text",
    "sentence",
    "start_char",
    "end_char",
)

FINDING_COLUMNS = (
    *ID_COLUMNS,
    "level",
    "region",
    "lumbar",
    "finding",
    "modic_type",
    "uncertain",
    "section",
    "evidence",
    "start_char",
    "end_char",
)

REPORT_COLUMNS = (
    *ID_COLUMNS,
    "status",
    "message",
    *EXAM_COLUMNS,
    "n_mentions",
    "modic_levels",
    "qualifying_modic",
    *EXCLUSIONS,
)

#: DuckDB column types; every column not named here is VARCHAR.
SQL_TYPES = {
    "report_date": "DATE",
    "negated": "BOOLEAN",
    "uncertain": "BOOLEAN",
    "hypothetical": "BOOLEAN",
    "historical": "BOOLEAN",
    "family": "BOOLEAN",
    "current": "BOOLEAN",
    "lumbar": "BOOLEAN",
    "start_char": "BIGINT",
    "end_char": "BIGINT",
    "n_mentions": "BIGINT",
    "qualifying_modic": "BOOLEAN",
    **{name: "BOOLEAN" for name in EXCLUSIONS},
}

TABLES = {"mentions": MENTION_COLUMNS, "findings": FINDING_COLUMNS, "reports": REPORT_COLUMNS}

# -- flagging ------------------------------------------------------------------------------------
CANDIDATE, REVIEW, NOT_CANDIDATE = "candidate", "needs_review", "not_candidate"
PATIENT_STATUSES = (CANDIDATE, REVIEW, NOT_CANDIDATE)

#: The patients table: these columns, then the optional symptom fields present or used, then the
#: trailing ones.
PATIENT_COLUMNS = (
    "patient_id",
    "status",
    "reasons",
    "criteria",
    "index_report_id",
    "index_report_date",
    "set_aside",
    "qualifying_levels",
    "assessment_date",
    "lbp_duration_months",
    "conservative_care_months",
    "radicular_pain",
)
PATIENT_TRAILING_COLUMNS = ("evidence", "notes")
PATIENT_SQL_TYPES = {
    "index_report_date": "DATE",
    "assessment_date": "DATE",
    "lbp_duration_months": "DOUBLE",
    "conservative_care_months": "DOUBLE",
    "radicular_pain": "BOOLEAN",
    "odi": "DOUBLE",
    "pain_score": "DOUBLE",
    "bmi": "DOUBLE",
    "prior_lumbar_surgery": "BOOLEAN",
}


def level_sort_key(level: str) -> int:
    """Anatomical order of a disc level; an empty level sorts last."""
    return LEVEL_ORDER.get(level, len(LEVEL_ORDER))
