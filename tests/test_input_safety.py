"""Input the reader must not misread or leak: broken CSV quoting, ragged rows, NUL characters,
UTF-16/32 files, header-less tables, and no report text in any message (the text is patient data).

Every test runs the real `modic` command through click's CliRunner, as tests/test_cli.py does.
"""

import codecs
import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import main

from .conftest import SAMPLES

MARKER = "ZEBRAQUILT"
LONG_TEXT = (
    f"FINDINGS: Modic type 1 change at L4-5 {MARKER}. Disc bulge compressing the left L5 nerve root. "
    "The conus terminates normally. Paraspinal soft tissues are unremarkable. IMPRESSION: as above."
)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def lines_of(result):
    return [line for line in result.output.splitlines() if line.strip()]


def assert_clean_error(result, *fragments):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = lines_of(result)
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def read(out, table):
    with open(out / f"{table}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def texts(out):
    return dict(zip(*pq.read_table(out / "texts.parquet").to_pydict().values()))


# ---- 1. unbalanced quotes and ragged rows are refused, naming the line -----------------------------


def test_a_stray_quote_is_refused_with_its_line_and_record(tmp_path):
    """pandas read this as nine report ids with no text and lost r1; the csv module refuses it."""
    src = tmp_path / "reports.csv"
    src.write_text(
        'report_id,report_text\nr1,"He said "hello" there\nsecond line\nthird line\nr2,"fine"\n', encoding="utf-8"
    )
    line = assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"))
    assert line == (
        f"Error: {src} line 2 (record 1): malformed CSV: ',' expected after '\"' "
        "(a quote inside a quoted field must be doubled)"
    )
    assert not (tmp_path / "o" / "reports.csv").exists()


def test_a_quote_never_closed_is_refused(tmp_path):
    src = tmp_path / "reports.csv"
    src.write_text('report_id,report_text\nr0,ok\n\nr1,"never closed\nr2,x\nr3,y\n', encoding="utf-8")
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o"),
        "reports.csv line 4 (record 2): malformed CSV: the file ends inside a quoted field",
    )


@pytest.mark.parametrize(("row", "fields"), [("R4,P,2024-01-01", "3 fields"), ("R4,P,2024-01-01,a,b", "5 fields")])
def test_a_row_with_another_number_of_fields_is_refused(tmp_path, row, fields):
    """Line numbers are physical lines: quoted line breaks and blank lines count."""
    src = tmp_path / "reports.csv"
    src.write_text(
        "report_id,patient_id,report_date,report_text\n"
        'R1,P,2024-01-01,"two\nlines"\n'
        "\n"
        'R2,P,2024-01-01,"three\n\nlines"\n'
        "R3,P,2024-01-01,one line\n"
        f"{row}\n",
        encoding="utf-8",
    )
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o"), f"reports.csv line 9 (record 4): {fields}, the header has 4"
    )


