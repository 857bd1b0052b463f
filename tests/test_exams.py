"""Exam detection (pipeline/exams.py): the kind of each document from its text or its exam column,
where each finding is, and the rule file's checks. Tables of (text -> kind)."""

import json

import pytest

from pipeline.errors import RuleError
from pipeline.exams import EXAM_FILE, Exam, ExamDetector, combine_regions, level_region, load_exam_rules

from .conftest import PATTERNS


@pytest.fixture(scope="module")
def detector():
    return ExamDetector.from_patterns(PATTERNS)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # titled, US and UK, with and without an EXAM: header
        ("EXAM: MRI LUMBAR SPINE WITHOUT CONTRAST\n\nFINDINGS:\nL4-L5: Modic type 1.", "lumbar mri"),
        ("MR cervical spine\nClinical details: neck pain.\nReport: C5/6 disc osteophyte complex.", "cervical mri"),
        ("CT HEAD WITHOUT CONTRAST\nNo acute intracranial hemorrhage.", "brain ct"),
        ("XR LUMBAR SPINE 2-3 VIEWS\nGrade 2 anterolisthesis of L4 on L5.", "lumbar radiograph"),
        ("L-spine flex/ext\nGrade 2 anterolisthesis L4 on L5 increasing in flexion.", "lumbar radiograph"),
        ("NM BONE SCAN WHOLE BODY\nIncreased uptake at L3.", "unknown nuclear_medicine"),
        ("US RENAL\nBoth kidneys normal in size.", "abdomen_pelvis ultrasound"),
        ("MRI RIGHT KNEE WITHOUT CONTRAST\nMedial meniscus: complex tear.", "other_joint mri"),
        ("MRI THORACOLUMBAR SPINE\nT11-T12: Modic type 2.", "thoracolumbar mri"),
        ("MRI whole spine: sagittal T1 and STIR.\nMetastases at T11 and L2.", "whole_spine mri"),
        ("MRI CERVICAL, THORACIC AND LUMBAR SPINE\nC5-C6 cord compression. L4-L5 Modic 1.", "whole_spine mri"),
        # MTSamples' run-together layout
        ("EXAM: , Lumbar spine CT without contrast.,HISTORY: , Back pain.,FINDINGS: , No fracture.", "lumbar ct"),
        # the real lumbar notes: a title line, a multi-region report, no title at all
        ("LSS MRI :\nFeature of muscle spasm.\nDiffuse disc bulge noted at L4/L5 level.", "lumbar mri"),
        ("C.SPINE MRI : \nDisc bulge at C5/C6.\nLSS MRI : \nDisc bulge at L4/L5.", "lumbar mri"),
        ("L4/5: disc bulge indenting the thecal sac. L5/S1: Modic type II changes.", "lumbar mri"),
        ("No evidence of disc herniation.\nNo significant thecal sac or nerve root compression noted.", "lumbar mri"),
        (
            "D SPINE MRI\nNormal bony alignment.\nNo significant spinal cord or nerve root compression noted.",
            "thoracic mri",
        ),
        # untitled other exams: anatomy and sequence or window words
        ("No acute intracranial haemorrhage. Periventricular white matter FLAIR hyperintensities.", "brain mri"),
        ("Medial meniscus: complex tear of the posterior horn with bone marrow oedema.", "other_joint mri"),
        (
            "Liver, spleen and pancreas unremarkable. Perinephric stranding around the right kidney.",
            "abdomen_pelvis ct",
        ),
        (
            "Mild levoscoliosis of the lumbar spine. Disc space narrowing at L4-L5 and L5-S1. "
            "Bowel gas pattern normal.",
            "lumbar radiograph",
        ),
        # CT and radiographs naming MRI words are not MRIs
        (
            "Endplate sclerosis and vacuum phenomenon at L4-L5; soft tissue density in the lateral recess, as on the "
            "prior MRI.",
            "lumbar ct",
        ),
        # operative and clinical notes, even when they quote a lumbar MRI
        (
            "PREOPERATIVE DIAGNOSIS: L4-L5 stenosis.\nPROCEDURE PERFORMED: L4-L5 TLIF.\nANESTHESIA: General.\n"
            "ESTIMATED BLOOD LOSS: 200 mL.",
            "operative_note",
        ),
        (
            "PROCEDURE: L2 KYPHOPLASTY\nPRE/POST DX: ACUTE L2 FRACTURE.\nANESTHESIA: MAC + LOCAL.\nCONSENT: RISKS "
            "INCL BLEEDING, INFECTION.",
            "operative_note",
        ),
        (
            "Dear Dr Smith,\nThank you for referring Mrs Jones. MRI lumbar spine shows Modic type 1 change at L4-5.\n"
            "Yours sincerely,",
            "clinical_note",
        ),
        (
            "Pain clinic\nS: axial LBP for 1 year.\nO: tender at L5-S1.\nA: Modic 1 L5-S1 on MRI.\nP: refer for BVNA.",
            "clinical_note",
        ),
        (
            "CHIEF COMPLAINT: Low back pain.\nHISTORY OF PRESENT ILLNESS: 54-year-old man.\n"
            "PHYSICAL EXAM: SLR negative.",
            "clinical_note",
        ),
        # heart sounds are not vertebrae, "Mr" is not MR
        ("GENERAL APPEARANCE: well.\nVITAL SIGNS: normal.\nHEART: S1 and S2 normal, no murmur.", "clinical_note"),
        ("", "unknown"),
    ],
)
def test_exam_kind_from_text(detector, text, kind):
    assert detector.detect(text).kind == kind


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        ("72148", "", ("mri", "lumbar", "imaging_report")),
        ("72141-26", "", ("mri", "cervical", "imaging_report")),  # a modifier after the code
        ("72131", "", ("ct", "lumbar", "imaging_report")),
        ("72100", "", ("radiograph", "lumbar", "imaging_report")),
        ("MRI L-SPINE W/O CONTRAST", "", ("mri", "lumbar", "imaging_report")),
        ("MR CERVICAL SPINE WO", "", ("mri", "cervical", "imaging_report")),
        ("CT ABD/PELVIS W CONTRAST", "", ("ct", "abdomen_pelvis", "imaging_report")),
        ("XR LUMBAR SPINE 2-3 VIEWS", "", ("radiograph", "lumbar", "imaging_report")),
        ("CT GUIDED BIOPSY DISC", "", ("unknown", "unknown", "operative_note")),  # a procedure, though CT
        ("Spine surgery consult", "", ("unknown", "unknown", "clinical_note")),
        ("OP NOTE", "PROCEDURE: L4-L5 TLIF.", ("unknown", "lumbar", "operative_note")),
        # a column that names only the region: the modality comes from the text
        ("LUMBAR SPINE", "Sagittal T1, T2 and STIR images. L4-L5: Modic type 1.", ("mri", "lumbar", "imaging_report")),
    ],
)
def test_exam_from_the_column(detector, column, text, expected):
    exam = detector.detect(text, column)
    assert (exam.modality, exam.region, exam.document_type) == expected
    assert exam.source == "column"
    assert exam.evidence.startswith("column")


