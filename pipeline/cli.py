"""The `modic` command. Thin: parse options, call one function per command, report errors in one line."""

from __future__ import annotations

import csv
import os
import signal
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import Interrupted, ModicError

PATTERNS_HELP = "Folder of rule files (default: patterns/ of this checkout, or $MODIC_PATTERNS)."


class Progress:
    """Reports/s and ETA on stderr: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, total: int, quiet: bool, every: float = 5.0):
        self.total, self.done, self.quiet, self.every = total, 0, quiet, every
        self.start = self.last = time.monotonic()
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="report", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if not self.quiet and (now - self.last >= self.every or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0.0
            click.echo(f"{self.done}/{self.total} reports, {rate:.0f} reports/s, ETA {eta:.0f} s", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ModicGroup(click.Group):
    """Turns the package's own errors into one-line messages; never shows a traceback by default."""

    def invoke(self, ctx: click.Context):
        previous = _on_sigterm()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Interrupted): one line, exit 128 + signal
            signum = getattr(exc, "signum", signal.SIGINT)
            click.echo(getattr(exc, "note", "interrupted; no output was changed"), err=True)
            raise click.exceptions.Exit(128 + signum) from None
        except ModicError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # output piped into `head` and closed: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence for the user
            if os.environ.get("MODIC_DEBUG"):
                raise
            # the exception's own text is not shown: it may quote the data (report text is patient data)
            detail = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
            raise click.ClickException(
                f"unexpected error: {type(exc).__name__}{detail} (set MODIC_DEBUG=1 to see the traceback)"
            ) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _on_sigterm():
    """Make SIGTERM stop a command the way Ctrl-C does (outputs left as they were); the previous handler."""

    def handler(signum, frame):
        raise Interrupted(signum)

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


@click.group(cls=ModicGroup)
@click.version_option(__version__, prog_name="modic")
def main() -> None:
    """Modic endplate changes and exclusion findings from lumbar spine MRI reports."""


def _analyzer(patterns: Path | None):
    from .nlp import Analyzer

    return Analyzer(patterns)


def _options(options):
    """Apply a list of click options to a command, in order."""

    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func

    return apply


PATTERNS_OPTION = click.option("--patterns", type=click.Path(path_type=Path, file_okay=False), help=PATTERNS_HELP)
EXTRACT_OPTIONS = [
    click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder."),
    click.option("--id-col", default="report_id", show_default=True, help="Column holding the report id."),
    click.option("--text-col", default="report_text", show_default=True, help="Column holding the report text."),
    click.option(
        "--patient-col", default=None, help="Column holding the patient id [default: patient_id, if present]."
    ),
    click.option("--date-col", default=None, help="Column holding the report date [default: report_date, if present]."),
    click.option(
        "--exam-col",
        default=None,
        help="Column naming each report's exam (a procedure name such as 'MRI L-SPINE W/O CONTRAST', or a CPT "
        "code such as 72148) [default: none; the exam is read from the report text]. Empty values are read from "
        "the text.",
    ),
    click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the input."),
    click.option("--chunk-size", default=1000, show_default=True, type=click.IntRange(1), help="Reports per chunk."),
    click.option(
        "--jobs",
        default=1,
        show_default=True,
        type=click.IntRange(0),
        help="Worker processes (0: one per core). The output does not depend on it.",
    ),
    PATTERNS_OPTION,
    click.option("--quiet", is_flag=True, help="No progress output."),
    click.option(
        "--resume",
        is_flag=True,
        help="Continue a run into the same --out that was interrupted (killed, Ctrl-C, failed), from its last "
        "completed chunk; refused if the input, the rules or the options changed.",
    ),
]
FLAG_OPTIONS = [
    click.option(
        "--symptoms",
        "symptoms_path",
        required=True,
        type=click.Path(path_type=Path),
        help="Symptom table (.csv, .parquet or .jsonl), one row per assessment.",
    ),
    click.option(
        "--criteria",
        "criteria_name",
        default="default",
        show_default=True,
        help="A bundled profile (see `modic criteria`) or the path of a profile file.",
    ),
    click.option(
        "--symptom-col",
        "symptom_cols",
        multiple=True,
        metavar="FIELD=COLUMN",
        help="Read a symptom field from another column, e.g. lbp_duration_months=pain_months.",
    ),
]


