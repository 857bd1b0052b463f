"""Load and check the rule files in patterns/.

Every rule file is JSON; target, ConText and section rules use medspaCy's own format
(`{"target_rules": [...]}`, `{"context_rules": [...]}`, `{"section_rules": [...]}`).
A broken file fails here, at load, with the file, the entry and what was expected, so a
clinical informaticist editing a phrase never meets a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medspacy.context import ConTextRule
from medspacy.section_detection import SectionRule
from medspacy.target_matcher import TargetRule

from ..errors import RuleError
from ..rulefiles import read_json_object
from ..schema import FINDINGS, MODIC_TYPES, REGIONS
from ..textscan import first_letter_scan

TARGET_FILE = "target_rules.json"
CONTEXT_FILE = "context_rules.json"
SECTION_FILE = "section_rules.json"
SIGNAL_FILE = "signal_rules.json"
PREFILTER_FILE = "prefilter.json"

CONTEXT_CATEGORIES = {
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HYPOTHETICAL",
    "HISTORICAL",
    "TERMINATE",
    "PSEUDO",
    "FAMILY",
    "ANATOMY",
}
#: Section categories the pipeline understands (others are allowed but count as current).
SECTION_CATEGORIES = {"history", "comparison", "technique", "plan", "findings", "impression", "addendum", "other"}


def _read_json(path: Path, key: str) -> list[dict[str, Any]]:
    data = read_json_object(path)
    if not isinstance(data.get(key), list):
        raise RuleError(f"{path}: expected a JSON object with a list under {key!r}")
    for i, entry in enumerate(data[key]):
        if not isinstance(entry, dict):
            raise RuleError(f"{path}: entry {i} under {key!r} is not a JSON object")
    return data[key]


def _where(path: Path, i: int, entry: dict[str, Any]) -> str:
    return f"{path}: entry {i} ({entry.get('literal', '?')!r})"


def _check_pattern(path: Path, i: int, entry: dict[str, Any]) -> None:
    pattern = entry.get("pattern")
    if pattern is None:
        if not isinstance(entry.get("literal"), str) or not entry["literal"].strip():
            raise RuleError(f"{_where(path, i, entry)}: needs a non-empty 'literal' or a 'pattern'")
        return
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RuleError(f"{_where(path, i, entry)}: 'pattern' is not a valid regular expression: {exc}") from None
    elif not (isinstance(pattern, list) and all(isinstance(t, dict) for t in pattern)):
        raise RuleError(
            f"{_where(path, i, entry)}: 'pattern' must be a regular expression string "
            "or a list of spaCy token patterns (objects)"
        )


def _build(path: Path, i: int, entry: dict[str, Any], cls: type) -> Any:
    try:
        return cls.from_dict(dict(entry))
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise RuleError(f"{_where(path, i, entry)}: {message}") from None


def load_target_rules(path: Path) -> list[TargetRule]:
    """Target rules: category is a finding name; metadata carries the normalised value."""
    rules = []
    for i, entry in enumerate(_read_json(path, "target_rules")):
        _check_pattern(path, i, entry)
        category = entry.get("category")
        if category not in FINDINGS:
            raise RuleError(f"{_where(path, i, entry)}: category {category!r} is not one of {', '.join(FINDINGS)}")
        meta = entry.get("metadata") or {}
        if not isinstance(meta, dict):
            raise RuleError(f"{_where(path, i, entry)}: 'metadata' must be an object")
        if category == "modic" and meta.get("modic_type") not in MODIC_TYPES:
            raise RuleError(
                f"{_where(path, i, entry)}: a modic rule needs metadata.modic_type, one of {', '.join(MODIC_TYPES)}"
            )
        for flag in ("bare", "descriptive"):
            if flag in meta and not isinstance(meta[flag], bool):
                raise RuleError(f"{_where(path, i, entry)}: metadata.{flag} must be true or false")
        rules.append(_build(path, i, entry, TargetRule))
    return rules


def load_context_rules(path: Path) -> list[ConTextRule]:
    """ConText modifier rules in medspaCy's format, with the categories this pipeline reads."""
    rules = []
    for i, entry in enumerate(_read_json(path, "context_rules")):
        _check_pattern(path, i, entry)
        category = str(entry.get("category", "")).upper()
        if category not in CONTEXT_CATEGORIES:
            raise RuleError(
                f"{_where(path, i, entry)}: category {entry.get('category')!r} is not one of "
                f"{', '.join(sorted(CONTEXT_CATEGORIES))}"
            )
        if category == "ANATOMY" and (entry.get("metadata") or {}).get("region") not in REGIONS:
            raise RuleError(
                f"{_where(path, i, entry)}: an ANATOMY rule needs metadata.region, one of {', '.join(REGIONS)}"
            )
        for key in ("allowed_types", "excluded_types"):
            if key in entry:
                bad = [t for t in entry[key] if t not in FINDINGS]
                if bad:
                    raise RuleError(f"{_where(path, i, entry)}: {key} names unknown findings {bad}")
                entry = {**entry, key: set(entry[key])}
        rules.append(_build(path, i, entry, ConTextRule))
    return rules


