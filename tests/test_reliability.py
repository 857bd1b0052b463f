"""Output folders as a whole: inputs never overwritten, one run at a time, kills and signals leave the
previous results, --resume ends where an uncut run ends, a full disk is cleaned up.

Runs are real `modic` processes (python -m pipeline.cli) killed with real signals."""

from __future__ import annotations

import csv
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MODIC = [sys.executable, "-m", "pipeline.cli"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def corpus(path: Path, n: int) -> Path:
    """n reports made of the bundled samples' texts, with new ids (a CSV)."""
    with open(SAMPLES / "reports.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["report_id", "patient_id", "report_date", "report_text"])
        for i in range(n):
            r = rows[i % len(rows)]
            writer.writerow([f"R{i:06d}", f"P{i // 3:06d}", r["report_date"], r["report_text"]])
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Each file's checksum; for a DuckDB file, a checksum of its tables' rows (the file's bytes vary)."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
                rows = {name: con.execute(f"SELECT * FROM {name}").fetchall() for name in sorted(names)}
            finally:
                con.close()
            out[path.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        else:
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def start(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*MODIC, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a shell gives a command: signals reach the workers
        **kwargs,
    )


def wait_for(condition, timeout=120.0, step=0.005):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


def journal_lines(out: Path) -> int:
    journal = out.parent / f".{out.name}.modic-staging" / ".modic-work" / "journal.jsonl"
    try:
        return journal.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- inputs are read-only -----------------------------------------------------------------------
def test_extract_into_the_folder_of_its_input_is_refused_and_the_input_kept(tmp_path):
    src = tmp_path / "reports.csv"
    shutil.copy(SAMPLES / "reports.csv", src)
    before = src.read_bytes()
    result = invoke("extract", src, "--out", tmp_path)
    assert result.exit_code == 1
    assert "would replace the input reports.csv" in result.output
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports.csv"]


def test_an_input_inside_the_output_folder_with_another_name_is_carried_over(tmp_path):
    src = tmp_path / "my_reports.csv"
    shutil.copy(SAMPLES / "reports.csv", src)
    assert invoke("extract", src, "--out", tmp_path, "--quiet").exit_code == 0
    assert src.read_bytes() == (SAMPLES / "reports.csv").read_bytes()
    assert (tmp_path / "reports.csv").is_file()


def test_symptoms_in_the_output_folder_under_an_output_name_are_refused(tmp_path, sample_out):
    symptoms = sample_out / "patients.csv"
    shutil.copy(SAMPLES / "symptoms.csv", symptoms)
    result = invoke("flag", sample_out, "--symptoms", symptoms)
    assert result.exit_code == 1 and "would replace the input patients.csv" in result.output
    assert symptoms.read_bytes() == (SAMPLES / "symptoms.csv").read_bytes()
    result = invoke("run", SAMPLES / "reports.csv", "--out", sample_out, "--symptoms", symptoms)
    assert result.exit_code == 1 and "would replace the input patients.csv" in result.output


def test_review_and_evaluate_refuse_to_overwrite_their_inputs(tmp_path, sample_out):
    before = (sample_out / "reports.csv").read_bytes()
    result = invoke("review", sample_out, "--out", sample_out / "reports.csv")
    assert result.exit_code == 1 and "is the input file" in result.output
    assert (sample_out / "reports.csv").read_bytes() == before
    gold = tmp_path / "gold.jsonl"
    shutil.copy(SAMPLES / "gold.jsonl", gold)
    result = invoke("evaluate", gold, "--out", gold)
    assert result.exit_code == 1 and "is the input file" in result.output
    assert gold.read_bytes() == (SAMPLES / "gold.jsonl").read_bytes()


def test_audit_refuses_to_overwrite_its_referrals(tmp_path, sample_out):
    referrals = tmp_path / "audit" / "summary.csv"
    referrals.parent.mkdir()
    shutil.copy(SAMPLES / "referrals.csv", referrals)
    assert invoke("flag", sample_out, "--symptoms", SAMPLES / "symptoms.csv").exit_code == 0
    result = invoke("audit", sample_out, "--referrals", referrals, "--out", referrals.parent)
    assert result.exit_code == 1 and "would replace the input summary.csv" in result.output
    assert referrals.read_bytes() == (SAMPLES / "referrals.csv").read_bytes()


@pytest.fixture
def sample_out(tmp_path):
    out = tmp_path / "out"
    assert invoke("extract", SAMPLES / "reports.csv", "--out", out, "--quiet").exit_code == 0
    return out


# -- stale files ----------------------------------------------------------------------------------
def test_a_new_extraction_removes_the_earlier_flags_and_says_so(tmp_path, sample_out):
    assert invoke("flag", sample_out, "--symptoms", SAMPLES / "symptoms.csv").exit_code == 0
    assert invoke("review", sample_out).exit_code == 0
    (sample_out / "notes.txt").write_text("mine")
    result = invoke("extract", SAMPLES / "reports.csv", "--out", sample_out, "--quiet")
    assert result.exit_code == 0
    assert "note: removed patients.csv, review.html of the earlier run" in result.output
    names = sorted(p.name for p in sample_out.iterdir())
    assert names == ["findings.csv", "mentions.csv", "notes.txt", "reports.csv", "results.duckdb", "texts.parquet"]
    assert (sample_out / "notes.txt").read_text() == "mine"
    con = duckdb.connect(str(sample_out / "results.duckdb"), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert "patients" not in tables
    # the next commands work on the new folder
    assert invoke("review", sample_out).exit_code == 0
    assert invoke("flag", sample_out, "--symptoms", SAMPLES / "symptoms.csv").exit_code == 0


def test_review_of_a_status_no_patient_has(tmp_path, sample_out):
    header_only = tmp_path / "symptoms.csv"
    header_only.write_text((SAMPLES / "symptoms.csv").read_text().splitlines()[0] + "\n")
    assert invoke("flag", sample_out, "--symptoms", header_only).exit_code == 0
    result = invoke("review", sample_out, "--status", "candidate", "--out", tmp_path / "page.html")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 of ")


def test_flag_changes_the_folder_as_a_whole(tmp_path, sample_out):
    """A flagging that fails half-way (a bad symptom table) leaves the folder as it was."""
    before = snapshot(sample_out)
    bad = tmp_path / "symptoms.csv"
    bad.write_text("no,such,columns\n1,2,3\n")
    result = invoke("flag", sample_out, "--symptoms", bad)
    assert result.exit_code == 1
    assert snapshot(sample_out) == before
    assert leftovers(sample_out) == []


# -- one run at a time ------------------------------------------------------------------------------
def test_a_second_run_into_the_same_folder_fails_at_once_naming_the_first(tmp_path):
    reports = corpus(tmp_path / "reports.csv", 3000)
    out = tmp_path / "out"
    first = start("extract", reports, "--out", out, "--quiet")
    try:
        wait_for(lambda: (tmp_path / ".out.modic-lock").exists() or first.poll() is not None)
        began = time.monotonic()
        second = invoke("extract", SAMPLES / "reports.csv", "--out", out, "--quiet")
        assert time.monotonic() - began < 10
        assert second.exit_code == 1
        assert f"is being written by another modic run (pid {first.pid}, started " in second.output
        assert first.wait(300) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert snapshot(out) == snapshot(extract(reports, tmp_path / "again"))
    assert leftovers(out) == []


def extract(reports: Path, out: Path, *options) -> Path:
    done = subprocess.run(
        [*MODIC, "extract", str(reports), "--out", str(out), "--quiet", *options], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return out


# -- kills, signals, resume -----------------------------------------------------------------------
def test_kills_at_random_moments_leave_old_or_new_results_and_resume_is_exact(tmp_path):
    """A 50,000-report run killed (SIGKILL) several times, once while results.duckdb is loaded: after
    each kill the folder holds the previous complete results; --resume ends where an uncut run ends."""
    reports = corpus(tmp_path / "reports.csv", 50_000)
    small = corpus(tmp_path / "small.csv", 300)
    options = ("--jobs", "2", "--chunk-size", "500")
    new = snapshot(extract(reports, tmp_path / "uncut", *options))
    out = extract(small, tmp_path / "out")
    old = snapshot(out)
    rng = random.Random(11)
    staging = tmp_path / ".out.modic-staging"
    for attempt in range(4):
        run = start("extract", reports, "--out", out, "--quiet", *options, *(["--resume"] if attempt else []))
        if attempt < 3:  # at a random moment once chunks are being committed
            wait_for(lambda run=run: journal_lines(out) >= 2 or run.poll() is not None)
            time.sleep(rng.uniform(0.0, 6.0))
        else:  # while the database is loaded
            wait_for(lambda run=run: (staging / "results.duckdb.partial").exists() or run.poll() is not None)
        assert run.poll() is None, "the run ended before it could be killed"
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        assert snapshot(out) == old, f"kill {attempt + 1}: the folder is not the previous result"
    done = start("extract", reports, "--out", out, "--quiet", *options, "--resume")
    stdout, stderr = done.communicate(timeout=600)
    assert done.returncode == 0, stderr
    assert snapshot(out) == new
    assert leftovers(out) == []


def killed_run(reports: Path, out: Path) -> None:
    """An extraction (chunks of 200) killed once three chunks are committed."""
    run = start("extract", reports, "--out", out, "--quiet", "--chunk-size", "200")
    wait_for(lambda: journal_lines(out) >= 3 or run.poll() is not None)
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


def test_resume_refuses_changed_rules_or_options_and_a_new_run_cleans_up(tmp_path):
    reports = corpus(tmp_path / "reports.csv", 4000)
    out = tmp_path / "out"
    killed_run(reports, out)
    patterns = tmp_path / "patterns"
    shutil.copytree(ROOT / "patterns", patterns)
    rules = patterns / "context_rules.json"
    rules.write_text(rules.read_text() + "\n")
    changed = invoke(
        "extract", reports, "--out", out, "--quiet", "--chunk-size", "200", "--resume", "--patterns", patterns
    )
    assert changed.exit_code == 1
    assert "--resume refused: the rules changed (context_rules.json)" in changed.output
    other = invoke("extract", reports, "--out", out, "--quiet", "--chunk-size", "100", "--resume")
    assert other.exit_code == 1 and "--chunk-size changed" in other.output
    edited = tmp_path / "edited.csv"
    edited.write_text(reports.read_text().replace("R000005", "X000005", 1))
    moved = invoke("extract", edited, "--out", out, "--quiet", "--chunk-size", "200", "--resume")
    assert moved.exit_code == 1 and "the input file changed" in moved.output
    fresh = invoke("extract", reports, "--out", out, "--quiet", "--chunk-size", "200")
    assert fresh.exit_code == 0
    assert "note: removed the unfinished work of an interrupted run" in fresh.output
    assert leftovers(out) == []


def test_resume_refuses_an_input_whose_rows_changed(tmp_path):
    reports = corpus(tmp_path / "reports.csv", 3000)
    out = tmp_path / "out"
    killed_run(reports, out)
    text = reports.read_text()
    reports.write_text(text.replace("R000007", "R00000Z", 1))  # same file, same size, other content
    result = invoke("extract", reports, "--out", out, "--quiet", "--chunk-size", "200", "--resume")
    assert result.exit_code == 1
    assert "--resume refused: the input changed since the interrupted run (rows 1-200 differ)" in result.output


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_cleanly_with_one_line(tmp_path, signum, code):
    reports = corpus(tmp_path / "reports.csv", 6000)
    out = extract(corpus(tmp_path / "small.csv", 100), tmp_path / "out")
    old = snapshot(out)
    run = start("extract", reports, "--out", out, "--quiet", "--jobs", "2", "--chunk-size", "250")
    wait_for(lambda: journal_lines(out) >= 3 or run.poll() is not None)
    assert run.poll() is None
    if signum == signal.SIGINT:
        os.killpg(run.pid, signum)  # Ctrl-C: the terminal signals the whole process group
    else:
        os.kill(run.pid, signum)  # SIGTERM: the main process only, as `kill PID` does
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"interrupted: {out} keeps its previous results; ")
    assert "reports done are kept: run the same command with --resume to continue" in lines[0]
    assert snapshot(out) == old
    # no worker is left behind
    wait_for(lambda: not _group_alive(run.pid), timeout=10, step=0.05)
    resumed = invoke("extract", reports, "--out", out, "--quiet", "--jobs", "2", "--chunk-size", "250", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert snapshot(out) == snapshot(extract(reports, tmp_path / "uncut", "--chunk-size", "250"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# -- a full disk ----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_removes_the_partial_files_and_says_how_much_was_needed(tmp_path, small_disk):
    out = extract(corpus(tmp_path / "small.csv", 50), small_disk / "out")
    old = snapshot(out)
    reports = corpus(tmp_path / "reports.csv", 6000)
    done = subprocess.run(
        [*MODIC, "extract", str(reports), "--out", str(out), "--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no space left on device" in lines[0] and "MB more were needed" in lines[0]
    assert "Traceback" not in done.stderr
    assert snapshot(out) == old
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]
