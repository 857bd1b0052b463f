"""Sections and sentences found in the raw text (no spaCy)."""

import pytest

from pipeline.nlp.rules import load_section_rules
from pipeline.nlp.structure import Structurer

from .conftest import PATTERNS


@pytest.fixture(scope="module")
def structurer():
    return Structurer(load_section_rules(PATTERNS / "section_rules.json"))


def section_of(structurer, text, phrase):
    i = text.index(phrase)
    for s in structurer.split(text):
        if s.start <= i < s.end:
            return s.section
    raise AssertionError(f"{phrase!r} is in no sentence")


UK_REPORT = "Clinical details: LBP.\n\nReport:\nModic type II at L4/5.\n\nOpinion: Modic II."
RUN_TOGETHER = ",HX:, Known Modic change.,EXAM:, Reflexes normal.,COURSE:, MRI showed Modic 1."


@pytest.mark.parametrize(
    ("text", "phrase", "section"),
    [
        ("INDICATION: Modic 1 at L4-5.\nFINDINGS: Modic 2 at L5-S1.", "Modic 1", "history"),
        ("INDICATION: Modic 1 at L4-5.\nFINDINGS: Modic 2 at L5-S1.", "Modic 2", "findings"),
        (UK_REPORT, "Modic type II", "findings"),
        (UK_REPORT, "Modic II.", "impression"),
        ("CLINICAL HISTORY: back pain\nIMPRESSION: Modic 1", "Modic 1", "impression"),
        ("clinical history - back pain\nimpression - Modic 1", "back pain", "history"),
        ("History: LBP, known Modic 1.\n\nMRI lumbar spine:\nModic 1 at L4/5.", "Modic 1 at", "other"),
        ("Clinical details: ?discitis\n\nL3/4 endplate oedema.", "L3/4 endplate", "body"),
        ("COMPARISON: MRI 2019 showed Modic 1.\nFINDINGS:\nModic 2.", "MRI 2019", "comparison"),
        (
            "FINDINGS:,Normal.,COMPARISON: MRI 2004.,There is a fusion at L5-S1.,IMPRESSION:,Fusion.",
            "There is a fusion",
            "body",
        ),
        ("TECHNIQUE: Sagittal T1, T2 and STIR.\nModic 1 at L4-5.", "Modic 1", "body"),
        ("LSS MRI :\nModec type II noted.", "Modec", "other"),
        ("Modic type 2 at L5-S1.", "Modic", "body"),
        ("ADDENDUM: Modic 1 change at L4-5 was missed.", "Modic 1", "addendum"),
        (RUN_TOGETHER, "Known", "history"),
        (RUN_TOGETHER, "MRI showed", "findings"),
    ],
)
def test_sections(structurer, text, phrase, section):
    assert section_of(structurer, text, phrase) == section


def sentences(structurer, text):
    return [text[s.start : s.end] for s in structurer.split(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Disc bulge at L4-5. Modic type 1 change.", ["Disc bulge at L4-5.", "Modic type 1 change."]),
        ("Disc bulge at L4-5\nwith Modic type 1 change.", ["Disc bulge at L4-5\nwith Modic type 1 change."]),
        ("- disc bulge\n- Modic 2", ["- disc bulge", "- Modic 2"]),
        ("L4-5: bulge/// L5-S1: Modic 2", ["L4-5: bulge", "L5-S1: Modic 2"]),
        ("Measures approx. 5 mm. Modic 1.", ["Measures approx. 5 mm.", "Modic 1."]),
        ("1. Modic 1 at L4-5. 2. No stenosis.", ["1. Modic 1 at L4-5.", "2. No stenosis."]),
        ("Retrolisthesis 6.5mm. Modic 1.", ["Retrolisthesis 6.5mm.", "Modic 1."]),
    ],
)
def test_sentences(structurer, text, expected):
    assert sentences(structurer, text) == expected


def test_level_header_applies_to_lines_below_until_blank_line(structurer):
    text = "L5/S1 level :\nCentral protrusion.\nModic type II noted.\n\nMultiple Schmorl nodes."
    headers = {text[s.start : s.end]: s.header for s in structurer.split(text)}
    assert headers["Modic type II noted."] == ("L5-S1",)
    assert headers["Multiple Schmorl nodes."] == ()


