"""Rule patterns rewritten to skip ahead must find exactly what the patterns themselves find."""

import random
import re

import pytest

from pipeline.nlp.skipahead import skip_ahead

from .test_rules import _gold_and_real_texts


def spans(rx, text, pos=0, endpos=None):
    return [m.span() for m in rx.finditer(text, pos, len(text) if endpos is None else endpos)]


@pytest.mark.parametrize(
    "pattern, text",
    [
        (r"\bm+odic", "MODIC, mmodic, xmodic, Modic"),
        (r"(?<!non)compress\w*", "compressing, noncompressed, non compressed"),
        (r"\b(?:grade|gr)\s*\d", "Grade 2, gr 1, ungraded 3, GR3"),
        (r"(?:nerve\s+)?roots?", "nerve roots, the root, NERVE ROOT"),
        (r"(?:nerve\s+)??roots?", "nerve roots, the root"),  # lazy optional first
        (r"(?:ab){2,3}c|x+y", "ababc abababc abc xxy y"),
        (r"\b(?:type|tpye)s?\s*-?\s*(?:1|i|one)(?![a-z0-9])", "Type 1, TYPES I, tpye-one, type 10, typeI"),
        (r"[A-Z]+\d", "abc1 ABC2 a-3"),
        (r"(?i:end)[\s-]?plate", "End-plate, endplate, END PLATE"),
    ],
)
def test_rewritten_patterns_find_the_same_spans(pattern, text):
    original = re.compile(pattern, re.IGNORECASE)
    fast = skip_ahead(original)
    assert fast is not None
    assert not fast.flags & re.IGNORECASE
    assert spans(fast, text.lower()) == spans(original, text)
    for pos in range(len(text)):  # searching from inside the text: lookbehinds still see before pos
        assert spans(fast, text.lower(), pos) == spans(original, text, pos), pos
        assert spans(fast, text.lower(), 0, pos) == spans(original, text, 0, pos), pos


@pytest.mark.parametrize(
    "pattern, flags",
    [
        (r"(?=a)abc", re.I),  # a lookahead first
        (r"(a)\1", re.I),  # a backreference
        (r"(?-i:Abc)d", re.I),  # a case-sensitive part
        (r"\u212aelvin", re.I),  # Kelvin sign: matches "k" case-insensitively
        (r"[\u0100-\u017f]x", re.I),  # holds the long s, which matches "s"
        (r"^abc", re.I),  # an anchor first
        (r".bc", re.I),  # any character first
        (r"(?:abc)?", re.I),  # can match nothing
        (r"abc", 0),  # not case-insensitive: nothing to gain, left alone
        (r"\b[.]x", re.I),  # \b before a character that is not a word character
    ],
)
def test_what_cannot_be_rewritten_is_left_alone(pattern, flags):
    assert skip_ahead(re.compile(pattern, flags)) is None


def test_every_bundled_pattern_is_rewritten_and_agrees_on_real_reports(analyzer):
    """The target rules, their group searches and the signal anchor: rewritten, and the same matches."""
    matcher = analyzer.matcher
    assert all(f is not None for f in matcher.fast_rules)
    assert all(f is not None for f, (_, _, a) in zip(matcher.fast_groups, matcher.groups) if a is not None)
    assert analyzer.signals._fast_anchor is not None and analyzer.signals._fast_seq_any is not None
    pairs = [(rx, f) for (_, rx, _), f in zip(matcher.rules, matcher.fast_rules)]
    pairs += [(a, f) for (_, _, a), f in zip(matcher.groups, matcher.fast_groups) if a is not None]
    pairs.append((analyzer.signals._anchor, analyzer.signals._fast_anchor))
    pairs.append((analyzer.signals._seq_any, analyzer.signals._fast_seq_any))
    texts = [t for t in _gold_and_real_texts() if t.isascii()]
    found = 0
    for original, fast in pairs:
        for text in texts:
            expected = spans(original, text)
            assert spans(fast, text.lower()) == expected, (original.pattern[:60], text[:60])
            found += len(expected)
    assert found > 1000


def test_rewritten_rules_agree_on_random_text(analyzer):
    """Random text built from the rules' own vocabulary, in mixed case, with punctuation and digits."""
    rng = random.Random(7)
    words = (
        "modic type types 1 2 ii i one two endplate end-plate end plate marrow oedema edema change changes "
        "severe severely canal foraminal stenosis narrowing nerve root roots compressing non-compressing "
        "grade 2 anterolisthesis fusion screws rods cage fracture compression irregular sclerosis erosion "
        "L4-5 L5-S1 at the of and no without with mild mixed MC1 mc-2 t1 t2 stir hyperintense hypointense"
    ).split()
    seps = [" ", " ", " ", ", ", "-", "/", ". ", "\n", "  ", "(", ")"]
    pairs = [(rx, f) for (_, rx, _), f in zip(analyzer.matcher.rules, analyzer.matcher.fast_rules)]
    found = 0
    for _ in range(300):
        text = "".join(
            (w.upper() if rng.random() < 0.2 else w.capitalize() if rng.random() < 0.2 else w) + rng.choice(seps)
            for w in rng.choices(words, k=40)
        )
        for original, fast in pairs:
            expected = spans(original, text)
            assert spans(fast, text.lower()) == expected, (original.pattern[:60], text)
            found += len(expected)
    assert found > 500


def test_non_ascii_text_is_searched_with_the_rules_as_written(analyzer):
    """Text that is not ASCII (dashes, bullets, a Kelvin sign that case-folds to k) uses the rules
    unrewritten; the gated search still finds what running every rule finds."""
    text = (
        "\u2022 Modic type 1 change at L4\u20135 with severe canal stenosis.\n\n"
        "Endplate oedema, MODİC 2; nerve root compression \u2013 L5-S1. Grade 2 anterolisthesis."
    )
    c = analyzer.candidates(text, analyzer.structurer.split(text))
    assert not c.text.isascii()
    gated = [(m.start, m.end, m.rule.literal) for m in analyzer.matcher.find(c.text, c.stretches)]
    every = [(m.start, m.end, m.rule.literal) for m in analyzer.matcher.find(c.text)]
    assert gated == every
    assert {"modic", "nerve_compression"} <= {m.rule.category for m in analyzer.matcher.find(c.text, c.stretches)}