def _extract(
    input_path,
    out_dir,
    id_col,
    text_col,
    patient_col,
    date_col,
    exam_col,
    encoding,
    chunk_size,
    jobs,
    patterns,
    quiet,
    resume,
    flag_options=None,
):
    """`modic extract`, or with flag_options (symptoms, criteria, symptom columns) `modic run`: both
    into one staging folder swapped in at the end."""
    from .io import Columns, ReportSource
    from .memory import steady_memory
    from .outdir import EXTRACT, RUN, OutputFolder, refuse_overwrite
    from .run import extract_into

    products = RUN if flag_options else EXTRACT
    extra_inputs = [flag_options["symptoms_path"], flag_options["criteria"].path] if flag_options else []
    refuse_overwrite([input_path, patterns, *extra_inputs], out_dir, "--out", products)
    steady_memory()  # before the input is first read

    columns = Columns(
        report_id=id_col,
        report_text=text_col,
        patient_id=patient_col or "patient_id",
        report_date=date_col or "report_date",
        patient_given=patient_col is not None,
        date_given=date_col is not None,
        exam=exam_col,
    )
    source = ReportSource(input_path, columns, chunk_size=chunk_size, encoding=encoding)
    analyzer = _analyzer(patterns)
    for warning in source.warnings:
        click.echo(f"warning: {warning}", err=True)
    progress = Progress(source.n_rows, quiet)
    started = time.monotonic()
    folder = OutputFolder(out_dir, products, "run" if flag_options else "extract", resume)
    flagged = None
    try:
        with folder:
            summary = extract_into(source, folder, analyzer, progress, jobs)
            progress.close()
            if flag_options:
                flagged = _flag_into(folder.path, folder.path, **flag_options)
    except KeyboardInterrupt as exc:
        kept = (
            f"; {folder.kept:,} of {source.n_rows:,} reports done are kept: run the same command with --resume "
            "to continue"
            if folder.kept and folder.keep_work
            else ""
        )
        exc.note = f"interrupted: {out_dir} keeps its previous results{kept}"
        raise
    finally:
        progress.close()
    for note in folder.notes:
        click.echo(f"note: {note}", err=True)
    seconds = time.monotonic() - started
    counts = summary.statuses
    total = sum(counts.values())
    resumed = f" ({summary.resumed:,} done by the interrupted run)" if summary.resumed else ""
    click.echo(
        f"{total:,} reports{resumed} in {seconds:.1f} s ({(total - summary.resumed) / max(seconds, 1e-9):.0f}/s): "
        f"{counts['ok']:,} ok, {counts['empty']:,} empty, {counts['error']:,} error -> {out_dir}/"
        "{mentions,findings,reports}.csv, results.duckdb, texts.parquet",
        err=quiet,
    )
    if total:
        click.echo(f"{total:,} reports: {summary.kinds_line()}", err=quiet)
    if flagged is not None:
        flagged.path = Path(out_dir) / "patients.csv"
        _flag_report(flagged, quiet)


def _field_columns(option: str, example: str, pairs) -> dict[str, str]:
    """--symptom-col / --referral-col FIELD=COLUMN pairs -> {field: column}."""
    columns = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise ModicError(f"{option} {pair!r}: expected FIELD=COLUMN, e.g. {example}")
        columns[field.strip()] = column.strip()
    return columns


def _symptom_columns(pairs) -> dict[str, str]:
    return _field_columns("--symptom-col", "lbp_duration_months=pain_months", pairs)


MAX_MESSAGES = 20


def _flag_options(symptoms_path, criteria_name, symptom_cols, patterns) -> dict:
    """The checked options of a flagging: the profile is loaded (and refused if bad) before any work."""
    from .criteria import load
    from .nlp import default_patterns_dir

    if not Path(symptoms_path).is_file():
        raise ModicError(f"{symptoms_path}: no such file (--symptoms)")
    return {
        "symptoms_path": symptoms_path,
        "criteria": load(criteria_name, patterns or default_patterns_dir()),
        "columns": _symptom_columns(symptom_cols),
    }


def _flag_into(source_dir, dest_dir, symptoms_path, criteria, columns):
    from .run import flag_into

    return flag_into(source_dir, dest_dir, symptoms_path, criteria, columns)


def _flag_report(summary, quiet=False) -> None:
    for message in summary.messages[:MAX_MESSAGES]:
        click.echo(f"warning: {message}", err=True)
    if len(summary.messages) > MAX_MESSAGES:
        click.echo(f"warning: ... and {len(summary.messages) - MAX_MESSAGES} more unreadable values", err=True)
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts.items())
    click.echo(
        f"{sum(summary.counts.values())} patients under {summary.criteria!r}: {counts} -> {summary.path}", err=quiet
    )


