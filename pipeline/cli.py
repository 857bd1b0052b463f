"""The `modic` command. Thin: parse options, call one function per command, report errors in one line."""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import ModicError

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
        try:
            return super().invoke(ctx)
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
            raise click.ClickException(
                f"unexpected error: {type(exc).__name__}: {exc} (set MODIC_DEBUG=1 to see the traceback)"
            ) from None


@click.group(cls=ModicGroup)
@click.version_option(__version__, prog_name="modic")
def main() -> None:
    """Modic endplate changes and exclusion findings from lumbar spine MRI reports."""


def _analyzer(patterns: Path | None):
    from .nlp import Analyzer

    return Analyzer(patterns)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--id-col", default="report_id", show_default=True, help="Column holding the report id.")
@click.option("--text-col", default="report_text", show_default=True, help="Column holding the report text.")
@click.option("--patient-col", default=None, help="Column holding the patient id [default: patient_id, if present].")
@click.option("--date-col", default=None, help="Column holding the report date [default: report_date, if present].")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the input.")
@click.option("--chunk-size", default=1000, show_default=True, type=click.IntRange(1), help="Reports per chunk.")
@click.option("--patterns", type=click.Path(path_type=Path, file_okay=False), help=PATTERNS_HELP)
@click.option("--quiet", is_flag=True, help="No progress output.")
def extract(input_path, out_dir, id_col, text_col, patient_col, date_col, encoding, chunk_size, patterns, quiet):
    """Extract Modic changes, levels, endplate findings and exclusions from reports.

    INPUT is a .csv, .parquet or .jsonl file, or a folder of .txt files (report id = file
    name). Writes mentions.csv, findings.csv, reports.csv and results.duckdb to --out.
    """
    from .io import Columns, ReportSource
    from .run import extract as run_extract

    columns = Columns(
        report_id=id_col,
        report_text=text_col,
        patient_id=patient_col or "patient_id",
        report_date=date_col or "report_date",
        patient_given=patient_col is not None,
        date_given=date_col is not None,
    )
    source = ReportSource(input_path, columns, chunk_size=chunk_size, encoding=encoding)
    analyzer = _analyzer(patterns)
    for warning in source.warnings:
        click.echo(f"warning: {warning}", err=True)
    progress = Progress(source.n_rows, quiet)
    started = time.monotonic()
    try:
        counts = run_extract(source, out_dir, analyzer, progress)
    finally:
        progress.close()
    seconds = time.monotonic() - started
    total = sum(counts.values())
    click.echo(
        f"{total} reports in {seconds:.1f} s ({total / max(seconds, 1e-9):.0f}/s): "
        f"{counts['ok']} ok, {counts['empty']} empty, {counts['error']} error -> {out_dir}/"
        "{mentions,findings,reports}.csv, results.duckdb",
        err=quiet,
    )


@main.command()
@click.argument("gold_path", metavar="GOLD", type=click.Path(path_type=Path))
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
@click.option("--patterns", type=click.Path(path_type=Path, file_okay=False), help=PATTERNS_HELP)
def evaluate(gold_path, split, out_path, patterns):
    """Precision, recall and F1 against a gold JSONL file (format of ANNOTATION.md)."""
    from .evaluate import evaluate as run_evaluate

    result = run_evaluate(gold_path, _analyzer(patterns), split)
    click.echo(result.table())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["report_id", "measure", "kind", "item", "sentence"])
        writer.writeheader()
        writer.writerows(result.disagreements)
    click.echo(f"disagreements with their sentences -> {out_path}")


if __name__ == "__main__":  # pragma: no cover
    main()
