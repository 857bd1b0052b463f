"""Read reports from CSV, Parquet, JSON Lines or a folder of .txt files, in chunks.

The source is checked before any work starts: the file exists, its format is known, the
required columns are there, and report ids are present and unique. Every row comes out
again, in order; a row with an odd value (undecodable bytes, a date that is not ISO)
carries a note that ends up in the `message` of its report.

CSV is read with Python's csv module in strict mode: a record that does not parse (a quote
inside a quoted field that is not doubled, a quoted field never closed) or that has another
number of fields than the header is refused before any work, naming the line it starts on.

Report text is patient data: no message of this module quotes it. Messages name the file,
the line or row, the column (cut short) or the report id.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import InputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REPLACEMENT = "\ufffd"
#: Bytes read at a time from a Parquet input (see ReportSource._parquet).
PARQUET_BUFFER = 1 << 20
#: Texts looked at a time when a Parquet input is checked for NUL characters.
PARQUET_SCAN_BATCH = 2048
UNDECODABLE = "text holds undecodable bytes, replaced with U+FFFD"
#: a header field longer than this, or holding a line break, is taken for data, not a column name
NAME_MAX = 64
#: column names and ids shown in a message are cut to this many characters
SHOWN_MAX = 40
#: byte order marks read when the encoding is left at utf-8 (UTF-32 first: its LE mark starts like UTF-16's)
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)

# a report may be longer than the csv module's default limit of 131,072 characters a field
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the id, text, patient and date (the --*-col options)."""

    report_id: str = "report_id"
    report_text: str = "report_text"
    patient_id: str = "patient_id"
    report_date: str = "report_date"
    # whether the user named the optional columns, so their absence is an error
    patient_given: bool = False
    date_given: bool = False
    #: the column naming each report's exam (--exam-col: a procedure name or CPT code); None: read from the text
    exam: str | None = None


@dataclass
class Chunk:
    """A run of input rows, already normalised to strings."""

    report_id: list[str] = field(default_factory=list)
    patient_id: list[str] = field(default_factory=list)
    report_date: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exam: list[str] = field(default_factory=list)  # the exam column's values ("" without one)

    def __len__(self) -> int:
        return len(self.report_id)

    def add(
        self, rid: object, text: object, patient: object = "", date: object = "", note: str = "", exam: object = ""
    ) -> None:
        notes = [note] if note else []
        text_s = _text(text)
        if REPLACEMENT in text_s and note != UNDECODABLE:
            notes.append(UNDECODABLE)
        if "\x00" in text_s:  # kept one-for-one so offsets still point at the evidence
            notes.append(nul_note(text_s.count("\x00")))
            text_s = text_s.replace("\x00", " ")
        date_s, date_note = normalise_date(date)
        if date_note:
            notes.append(date_note)
        self.report_id.append(_field(rid))
        self.patient_id.append(_field(patient))
        self.report_date.append(date_s)
        self.texts.append(text_s)
        self.notes.append("; ".join(notes))
        self.exam.append(_field(exam))


def nul_note(n: int) -> str:
    """The note of a report whose text held `n` NUL characters."""
    if n == 1:
        return "text held 1 NUL character, replaced with a space"
    return f"text held {n} NUL characters, each replaced with a space"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    s = str(value)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON) cannot be written: replace it
            s = _SURROGATE.sub(REPLACEMENT, s)
    return s


def _field(value: object) -> str:
    """A short value (id, patient, exam): stripped, a NUL (which databases refuse) made a space."""
    s = _text(value)
    if "\x00" in s:
        s = s.replace("\x00", " ")
    return s.strip()


_SURROGATE = re.compile("[\ud800-\udfff]")


def normalise_date(value: object) -> tuple[str, str]:
    """An ISO date string (a datetime keeps its date part) and a note when the value is not one."""
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d"), ""
    s = _field(value)
    if not s:
        return "", ""
    try:
        return dt.date.fromisoformat(s[:10]).isoformat(), ""
    except ValueError:
        return "", f"report_date {_cut(s, 20)!r} is not an ISO date (YYYY-MM-DD); left empty"


