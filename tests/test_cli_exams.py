"""Mixed extracts end to end: exam kinds from a column or the text, the flag from lumbar MRIs only."""

import csv
import json

import pandas as pd
import pytest

from .conftest import SAMPLES
from .test_cli import assert_clean_error, invoke, read, write_csv

LUMBAR = "MRI LUMBAR SPINE WITHOUT CONTRAST\nFINDINGS:\nL4-L5: Modic type 1 endplate change. No root compression."
CERVICAL = (
    "MRI CERVICAL SPINE WITHOUT CONTRAST\nFINDINGS:\nC5-C6: disc osteophyte complex compressing the exiting right C6 "
    "nerve root. Severe right foraminal stenosis."
)
BRAIN = "MRI BRAIN WITH AND WITHOUT CONTRAST\nFINDINGS:\nDiffuse leptomeningeal enhancement. No mass effect."
ROWS = [
    ("R1", "P1", "2024-01-10", LUMBAR),
    ("R2", "P1", "2024-05-02", CERVICAL),
    ("R3", "P2", "2024-02-01", LUMBAR.replace("L4-L5", "L5-S1")),
    ("R4", "P2", "2024-08-20", BRAIN),
    ("R5", "P3", "2024-03-01", CERVICAL),
]
SYMPTOMS = [
    ("P1", "2024-01-05", "24", "12", "no"),
    ("P2", "2024-02-03", "36", "9", "no"),
    ("P3", "2024-03-01", "24", "12", "no"),
]


@pytest.fixture
def mixed(tmp_path):
    src = write_csv(tmp_path / "reports.csv", ROWS)
    symptoms = tmp_path / "symptoms.csv"
    with open(symptoms, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["patient_id", "assessment_date", "lbp_duration_months", "conservative_care_months", "radicular_pain"]
        )
        w.writerows(SYMPTOMS)
    return src, symptoms


def test_a_later_cervical_or_brain_mri_does_not_decide_a_lumbar_flag(tmp_path, mixed):
    """The issue's own cases: a later cervical MRI with a compressed C6 root, a later brain MRI with
    leptomeningeal enhancement; both patients stay candidates from their lumbar MRIs."""
    src, symptoms = mixed
    out = tmp_path / "out"
    result = invoke("run", src, "--symptoms", symptoms, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    patients = {p["patient_id"]: p for p in read(out, "patients")}
    assert (patients["P1"]["status"], patients["P1"]["index_report_id"]) == ("candidate", "R1")
    assert (patients["P2"]["status"], patients["P2"]["index_report_id"]) == ("candidate", "R3")
    assert "R2 (cervical MRI, 2024-05-02)" in patients["P1"]["notes"]
    assert "R4 (brain MRI, 2024-08-20)" in patients["P2"]["notes"]
    assert (patients["P3"]["status"], patients["P3"]["reasons"]) == ("not_candidate", "no_lumbar_mri")
    reports = {r["report_id"]: r for r in read(out, "reports")}
    # the cervical compression is kept as a finding, outside the lumbar spine; it is no exclusion
    assert reports["R2"]["nerve_compression"] == "false"
    cervical = [f for f in read(out, "findings") if f["report_id"] == "R2" and f["finding"] == "nerve_compression"]
    assert cervical and {(f["region"], f["lumbar"]) for f in cervical} == {("cervical", "false")}
    assert reports["R4"]["tumor"] == "false"


def test_reports_carry_their_exam_kind_and_extract_counts_them(tmp_path, mixed):
    src, _ = mixed
    out = tmp_path / "out"
    result = invoke("extract", src, "--out", out)
    assert result.exit_code == 0, result.output
    assert "5 reports: 2 cervical MRI, 2 lumbar MRI, 1 brain MRI" in result.output
    r1 = read(out, "reports")[0]
    assert (r1["exam_modality"], r1["exam_region"], r1["document_type"], r1["exam_source"]) == (
        "mri",
        "lumbar",
        "imaging_report",
        "text",
    )
    assert r1["exam_evidence"] == "title 'MRI LUMBAR SPINE WITHOUT CONTRAST'"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_exam_column_in_every_table_format(tmp_path, fmt):
    rows = [
        {"report_id": "A", "report_text": "Normal study.", "procedure": "MRI L-SPINE W/O CONTRAST"},
        {"report_id": "B", "report_text": "Normal study.", "procedure": "72141"},
        {"report_id": "C", "report_text": "CT HEAD WITHOUT CONTRAST\nNormal.", "procedure": ""},
    ]
    src = tmp_path / f"in.{fmt}"
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(src, index=False)
    elif fmt == "jsonl":
        frame.to_json(src, orient="records", lines=True)
    else:
        frame.to_parquet(src)
    out = tmp_path / "out"
    result = invoke("extract", src, "--out", out, "--exam-col", "procedure", "--quiet")
    assert result.exit_code == 0, result.output
    got = [(r["exam_modality"], r["exam_region"], r["exam_source"]) for r in read(out, "reports")]
    assert got == [("mri", "lumbar", "column"), ("mri", "cervical", "column"), ("ct", "brain", "text")]


def test_a_missing_exam_column_is_named(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("R1", "", "", "text")])
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o", "--exam-col", "procedure"), "'procedure'", "--exam-col"
    )


