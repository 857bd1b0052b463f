"""How long `modic review` takes on N synthetic patients (default 10,000), how big the page is, and
how quickly it loads and filters in headless Chromium.

The folder is made the way a user makes one: reports from the benchmark corpus (about 250 words
each; one to three per patient, 1.3 on average) go through `modic extract`, and a synthetic
symptom table through `modic flag`. Then `modic review` runs in a fresh process.

    python benchmarks/bench_review.py [--patients 10000] [--keep DIR] [--no-browser]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402

from pipeline.criteria import load  # noqa: E402
from pipeline.io import ReportSource  # noqa: E402
from pipeline.nlp import Analyzer  # noqa: E402
from pipeline.run import extract, flag_dir  # noqa: E402


def make_folder(folder: Path, n_patients: int, seed: int = 5) -> int:
    """Reports and symptoms of n_patients, extracted and flagged into folder; returns the report count."""
    rng = random.Random(seed)
    start = dt.date(2018, 1, 1)
    owners = []
    for p in range(n_patients):
        owners += [p] * rng.choice([1, 1, 1, 1, 2, 3])
    reports_csv, symptoms_csv = folder / "input.csv", folder / "symptoms.csv"
    with open(reports_csv, "w", encoding="utf-8", newline="") as fh, open(symptoms_csv, "w", newline="") as sh:
        writer = csv.DictWriter(fh, fieldnames=["report_id", "patient_id", "report_date", "report_text"])
        writer.writeheader()
        symptoms = csv.writer(sh)
        symptoms.writerow(["patient_id", "assessment_date", "lbp_duration_months", "conservative_care_months",
                           "radicular_pain", "odi", "pain_score"])  # fmt: skip
        seen = set()
        for row, owner in zip(corpus.build(len(owners)), owners):
            date = start + dt.timedelta(days=rng.randint(0, 2200))
            row["patient_id"] = f"BP{owner:06d}"
            row["report_date"] = date.isoformat()
            writer.writerow(row)
            if owner not in seen and rng.random() < 0.92:
                seen.add(owner)
                symptoms.writerow([row["patient_id"], date + dt.timedelta(days=rng.randint(-60, 20)),
                                   rng.randint(2, 96), rng.randint(0, 30), rng.choice(["no", "no", "no", "yes"]),
                                   rng.randint(10, 80), rng.randint(2, 10)])  # fmt: skip
    source = ReportSource(reports_csv)
    extract(source, folder / "out", Analyzer(ROOT / "patterns"), jobs=0)
    flag_dir(folder / "out", symptoms_csv, load("default", ROOT / "patterns"))
    return len(owners)


def time_review(out: Path) -> tuple[float, float, str]:
    """Wall time and peak RSS (MiB) of `modic review out` in a fresh process, and what it printed."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "review", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(printed)
    return seconds, usage.ru_maxrss / 1024, printed.strip()


def time_browser(page_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium on PATH: page timings skipped")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        loads = []
        for _ in range(3):
            t0 = time.perf_counter()
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            loads.append(time.perf_counter() - t0)
        in_page = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        print(f"page load (goto to first list rendered), best of 3: {min(loads) * 1000:,.0f} ms "
              f"(DOMContentLoaded at {in_page:,.0f} ms)")  # fmt: skip

        def timed(js: str) -> float:
            return page.evaluate("() => { const t0 = performance.now(); " + js + "; return performance.now() - t0; }")

        status = timed("document.querySelector(\"#status-chips [data-status='candidate']\").click()")
        count = page.locator("#count").inner_text()
        level = timed(
            "const s = document.getElementById('f-level'); s.value = 'L4-L5'; s.dispatchEvent(new Event('change'))"
        )
        count_level = page.locator("#count").inner_text()
        search = timed(
            "const i = document.getElementById('f-search'); i.value = 'bp0001'; i.dispatchEvent(new Event('input'))"
        )
        count_search = page.locator("#count").inner_text()
        clear = timed("document.getElementById('f-clear').click()")
        key = page.locator("#patients-body tr[data-key]").first.get_attribute("data-key")
        open_ms = timed(f"location.hash = 'patient={key}'; window.dispatchEvent(new HashChangeEvent('hashchange'))")
        print(f"filter by status:          {status:6.1f} ms  ({count})")
        print(f"then by level:             {level:6.1f} ms  ({count_level})")
        print(f"then search 'bp0001':      {search:6.1f} ms  ({count_search})")
        print(f"clear all filters:         {clear:6.1f} ms")
        print(f"open a patient:            {open_ms:6.1f} ms")
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0")
        if heap:
            print(f"JS heap used: {heap:,.0f} MiB")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="Build the folder here and keep it (reused if it exists).")
    parser.add_argument("--no-browser", action="store_true", help="Skip the page timings.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "out"
        if (out / "patients.csv").is_file():
            print(f"reusing {out}")
        else:
            t0 = time.perf_counter()
            n_reports = make_folder(folder, args.patients)
            print(f"synthetic folder: {args.patients:,} patients, {n_reports:,} reports "
                  f"(extract + flag {time.perf_counter() - t0:.1f} s)")  # fmt: skip
        texts = (out / "texts.parquet").stat().st_size
        mentions = (out / "mentions.csv").stat().st_size
        print(f"texts.parquet {texts / 1e6:.1f} MB, mentions.csv {mentions / 1e6:.1f} MB")
        runs = [time_review(out) for _ in range(3)]
        seconds, peak, line = min(runs)
        page = out / "review.html"
        print(f"`modic review` (fresh process, best of 3): {seconds:.2f} s, peak RSS {peak:,.0f} MiB")
        print(f"  {line}")
        print(f"page size {page.stat().st_size / 1e6:.1f} MB")
        if not args.no_browser:
            time_browser(page)


if __name__ == "__main__":
    main()