# -- messages that never quote report text ------------------------------------------------------


def _cut(s: str, limit: int = SHOWN_MAX) -> str:
    return s if len(s) <= limit else s[:limit] + "…"


def shown_value(value: object, limit: int = 24) -> str:
    """A table value quoted in a message (a symptom, a date), cut short: a message is no place for data."""
    return repr(_cut(" ".join(str(value).split()), limit))


def not_names(names: list, noun: str = "field") -> str:
    """Why these header fields (keys, names) cannot be column names (they may be report text), or ''."""
    names = [str(n) for n in names]
    if any("\n" in n or "\r" in n for n in names):
        return f"a {noun} holding a line break"
    longest = max(map(len, names), default=0)
    if longest > NAME_MAX:
        return f"a {noun} of {longest} characters"
    if any("\x00" in n for n in names):
        return f"a {noun} holding NUL characters"
    return ""


def shown_names(names: list, limit: int = 30) -> str:
    """Column names for a message, each cut to SHOWN_MAX characters; call only when not_names() is ''."""
    names = [str(n) for n in names]
    if not names:
        return "(none)"
    shown = ", ".join(_cut(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _shown_id(rid: str) -> str:
    if len(rid) > NAME_MAX or "\n" in rid or "\r" in rid:
        return f"(an id of {len(rid)} characters)"
    return repr(_cut(rid))


def _safe_reason(exc: BaseException) -> str:
    """A library's error in one short line, anything it quotes left out (it could be a line of the file)."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    first = re.sub(r"['\"`].*['\"`]", "'…'", first)  # from the first quote to the last
    return _cut(" ".join(first.split()), 160)


def _csv_problem(exc: csv.Error) -> str:
    """What a strict csv.Error means, in words of our own (the csv module's messages quote no data)."""
    msg = str(exc)
    if "expected after" in msg:
        return "',' expected after '\"' (a quote inside a quoted field must be doubled)"
    if "unexpected end of data" in msg:
        return "the file ends inside a quoted field (a quote is never closed)"
    if "field larger than field limit" in msg:
        return "a field is larger than the CSV reader's limit"
    return "the record does not parse as CSV"


# -- encodings ------------------------------------------------------------------------------------


def _sniff(head: bytes, encoding: str) -> tuple[str, str]:
    """(codec to read with, 'UTF-16'/'UTF-32' when a byte order mark chose it, else '').

    Only when `encoding` is utf-8: a byte order mark of UTF-16 or UTF-32 then wins; a UTF-8
    one is dropped (utf-8-sig). Any other encoding the user named is used as it is."""
    if codecs.lookup(encoding).name != "utf-8":
        return encoding, ""
    for bom, codec, label in BOMS:
        if head.startswith(bom):
            return codec, label
    return "utf-8-sig", ""


def sniff_encoding(path: Path, encoding: str = "utf-8") -> tuple[str, str]:
    """_sniff() of the file's first bytes."""
    with open(path, "rb") as fh:
        return _sniff(fh.read(4), encoding)


def _decode(raw: bytes, encoding: str) -> tuple[str, bool, str]:
    """(text, whether bytes were undecodable, BOM label) of a whole .txt file."""
    codec, bom = _sniff(raw[:4], encoding)
    try:
        return raw.decode(codec), False, bom
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), True, bom


def _utf16_hint(path: Path) -> str:
    """A hint when the file starts like UTF-16 text (a mark the encoding named ignored, or every other byte 0)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    for bom, codec, label in BOMS:
        if head.startswith(bom):
            return (
                f"; the file starts with a {label} byte order mark: leave out --encoding (or give --encoding {codec})"
            )
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        order = "le" if head[1] == 0 else "be"
        return f"; if the file is UTF-16 without a byte order mark, give --encoding utf-16-{order}"
    return ""


# -- CSV ------------------------------------------------------------------------------------------


def csv_records(path: Path, encoding: str) -> Iterator[list[str]]:
    """The header's fields, then each record's, blank lines skipped (as pandas did).

    Strict: a record that does not parse, or has another number of fields than the header,
    raises InputError naming the line it starts on and its number (data records from 1)."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        width = -1  # the header's number of fields, once read
        record = 0  # data records so far
        start = 1  # the line the next record starts on
        try:
            for row in reader:
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        start = reader.line_num + 1
                        continue
                    if width >= 0:
                        n = len(row)
                        raise InputError(
                            f"{path} line {start} (record {record + 1}): "
                            f"{n} field{'' if n == 1 else 's'}, the header has {width}"
                        )
                    width = len(row)
                    if row[0].startswith("\ufeff"):  # a byte order mark the encoding named did not drop
                        row[0] = row[0][1:]
                    yield _unique_names(row)
                    start = reader.line_num + 1
                    continue
                record += 1
                yield row
                start = reader.line_num + 1
        except csv.Error as exc:
            where = "header" if width < 0 else f"record {record + 1}"
            raise InputError(f"{path} line {start} ({where}): malformed CSV: {_csv_problem(exc)}") from None


def _unique_names(header: list[str]) -> list[str]:
    """Repeated column names numbered as pandas did: a, a.1, a.2."""
    if len(set(header)) == len(header):
        return header
    seen: dict[str, int] = {}
    out = []
    for name in header:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


def _csv_table(path: Path, encoding: str) -> tuple[list[str], Iterator[list[str]]]:
    records = csv_records(path, encoding)
    header = next(records, None)
    if header is None:
        raise InputError(f"{path}: the file is empty (no header row)")
    return header, records


class ReportSource:
    """A checked input: iterate `chunks()` to read it; `warnings` says what was repaired."""

    def __init__(
        self,
        path: Path,
        columns: Columns | None = None,
        chunk_size: int = 1000,
        encoding: str = "utf-8",
    ):
        self.path = Path(path)
        self.columns = columns or Columns()
        self.chunk_size = max(1, chunk_size)
        self.encoding = encoding
        self.warnings: list[str] = []
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or folder")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"unknown text encoding {_cut(encoding)!r}") from None
        if self.path.is_dir():
            self.format = "txt"
        else:
            self.format = FORMATS.get(self.path.suffix.lower(), "")
            if not self.format:
                raise InputError(
                    f"{self.path}: unknown input format {_cut(self.path.suffix) or '(no extension)'!r}; "
                    "expected .csv, .parquet, .jsonl or a folder of .txt files"
                )
        #: the codec the file is read with (utf-8-sig, or UTF-16/32 by a byte order mark)
        self.read_encoding, bom = (
            sniff_encoding(self.path, encoding) if self.format in ("csv", "jsonl") else (encoding, "")
        )
        if bom:
            self.warnings.append(f"{self.path}: read as {bom} (byte order mark)")
        self._nul_count = 0
        self._nul_where: list[str] = []
        self._nul_kind = "row"
        self._bom_files: dict[str, int] = {}
        self.n_rows = self._check()

    # -- checks -------------------------------------------------------------------------------

    def _check(self) -> int:
        """Count the rows; refuse empty or duplicate ids. Keeps 8 bytes per row, not the ids."""
        hashes = array("q")
        empty: list[int] = []
        for row, rid in enumerate(self._ids(), 1):
            if not rid:
                empty.append(row)
            hashes.append(hash(rid))
        if self.format in ("csv", "jsonl"):
            self._check_decoding()
        if empty:
            rows = ", ".join(map(str, empty[:5])) + (" …" if len(empty) > 5 else "")
            raise InputError(f"{self.path}: empty {_cut(self.columns.report_id)} in row(s) {rows}")
        ordered = np.sort(np.frombuffer(hashes, dtype=np.int64)) if hashes else np.array([], dtype=np.int64)
        clashing = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
        if clashing:  # equal hashes: look at the ids themselves (a second pass, only for those)
            rows_of: dict[str, list[int]] = {}
            for row, rid in enumerate(self._ids(), 1):
                if hash(rid) in clashing:
                    rows_of.setdefault(rid, []).append(row)
            dupes = {rid: rows for rid, rows in rows_of.items() if len(rows) > 1}
            if dupes:
                shown = ", ".join(
                    f"{_shown_id(rid)} (rows {', '.join(map(str, rows[:3]))})" for rid, rows in list(dupes.items())[:5]
                )
                more = f" and {len(dupes) - 5} more" if len(dupes) > 5 else ""
                raise InputError(f"{self.path}: duplicate {_cut(self.columns.report_id)} values: {shown}{more}")
        for label, n in self._bom_files.items():
            self.warnings.append(f"{self.path}: {n} .txt file{'' if n == 1 else 's'} read as {label} (byte order mark)")
        if self._nul_count:
            n = self._nul_count
            where = ", ".join(self._nul_where) + (" …" if n > len(self._nul_where) else "")
            kind = self._nul_kind if len(self._nul_where) == 1 else self._nul_kind + "s"
            self.warnings.append(
                f"{self.path}: {n} report{'' if n == 1 else 's'} held NUL characters ({kind} {where}), "
                "each replaced with a space; each report's message says how many"
            )
        if not hashes:
            self.warnings.append(f"{self.path}: no reports found")
        return len(hashes)

    def _saw_nul(self, kind: str, where: object) -> None:
        """Note a report whose text holds a NUL (`kind` "row", "line" or "id"); the warning names the first few."""
        self._nul_count += 1
        self._nul_kind = kind
        if len(self._nul_where) < 5:
            self._nul_where.append(str(where))

    def _check_decoding(self) -> None:
        decoder = codecs.getincrementaldecoder(self.read_encoding)(errors="strict")
        shown = self.encoding if self.read_encoding in ("utf-8-sig", self.encoding) else self.read_encoding
        with self.path.open("rb") as fh:
            offset = 0
            while True:
                block = fh.read(1 << 20)
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    at = max(0, offset + len(block) - len(exc.object))  # where the decoded bytes begin
                    self.warnings.append(
                        f"{self.path}: bytes that are not valid {_cut(shown)} near byte {at + exc.start} "
                        "were replaced with U+FFFD; the affected reports say so in their message "
                        "(use --encoding if the file is in another encoding)"
                    )
                    return
                if not block:
                    return
                offset += len(block)

    def _require(self, found: list[str], header_row: bool = False) -> None:
        c = self.columns
        needed = [(c.report_id, "--id-col"), (c.report_text, "--text-col")]
        if c.patient_given:
            needed.append((c.patient_id, "--patient-col"))
        if c.date_given:
            needed.append((c.report_date, "--date-col"))
        if c.exam:
            needed.append((c.exam, "--exam-col"))
        for name, option in needed:
            if name not in found:
                missing = f"{self.path}: missing required column {_cut(name)!r} (name another with {option}); "
                why = not_names(found, "field" if header_row else "name")
                if not why:
                    raise InputError(missing + f"columns found: {shown_names(found)}")
                hint = _utf16_hint(self.path) if "NUL" in why else ""
                if hint:
                    raise InputError(missing + f"the first row holds NUL characters{hint}")
                if header_row:
                    raise InputError(
                        missing + f"the first row does not look like a header ({why}): "
                        "the file needs a header row naming its columns"
                    )
                raise InputError(missing + f"the column names are not shown ({why})")

    def _ids(self) -> Iterator[str]:
        c = self.columns
        self._nul_count, self._nul_where = 0, []
        if self.format == "txt":
            if c.exam:
                raise InputError(
                    f"{self.path}: --exam-col needs a table (CSV, Parquet or JSONL), not a folder of .txt files"
                )
            files = self._txt_files()
            if not files:
                raise InputError(f"{self.path}: folder holds no .txt files")
            self._bom_files = {}
            for f in files:
                text, _, bom = _decode(f.read_bytes(), self.encoding)
                if bom:
                    self._bom_files[bom] = self._bom_files.get(bom, 0) + 1
                if "\x00" in text:
                    self._saw_nul("id", _cut(f.stem))
                yield _field(f.stem)
        elif self.format == "csv":
            header, records = self._csv_table()
            self._require(header, header_row=True)
            i_id, i_text = header.index(c.report_id), header.index(c.report_text)
            for row, fields in enumerate(records, 1):
                if "\x00" in fields[i_text]:
                    self._saw_nul("row", row)
                yield _field(fields[i_id])
        elif self.format == "parquet":
            pf = self._parquet()
            self._require(list(pf.schema_arrow.names))
            for batch in self._batches(pf, 65536, [c.report_id]):
                yield from (_field(v) for v in batch.column(0).to_pylist())
            # the texts, for NUL characters: a pass of their own, in small batches (a batch of 65,536
            # texts held about 110 MB); it reads about as fast as the reports are later read again
            row = 0
            for batch in self._batches(pf, PARQUET_SCAN_BATCH, [c.report_text]):
                for i in _nul_indices(batch.column(0)):
                    self._saw_nul("row", row + i + 1)
                row += batch.num_rows
        else:
            for n, obj in self._jsonl_objects():
                keys = [(c.report_id, "--id-col"), (c.report_text, "--text-col")]
                if c.exam:
                    keys.append((c.exam, "--exam-col"))
                for name, option in keys:
                    if name not in obj:
                        why = not_names(list(obj), "key")
                        found = f"keys not shown ({why})" if why else f"keys found: {shown_names(list(obj))}"
                        raise InputError(
                            f"{self.path} line {n}: missing required key {_cut(name)!r} "
                            f"(name another with {option}); {found}"
                        )
                text = obj.get(c.report_text)
                if isinstance(text, str) and "\x00" in text:
                    self._saw_nul("line", n)
                yield _field(obj.get(c.report_id))

    # -- readers ------------------------------------------------------------------------------

    def _txt_files(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())

    def _csv_table(self) -> tuple[list[str], Iterator[list[str]]]:
        return _csv_table(self.path, self.read_encoding)

    def _parquet(self) -> pq.ParquetFile:
        try:
            # read through a small buffer rather than pre-buffering whole column chunks: the main
            # process's memory grew by about 40 MB per 100,000 reports read otherwise (pyarrow 25)
            return pq.ParquetFile(self.path, pre_buffer=False, buffer_size=PARQUET_BUFFER)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.path}: not a readable Parquet file: {_safe_reason(exc)}") from None

    def _batches(self, pf: pq.ParquetFile, batch_size: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.path}: the Parquet file cannot be read: {_safe_reason(exc)}") from None

    def _jsonl_objects(self) -> Iterator[tuple[int, dict]]:
        return read_jsonl(self.path, self.read_encoding)

    def _optional(self, found) -> tuple[str | None, str | None, str | None]:
        """The patient, date and exam columns the input has (None for those it has not)."""
        c = self.columns
        return (
            c.patient_id if c.patient_id in found else None,
            c.report_date if c.report_date in found else None,
            c.exam if c.exam and c.exam in found else None,
        )

    def chunks(self) -> Iterator[Chunk]:
        """The rows in input order, `chunk_size` at a time."""
        c = self.columns
        chunk = Chunk()
        if self.format == "txt":
            for f in self._txt_files():
                text, undecodable, _ = _decode(f.read_bytes(), self.encoding)
                chunk.add(f.stem, text, note=UNDECODABLE if undecodable else "")
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = Chunk()
        elif self.format == "csv":
            header, records = self._csv_table()
            patient, date, exam = self._optional(header)
            i_id, i_text = header.index(c.report_id), header.index(c.report_text)
            i_p, i_d, i_e = (header.index(x) if x else None for x in (patient, date, exam))
            for fields in records:
                chunk.add(
                    fields[i_id],
                    fields[i_text],
                    fields[i_p] if i_p is not None else "",
                    fields[i_d] if i_d is not None else "",
                    exam=fields[i_e] if i_e is not None else "",
                )
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = Chunk()
        elif self.format == "parquet":
            pf = self._parquet()
            patient, date, exam = self._optional(pf.schema_arrow.names)
            cols = list(dict.fromkeys([c.report_id, c.report_text] + [x for x in (patient, date, exam) if x]))
            for batch in self._batches(pf, self.chunk_size, cols):
                data = batch.to_pydict()
                n = batch.num_rows
                chunk = Chunk()
                for i in range(n):
                    chunk.add(
                        data[c.report_id][i],
                        data[c.report_text][i],
                        data[patient][i] if patient else "",
                        data[date][i] if date else "",
                        exam=data[exam][i] if exam else "",
                    )
                yield chunk
            chunk = Chunk()
        else:
            for _, obj in self._jsonl_objects():
                chunk.add(
                    obj.get(c.report_id),
                    obj.get(c.report_text),
                    obj.get(c.patient_id),
                    obj.get(c.report_date),
                    exam=obj.get(c.exam) if c.exam else "",
                )
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = Chunk()
        if len(chunk):
            yield chunk


def _nul_indices(column: pa.ChunkedArray | pa.Array) -> list[int]:
    """Positions of the values holding a NUL (none for a column that is not text)."""
    try:
        found = pc.fill_null(pc.match_substring(column, "\x00"), False)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return []
    if not pc.any(found).as_py():
        return []
    return pc.indices_nonzero(found).to_pylist()


def read_records(path: Path) -> tuple[list[str], list[tuple[str, dict]]]:
    """(columns, [(where, record)]) of a CSV, Parquet or JSON Lines table (symptoms, referrals).

    `where` names a record as the messages do: "row N", N counting data rows from 1 (a CSV's
    header is not counted), or "line N" of a JSON Lines file. Values are strings for CSV, which
    is read as strictly as a report file; a CSV whose first row does not look like a header
    (a field over NAME_MAX characters or with a line break) is refused without showing it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    if kind == "csv":
        header, rows = _csv_table(path, sniff_encoding(path)[0])
        why = not_names(header)
        if why and _utf16_hint(path):
            raise InputError(
                f"{path}: the first row holds NUL characters; if the file is UTF-16 without a byte order mark, "
                "save it as UTF-8 (or with a byte order mark)"
            )
        if why:
            raise InputError(
                f"{path}: the first row does not look like a header ({why}): "
                "the file needs a header row naming its columns"
            )
        return header, [(f"row {i}", dict(zip(header, r))) for i, r in enumerate(rows, 1)]
    if kind == "parquet":
        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file: {_safe_reason(exc)}") from None
        columns = [str(c) for c in frame.columns]
        _names_or_refuse(path, columns, "name")
        rows = frame.itertuples(index=False, name=None)
        return columns, [(f"row {i}", dict(zip(columns, r))) for i, r in enumerate(rows, 1)]
    if kind == "jsonl":
        records = [(f"line {n}", obj) for n, obj in read_jsonl(path)]
        names: dict[str, None] = {}
        for _, obj in records:
            names.update(dict.fromkeys(obj))
        _names_or_refuse(path, list(names), "key")
        return list(names), records
    raise InputError(
        f"{path}: unknown format {_cut(path.suffix) or '(no extension)'!r}; expected .csv, .parquet or .jsonl"
    )


def _names_or_refuse(path: Path, names: list[str], noun: str) -> None:
    """Refuse a table whose column names may be report text (the callers list the names found)."""
    why = not_names(names, noun)
    if why:
        what = "column names" if noun == "name" else f"{noun}s"
        raise InputError(f"{path}: the {what} do not look like names ({why}); they are not shown")


def read_jsonl(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; an error names the line that is not a JSON object.

    With `encoding` utf-8, a UTF-8, UTF-16 or UTF-32 byte order mark decides the encoding."""
    path = Path(path)
    codec, _ = sniff_encoding(path, encoding)
    with open(path, encoding=codec, errors="replace", newline="\n") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                hint = (
                    "; the line holds NUL characters: if the file is UTF-16 without a byte order mark, "
                    "give --encoding utf-16-le (or utf-16-be)"
                    if line.count("\x00") * 3 >= len(line)
                    else ""
                )
                raise InputError(f"{path} line {n}: invalid JSON: {exc.msg} (column {exc.colno}){hint}") from None
            except (ValueError, RecursionError):
                raise InputError(f"{path} line {n}: invalid JSON: a value cannot be read") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path} line {n}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj
