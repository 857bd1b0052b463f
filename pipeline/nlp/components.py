"""spaCy components of the pipeline. Each takes the path of its rule file in its config."""

# No `from __future__ import annotations`: spaCy reads the factories' type hints at run time.
import re
from pathlib import Path

from medspacy.common.util import prune_overlapping_matches
from medspacy.context import ConText
from medspacy.target_matcher import TargetMatcher, TargetRule
from spacy.language import Language
from spacy.tokens import Doc, Span

from .rules import SignalRules, load_context_rules, load_signal_rules, load_target_rules

FINDINGS_GROUP = "findings"


class RuleMatcher:
    """medspaCy TargetRules matched into doc.spans["findings"], overlaps pruned to the longest.

    Regex rules run here over the Doc text computed once: medspaCy 1.3's RegexMatcher rebuilds
    `doc.text_with_ws` for every pattern, which made it most of the run time. Literal and
    token-pattern rules go through medspaCy's own TargetMatcher, and all matches are pruned
    together with medspaCy's `prune_overlapping_matches`, as its matcher does.
    """

    def __init__(self, nlp: Language, name: str, rules: list):
        self._regex = [
            (rule, re.compile(rule.pattern, re.IGNORECASE)) for rule in rules if isinstance(rule.pattern, str)
        ]
        others = [rule for rule in rules if not isinstance(rule.pattern, str)]
        self._others = None
        if others:
            # medspaCy 1.3.1 cannot take `rules` in its own config: it loads them before its matcher exists
            self._others = TargetMatcher(nlp, name=name, rules=None, result_type=None)
            self._others.add(others)

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        matches = []
        for key, (_, rx) in enumerate(self._regex):
            for m in rx.finditer(text):
                span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
                if span is not None and len(span):
                    matches.append((key, span.start, span.end))
        others = self._others(doc) if self._others is not None else []
        base = len(self._regex)
        matches += [(base + j, s.start, s.end) for j, s in enumerate(others)]
        spans = []
        for key, start, end in prune_overlapping_matches(matches) if matches else []:
            if key >= base:
                spans.append(others[key - base])
                continue
            rule = self._regex[key][0]
            span = Span(doc, start, end, label=rule.category)
            span._.target_rule = rule
            spans.append(span)
        doc.spans[FINDINGS_GROUP] = spans
        return doc


@Language.factory("modic_target_matcher", default_config={"rules": ""})
def make_target_matcher(nlp: Language, name: str, rules: str) -> RuleMatcher:
    """Target rules from a JSON path into doc.spans["findings"]."""
    return RuleMatcher(nlp, name, load_target_rules(Path(rules)))


@Language.factory("modic_context", default_config={"rules": ""})
def make_context(nlp: Language, name: str, rules: str) -> ConText:
    """medspaCy's ConText over the findings span group, with the project's radiology rules only."""
    context = ConText(
        nlp,
        name=name,
        rules=None,
        span_attrs=None,
        input_span_type="group",
        span_group_name=FINDINGS_GROUP,
    )
    context.add(load_context_rules(Path(rules)))
    return context