@pytest.mark.parametrize("column", ["", "   ", "99999", "see report"])
def test_a_column_value_that_says_nothing_leaves_the_text_to_decide(detector, column):
    exam = detector.detect("CT HEAD WITHOUT CONTRAST\nNo acute hemorrhage.", column)
    assert (exam.kind, exam.source) == ("brain ct", "text")


def test_the_column_wins_over_the_text(detector):
    """A warehouse's procedure column is structured data: it decides where it says something."""
    exam = detector.detect("CT HEAD WITHOUT CONTRAST\nNo acute hemorrhage.", "MRI C-SPINE W/O CONTRAST")
    assert exam.kind == "cervical mri"


def test_multi_region_report_is_cut_into_parts(detector):
    text = "C.SPINE MRI : \nCord compression at C5/C6.\nLSS MRI : \nDisc bulge at L4/L5.\nIMPRESSION: as above."
    exam = detector.detect(text)
    assert exam.region == "lumbar"
    cervical, lumbar = exam.parts
    assert cervical[2] == "cervical" and text[cervical[0] : cervical[1]].startswith("C.SPINE MRI")
    assert lumbar[2] == "lumbar" and text[lumbar[0] : lumbar[1]].startswith("LSS MRI")
    assert exam.region_at(text.index("Cord")) == "cervical"
    assert exam.region_at(text.index("Disc bulge")) == "lumbar"
    assert exam.region_at(text.index("IMPRESSION")) == "lumbar"  # an impression ends the parts


def test_evidence_says_what_decided(detector):
    assert detector.detect("MRI LUMBAR SPINE\nNormal.").evidence == "title 'MRI LUMBAR SPINE'"
    assumed = detector.detect("L4/5: disc bulge compressing the thecal sac.").evidence
    assert "lumbar words" in assumed and "mri assumed" in assumed


