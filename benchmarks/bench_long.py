"""Seconds to analyse one very long report, by shape and size: is the work linear in the text?

Normal reports are 0.5-5 KB; a warehouse extract may still hold a pathological document (a
whole chart pasted into one row, a text with no line breaks or full stops, a run of one
token). Each shape below is built from the bundled samples (data/samples/reports.csv) and cut
to each size, then run once through `pipeline.run.process_texts` (exam detection, sentences,
target search, ConText, levels, findings), each size after the one before, in one process:

- realistic: the sample reports one after another, as written;
- paragraph: the same words as one paragraph, with no line break and no full stop;
- lines: the same lines with no full stop;
- token: one trigger word ("modic ") over and over;
- levels: a list of disc levels ("L4-5, ") over and over;
- numbered: a run of list numbers ("1. 2. 3. ...") between Modic mentions;
- blanks: "Modic type" and 1,000 blanks (a padded layout), over and over.

Linear work shows as seconds that double with the size. A report over
pipeline.run.MAX_REPORT_CHARS is refused, not analysed; `--no-limit` lifts the limit for
the run, to time the sizes past it.

    python benchmarks/bench_long.py [--sizes 100000 500000 1000000] [--shapes paragraph token] [--stages]
                                    [--repeat 3] [--no-limit]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import run  # noqa: E402
from pipeline.extract import mentions_of  # noqa: E402
from pipeline.nlp import Analyzer  # noqa: E402
from pipeline.resolve import resolve, summarise  # noqa: E402


def _reports() -> list[str]:
    with open(ROOT / "data" / "samples" / "reports.csv", newline="", encoding="utf-8") as fh:
        return [row["report_text"] for row in csv.DictReader(fh) if row["report_text"].strip()]


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def shapes(size: int) -> dict[str, str]:
    """Each shape's text, `size` characters long."""
    joined = "\n\n".join(_reports())
    no_stops = joined.replace(".", " ")
    lines = "\n".join(" ".join(line.split()) for line in no_stops.split("\n") if line.strip())
    numbered = " ".join(f"{i % 20}." for i in range(1, 200)) + " Modic type 1 change at L4-5, "
    return {
        "realistic": _fill(joined + "\n\n", size),
        "paragraph": _fill(" ".join(no_stops.split()) + " ", size),
        "lines": _fill(lines + "\n", size),
        "token": _fill("modic ", size),
        "levels": _fill("L4-5, ", size),
        "numbered": _fill(numbered, size),
        "blanks": _fill("Modic type" + " " * 1000 + "1 at L4-5. ", size),
    }


def _stages(analyzer: Analyzer, text: str) -> dict[str, float]:
    """Seconds of each stage of process_texts for one text (the limit is not applied)."""
    out = {}
    t0 = time.perf_counter()
    exam = analyzer.exams.detect(text)
    out["exam"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = analyzer._prepare(text)
    out["sentences+targets"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for part in report.parts:
        part.doc = analyzer.nlp(part.doc)
    out["context"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mentions = mentions_of(report, exam)
    out["mentions"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    summarise(mentions, resolve(mentions))
    out["resolve"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000, 1_000_000])
    parser.add_argument("--shapes", nargs="+", default=None, help="only these shapes")
    parser.add_argument("--stages", action="store_true", help="also print each stage's seconds")
    parser.add_argument("--no-limit", action="store_true", help="analyse reports over MAX_REPORT_CHARS too")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each text; the fastest is shown")
    parser.add_argument("--patterns", type=Path, default=ROOT / "patterns")
    args = parser.parse_args()
    if args.no_limit:
        run.MAX_REPORT_CHARS = max(args.sizes)
    analyzer = Analyzer(args.patterns)
    list(analyzer.analyse(["warm-up: Modic type 1 change at L4-5."]))
    names = args.shapes or list(shapes(10))
    print(f"{'shape':<10}" + "".join(f"{size:>12,}" for size in args.sizes) + "   (seconds; characters)")
    for name in names:
        cells = []
        details = []
        for size in args.sizes:
            text = shapes(size)[name]
            seconds = float("inf")
            for _ in range(max(1, args.repeat)):  # noise on a shared machine only ever adds time
                t0 = time.perf_counter()
                (result,) = run.process_texts(analyzer, [text])
                seconds = min(seconds, time.perf_counter() - t0)
            cells.append(f"{seconds:>11.2f}{'*' if result.status != 'ok' else ' '}")
            if args.stages:
                stage = _stages(analyzer, text)
                details.append(f"  {size:>10,}: " + ", ".join(f"{k} {v:.2f}" for k, v in stage.items()))
        print(f"{name:<10}" + "".join(cells), flush=True)
        for line in details:
            print(line, flush=True)
    print(f"(* not analysed: over MAX_REPORT_CHARS = {getattr(run, 'MAX_REPORT_CHARS', None)})")


if __name__ == "__main__":
    main()