@dataclass(frozen=True)
class SectionHeader:
    """One section header rule: the regex that finds it and the section it opens."""

    literal: str
    category: str
    regex: str
    literal_key: str = ""  # normalised words of a literal header (no pattern)


def load_section_rules(path: Path) -> list[SectionHeader]:
    """Section rules in medspaCy's SectionRule format; `pattern`, when given, is a regex."""
    headers = []
    for i, entry in enumerate(_read_json(path, "section_rules")):
        _check_pattern(path, i, entry)
        rule = _build(path, i, entry, SectionRule)
        if rule.category not in SECTION_CATEGORIES:
            raise RuleError(
                f"{_where(path, i, entry)}: category {rule.category!r} is not one of "
                f"{', '.join(sorted(SECTION_CATEGORIES))}"
            )
        if isinstance(rule.pattern, list):
            raise RuleError(f"{_where(path, i, entry)}: section 'pattern' must be a regular expression string")
        regex = rule.pattern or r"\s+".join(re.escape(w) for w in rule.literal.split())
        key = "" if rule.pattern else " ".join(rule.literal.lower().split())
        headers.append(SectionHeader(rule.literal, rule.category, regex, key))
    return headers


@dataclass(frozen=True)
class SignalRules:
    """Vocabulary for Modic types described by MRI signal instead of named."""

    sequences: dict[str, str]
    intensities: dict[str, str]
    anchor: str
    types: list[dict[str, str]]
    attributions: str = ""