@pytest.mark.parametrize(
    ("exam", "level", "site", "expected"),
    [
        # a lumbar exam: lumbar and lower thoracic levels count, cervical ones do not
        (Exam("mri", "lumbar", "imaging_report"), "L4-L5", "", ("lumbar", True)),
        (Exam("mri", "lumbar", "imaging_report"), "T11-T12", "", ("thoracic", True)),
        (Exam("mri", "lumbar", "imaging_report"), "C5-C6", "", ("cervical", False)),
        (Exam("mri", "lumbar", "imaging_report"), "", "", ("lumbar", True)),
        (Exam("mri", "lumbar", "imaging_report"), "", "other_joint", ("other_joint", False)),  # "hip fracture"
        (Exam("mri", "lumbar", "imaging_report"), "", "thoracic", ("thoracic", True)),  # "at lower dorsal ..."
        (Exam("mri", "thoracic", "imaging_report"), "", "thoracic", ("thoracic", False)),
        # other exams: a lumbar level counts wherever it is reported, nothing else does
        (Exam("mri", "cervical", "imaging_report"), "C5-C6", "", ("cervical", False)),
        (Exam("mri", "cervical", "imaging_report"), "", "", ("cervical", False)),
        (Exam("mri", "brain", "imaging_report"), "", "", ("brain", False)),
        (Exam("ct", "abdomen_pelvis", "imaging_report"), "L2-L3", "", ("lumbar", True)),
        (Exam("mri", "thoracic", "imaging_report"), "T7-T8", "", ("thoracic", False)),
        (Exam("mri", "whole_spine", "imaging_report"), "T7-T8", "", ("thoracic", False)),
        (Exam("mri", "whole_spine", "imaging_report"), "", "", ("whole_spine", True)),
        # notes: a lumbar level, or a note about the low back
        (Exam("unknown", "unknown", "clinical_note"), "", "", ("unknown", False)),
        (Exam("unknown", "unknown", "clinical_note"), "L1-L2", "", ("lumbar", True)),
        (Exam("unknown", "lumbar", "operative_note"), "", "", ("lumbar", True)),
        (Exam("unknown", "unknown", "clinical_note"), "", "lumbar", ("lumbar", True)),
        # nothing known: count (such a report may become an index)
        (Exam(), "", "", ("unknown", True)),
    ],
)
def test_where_a_finding_is_and_whether_it_counts(exam, level, site, expected):
    assert exam.place(level, site, 0) == expected


@pytest.mark.parametrize(
    ("level", "region"),
    [("C7-T1", "cervical"), ("T11-T12", "thoracic"), ("T12-L1", "lumbar"), ("L5-S1", "lumbar"), ("", "")],
)
def test_level_region(level, region):
    assert level_region(level) == region


@pytest.mark.parametrize(
    ("regions", "combined"),
    [
        (["cervical", "thoracic", "lumbar"], "whole_spine"),
        (["thoracic", "lumbar"], "thoracolumbar"),
        (["cervical", "lumbar"], "lumbar"),
        (["other_joint", "lumbar"], "lumbar"),
        (["brain", "cervical"], "brain"),
        (["unknown"], "unknown"),
        ([], "unknown"),
    ],
)
def test_combine_regions(regions, combined):
    assert combine_regions(regions) == combined


def _broken(tmp_path, change):
    data = json.loads((PATTERNS / EXAM_FILE).read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / EXAM_FILE
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["codes"].update({"7214": ["mri", "lumbar"]}), "'7214' is not a five-digit code"),
        (lambda d: d["codes"].update({"72148": ["mri", "lumbarr"]}), "codes: 72148: expected [modality, region]"),
        (lambda d: d["regions"]["lumbar"]["title"].append("LSS"), "write 'LSS' in lower case"),
        (lambda d: d["regions"]["lumbar"]["title"].append("lumb(ar"), "is not a valid regular expression"),
        (lambda d: d["regions"].update({"spine": {"title": ["spine"]}}), "regions: 'spine' is not one of"),
        (lambda d: d["document_types"]["operative_note"]["cues"].append(["ebl", "2"]), "expected [term, weight]"),
        (lambda d: d.pop("levels"), "expected 'levels' to be a JSON object"),
        (lambda d: d["assumed_modality"].update({"modality": "pet"}), "assumed_modality.modality"),
    ],
)
def test_a_broken_exam_rule_file_names_the_entry(tmp_path, change, message):
    with pytest.raises(RuleError) as err:
        load_exam_rules(_broken(tmp_path, change))
    assert message in str(err.value) and EXAM_FILE in str(err.value)


def test_an_added_phrase_is_used(tmp_path):
    """Rules are data: a new region word in the file changes what is detected, no Python touched."""
    rules = load_exam_rules(_broken(tmp_path, lambda d: d["regions"]["lumbar"]["title"].append("lendenwirbelsaeule")))
    text = "MRT LENDENWIRBELSAEULE\nBandscheiben normal."
    assert ExamDetector.from_patterns(PATTERNS).detect(text).region == "unknown"
    assert ExamDetector(rules).detect(text).region == "lumbar"
