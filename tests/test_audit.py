"""`modic audit`: each measure on small hand-built tables, the rule file, the referral reader and its
messages, the command end to end on the samples, and audit.html in a real browser."""

import csv
import datetime as dt
import json
import re

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.audit import (
    CONCERNS,
    TABLE_TYPES,
    AuditRulesError,
    Patient,
    Referral,
    audit_patient,
    candidates_not_referred,
    days_to_referral,
    grouped_rows,
    load_rules,
    measures,
    modic_prevalence,
    percentiles,
    read_referrals,
    referrals_not_candidates,
    run_audit,
    summary_rows,
    timing,
    write_audit,
)
from pipeline.errors import InputError
from pipeline.sample_referrals import COLUMNS as SAMPLE_COLUMNS
from pipeline.sample_referrals import build_rows
from pipeline.schema import FINDING_COLUMNS, PATIENT_COLUMNS, PATIENT_TRAILING_COLUMNS, REPORT_COLUMNS

from .conftest import PATTERNS, SAMPLES
from .test_cli import assert_clean_error, invoke, read

RULES = load_rules(PATTERNS / "audit.toml")
MRI = dt.date(2024, 1, 10)


def patient(pid="P1", status="candidate", levels="L4-L5:1", reasons=(), index=MRI, site="A", provider="Dr X"):
    return Patient(pid, status, tuple(reasons), f"R-{pid}", index, levels, f"{levels} Modic: ...", "default", site,
                   provider)  # fmt: skip


def ref(pid="P1", days=10, to="Spine Surgery", procedure="", date_text=None):
    date = None if days is None else MRI + dt.timedelta(days=days)
    text = date_text if date_text is not None else (date.isoformat() if date else "")
    return Referral("row 2", pid, date, text, to, procedure, "A", "Dr X")


def audited(p, *referrals, window=180):
    return audit_patient(p, list(referrals), RULES, window)


# -- timing and the window ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [(-1, "before_mri"), (0, "within_window"), (1, "within_window"), (180, "within_window"), (181, "after_window")],
)
def test_window_is_0_to_180_days_both_ends_included(days, expected):
    assert timing(MRI + dt.timedelta(days=days), MRI, 180) == (days, expected)
    a = audited(patient(), ref(days=days))
    assert a.specialist_within == (expected == "within_window")


def test_no_date_and_no_index_mri_are_not_within_the_window():
    assert timing(None, MRI, 180) == (None, "no_date")
    assert timing(MRI, None, 180) == (None, "no_index_mri")
    a = audited(patient(), ref(days=None, date_text="03/15/2024"))
    assert not a.specialist_within and a.first_specialist is None


def test_referrals_before_the_mri_and_after_the_window_are_counted_apart():
    before = audited(patient("P1"), ref("P1", -20))
    late = audited(patient("P2"), ref("P2", 181))
    both = audited(patient("P3"), ref("P3", 30), ref("P3", 400))
    m = measures([before, late, both])
    assert (m["specialist_within_n"], m["specialist_before_mri_n"], m["specialist_after_window_n"]) == (1, 1, 1)
    # late referrals count in the days to a first specialist referral; one before the MRI does not
    assert (late.first_specialist.days, both.first_specialist.days, before.first_specialist) == (181, 30, None)
    assert m["days_to_specialist_n"] == 2


def test_a_shorter_window_counts_fewer_referrals():
    assert audited(patient(), ref(days=45), window=180).specialist_within
    a = audited(patient(), ref(days=45), window=30)
    assert not a.specialist_within and a.specialist_after_window


# -- destinations and procedures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("Spine Surgery", "specialist", "spine_surgery"),
        ("ORTHOPAEDIC SPINE - outpatients", "specialist", "spine_surgery"),
        ("orthopedic  spine-surgery clinic", "specialist", "spine_surgery"),
        ("Neurosurgery", "specialist", "spine_surgery"),
        ("Pain medicine", "specialist", "pain_medicine"),
        ("Pain Management Clinic", "specialist", "pain_medicine"),
        ("Interventional pain", "specialist", "pain_medicine"),
        ("Physiotherapy", "non_specialist", "physiotherapy"),
        ("physical therapy", "non_specialist", "physiotherapy"),
        ("Chiropractic", "non_specialist", "chiropractic"),
        ("Physiotherapy then spine surgery", "specialist", "spine_surgery"),  # specialist wins
    ],
)
def test_destinations_match_case_insensitive_whole_words(text, kind, name):
    d = RULES.destination(text)
    assert d is not None and (d.kind, d.name) == (kind, name)