def _flag(out_dir, symptoms_path, criteria_name, symptom_cols, patterns):
    from .outdir import FLAG, OutputFolder, refuse_overwrite

    options = _flag_options(symptoms_path, criteria_name, symptom_cols, patterns)
    refuse_overwrite([symptoms_path, options["criteria"].path], out_dir, "DIR", FLAG)
    folder = OutputFolder(out_dir, FLAG, "flag")
    try:
        with folder:
            summary = _flag_into(out_dir, folder.path, **options)
    except KeyboardInterrupt as exc:
        exc.note = f"interrupted: {out_dir} keeps its previous results"
        raise
    for note in folder.notes:
        click.echo(f"note: {note}", err=True)
    summary.path = Path(out_dir) / "patients.csv"
    _flag_report(summary)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_options(EXTRACT_OPTIONS)
def extract(**options):
    """Extract Modic changes, levels, endplate findings and exclusions from reports.

    INPUT is a .csv, .parquet or .jsonl file, or a folder of .txt files (report id = file
    name). Writes mentions.csv, findings.csv, reports.csv and results.duckdb to --out.
    """
    _extract(**options)


@main.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@_options([*FLAG_OPTIONS, PATTERNS_OPTION])
def flag(out_dir, symptoms_path, criteria_name, symptom_cols, patterns):
    """Flag possible vertebrogenic pain cases from DIR's extraction and a symptom table.

    Writes DIR/patients.csv and a `patients` table in DIR/results.duckdb: one row per
    patient with a status (candidate, needs_review, not_candidate), every reason, and
    the evidence sentences behind them.
    """
    _flag(out_dir, symptoms_path, criteria_name, symptom_cols, patterns)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_options([*EXTRACT_OPTIONS, *FLAG_OPTIONS])
def run(input_path, symptoms_path, criteria_name, symptom_cols, **options):
    """Extract from INPUT, then flag patients with the symptom table (extract + flag).

    The folder changes once, at the end: an interrupted run leaves the previous results."""
    flag_options = _flag_options(symptoms_path, criteria_name, symptom_cols, options["patterns"])
    _extract(input_path, **options, flag_options=flag_options)


@main.command()
@click.argument("name", required=False)
@_options([PATTERNS_OPTION])
def criteria(name, patterns):
    """List the bundled criteria profiles, or print one (copy it to make your own)."""
    from .criteria import bundled, load, resolve
    from .nlp import default_patterns_dir

    folder = patterns or default_patterns_dir()
    if name:
        click.echo(resolve(name, folder).read_text(encoding="utf-8"), nl=False)
        return
    for profile in bundled(folder):
        click.echo(f"{profile:<18} {load(profile, folder).description}")


@main.command()
@click.argument("gold_paths", metavar="GOLD...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--split",
    type=click.Choice(["all", "dev", "heldout"]),
    default="all",
    show_default=True,
    help="Which gold reports to score.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=Path("disagreements.csv"),
    show_default=True,
    help="Where to write the disagreements.",
)
@click.option(
    "--symptoms",
    "symptoms_path",
    type=click.Path(path_type=Path),
    help="Also flag the gold patients with this symptom table and compare their statuses with "
    "the statuses the gold imaging labels give.",
)
@click.option(
    "--criteria", "criteria_name", default="default", show_default=True, help="Criteria profile for --symptoms."
)
@_options([PATTERNS_OPTION])
def evaluate(gold_paths, split, out_path, symptoms_path, criteria_name, patterns):
    """Precision, recall and F1 against gold JSONL files (format of ANNOTATION.md).

    Several files are scored as one set (e.g. the lumbar MRI gold and the gold of other exams of the
    same patients). Where the gold labels exams, exam detection is scored too; with --symptoms the
    patients are flagged from the extraction and from the gold labels, and their statuses compared.
    """
    from .csvcells import escape_cell
    from .evaluate import evaluate as run_evaluate
    from .evaluate import status_agreement
    from .outdir import refuse_overwrite

    refuse_overwrite([*gold_paths, symptoms_path, patterns], out_path, "--out")
    analyzer = _analyzer(patterns)
    result, gold_reports, results = run_evaluate(list(gold_paths), analyzer, split)
    click.echo(result.table())
    rows = list(result.disagreements)
    if symptoms_path is not None:
        from .criteria import load
        from .symptoms import read_symptoms

        criteria = load(criteria_name, analyzer.patterns_dir)
        agreement = status_agreement(gold_reports, results, read_symptoms(symptoms_path), criteria)
        click.echo(agreement.line(criteria.name))
        rows += agreement.disagreements
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["report_id", "measure", "kind", "item", "sentence"])
        writer.writeheader()
        writer.writerows({k: escape_cell(v) for k, v in row.items()} for row in rows)  # safe for spreadsheets
    os.replace(partial, out_path)
    click.echo(f"disagreements with their sentences -> {out_path}")


