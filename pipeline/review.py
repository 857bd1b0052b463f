"""`modic review DIR`: one self-contained HTML page to check every flag against its report text.

The page embeds the patients (from patients.csv, or reports grouped by patient when `modic
flag` was not run), each patient's reports with their full text (texts.parquet) and every
mention (mentions.csv), split here into highlight segments. Offsets in the tables are Python
code points; the page gets them in UTF-16 units, which is how JavaScript indexes strings.

Report text reaches the browser only inside the JSON data block, escaped so that no text can
close the script tag, and the page's script puts it into the document as text nodes only.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import html
import json
import os
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import __version__, csvcells
from .errors import InputError, ModicError
from .flag import EVIDENCE_SEPARATOR
from .outputs import TEXTS_NAME
from .schema import (
    ENDPLATE_FINDINGS,
    EXCLUSIONS,
    LISTHESIS,
    MODIC,
    MODIC_TYPES,
    PATIENT_COLUMNS,
    PATIENT_STATUSES,
    PATIENT_TRAILING_COLUMNS,
    REPORT_COLUMNS,
    exam_kind,
    kind_label,
    level_sort_key,
)

PAGE_NAME = "review.html"
TEMPLATES = Path(__file__).with_name("templates")
NOT_FLAGGED = "not_flagged"
#: Symptom columns always present in patients.csv; the optional ones follow them.
SYMPTOM_COLUMNS = ("assessment_date", "lbp_duration_months", "conservative_care_months", "radicular_pain")
#: Mention flags, packed into one integer per mention (bit i = FLAGS[i]).
FLAGS = ("negated", "uncertain", "hypothetical", "historical", "current")
MENTION_READ = ("report_id", "finding", "modic_type", "level", "section", *FLAGS, "text", "start_char", "end_char")

#: Highlight colour groups: Modic, the endplate findings, and one per exclusion (listhesis goes with instability).
GROUPS = {
    MODIC: "Modic change",
    "endplate": "Endplate finding",
    "nerve_compression": "Nerve compression",
    "instability": "Instability / listhesis",
    "infection": "Infection",
    "fracture": "Fracture",
    "tumor": "Tumour",
    "fusion": "Fusion",
}
FINDING_GROUP = {
    MODIC: MODIC,
    **{name: "endplate" for name in ENDPLATE_FINDINGS},
    **{name: name for name in EXCLUSIONS},
    LISTHESIS: "instability",
}

_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_CURRENT, _UNCERTAIN = 1 << FLAGS.index("current"), 1 << FLAGS.index("uncertain")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class ReviewSummary:
    path: Path
    patients: int
    reports: int
    total_patients: int
    size: int
    flagged: bool


# -- pure helpers (tested directly) ------------------------------------------------------------


def script_json(data: object) -> str:
    """JSON safe to put inside <script type="application/json">: no `<`, `>`, `&`, U+2028 or U+2029.

    Those characters can only occur inside JSON strings, where their \\u escapes mean the same."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _SCRIPT_ESCAPES:
        text = text.replace(char, escape)
    return text


def segments(
    spans: Sequence[tuple[int, int]], length: int | None = None, rank: Sequence[int] | None = None
) -> list[tuple[int, int, list[int]]]:
    """Split text at every span boundary: (start, end, covering) for each piece that some span covers.

    `covering` holds the indexes of all spans over the piece, innermost (shortest) first; among
    spans of one length, lower `rank` first, then input order. Spans that are empty, reversed or
    outside [0, length] are left out."""
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for i, (s, e) in enumerate(spans):
        if 0 <= s < e and (length is None or e <= length):
            starts.setdefault(s, []).append(i)
            ends.setdefault(e, []).append(i)
    points = sorted(starts.keys() | ends.keys())
    active: set[int] = set()
    out = []
    for here, following in zip(points, points[1:]):
        active.difference_update(ends.get(here, ()))
        active.update(starts.get(here, ()))
        if active:
            covering = sorted(active, key=lambda i: (spans[i][1] - spans[i][0], rank[i] if rank else 0, i))
            out.append((here, following, covering))
    return out


def utf16_offsets(text: str, offsets: Iterable[int]) -> list[int]:
    """Code-point offsets into `text` as UTF-16 offsets (a character beyond U+FFFF takes two units)."""
    offsets = list(offsets)
    if text.isascii():
        return offsets
    astral = [m.start() for m in _ASTRAL.finditer(text)]
    if not astral:
        return offsets
    return [p + bisect_left(astral, p) for p in offsets]


def _state_rank(flags: int) -> int:
    """Which of two mentions over the same words the page styles the words by: current, then hedged, then the rest."""
    if flags & _CURRENT:
        return 1 if flags & _UNCERTAIN else 0
    return 2