class SignalTyper:
    """Adds Modic changes that a report describes by MRI signal instead of naming them.

    "T1 hypointense, T2/STIR hyperintense signal at the L4 inferior endplate" is a Modic
    type 1 change. In a sentence that names an endplate (the anchor), each sequence
    (T1, T2, STIR) is paired with the intensity next to it, lists included ("T1 and T2
    hyperintense", "hyperintense on T1 and T2"); the first type in signal_rules.json whose
    requirements all hold gives the type.
    """

    def __init__(self, rules: SignalRules):
        self.rules = rules
        seq = "|".join(f"(?:{r})" for r in rules.sequences.values())
        one = rf"(?:{seq})(?:[\s-]*(?:weighted|w|wi)\b)?"
        seq_list = rf"{one}(?:\s*(?:and|/|,|&|or)\s*{one})*"
        intensity = "|".join(f"(?:{r})" for r in rules.intensities.values())
        self._seq = {name: re.compile(rf"^(?:{r})", re.I) for name, r in rules.sequences.items()}
        self._seq_any = re.compile(seq, re.I)
        self._int = {name: re.compile(rf"(?:{r})", re.I) for name, r in rules.intensities.items()}
        signal = r"(?:\s+(?:marrow\s+)?signal(?:\s+intensity)?|\s+intensity)?"
        self._forms = [
            # "T1 and T2 hyperintense", "T2/STIR hyperintense", "T1-weighted hypointense"
            re.compile(rf"(?<![\w])(?P<seq>{seq_list})[\s-]*(?P<int>{intensity})", re.I),
            # "hyperintense on T1 and T2", "low signal on T1-weighted images"
            re.compile(rf"(?P<int>{intensity}){signal}\s+(?:on|in)\s+(?:the\s+)?(?:both\s+)?(?P<seq>{seq_list})", re.I),
            # "low T1 and high T2 signal": intensity directly before one sequence
            re.compile(rf"(?P<int>{intensity})\s+(?P<seq>(?:{seq}))(?![\w])", re.I),
        ]
        self._anchor = re.compile(rules.anchor, re.I)
        self._attribution = re.compile(rules.attributions, re.I) if rules.attributions else None
        self._rule = {
            t["modic_type"]: TargetRule(
                literal=f"signal description of Modic type {t['modic_type']}",
                category="modic",
                metadata={"modic_type": t["modic_type"], "descriptive": True},
            )
            for t in rules.types
        }

    def describe(self, text: str) -> "tuple[dict[str, str], int, int] | None":
        """Sequence -> intensity pairs found in a sentence, with the span they cover."""
        found: dict[str, str] = {}
        taken: list[tuple[int, int]] = []
        for form in self._forms:
            for m in form.finditer(text):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                level = next((n for n, rx in self._int.items() if rx.fullmatch(m.group("int"))), None)
                if level is None:
                    continue
                for s in self._seq_any.finditer(m.group("seq")):
                    name = next(n for n, rx in self._seq.items() if rx.match(s.group(0)))
                    found.setdefault(name, level)
                taken.append((m.start(), m.end()))
        if not found:
            return None
        return found, min(a for a, _ in taken), max(b for _, b in taken)

    def modic_type(self, signals: dict[str, str]) -> "str | None":
        for entry in self.rules.types:
            needs = {k: v for k, v in entry.items() if k != "modic_type"}
            if all(signals.get(k) == v for k, v in needs.items()):
                return entry["modic_type"]
        return None

    def __call__(self, doc: Doc) -> Doc:
        group = list(doc.spans[FINDINGS_GROUP]) if FINDINGS_GROUP in doc.spans else []
        added = []
        for sent in doc.sents:
            text = sent.text
            if self._attribution and self._attribution.search(text):
                # oedema put down to a bruise, a haemangioma, surgery...: not a Modic change
                for span in group:
                    if sent.start <= span.start < sent.end and _is_described(span):
                        span._.attributed = True
                continue
            anchor = self._anchor.search(text)
            if not anchor:
                continue
            described = self.describe(text)
            if not described:
                continue
            signals, a, b = described
            modic_type = self.modic_type(signals)
            if modic_type is None:
                continue
            a, b = min(a, anchor.start()), max(b, anchor.end())
            span = doc.char_span(sent.start_char + a, sent.start_char + b, label="modic", alignment_mode="expand")
            if span is None or any(s.label_ == "modic" and s.start < span.end and span.start < s.end for s in group):
                continue
            span._.target_rule = self._rule[modic_type]
            added.append(span)
        if added:
            doc.spans[FINDINGS_GROUP] = group + added
        return doc


def _is_described(span: Span) -> bool:
    rule = span._.target_rule
    return bool(rule is not None and rule.metadata and rule.metadata.get("descriptive"))


if not Span.has_extension("attributed"):
    Span.set_extension("attributed", default=False)


@Language.factory("modic_signal_typer", default_config={"rules": ""})
def make_signal_typer(nlp: Language, name: str, rules: str) -> SignalTyper:
    return SignalTyper(load_signal_rules(Path(rules)))


def sentence_starts(doc: Doc, starts: list[int]) -> Doc:
    """Mark the tokens at the given character offsets as sentence starts, all others not."""
    wanted = set(starts)
    for token in doc:
        token.is_sent_start = token.idx in wanted or token.i == 0
    return doc
