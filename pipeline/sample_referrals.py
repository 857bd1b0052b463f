"""Write data/samples/referrals.csv for `modic audit`: `python -m pipeline.sample_referrals`.

The bundled reports and symptom table are run through the real extraction and flagging
(profile `default`) to learn each patient's status and index MRI date; then patients are
picked with a seeded random generator, from sorted lists, so the file is the same on every run.
The file covers every audit category: candidates referred within the window to spine surgery
and to pain medicine (some with a BVNA procedure and a CPT code), on the window's edges
(day 0 and day 180), never referred, referred to physiotherapy only, referred after the window
or only before the MRI; BVNA procedures of a not_candidate without qualifying Modic changes
and of one with nerve compression; specialist referrals of needs_review patients; cohort rows
with no referral (site and provider only); referrals for patient ids not in the cohort; an
unreadable date, a row without a patient id and a destination no rule names.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
PATTERNS = Path(__file__).resolve().parents[1] / "patterns"
COLUMNS = ("patient_id", "referral_date", "referred_to", "procedure", "site", "provider")
SEED = 20260311
WINDOW = 180

SITES = {
    "Northfield General Hospital": ("Dr Amara Okafor", "Dr Ben Haldane"),
    "Riverside Spine & Pain Clinic": ("Dr Chen Wei", "Dr Dana Petrova"),
    "Eastgate Medical Centre": ("Dr Elias Moreno", "Dr Fiona Walsh", "Dr Gita Rao"),
}
#: Share of candidates each site refers to a specialist within the window (sites differ on purpose).
REFERRAL_RATE = {
    "Northfield General Hospital": 0.8,
    "Riverside Spine & Pain Clinic": 0.9,
    "Eastgate Medical Centre": 0.5,
}
SPINE = ("Spine Surgery", "Orthopaedic Spine", "Neurosurgery", "Orthopedic spine surgery clinic")
PAIN = ("Pain Medicine", "Pain Management", "Interventional Pain Clinic")
NON_SPECIALIST = ("Physiotherapy", "Physical Therapy", "Chiropractic")
BVNA = (
    "Basivertebral nerve ablation (CPT 64628)",
    "Intracept BVNA L4-L5, L5-S1; CPT 64628 + 64629",
    "BVNA 64628",
    "Intracept procedure",
)


def flagged_patients(reports: Path, symptoms: Path) -> list[dict[str, str]]:
    """The patients.csv rows the real pipeline gives for the sample inputs (profile `default`)."""
    from .criteria import load
    from .csvcells import unescape
    from .io import Columns, ReportSource
    from .nlp import Analyzer
    from .run import extract, flag_dir

    with tempfile.TemporaryDirectory() as tmp:
        extract(ReportSource(reports, Columns()), Path(tmp), Analyzer(PATTERNS))
        flag_dir(Path(tmp), symptoms, load("default", PATTERNS))
        with open(Path(tmp) / "patients.csv", encoding="utf-8", newline="") as fh:
            return [{k: unescape(v) for k, v in row.items()} for row in csv.DictReader(fh)]


class _Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.rows: list[dict[str, str]] = []
        self.where: dict[str, tuple[str, str]] = {}

    def assign(self, pid: str) -> tuple[str, str]:
        site = self.rng.choice(sorted(SITES))
        self.where[pid] = (site, self.rng.choice(SITES[site]))
        return self.where[pid]

    def add(self, pid: str, date: dt.date | str | None, to: str = "", procedure: str = "", carry: bool = True):
        site, provider = self.where.get(pid, ("", "")) if carry else ("", "")
        text = date.isoformat() if isinstance(date, dt.date) else (date or "")
        self.rows.append(dict(zip(COLUMNS, (pid, text, to, procedure, site, provider))))


def _day(index: dt.date, days: int) -> dt.date:
    return index + dt.timedelta(days=days)


def build_rows(patients: list[dict[str, str]], seed: int = SEED) -> list[dict[str, str]]:
    """The referral rows for these patients (as patients.csv gives them)."""
    rng = random.Random(seed)
    w = _Writer(rng)
    dated = [p for p in sorted(patients, key=lambda p: p["patient_id"]) if p["index_report_date"]]
    index = {p["patient_id"]: dt.date.fromisoformat(p["index_report_date"]) for p in dated}
    by_status: dict[str, list[str]] = {}
    for p in dated:
        by_status.setdefault(p["status"], []).append(p["patient_id"])
    info = {p["patient_id"]: p for p in patients}

    # A few cohort patients have no row at all: their site and provider are unknown.
    absent = set(rng.sample(by_status["not_candidate"], 4)) | set(rng.sample(by_status["candidate"], 1))
    for p in sorted(patients, key=lambda p: p["patient_id"]):
        if p["patient_id"] not in absent:
            w.assign(p["patient_id"])

    # -- candidates
    candidates = [c for c in by_status["candidate"] if c not in absent]
    rng.shuffle(candidates)
    designed = {
        "physio_only": candidates[0],
        "after_window": candidates[1],
        "before_mri": candidates[2],
        "edge_day_0": candidates[3],
        "edge_day_180": candidates[4],
        "unreadable_date": candidates[5],
        "never_a": candidates[6],
        "never_b": candidates[7],
        "pain_bvna": candidates[8],
        "spine_bvna": candidates[9],
    }
    d = designed
    w.add(d["physio_only"], _day(index[d["physio_only"]], 21), "Physiotherapy")
    w.add(d["after_window"], _day(index[d["after_window"]], 35), "Physical therapy")
    w.add(d["after_window"], _day(index[d["after_window"]], 243), "Spine Surgery")
    w.add(d["before_mri"], _day(index[d["before_mri"]], -45), "Neurosurgery")
    w.add(d["edge_day_0"], index[d["edge_day_0"]], "Pain Management")
    w.add(d["edge_day_180"], _day(index[d["edge_day_180"]], WINDOW), "Orthopaedic Spine")
    w.add(d["unreadable_date"], _day(index[d["unreadable_date"]], 30).strftime("%d/%m/%Y"), "Spine Surgery")
    w.add(d["never_a"], None)
    w.add(d["never_b"], None)
    w.add(d["pain_bvna"], _day(index[d["pain_bvna"]], 40), "Pain Medicine")
    w.add(d["pain_bvna"], _day(index[d["pain_bvna"]], 131), "Pain Medicine", BVNA[0], carry=False)
    w.add(d["spine_bvna"], _day(index[d["spine_bvna"]], 12), "Neurosurgery")
    w.add(d["spine_bvna"], _day(index[d["spine_bvna"]], 98), "Interventional Pain Clinic", BVNA[1])
    for pid in candidates[10:]:
        site = w.where[pid][0]
        if rng.random() < REFERRAL_RATE[site]:
            days = rng.randint(3, 150)
            w.add(pid, _day(index[pid], days), rng.choice(SPINE + PAIN))
            if rng.random() < 0.35:
                w.add(pid, _day(index[pid], days + rng.randint(30, 120)), rng.choice(PAIN), rng.choice(BVNA))
        elif rng.random() < 0.5:
            w.add(pid, _day(index[pid], rng.randint(5, 90)), rng.choice(NON_SPECIALIST))
        else:
            w.add(pid, None)

    # -- needs_review: some referred to a specialist while review is pending
    review = [p for p in by_status.get("needs_review", []) if p not in absent]
    rng.shuffle(review)
    for i, pid in enumerate(review):
        if i < 4:
            w.add(pid, _day(index[pid], rng.randint(10, 120)), rng.choice(PAIN + SPINE))
        elif i < 8:
            w.add(pid, _day(index[pid], rng.randint(5, 60)), rng.choice(NON_SPECIALIST))
        else:
            w.add(pid, None)

    # -- not candidates: BVNA without qualifying imaging, BVNA despite nerve compression, referrals
    others = [p for p in by_status["not_candidate"] if p not in absent]
    no_modic = sorted(p for p in others if not info[p]["qualifying_levels"])
    compressed = sorted(p for p in others if "nerve_compression" in info[p]["reasons"] and info[p]["qualifying_levels"])
    bvna_no_modic = rng.choice(no_modic)
    bvna_compressed = rng.choice(compressed)
    w.add(bvna_no_modic, _day(index[bvna_no_modic], 60), "Pain Medicine")
    w.add(bvna_no_modic, _day(index[bvna_no_modic], 112), "Pain Medicine", "Intracept basivertebral nerve ablation")
    w.add(bvna_compressed, _day(index[bvna_compressed], 77), "Interventional Pain", "BVNA (CPT 64628)")
    done = {bvna_no_modic, bvna_compressed}
    rest = [p for p in others if p not in done]
    rng.shuffle(rest)
    for i, pid in enumerate(rest):
        if "nerve_compression" in info[pid]["reasons"] and rng.random() < 0.35:
            w.add(pid, _day(index[pid], rng.randint(7, 90)), rng.choice(SPINE))
        elif i % 16 == 0:
            w.add(pid, _day(index[pid], rng.randint(14, 120)), "Pain Management", "Epidural steroid injection")
        elif i % 4 == 0:
            w.add(pid, _day(index[pid], rng.randint(5, 150)), rng.choice(NON_SPECIALIST))
        elif i == 1:
            w.add(pid, _day(index[pid], 40), "Occupational health")  # no rule names it
        else:
            w.add(pid, None)

    # Patients without a dated index MRI (symptoms only): a cohort row each.
    for p in sorted(patients, key=lambda p: p["patient_id"]):
        if not p["index_report_date"] and p["patient_id"] not in absent:
            w.add(p["patient_id"], None)

    # Rows that do not join: patient ids not in the cohort, and a row without a patient id.
    w.rows.append(
        dict(zip(COLUMNS, ("P0999", "2022-05-17", "Spine Surgery", "", "Eastgate Medical Centre", "Dr Gita Rao")))
    )
    w.rows.append(dict(zip(COLUMNS, ("Q-17", "2023-01-09", "Pain Medicine", "BVNA 64628", "Northfield General Hospital",
                                     "Dr Ben Haldane"))))  # fmt: skip
    w.rows.append(dict(zip(COLUMNS, ("", "2021-11-30", "Physiotherapy", "", "Riverside Spine & Pain Clinic", ""))))
    return sorted(w.rows, key=lambda r: (r["patient_id"] == "", r["patient_id"], r["referral_date"]))


def write_referrals_csv(
    reports: Path = SAMPLES / "reports.csv",
    symptoms: Path = SAMPLES / "symptoms.csv",
    out: Path = SAMPLES / "referrals.csv",
) -> int:
    rows = build_rows(flagged_patients(reports, symptoms))
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    print(f"wrote {write_referrals_csv()} referral rows to {SAMPLES / 'referrals.csv'}", file=sys.stderr)