def test_blank_lines_are_skipped_and_every_record_is_one_report(tmp_path):
    rows = [("R1", "Modic type 2 at L5-S1.\n\nNo fracture."), ("R2", 'He said ""fine"".'), ("R3", "")]
    src = tmp_path / "reports.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n")
        w = csv.writer(fh)
        w.writerow(["report_id", "report_text"])
        for r in rows:
            w.writerow(r)
            fh.write("\r\n   \r\n")
    with open(src, encoding="utf-8", newline="") as fh:
        records = [r for r in csv.reader(fh, strict=True) if r and r[0].strip()]
    result = invoke("extract", src, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
    assert [r["report_id"] for r in read(tmp_path / "o", "reports")] == [r[0] for r in records[1:]]
    assert texts(tmp_path / "o") == dict(rows)


def test_a_report_longer_than_the_csv_modules_default_field_limit_is_read(tmp_path):
    text = "Modic type 1 at L4-5. " + "Normal. " * 20_000
    src = tmp_path / "reports.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("report_id", "report_text"), ("R1", text)])
    result = invoke("extract", src, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
    assert texts(tmp_path / "o") == {"R1": text}


def test_a_ragged_symptom_table_is_refused(tmp_path):
    symptoms = tmp_path / "symptoms.csv"
    lines = (SAMPLES / "symptoms.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = ",".join(lines[3].split(",")[:4])
    symptoms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("run", SAMPLES / "reports.csv", "--symptoms", symptoms, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code != 0
    errors = [line for line in lines_of(result) if line.startswith("Error:")]
    assert errors == [f"Error: {symptoms} line 4 (record 3): 4 fields, the header has 10"]


# ---- 2. NUL characters: the text keeps its length, each NUL becomes a space --------------------------

NUL_TEXT = "EXAM: MRI lumbar spine.\x00\x00 History: pain.\x00 FINDINGS: Modic type 1 change at L4-5. End."


def write_input(tmp_path, fmt, rows):
    """rows: [(report_id, report_text)] as a .csv, .parquet, .jsonl file or a folder of .txt files."""
    if fmt == "csv":
        src = tmp_path / "in.csv"
        with open(src, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([("report_id", "report_text"), *rows])
    elif fmt == "parquet":
        src = tmp_path / "in.parquet"
        pq.write_table(pa.table({"report_id": [r[0] for r in rows], "report_text": [r[1] for r in rows]}), src)
    elif fmt == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text("".join(json.dumps(dict(report_id=r[0], report_text=r[1])) + "\n" for r in rows), "utf-8")
    else:
        src = tmp_path / "txt"
        src.mkdir()
        for rid, text in rows:
            (src / f"{rid}.txt").write_bytes(text.encode("utf-8"))
    return src


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "txt"])
def test_nul_characters_become_spaces_and_offsets_still_point_at_the_evidence(tmp_path, fmt):
    rows = [("R1", "Normal.\x01\x07 kept"), ("R2", NUL_TEXT), ("R3", "No NUL here."), ("R4", "\x00x")]
    src = write_input(tmp_path, fmt, rows)
    result = invoke("extract", src, "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
    stored = texts(tmp_path / "o")
    assert stored["R2"] == NUL_TEXT.replace("\x00", " ") and len(stored["R2"]) == len(NUL_TEXT)
    assert stored["R1"] == "Normal.\x01\x07 kept"  # other control characters are kept as they are
    assert stored["R4"] == " x"
    reports = {r["report_id"]: r for r in read(tmp_path / "o", "reports")}
    assert reports["R2"]["message"] == "text held 3 NUL characters, each replaced with a space"
    assert reports["R4"]["message"] == "text held 1 NUL character, replaced with a space"
    assert reports["R1"]["message"] == reports["R3"]["message"] == ""
    assert reports["R2"]["modic_levels"] == "L4-L5:1"
    (finding,) = [f for f in read(tmp_path / "o", "findings") if f["finding"] == "modic"]
    start = int(finding["start_char"])
    assert stored["R2"][start : start + len(finding["evidence"])] == finding["evidence"]
    (warning,) = [line for line in lines_of(result) if line.startswith("warning:")]
    where = "ids R2, R4" if fmt == "txt" else "lines 2, 4" if fmt == "jsonl" else "rows 2, 4"
    assert warning == (
        f"warning: {src}: 2 reports held NUL characters ({where}), each replaced with a space; "
        "each report's message says how many"
    )


# ---- 3. UTF-16 and UTF-32 files with a byte order mark ----------------------------------------------

U16_ROWS = [("R1", "Modic type 2 at L5-S1 with \u0153d\u00e8me."), ("R2", "Normal.")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_with_a_byte_order_mark_is_read_as_such(tmp_path, fmt, encoding):
    src = write_input(tmp_path, fmt, U16_ROWS)
    label = "UTF-32" if "32" in encoding else "UTF-16"
    bom = b"\xfe\xff" if encoding == "utf-16-be" else b""  # utf-16 and utf-32 write their own mark
    for f in [src] if fmt != "txt" else sorted(src.iterdir()):
        f.write_bytes(bom + f.read_text(encoding="utf-8").encode(encoding))
    result = invoke("extract", src, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert texts(tmp_path / "o") == dict(U16_ROWS)
    assert {r["report_id"]: r["modic_levels"] for r in read(tmp_path / "o", "reports")} == {"R1": "L5-S1:2", "R2": ""}
    warnings = [line for line in lines_of(result) if line.startswith("warning:")]
    shown = f"2 .txt files read as {label}" if fmt == "txt" else f"read as {label}"
    assert warnings == [f"warning: {src}: {shown} (byte order mark)"]


def test_an_encoding_the_user_names_is_honoured_over_a_byte_order_mark(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("report_id,report_text\nR1,Normal.\n".encode("utf-16"))
    assert_clean_error(
        invoke("extract", src, "--out", tmp_path / "o", "--encoding", "latin-1"),
        "missing required column 'report_id'",
        "the file starts with a UTF-16 byte order mark: leave out --encoding",
    )
    src.write_bytes(codecs.BOM_UTF16_LE + "report_id,report_text\nR1,Normal.\n".encode("utf-16-le"))
    result = invoke("extract", src, "--out", tmp_path / "o", "--encoding", "utf-16-le", "--quiet")
    assert result.exit_code == 0, result.output  # the mark is read as U+FEFF and dropped from the header
    assert texts(tmp_path / "o") == {"R1": "Normal."}


def test_a_utf16_file_without_a_byte_order_mark_gets_a_hint(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(f"report_id,report_text\nR1,{LONG_TEXT}\n".encode("utf-16-le"))
    line = assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), "--encoding utf-16-le")
    assert line == (
        f"Error: {src}: missing required column 'report_id' (name another with --id-col); the first row holds "
        "NUL characters; if the file is UTF-16 without a byte order mark, give --encoding utf-16-le"
    )
    result = invoke("extract", src, "--out", tmp_path / "o", "--encoding", "utf-16-le", "--quiet")
    assert result.exit_code == 0, result.output


# ---- 4. a header-less file does not print its first report ------------------------------------------


def test_a_headerless_csv_is_refused_without_showing_its_first_row(tmp_path):
    src = tmp_path / "reports.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("R1", LONG_TEXT), ("R2", "Normal.")])
    line = assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"))
    assert line == (
        f"Error: {src}: missing required column 'report_id' (name another with --id-col); the first row does not "
        f"look like a header (a field of {len(LONG_TEXT)} characters): the file needs a header row naming its columns"
    )
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("R1", "Normal.\nNo Modic change.")])
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), "(a field holding a line break)")


def test_long_column_names_are_cut_to_40_characters(tmp_path):
    long_name = "a_column_name_of_exactly_fifty_characters_long_xyz"
    src = tmp_path / "reports.csv"
    src.write_text(f"id,{long_name}\nR1,x\n", encoding="utf-8")
    assert_clean_error(invoke("extract", src, "--out", tmp_path / "o"), f"columns found: id, {long_name[:40]}…")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"report_id": "R1", LONG_TEXT: "x"}) + "\n", encoding="utf-8")
    assert_clean_error(
        invoke("extract", jsonl, "--out", tmp_path / "o"),
        "in.jsonl line 1: missing required key 'report_text'",
        f"keys not shown (a key of {len(LONG_TEXT)} characters)",
    )


