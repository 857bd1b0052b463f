"""The `modic` command end to end: outputs on the bundled samples, every input format, every input error."""

import csv
import json

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.schema import TABLES

from .conftest import SAMPLES

REPORTS = [
    ("R1", "P1", "2024-01-05", "FINDINGS: Modic type 1 change at L4-5. Disc bulge compressing the left L5 nerve root."),
    ("R2", "P1", "2024-06-01", "Modic type 2 at L5-S1.\nNo fracture."),
    ("R3", "P2", "", ""),
    ("R4", "P3", "2023-02-30", "Normal lumbar spine."),
]


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def read(out, table):
    with open(out / f"{table}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path, rows, header=("report_id", "patient_id", "report_date", "report_text")):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    result = invoke("extract", SAMPLES / "reports.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_samples_every_report_appears_once_with_a_status(sample_run):
    inputs = [r["report_id"] for r in read(SAMPLES, "reports")]
    reports = read(sample_run, "reports")
    assert [r["report_id"] for r in reports] == inputs
    assert {r["status"] for r in reports} == {"ok"}


def test_samples_tables_have_the_contract_columns_and_booleans(sample_run):
    for table, columns in TABLES.items():
        with open(sample_run / f"{table}.csv", encoding="utf-8") as fh:
            assert next(csv.reader(fh)) == list(columns)
    for row in read(sample_run, "mentions"):
        for col in ("negated", "uncertain", "hypothetical", "historical", "current"):
            assert row[col] in ("true", "false")
    findings = read(sample_run, "findings")
    assert {f["finding"] for f in findings} >= {"modic", "schmorl_node", "nerve_compression", "fusion"}
    assert all((f["modic_type"] != "") == (f["finding"] == "modic") for f in findings)


def test_samples_duckdb_holds_the_same_tables(sample_run):
    with duckdb.connect(str(sample_run / "results.duckdb"), read_only=True) as con:
        for table in TABLES:
            n = con.execute(f"select count(*) from {table}").fetchone()[0]
            assert n == len(read(sample_run, table))
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'reports'"
            ).fetchall()
        )
        assert types["qualifying_modic"] == "BOOLEAN" and types["report_date"] == "DATE"
        sentence = con.execute("select sentence from mentions where sentence like '%\n%' limit 1").fetchone()
        assert sentence is None or "\n" in sentence[0]


def test_small_input_end_to_end(tmp_path):
    src = write_csv(tmp_path / "in.csv", REPORTS)
    result = invoke("extract", src, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    reports = {r["report_id"]: r for r in read(tmp_path / "out", "reports")}
    assert reports["R1"]["modic_levels"] == "L4-L5:1"
    assert reports["R1"]["qualifying_modic"] == "true"
    assert reports["R1"]["nerve_compression"] == "true"
    assert reports["R3"]["status"] == "empty"
    assert reports["R4"]["status"] == "ok" and "not an ISO date" in reports["R4"]["message"]
    assert reports["R4"]["report_date"] == ""
    findings = read(tmp_path / "out", "findings")
    modic = [f for f in findings if f["finding"] == "modic"]
    assert [(f["report_id"], f["level"], f["modic_type"], f["uncertain"]) for f in modic] == [
        ("R1", "L4-L5", "1", "false"),
        ("R2", "L5-S1", "2", "false"),
    ]
    text = dict((r[0], r[3]) for r in REPORTS)
    for f in findings:
        assert f["evidence"] in text[f["report_id"]]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "txt"])
def test_other_formats_give_the_same_findings(tmp_path, fmt):
    rows = [r for r in REPORTS if r[3]]
    if fmt == "parquet":
        src = tmp_path / "in.parquet"
        table = pa.table(
            {
                "report_id": [r[0] for r in rows],
                "patient_id": [r[1] for r in rows],
                "report_date": [r[2] for r in rows],
                "report_text": [r[3] for r in rows],
            }
        )
        pq.write_table(table, src)
    elif fmt == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text(
            "".join(
                json.dumps(dict(zip(("report_id", "patient_id", "report_date", "report_text"), r))) + "\n" for r in rows
            ),
            encoding="utf-8",
        )
    else:
        src = tmp_path / "txt"
        src.mkdir()
        for r in rows:
            (src / f"{r[0]}.txt").write_text(r[3], encoding="utf-8")
    csv_src = write_csv(tmp_path / "in.csv", rows)
    assert invoke("extract", csv_src, "--out", tmp_path / "a", "--quiet").exit_code == 0
    result = invoke("extract", src, "--out", tmp_path / "b", "--quiet")
    assert result.exit_code == 0, result.output
    key = ("report_id", "level", "finding", "modic_type", "evidence")
    a = [tuple(f[k] for k in key) for f in read(tmp_path / "a", "findings")]
    b = [tuple(f[k] for k in key) for f in read(tmp_path / "b", "findings")]
    assert a == b


