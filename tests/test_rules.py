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