def test_a_library_error_never_quotes_the_file():
    from pipeline.io import _safe_reason

    reason = _safe_reason(ValueError(f"could not convert 'Modic {MARKER}' in line \"{MARKER}\"\nsecond line"))
    assert MARKER not in reason and "second" not in reason
    assert reason == "could not convert '…'"
    assert _safe_reason(OSError("Couldn't open the file")) == "Couldn't open the file"


# ---- 5. no report text in any message ---------------------------------------------------------------


def _csv_file(path, rows, header=("report_id", "patient_id", "report_date", "report_text"), encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def _symptoms(path, change=None):
    """The sample symptom table with a free-text notes column (the marker in every note); `change`
    edits its lines (header first)."""
    with open(SAMPLES / "symptoms.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows = [rows[0] + ["notes"]] + [
        r + [f"Pain worse on standing; {MARKER}; " + "seen in clinic. " * 4] for r in rows[1:]
    ]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    if change:
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
    return path


def _reports(tmp_path):
    """The sample reports with the marker in every text, as CSV."""
    with open(SAMPLES / "reports.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    src = tmp_path / "marked.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "report_text": f"{MARKER} " + r["report_text"] + f" {MARKER}"})
    return src


def _bad_inputs(tmp_path):
    """(name, args) for every bad input; the marker is in every report text (and symptom note)."""
    t = lambda i: f"{MARKER} report {i}. " + LONG_TEXT  # noqa: E731
    rows = [(f"R{i}", "P1", "2024-01-05", t(i)) for i in range(1, 4)]
    cases = {}

    def extract(name, src, *extra):
        cases[name] = ("extract", src, "--out", tmp_path / f"out_{name}", *extra)

    extract("headerless", _csv_file(tmp_path / "headerless.csv", rows, header=None))
    q = tmp_path / "quote.csv"
    q.write_text(f'report_id,report_text\nr1,"{MARKER} said "hello" {MARKER}\n{MARKER} line\nr2,"fine"\n', "utf-8")
    extract("unbalanced_quote", q)
    u = tmp_path / "unclosed.csv"
    u.write_text(f'report_id,report_text\nr1,"{MARKER} never closed\nr2,{MARKER}\n', "utf-8")
    extract("unclosed_quote", u)
    r = tmp_path / "ragged.csv"
    r.write_text(f"report_id,patient_id,report_text\nr1,P1,{MARKER}\nr2,{MARKER}\nr3,P,{MARKER},{MARKER}\n", "utf-8")
    extract("ragged", r)
    n = tmp_path / "nul.csv"
    n.write_text(f"report_id,report_text\nr1,{MARKER}\x00{MARKER}\nr2,{MARKER}\n", "utf-8")
    extract("nul", n)
    extract("utf16_bom", _csv_file(tmp_path / "utf16.csv", rows, encoding="utf-16"))
    extract("utf16_no_bom", _csv_file(tmp_path / "utf16le.csv", rows, encoding="utf-16-le"))
    extract("utf16_named_wrong", _csv_file(tmp_path / "utf16b.csv", rows, encoding="utf-16"), "--encoding", "cp1252")
    b = tmp_path / "undecodable.csv"
    b.write_bytes(f"report_id,report_text\nr1,{MARKER} \xff\xfe {MARKER}\nr2,{MARKER}\n".encode("latin-1"))
    extract("undecodable", b)
    extract("duplicate_ids", _csv_file(tmp_path / "dup.csv", [rows[0], rows[1], rows[0]]))
    extract("empty_ids", _csv_file(tmp_path / "empty.csv", [rows[0], ("", "P1", "", t(9))]))
    dates = [("R1", "P1", "05/01/2024", t(1)), ("R2", "P1", f"{MARKER} {MARKER}", t(2))]
    extract("non_iso_dates", _csv_file(tmp_path / "dates.csv", dates))
    extract("text_as_date", _csv_file(tmp_path / "dates2.csv", rows), "--date-col", "report_text")
    extract("missing_exam_col", _csv_file(tmp_path / "exam.csv", rows), "--exam-col", "exam")
    same = [("R1", "P1", "", t(1)), ("R2", "P1", "", t(1))]
    extract("text_as_id_duplicates", _csv_file(tmp_path / "sameid.csv", same), "--id-col", "report_text")
    j = tmp_path / "bad.jsonl"
    j.write_text(
        json.dumps({"report_id": "R1", "report_text": t(1)})
        + "\n"
        + f'{{"report_id": "R2", "report_text": "{MARKER}\n',
        "utf-8",
    )
    extract("jsonl_bad_line", j)
    j2 = tmp_path / "key.jsonl"
    j2.write_text(json.dumps({"report_id": "R1", t(1): "x"}) + "\n", "utf-8")
    extract("jsonl_text_as_key", j2)
    j3 = tmp_path / "nul.jsonl"
    j3.write_bytes(f'{{"report_id": "R1", "report_text": "{MARKER}\x00"}}\n'.encode())
    extract("jsonl_raw_nul", j3)
    j4 = tmp_path / "list.jsonl"
    j4.write_text(json.dumps([MARKER, MARKER]) + "\n", "utf-8")
    extract("jsonl_not_object", j4)
    x = tmp_path / "reports.xlsx"
    x.write_text(f"{MARKER}", "utf-8")
    extract("unknown_extension", x)
    p = tmp_path / "missing.parquet"
    pq.write_table(pa.table({"report_id": ["R1"], "text": [t(1)]}), p)
    extract("parquet_missing_column", p)
    p2 = tmp_path / "textcol.parquet"
    pq.write_table(pa.table({"report_id": ["R1"], t(1): ["x"]}), p2)
    extract("parquet_text_as_column_name", p2)
    p3 = tmp_path / "broken.parquet"
    p3.write_text(f"report_id,report_text\nR1,{MARKER}\n", "utf-8")
    extract("parquet_not_parquet", p3)
    p4 = tmp_path / "nul.parquet"
    pq.write_table(pa.table({"report_id": ["R1", "R1"], "report_text": [f"{MARKER}\x00", t(2)]}), p4)
    extract("parquet_duplicates", p4)
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "A1.txt").write_bytes(f"{MARKER}\x00 \xff {MARKER}".encode("latin-1"))
    (folder / "A2.txt").write_bytes(f"{MARKER} in UTF-16".encode("utf-16"))
    extract("txt_folder", folder)
    extract("empty_csv", _csv_file(tmp_path / "e.csv", [], header=None))

    reports = _reports(tmp_path)

    def run(name, symptoms):
        cases[name] = ("run", reports, "--symptoms", symptoms, "--out", tmp_path / f"out_{name}", "--quiet")

    run("symptoms_ok", _symptoms(tmp_path / "ok.csv"))
    run("symptoms_ragged", _symptoms(tmp_path / "s_ragged.csv", lambda ls: ls[:3] + [ls[3].rsplit(",", 2)[0]] + ls[4:]))
    run("symptoms_headerless", _symptoms(tmp_path / "s_nohead.csv", lambda ls: ls[1:]))
    quote = lambda ls: ls[:2] + [ls[2].rsplit(",", 1)[0] + f',"{MARKER} said "x" there'] + ls[3:]  # noqa: E731
    run("symptoms_quote", _symptoms(tmp_path / "s_quote.csv", quote))
    bad_value = tmp_path / "s_bad.jsonl"
    bad_value.write_text(json.dumps({"patient_id": "P101", "notes": MARKER}) + "\n{" + MARKER + "\n", "utf-8")
    run("symptoms_bad_jsonl", bad_value)
    long_key = tmp_path / "s_key.jsonl"
    long_key.write_text(json.dumps({"patient_id": "P101", t(1): "x"}) + "\n", "utf-8")
    run("symptoms_text_as_key", long_key)
    long_name = tmp_path / "s_name.parquet"
    pq.write_table(pa.table({"patient_id": ["P101"], t(1): ["x"]}), long_name)
    run("symptoms_text_as_column_name", long_name)
    return cases


def test_no_report_text_in_any_message(tmp_path):
    cases = _bad_inputs(tmp_path)
    outcomes = {}
    for name, args in cases.items():
        result = CliRunner().invoke(main, [str(a) for a in args])
        output = result.output  # stdout and stderr as a terminal shows them
        everything = output + result.stdout + result.stderr
        assert MARKER.lower() not in everything.lower(), f"{name}: {output}"
        assert "Traceback" not in output, f"{name}: {output}"
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        if result.exit_code == 0:
            assert not errors, f"{name}: {output}"
        else:
            assert len(errors) == 1, f"{name}: {output}"
            assert "unexpected error" not in errors[0], f"{name}: {errors[0]}"
        outcomes[name] = result.exit_code == 0
    succeeded = {n for n, ok in outcomes.items() if ok}
    assert succeeded == {
        "nul",
        "utf16_bom",
        "undecodable",
        "non_iso_dates",
        "text_as_date",
        "txt_folder",
        "symptoms_ok",
    }, outcomes