@pytest.mark.parametrize("text", ["", "Occupational health", "painmanagement", "spine surgeryx"])
def test_destinations_no_rule_names(text):
    assert RULES.destination(text) is None


def test_physiotherapy_is_a_referral_but_not_to_a_specialist():
    a = audited(patient(), ref(days=20, to="Physiotherapy"))
    assert a.any_within and not a.specialist_within
    assert candidates_not_referred([a])[0]["gap"] == "non_specialist_only"


@pytest.mark.parametrize(
    "procedure",
    ["Basivertebral nerve ablation", "BVNA", "bvna L4-L5", "Intracept", "CPT 64628", "64629-50", "64628+64629"],
)
def test_bvna_procedure_synonyms_and_cpt_codes(procedure):
    assert RULES.is_bvna(procedure)


@pytest.mark.parametrize("procedure", ["", "Epidural steroid injection", "CPT 646281", "Radiofrequency ablation"])
def test_other_procedures_are_not_bvna(procedure):
    assert not RULES.is_bvna(procedure)


def test_a_bvna_procedure_counts_as_specialist_care_and_as_bvna():
    a = audited(patient(), ref(days=60, to="", procedure="Intracept"))
    assert a.specialist_within and a.bvna
    before = audited(patient(), ref(days=-3, to="", procedure="Intracept"))
    assert not before.bvna  # a procedure dated before the index MRI did not follow it


# -- concerns and gaps ----------------------------------------------------------------------------


def test_concern_labels_of_non_candidates():
    audits = [
        audited(patient("P1", "not_candidate", "", ["no_qualifying_modic"]), ref("P1", 50, "Pain Medicine", "BVNA")),
        audited(
            patient("P2", "not_candidate", "L5-S1:1", ["nerve_compression"]),
            ref("P2", 40, "Interventional Pain", "CPT 64628"),
            ref("P2", 10, "Neurosurgery"),
        ),
        audited(patient("P3", "needs_review", "L4-L5:1", ["modic_uncertain"]), ref("P3", 90, "", "Intracept")),
        audited(patient("P4", "needs_review", "L4-L5:1", ["radicular_pain"]), ref("P4", 5, "Pain management")),
        audited(patient("P5", "needs_review", "", ["modic_type_unspecified"]), ref("P5", 5, "", "BVNA 64628")),
        audited(patient("P6", "not_candidate", "", ["tumor"]), ref("P6", -30, "Spine surgery")),  # before the MRI
        audited(patient("P7", "not_candidate", "", ["tumor"]), ref("P7", 12, "Physiotherapy")),  # not a specialist
        audited(patient("P8", "candidate"), ref("P8", 12, "Spine surgery", "BVNA")),  # candidates are not listed
    ]
    rows = referrals_not_candidates(audits)
    got = [(r["patient_id"], r["concern"], r["is_procedure"]) for r in rows]
    assert got == [
        ("P1", "procedure_without_qualifying_imaging", True),
        ("P5", "procedure_without_qualifying_imaging", True),
        ("P2", "procedure_despite_exclusion", True),
        ("P3", "procedure_pending_review", True),
        ("P2", "referral_despite_exclusion", False),
        ("P4", "referral_pending_review", False),
    ]
    assert [r["concern"] for r in rows] == sorted((r["concern"] for r in rows), key=CONCERNS.index)
    assert rows[2]["reasons"] == "nerve_compression" and rows[2]["days_from_mri"] == 40


def test_gap_of_each_candidate_not_referred():
    audits = [
        audited(patient("P1"), ref("P1", 200, "Spine surgery")),
        audited(patient("P2"), ref("P2", None, "Spine surgery", date_text="15/03/2024")),
        audited(patient("P3"), ref("P3", 20, "Chiropractic")),
        audited(patient("P4"), ref("P4", -5, "Neurosurgery")),
        audited(patient("P5"), ref("P5", 300, "Physiotherapy")),
        audited(patient("P6")),
        audited(patient("P7", index=None), ref("P7", 10)),
        audited(patient("P8"), ref("P8", 15)),  # referred: not listed
    ]
    rows = {r["patient_id"]: r for r in candidates_not_referred(audits)}
    assert {p: r["gap"] for p, r in rows.items()} == {
        "P7": "index_mri_undated",
        "P1": "specialist_after_window",
        "P2": "specialist_date_unreadable",
        "P3": "non_specialist_only",
        "P4": "specialist_before_mri_only",
        "P5": "other_referral_outside_window",
        "P6": "never_referred",
    }
    assert rows["P3"]["referrals"] == "2024-01-30: Chiropractic (day 20, within the window)"
    assert "'15/03/2024'" in rows["P2"]["referrals"] and "date unreadable" in rows["P2"]["referrals"]
    assert list(rows) == ["P7", "P1", "P2", "P3", "P4", "P5", "P6"]  # in the order of GAPS


