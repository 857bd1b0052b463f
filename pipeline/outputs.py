"""Write mentions.csv, findings.csv, reports.csv and results.duckdb holding the same tables,
plus texts.parquet (report_id, report_text) so that `modic review` can show each report whole.

An extraction is written into a staging folder (outdir.py) chunk by chunk, each chunk committed
to a journal so that an interrupted run can be resumed; the folder is swapped in whole at the end.
Booleans are written `true`/`false`; DuckDB loads the CSVs with the column types of schema.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import io
import json
import operator
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .csvcells import DANGER, QUOTE, escape, unescape_sql
from .errors import ModicError
from .outdir import WORK, DiskFull
from .schema import EXCLUSIONS, SQL_TYPES, STATUS_EMPTY, STATUS_ERROR, STATUS_OK, TABLES

if TYPE_CHECKING:  # imported for types only: run.py imports this module
    from .io import Chunk
    from .run import ReportResult

DB_NAME = "results.duckdb"
#: DuckDB keeps a table in memory up to its limit before writing it out; a low limit keeps the
#: memory of a million-report run flat (it spills to disk instead): loading the tables of 100k
#: and 1M reports peaks at 205 and 215 MiB with 96MB (205 and 247 MiB with 128MB). One thread
#: is faster here than two, and lighter.
DUCKDB_SETTINGS = {"memory_limit": "96MB", "threads": 1}
#: If a table ever needs more (very long values), it is loaded again with this limit.
DUCKDB_FALLBACK_LIMIT = "1GB"
PARTIAL = ".partial"
#: The report texts, kept beside the tables for the review page (zstd-compressed, streamed per chunk).
TEXTS_NAME = "texts.parquet"
TEXTS_SCHEMA = pa.schema([("report_id", pa.string()), ("report_text", pa.string())])


def cell(value: object) -> str:
    """A value as the tables write it: booleans `true`/`false`, dates ISO, None empty, strings
    escaped for spreadsheets (csvcells.py); numbers as str() writes them."""
    if value.__class__ is str:
        return QUOTE + value if value[:1] in DANGER else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    return escape(str(value)) if isinstance(value, str) else str(value)


class ResultWriter:
    """Writes an extraction into a (staging) folder, one committed chunk at a time.

    Each chunk's rows are appended to the three CSVs and its texts to texts.parquet (a partial
    file until the end); then one line of `.modic-work/journal.jsonl` commits the chunk: its input
    checksum, the byte length of each CSV after it, and its counts. `--resume` reads the journal,
    cuts the CSVs back to the last committed chunk, checks that the input's chunks up to there are
    unchanged, writes their texts again (a Parquet file cannot be continued; the texts are the
    input's, so they need no analysis), and goes on; the end result is byte for byte that of a run
    never cut. A clean exit puts texts.parquet in place and builds results.duckdb.
    """

    def __init__(self, out_dir: Path, fingerprint: dict | None = None, resume: bool = False, n_rows: int = 0):
        self.out_dir = Path(out_dir)
        self.work = self.out_dir / WORK
        self.journal_path = self.work / "journal.jsonl"
        self.fingerprint = fingerprint or {}
        self.resume = resume
        self.n_rows = n_rows
        self.notes: list[str] = []
        self.done: list[dict] = []  # the committed chunks' journal entries
        self.offsets: dict[str, int] = {}
        self.files: dict[str, BinaryIO] = {}
        self.journal: BinaryIO | None = None
        self.texts: pq.ParquetWriter | None = None
        self.index = 0  # the next chunk's number
        self.rows = 0  # reports committed
        self.statuses: dict[str, int] = {STATUS_OK: 0, STATUS_EMPTY: 0, STATUS_ERROR: 0}
        self.kinds: dict[str, int] = {}

    def _path(self, table: str) -> Path:
        return self.out_dir / f"{table}.csv"

    def _open_texts(self) -> None:
        self.texts = pq.ParquetWriter(self.out_dir / (TEXTS_NAME + PARTIAL), TEXTS_SCHEMA, compression="zstd")

    def _write_texts(self, chunk: Chunk) -> None:
        assert self.texts is not None
        ids, texts = pa.array(chunk.report_id, pa.string()), pa.array(chunk.texts, pa.string())
        self.texts.write_table(pa.table([ids, texts], schema=TEXTS_SCHEMA))

    def __enter__(self) -> ResultWriter:
        try:
            self.work.mkdir(parents=True, exist_ok=True)
            if not (self.resume and self._reopen()):
                self._start()
        except OSError as exc:
            self._close()
            raise self._error(exc) from None
        return self

    def _start(self) -> None:
        for table, columns in TABLES.items():
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(columns)
            data = header.getvalue().encode("utf-8")
            fh = self._path(table).open("wb")
            fh.write(data)
            self.files[table] = fh
            self.offsets[table] = len(data)
        self.journal = self.journal_path.open("wb")
        self._log({"fingerprint": self.fingerprint, "offsets": self.offsets})
        self._open_texts()

    def _reopen(self) -> bool:
        """Continue an unfinished run's work; False when there is none to continue."""
        if not self.journal_path.is_file():  # no unfinished run: the output folder has said so
            return False
        entries = _read_journal(self.journal_path)
        if not entries or "fingerprint" not in entries[0]:
            self.notes.append("nothing to resume: the unfinished run had not started writing; starting again")
            return False
        changed = _changes(entries[0]["fingerprint"], self.fingerprint)
        if changed:
            raise ModicError(
                f"--resume refused: {changed} since the interrupted run; run without --resume to start again"
            )
        self.done = [e for e in entries[1:] if "chunk" in e]
        offsets = self.done[-1]["offsets"] if self.done else entries[0]["offsets"]
        if any(not self._path(t).is_file() or self._path(t).stat().st_size < offsets[t] for t in TABLES):
            self.notes.append("nothing to resume: the unfinished run's tables are incomplete; starting again")
            self.done = []
            return False
        for table in TABLES:
            fh = self._path(table).open("r+b")
            fh.truncate(offsets[table])
            fh.seek(offsets[table])
            self.files[table] = fh
        self.offsets = dict(offsets)
        self.journal = self.journal_path.open("ab")
        self._open_texts()
        return True

    def _log(self, entry: dict) -> None:
        assert self.journal is not None
        self.journal.write(json.dumps(entry, separators=(",", ":")).encode("utf-8") + b"\n")
        self.journal.flush()

    def pending(self, chunks: Iterable[Chunk], progress: Callable[[int], None] | None = None) -> Iterator[Chunk]:
        """The chunks still to analyse: those an interrupted run committed are checked against
        the input (and counted) instead."""
        for chunk in chunks:
            if self.index < len(self.done):
                entry = self.done[self.index]
                if entry["rows"] != len(chunk) or entry["input"] != input_checksum(chunk):
                    first = self.rows + 1
                    raise ModicError(
                        f"--resume refused: the input changed since the interrupted run (rows {first:,}-"
                        f"{first + len(chunk) - 1:,} differ); run without --resume to start again"
                    )
                try:
                    self._write_texts(chunk)
                except OSError as exc:
                    raise self._error(exc) from None
                self._count(entry, len(chunk))
                if progress:
                    progress(len(chunk))
                continue
            yield chunk

    def _count(self, entry: dict, rows: int) -> None:
        for key, n in entry["statuses"].items():
            self.statuses[key] = self.statuses.get(key, 0) + n
        for key, n in entry["kinds"].items():
            self.kinds[key] = self.kinds.get(key, 0) + n
        self.rows += rows
        self.index += 1

    def write(self, chunk: Chunk, rendered: dict[str, str], statuses: list[tuple[str, str]]) -> None:
        """Commit one chunk: its rows as `render` made them, its texts, and its (status, exam kind) pairs."""
        try:
            for table, text in rendered.items():
                data = text.encode("utf-8")
                self.files[table].write(data)
                self.offsets[table] += len(data)
            for fh in self.files.values():
                fh.flush()
            self._write_texts(chunk)
            entry = {
                "chunk": self.index,
                "rows": len(chunk),
                "input": input_checksum(chunk),
                "offsets": self.offsets,
                "statuses": dict(Counter(s for s, _ in statuses)),
                "kinds": dict(Counter(k for _, k in statuses)),
            }
            self._log(entry)
        except OSError as exc:
            raise self._error(exc) from None
        self._count(entry, len(chunk))

    def _close(self) -> None:
        for fh in [*self.files.values(), self.journal, self.texts]:
            if fh is not None:
                fh.close()
        self.files, self.journal, self.texts = {}, None, None

    def __exit__(self, exc_type, exc, tb) -> None:
        texts = self.out_dir / (TEXTS_NAME + PARTIAL)
        try:
            self._close()
        except OSError as exc2:  # the Parquet footer is written on close
            if exc_type is None:
                raise self._error(exc2) from None
        if exc_type is not None:
            texts.unlink(missing_ok=True)  # --resume writes it again from the input
            return
        try:
            os.replace(texts, self.out_dir / TEXTS_NAME)
            build_database(self.out_dir)
        except OSError as exc2:
            raise self._error(exc2) from None

    def _error(self, exc: OSError) -> ModicError:
        if exc.errno != errno.ENOSPC:
            return ModicError(f"{self.out_dir}: cannot write the tables: {exc.strerror or exc}")
        used = _size(self.out_dir)
        # the CSVs and texts grow with the rows; at the end the database is made beside them: the
        # finished folder was 1.24 times the size of the CSVs and texts on 6,000 sample reports
        per_row = 1.25 * used / self.rows if self.rows else 0
        needed = max(per_row * self.n_rows - used, 0)
        estimate = f" (about {needed / 1e6:,.0f} MB more were needed)" if per_row else ""
        return DiskFull(
            f"no space left on device while writing the results{estimate}"
        )


def input_checksum(chunk: Chunk) -> str:
    """A checksum of a chunk's rows as read (ids, texts, patients, dates, exams, notes)."""
    fields = [chunk.report_id, chunk.patient_id, chunk.report_date, chunk.texts, chunk.exam, chunk.notes]
    data = json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _read_journal(path: Path) -> list[dict]:
    """The journal's entries; a line cut by a kill (the last one) is ignored."""
    if not path.is_file():
        return []
    entries = []
    with path.open("rb") as fh:
        for line in fh:
            try:
                entries.append(json.loads(line))
            except ValueError:
                break
    return entries


#: How the fingerprint's keys are named when --resume refuses.
_FINGERPRINT_NAMES = {"input": "the input file", "columns": "the column options", "encoding": "--encoding",
                      "chunk_size": "--chunk-size", "n_rows": "the input's number of rows",
                      "version": "the modic-pipeline version"}  # fmt: skip


def _changes(before: dict, now: dict) -> str:
    """What differs between two run fingerprints, in words ("" when nothing does)."""
    said = []
    for key in sorted(set(before) | set(now)):
        if before.get(key) == now.get(key):
            continue
        if key == "rules":
            old, new = before.get(key) or {}, now.get(key) or {}
            files = sorted(f for f in set(old) | set(new) if old.get(f) != new.get(f))
            said.append(f"the rules changed ({', '.join(files[:5])}{' …' if len(files) > 5 else ''})")
        else:
            said.append(f"{_FINGERPRINT_NAMES.get(key, key)} changed")
    return "; ".join(said)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rules_checksums(folder: Path) -> dict[str, str]:
    """{relative path: checksum} of every file of a rules folder."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


_MENTION_VALUES = operator.attrgetter(*TABLES["mentions"][3:])
_FINDING_VALUES = operator.attrgetter(*TABLES["findings"][3:])


def _cells(values: tuple) -> list:
    """`cell` for the values of a Mention or Finding, which are strings, numbers and booleans only
    (the csv module writes numbers as str() does): only the strings and booleans need changing."""
    return [
        (QUOTE + v if v[:1] in DANGER else v) if v.__class__ is str
        else ("true" if v else "false") if v.__class__ is bool
        else v
        for v in values
    ]  # fmt: skip


def render(chunk: Chunk, results: list[ReportResult]) -> dict[str, str]:
    """One chunk's rows of the three tables as CSV text (made in the worker that analysed them)."""
    buffers = {table: io.StringIO() for table in TABLES}
    mentions, findings, reports = (csv.writer(buffers[t], lineterminator="\n") for t in TABLES)
    for i, r in enumerate(results):
        ids = [escape(chunk.report_id[i]), escape(chunk.patient_id[i]), chunk.report_date[i]]  # the date is ISO or ""
        if r.mentions:
            mentions.writerows([ids + _cells(_MENTION_VALUES(m)) for m in r.mentions])
        if r.findings:
            findings.writerows([ids + _cells(_FINDING_VALUES(f)) for f in r.findings])
        message = "; ".join(x for x in (chunk.notes[i], r.message) if x)
        e = r.exam
        reports.writerow(
            [*ids, *map(escape, (r.status, message, e.modality, e.region, e.document_type, e.source, e.evidence))]
            + [r.n_mentions, escape(r.modic_levels), cell(r.qualifying_modic)]
            + [cell(r.exclusions[name]) for name in EXCLUSIONS]
        )
    return {table: buffer.getvalue() for table, buffer in buffers.items()}


def build_database(out_dir: Path) -> Path:
    """(Re)build results.duckdb from the three extraction CSVs, typed as schema.py says."""
    target = out_dir / DB_NAME
    partial = out_dir / (DB_NAME + PARTIAL)
    partial.unlink(missing_ok=True)
    Path(f"{partial}.wal").unlink(missing_ok=True)
    with database(partial) as con:
        for table, columns in TABLES.items():
            load_csv(con, table, out_dir / f"{table}.csv", {c: SQL_TYPES.get(c, "VARCHAR") for c in columns})
    os.replace(partial, target)
    return target


@contextmanager
def database(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB database with the project's memory cap and no progress bar of DuckDB's own.

    On a clean exit the data is checkpointed into the file itself before it is closed: a
    checkpoint that failed silently at close would leave the tables in a .wal file beside it,
    lost when the file is renamed into place.
    """
    con = duckdb.connect(str(path), config=dict(DUCKDB_SETTINGS))
    try:
        try:  # our progress is ours; DuckDB's bar would draw on stdout
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:  # inside Jupyter without ipywidgets DuckDB refuses the setting (its bar is off there)
            pass
        yield con
        try:
            con.execute("CHECKPOINT")
        except duckdb.OutOfMemoryException:
            con.execute(f"SET memory_limit = '{DUCKDB_FALLBACK_LIMIT}'")
            con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = Path(f"{path}.wal")
    if wal.exists():
        raise ModicError(f"{path}: DuckDB left {wal.name} behind; the database may be incomplete")


def load_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path, types: dict[str, str]) -> None:
    """(Re)create `table` from a CSV the project wrote, with the given column types.

    Under the low memory limit first; a table that does not fit is loaded with a higher limit,
    kept for the rest of the connection."""
    try:
        _create_from_csv(con, table, path, types)
    except duckdb.OutOfMemoryException:
        con.execute(f"SET memory_limit = '{DUCKDB_FALLBACK_LIMIT}'")
        _create_from_csv(con, table, path, types)


def _create_from_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path, types: dict[str, str]) -> None:
    """Text cells are loaded unescaped (csvcells.py): the database holds the exact values."""
    text_cols = [col for col, t in types.items() if t == "VARCHAR"]
    select = ", ".join(unescape_sql(col) if t == "VARCHAR" else f'"{col}"' for col, t in types.items())
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM read_csv(?, header = true, auto_detect = false, "
        f"columns = {_struct(types)}, force_not_null = {text_cols!r}, quote = '\"', escape = '\"')",
        [str(path)],
    )


def write_table(out_dir: Path, table: str, rows: list[dict[str, object]], types: dict[str, str]) -> Path:
    """Write rows as DIR/<table>.csv and as a table of results.duckdb (created if missing)."""
    columns = list(types)
    path = out_dir / f"{table}.csv"
    partial = out_dir / f"{table}.csv{PARTIAL}"
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([cell(row.get(col)) for col in columns])
    except OSError as exc:
        raise ModicError(f"{out_dir}: cannot write {table}.csv: {exc.strerror}") from None
    os.replace(partial, path)
    with database(out_dir / DB_NAME) as con:
        load_csv(con, table, path, types)
    return path


def _struct(types: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
