"""Flagging: one small case per reason, the nearest-assessment rule, and the three profiles."""

import datetime as dt

import pytest

from pipeline.criteria import CriteriaError, load
from pipeline.flag import ImagingFinding, ImagingReport, flag, judge_patient, nearest_assessment
from pipeline.schema import EXCLUSIONS, exam_kind, kind_label
from pipeline.symptoms import Assessment, SymptomTable, read_symptoms

from .conftest import PATTERNS

MRI = dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
def default():
    return load("default", PATTERNS)


LUMBAR_MRI = ("mri", "lumbar", "imaging_report")


def report(*findings, exclusions=(), date=MRI, status="ok", rid="R1", order=0, exam=LUMBAR_MRI):
    """A report of patient P1: a lumbar MRI unless `exam` (modality, region, document type) says otherwise."""
    flags = {n: n in exclusions for n in EXCLUSIONS}
    return ImagingReport(rid, "P1", date, status, order, flags, list(findings), *exam)


def modic(level="L4-L5", modic_type="1", uncertain=False):
    return ImagingFinding(level, "modic", modic_type, uncertain, f"Modic {modic_type} at {level}.")


def other(finding, level=""):
    return ImagingFinding(level, finding, "", False, f"{finding} sentence.")


def assessment(days=-10, row=1, **values):
    base = {"lbp_duration_months": 24.0, "conservative_care_months": 12.0, "radicular_pain": False}
    base.update(values)
    return Assessment("P1", row, MRI + dt.timedelta(days=days), **base)


def judged(criteria, reports=None, assessments=None):
    reports = [report(modic())] if reports is None else reports
    assessments = [assessment()] if assessments is None else assessments
    r = judge_patient("P1", reports, assessments, criteria)
    return r.status, r.reasons


@pytest.mark.parametrize(
    ("reports", "assessments", "status", "reasons"),
    [
        (None, None, "candidate", []),
        ([report(modic(modic_type="2"), modic("L5-S1", "1/2"))], None, "candidate", []),
        ([report(modic(uncertain=True))], None, "needs_review", ["modic_uncertain"]),
        ([report(modic(modic_type="unspecified"))], None, "needs_review", ["modic_type_unspecified"]),
        (
            [report(modic(uncertain=True), modic("L5-S1", "unspecified"))],
            None,
            "needs_review",
            ["modic_type_unspecified", "modic_uncertain"],
        ),
        ([report(modic(modic_type="3"))], None, "not_candidate", ["no_qualifying_modic"]),
        ([report(modic("L1-L2"))], None, "not_candidate", ["no_qualifying_modic"]),
        ([report()], None, "not_candidate", ["no_qualifying_modic"]),
        (
            [report(modic(), other("nerve_compression"), exclusions=["nerve_compression"])],
            None,
            "not_candidate",
            ["nerve_compression"],
        ),
        ([report(modic(), exclusions=["instability"])], None, "not_candidate", ["instability"]),
        ([report(modic(), exclusions=["infection"])], None, "not_candidate", ["infection"]),
        ([report(modic(), exclusions=["fracture"])], None, "not_candidate", ["fracture"]),
        ([report(modic(), exclusions=["tumor"])], None, "not_candidate", ["tumor"]),
        ([report(modic(), exclusions=["fusion"])], None, "needs_review", ["prior_fusion"]),
        (None, [], "needs_review", ["no_symptom_data"]),
        (None, [assessment(lbp_duration_months=5.9)], "not_candidate", ["lbp_duration_short"]),
        (None, [assessment(conservative_care_months=3.0)], "not_candidate", ["conservative_care_short"]),
        (None, [assessment(lbp_duration_months=None)], "needs_review", ["missing_lbp_duration"]),
        (None, [assessment(conservative_care_months=None)], "needs_review", ["missing_conservative_care"]),
        (None, [assessment(radicular_pain=True)], "needs_review", ["radicular_pain"]),
        (None, [assessment(radicular_pain=None)], "candidate", []),
        ([], None, "not_candidate", ["no_mri_report"]),
        ([report(modic(), status="empty")], None, "not_candidate", ["no_mri_report"]),
        (None, [assessment(lbp_duration_months=None, lbp_onset_date=dt.date(2023, 1, 1))], "candidate", []),
        (
            None,
            [assessment(lbp_duration_months=None, lbp_onset_date=dt.date(2024, 3, 1))],
            "not_candidate",
            ["lbp_duration_short"],
        ),
        (None, [assessment(lbp_duration_months=6.0, conservative_care_months=6.0)], "candidate", []),
    ],
)
def test_default_profile_rules(default, reports, assessments, status, reasons):
    assert judged(default, reports, assessments) == (status, reasons)


