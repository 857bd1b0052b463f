"""The jobs as recipes.

extract: read in chunks -> analyse -> mentions -> findings -> write.
flag: read the extraction tables and the symptom table -> judge each patient -> write patients.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .criteria import Criteria
from .exams import Exam
from .extract import Mention, mentions_of
from .flag import flag, load_extraction, optional_columns
from .io import Chunk, ReportSource
from .memory import steady_memory
from .nlp import Analyzer
from .outdir import EXTRACT, FLAG, OutputFolder
from .outputs import ResultWriter, render, rules_checksums, write_table
from .resolve import Finding, resolve, summarise
from .schema import (
    EXCLUSIONS,
    PATIENT_COLUMNS,
    PATIENT_SQL_TYPES,
    PATIENT_STATUSES,
    PATIENT_TRAILING_COLUMNS,
    STATUS_EMPTY,
    STATUS_ERROR,
    STATUS_OK,
    kind_label,
)
from .symptoms import read_symptoms


@dataclass
class ReportResult:
    """Everything extracted from one report."""

    status: str
    message: str = ""
    exam: Exam = field(default_factory=Exam)
    mentions: list[Mention] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    n_mentions: int = 0
    modic_levels: str = ""
    qualifying_modic: bool = False
    exclusions: dict[str, bool] = field(default_factory=lambda: {name: False for name in EXCLUSIONS})


def _result(exam: Exam, mentions: list[Mention]) -> ReportResult:
    findings = resolve(mentions)
    s = summarise(mentions, findings)
    return ReportResult(
        STATUS_OK, "", exam, mentions, findings, s.n_mentions, s.modic_levels, s.qualifying_modic, s.exclusions
    )


#: A report longer than this many characters is not analysed: it gets status "error" and a message
#: giving its length (still one row of reports.csv). The work per report is linear in its length
#: (benchmarks/bench_long.py): a report of 1,000,000 characters took 0.9 s as the sample reports one
#: after another, 1.5 s as one paragraph with no line break or full stop, and 7 s at worst (a list of
#: Modic levels over and over: 90,000 mentions), against about 1 ms for a normal report of 0.5-5 KB.
#: The limit keeps one pathological document (a 20 MB row: 20 s at best) from holding up a run.
MAX_REPORT_CHARS = 1_000_000


def process_texts(analyzer: Analyzer, texts: list[str], exams: list[str] | None = None) -> list[ReportResult]:
    """Analyse a batch of report texts; one result per text, in order, never raising for one bad report.

    `exams` are the values of the input's exam column, if it has one (see pipeline/exams.py). A text
    over MAX_REPORT_CHARS is not read at all (its exam kind comes from the exam column alone)."""
    limit = MAX_REPORT_CHARS
    kinds = [
        analyzer.exams.detect(text if text and len(text) <= limit else "", exams[i] if exams else "")
        for i, text in enumerate(texts)
    ]
    results: list[ReportResult | None] = [None] * len(texts)
    todo = []
    for i, text in enumerate(texts):
        if text and len(text) > limit:
            message = f"report is {len(text):,} characters, over the limit of {limit:,}; not analysed"
            results[i] = ReportResult(STATUS_ERROR, message, kinds[i])
        elif not text or not text.strip():
            results[i] = ReportResult(STATUS_EMPTY, "report text is empty", kinds[i])
        else:
            todo.append(i)
    try:
        for i, report in zip(todo, analyzer.analyse([texts[i] for i in todo])):
            results[i] = _result(kinds[i], mentions_of(report, kinds[i]))
    except Exception:  # noqa: BLE001 - isolate the report that failed, keep the rest
        for i in todo:
            try:
                report = next(analyzer.analyse([texts[i]]))
                results[i] = _result(kinds[i], mentions_of(report, kinds[i]))
            except Exception as exc:  # noqa: BLE001
                results[i] = ReportResult(STATUS_ERROR, f"extraction failed: {type(exc).__name__}: {exc}", kinds[i])
    return [r for r in results if r is not None]


#: What a chunk's analysis sends back to the writer: its rendered rows, and each report's status and exam kind.
Analysed = tuple[dict[str, str], list[tuple[str, str]]]


def _analyse_chunk(analyzer: Analyzer, chunk: Chunk) -> Analysed:
    results = process_texts(analyzer, chunk.texts, chunk.exam)
    return render(chunk, results), [(r.status, r.exam.kind) for r in results]


_WORKER: Analyzer | None = None


def _start_worker(patterns_dir: Path) -> None:
    global _WORKER
    # Ctrl-C reaches the whole process group: the main process alone answers it (and stops the
    # workers); a worker must not inherit the main process's SIGTERM handler either.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    steady_memory()  # inherited when forked; needed where workers are spawned
    if _WORKER is None or _WORKER.patterns_dir != patterns_dir:  # a forked worker has the parent's
        _WORKER = Analyzer(patterns_dir)


def _worker_chunk(chunk: Chunk) -> Analysed:
    assert _WORKER is not None
    return _analyse_chunk(_WORKER, chunk)


def _in_workers(chunks: Iterable[Chunk], analyzer: Analyzer, jobs: int) -> Iterator[tuple[Chunk, Analysed]]:
    """Chunks analysed by `jobs` worker processes, yielded in input order, few chunks in flight."""
    # Forked workers start with the libraries imported (a fork server or spawn took 1.5 s longer
    # on 5,000 reports). The main process may hold idle pyarrow reader threads by then (Python
    # 3.12 warns of forking with threads); the workers never call pyarrow.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    global _WORKER
    if method == "fork":
        _WORKER = analyzer  # forked workers take the loaded rules as they are (no second load)
    try:
        with mp.get_context(method).Pool(jobs, _start_worker, (analyzer.patterns_dir,)) as pool:
            pending: deque = deque()
            for chunk in chunks:
                pending.append((chunk, pool.apply_async(_worker_chunk, (chunk,))))
                if len(pending) >= 2 * jobs:
                    done, result = pending.popleft()
                    yield done, result.get()
            while pending:
                done, result = pending.popleft()
                yield done, result.get()
    finally:
        _WORKER = None


def resolve_jobs(jobs: int) -> int:
    """--jobs: 0 means one per core."""
    return jobs if jobs > 0 else max(1, os.cpu_count() or 1)


@dataclass
class ExtractSummary:
    """How many reports of each status and of each exam kind ("lumbar mri": 2311, ...)."""

    statuses: dict[str, int]
    kinds: dict[str, int]
    #: reports an interrupted run had done, taken over by --resume
    resumed: int = 0

    def kinds_line(self, shown: int = 8) -> str:
        """ "2,311 lumbar MRI, 120 cervical MRI, 88 lumbar CT, 31 operative notes", most common first; past
        `shown` kinds, the rest are summed."""
        ordered = sorted(self.kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        out = ", ".join(f"{n:,} {kind_label(kind, n)}" for kind, n in ordered[:shown])
        rest = ordered[shown:]
        if rest:
            out += f" and {sum(n for _, n in rest):,} of {len(rest)} other kinds"
        return out


def fingerprint(source: ReportSource, analyzer: Analyzer) -> dict:
    """What an extraction's output depends on, so that --resume can refuse a changed run."""
    return {
        "version": __version__,
        "input": str(source.path.resolve()),
        "n_rows": source.n_rows,
        "columns": asdict(source.columns),
        "encoding": source.encoding,
        "chunk_size": source.chunk_size,
        "rules": rules_checksums(analyzer.patterns_dir),
    }