def test_column_mapping(tmp_path):
    src = write_csv(
        tmp_path / "in.csv",
        [("A1", "X", "2024-01-01", "Modic 2 at L5-S1.")],
        header=("accession", "mrn", "study_date", "note"),
    )
    result = invoke(
        "extract",
        src,
        "--out",
        tmp_path / "out",
        "--quiet",
        "--id-col",
        "accession",
        "--text-col",
        "note",
        "--patient-col",
        "mrn",
        "--date-col",
        "study_date",
    )
    assert result.exit_code == 0, result.output
    (row,) = read(tmp_path / "out", "reports")
    assert (row["report_id"], row["patient_id"], row["report_date"], row["modic_levels"]) == (
        "A1",
        "X",
        "2024-01-01",
        "L5-S1:2",
    )


@pytest.mark.parametrize("options", [["--chunk-size", "7"], ["--jobs", "2", "--chunk-size", "13"], ["--jobs", "0"]])
def test_jobs_and_chunk_size_do_not_change_the_output(tmp_path, sample_run, options):
    result = invoke("extract", SAMPLES / "reports.csv", "--out", tmp_path, "--quiet", *options)
    assert result.exit_code == 0, result.output
    for table in TABLES:
        assert (tmp_path / f"{table}.csv").read_bytes() == (sample_run / f"{table}.csv").read_bytes()


# ---- bad input: one clear line, non-zero exit, no traceback ---------------------------------------


def assert_clean_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_file(tmp_path):
    assert_clean_error(invoke("extract", tmp_path / "nope.csv", "--out", tmp_path / "o"), "nope.csv", "no such file")


def test_unknown_format(tmp_path):
    src = tmp_path / "reports.xlsx"
    src.write_bytes(b"PK")
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), "reports.xlsx", "unknown input format")


def test_missing_required_column_is_named_with_the_columns_found(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("R1", "text")], header=("id", "text"))
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o"), "in.csv", "'report_id'", "columns found: id, text"
    )


def test_missing_mapped_optional_column(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("R1", "P", "2024-01-01", "text")])
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o", "--patient-col", "mrn"), "'mrn'")


def test_duplicate_report_ids_are_named(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("R1", "", "", "a"), ("R2", "", "", "b"), ("R1", "", "", "c")])
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), "duplicate report_id", "'R1' (rows 1, 3)")


def test_empty_report_id(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("R1", "", "", "a"), ("", "", "", "b")])
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), "empty report_id", "row(s) 2")


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        (
            "in.jsonl",
            '{"report_id": "R1", "report_text": "a"}\n{"report_id": "R2", \n',
            ["in.jsonl line 2", "invalid JSON"],
        ),
        ("in.jsonl", '{"report_id": "R1", "text": "a"}\n', ["in.jsonl line 1", "'report_text'", "keys found"]),
        ("in.parquet", "report_id,report_text\n", ["in.parquet", "not a readable Parquet"]),
        ("in.csv", "", ["in.csv", "empty"]),
    ],
)
def test_unreadable_files(tmp_path, name, content, fragments):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), *fragments)


def test_evaluate_refuses_a_malformed_gold_file(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"report_id": "G1", "report_text": "x"}\n', encoding="utf-8")
    assert_clean_error(invoke("evaluate", gold, "--out", tmp_path / "d.csv"), "gold.jsonl line 1", "gold")


def test_undecodable_bytes_are_replaced_and_reported(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"report_id,report_text\nR1,Modic type 2 at L5-S1 \xff\xfe.\nR2,Normal.\n")
    result = invoke("extract", src, "--out", tmp_path / "o")
    assert result.exit_code == 0
    assert "warning:" in result.output and "U+FFFD" in result.output
    reports = {r["report_id"]: r for r in read(tmp_path / "o", "reports")}
    assert "undecodable" in reports["R1"]["message"] and reports["R1"]["modic_levels"] == "L5-S1:2"
    assert reports["R2"]["message"] == ""


def test_encoding_option(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("report_id,report_text\nR1,Modic type 2 at L5-S1 with oed\u00e8me.\n".encode("cp1252"))
    result = invoke("extract", src, "--out", tmp_path / "o", "--encoding", "cp1252", "--quiet")
    assert result.exit_code == 0 and "warning" not in result.output
    (row,) = read(tmp_path / "o", "reports")
    assert row["message"] == ""


def test_broken_rule_file_is_named(tmp_path):
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    from .conftest import PATTERNS

    for f in PATTERNS.glob("*.json"):
        (patterns / f.name).write_bytes(f.read_bytes())
    (patterns / "context_rules.json").write_text(
        '{"context_rules": [{"literal": "no", "category": "NEGATED", "direction": "FORWARD"}]}', encoding="utf-8"
    )
    src = write_csv(tmp_path / "in.csv", REPORTS[:1])
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o", "--patterns", patterns),
        "context_rules.json",
        "entry 0",
        "'no'",
        "NEGATED",
    )


def test_failed_run_leaves_no_half_written_tables(tmp_path):
    out = tmp_path / "o"
    src = write_csv(tmp_path / "in.csv", [("R1", "", "", "a"), ("R1", "", "", "b")])
    invoke("extract", src, "--out", out)
    assert not list(out.glob("*.csv")) if out.exists() else True


