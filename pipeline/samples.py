"""Regenerate the bundled sample inputs from the gold files: `python -m pipeline.samples`.

- reports.csv: the gold reports as a plain extraction input: the lumbar MRIs of gold.jsonl, then the
  other exams and notes of gold_exams.jsonl (a mixed extract, as a warehouse gives), with an
  `exam_name` column filled where a warehouse's procedure column would be.
- symptoms.csv: one or more symptom assessments per patient. Most patients get a plausible
  assessment near their latest lumbar MRI (seeded, so the file is reproducible); the patients in
  DESIGNED get rows written to exercise one rule each (nearest assessment, ties, the window
  edge, onset dates, unreadable values, patients with no MRI).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SYMPTOM_COLUMNS = (
    "patient_id", "assessment_date", "lbp_duration_months", "lbp_onset_date", "conservative_care_months",
    "radicular_pain", "odi", "pain_score", "bmi", "prior_lumbar_surgery",
)  # fmt: skip
OK = {"lbp_duration_months": "24", "conservative_care_months": "12", "radicular_pain": "no", "odi": "44",
      "pain_score": "7", "bmi": "29.5", "prior_lumbar_surgery": "no"}  # fmt: skip

# patient -> list of (days from the index MRI, overrides); None days = a literal assessment_date in overrides
DESIGNED: dict[str, list[tuple[int | None, dict[str, str]]]] = {
    "P101": [(-13, {}), (91, {"lbp_duration_months": "3"})],  # nearest assessment wins
    "P104": [(-5, {"lbp_duration_months": "4"})],  # lbp_duration_short
    "P105": [(-20, {"conservative_care_months": "3"})],  # conservative_care_short
    "P106": [(-7, {"lbp_duration_months": ""})],  # missing_lbp_duration
    "P107": [(2, {"conservative_care_months": ""})],  # missing_conservative_care
    "P111": [(-30, {"radicular_pain": "yes"})],  # radicular_pain
    "P114": [(-730, {})],  # only assessment outside the 365-day window: no_symptom_data
    "P116": [(-14, {"lbp_duration_months": "", "lbp_onset_date": "2019-01-01"})],  # months from onset
    "P119": [(-3, {"lbp_duration_months": "", "lbp_onset_date": "2023-12-20"})],  # onset 2 months before MRI
    "P121": [(-10, {}), (10, {"conservative_care_months": "2"})],  # tie: the earlier assessment is used
    "P122": [(-365, {})],  # on the window edge: used
    "P124": [(-366, {})],  # just outside the window: no_symptom_data
    "P125": [(-8, {"conservative_care_months": "six"})],  # unreadable number
    "P127": [(None, {"assessment_date": "31/02/2024"})],  # unreadable date
    "P129": [(-12, {"lbp_duration_months": "-3"})],  # negative months
    "P146": [(-4, {"radicular_pain": "maybe"})],  # unreadable yes/no
    "P150": [(-6, {"odi": "20", "pain_score": "3", "bmi": "42", "prior_lumbar_surgery": "yes"})],  # trial only
    "P163": [(-9, {"lbp_duration_months": "10"})],  # short for the 12-month payer profile only
    "P300": [(None, {"assessment_date": "2024-03-01"})],  # symptoms but no MRI: no_mri_report
    "P301": [(None, {"assessment_date": "2023-07-15", "radicular_pain": "yes"})],
    "": [(None, {"assessment_date": "2024-01-01"})],  # no patient id: reported, cannot be joined
}
NO_ASSESSMENT = {"P115"}  # an MRI but no symptom row at all


GOLD_FILES = (SAMPLES / "gold.jsonl", SAMPLES / "gold_exams.jsonl")
LUMBAR_MRI_REGIONS = ("lumbar", "thoracolumbar", "whole_spine")


def _gold(gold: Path) -> list[dict]:
    return [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]


def _is_lumbar_mri(item: dict) -> bool:
    exam = item["gold"].get("exam") or {"modality": "mri", "region": "lumbar", "document_type": "imaging_report"}
    kind = (exam["modality"], exam["document_type"])
    return kind == ("mri", "imaging_report") and exam["region"] in LUMBAR_MRI_REGIONS


def write_reports_csv(golds: tuple[Path, ...] = GOLD_FILES, out: Path = SAMPLES / "reports.csv") -> int:
    """The gold reports as a plain extraction input, in gold order; returns the row count."""
    rows = [r for gold in golds for r in _gold(gold)]
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["report_id", "patient_id", "report_date", "exam_name", "report_text"])
        for r in rows:
            exam = r.get("exam_name", "")
            writer.writerow([r["report_id"], r["patient_id"], r["report_date"], exam, r["report_text"]])
    return len(rows)


def _plausible(rng: random.Random) -> dict[str, str]:
    return {
        "lbp_duration_months": str(rng.choice([4, 7, 8, 12, 18, 24, 36, 60, 120, 200])),
        "conservative_care_months": str(rng.choice([3, 6, 6, 7, 9, 12, 18, 24, 36, 48])),
        "radicular_pain": rng.choice(["no", "no", "no", "no", "no", "yes", ""]),
        "odi": str(rng.randint(18, 72)),
        "pain_score": str(rng.randint(3, 9)),
        "bmi": f"{rng.uniform(20, 44):.1f}",
        "prior_lumbar_surgery": rng.choice(["no"] * 9 + ["yes"]),
    }


def _latest(items: list[dict]) -> dict[str, dt.date]:
    """Each patient's latest lumbar MRI date (by the gold exam labels), else their latest report's."""
    mri: dict[str, dt.date] = {}
    any_report: dict[str, dt.date] = {}
    for r in items:
        date = dt.date.fromisoformat(r["report_date"])
        p = r["patient_id"]
        any_report[p] = max(any_report.get(p, date), date)
        if _is_lumbar_mri(r):
            mri[p] = max(mri.get(p, date), date)
    return {p: mri.get(p, d) for p, d in any_report.items()}


def write_symptoms_csv(golds: tuple[Path, ...] = GOLD_FILES, out: Path = SAMPLES / "symptoms.csv") -> int:
    """The sample symptom table; returns the row count.

    The patients of the first gold file come first, drawn from one seeded generator; patients found
    only in the later files (who have other exams only, or a whole-spine MRI) come after, each from a
    generator seeded with their own id, so adding patients leaves every other row as it was."""
    first = _gold(golds[0])
    everything = [r for gold in golds for r in _gold(gold)]
    known_latest = _latest(first)
    latest = {**_latest(everything), **known_latest}  # a first-file patient keeps the date that file gives
    known = set(known_latest)
    first_rng = random.Random(20261125)
    rows = []
    order = sorted(known) + [p for p in DESIGNED if p not in latest] + sorted(set(latest) - known)
    for patient in order:
        if patient in NO_ASSESSMENT:
            continue
        rng = first_rng if patient in known or patient not in latest else random.Random(f"20261203-{patient}")
        for days, overrides in DESIGNED.get(patient, [(rng.randint(-60, 20), _plausible(rng))]):
            row = {"patient_id": patient, **OK}
            if days is not None:
                row["assessment_date"] = (latest[patient] + dt.timedelta(days=days)).isoformat()
            row.update(overrides)
            rows.append(row)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SYMPTOM_COLUMNS, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    print(f"wrote {write_reports_csv()} reports to {SAMPLES / 'reports.csv'}", file=sys.stderr)
    print(f"wrote {write_symptoms_csv()} assessments to {SAMPLES / 'symptoms.csv'}", file=sys.stderr)