def test_offsets_point_into_the_original_text(structurer):
    text = "EXAM: MRI\r\nFINDINGS:\r\n  Modic type 1 at L4-5.  \r\n"
    for s in structurer.split(text):
        assert text[s.start : s.end] == text[s.start : s.end].strip()
    assert "Modic type 1 at L4-5." in sentences(structurer, text)


def test_run_on_text_is_cut_into_bounded_sentences(structurer):
    text = ", ".join(["disc bulge at L4-5 abutting the thecal sac"] * 200)
    pieces = structurer.split(text)
    assert all(s.end - s.start <= 600 for s in pieces)
    assert text[pieces[0].start : pieces[-1].end] == text.strip()


def test_split_given_the_trigger_hits_keeps_every_sentence_that_holds_one(analyzer):
    """Lines with no trigger are cut into sentences only when their level header needs it; only sentences
    holding a trigger come out, the same as from a full split."""
    import json
    from bisect import bisect_left

    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
        texts += list(load("mtsamples.csv", "", "transcription").values())[:1500]
    texts += [
        "COMPARISON: MRI 2019. No change.\nModic 1 at L4-5.",  # a short section ending inside its line
        "TECHNIQUE: sag T1\nand T2, continued line.\n\nModic type 2 L5-S1.",
        "L4-L5:\nNormal disc.\nModic 1 endplate change.\n\nModic 2 change.",  # level header, then a new paragraph
        "L4-L5: Modic 1.\n\nNormal alignment.\nModic 2 change.",  # a skipped line starts the paragraph
        "HISTORY: back pain\n\nNormal alignment.\nModic 2 change.",  # ... and ends the history section
        # lines without a trigger whose level header is read without cutting them, or not
        "L4-L5: Mild bulge. The canal is patent.\nModic 2 change.\nL5-S1 - Normal.\nModic 1 change.",
        "L4-5 - Mild bulge.\nModic 2.\nL4-5. Mild bulge at L3-4.\nModic 1.\n- L2-3: normal, L3: ok\nModic 3.",
        "L4-5 level: normal disc. L5-S1: small tear.\nType 2 change.\nAt L3-4 and L4-5: bulges.\nModic 1.",
        "L1-2:\nnormal disc. vs. L2-3: mild.\nModic 2.\n\u2022 L3-4: mild \u2022 L4-5: severe\nType 1 change.",
        "L4-5 - \nModic 2 change.\nL5-S1 \u2013 \nType 1 change.",  # the blank a dash header needs ends the line
    ]
    kept = 0
    for text in texts:
        starts = [pos for pos, _ in analyzer.prefilter.hits(text)]

        def holding(sentences, starts=starts):
            return [s for s in sentences if bisect_left(starts, s.end) > bisect_left(starts, s.start)]

        lazy = analyzer.structurer.split(text, starts)
        assert lazy == holding(analyzer.structurer.split(text)), text[:80]
        kept += len(lazy)
    assert kept > 1000


def test_one_regex_per_line_start_finds_the_headers_the_step_by_step_lookup_finds(structurer):
    """Line starts are matched with one combined regex; it must agree with trying each way in turn."""
    import json
    import re

    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
        texts += list(load("mtsamples.csv", "", "transcription").values())[:1500]
    texts.append(
        "FINDINGS :: \n  Impression\t:\n1. IMPRESSION: ok\nClinical   history - pain\nfindings: x\n"
        "FINDINGS: :\nCOMPARISON\nMRI L SPINE:\nCONCLUSION \t\nTechnique:- sag T1\nFindings and impression: y"
    )
    found = 0
    for text in texts:
        for pos in [0] + [m.end() for m in re.finditer("\n", text)]:
            fast = structurer._line_header(text, pos)
            assert fast == structurer._header_at(text, pos, True), repr(text[pos : pos + 60])
            found += fast is not None
    assert found > 500


