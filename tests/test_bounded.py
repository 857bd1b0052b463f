"""One pathological document must not stall a run: the work per report is linear in its length, and a
report over MAX_REPORT_CHARS is refused (status "error") instead of analysed.

The stages that were quadratic are each run here on a text of about 200 KB of the shape that made
them so, and checked against what the plain (quadratic) way gives. The seconds per shape and size
are in benchmarks/bench_long.py, not here: no test times anything.
"""

import csv
import random
import re
from bisect import bisect_left
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import run
from pipeline.cli import main
from pipeline.exams import Exam
from pipeline.nlp import Analyzer, structure
from pipeline.nlp.matching import _TOKENISH
from pipeline.nlp.structure import _INLINE_BREAK, _inline_breaks, _piece_sentences, _strip, _window_match
from pipeline.run import MAX_REPORT_CHARS, process_texts
from pipeline.textscan import BLANK_BREAK, MAX_BLANK_RUN, bounded_blanks

from .conftest import ROOT, SAMPLES

SIZE = 200_000


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(ROOT / "patterns")


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _sample_texts() -> list[str]:
    with open(SAMPLES / "reports.csv", encoding="utf-8", newline="") as fh:
        return [r["report_text"] for r in csv.DictReader(fh) if r["report_text"].strip()]


def _levels(result) -> list[str]:
    return sorted({f"{f.level}:{f.modic_type}" for f in result.findings if f.finding == "modic"})


# -- the limit ---------------------------------------------------------------------------------


def _write_csv(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("report_id", "patient_id", "report_date", "report_text"))
        w.writerows(rows)
    return path


def test_a_20_mb_report_is_refused_with_status_error_and_kept_as_a_row(tmp_path):
    huge = _fill("Modic type 1 change at L4-5 ", 20 * 1024 * 1024)
    src = _write_csv(
        tmp_path / "in.csv",
        [("R1", "P1", "", "Modic type 2 at L5-S1."), ("R2", "P1", "", huge), ("R3", "P2", "", "Modic type 1 at L4-5.")],
    )
    result = CliRunner().invoke(main, ["extract", str(src), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "o" / "reports.csv", encoding="utf-8", newline="") as fh:
        reports = {r["report_id"]: r for r in csv.DictReader(fh)}
    assert list(reports) == ["R1", "R2", "R3"]
    refused = reports["R2"]
    assert refused["status"] == "error"
    assert refused["message"] == "report is 20,971,520 characters, over the limit of 1,000,000; not analysed"
    assert refused["modic_levels"] == "" and refused["n_mentions"] == "0"
    assert (reports["R1"]["status"], reports["R1"]["modic_levels"]) == ("ok", "L5-S1:2")
    assert (reports["R3"]["status"], reports["R3"]["modic_levels"]) == ("ok", "L4-L5:1")
    with open(tmp_path / "o" / "mentions.csv", encoding="utf-8", newline="") as fh:
        assert "R2" not in {r["report_id"] for r in csv.DictReader(fh)}


def test_a_report_at_the_limit_is_analysed_and_one_over_it_is_not(analyzer):
    assert MAX_REPORT_CHARS == 1_000_000
    head = "FINDINGS: Modic type 1 change at the L4-5 endplates.\n"
    at_limit = head + _fill("The alignment is normal. ", MAX_REPORT_CHARS - len(head))
    over = at_limit + "x"
    assert len(at_limit) == MAX_REPORT_CHARS
    ok, refused = process_texts(analyzer, [at_limit, over])
    assert ok.status == "ok" and ok.message == "" and _levels(ok) == ["L4-L5:1"]
    assert refused.status == "error" and not refused.mentions
    assert refused.message == "report is 1,000,001 characters, over the limit of 1,000,000; not analysed"
    assert "Modic" not in refused.message and "alignment" not in refused.message


def test_a_refused_report_is_not_read_for_its_exam_kind_but_keeps_the_exam_column(analyzer, monkeypatch):
    seen = []
    detect = analyzer.exams.detect

    def spy(text, column=""):
        seen.append(len(text))
        return detect(text, column)

    monkeypatch.setattr(analyzer.exams, "detect", spy)
    monkeypatch.setattr(run, "MAX_REPORT_CHARS", 1000)
    long_report = "EXAM: MRI LUMBAR SPINE\nFINDINGS: Modic type 1 at L4-5.\n" + "No stenosis. " * 100
    refused, short = process_texts(analyzer, [long_report, "Modic type 2 at L5-S1."], ["MRI LUMBAR SPINE", ""])
    assert max(seen) <= 1000
    assert refused.status == "error" and "over the limit of 1,000" in refused.message
    assert (refused.exam.modality, refused.exam.region) == ("mri", "lumbar")  # from the exam column alone
    assert short.status == "ok" and _levels(short) == ["L5-S1:2"]


# -- the stages that were quadratic, on large inputs of the shape that made them so ----------------


def _pruned_plainly(text, found):
    """TextMatcher's overlap pruning as written before: each match against every match kept."""
    found = sorted(found, key=lambda f: (-len(_TOKENISH.findall(text, f[0], f[1])), f[0], f[2]))
    kept = []
    for start, end, key in found:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, key))
    return sorted(kept)


