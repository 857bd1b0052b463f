"""A benchmark corpus of lumbar MRI reports built from the bundled samples.

Each report is a sample report padded, like real reports, with history, technique and
normal level-by-level findings, to about 250 words on average, with some variation in
case and layout. Seeded, so a corpus of N reports is the same on every run.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
HISTORY = [
    "CLINICAL HISTORY: Chronic low back pain for {n} months despite physiotherapy.",
    "Indication: low back pain, {n} months, no red flags. ?discogenic",
    "Clinical details: LBP with intermittent left buttock pain. Failed conservative treatment.",
    "HISTORY: {n} month history of axial back pain. Evaluate for degenerative disease.",
]
TECHNIQUE = [
    "TECHNIQUE: Sagittal T1, T2 and STIR; axial T2 images through the lumbar spine without contrast.",
    "Technique: Multiplanar multisequence MRI of the lumbar spine. No intravenous contrast.",
    "Sequences: sag T1, sag T2, sag STIR, axial T2 L3 to S1.",
]
GENERAL = [
    "Alignment is normal with preserved lumbar lordosis.",
    "Vertebral body heights are maintained throughout.",
    "The conus medullaris terminates normally at the L1 level with normal signal.",
    "Paraspinal soft tissues are unremarkable.",
    "Bone marrow signal is otherwise within normal limits.",
    "The visualised retroperitoneum is unremarkable.",
    "No aggressive osseous lesion is seen.",
    "The sacroiliac joints are unremarkable as far as visualised.",
    "There are five lumbar type vertebral bodies, numbered from the lumbosacral junction.",
    "Incidental note is made of a small simple left renal cyst.",
]
NORMAL_LEVEL = [
    "{lvl}: No disc bulge or protrusion. The central canal and neural foramina are patent.",
    "{lvl}: Mild disc desiccation without herniation. No significant canal or foraminal stenosis.",
    "{lvl}: Normal disc height and signal. Facet joints are unremarkable.",
    "{lvl}: Minimal annular bulge without neural contact. Mild facet hypertrophy.",
]
IMPRESSION = [
    "IMPRESSION:\n1. Degenerative changes of the lower lumbar spine as described.\n2. No high-grade canal stenosis.",
    "Conclusion: Lumbar spondylosis, most marked at the lower levels.",
    "OPINION: Degenerative disc disease as above; clinical correlation recommended.",
]


def sample_reports() -> list[dict[str, str]]:
    """The bundled lumbar MRI reports (those of gold.jsonl; reports.csv also holds other exams and notes)."""
    with open(ROOT / "data" / "samples" / "gold.jsonl", encoding="utf-8") as fh:
        lumbar = {json.loads(line)["report_id"] for line in fh if line.strip()}
    with open(ROOT / "data" / "samples" / "reports.csv", encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["report_id"] in lumbar]


def build(n: int, seed: int = 2026) -> Iterator[dict[str, str]]:
    """n reports as dicts with report_id, patient_id, report_date, report_text."""
    rng = random.Random(seed)
    samples = sample_reports()
    for i in range(n):
        base = rng.choice(samples)
        target = rng.randint(130, 370)
        parts = [rng.choice(HISTORY).format(n=rng.randint(3, 60)), rng.choice(TECHNIQUE), "FINDINGS:"]
        body = [base["report_text"]]
        words = sum(len(p.split()) for p in parts + body)
        fillers = [*GENERAL, *(t.format(lvl=lvl) for t in NORMAL_LEVEL for lvl in LEVELS)]
        while words < target - 25:
            sentence = rng.choice(fillers)
            body.insert(rng.randint(0, len(body)), sentence)
            words += len(sentence.split())
        text = "\n".join(parts + body + [rng.choice(IMPRESSION)])
        if rng.random() < 0.08:
            text = text.upper()
        yield {
            "report_id": f"B{i:08d}",
            "patient_id": f"BP{i // 2:07d}",
            "report_date": base["report_date"],
            "report_text": text,
        }


def write_csv(path: Path, n: int) -> int:
    words = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["report_id", "patient_id", "report_date", "report_text"])
        writer.writeheader()
        for row in build(n):
            words += len(row["report_text"].split())
            writer.writerow(row)
    return words


def write_parquet(path: Path, n: int, batch: int = 50_000) -> int:
    """Streamed in batches, so building a million-report file needs little memory."""
    words = 0
    schema = pa.schema([(c, pa.string()) for c in ("report_id", "patient_id", "report_date", "report_text")])
    with pq.ParquetWriter(path, schema) as writer:
        rows: list[dict[str, str]] = []
        for row in build(n):
            words += len(row["report_text"].split())
            rows.append(row)
            if len(rows) >= batch:
                writer.write_table(pa.Table.from_pylist(rows, schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema))
    return words