# -- reading the output folder -----------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        line = fh.readline()
    return next(csv.reader([line]), [])


def _read_csv(path: Path, columns: Sequence[str], hint: str, only: Sequence[str] | None = None) -> pa.Table:
    """The named columns of a CSV table the pipeline wrote, every value a string ('' when blank),
    unescaped (csvcells.py).

    With `only`, just the rows whose report_id is in it, filtered while the file streams past."""
    if not path.is_file():
        raise InputError(f"{path}: not found; {hint}")
    try:
        header = _csv_header(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column {missing[0]!r} (columns found: {', '.join(header) or '(none)'}); {hint}"
        )
    parse = pacsv.ParseOptions(newlines_in_values=True)
    types = {c: pa.string() for c in header}
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        if only is None:
            convert.include_columns = list(columns)
            return csvcells.unescape_table(pacsv.read_csv(path, parse_options=parse, convert_options=convert))
        import pyarrow.dataset as pads  # a streaming scan; imported only when needed (it takes a while)

        wanted = pc.field("report_id").isin(pa.array([csvcells.escape(rid) for rid in only], pa.string()))  # as written
        source = pads.dataset(path, format=pads.CsvFileFormat(parse_options=parse, convert_options=convert))
        return csvcells.unescape_table(source.to_table(columns=list(columns), filter=wanted))
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable CSV table: {first}") from None


def _only(table: pa.Table, column: str, values: Sequence[str]) -> pa.Table:
    return table.filter(pc.is_in(table[column], value_set=pa.array(values, pa.string())))


def _read_texts(path: Path, report_ids: Sequence[str], every: bool) -> dict[str, str]:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    for column in ("report_id", "report_text"):
        if column not in schema.names:
            raise InputError(f"{path}: missing column {column!r}; re-run modic extract")
    if not every and not report_ids:  # no patient shown: no text to read (an empty filter list has no type)
        return {}
    filters = None if every else [("report_id", "in", list(report_ids))]
    table = pq.read_table(path, columns=["report_id", "report_text"], filters=filters)
    return dict(zip(table["report_id"].to_pylist(), table["report_text"].to_pylist()))


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


def _status_rank(status: str) -> tuple[int, str]:
    order = (*PATIENT_STATUSES, NOT_FLAGGED)
    return (order.index(status), "") if status in order else (len(order), status)


def _date_key(date: str) -> tuple[int, str]:
    return (1, date) if date else (0, "")


# -- assembling the page data ------------------------------------------------------------------


def _report_entry(row: dict[str, str], text: str | None, mentions: list[tuple]) -> dict:
    """One report as the page needs it: text, merged mentions and highlight segments (UTF-16 offsets).

    `mentions` are (start, end, finding, modic_type, section, flags, level, text) tuples; rows that
    differ only in their level (one span naming several levels) become one mention."""
    notes = []
    if text is None:
        notes.append(f"text not found in {TEXTS_NAME}")
        text = ""
    merged: dict[tuple, list] = {}
    for m in mentions:
        key = m[:6]
        entry = merged.get(key)
        if entry is None:
            merged[key] = entry = [m, []]
        if m[6] and m[6] not in entry[1]:
            entry[1].append(m[6])
    entries = sorted(merged.values(), key=lambda e: (e[0][0], e[0][1], e[0][2]))
    spans = [(e[0][0], e[0][1]) for e in entries]
    rank = [_state_rank(e[0][5]) for e in entries]
    pieces = segments(spans, len(text), rank)
    located = {i for _, _, cover in pieces for i in cover}
    mismatched = sum(1 for i in located if text[spans[i][0] : spans[i][1]] != entries[i][0][7])
    if len(located) < len(entries):
        notes.append(f"{len(entries) - len(located)} mention(s) have offsets outside the text")
    if mismatched:
        notes.append(f"{mismatched} mention(s) differ from the text at their offsets ({TEXTS_NAME} from another run?)")
    bounds = utf16_offsets(text, [p for s, e, _ in pieces for p in (s, e)])
    out_mentions = [
        [m[2], FINDING_GROUP.get(m[2], "other"), m[3], sorted(levels, key=level_sort_key), m[4], m[5]]
        for m, levels in entries
    ]
    return {
        "id": row["report_id"],
        "d": row["report_date"],
        "st": row["status"],
        "msg": row["message"],
        "ml": row["modic_levels"],
        "kind": kind_label(exam_kind(row["exam_modality"], row["exam_region"], row["document_type"])),
        "xs": row["exam_source"],
        "xe": row["exam_evidence"],
        "ex": [name for name in EXCLUSIONS if row[name] == "true"],
        "t": text,
        "seg": [[bounds[2 * k], bounds[2 * k + 1], cover] for k, (_, _, cover) in enumerate(pieces)],
        "m": out_mentions,
        "notes": notes,
    }