def test_exam_column_needs_a_table(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "R1.txt").write_text("MRI lumbar spine.", encoding="utf-8")
    assert_clean_error(
        invoke("extract", folder, "--out", tmp_path / "o", "--exam-col", "x"), "--exam-col needs a table"
    )


def test_flag_refuses_a_folder_written_before_exams(tmp_path, mixed):
    src, symptoms = mixed
    out = tmp_path / "out"
    invoke("extract", src, "--out", out, "--quiet")
    frame = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False)
    frame.drop(columns=["exam_modality"]).to_csv(out / "reports.csv", index=False)
    assert_clean_error(invoke("flag", out, "--symptoms", symptoms), "exam_modality", "run `modic extract")


def _gold_item(rid, patient, date, text, exam, modic=(), **exclusions):
    return {
        "report_id": rid,
        "patient_id": patient,
        "report_date": date,
        "report_text": text,
        "gold": {
            "exam": dict(zip(("modality", "region", "document_type"), exam)),
            "modic": [{"level": lv, "type": t, "uncertain": False} for lv, t in modic],
            "endplate": [],
            "exclusions": {name: exclusions.get(name, False) for name in ("nerve_compression", "tumor")},
        },
    }


def test_evaluate_scores_exams_and_the_mixed_extract_over_several_gold_files(tmp_path, mixed):
    _, symptoms = mixed
    lumbar = tmp_path / "lumbar.jsonl"
    others = tmp_path / "others.jsonl"
    lumbar.write_text(
        json.dumps(_gold_item("R1", "P1", "2024-01-10", LUMBAR, ("mri", "lumbar", "imaging_report"), [("L4-L5", "1")]))
        + "\n",
        encoding="utf-8",
    )
    others.write_text(
        json.dumps(_gold_item("R2", "P1", "2024-05-02", CERVICAL, ("mri", "cervical", "imaging_report"))) + "\n",
        encoding="utf-8",
    )
    result = invoke("evaluate", lumbar, others, "--symptoms", symptoms, "--out", tmp_path / "dis.csv")
    assert result.exit_code == 0, result.output
    assert "exam kind accuracy 1.000 (2/2" in result.output
    assert "index report agrees for 1/1" in result.output
    assert "mixed extract (default): 1/1 patients with a lumbar MRI keep the status and index report" in result.output


def test_evaluate_refuses_a_report_id_in_two_gold_files_and_a_bad_exam_label(tmp_path):
    item = _gold_item("R1", "P1", "2024-01-10", LUMBAR, ("mri", "lumbar", "imaging_report"))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(item) + "\n", encoding="utf-8")
    b.write_text(json.dumps(item) + "\n", encoding="utf-8")
    assert_clean_error(
        invoke("evaluate", a, b, "--out", tmp_path / "d.csv"), "b.jsonl line 1", "'R1'", "a.jsonl line 1"
    )
    item["gold"]["exam"]["region"] = "lumbar spine"
    a.write_text(json.dumps(item) + "\n", encoding="utf-8")
    assert_clean_error(invoke("evaluate", a, "--out", tmp_path / "d.csv"), "a.jsonl line 1", "gold.exam.region")


def test_bundled_samples_are_a_mixed_extract(tmp_path):
    """The sample input holds other exams and notes of the gold patients, and extraction says so."""
    out = tmp_path / "out"
    result = invoke("extract", SAMPLES / "reports.csv", "--out", out)
    assert result.exit_code == 0, result.output
    kinds = next(line for line in result.output.splitlines() if " reports: " in line and "MRI" in line)
    assert "lumbar MRI" in kinds and "cervical MRI" in kinds and "operative notes" in kinds


def test_audit_counts_reports_by_exam_kind(tmp_path, mixed):
    src, symptoms = mixed
    out = tmp_path / "out"
    assert invoke("run", src, "--symptoms", symptoms, "--out", out, "--quiet").exit_code == 0
    refs = write_csv(
        tmp_path / "refs.csv", [("P1", "2024-02-01", "Spine surgery")], ("patient_id", "referral_date", "referred_to")
    )
    result = invoke("audit", out, "--referrals", refs, "--out", tmp_path / "audit", "--quiet")
    assert result.exit_code == 0, result.output
    rows = {r["exam_kind"]: r for r in read(tmp_path / "audit", "reports_by_exam")}
    assert list(rows) == ["cervical MRI", "lumbar MRI", "brain MRI"]
    got = {k: (r["reports"], r["patients"], r["index_reports"], r["set_aside_reports"]) for k, r in rows.items()}
    assert got == {
        "cervical MRI": ("2", "2", "0", "2"),
        "lumbar MRI": ("2", "2", "2", "0"),
        "brain MRI": ("1", "1", "0", "1"),
    }
    page = (tmp_path / "audit" / "audit.html").read_text(encoding="utf-8")
    assert "Reports by exam kind (5)" in page and "Set aside (not a lumbar MRI)" in page
