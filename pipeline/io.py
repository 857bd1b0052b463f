"""Read reports from CSV, Parquet, JSON Lines or a folder of .txt files, in chunks.

The source is checked before any work starts: the file exists, its format is known, the
required columns are there, and report ids are present and unique. Every row comes out
again, in order; a row with an odd value (undecodable bytes, a date that is not ISO)
carries a note that ends up in the `message` of its report.
"""

from __future__ import annotations

import codecs
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
import pyarrow.parquet as pq

from .errors import InputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REPLACEMENT = "\ufffd"
#: Bytes read at a time from a Parquet input (see ReportSource._parquet).
PARQUET_BUFFER = 1 << 20
UNDECODABLE = "text holds undecodable bytes, replaced with U+FFFD"


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
        date_s, date_note = normalise_date(date)
        if date_note:
            notes.append(date_note)
        self.report_id.append(_text(rid).strip())
        self.patient_id.append(_text(patient).strip())
        self.report_date.append(date_s)
        self.texts.append(text_s)
        self.notes.append("; ".join(notes))
        self.exam.append(_text(exam).strip())


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def normalise_date(value: object) -> tuple[str, str]:
    """An ISO date string (a datetime keeps its date part) and a note when the value is not one."""
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d"), ""
    s = _text(value).strip()
    if not s:
        return "", ""
    try:
        return dt.date.fromisoformat(s[:10]).isoformat(), ""
    except ValueError:
        return "", f"report_date {s!r} is not an ISO date (YYYY-MM-DD); left empty"


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
            raise InputError(f"unknown text encoding {encoding!r}") from None
        if self.path.is_dir():
            self.format = "txt"
        else:
            self.format = FORMATS.get(self.path.suffix.lower(), "")
            if not self.format:
                raise InputError(
                    f"{self.path}: unknown input format {self.path.suffix or '(no extension)'!r}; "
                    "expected .csv, .parquet, .jsonl or a folder of .txt files"
                )
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
            raise InputError(f"{self.path}: empty {self.columns.report_id} in row(s) {rows}")
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
                    f"{rid!r} (rows {', '.join(map(str, rows[:3]))})" for rid, rows in list(dupes.items())[:5]
                )
                more = f" and {len(dupes) - 5} more" if len(dupes) > 5 else ""
                raise InputError(f"{self.path}: duplicate {self.columns.report_id} values: {shown}{more}")
        if not hashes:
            self.warnings.append(f"{self.path}: no reports found")
        return len(hashes)

    def _check_decoding(self) -> None:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        with self.path.open("rb") as fh:
            offset = 0
            while block := fh.read(1 << 20):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    self.warnings.append(
                        f"{self.path}: bytes that are not valid {self.encoding} near byte {offset + exc.start} "
                        "were replaced with U+FFFD; the affected reports say so in their message "
                        "(use --encoding if the file is in another encoding)"
                    )
                    return
                offset += len(block)

    def _require(self, found: list[str]) -> None:
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
                shown = ", ".join(found) if found else "(none)"
                raise InputError(
                    f"{self.path}: missing required column {name!r} (name another with {option}); "
                    f"columns found: {shown}"
                )

    def _ids(self) -> Iterator[str]:
        if self.format == "txt":
            if self.columns.exam:
                raise InputError(
                    f"{self.path}: --exam-col needs a table (CSV, Parquet or JSONL), not a folder of .txt files"
                )
            files = self._txt_files()
            if not files:
                raise InputError(f"{self.path}: folder holds no .txt files")
            yield from (f.stem for f in files)
        elif self.format == "csv":
            self._require(self._csv_header())
            for frame in self._csv_frames([self.columns.report_id]):
                yield from (_text(v).strip() for v in frame[self.columns.report_id])
        elif self.format == "parquet":
            pf = self._parquet()
            self._require(list(pf.schema_arrow.names))
            for batch in pf.iter_batches(batch_size=65536, columns=[self.columns.report_id]):
                yield from (_text(v).strip() for v in batch.column(0).to_pylist())
        else:
            for n, obj in self._jsonl_objects():
                keys = [(self.columns.report_id, "--id-col"), (self.columns.report_text, "--text-col")]
                if self.columns.exam:
                    keys.append((self.columns.exam, "--exam-col"))
                for name, option in keys:
                    if name not in obj:
                        raise InputError(
                            f"{self.path} line {n}: missing required key {name!r} (name another with {option}); "
                            f"keys found: {', '.join(obj) or '(none)'}"
                        )
                yield _text(obj.get(self.columns.report_id)).strip()

    # -- readers ------------------------------------------------------------------------------

    def _txt_files(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())

    def _csv_header(self) -> list[str]:
        try:
            header = pd.read_csv(self.path, nrows=0, encoding=self._csv_encoding(), encoding_errors="replace")
            return list(header.columns)
        except pd.errors.EmptyDataError:
            raise InputError(f"{self.path}: the file is empty (no header row)") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{self.path}: not a readable CSV file: {_one_line(exc)}") from None

    def _csv_encoding(self) -> str:
        return "utf-8-sig" if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else self.encoding

    def _csv_frames(self, usecols: list[str]) -> Iterator[pd.DataFrame]:
        try:
            yield from pd.read_csv(
                self.path,
                dtype=str,
                keep_default_na=False,
                usecols=usecols,
                chunksize=self.chunk_size,
                encoding=self._csv_encoding(),
                encoding_errors="replace",
            )
        except pd.errors.ParserError as exc:
            raise InputError(f"{self.path}: malformed CSV: {_one_line(exc)}") from None

    def _parquet(self) -> pq.ParquetFile:
        try:
            # read through a small buffer rather than pre-buffering whole column chunks: the main
            # process's memory grew by about 40 MB per 100,000 reports read otherwise (pyarrow 25)
            return pq.ParquetFile(self.path, pre_buffer=False, buffer_size=PARQUET_BUFFER)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.path}: not a readable Parquet file: {_one_line(exc)}") from None

    def _jsonl_objects(self) -> Iterator[tuple[int, dict]]:
        return read_jsonl(self.path, self.encoding)

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
                raw = f.read_bytes()
                try:
                    chunk.add(f.stem, raw.decode(self.encoding))
                except UnicodeDecodeError:
                    chunk.add(f.stem, raw.decode(self.encoding, errors="replace"), note=UNDECODABLE)
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = Chunk()
        elif self.format == "csv":
            patient, date, exam = self._optional(self._csv_header())
            cols = list(dict.fromkeys([c.report_id, c.report_text] + [x for x in (patient, date, exam) if x]))
            for frame in self._csv_frames(cols):
                chunk = Chunk()
                blank = [""] * len(frame)
                pats = frame[patient] if patient else blank
                dates = frame[date] if date else blank
                exams = frame[exam] if exam else blank
                for rid, text, p, d, e in zip(frame[c.report_id], frame[c.report_text], pats, dates, exams):
                    chunk.add(rid, text, p, d, exam=e)
                yield chunk
            chunk = Chunk()
        elif self.format == "parquet":
            pf = self._parquet()
            patient, date, exam = self._optional(pf.schema_arrow.names)
            cols = list(dict.fromkeys([c.report_id, c.report_text] + [x for x in (patient, date, exam) if x]))
            for batch in pf.iter_batches(batch_size=self.chunk_size, columns=cols):
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


