"""Rule files: a broken one fails at load naming the file, the entry and what was expected."""

import json

import pytest

from pipeline.errors import RuleError
from pipeline.nlp import Analyzer
from pipeline.nlp.rules import (
    load_context_rules,
    load_section_rules,
    load_signal_rules,
    load_target_rules,
)

from .conftest import PATTERNS


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("loader", "content", "fragments"),
    [
        (load_target_rules, "{not json", ["invalid JSON at line 1"]),
        (load_target_rules, {"rules": []}, ["expected a JSON object with a list under 'target_rules'"]),
        (
            load_target_rules,
            {"target_rules": [{"literal": "x", "category": "modik"}]},
            ["entry 0 ('x')", "category 'modik' is not one of"],
        ),
        (
            load_target_rules,
            {"target_rules": [{"literal": "x", "category": "modic"}]},
            ["entry 0 ('x')", "metadata.modic_type"],
        ),
        (
            load_target_rules,
            {"target_rules": [{"literal": "x", "category": "fracture", "pattern": "(?i)fract("}]},
            ["entry 0 ('x')", "not a valid regular expression"],
        ),
        (
            load_target_rules,
            {"target_rules": [{"literal": "x", "category": "fracture", "colour": 1}]},
            ["entry 0 ('x')", "invalid keys"],
        ),
        (
            load_context_rules,
            {"context_rules": [{"literal": "no", "category": "NEGATED", "direction": "FORWARD"}]},
            ["entry 0 ('no')", "category 'NEGATED' is not one of"],
        ),
        (
            load_context_rules,
            {"context_rules": [{"literal": "no", "category": "NEGATED_EXISTENCE", "direction": "SIDEWAYS"}]},
            ["entry 0 ('no')", "SIDEWAYS"],
        ),
        (
            load_context_rules,
            {
                "context_rules": [
                    {"literal": "old", "category": "HISTORICAL", "direction": "FORWARD", "allowed_types": ["fractur"]}
                ]
            },
            ["entry 0 ('old')", "unknown findings ['fractur']"],
        ),
        (
            load_section_rules,
            {"section_rules": [{"literal": "FINDINGS", "category": "results"}]},
            ["entry 0 ('FINDINGS')", "category 'results' is not one of"],
        ),
        (
            load_signal_rules,
            {"sequences": {}, "intensities": {}, "anchor": "(", "types": []},
            ["anchor", "not a valid regular expression"],
        ),
    ],
)
def test_broken_rule_files(tmp_path, loader, content, fragments):
    path = write(tmp_path, "rules.json", content)
    with pytest.raises(RuleError) as err:
        loader(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_missing_rule_file(tmp_path):
    with pytest.raises(RuleError, match="rule file not found"):
        load_target_rules(tmp_path / "target_rules.json")


def test_a_target_rule_the_prefilter_would_hide_is_refused(tmp_path):
    for f in PATTERNS.glob("*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    rules = json.loads((tmp_path / "target_rules.json").read_text())
    rules["target_rules"].append({"literal": "spondylodiscal phlegmasia", "category": "infection"})
    write(tmp_path, "target_rules.json", rules)
    with pytest.raises(RuleError, match="does not match any trigger in prefilter.json"):
        Analyzer(tmp_path)


def test_every_bundled_target_rule_loads_and_is_reachable():
    Analyzer(PATTERNS)  # raises on any problem


def test_a_phrase_added_as_data_is_found(tmp_path, analyzer):
    """An informaticist adds a synonym in patterns/ only; no Python changes."""
    for f in PATTERNS.glob("*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    text = "Vertebral osteochondritis at L4-5."
    from pipeline.run import process_texts

    assert process_texts(analyzer, [text])[0].modic_levels == ""
    rules = json.loads((tmp_path / "target_rules.json").read_text())
    rules["target_rules"].append(
        {"literal": "vertebral osteochondritis", "category": "modic", "metadata": {"modic_type": "1"}}
    )
    write(tmp_path, "target_rules.json", rules)
    prefilter = json.loads((tmp_path / "prefilter.json").read_text())
    prefilter["triggers"].append({"pattern": "osteochondritis"})
    write(tmp_path, "prefilter.json", prefilter)
    assert process_texts(Analyzer(tmp_path), [text])[0].modic_levels == "L4-L5:1"


def test_trigger_gating_finds_what_running_every_rule_finds(analyzer):
    """Rules only run in sentences holding a trigger of their literal; that must never lose a match."""
    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
    for text in texts:
        c = analyzer.candidates(text, analyzer.structurer.split(text))
        gated = analyzer.matcher.find(c.text, c.stretches)
        every = analyzer.matcher.find(c.text)
        assert [(m.start, m.end, m.rule.literal) for m in gated] == [(m.start, m.end, m.rule.literal) for m in every]


def test_a_token_pattern_rule_is_matched_by_medspacy(tmp_path):
    """Token patterns (a list of spaCy token dicts) need tokens: medspaCy's TargetMatcher runs them."""
    from pipeline.run import process_texts

    for f in PATTERNS.glob("*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    rules = json.loads((tmp_path / "target_rules.json").read_text())
    rules["target_rules"].append(
        {"literal": "hnp", "category": "nerve_compression", "pattern": [{"LOWER": "hnp"}, {"LOWER": "compressing"}]}
    )
    write(tmp_path, "target_rules.json", rules)
    prefilter = json.loads((tmp_path / "prefilter.json").read_text())
    prefilter["triggers"].append({"pattern": "hnp"})
    write(tmp_path, "prefilter.json", prefilter)
    result = process_texts(Analyzer(tmp_path), ["Large HNP compressing at L4-5. Modic type 2 at L5-S1."])[0]
    assert result.exclusions["nerve_compression"]
    assert result.modic_levels == "L5-S1:2"


def _gold_and_real_texts():
    from .conftest import SAMPLES
    from .test_realworld import REALWORLD, load

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    if REALWORLD.is_dir():
        texts += list(load("lumbar_radiologists_notes.csv", "report_id", "report_text").values())
    return texts


def test_grouped_trigger_scan_finds_what_the_plain_alternation_finds(analyzer):
    """The prefilter's scan groups trigger alternatives by first letter for speed; hits must not change."""
    texts = _gold_and_real_texts() + [
        "MODIC TYPE II at L4/5; end-plate oedema; ?discitis; retrolisthesis; Endpalte fx.",
        "İstanbul: modic 1 changes (lower() lengthens the dotted capital I)",
        "typeI typeII mc1 MC-2 t1 hypointense stir bright; screws and rods; intra-osseous",
    ]
    assert analyzer.prefilter._numbers is not None  # the bundled triggers all group: hits are numbered by group
    total = 0
    for text in texts:
        hits = analyzer.prefilter.hits(text)
        assert hits == analyzer.prefilter.plain_hits(text), text[:80]
        total += len(hits)
    assert total > 1000


def test_grouped_scan_keeps_triggers_it_cannot_group(tmp_path):
    """A trigger starting with a group or a quantified letter is scanned whole, and still numbered right."""
    from pipeline.nlp.rules import Prefilter

    p = Prefilter(["(?:modic|mc)\\s*\\d", "e+dema", "endplate", "x"])
    text = "Modic 2 and MC 1 with eedema at the endplate, x"
    assert p._numbers is None
    assert p.hits(text) == p.plain_hits(text) == [(0, 0), (12, 0), (22, 1), (36, 2), (46, 3)]
    # grouped, with alternatives of one trigger under several letters and a trigger's own group
    p = Prefilter(["mo(d)ic|mc", "end|ede(m)a", "ma?rrow|bone", "x"])
    assert p._numbers is not None
    text = "Modic, mc, endplate, edema, mrrow, bone marrow, x"
    assert p.hits(text) == p.plain_hits(text) == [(0, 0), (7, 0), (11, 1), (21, 1), (28, 2), (35, 2), (40, 2), (48, 3)]


def test_context_regex_rules_match_as_medspacy_matches_them(analyzer):
    """ConText's regex rules run through a matcher that reads the Doc's text once; same matches as medspaCy's."""
    from medspacy.common.regex_matcher import RegexMatcher

    from pipeline.nlp.components import TEXT_KEY, SharedTextRegexMatcher

    context = analyzer.nlp.get_pipe("modic_context")
    shared = context._ConText__matcher._MedspacyMatcher__regex_matcher
    assert isinstance(shared, SharedTextRegexMatcher)
    from pipeline.nlp.skipahead import skip_ahead

    assert all(skip_ahead(p) is not None for ps in shared._patterns.values() for p in ps)  # searched lower-cased
    original = RegexMatcher(analyzer.nlp.vocab)
    original._patterns, original._callbacks = shared._patterns, shared._callbacks
    docs = [analyzer.nlp.make_doc(t) for t in _gold_and_real_texts()]
    docs.append(analyzer.nlp.make_doc("?Modic 1 at L4-5, with type 1 converting to type 2,mild stenosis ??oedema"))
    n = 0
    for doc in docs:
        found = shared(doc)
        assert found == RegexMatcher.__call__(original, doc)
        doc.user_data[TEXT_KEY] = doc.text  # as the Analyzer leaves it
        assert shared(doc) == found
        n += len(found)
    assert n > 100


def test_context_runs_without_an_empty_token_matcher_and_warns_nothing(analyzer):
    """With no token-pattern ConText rule, ConText's token Matcher is left out (spaCy's warns on every call)."""
    import warnings

    from pipeline.nlp.components import _NoTokenPatterns

    context = analyzer.nlp.get_pipe("modic_context")
    assert isinstance(context._ConText__matcher._MedspacyMatcher__matcher, _NoTokenPatterns)
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("error")  # no filter: W036 would raise here
        report = next(analyzer.analyse(["No Modic change. ?Modic 1 at L4-5. Prior fusion L5-S1."]))
    assert report.parts


def test_a_token_pattern_context_rule_keeps_the_token_matcher(tmp_path):
    """A ConText rule written as token patterns needs spaCy's Matcher, which is then kept and used."""
    from pipeline.nlp.components import _NoTokenPatterns
    from pipeline.run import process_texts

    for f in PATTERNS.glob("*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    rules = json.loads((tmp_path / "context_rules.json").read_text())
    rules["context_rules"].append(
        {"literal": "zero evidence of", "category": "NEGATED_EXISTENCE", "direction": "FORWARD",
         "pattern": [{"LOWER": "zero"}, {"LOWER": "evidence"}, {"LOWER": "of"}]}
    )  # fmt: skip
    write(tmp_path, "context_rules.json", rules)
    a = Analyzer(tmp_path)
    assert not isinstance(a.nlp.get_pipe("modic_context")._ConText__matcher._MedspacyMatcher__matcher, _NoTokenPatterns)
    negated = process_texts(a, ["Zero evidence of Modic type 1 change at L4-5."])[0]
    assert negated.modic_levels == ""
    assert [m.negated for m in negated.mentions if m.finding == "modic"] == [True]


def test_span_rules_and_modifiers_kept_beside_the_doc_are_the_spans_own(analyzer):
    """Part.matches and Part.modifiers() give each span what span extensions would have held."""
    n = 0
    for report in analyzer.analyse(_gold_and_real_texts()):
        for part in report.parts:
            modifiers = part.modifiers()
            for span in part.doc.spans["findings"]:
                key = (span.start_char, span.end_char)
                assert part.matches[key].rule.category == span.label_
                assert modifiers.get(key, ()) == span._.modifiers
                n += bool(span._.modifiers)
    assert n > 50


def test_sentences_are_read_for_signal_descriptions_where_the_joined_search_says(analyzer, monkeypatch):
    """One anchor search over a report's joined candidate sentences decides which sentences are read
    for a described Modic change; the matches must be those of reading every sentence."""
    texts = _gold_and_real_texts() + [
        "T1 hypointense T2 hyperintense signal at the L4 inferior endplate. Adjacent to the\ndisc, T2 bright.",
        "Subchondral T1 dark, T2 bright change at L5-S1; paradiscal STIR hyperintensity at L4-5.",
    ]

    def matches(text):
        hits = analyzer.prefilter.hits(text)
        sentences = analyzer.structurer.split(text, [pos for pos, _ in hits])
        found = analyzer._matches(text, sentences, hits)
        return [(s, [(m.start, m.end, m.rule.literal) for m in matched]) for s, _, matched in found]

    joined = [matches(t) for t in texts]
    monkeypatch.setattr(analyzer.signals, "_boundary_sensitive", True)  # read every sentence
    assert [matches(t) for t in texts] == joined
    described = sum(1 for report in joined for _, found in report for *_, literal in found if "signal" in literal)
    assert described > 5