def test_overlapping_target_matches_are_pruned_as_before_on_a_long_text(analyzer):
    matcher = analyzer.matcher
    text = _fill("Modic type 1 and 2 endplate changes, type II modic change at L4-5 with endplate oedema. ")
    matches = matcher.find(text)
    assert len(matches) > 5000
    spans = [(m.start, m.end) for m in matches]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    # against the plain way, on a stretch it can do in reasonable time
    short = text[:20_000]
    found = []
    for key, (_, rx, _) in enumerate(matcher.rules):
        found.extend((m.start(), m.end(), key) for m in rx.finditer(short) if m.end() > m.start())
    expected = [(s, e, matcher.rules[k][0]) for s, e, k in _pruned_plainly(short, found)]
    assert [(m.start, m.end, m.rule) for m in matcher.find(short)] == expected


def test_a_piece_with_a_trigger_in_every_word_keeps_the_sentences_holding_one(analyzer):
    text = _fill("modic type 1, ")  # one line: 14,000 triggers in one piece
    hits = [pos for pos, _ in analyzer.prefilter.hits(text)]
    assert len(hits) > 10_000
    kept = analyzer.structurer.split(text, hits)
    every = analyzer.structurer.split(text)
    holding = [s for s in every if bisect_left(hits, s.start) < bisect_left(hits, s.end)]
    assert kept == holding and len(kept) > 300
    assert all(s.end - s.start <= structure.MAX_SENTENCE_CHARS for s in kept)


def test_one_huge_paragraph_is_read_as_with_no_header_window(analyzer, monkeypatch):
    """On a line over LONG_LINE characters header patterns see HEADER_WINDOW characters: the same
    headers and sentences as reading to the end of the line, for the bundled rules."""
    words = " ".join(" ".join(_sample_texts()).replace(".", " ").split())
    text = _fill(words + " ", 2 * structure.LONG_LINE + SIZE)
    assert "\n" not in text and "." not in text
    windowed = analyzer.structurer.split(text)
    monkeypatch.setattr(structure, "LONG_LINE", 10**9)
    assert analyzer.structurer.split(text) == windowed
    assert len(windowed) > 100


def test_window_match_gives_what_the_full_match_gives_for_the_bundled_header_patterns(analyzer):
    text = _fill("Impression, Findings: Modic type 1 at L4-5, SOME HEADER: disc, Other Words : x, ")
    patterns = [inline for inline, _, _ in analyzer.structurer._patterns]
    assert patterns
    compared = 0
    for pos in range(0, 20_000, 7):
        for rx in patterns:
            full = rx.match(text, pos)
            assert _window_match(rx, text, pos) == (full.end() if full else None), (rx.pattern, pos)
            compared += full is not None
    assert compared > 100
    # "$" does not hold where the window ends: a header that must end its text is not found early
    rx = re.compile(r"[A-Z]\w*(?=[^\n]*:[ \t]*$)")
    line = "Abc def" + " " * (structure.HEADER_WINDOW - 8) + ":" + " more words" * 10
    assert rx.match(line) is None and _window_match(rx, line, 0) is None


def test_inline_breaks_are_what_the_break_pattern_finds():
    random.seed(5)
    alphabet = [" ", " ", "\n", "\t", ".", ",", "!", "?", "/", "\u2022", "a", "B", "1", "(", "\u00a0"]
    for _ in range(20_000):
        text = "".join(random.choice(alphabet) for _ in range(random.randint(0, 14)))
        start = random.randint(0, len(text))
        end = random.randint(start, len(text))
        found = _INLINE_BREAK.finditer(text, start, end)
        expected = [(m.start(), *(m.span(1) if m.lastindex == 1 else m.span())) for m in found]
        assert list(_inline_breaks(text, start, end)) == expected, (text, start, end)
    # a long run of blanks before each bullet (the pattern tried each blank through the whole run after it)
    text = _fill("modic" + " " * 2000 + "\u2022 type 1 ")
    got = list(_inline_breaks(text, 0, len(text)))
    assert len(got) == text.count("\u2022") and all(text[cut - 1] != " " for _, cut, _ in got)
    prefix = 10 * 2015
    plain = [(m.start(), *m.span()) for m in _INLINE_BREAK.finditer(text, 0, prefix)]
    assert [g for g in got if g[2] <= prefix] == plain


def test_strip_gives_what_the_plain_strips_give():
    def plain(text, a, b):
        piece = text[a:b]
        head = piece.lstrip(" \t\r\n,;.")
        return a + len(piece) - len(head), a + len(head.rstrip(" \t\r\n")) + len(piece) - len(head)

    random.seed(6)
    alphabet = [" ", "\t", "\n", ",", ";", ".", "a", "1"]
    for n in [*range(0, 12), 300, 700]:
        for _ in range(2000 if n < 12 else 50):
            text = "".join(random.choice(alphabet) for _ in range(n))
            a, b = random.randint(0, n), random.randint(0, n)
            assert _strip(text, a, b) == plain(text, a, b), (text, a, b)


