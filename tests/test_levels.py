"""Level grammar: (text -> disc levels) tables, no spaCy involved."""

import pytest

from pipeline.levels import Target, assign_levels, find_levels, header_levels


def levels_in(text):
    return [g.levels for g in find_levels(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Modic type 1 at L4-5.", [("L4-L5",)]),
        ("at L4-L5", [("L4-L5",)]),
        ("at L4/5", [("L4-L5",)]),
        ("at L4/L5", [("L4-L5",)]),
        ("at L5-S1", [("L5-S1",)]),
        ("at L5/S1", [("L5-S1",)]),
        ("at L5S1", [("L5-S1",)]),
        ("at L4-l5", [("L4-L5",)]),
        ("at l4-5", [("L4-L5",)]),
        ("T11-T12 and T12-L1", [("T11-T12", "T12-L1")]),
        ("D12/L1 level", [("T12-L1",)]),
        ("L4\u20135", [("L4-L5",)]),
        ("inferior endplate of L4", [("L4-L5",)]),
        ("the superior L5 endplate", [("L4-L5",)]),
        ("superior endplate of S1", [("L5-S1",)]),
        ("the L4 inferior end plate", [("L4-L5",)]),
        ("superior end-plate of L1", [("T12-L1",)]),
        ("the L5 and S1 endplates", [("L5-S1",)]),
        ("endplates of L3 and L4", [("L3-L4",)]),
        ("inferior L4 and superior L5 endplates", [("L4-L5",)]),
        ("grade 1 anterolisthesis of L4 over L5", [("L4-L5",)]),
        ("anterolisthesis of L5 on S1", [("L5-S1",)]),
        ("L3-4 through L5-S1", [("L3-L4", "L4-L5", "L5-S1")]),
        ("from L2-3 to L4-5", [("L2-L3", "L3-L4", "L4-L5")]),
        ("at L3-4 and L4-5", [("L3-L4", "L4-L5")]),
        ("L3-4, L4-5, and L5-S1", [("L3-L4", "L4-L5", "L5-S1")]),
        ("L4/L5 &L5/S1 levels", [("L4-L5", "L5-S1")]),
        ("L3-S1", [("L3-L4", "L4-L5", "L5-S1")]),
        ("from L3 to S1", [("L3-L4", "L4-L5", "L5-S1")]),
        ("at the lumbosacral junction", [("L5-S1",)]),
        ("C5-6 disc", [("C5-C6",)]),
        # not levels
        ("T1 and T2 hyperintense signal", []),
        ("T1/T2 hypointense", []),
        ("low T1, high T2 signal", []),
        ("compressing the left S1 nerve root", []),
        ("the L5 nerve root", []),
        ("the L4 and L5 nerve roots", []),
        ("L1 vertebral body haemangioma", []),
        ("1.5T scanner, 3 mm slices", []),
        ("S1-2 segments", []),
    ],
)
def test_find_levels(text, expected):
    assert levels_in(text) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("L4-L5: Disc bulge with Modic type 1 change.", ("L4-L5",)),
        ("L5/S1 level :", ("L5-S1",)),
        ("- L3-4: mild bulge", ("L3-L4",)),
        ("L4/L5 & L5/S1levels:", ("L4-L5", "L5-S1")),
        ("At the level of L4-L5:", ("L4-L5",)),
        ("At L4-5, there is a disc bulge.", None),
        ("L4-5 broad based disc protrusion", None),
    ],
)
def test_header_levels(sentence, expected):
    found = header_levels(sentence)
    assert (found[0] if found else None) == expected


def spans(text, *phrases, family="modic:1"):
    out = []
    for p in phrases:
        i = text.index(p)
        out.append(Target(i, i + len(p), family))
    return out