def extract_into(
    source: ReportSource,
    folder: OutputFolder,
    analyzer: Analyzer,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
) -> ExtractSummary:
    """Run extraction over every report of `source` into the staging folder of `folder`.

    The output is the same for any `jobs`, and the same after `--resume` as without a cut: chunks
    are written in input order.
    """
    steady_memory()  # before the workers are forked, so they have it too
    jobs = resolve_jobs(jobs)
    folder.keep_work = True
    resumed = 0

    def taken_over(n: int) -> None:
        nonlocal resumed
        resumed += n
        if progress:
            progress(n)

    with ResultWriter(folder.path, fingerprint(source, analyzer), folder.resume, source.n_rows) as writer:
        folder.notes.extend(writer.notes)
        folder.kept = sum(entry["rows"] for entry in writer.done)
        chunks = writer.pending(source.chunks(), taken_over)
        analysed = (
            ((chunk, _analyse_chunk(analyzer, chunk)) for chunk in chunks)
            if jobs == 1
            else _in_workers(chunks, analyzer, jobs)
        )
        for chunk, (rendered, statuses) in analysed:
            writer.write(chunk, rendered, statuses)
            folder.kept = writer.rows
            if progress:
                progress(len(statuses))
    return ExtractSummary(writer.statuses, writer.kinds, resumed)


def extract(
    source: ReportSource,
    out_dir: Path,
    analyzer: Analyzer,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
) -> ExtractSummary:
    """Extract every report of `source` into out_dir (mentions, findings, reports, texts, results.duckdb),
    replacing an earlier extraction there as a whole."""
    with OutputFolder(out_dir, EXTRACT, "extract") as folder:
        return extract_into(source, folder, analyzer, progress, jobs)


@dataclass
class FlagSummary:
    criteria: str
    counts: dict[str, int]
    messages: list[str]
    path: Path


def flag_dir(
    out_dir: Path, symptoms_path: Path, criteria: Criteria, columns: dict[str, str] | None = None
) -> FlagSummary:
    """Judge every patient of out_dir's extraction and the symptom table; write patients.csv and the
    `patients` table into out_dir (the folder changes as a whole)."""
    with OutputFolder(out_dir, FLAG, "flag") as folder:
        summary = flag_into(out_dir, folder.path, symptoms_path, criteria, columns)
    summary.path = Path(out_dir) / "patients.csv"
    return summary


def flag_into(
    source_dir: Path, dest_dir: Path, symptoms_path: Path, criteria: Criteria, columns: dict[str, str] | None = None
) -> FlagSummary:
    """Judge every patient of source_dir's extraction; write the patients into dest_dir."""
    reports = load_extraction(source_dir)
    symptoms = read_symptoms(symptoms_path, columns)
    results = flag(reports, symptoms, criteria)
    optional = optional_columns(symptoms, criteria)
    columns_out = (*PATIENT_COLUMNS, *optional, *PATIENT_TRAILING_COLUMNS)
    types = {col: PATIENT_SQL_TYPES.get(col, "VARCHAR") for col in columns_out}
    path = write_table(Path(dest_dir), "patients", [r.row(optional) for r in results], types)
    counts = {status: 0 for status in PATIENT_STATUSES}
    for r in results:
        counts[r.status] += 1
    messages = list(symptoms.messages)
    unjoined = sum(1 for r in reports if not r.patient_id)
    if unjoined:
        messages.append(f"{unjoined} report(s) have no patient_id and cannot be joined to a patient")
    return FlagSummary(criteria.name, counts, messages, path)
