"""Regenerate data/samples/reports.csv from data/samples/gold.jsonl: `python -m pipeline.samples`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def write_reports_csv(gold: Path = SAMPLES / "gold.jsonl", out: Path = SAMPLES / "reports.csv") -> int:
    """The gold reports as a plain extraction input, in gold order; returns the row count."""
    rows = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["report_id", "patient_id", "report_date", "report_text"])
        for r in rows:
            writer.writerow([r["report_id"], r["patient_id"], r["report_date"], r["report_text"]])
    return len(rows)


if __name__ == "__main__":
    n = write_reports_csv()
    print(f"wrote {n} reports to {SAMPLES / 'reports.csv'}", file=sys.stderr)