@pytest.mark.parametrize(
    ("text", "phrases", "expected"),
    [
        (
            "Modic type 1 changes at L4-5 and type 2 changes at L5-S1.",
            ["Modic type 1", "type 2"],
            [("L4-L5",), ("L5-S1",)],
        ),
        ("At L4-5 there is a disc bulge, and at L5-S1 there are type 2 Modic changes.", ["type 2 Modic"], [("L5-S1",)]),
        ("L4-5 and L5-S1 show Modic type 2 changes.", ["Modic type 2"], [("L4-L5", "L5-S1")]),
        ("Type 2 Modic changes, disc bulge and facet arthropathy at L4-5.", ["Type 2 Modic"], [("L4-L5",)]),
        ("Modic type 2 at L5-S1, no Modic change elsewhere.", ["Modic type 2", "Modic change"], [("L5-S1",), ()]),
        ("Modic type 2 changes at L5-S1 and to a lesser extent at L4-5.", ["Modic type 2"], [("L5-S1", "L4-L5")]),
        ("Modic type 1 at L4-5, broad disc protrusion at L5-S1.", ["Modic type 1"], [("L4-L5",)]),
        ("Disc bulge at L4-5 with Modic type 1 endplate change.", ["Modic type 1"], [("L4-L5",)]),
        ("There are Modic type 2 changes, most marked at L5-S1.", ["Modic type 2"], [("L5-S1",)]),
        (
            "Type 1 change at the inferior L4 endplate and type 2 at the superior L5 endplate.",
            ["Type 1", "type 2"],
            [("L4-L5",), ("L4-L5",)],
        ),
        ("Modic type I noted.", ["Modic type I"], [()]),
    ],
)
def test_assign_levels(text, phrases, expected):
    assert assign_levels(text, spans(text, *phrases)) == expected


def test_header_is_the_fallback():
    text = "Modic type II noted."
    assert assign_levels(text, spans(text, "Modic type II"), header=("L5-S1",)) == [("L5-S1",)]


def test_modic_of_another_type_keeps_its_level():
    text = "Type 2 change at L5-S1 and type 1 change."
    targets = spans(text, "Type 2 change", family="modic:2") + spans(text, "type 1 change", family="modic:1")
    assert assign_levels(text, targets) == [("L5-S1",), ()]


def test_restated_modic_shares_the_level():
    text = "At L5/S1 there is high STIR signal in the endplates, ?early Modic 1."
    targets = spans(text, "high STIR signal in the endplates") + spans(text, "Modic 1")
    assert assign_levels(text, targets) == [("L5-S1",), ("L5-S1",)]


def test_other_family_does_not_claim_a_level():
    text = "Severe foraminal stenosis at L4-5, Modic type 1 changes."
    targets = spans(text, "Severe foraminal stenosis", family="nerve_compression") + spans(text, "Modic type 1")
    assert assign_levels(text, targets) == [("L4-L5",), ("L4-L5",)]


def test_the_short_ways_give_what_the_full_steps_give():
    """A sentence naming no level takes the header without its clauses being worked out, and a
    sentence with no vertebra or junction is not searched for levels; both must agree with the long way."""
    import json
    import re

    from pipeline.levels import _NAMED, _by_clauses, _pair_atoms, _single_atoms

    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
    texts += ["Modic 1 change elsewhere.", "Modic 2 at the LUMBOSACRAL junction, type 1 at other levels."]
    sentences = [s for t in texts for s in re.split(r"(?<=[.;])\s+|\n", t) if s.strip()]
    targets = [Target(0, 1, "modic:1"), Target(2, 3, "fracture")]
    no_level = 0
    for sentence in sentences:
        taken: list = []
        atoms = _pair_atoms(sentence, taken) + _single_atoms(sentence, taken)
        named = [m for rx in _NAMED.values() for m in rx.finditer(sentence)]
        if not atoms and not named:
            assert find_levels(sentence) == []
        groups = find_levels(sentence)
        assert assign_levels(sentence, targets, ("L4-L5",)) == _by_clauses(sentence, targets, ("L4-L5",), groups)
        no_level += not groups
    assert no_level > 100


def test_clause_split_finds_what_the_plain_pattern_finds():
    """Clause boundaries are searched with a pattern written for speed; same places as the plain one."""
    import json
    import re

    from pipeline.levels import _CLAUSE_SPLIT

    from .conftest import SAMPLES

    plain = re.compile(r"[;,:()]|\s(?:and|with|while|whereas|but|although|plus)\s", re.I)
    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    texts += ["L4-5 AND L5-S1, (mild) with\tWITH\nand  and: plus; although whereas but"]
    n = 0
    for text in texts:
        expected = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in _CLAUSE_SPLIT.finditer(text)] == expected, text[:80]
        n += len(expected)
    assert n > 500