# -- measures ------------------------------------------------------------------------------------


def test_percentiles_interpolate_linearly():
    assert percentiles([10, 20, 30, 40]) == (17.5, 25.0, 32.5)
    assert percentiles([40, 10, 30, 20]) == (17.5, 25.0, 32.5)
    assert percentiles([7]) == (7.0, 7.0, 7.0)
    assert percentiles([0, 100]) == (25.0, 50.0, 75.0)
    assert percentiles([]) == (None, None, None)


def test_measures_of_a_group():
    audits = [
        audited(patient("P1"), ref("P1", 10), ref("P1", 70, "", "Intracept 64628")),
        audited(patient("P2"), ref("P2", 30, "Physiotherapy"), ref("P2", 40, "Pain medicine")),
        audited(patient("P3"), ref("P3", 20, "Physical therapy")),
        audited(patient("P4")),
    ]
    m = measures(audits)
    assert m == {
        "patients": 4,
        "specialist_within_n": 2,
        "specialist_within_pct": 50.0,
        "any_referral_within_n": 3,
        "any_referral_within_pct": 75.0,
        "bvna_n": 1,
        "bvna_pct": 25.0,
        "specialist_before_mri_n": 0,
        "specialist_after_window_n": 0,
        "days_to_specialist_n": 2,
        "days_to_specialist_median": 25.0,
        "days_to_specialist_p25": 17.5,
        "days_to_specialist_p75": 32.5,
    }
    assert measures([])["specialist_within_pct"] is None
    assert measures(audits[:3])["specialist_within_pct"] == 66.7
    rows = days_to_referral(audits, 180)
    assert [(r["patient_id"], r["days"], r["within_window"], r["destination"]) for r in rows] == [
        ("P1", 10, True, "Spine surgery"),
        ("P2", 40, True, "Pain medicine"),
    ]


def test_summary_and_groups_by_status_site_provider_month():
    audits = [
        audited(patient("P1", site="North", provider="Dr A"), ref("P1", 10)),
        audited(patient("P2", site="North", provider="Dr B")),
        audited(
            patient("P3", "not_candidate", "", ["tumor"], site="South", provider="Dr B", index=dt.date(2024, 3, 2))
        ),
        audited(patient("P4", "needs_review", index=None, site="unknown", provider="unknown")),
    ]
    summary = {r["status"]: r for r in summary_rows(audits)}
    assert list(summary) == ["candidate", "needs_review", "not_candidate", "all"]
    assert (summary["candidate"]["patients"], summary["candidate"]["specialist_within_n"]) == (2, 1)
    assert (summary["all"]["patients"], summary["all"]["specialist_within_pct"]) == (4, 25.0)
    by_site = [(r["site"], r["status"], r["patients"]) for r in grouped_rows(audits, "site")]
    assert by_site == [
        ("North", "candidate", 2), ("North", "all", 2), ("South", "not_candidate", 1), ("South", "all", 1),
        ("unknown", "needs_review", 1), ("unknown", "all", 1),
    ]  # fmt: skip
    by_month = [(r["month"], r["status"]) for r in grouped_rows(audits, "month") if r["status"] != "all"]
    assert by_month == [("2024-01", "candidate"), ("2024-03", "not_candidate"), ("unknown", "needs_review")]
    by_provider = {(r["provider"], r["status"]): r["specialist_within_n"] for r in grouped_rows(audits, "provider")}
    assert by_provider[("Dr A", "candidate")] == 1 and by_provider[("Dr B", "candidate")] == 0