def test_header_candidate_search_finds_what_the_plain_pattern_finds():
    """The search for places a header may start is written for speed; it must find what the plain one does."""
    import json
    import re

    from pipeline.nlp.structure import _HEADER_CANDIDATE, HEADER_CANDIDATE_PATTERNS

    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    plain = re.compile(r"\n|[.,:](?=[ \t]*(?:\d{1,2}[.)]\s*)?[A-Z])(?=[^\n:]{0,64}(?::|\s-\s))")
    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
        texts += list(load("mtsamples.csv", "", "transcription").values())[:1500]
    filler = "x" * 60
    texts += [
        f"a. B{filler}: c", f"a. B{filler}xxxx: c", f"a, B{filler[:58]} - c", f"a, B{filler} - c",
        "a. B c\n- d", "a. B-c - d", "a. 1. B: c", "a:B:c", "a. B\n: c", "a. B -- c - d", "a.,B - c",
        "HISTORY: PAIN. FINDINGS: L4-5 - BULGE. IMPRESSION - NORMAL.", "a. B\t-\tc", "a. B -\nc",
    ]  # fmt: skip
    n = 0
    variants = [_HEADER_CANDIDATE] + [re.compile(p) for p in HEADER_CANDIDATE_PATTERNS.values()]  # 3.10's too
    for text in texts:
        expected = [(m.start(), m.end()) for m in plain.finditer(text)]
        for variant in variants:
            assert [(m.start(), m.end()) for m in variant.finditer(text)] == expected, text[:80]
        n += len(expected)
    assert n > 1000


def test_break_and_level_searches_find_what_their_plain_patterns_find():
    """Sentence breaks and level tokens are searched with patterns written for speed; same places as the plain ones."""
    import json
    import re

    from pipeline.nlp.structure import _INLINE_BREAK, _LEVEL_TOKEN

    from .conftest import SAMPLES

    breaks = re.compile(r"[.!?](?P<stop>,?(?=\s+\S)|,(?=\S))|(?P<slashes>/{2,})|(?P<bullet>\s+\u2022\s*)")
    levels = re.compile(r"[CTDLS]\s?\d|lumbo-?sacral|thoraco-?lumbar", re.IGNORECASE)
    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    texts += ["a // b ///c", "a \u2022 b\u2022c  \u2022\u2022 d", "x.  \u2022 y", "a, b.c e.g. x a.,b a?,B"]
    texts += ["t1 \u017f1 s 1"]
    texts += ["LUMBOSACRAL Thoraco-Lumbar lumbo-sacral xlumbosacral d12 L 4 l4"]
    n = 0
    for text in texts:
        expected = [(m.start(), m.span(m.lastindex)) for m in breaks.finditer(text)]
        got = [(m.start(), m.span(1) if m.lastindex == 1 else m.span()) for m in _INLINE_BREAK.finditer(text)]
        assert got == expected, text[:80]
        assert [m.start() for m in _LEVEL_TOKEN.finditer(text)] == [m.start() for m in levels.finditer(text)], text[:80]
        n += len(expected)
    assert n > 500


def test_only_sentences_starting_with_a_possible_header_character_are_read_for_a_level_header():
    """Split skips reading a level header where the sentence's first character cannot start one."""
    import json

    from pipeline.levels import header_levels
    from pipeline.nlp.structure import _HEADER_FIRST

    from .conftest import SAMPLES

    starts = [chr(c) for c in range(32, 0x250)] + ["\u2022", "\u2013", "\u00a0", "\u212a", "\u0130"]
    tails = ["4-5: x", "4-L5: x", " L4-5: x", "t L4-5: x", "he L4-5 level: x", "evel of L4/5: x", "umbosacral level: x"]
    tails += ["horaco-lumbar junction: x", "5-S1 - x", "1 \u2013 x", "12-L1: x"]
    read = 0
    for first in starts:
        for tail in tails:
            if header_levels(first + tail) is not None:
                assert first in _HEADER_FIRST or first.isspace(), first + tail
                read += 1
    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    for text in texts:
        for line in text.splitlines():
            line = line.strip(" \t\r\n,;")
            if line and header_levels(line) is not None:
                assert line[0] in _HEADER_FIRST or line[0].isspace(), line
                read += 1
    assert read > 50
