"""`modic run`, `modic flag` and `modic criteria` end to end on the bundled samples."""

import csv

import duckdb
import pytest

from .conftest import PATTERNS, SAMPLES
from .test_cli import assert_clean_error, invoke, read

DEFAULT_REASONS = {
    "no_qualifying_modic", "modic_uncertain", "modic_type_unspecified", "nerve_compression", "instability",
    "infection", "fracture", "tumor", "prior_fusion", "no_symptom_data", "lbp_duration_short",
    "conservative_care_short", "missing_lbp_duration", "missing_conservative_care", "radicular_pain", "no_mri_report",
    "no_lumbar_mri", "index_exam_unknown",
}  # fmt: skip


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = invoke("run", SAMPLES / "reports.csv", "--symptoms", SAMPLES / "symptoms.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_every_patient_of_either_input_appears_once(sample_run):
    patients = [p["patient_id"] for p in read(sample_run, "patients")]
    expected = {r["patient_id"] for r in read(SAMPLES, "reports")}
    with open(SAMPLES / "symptoms.csv", encoding="utf-8") as fh:
        expected |= {r["patient_id"] for r in csv.DictReader(fh) if r["patient_id"]}
    assert sorted(patients) == sorted(expected) and len(patients) == len(set(patients))


def test_samples_cover_every_status_and_reason(sample_run):
    patients = read(sample_run, "patients")
    assert {p["status"] for p in patients} == {"candidate", "needs_review", "not_candidate"}
    reasons = {r for p in patients for r in p["reasons"].split(";") if r}
    assert reasons == DEFAULT_REASONS


def test_patient_rows_explain_themselves(sample_run):
    patients = {p["patient_id"]: p for p in read(sample_run, "patients")}
    p = patients["P101"]  # two assessments: the one nearer the MRI is used
    assert (p["status"], p["index_report_id"], p["qualifying_levels"], p["assessment_date"]) == (
        "candidate",
        "R1002",
        "L4-L5:2",
        "2020-05-20",
    )
    assert "converted to type 2" in p["evidence"]
    assert patients["P121"]["assessment_date"] == "2021-08-14"  # tie: the earlier assessment
    assert patients["P122"]["status"] == "candidate" and patients["P124"]["reasons"] == "no_symptom_data"
    assert patients["P116"]["lbp_duration_months"] == "32.4" and "onset" in patients["P116"]["notes"]
    assert "unreadable" in patients["P125"]["notes"]
    assert patients["P300"]["reasons"] == "no_mri_report"
    assert patients["P103"]["status"] == "not_candidate" and "nerve_compression: " in patients["P103"]["evidence"]


def test_patients_table_in_duckdb_matches_the_csv(sample_run):
    rows = read(sample_run, "patients")
    with duckdb.connect(str(sample_run / "results.duckdb"), read_only=True) as con:
        got = con.execute("select status, count(*) from patients group by 1 order by 1").fetchall()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'patients'"
            ).fetchall()
        )
        assert con.execute("select count(*) from reports").fetchone()[0] == len(read(SAMPLES, "reports"))
    want = sorted((s, sum(r["status"] == s for r in rows)) for s in {r["status"] for r in rows})
    assert got == want
    assert types["assessment_date"] == "DATE" and types["radicular_pain"] == "BOOLEAN"


def test_flag_again_with_another_profile_replaces_the_table(sample_run, tmp_path):
    result = invoke("flag", sample_run, "--symptoms", SAMPLES / "symptoms.csv", "--criteria", "intracept-trial")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "'six'" in result.output
    patients = {p["patient_id"]: p for p in read(sample_run, "patients")}
    assert {p["criteria"] for p in patients.values()} == {"intracept-trial"}
    assert patients["P150"]["reasons"] == "bmi_high;odi_low;pain_score_low;prior_lumbar_surgery"
    with duckdb.connect(str(sample_run / "results.duckdb"), read_only=True) as con:
        assert con.execute("select distinct criteria from patients").fetchall() == [("intracept-trial",)]
    invoke("flag", sample_run, "--symptoms", SAMPLES / "symptoms.csv")  # back to default for other tests


def test_symptom_columns_can_be_mapped(tmp_path):
    out = tmp_path / "o"
    src = tmp_path / "r.csv"
    src.write_text("report_id,patient_id,report_date,report_text\nR1,P1,2024-06-01,Modic type 1 at L4-5.\n")
    sym = tmp_path / "s.csv"
    sym.write_text("mrn,seen,pain_months,care,leg_pain\nP1,2024-05-20,12,8,no\n")
    result = invoke(
        "run",
        src,
        "--symptoms",
        sym,
        "--out",
        out,
        "--quiet",
        "--symptom-col",
        "patient_id=mrn",
        "--symptom-col",
        "assessment_date=seen",
        "--symptom-col",
        "lbp_duration_months=pain_months",
        "--symptom-col",
        "conservative_care_months=care",
        "--symptom-col",
        "radicular_pain=leg_pain",
    )
    assert result.exit_code == 0, result.output
    (p,) = read(out, "patients")
    assert (p["status"], p["lbp_duration_months"]) == ("candidate", "12.0")


def test_criteria_command_lists_and_prints():
    listing = invoke("criteria")
    assert [line.split()[0] for line in listing.output.splitlines()] == ["default", "intracept-trial", "payer-12m"]
    shown = invoke("criteria", "default")
    assert shown.output == (PATTERNS / "criteria" / "default.toml").read_text()


def test_flag_errors(tmp_path, sample_run):
    sym = SAMPLES / "symptoms.csv"
    assert_clean_error(invoke("flag", tmp_path, "--symptoms", sym), "reports.csv: not found", "modic extract")
    assert_clean_error(invoke("flag", sample_run, "--symptoms", tmp_path / "none.csv"), "none.csv", "no such file")
    assert_clean_error(invoke("flag", sample_run, "--symptoms", sym, "--criteria", "strict"), "no criteria profile")
    bad = tmp_path / "s.csv"
    bad.write_text("patient_id,assessment_date,conservative_care_months\nP1,2024-01-01,6\n")
    assert_clean_error(invoke("flag", sample_run, "--symptoms", bad), "'radicular_pain'", "columns found")
    assert_clean_error(invoke("flag", sample_run, "--symptoms", sym, "--symptom-col", "odi"), "FIELD=COLUMN")
    assert_clean_error(invoke("flag", sample_run, "--symptoms", sym, "--symptom-col", "age=years"), "unknown symptom")


def test_run_refuses_a_bad_profile_before_extracting(tmp_path):
    out = tmp_path / "o"
    result = invoke(
        "run", SAMPLES / "reports.csv", "--symptoms", SAMPLES / "symptoms.csv", "--out", out, "--criteria", "nonesuch"
    )
    assert_clean_error(result, "no criteria profile 'nonesuch'")
    assert not out.exists()