def test_modic_prevalence_per_level_and_type():
    patients = [patient("P1"), patient("P2"), patient("P3"), patient("P4", index=None)]
    patients[3].index_report_id = ""  # no index MRI: not in the denominator
    findings = {
        "P1": [{"level": "L4-L5", "modic_type": "1", "uncertain": "false"},
               {"level": "L5-S1", "modic_type": "2", "uncertain": "true"}],
        "P2": [{"level": "L4-L5", "modic_type": "2", "uncertain": "false"}],
    }  # fmt: skip
    rows = [(r["level"], r["modic_type"], r["patients"], r["percent"], r["hedged_n"]) for r in
            modic_prevalence(patients, findings)]  # fmt: skip
    assert rows == [
        ("L4-L5", "1", 1, 33.3, 0),
        ("L4-L5", "2", 1, 33.3, 0),
        ("L4-L5", "any", 2, 66.7, 0),
        ("L5-S1", "2", 1, 33.3, 1),
        ("L5-S1", "any", 1, 33.3, 1),
    ]


# -- the rule file --------------------------------------------------------------------------------


def test_bundled_rules_load():
    assert {d.kind for d in RULES.destinations} == {"specialist", "non_specialist"}
    assert {"64628", "64629", "Intracept", "BVNA"} <= set(RULES.bvna)


CHIRO = 'synonyms = ["chiropractic", "chiropractor"]'
RULE_CHANGES = [
    ("", "window = 90\n", "unknown key 'window'"),
    ("[procedures]\n", "[procedures]\nwindow = 90\n", "unknown key 'procedures.window'"),
    ('label = "Chiropractic"', 'lable = "Chiropractic"', "unknown key 'destinations.chiropractic.lable'"),
    ('kind = "non_specialist"\nlabel = "Chiropractic"', 'kind = "allied"\nlabel = "Chiropractic"',
     "destinations.chiropractic.kind = 'allied'"),
    (CHIRO, "synonyms = []", "destinations.chiropractic.synonyms"),
    (CHIRO, 'synonyms = ["chiropractic", "Neurosurgery"]', "'Neurosurgery' is already a synonym of spine_surgery"),
    ("[procedures]", '[procedures]\nrfa = ["radiofrequency"]', "unknown key 'procedures.rfa'"),
    ("[destinations.chiropractic]", "[destinations.Chiro]", "destinations.Chiro"),
    ("[procedures]", "[[procedures", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "fragment"), RULE_CHANGES)
