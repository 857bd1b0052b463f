"""How long `modic flag` takes on N synthetic patients (default 100,000).

Writes synthetic reports.csv / findings.csv (what `modic extract` would have written for a mixed
extract: mostly lumbar MRIs, some other exams and notes) and a
symptom table into a temporary folder, then times reading, judging and writing separately.

    python benchmarks/bench_flag.py [--patients 100000] [--criteria default]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.criteria import load  # noqa: E402
from pipeline.flag import flag, load_extraction  # noqa: E402
from pipeline.run import flag_dir  # noqa: E402
from pipeline.schema import EXCLUSIONS, FINDING_COLUMNS, REPORT_COLUMNS  # noqa: E402
from pipeline.symptoms import read_symptoms  # noqa: E402

LEVELS = ["L2-L3", "L3-L4", "L4-L5", "L5-S1"]
TYPES = ["1", "2", "1/2", "3", "unspecified"]


KINDS = [
    ("mri", "lumbar", "imaging_report"),
    ("mri", "cervical", "imaging_report"),
    ("ct", "lumbar", "imaging_report"),
    ("unknown", "lumbar", "operative_note"),
]


def synthesise(folder: Path, n: int, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    start = dt.date(2019, 1, 1)
    n_reports = n_findings = 0
    with (
        open(folder / "reports.csv", "w", newline="") as r_fh,
        open(folder / "findings.csv", "w", newline="") as f_fh,
        open(folder / "symptoms.csv", "w", newline="") as s_fh,
    ):
        reports = csv.DictWriter(r_fh, fieldnames=REPORT_COLUMNS)
        findings = csv.DictWriter(f_fh, fieldnames=FINDING_COLUMNS)
        symptoms = csv.writer(s_fh)
        reports.writeheader()
        findings.writeheader()
        symptoms.writerow(
            ["patient_id", "assessment_date", "lbp_duration_months", "conservative_care_months", "radicular_pain"]
        )
        for p in range(n):
            pid = f"P{p:07d}"
            for k in range(rng.choice([1, 1, 1, 2])):
                n_reports += 1
                rid = f"R{p:07d}-{k}"
                date = start + dt.timedelta(days=rng.randint(0, 2000))
                # a mixed extract: mostly lumbar MRIs, some other exams and notes
                exam = rng.choices(KINDS, weights=[80, 10, 5, 5])[0]
                modic = [(lv, rng.choice(TYPES)) for lv in rng.sample(LEVELS, rng.choice([0, 0, 1, 1, 2]))]
                excl = {name: rng.random() < 0.06 for name in EXCLUSIONS}
                ids = {"report_id": rid, "patient_id": pid, "report_date": date}
                reports.writerow(
                    {
                        **ids,
                        "status": "ok",
                        "exam_modality": exam[0],
                        "exam_region": exam[1],
                        "document_type": exam[2],
                        "exam_source": "text",
                        "exam_evidence": "",
                        "n_mentions": len(modic) + 2,
                        "modic_levels": ";".join(f"{lv}:{t}" for lv, t in sorted(modic)),
                        "qualifying_modic": "false",
                        **{e: "true" if excl[e] else "false" for e in EXCLUSIONS},
                    }
                )
                for lv, t in modic:
                    n_findings += 1
                    findings.writerow(
                        {
                            **ids,
                            "level": lv,
                            "region": "lumbar",
                            "lumbar": "true",
                            "finding": "modic",
                            "modic_type": t,
                            "uncertain": "true" if rng.random() < 0.1 else "false",
                            "section": "findings",
                            "evidence": f"Modic type {t} change at {lv}.",
                            "start_char": 10,
                            "end_char": 22,
                        }
                    )
                for e in EXCLUSIONS:
                    if excl[e]:
                        n_findings += 1
                        findings.writerow(
                            {
                                **ids,
                                "level": "",
                                "region": exam[1],
                                "lumbar": "true",
                                "finding": e,
                                "uncertain": "false",
                                "section": "findings",
                                "evidence": f"{e} sentence.",
                                "start_char": 0,
                                "end_char": 5,
                            }
                        )
                if rng.random() < 0.9:
                    symptoms.writerow(
                        [
                            pid,
                            date + dt.timedelta(days=rng.randint(-90, 30)),
                            rng.randint(1, 120),
                            rng.randint(0, 36),
                            rng.choice(["no", "no", "no", "yes"]),
                        ]
                    )
    return n_reports, n_findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--criteria", default="default")
    args = parser.parse_args()
    criteria = load(args.criteria, ROOT / "patterns")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n_reports, n_findings = synthesise(folder, args.patients)
        print(f"synthetic input: {args.patients:,} patients, {n_reports:,} reports, {n_findings:,} findings")
        t0 = time.perf_counter()
        reports = load_extraction(folder)
        t1 = time.perf_counter()
        symptoms = read_symptoms(folder / "symptoms.csv")
        t2 = time.perf_counter()
        results = flag(reports, symptoms, criteria)
        t3 = time.perf_counter()
        print(f"read extraction tables  {t1 - t0:6.2f} s")
        print(f"read symptom table      {t2 - t1:6.2f} s")
        print(f"judge {len(results):,} patients {t3 - t2:6.2f} s")
        t4 = time.perf_counter()
        summary = flag_dir(folder, folder / "symptoms.csv", criteria)
        t5 = time.perf_counter()
        print(
            f"`modic flag` end to end (read, judge, write CSV + DuckDB): {t5 - t4:.2f} s "
            f"({args.patients / (t5 - t4):,.0f} patients/s); {summary.counts}"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
