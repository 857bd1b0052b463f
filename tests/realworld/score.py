"""Score the pipeline on real text written by others (../shared/realworld/), against the labels here.

The texts are not part of the project: the labels (labels_*.jsonl, no text) name each document by
its id, and this joins them with the texts when ../shared is present. Run from the repository root:

    python -m tests.realworld.score [--split dev|heldout|all]

It prints the tables `modic evaluate` prints (P/R/F1 of Modic level+type, endplate findings and
each exclusion, exam-kind accuracy), for the 575 lumbar MRI notes and for the MTSamples notes, and
the exclusions of both together (each of a document's six booleans is one decision).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from pipeline.evaluate import Evaluation, Score, score
from pipeline.nlp import Analyzer
from pipeline.run import process_texts
from pipeline.schema import EXCLUSIONS

HERE = Path(__file__).resolve().parent
REALWORLD = HERE.parents[2] / "shared" / "realworld"
SETS = {
    "lumbar notes": (["labels_lumbar_notes.jsonl"], "lumbar_radiologists_notes.csv", "report_id", "report_text"),
    "mtsamples": (
        ["labels_mtsamples_a.jsonl", "labels_mtsamples_b.jsonl", "labels_mtsamples_c.jsonl"],
        "mtsamples.csv",
        "",
        "transcription",
    ),
}


def _texts(name: str, id_col: str, text_col: str) -> dict[str, str]:
    csv.field_size_limit(1 << 30)
    with open(REALWORLD / name, encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh)
        if id_col:
            return {r[id_col]: r[text_col] for r in rows}
        return {f"MTS-{r['']}": r[text_col] for r in rows}


def items(which: str, split: str = "all") -> list[dict]:
    """The labelled documents of one set, in the gold format (report_text filled in from ../shared)."""
    label_files, text_file, id_col, text_col = SETS[which]
    texts = _texts(text_file, id_col, text_col)
    out = []
    for label_file in label_files:
        for line in (HERE / label_file).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if split in ("all", item["split"]):
                out.append({**item, "report_text": texts[item["report_id"]]})
    return out


def evaluate(analyzer: Analyzer, which: str, split: str = "all") -> Evaluation:
    gold = items(which, split)
    return score(gold, process_texts(analyzer, [g["report_text"] for g in gold]))


def exclusions(evaluations: list[Evaluation]) -> Score:
    """The six exclusions of every document together."""
    total = Score()
    for ev in evaluations:
        for name in EXCLUSIONS:
            s = ev.scores[name]
            total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["all", "dev", "heldout"], default="all")
    parser.add_argument("--disagreements", action="store_true", help="print every disagreement with its sentence")
    args = parser.parse_args()
    analyzer = Analyzer()
    evaluations = []
    for which in SETS:
        ev = evaluate(analyzer, which, args.split)
        evaluations.append(ev)
        print(f"== {which} ({args.split})\n{ev.table()}\n")
        if args.disagreements:
            for d in ev.disagreements:
                print(f"  {d['report_id']:>10} {d['measure']:<20} {d['kind']:<5} {d['item']:<30} {d['sentence'][:160]}")
    s = exclusions(evaluations)
    print(
        f"exclusions, both sets ({args.split}): P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  "
        f"(TP {s.tp}, FP {s.fp}, FN {s.fn})"
    )


if __name__ == "__main__":
    main()