# -- review page ---------------------------------------------------------------------------------
@main.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Page to write [default: DIR/review.html].",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["candidate", "needs_review", "not_candidate"]),
    help="Only patients with this status (repeatable). Needs patients.csv.",
)
@click.option("--limit", type=click.IntRange(1), help="At most N patients (in patients.csv order).")
def review(out_dir, html_path, statuses, limit):
    """Write one self-contained HTML page to check each patient's flag against the report texts.

    DIR is an output folder of `modic extract` (and `modic flag`): the page lists the patients
    with filters and shows each patient's reports in full with every mention highlighted.
    It needs no network; open it in a browser.
    """
    from .outdir import EXTRACTION, FolderLock, refuse_overwrite
    from .review import write_review

    if not Path(out_dir).is_dir():
        raise ModicError(f"{out_dir}: no such folder")
    read = [Path(out_dir) / name for name in (*EXTRACTION, "patients.csv")]
    if html_path is not None:
        refuse_overwrite(read, html_path, "--out")
    lock = None
    if html_path is None or Path(html_path).resolve().parent == Path(out_dir).resolve():
        lock = FolderLock(Path(out_dir), "review")  # the page goes into DIR: not while another run writes DIR
        lock.acquire()
    try:
        s = write_review(out_dir, html_path, statuses, limit)
    finally:
        if lock is not None:
            lock.release()
    of_total = f" of {s.total_patients:,}" if s.patients < s.total_patients else ""
    flagged = "" if s.flagged else " (not flagged: no patients.csv)"
    click.echo(
        f"{s.patients:,}{of_total} patients{flagged}, {s.reports:,} reports, {s.size / 1e6:.1f} MB -> {s.path}"
    )


# -- referral audit ------------------------------------------------------------------------------
def _referral_columns(pairs) -> dict[str, str]:
    return _field_columns("--referral-col", "referred_to=destination", pairs)


@main.command()
@click.argument("source_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--referrals",
    "referrals_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Referral table (.csv, .parquet or .jsonl): patient_id, referral_date, referred_to, "
    "optional procedure, site, provider.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder for the audit.")
@click.option(
    "--window-days",
    default=180,
    show_default=True,
    type=click.IntRange(0),
    help="A referral 0 to N days after the index MRI counts as referred.",
)
@click.option(
    "--referral-col",
    "referral_cols",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Read a referral field from another column, e.g. referred_to=destination (repeatable).",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Audit rule file [default: patterns/audit.toml]: specialist destinations and BVNA procedure names.",
)
@click.option("--quiet", is_flag=True, help="No warnings; the summary line goes to stderr.")
def audit(source_dir, referrals_path, out_dir, window_days, referral_cols, rules_path, quiet):
    """Audit referrals against the flags of DIR (a `modic flag`/`modic run` output folder).

    Writes summary, by_site, by_provider, by_month, candidates_not_referred,
    referrals_not_candidates, days_to_referral, modic_prevalence and unmatched_referrals as
    CSV, the same tables in audit.duckdb, and a self-contained audit.html to --out.
    """
    from .audit import PRODUCTS, load_rules, run_audit, write_audit
    from .outdir import OutputFolder, refuse_overwrite

    read = [Path(source_dir) / name for name in ("patients.csv", "findings.csv", "reports.csv")]
    refuse_overwrite([*read, referrals_path, rules_path], out_dir, "--out", PRODUCTS)
    rules = load_rules(rules_path)
    result = run_audit(source_dir, referrals_path, window_days, rules, _referral_columns(referral_cols))
    if not quiet:
        for message in result.messages[:MAX_MESSAGES]:
            click.echo(f"warning: {message}", err=True)
        if len(result.messages) > MAX_MESSAGES:
            click.echo(f"warning: ... and {len(result.messages) - MAX_MESSAGES} more unreadable values", err=True)
        if result.unmatched_destinations:
            names = ", ".join(f"{d!r} ({n})" for d, n in result.unmatched_destinations[:10])
            click.echo(f"warning: destinations no rule of {result.rules.path.name} names: {names}", err=True)
    try:
        with OutputFolder(out_dir, PRODUCTS, "audit") as folder:
            write_audit(result, folder.path)
    except KeyboardInterrupt as exc:
        exc.note = f"interrupted: {out_dir} keeps its previous audit"
        raise
    click.echo(result.line(out_dir), err=quiet)


if __name__ == "__main__":  # pragma: no cover
    main()