def test_rule_file_is_checked_and_names_the_key(tmp_path, old, new, fragment):
    text = (PATTERNS / "audit.toml").read_text(encoding="utf-8")
    changed = new + text if not old else text.replace(old, new, 1)
    assert changed != text
    path = tmp_path / "audit.toml"
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(AuditRulesError) as err:
        load_rules(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


# -- the referral table ---------------------------------------------------------------------------


def write_rows(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_referral_reader_keeps_bad_rows_and_names_file_row_column(tmp_path):
    path = write_rows(
        tmp_path / "ref.csv",
        ["patient_id", "referral_date", "referred_to", "procedure", "site", "provider"],
        [
            ["P1", "2024-02-01", "Spine Surgery", "", "North", "Dr A"],  # row 1 (data rows count from 1)
            ["P1", "", "", "", "North", "Dr B"],  # row 2: no referral, site and provider only
            ["P1", "01/03/2024", "Pain medicine", "", "South", "Dr A"],  # row 3: date not ISO
            ["", "2024-02-01", "Spine Surgery", "", "North", "Dr A"],  # row 4: no patient id
            ["P2", "", "Spine Surgery", "", "", ""],  # row 5: a referral without a date
            ["P2", "2024-05-06T09:30:00", "Physiotherapy", "", "East", "Dr C"],  # a datetime keeps its date
            ["P3", "", "", "", "West", "Dr D"],
            ["P3", "", "", "", "East", "Dr E"],
        ],
    )
    table = read_referrals(path)
    assert table.messages == [
        f"{path} row 3, column referral_date: '01/03/2024' is not an ISO date (YYYY-MM-DD); kept without a date",
        f"{path} row 4, column patient_id: no patient id; the row cannot be joined",
        f"{path} row 5, column referral_date: no referral date; kept without a date",
    ]
    assert (table.n_rows, table.n_unreadable, table.n_placeholders, len(table.referrals)) == (8, 3, 3, 4)
    kept = [(r.where, r.patient_id, r.date, r.referred_to) for r in table.referrals]
    assert kept == [
        ("row 1", "P1", dt.date(2024, 2, 1), "Spine Surgery"),
        ("row 3", "P1", None, "Pain medicine"),
        ("row 5", "P2", None, "Spine Surgery"),
        ("row 6", "P2", dt.date(2024, 5, 6), "Physiotherapy"),
    ]
    # the most common non-empty value of the patient's rows; a tie goes to the first in the file
    assert table.site == {"P1": "North", "P2": "East", "P3": "West"}
    assert table.provider == {"P1": "Dr A", "P2": "Dr C", "P3": "Dr D"}


def test_referral_column_mapping(tmp_path):
    path = write_rows(tmp_path / "ref.csv", ["MRN", "Date Referred", "Service"], [["P1", "2024-02-01", "Neurosurgery"]])
    mapping = {"patient_id": "MRN", "referral_date": "Date Referred", "referred_to": "Service"}
    table = read_referrals(path, mapping)
    assert [(r.patient_id, r.date, r.referred_to, r.site) for r in table.referrals] == [
        ("P1", dt.date(2024, 2, 1), "Neurosurgery", "")
    ]
    with pytest.raises(InputError, match="unknown referral field"):
        read_referrals(path, {"destination": "Service"})


def test_missing_referral_column_names_the_file_and_the_columns_found(tmp_path):
    path = write_rows(tmp_path / "ref.csv", ["patient_id", "date", "referred_to"], [["P1", "2024-02-01", "PT"]])
    with pytest.raises(InputError) as err:
        read_referrals(path)
    message = str(err.value)
    assert str(path) in message and "'referral_date'" in message and "--referral-col referral_date=COLUMN" in message
    assert "columns found: patient_id, date, referred_to" in message


def test_parquet_and_jsonl_referrals(tmp_path):
    pq.write_table(
        pa.table(
            {
                "patient_id": ["P1", "P2"],
                "referral_date": pa.array([dt.date(2024, 2, 1), None], pa.date32()),
                "referred_to": ["Spine Surgery", None],
                "site": ["North", "South"],
            }
        ),
        tmp_path / "ref.parquet",
    )
    table = read_referrals(tmp_path / "ref.parquet")
    assert [(r.patient_id, r.date) for r in table.referrals] == [("P1", dt.date(2024, 2, 1))]
    assert table.site == {"P1": "North", "P2": "South"} and table.n_placeholders == 1
    lines = [
        {"patient_id": "P1", "referral_date": "2024-02-01", "referred_to": "Spine Surgery"},
        {"patient_id": "P1", "referral_date": "next week", "referred_to": "Pain medicine"},
    ]
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    table = read_referrals(tmp_path / "ref.jsonl")
    assert table.messages == [
        f"{tmp_path / 'ref.jsonl'} line 2, column referral_date: 'next week' is not an ISO date (YYYY-MM-DD); "
        "kept without a date"
    ]


# -- the command on a hand-made folder ------------------------------------------------------------


def flag_dir(folder, patients, findings=()):
    """A folder as `modic flag` leaves it: patients.csv, findings.csv and reports.csv (each patient's index
    report, a lumbar MRI) with the real column names."""
    folder.mkdir(exist_ok=True)
    columns = [*PATIENT_COLUMNS, *PATIENT_TRAILING_COLUMNS]
    with open(folder / "patients.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, restval="")
        w.writeheader()
        w.writerows(patients)
    with open(folder / "findings.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FINDING_COLUMNS, restval="")
        w.writeheader()
        w.writerows(findings)
    lumbar_mri = {"status": "ok", "exam_modality": "mri", "exam_region": "lumbar", "document_type": "imaging_report",
                  "exam_source": "text"}  # fmt: skip
    with open(folder / "reports.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, restval="")
        w.writeheader()
        w.writerows(
            {"report_id": p["index_report_id"], "patient_id": p["patient_id"], **lumbar_mri}
            for p in patients
            if p.get("index_report_id")
        )
    return folder


SMALL = [
    {"patient_id": "P1", "status": "candidate", "index_report_id": "R1", "index_report_date": "2024-01-10",
     "qualifying_levels": "L4-L5:1", "criteria": "default", "evidence": "L4-L5 Modic 1: Modic 1 at L4-5."},
    {"patient_id": "P2", "status": "not_candidate", "reasons": "no_qualifying_modic", "index_report_id": "R2",
     "index_report_date": "2024-02-01", "criteria": "default"},
]  # fmt: skip
SMALL_FINDINGS = [{"report_id": "R1", "patient_id": "P1", "level": "L4-L5", "finding": "modic", "modic_type": "1",
                   "uncertain": "false"}]  # fmt: skip


def test_cli_small_folder_end_to_end(tmp_path):
    src = flag_dir(tmp_path / "res", SMALL, SMALL_FINDINGS)
    refs = write_rows(
        tmp_path / "ref.csv",
        ["MRN", "when", "to", "what"],
        [["P1", "2024-07-08", "Spine surgery", ""], ["P2", "2024-03-01", "Pain medicine", "Intracept"],
         ["P9", "2024-03-01", "Neurosurgery", ""]],
    )  # fmt: skip
    out = tmp_path / "audit"
    result = invoke(
        "audit", src, "--referrals", refs, "--out", out, "--referral-col", "patient_id=MRN",
        "--referral-col", "referral_date=when", "--referral-col", "referred_to=to", "--referral-col", "procedure=what",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "1 candidates: 1 referred to a specialist within 180 days, 0 not; non-candidates: 1 BVNA procedures "
        f"(1 without qualifying imaging), 0 specialist referrals; 1 referral rows for unknown patients; "
        f"0 unreadable rows -> {out}/"
    )
    assert read(out, "days_to_referral")[0]["days"] == "180"  # 2024-01-10 -> 2024-07-08, the window's last day
    concern = read(out, "referrals_not_candidates")
    assert [(r["patient_id"], r["concern"], r["is_procedure"]) for r in concern] == [
        ("P2", "procedure_without_qualifying_imaging", "true")
    ]
    assert [r["patient_id"] for r in read(out, "unmatched_referrals")] == ["P9"]
    assert read(out, "summary")[0]["specialist_within_pct"] == "100.0"
    # a window one day shorter and the candidate is late
    result = invoke("audit", src, "--referrals", refs, "--out", out, "--window-days", "179",
                    *sum((["--referral-col", f"{f}={c}"] for f, c in
                          (("patient_id", "MRN"), ("referral_date", "when"), ("referred_to", "to"))), []))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["gap"] for r in read(out, "candidates_not_referred")] == ["specialist_after_window"]


def test_cli_missing_patients_csv_says_to_run_flag(tmp_path):
    (tmp_path / "res").mkdir()
    refs = write_rows(tmp_path / "ref.csv", ["patient_id", "referral_date", "referred_to"], [])
    result = invoke("audit", tmp_path / "res", "--referrals", refs, "--out", tmp_path / "a")
    assert_clean_error(result, "Error:", "patients.csv", "not found", "modic flag")


def test_cli_missing_column_is_one_line(tmp_path):
    src = flag_dir(tmp_path / "res", SMALL, SMALL_FINDINGS)
    refs = write_rows(tmp_path / "ref.csv", ["patient_id", "referral_date", "destination"], [["P1", "2024-02-01", "x"]])
    result = invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a")
    assert_clean_error(
        result, "Error:", "ref.csv", "'referred_to'", "columns found: patient_id, referral_date, destination"
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--referral-col", "referred_to"], ["--referral-col", "FIELD=COLUMN"]),
        (["--referral-col", "speciality=to"], ["unknown referral field", "speciality"]),
        (["--rules", "RULES"], ["audit.toml", "unknown key 'extra'"]),
    ],
)
def test_cli_bad_options_are_one_line(tmp_path, args, fragments):
    src = flag_dir(tmp_path / "res", SMALL, SMALL_FINDINGS)
    refs = write_rows(tmp_path / "ref.csv", ["patient_id", "referral_date", "referred_to"], [])
    rules = tmp_path / "audit.toml"
    rules.write_text("extra = 1\n" + (PATTERNS / "audit.toml").read_text(encoding="utf-8"), encoding="utf-8")
    args = [str(rules) if a == "RULES" else a for a in args]
    assert_clean_error(invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a", *args), "Error:", *fragments)


def test_cli_bad_date_warning_names_file_row_and_column(tmp_path):
    src = flag_dir(tmp_path / "res", SMALL, SMALL_FINDINGS)
    refs = write_rows(
        tmp_path / "ref.csv",
        ["patient_id", "referral_date", "referred_to"],
        [["P1", "2024-02-01", "Spine surgery"], ["P1", "2024-02-30", "Pain medicine"]],
    )
    result = invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a")
    assert result.exit_code == 0
    assert f"warning: {refs} row 2, column referral_date: '2024-02-30' is not an ISO date" in result.stderr
    assert "Traceback" not in result.output and "1 unreadable rows" in result.stdout


# -- the samples ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_audit(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    res = root / "res"
    result = invoke("run", SAMPLES / "reports.csv", "--symptoms", SAMPLES / "symptoms.csv", "--out", res, "--quiet")
    assert result.exit_code == 0, result.output
    result = invoke("audit", res, "--referrals", SAMPLES / "referrals.csv", "--out", root / "audit")
    assert result.exit_code == 0, result.output
    return res, root / "audit", result


def test_sample_referrals_are_what_the_generator_writes(sample_audit):
    res, _, _ = sample_audit
    with open(SAMPLES / "referrals.csv", encoding="utf-8", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == SAMPLE_COLUMNS
    assert build_rows(read(res, "patients")) == read(SAMPLES, "referrals")


def test_samples_cover_every_audit_category(sample_audit):
    res, out, result = sample_audit
    patients = {p["patient_id"]: p for p in read(res, "patients")}
    gaps = {r["gap"] for r in read(out, "candidates_not_referred")}
    assert {"never_referred", "non_specialist_only", "specialist_after_window", "specialist_before_mri_only",
            "specialist_date_unreadable"} <= gaps  # fmt: skip
    concerns = read(out, "referrals_not_candidates")
    kinds = {r["concern"] for r in concerns}
    assert {"procedure_without_qualifying_imaging", "procedure_despite_exclusion", "referral_pending_review",
            "referral_despite_exclusion"} <= kinds  # fmt: skip
    compressed = [r for r in concerns if r["concern"] == "procedure_despite_exclusion"]
    assert any("nerve_compression" in patients[r["patient_id"]]["reasons"] for r in compressed)
    no_modic = [r for r in concerns if r["concern"] == "procedure_without_qualifying_imaging"]
    assert any("no_qualifying_modic" in patients[r["patient_id"]]["reasons"] for r in no_modic)
    referred = [r for r in read(out, "days_to_referral") if r["status"] == "candidate" and r["within_window"] == "true"]
    destinations = {r["destination"] for r in referred}
    assert {"Spine surgery", "Pain medicine"} <= destinations
    assert {"0", "180"} <= {r["days"] for r in referred}  # both ends of the window
    assert any(re.search(r"6462[89]", r["procedure"]) for r in referred + read(out, "referrals_not_candidates"))
    summary = {r["status"]: r for r in read(out, "summary")}
    assert int(summary["candidate"]["bvna_n"]) > 0 and int(summary["candidate"]["specialist_before_mri_n"]) > 0
    assert read(out, "unmatched_referrals")
    sites = {r["site"] for r in read(out, "by_site")} - {"unknown"}
    providers = {r["provider"] for r in read(out, "by_provider")} - {"unknown"}
    months = {r["month"] for r in read(out, "by_month")}
    assert len(sites) >= 3 and len(providers) >= 6 and len(months) >= 24
    assert "unknown" in {r["site"] for r in read(out, "by_site")}  # cohort patients with no row
    rows = read(SAMPLES, "referrals")
    assert any(not (r["referral_date"] or r["referred_to"] or r["procedure"]) and r["site"] for r in rows)
    assert "is not an ISO date" in result.stderr and "no patient id" in result.stderr
    prevalence = read(out, "modic_prevalence")
    assert {r["level"] for r in prevalence} >= {"L3-L4", "L4-L5", "L5-S1"}


def test_sample_audit_tables_and_duckdb_agree(sample_audit):
    _, out, result = sample_audit
    with duckdb.connect(str(out / "audit.duckdb"), read_only=True) as con:
        for table, types in TABLE_TYPES.items():
            with open(out / f"{table}.csv", encoding="utf-8") as fh:
                assert next(csv.reader(fh)) == list(types)
            assert con.execute(f"select count(*) from {table}").fetchone()[0] == len(read(out, table))
        n = con.execute("select count(*) from referrals_not_candidates where is_procedure").fetchone()[0]
        assert n == sum(r["is_procedure"] == "true" for r in read(out, "referrals_not_candidates"))
    summary = {r["status"]: r for r in read(out, "summary")}
    cand = summary["candidate"]
    line = result.stdout.strip()
    assert line.startswith(f"{cand['patients']} candidates: {cand['specialist_within_n']} referred to a specialist")
    assert int(cand["patients"]) - int(cand["specialist_within_n"]) == len(read(out, "candidates_not_referred"))
    assert sum(int(summary[s]["patients"]) for s in ("candidate", "needs_review", "not_candidate")) == int(
        summary["all"]["patients"]
    )


def test_sample_audit_page_is_byte_identical_across_runs(sample_audit, tmp_path):
    res, out, _ = sample_audit
    again = run_audit(res, SAMPLES / "referrals.csv")
    write_audit(again, tmp_path / "again")
    assert (tmp_path / "again" / "audit.html").read_bytes() == (out / "audit.html").read_bytes()
    page = (out / "audit.html").read_text(encoding="utf-8")
    assert "<script" not in page and "Date" not in re.findall(r"<metadata>.*?</metadata>", page, re.S).__str__()


# -- audit.html in a browser ----------------------------------------------------------------------

CHART_TITLES = [
    "Referral funnel",
    "Modic changes on the index MRI, by level and type",
    "Specialist referral within 180 days, by site",
    "Specialist referral within 180 days, by provider",
    "Specialist referral within 180 days, by month of the index MRI",
]


def test_audit_page_in_a_browser(sample_audit, page):
    _, out, _ = sample_audit
    page.goto((out / "audit.html").as_uri())
    assert page.errors == [] and page.requests_out == []
    assert page.locator("main > .charts svg").count() == len(CHART_TITLES)
    assert page.locator("svg > title").all_text_contents() == CHART_TITLES
    assert page.locator("svg text", has_text="Referral funnel").count() == 1  # the title is drawn too
    for box in page.locator("svg.chart").all():
        width = box.bounding_box()["width"]
        assert width > 300  # scaled to its card, not collapsed
    n = len(read(out, "candidates_not_referred"))
    assert page.locator("#candidates-not-referred tbody tr").count() == n
    concerns = read(out, "referrals_not_candidates")
    procedures = sum(r["is_procedure"] == "true" for r in concerns)
    assert page.locator("#procedures-not-candidates tbody tr").count() == procedures
    assert page.locator("#referrals-not-candidates tbody tr").count() == len(concerns) - procedures
    assert page.locator("#procedures-not-candidates").inner_text().count("procedure without qualifying imaging") >= 1
    assert page.locator("#by-status tbody tr").count() == 4
    assert page.locator("#unmatched tbody tr").count() == len(read(out, "unmatched_referrals"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no sideways scrolling at 1280px


def test_audit_page_shows_markup_in_the_data_as_text(tmp_path, page):
    evil = "<script>window.__pwned=1</script>"
    img = '<img src=x onerror="window.__pwned=2">'
    src = flag_dir(tmp_path / "res", SMALL, SMALL_FINDINGS)
    refs = write_rows(
        tmp_path / "ref.csv",
        ["patient_id", "referral_date", "referred_to", "procedure", "site", "provider"],
        [["P1", "2024-09-30", evil, "", img, evil], ["P2", "2024-03-01", "Pain medicine", img, evil, evil],
         [evil, "2024-03-01", "Spine surgery", "", "", ""]],
    )  # fmt: skip
    result = invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    page.goto((tmp_path / "a" / "audit.html").as_uri())
    assert page.errors == [] and page.requests_out == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 0 and page.locator("main img").count() == 0
    text = page.locator("main").inner_text()
    assert evil in text and img in text
    chart_text = " ".join(page.locator("svg text").all_text_contents())
    assert "<script>window.__pwned=1" in chart_text  # a provider name drawn in a chart stays text


def test_audit_page_with_little_data(tmp_path, page):
    src = flag_dir(tmp_path / "res", SMALL[1:])
    refs = write_rows(tmp_path / "ref.csv", ["patient_id", "referral_date", "referred_to"], [])
    result = invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    page.goto((tmp_path / "a" / "audit.html").as_uri())
    assert page.errors == [] and page.requests_out == []
    assert page.locator("svg > title").count() == len(CHART_TITLES)
    assert "Every candidate was referred" in page.locator("#candidates-not-referred").inner_text()


def test_long_tables_on_the_page_are_cut_and_say_so(tmp_path):
    n = 503
    rows = [
        {"patient_id": f"P{i:04d}", "status": "candidate", "index_report_id": f"R{i}",
         "index_report_date": "2024-01-10", "qualifying_levels": "L4-L5:1"}
        for i in range(n)
    ]  # fmt: skip
    src = flag_dir(tmp_path / "res", rows)
    refs = write_rows(tmp_path / "ref.csv", ["patient_id", "referral_date", "referred_to"], [])
    assert invoke("audit", src, "--referrals", refs, "--out", tmp_path / "a").exit_code == 0
    assert len(read(tmp_path / "a", "candidates_not_referred")) == n
    html = (tmp_path / "a" / "audit.html").read_text(encoding="utf-8")
    section = html[html.index('id="candidates-not-referred"') : html.index('id="procedures-not-candidates"')]
    assert section.count("<tr>") == 500 + 1  # the header row too
    assert f"The first 500 of {n} rows" in section