def _mention_tuples(table: pa.Table) -> dict[str, list[tuple]]:
    """The mentions table as (start, end, finding, modic_type, section, flags, level, text) per report id."""
    flags = [0] * table.num_rows
    for bit, name in enumerate(FLAGS):
        on = pc.equal(table[name], "true").to_pylist()
        flags = [f | (1 << bit) if o else f for f, o in zip(flags, on)]
    starts = [_int(v) for v in table["start_char"].to_pylist()]
    ends = [_int(v) for v in table["end_char"].to_pylist()]
    text = {name: table[name].to_pylist() for name in ("finding", "modic_type", "section", "level", "text")}
    rows = zip(starts, ends, text["finding"], text["modic_type"], text["section"], flags, text["level"], text["text"])
    out: dict[str, list[tuple]] = {}
    for rid, row in zip(table["report_id"].to_pylist(), rows):
        out.setdefault(rid, []).append(row)
    return out


def _rows(table: pa.Table) -> list[dict[str, str]]:
    columns = table.to_pydict()
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def build(out_dir: Path, statuses: Sequence[str] = (), limit: int | None = None) -> dict:
    """The data the page embeds for out_dir: meta, patients (with indexes into reports) and reports."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: no such folder")
    hint = f"run `modic extract ... --out {out_dir}` first"
    texts_path = out_dir / TEXTS_NAME
    reports = _read_csv(out_dir / "reports.csv", REPORT_COLUMNS, hint)
    if not texts_path.is_file():
        raise InputError(f"{out_dir}: no {TEXTS_NAME} - re-run modic extract")
    mentions_path, findings_path = out_dir / "mentions.csv", out_dir / "findings.csv"
    for path in (mentions_path, findings_path):
        if not path.is_file():
            raise InputError(f"{path}: not found; {hint}")
    patients_path = out_dir / "patients.csv"
    flagged = patients_path.is_file()
    if statuses and not flagged:
        raise InputError(f"{out_dir}: no patients.csv, so no status to select - run modic flag first or drop --status")

    report_rows = _rows(reports)
    by_patient: dict[str, list[int]] = {}
    unlinked = 0
    for i, r in enumerate(report_rows):
        if r["patient_id"]:
            by_patient.setdefault(r["patient_id"], []).append(i)
        else:
            unlinked += 1

    meta: dict = {
        "folder": str(out_dir.resolve()),
        "built": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip(),
        "version": __version__,
        "flagged": flagged,
        "statuses": list(statuses),
        "limit": limit,
        "groups": GROUPS,
        "flags": FLAGS,
    }
    patients: list[dict] = []
    if flagged:
        header = _csv_header(patients_path)
        optional = [c for c in header if c not in PATIENT_COLUMNS and c not in PATIENT_TRAILING_COLUMNS]
        symptom_cols = [*SYMPTOM_COLUMNS, *optional]
        table = _read_csv(patients_path, [*PATIENT_COLUMNS, *optional, *PATIENT_TRAILING_COLUMNS], "run modic flag")
        all_status = table["status"].to_pylist()
        counted = Counter(all_status)
        meta["counts"] = {s: counted[s] for s in sorted(counted, key=_status_rank)}
        meta["criteria"] = sorted({c for c in table["criteria"].to_pylist() if c})
        meta["total"] = table.num_rows
        meta["unlinked"] = unlinked
        if statuses:
            table = _only(table, "status", list(statuses))
        if limit is not None:
            table = table.slice(0, limit)
        for p in _rows(table):
            reps = list(by_patient.get(p["patient_id"], []))
            patients.append(
                {
                    "k": p["patient_id"],
                    "id": p["patient_id"],
                    "s": p["status"],
                    "r": [x for x in p["reasons"].split(";") if x],
                    "c": p["criteria"],
                    "q": p["qualifying_levels"],
                    "ir": p["index_report_id"],
                    "idate": p["index_report_date"],
                    "aside": [x for x in p["set_aside"].split(";") if x],
                    "sym": [p[c] for c in symptom_cols],
                    "ev": [x for x in p["evidence"].split(EVIDENCE_SEPARATOR) if x.strip()],
                    "notes": p["notes"],
                    "rep": reps,
                }
            )
        meta["symptoms"] = symptom_cols
    else:
        groups: dict[str, tuple[str, list[int]]] = {}
        for pid, reps in by_patient.items():
            groups[pid] = (pid, reps)
        for i, r in enumerate(report_rows):
            if not r["patient_id"]:
                key = f"report:{r['report_id']}"
                if key in groups:  # a patient really called "report:..." keeps its name
                    key = f"report:{r['report_id']}:{i}"
                groups[key] = ("", [i])
        keys = sorted(groups)
        meta["counts"] = {NOT_FLAGGED: len(keys)}
        meta["criteria"] = []
        meta["total"] = len(keys)
        meta["unlinked"] = unlinked
        meta["symptoms"] = []
        if limit is not None:
            keys = keys[:limit]
        for key in keys:
            pid, reps = groups[key]
            patients.append(
                {
                    "k": key,
                    "id": pid,
                    "s": NOT_FLAGGED,
                    "r": [],
                    "c": "",
                    "q": "",
                    "ir": "",
                    "idate": "",
                    "aside": [],
                    "sym": [],
                    "ev": [],
                    "notes": "",
                    "rep": list(reps),
                }
            )

    # the reports the page holds, each once, renumbered in the order patients list them
    wanted = [i for p in patients for i in p["rep"]]
    every = len(wanted) == len(report_rows)
    report_ids = [report_rows[i]["report_id"] for i in wanted]
    position = {i: k for k, i in enumerate(wanted)}
    for p in patients:
        order = sorted(p["rep"], key=lambda i: (_date_key(report_rows[i]["report_date"]), i), reverse=True)
        order.sort(key=lambda i: report_rows[i]["report_id"] != p["ir"])  # the index report first
        p["rep"] = [position[i] for i in order]

    only = None if every else report_ids
    mentions = _read_csv(mentions_path, MENTION_READ, hint, only)
    findings = _read_csv(findings_path, ("report_id", "level", "finding", "modic_type"), hint, only)
    mentions_of = _mention_tuples(mentions)
    modic_of: dict[str, list[str]] = {}
    for f in _rows(findings.filter(pc.equal(findings["finding"], MODIC))):
        if f["level"]:
            modic_of.setdefault(f["report_id"], []).append(f"{f['level']}:{f['modic_type']}")
    texts = _read_texts(texts_path, report_ids, every)

    page_reports = [
        _report_entry(report_rows[i], texts.get(report_rows[i]["report_id"]), mentions_of.get(rid, []))
        for i, rid in zip(wanted, report_ids)
    ]
    levels, types = set(), set()
    for p in patients:
        pairs = sorted(
            {pair for k in p["rep"] for pair in modic_of.get(page_reports[k]["id"], [])},
            key=lambda pair: (level_sort_key(pair.split(":")[0]), pair),
        )
        p["mp"] = pairs
        for pair in pairs:
            level, _, mtype = pair.partition(":")
            levels.add(level)
            types.add(mtype)
    meta["levels"] = sorted(levels, key=level_sort_key)
    meta["types"] = [t for t in MODIC_TYPES if t in types] + sorted(types - set(MODIC_TYPES))
    meta["status_order"] = [*PATIENT_STATUSES, NOT_FLAGGED]
    meta["shown"] = len(patients)
    meta["n_reports"] = len(page_reports)
    return {"meta": meta, "patients": patients, "reports": page_reports}


def render_html(data: dict) -> str:
    """The page: template with its CSS, script and the data inlined; the script is allowed by its hash only."""
    template = (TEMPLATES / "review.html").read_text(encoding="utf-8")
    css = (TEMPLATES / "review.css").read_text(encoding="utf-8")
    js = (TEMPLATES / "review.js").read_text(encoding="utf-8")
    for name, body in (("review.css", css), ("review.js", js)):
        if "</" in body.replace("<\\/", ""):
            raise ModicError(f"{TEMPLATES / name}: must not contain '</' (it would end the inline block)")
    script_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    folder = Path(data["meta"]["folder"]).name or data["meta"]["folder"]
    before, marker, after = template.partition("{{DATA}}")
    if not marker:
        raise ModicError(f"{TEMPLATES / 'review.html'}: no {{{{DATA}}}} placeholder")
    fill = {
        "{{TITLE}}": html.escape(f"Modic review - {folder}"),
        "{{CSS}}": css,
        "{{JS}}": js,
        "{{SCRIPT_HASH}}": f"sha256-{script_hash}",
    }
    for key, value in fill.items():
        before, after = before.replace(key, value), after.replace(key, value)
    return before + script_json(data) + after


def write_review(
    out_dir: Path, html_path: Path | None = None, statuses: Sequence[str] = (), limit: int | None = None
) -> ReviewSummary:
    """Build DIR's review page and write it (default DIR/review.html)."""
    data = build(out_dir, statuses, limit)
    page = render_html(data)
    path = Path(html_path) if html_path is not None else Path(out_dir) / PAGE_NAME
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModicError(f"{path}: cannot write the review page: {exc.strerror}") from None
    meta = data["meta"]
    return ReviewSummary(path, meta["shown"], meta["n_reports"], meta["total"], path.stat().st_size, meta["flagged"])
