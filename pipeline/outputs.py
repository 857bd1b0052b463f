"""Write mentions.csv, findings.csv, reports.csv and results.duckdb holding the same tables,
plus texts.parquet (report_id, report_text) so that `modic review` can show each report whole.

CSVs are streamed chunk by chunk under temporary names and renamed when the run ends, so
a failed run never leaves a half-written table that looks complete. Booleans are written
`true`/`false`; DuckDB loads the CSVs with the column types of schema.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import operator
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ModicError
from .schema import EXCLUSIONS, SQL_TYPES, TABLES

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
    """A value as the tables write it: booleans `true`/`false`, dates ISO, None empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


class ResultWriter:
    """Context manager: `write(chunk, results)` per chunk; tables are published on a clean exit."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModicError(f"{self.out_dir}: cannot create output folder: {exc.strerror}") from None
        self._files = {}
        self._texts: pq.ParquetWriter | None = None

    def _path(self, table: str, partial: bool = False) -> Path:
        return self.out_dir / f"{table}.csv{PARTIAL if partial else ''}"

    def __enter__(self) -> ResultWriter:
        for table, columns in TABLES.items():
            try:
                fh = self._path(table, partial=True).open("w", encoding="utf-8", newline="")
            except OSError as exc:
                raise ModicError(f"{self.out_dir}: cannot write {table}.csv: {exc.strerror}") from None
            self._files[table] = fh
            csv.writer(fh, lineterminator="\n").writerow(columns)
        texts_partial = self.out_dir / (TEXTS_NAME + PARTIAL)
        try:
            self._texts = pq.ParquetWriter(texts_partial, TEXTS_SCHEMA, compression="zstd")
        except OSError as exc:
            raise ModicError(f"{self.out_dir}: cannot write {TEXTS_NAME}: {exc}") from None
        return self

    def write(self, chunk: Chunk, rendered: dict[str, str]) -> None:
        """Append one chunk's rows, as `render` made them, and the chunk's texts."""
        for table, text in rendered.items():
            self._files[table].write(text)
        assert self._texts is not None
        self._texts.write_table(
            pa.table([pa.array(chunk.report_id, pa.string()), pa.array(chunk.texts, pa.string())], schema=TEXTS_SCHEMA)
        )

    def __exit__(self, exc_type, exc, tb) -> None:
        for fh in self._files.values():
            fh.close()
        if self._texts is not None:
            self._texts.close()
        texts_partial = self.out_dir / (TEXTS_NAME + PARTIAL)
        if exc_type is not None:
            for table in TABLES:
                self._path(table, partial=True).unlink(missing_ok=True)
            texts_partial.unlink(missing_ok=True)
            return
        for table in TABLES:
            os.replace(self._path(table, partial=True), self._path(table))
        os.replace(texts_partial, self.out_dir / TEXTS_NAME)
        build_database(self.out_dir)


_MENTION_VALUES = operator.attrgetter(*TABLES["mentions"][3:])
_FINDING_VALUES = operator.attrgetter(*TABLES["findings"][3:])


def _cells(values: tuple) -> list:
    """`cell` for the values of a Mention or Finding, which are strings, numbers and booleans only
    (the csv module writes numbers as str() does): only the booleans need changing."""
    return [("true" if v else "false") if v.__class__ is bool else v for v in values]


def render(chunk: Chunk, results: list[ReportResult]) -> dict[str, str]:
    """One chunk's rows of the three tables as CSV text (made in the worker that analysed them)."""
    buffers = {table: io.StringIO() for table in TABLES}
    mentions, findings, reports = (csv.writer(buffers[t], lineterminator="\n") for t in TABLES)
    for i, r in enumerate(results):
        ids = [chunk.report_id[i], chunk.patient_id[i], chunk.report_date[i]]
        if r.mentions:
            mentions.writerows([ids + _cells(_MENTION_VALUES(m)) for m in r.mentions])
        if r.findings:
            findings.writerows([ids + _cells(_FINDING_VALUES(f)) for f in r.findings])
        message = "; ".join(x for x in (chunk.notes[i], r.message) if x)
        e = r.exam
        reports.writerow(
            [*ids, r.status, message, e.modality, e.region, e.document_type, e.source, e.evidence]
            + [r.n_mentions, r.modic_levels, cell(r.qualifying_modic)]
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
    text_cols = [col for col, t in types.items() if t == "VARCHAR"]
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
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