def test_evaluate_prints_scores_and_writes_disagreements(tmp_path):
    gold = tmp_path / "gold.jsonl"
    items = [
        {
            "report_id": "G1",
            "report_text": "Modic type 1 at L4-5.",
            "gold": {"modic": [{"level": "L4-L5", "type": "1", "uncertain": False}], "endplate": [], "exclusions": {}},
        },
        {
            "report_id": "G2",
            "report_text": "Modic type 2 at L5-S1.",
            "gold": {
                "modic": [{"level": "L5-S1", "type": "1", "uncertain": False}],
                "endplate": [],
                "exclusions": {"fusion": True},
            },
        },
    ]
    gold.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    result = invoke("evaluate", gold, "--out", tmp_path / "dis.csv")
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("modic level+type"))
    assert line.split()[2:5] == ["0.500", "0.500", "0.500"]
    dis = pd.read_csv(tmp_path / "dis.csv")
    assert set(zip(dis.report_id, dis.kind, dis["item"])) == {
        ("G2", "FP", "L5-S1:2"),
        ("G2", "FN", "L5-S1:1"),
        ("G2", "FN", "fusion"),
    }


def test_a_report_that_fails_is_kept_with_status_error(tmp_path, monkeypatch):
    import pipeline.run as run_module

    real = run_module.mentions_of

    def flaky(report, exam=None):
        if "poison" in report.text:
            raise ValueError("simulated failure")
        return real(report, exam)

    monkeypatch.setattr(run_module, "mentions_of", flaky)
    src = write_csv(
        tmp_path / "in.csv",
        [("R1", "", "", "Modic 2 at L5-S1."), ("R2", "", "", "poison Modic 1"), ("R3", "", "", "Modic 1 at L4-5.")],
    )
    result = invoke("extract", src, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
    reports = {r["report_id"]: r for r in read(tmp_path / "o", "reports")}
    assert reports["R2"]["status"] == "error" and "simulated failure" in reports["R2"]["message"]
    assert (reports["R1"]["modic_levels"], reports["R3"]["modic_levels"]) == ("L5-S1:2", "L4-L5:1")


def test_progress_lines_and_quiet(tmp_path):
    src = write_csv(tmp_path / "in.csv", REPORTS)
    loud = invoke("extract", src, "--out", tmp_path / "a")
    assert "4/4 reports" in loud.output and "reports/s" in loud.output
    quiet = invoke("extract", src, "--out", tmp_path / "b", "--quiet")
    assert "4/4 reports" not in quiet.output


def test_extraction_uses_allocators_that_give_memory_back(tmp_path, monkeypatch):
    """A long run keeps its memory flat: pyarrow's system pool (not jemalloc's retained pages)."""
    import pyarrow as pa

    from pipeline.memory import steady_memory

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    for other in ("jemalloc_memory_pool", "mimalloc_memory_pool"):
        try:
            pa.set_memory_pool(getattr(pa, other)())
            break
        except (NotImplementedError, pa.ArrowException):
            continue
    else:
        pytest.skip("this pyarrow has no allocator other than the system one")
    assert pa.default_memory_pool().backend_name != "system"
    steady_memory()
    assert pa.default_memory_pool().backend_name == "system"


def test_a_table_too_big_for_duckdbs_low_memory_limit_is_loaded_with_a_higher_one(tmp_path, monkeypatch):
    """The memory cap keeps big runs flat; a table or checkpoint that does not fit still lands in the file."""
    import duckdb

    from pipeline import outputs

    out = tmp_path / "o"
    assert invoke("extract", SAMPLES / "reports.csv", "--out", out, "--quiet").exit_code == 0
    types = {c: "VARCHAR" for c in outputs.TABLES["mentions"]}
    with duckdb.connect(":memory:", config={"memory_limit": "1MB"}) as con:  # the low limit alone fails
        with pytest.raises(duckdb.OutOfMemoryException):
            outputs._create_from_csv(con, "mentions", out / "mentions.csv", types)
    monkeypatch.setattr(outputs, "DUCKDB_SETTINGS", {"memory_limit": "1MB", "threads": 1})
    outputs.build_database(out)
    assert not (out / "results.duckdb.wal").exists()
    rows = {t: sum(1 for _ in (out / f"{t}.csv").open(encoding="utf-8")) - 1 for t in outputs.TABLES}
    with duckdb.connect(str(out / "results.duckdb"), read_only=True) as con:
        assert {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in outputs.TABLES} == rows


def test_a_lone_surrogate_in_jsonl_text_is_replaced_not_fatal(tmp_path):
    """JSON can carry "\\ud800", which no UTF-8 file can hold; the report is kept and says so."""
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"report_id": "A1", "report_text": "Modic type 1 at L4-5 \\ud800 end"}\n'
        '{"report_id": "A2", "report_text": "No Modic change."}\n',
        encoding="utf-8",
    )
    result = invoke("extract", src, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "o" / "reports.csv").open(encoding="utf-8")))
    got = [(r["report_id"], r["status"], r["modic_levels"]) for r in rows]
    assert got == [("A1", "ok", "L4-L5:1"), ("A2", "ok", "")]
    assert "U+FFFD" in rows[0]["message"]