def _piece_sentences_plainly(text, start, end):
    """_piece_sentences as written before: each break's stretch since the last cut read again."""
    cuts = [start]
    for m in _INLINE_BREAK.finditer(text, start, end):
        cut, cut_end = m.span(1) if m.lastindex == 1 else m.span()
        if text[cut - 1 : cut] in ".\n" and structure._ABBREVIATIONS.search(text[max(start, cut - 8) : cut]):
            continue
        if not text[cuts[-1] : cut].strip(" \t?!.,;()0123456789"):
            continue
        cuts += [cut, cut_end]
    cuts.append(end)
    out = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        a, b = _strip(text, a, b)
        while b - a > structure.MAX_SENTENCE_CHARS:
            window = text[a : a + structure.MAX_SENTENCE_CHARS]
            cut = max(window.rfind(";"), window.rfind(","))
            if cut < structure.MAX_SENTENCE_CHARS // 2:
                cut = window.rfind(" ")
            if cut <= 0:
                cut = structure.MAX_SENTENCE_CHARS - 1
            head = _strip(text, a, a + cut + 1)
            if head[1] > head[0]:
                out.append(head)
            a = _strip(text, a + cut + 1, b)[0]
        if b > a:
            out.append((a, b))
    return out


def test_runs_of_list_numbers_and_run_on_text_are_cut_into_sentences_as_before():
    unit = " ".join(f"{i}." for i in range(1, 20)) + " Modic type 1 change at L4-5, e.g. the endplate. (2) ? "
    for text in [
        _fill(unit),
        _fill(", modic type 1 " + " " * 40 + ";; the endplate,, "),  # run-on: cut every 600 characters
        "1. " * 5000 + "Modic type 1 change.",  # 5,000 list numbers before one sentence
        _fill("? (1) . , ; ", 20_000),  # (the plain way reads 200 KB of this for 20 s)
    ]:
        assert _piece_sentences(text, 0, len(text)) == _piece_sentences_plainly(text, 0, len(text)), text[:40]
    text = "1. " * (SIZE // 3) + "Modic type 1 change."
    sentences = _piece_sentences(text, 0, len(text))
    assert text[slice(*sentences[-1])].endswith("1. Modic type 1 change.")
    assert all(b - a <= structure.MAX_SENTENCE_CHARS for a, b in sentences)


def test_a_report_of_many_lists_and_one_of_many_region_parts_give_every_finding(analyzer):
    lists = _fill("Modic type 1 at L1-2, L2-3 and L3-4. Modic type 2 at L5-S1. ")
    (result,) = process_texts(analyzer, [lists])
    assert _levels(result) == ["L1-L2:1", "L2-L3:1", "L3-L4:1", "L5-S1:2"]
    assert result.n_mentions > 10_000
    regions = _fill("CERVICAL SPINE MRI:\nModic type 1 at C5-6.\nLSS MRI:\nModic type 2 at L4-5.\n")
    (result,) = process_texts(analyzer, [regions])
    assert len(result.exam.parts) > 5000
    assert _levels(result) == ["C5-C6:1", "L4-L5:2"]
    assert result.qualifying_modic


def test_region_at_is_the_region_of_the_part_holding_the_offset():
    parts = tuple((i * 10, i * 10 + (10 if i % 3 else 6), f"r{i}") for i in range(3000))
    exam = Exam(region="lumbar", parts=parts)
    for offset in [*range(-3, 200), 29_990, 29_999, 30_000, 31_000]:
        expected = next((r for s, e, r in parts if s <= offset < e), "lumbar")
        assert exam.region_at(offset) == expected, offset
    assert Exam(region="thoracic").region_at(5) == "thoracic"


def test_long_runs_of_blanks_are_broken_for_the_rules_and_normal_reports_are_untouched(analyzer):
    for text in _sample_texts():
        assert bounded_blanks(text) is text
    run_ = " " * 1000 + "\n" * 250
    text = "a" + run_ + "b"
    scanned = bounded_blanks(text)
    assert len(scanned) == len(text)
    assert max(len(m.group()) for m in re.finditer(r"\s+", scanned)) == MAX_BLANK_RUN
    assert {c for a, c in zip(text, scanned) if a != c} == {BLANK_BREAK}
    # "modic type" before a long run of blanks took time that grows with the square of the run (66 s at 80 KB)
    report = "Modic type 1 at L4-5.\nModic type" + " " * SIZE + "\nS1" + " " * SIZE + "\nModic type 2 at L5-S1."
    (result,) = process_texts(analyzer, [report])
    assert result.status == "ok" and _levels(result) == ["L4-L5:1", "L5-S1:2"]
    # the mentions quote the report's own text
    assert all(BLANK_BREAK not in m.sentence for m in result.mentions)