def load_signal_rules(path: Path) -> SignalRules:
    if not path.is_file():
        raise RuleError(f"{path}: rule file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    for key, kind in (("sequences", dict), ("intensities", dict), ("anchor", str), ("types", list)):
        if not isinstance(data.get(key), kind):
            raise RuleError(f"{path}: expected {key!r} to be a JSON {'object' if kind is dict else kind.__name__}")
    for key in ("sequences", "intensities"):
        for name, regex in data[key].items():
            _compile(path, f"{key}.{name}", regex)
    _compile(path, "anchor", data["anchor"])
    if "attributions" in data:
        _compile(path, "attributions", data["attributions"])
    for i, entry in enumerate(data["types"]):
        if entry.get("modic_type") not in MODIC_TYPES:
            raise RuleError(f"{path}: types entry {i}: modic_type must be one of {', '.join(MODIC_TYPES)}")
        for seq, value in entry.items():
            if seq != "modic_type" and (seq not in data["sequences"] or value not in data["intensities"]):
                raise RuleError(f"{path}: types entry {i}: {seq!r}: {value!r} names an unknown sequence or intensity")
    return SignalRules(
        data["sequences"], data["intensities"], data["anchor"], data["types"], data.get("attributions", "")
    )


class Prefilter:
    """The triggers: a sentence is analysed only if it holds one.

    Triggers are written in lower case and matched against the lower-cased report, which is
    several times faster than a case-insensitive search. Each trigger is numbered, so a target
    rule can be tried only in reports that hold a trigger its own literal holds.

    The scan is one regular expression whose alternatives are grouped by their first letter
    ("m(?:arrow|etasta|...)|t(?:1|2|ype...)|..."): Python's engine then tries one group per
    position instead of every alternative, about five times faster than the plain alternation,
    and it finds the same hits (within a group the alternatives keep their order).
    """

    def __init__(self, triggers: list[str]):
        self.triggers = [re.compile(t) for t in triggers]
        self._plain = re.compile("|".join(f"(?:{t})" for t in triggers))
        self._folded = re.compile(self._plain.pattern, re.IGNORECASE)
        self._scan, self._by_first, self._numbers = first_letter_scan(triggers)

    def hits(self, text: str) -> list[tuple[int, int]]:
        """(offset, trigger number) of each trigger in `text`, in order."""
        lowered = text.lower()
        if len(lowered) != len(text):
            # lower() changed the length (rare characters): search case-insensitively to keep the offsets
            return [(m.start(), self._which(m.group().lower(), 0)) for m in self._folded.finditer(text)]
        if self._numbers is not None:  # the group that matched names the trigger
            numbers = self._numbers
            return [(m.start(), numbers[m.lastindex]) for m in self._scan.finditer(lowered)]
        return [(m.start(), self._which(lowered, m.start())) for m in self._scan.finditer(lowered)]

    def plain_hits(self, text: str) -> list[tuple[int, int]]:
        """`hits` with the plain alternation of the triggers: what the grouped scan must equal."""
        lowered = text.lower()
        if len(lowered) != len(text):
            return self.hits(text)
        return [(m.start(), self._which(lowered, m.start())) for m in self._plain.finditer(lowered)]

    def _which(self, lowered: str, pos: int) -> int:
        """The number of the trigger that matched at pos (the first that matches there, as the search did)."""
        candidates = self._by_first.get(lowered[pos : pos + 1], self._by_first[""])
        return next((i for i in candidates if self.triggers[i].match(lowered, pos)), 0)

    def search(self, text: str) -> bool:
        return self._plain.search(text.lower()) is not None

    def triggers_in(self, literal: str) -> frozenset[int]:
        """The triggers a rule's literal holds: the rule is tried only where one of them was seen."""
        lowered = literal.lower()
        return frozenset(i for i, rx in enumerate(self.triggers) if rx.search(lowered))


def load_prefilter(path: Path) -> Prefilter:
    triggers = []
    for i, entry in enumerate(_read_json(path, "triggers")):
        regex = entry.get("pattern")
        if not isinstance(regex, str):
            raise RuleError(f"{path}: entry {i}: expected a 'pattern' string")
        _compile(path, f"entry {i}", regex)
        if re.search(r"(?<!\\)[A-Z]", regex):
            raise RuleError(
                f"{path}: entry {i} ({regex!r}): write triggers in lower case (they are matched "
                "against the lower-cased report)"
            )
        triggers.append(regex)
    return Prefilter(triggers)


def _compile(path: Path, where: str, regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.IGNORECASE)
    except (re.error, TypeError) as exc:
        raise RuleError(f"{path}: {where}: not a valid regular expression: {exc}") from None


def check_prefilter_covers(prefilter: Prefilter, rules: list[TargetRule], path: Path) -> None:
    """Every target rule's literal must pass the prefilter, or the rule could never fire."""
    for i, rule in enumerate(rules):
        if not prefilter.search(rule.literal):
            raise RuleError(
                f"{path}: entry {i} ({rule.literal!r}): its literal does not match any trigger in "
                f"{PREFILTER_FILE}; add a trigger so sentences holding it are analysed"
            )