def read_records(path: Path) -> tuple[list[str], list[tuple[str, dict]]]:
    """(columns, [(where, record)]) of a CSV, Parquet or JSON Lines table (symptoms, referrals).

    `where` names a record as the messages do: "row N", N counting data rows from 1 (a CSV's
    header is not counted), or "line N" of a JSON Lines file. Values are strings for CSV.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    try:
        if kind in ("csv", "parquet"):
            if kind == "csv":
                frame = pd.read_csv(
                    path, dtype=str, keep_default_na=False, encoding="utf-8-sig", encoding_errors="replace"
                )
            else:
                frame = pq.read_table(path).to_pandas()
            columns = [str(c) for c in frame.columns]
            rows = frame.itertuples(index=False, name=None)
            return columns, [(f"row {i}", dict(zip(columns, r))) for i, r in enumerate(rows, 1)]
        if kind == "jsonl":
            records = [(f"line {n}", obj) for n, obj in read_jsonl(path)]
            names: dict[str, None] = {}
            for _, obj in records:
                names.update(dict.fromkeys(obj))
            return list(names), records
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (no header row)") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: malformed CSV: {_one_line(exc)}") from None
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {_one_line(exc)}") from None
    raise InputError(f"{path}: unknown format {path.suffix or '(no extension)'!r}; expected .csv, .parquet or .jsonl")


def read_jsonl(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; an error names the line that is not a JSON object."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.decode(encoding, errors="replace")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {n}: invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path} line {n}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