def test_index_mri_is_the_most_recent_usable_report(default):
    old = report(modic(), rid="R-old", date=dt.date(2023, 1, 1), order=0)
    new = report(rid="R-new", date=MRI, order=1)
    failed = report(modic(), rid="R-failed", date=dt.date(2024, 12, 1), status="error", order=2)
    r = judge_patient("P1", [old, new, failed], [assessment()], default)
    assert (r.index_report_id, r.status, r.reasons) == ("R-new", "not_candidate", ["no_qualifying_modic"])


def test_evidence_and_qualifying_levels_explain_the_flag(default):
    r = judge_patient(
        "P1", [report(modic(), modic("L5-S1", "2"), other("fusion"), exclusions=["fusion"])], [assessment()], default
    )
    assert r.qualifying_levels == "L4-L5:1;L5-S1:2"
    assert "L4-L5 Modic 1: Modic 1 at L4-L5." in r.evidence
    assert "fusion: fusion sentence." in r.evidence


@pytest.mark.parametrize(
    ("days", "chosen"),
    [
        ([-30, 10], 10),  # nearest wins, after the MRI too
        ([-10, 10], -10),  # a tie goes to the earlier assessment
        ([-365], -365),  # on the window edge: used
        ([366], None),  # beyond the window: not used
        ([-400, 200], 200),
    ],
)
def test_nearest_assessment(days, chosen):
    assessments = [assessment(d, row=i) for i, d in enumerate(days)]
    found, _ = nearest_assessment(assessments, MRI, 365)
    assert (None if found is None else (found.assessment_date - MRI).days) == chosen


def test_nearest_assessment_without_an_mri_date_takes_the_latest():
    found, note = nearest_assessment([assessment(-5, row=1), assessment(40, row=2)], None, 365)
    assert (found.assessment_date - MRI).days == 40 and "no date" in note


def test_an_undated_assessment_is_never_chosen(default):
    undated = Assessment("P1", 1, None, 24.0, None, 12.0, False)
    assert judged(default, None, [undated]) == ("needs_review", ["no_symptom_data"])


def test_every_patient_of_either_input_appears_once(default):
    reports = [report(modic(), rid="R1"), report(modic(), rid="R2", order=1)]
    reports[1].patient_id = "P2"
    symptoms = SymptomTable({"P1": [assessment()], "P3": [assessment()]}, ("patient_id",), [])
    results = flag(reports, symptoms, default)
    assert [(r.patient_id, r.status, r.reasons) for r in results] == [
        ("P1", "candidate", []),
        ("P2", "needs_review", ["no_symptom_data"]),
        ("P3", "not_candidate", ["no_mri_report"]),
    ]


def test_intracept_trial_profile():
    trial = load("intracept-trial", PATTERNS)
    good = dict(odi=44.0, pain_score=6.0, bmi=30.0, prior_lumbar_surgery=False)
    assert judged(trial, None, [assessment(**good)]) == ("candidate", [])
    assert judged(trial, None, [assessment(odi=28.0, pain_score=3.0, bmi=41.0, prior_lumbar_surgery=True)]) == (
        "not_candidate",
        ["bmi_high", "odi_low", "pain_score_low", "prior_lumbar_surgery"],
    )
    assert judged(trial, None, [assessment(**(good | {"odi": None}))]) == ("needs_review", ["missing_odi"])
    assert judged(trial, None, [assessment(**(good | {"radicular_pain": True}))]) == (
        "not_candidate",
        ["radicular_pain"],
    )
    assert judged(trial, [report(modic(), modic("L1-L2", "2"))], [assessment(**good)]) == (
        "not_candidate",
        ["modic_outside_levels"],
    )
    assert judged(trial, [report(modic(), other("listhesis", "L4-L5"))], [assessment(**good)]) == (
        "not_candidate",
        ["listhesis"],
    )
    assert judged(trial, [report(modic(), exclusions=["fusion"])], [assessment(**good)]) == (
        "not_candidate",
        ["prior_fusion"],
    )


def test_payer_profile():
    payer = load("payer-12m", PATTERNS)
    assert judged(payer, None, [assessment(lbp_duration_months=13.0)]) == ("candidate", [])
    assert judged(payer, None, [assessment(lbp_duration_months=10.0)]) == ("not_candidate", ["lbp_duration_short"])
    assert judged(payer, [report(modic(modic_type="2"))]) == ("not_candidate", ["no_qualifying_modic"])
    assert judged(payer, [report(modic(uncertain=True))]) == ("not_candidate", ["modic_uncertain"])
    three = [report(modic("L3-L4"), modic("L4-L5"), modic("L5-S1"))]
    assert judged(payer, three) == ("not_candidate", ["too_many_vertebrae"])
    assert judged(payer, [report(modic("L4-L5"), modic("L5-S1"))]) == ("candidate", [])


def test_default_ignores_listhesis_and_trial_fields(default):
    reports = [report(modic(), other("listhesis", "L4-L5"))]
    assert judged(default, reports, [assessment(odi=10.0, prior_lumbar_surgery=True)]) == ("candidate", [])


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ('description = "', 'description = 1\n# "', ["description = 1", "expected a string"]),
        ("window_days = 365", "windw_days = 365", ["unknown key 'windw_days'"]),
        ('hedged_modic = "review"', 'hedged_modic = "maybe"', ["imaging.hedged_modic = 'maybe'", "accept, review"]),
        ('levels = ["L3-L4", "L4-L5", "L5-S1"]', 'levels = ["L4-5"]', ["imaging.levels", "'L4-5' not among"]),
        ("modic_types =", "modic_typos =", ["unknown key 'imaging.modic_typos'"]),
        ("max_vertebrae = 0\n", "", ["missing key 'imaging.max_vertebrae'"]),
        ("min_lbp_months = 6", "min_lbp_months = -1", ["symptoms.min_lbp_months = -1", "expected a number"]),
        ("min_lbp_months = 6", 'min_lbp_months = 6\nmin_odi = "thirty"', ["symptoms.min_odi", "expected a number"]),
        ('review = ["fusion"]', 'review = ["fusion", "tumor"]', ["exclude and imaging.review both name tumor"]),
        ("[imaging]", "[imaging", ["not valid TOML"]),
    ],
)
def test_a_bad_profile_is_refused_naming_the_key(tmp_path, old, new, fragments):
    text = (PATTERNS / "criteria" / "default.toml").read_text()
    assert old in text
    path = tmp_path / "mine.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CriteriaError) as err:
        load(str(path), PATTERNS)
    assert str(path) in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_a_copied_and_edited_profile_is_used(tmp_path):
    text = (PATTERNS / "criteria" / "default.toml").read_text().replace("min_lbp_months = 6", "min_lbp_months = 30")
    path = tmp_path / "strict.toml"
    path.write_text(text)
    strict = load(str(path), PATTERNS)
    assert strict.name == "strict"
    assert judged(strict) == ("not_candidate", ["lbp_duration_short"])


def test_unknown_profile_name():
    with pytest.raises(CriteriaError, match="no criteria profile 'nonesuch'"):
        load("nonesuch", PATTERNS)


def test_unreadable_symptom_values_are_named_and_left_empty(tmp_path):
    path = tmp_path / "symptoms.csv"
    path.write_text(
        "patient_id,assessment_date,lbp_duration_months,conservative_care_months,radicular_pain,odi\n"
        "P1,31/02/2024,six,12,maybe,130\n"
        "P1,2024-05-01,-3,7.5,YES,40\n"
        ",2024-05-01,12,12,no,\n"
    )
    table = read_symptoms(path)
    first, second = table.by_patient["P1"]
    assert (first.assessment_date, first.lbp_duration_months, first.radicular_pain, first.odi) == (None,) * 4
    assert first.conservative_care_months == 12.0
    assert (second.lbp_duration_months, second.conservative_care_months, second.radicular_pain) == (None, 7.5, True)
    assert f"{path} row 1, column assessment_date: '31/02/2024'" in table.messages[0]
    assert any("row 1, column lbp_duration_months: 'six'" in m for m in table.messages)
    assert any("row 1, column odi: '130' is not an ODI score from 0 to 100" in m for m in table.messages)
    assert any("row 2, column lbp_duration_months: '-3'" in m for m in table.messages)
    assert any("row 3" in m and "no patient id" in m for m in table.messages)


# -- the index MRI among every kind of report ---------------------------------------------------
LATER = dt.date(2024, 9, 1)
CERVICAL = ("mri", "cervical", "imaging_report")
BRAIN = ("mri", "brain", "imaging_report")
LUMBAR_CT = ("ct", "lumbar", "imaging_report")
OP_NOTE = ("unknown", "lumbar", "operative_note")
UNKNOWN_KIND = ("unknown", "unknown", "unknown")


@pytest.mark.parametrize(
    ("later", "exclusions"),
    [
        (CERVICAL, ("nerve_compression",)),  # "C5-C6 ... compressing the exiting right C6 nerve root"
        (BRAIN, ("tumor",)),  # leptomeningeal enhancement
        (LUMBAR_CT, ("instability",)),
        (OP_NOTE, ("fusion",)),
    ],
)
def test_a_later_report_of_another_kind_never_becomes_the_index(default, later, exclusions):
    lumbar = report(modic(), rid="R1")
    other = report(exclusions=exclusions, date=LATER, rid="R2", order=1, exam=later)
    r = judge_patient("P1", [lumbar, other], [assessment()], default)
    assert (r.status, r.reasons, r.index_report_id) == ("candidate", [], "R1")
    kind = kind_label(exam_kind(*later))
    assert f"R2 ({kind}, {LATER})" in "; ".join(r.notes) and "set aside, not a lumbar MRI" in "; ".join(r.notes)


@pytest.mark.parametrize("region", ["thoracolumbar", "whole_spine"])
def test_an_mri_that_covers_the_lumbar_spine_may_be_the_index(default, region):
    older = report(rid="R1")
    whole = report(modic(), date=LATER, rid="R2", order=1, exam=("mri", region, "imaging_report"))
    assert judge_patient("P1", [older, whole], [assessment(days=90)], default).index_report_id == "R2"


def test_reports_but_no_lumbar_mri(default):
    r = judge_patient("P1", [report(modic(), exam=CERVICAL), report(rid="R2", order=1, exam=OP_NOTE)], [], default)
    assert (r.status, r.reasons, r.index_report_id) == ("not_candidate", ["no_lumbar_mri"], "")
    assert "2 report(s) set aside, none a lumbar MRI" in r.notes[0]


def test_no_report_at_all_is_still_no_mri_report(default):
    assert judge_patient("P1", [], [assessment()], default).reasons == ["no_mri_report"]


def test_set_aside_reports_are_named_up_to_five(default):
    others = [report(rid=f"X{i}", order=i, date=MRI + dt.timedelta(days=i), exam=BRAIN) for i in range(1, 8)]
    r = judge_patient("P1", [report(modic()), *others], [assessment()], default)
    note = next(n for n in r.notes if "set aside" in n)
    assert note.startswith("7 report(s) set aside") and note.endswith("and 2 more")
    assert "X7 (brain MRI" in note and "X2 (" not in note  # newest first


@pytest.mark.parametrize(
    ("policy", "lumbar_too", "expected"),
    [
        # review: a report of unknown kind is the index only when no lumbar MRI is known, and asks for a look
        ("review", False, ("needs_review", ["index_exam_unknown"], "R2")),
        ("review", True, ("candidate", [], "R1")),
        ("accept", True, ("candidate", [], "R2")),
        ("ignore", False, ("not_candidate", ["no_lumbar_mri"], "")),
    ],
)
def test_reports_of_unknown_kind(tmp_path, policy, lumbar_too, expected):
    profile = _edited_profile(tmp_path, f'unknown_exams = "{policy}"')
    reports = [report(modic(), rid="R2", date=LATER, order=1, exam=UNKNOWN_KIND)]
    if lumbar_too:
        reports.insert(0, report(modic(), rid="R1"))
    r = judge_patient("P1", reports, [assessment(days=45)], profile)
    assert (r.status, r.reasons, r.index_report_id) == expected


def test_index_exams_are_set_by_the_profile(tmp_path):
    """A profile may take lumbar CT as an index too (e.g. to audit a site that images by CT)."""
    profile = _edited_profile(tmp_path, 'modalities = ["mri", "ct"]')
    later_ct = report(modic("L5-S1", "2"), date=LATER, rid="R2", order=1, exam=LUMBAR_CT)
    r = judge_patient("P1", [report(modic()), later_ct], [assessment(days=90)], profile)
    assert (r.index_report_id, r.qualifying_levels) == ("R2", "L5-S1:2")


def test_a_profile_without_index_table_defaults_to_lumbar_mri(tmp_path):
    text = (PATTERNS / "criteria" / "default.toml").read_text(encoding="utf-8")
    start, end = text.index("[index]"), text.index("[imaging]")
    path = tmp_path / "old.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    index = load(str(path), PATTERNS).index
    assert (index.modalities, index.regions, index.unknown_exams) == (
        ("mri",),
        ("lumbar", "thoracolumbar", "whole_spine"),
        "review",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('unknown_exams = "maybe"', "index.unknown_exams = 'maybe': expected one of accept, review, ignore"),
        ('regions = ["lumbar", "spine"]', "index.regions = ['lumbar', 'spine']: 'spine' not among"),
        ('document_types = "imaging_report"', "index.document_types = 'imaging_report': expected a list of strings"),
    ],
)
def test_a_bad_index_value_is_refused(tmp_path, line, message):
    with pytest.raises(CriteriaError) as err:
        _edited_profile(tmp_path, line)
    assert message in str(err.value)


def _edited_profile(tmp_path, line: str):
    """The default profile with one key of [index] replaced by `line`."""
    key = line.split("=")[0].strip()
    lines = (PATTERNS / "criteria" / "default.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("[index]")
    at = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{key} ="))
    lines[at] = line
    path = tmp_path / "edited.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load(str(path), PATTERNS)
