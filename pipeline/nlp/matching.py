"""Finding targets in the raw text of a report's candidate sentences, before any tokenising.

Target rules keep medspaCy's TargetRule format. Regex rules run as they are and literal rules
become the equivalent whole-word, case-insensitive regex, so every match is found on the
raw text; only sentences that hold a match are then tokenised for ConText. Each rule runs
only when a prefilter trigger its literal contains was seen in the report: a fusion rule
is not tried on a report that never mentions hardware. (Token-pattern rules, if a rule
file has any, need tokens: they are matched later by medspaCy's TargetMatcher.)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from medspacy.target_matcher import TargetRule

from .rules import Prefilter, SignalRules
from .skipahead import skip_ahead

_TOKENISH = re.compile(r"\w+|[^\w\s]")  # about what spaCy's tokenizer splits a phrase into


@dataclass
class Match:
    """A target found in text: character offsets, the rule behind it, and whether the report
    explains it away (oedema attributed to a bruise or a haemangioma is not Modic)."""

    start: int
    end: int
    rule: TargetRule
    attributed: bool = False


def literal_regex(literal: str) -> str:
    """A phrase as a whole-word, whitespace-tolerant regex (what phrase matching on LOWER does)."""
    return r"(?<!\w)" + r"\s+".join(re.escape(word) for word in literal.split()) + r"(?!\w)"


class TextMatcher:
    """Regex and literal TargetRules over raw text, overlaps pruned to the longest match."""

    def __init__(self, rules: list[TargetRule], prefilter: Prefilter):
        self.rules: list[tuple[TargetRule, re.Pattern[str], frozenset[int]]] = []
        self.token_rules = [rule for rule in rules if isinstance(rule.pattern, list)]
        by_gate: dict[frozenset[int], list[int]] = {}
        for rule in rules:
            if isinstance(rule.pattern, list):
                continue
            regex = rule.pattern if isinstance(rule.pattern, str) else literal_regex(rule.literal)
            gate = prefilter.triggers_in(rule.literal)
            by_gate.setdefault(gate, []).append(len(self.rules))
            self.rules.append((rule, re.compile(regex, re.IGNORECASE), gate))
        # Rules sharing a gate are first searched for together: one scan of a stretch with the
        # alternation of their patterns tells whether any of them can match there at all.
        self.groups = [(gate, keys, _any_of([self.rules[k][1] for k in keys])) for gate, keys in by_gate.items()]
        # The same patterns for lower-cased ASCII text, rewritten to skip ahead (see skipahead.py);
        # None where a pattern could not be rewritten, and then the pattern itself is used.
        self.fast_rules = [skip_ahead(rx) for _, rx, _ in self.rules]
        self.fast_groups = [skip_ahead(any_of) if any_of is not None else None for _, _, any_of in self.groups]
        # The groups each trigger gates, and each group's (key, pattern, rewritten pattern) ready to run.
        self._gated: dict[int, list[int]] = {}
        for g, (gate, _, _) in enumerate(self.groups):
            for trigger in gate:
                self._gated.setdefault(trigger, []).append(g)
        self._runs = [[(k, self.rules[k][1], self.fast_rules[k]) for k in keys] for _, keys, _ in self.groups]

    def find(self, text: str, pieces: list[tuple[int, int, set[int]]] | None = None) -> list[Match]:
        """Matches in text, the longest kept where two overlap.

        `pieces` (start, end, triggers seen there) limits each rule to the stretches of text
        holding one of its triggers; None runs every rule over the whole text.
        """
        found: list[tuple[int, int, int]] = []
        if pieces is None:
            for key, (_, rx, _) in enumerate(self.rules):
                found.extend((m.start(), m.end(), key) for m in rx.finditer(text) if m.end() > m.start())
        else:
            lowered = text.lower() if text.isascii() else None  # for the rewritten patterns
            holding: dict[int, list[int]] = {}  # trigger -> the pieces holding it
            for i, (_, _, triggers) in enumerate(pieces):
                for trigger in triggers:
                    holding.setdefault(trigger, []).append(i)
            # (matches are sorted below, so the order the groups are tried in does not matter)
            for g in {g for trigger in holding for g in self._gated.get(trigger, ())}:
                gate, _, any_of = self.groups[g]
                held = [holding[t] for t in gate if t in holding]
                fast_any_of = self.fast_groups[g]
                if lowered is not None and fast_any_of is not None:
                    any_of, group_text = fast_any_of, lowered
                else:
                    group_text = text
                for start, end in _stretches(pieces, held[0] if len(held) == 1 else sorted(set().union(*held))):
                    if any_of is not None:
                        first = any_of.search(group_text, start, end)
                        if first is None:
                            continue
                        # no rule of the group matches before the first place one of them does
                        start = first.start()
                    for key, rx, fast in self._runs[g]:
                        if fast is not None and lowered is not None:
                            matches = fast.finditer(lowered, start, end)
                        else:
                            matches = rx.finditer(text, start, end)
                        for m in matches:
                            if m.end() > m.start():
                                found.append((m.start(), m.end(), key))
        found.sort()
        if all(a[1] <= b[0] for a, b in zip(found, found[1:])):
            return [Match(start, end, self.rules[key][0]) for start, end, key in found]  # no overlap to prune
        # the match of more tokens wins (as medspaCy prunes); among equals the earlier, then the rule listed first
        found.sort(key=lambda f: (-len(_TOKENISH.findall(text, f[0], f[1])), f[0], f[2]))
        # The matches kept do not overlap: kept in order of start, a new one can only overlap the
        # last kept that starts before it or the first that starts after it (a search, not a look
        # at every match kept, which was quadratic: a 1 MB report has thousands of matches).
        starts: list[int] = []
        kept: list[tuple[int, int, int]] = []
        for start, end, key in found:
            i = bisect_right(starts, start)
            if (i and kept[i - 1][1] > start) or (i < len(kept) and kept[i][0] < end):
                continue
            starts.insert(i, start)
            kept.insert(i, (start, end, key))
        return [Match(start, end, self.rules[key][0]) for start, end, key in kept]


def _any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One pattern matching wherever any of `patterns` does (None if they cannot be joined)."""
    if len(patterns) < 2:
        return None
    try:
        return re.compile("|".join(f"(?:{_scoped(p.pattern)})" for p in patterns), re.IGNORECASE)
    except re.error:  # e.g. the same group name in two rules: search each on its own
        return None


def _scoped(pattern: str) -> str:
    """A pattern with its leading global flags ("(?i)...") turned into a scoped group, to be joined."""
    m = re.match(r"\(\?([aiLmsux]+)\)", pattern)
    return f"(?{m.group(1)}:{pattern[m.end():]})" if m else pattern


def _stretches(pieces: list[tuple[int, int, set[int]]], indices: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive pieces among `indices` (sorted), as (start, end) ranges of the text."""
    out: list[tuple[int, int]] = []
    previous = -2
    for i in indices:
        start, end, _ = pieces[i]
        if previous == i - 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
        previous = i
    return out


class SignalTyper:
    """Modic changes a report describes by MRI signal instead of naming them.

    "T1 hypointense, T2/STIR hyperintense signal at the L4 inferior endplate" is a Modic
    type 1 change. In a sentence that names an endplate (the anchor), each sequence (T1, T2,
    STIR) is paired with the intensity next to it, lists included ("T1 and T2 hyperintense",
    "hyperintense on T1 and T2"); the first type in signal_rules.json whose requirements all
    hold gives the type. The rule's `attributions` (bruise, haemangioma, surgery...) in the
    same sentence mean the described change is not Modic.
    """

    def __init__(self, rules: SignalRules):
        self.rules = rules
        seq = "|".join(f"(?:{r})" for r in rules.sequences.values())
        one = rf"(?:{seq})(?:[\s-]*(?:weighted|w|wi)\b)?"
        seq_list = rf"{one}(?:\s*(?:and|/|,|&|or)\s*{one})*"
        intensity = "|".join(f"(?:{r})" for r in rules.intensities.values())
        self._seq = {name: re.compile(rf"^(?:{r})", re.I) for name, r in rules.sequences.items()}
        self._seq_any = re.compile(seq, re.I)
        self._fast_seq_any = skip_ahead(self._seq_any)
        self._int = {name: re.compile(rf"(?:{r})", re.I) for name, r in rules.intensities.items()}
        signal = r"(?:\s+(?:marrow\s+)?signal(?:\s+intensity)?|\s+intensity)?"
        self._forms = [
            # "T1 and T2 hyperintense", "T2/STIR hyperintense", "T1-weighted hypointense"
            re.compile(rf"(?<![\w])(?P<seq>{seq_list})[\s-]*(?P<int>{intensity})", re.I),
            # "hyperintense on T1 and T2", "low signal on both T1 and T2"
            re.compile(rf"(?P<int>{intensity}){signal}\s+(?:on|in)\s+(?:the\s+)?(?:both\s+)?(?P<seq>{seq_list})", re.I),
            # "low T1 and high T2 signal": intensity directly before one sequence
            re.compile(rf"(?P<int>{intensity})\s+(?P<seq>(?:{seq}))(?![\w])", re.I),
        ]
        self._anchor = re.compile(rules.anchor, re.I)
        self._fast_anchor = skip_ahead(self._anchor)  # for lower-cased ASCII sentences
        self._boundary_sensitive = re.search(r"\$|\\Z|\^|\\A|\(\?<?!", rules.anchor) is not None
        self.attribution = re.compile(rules.attributions, re.I) if rules.attributions else None
        self._rule = {
            t["modic_type"]: TargetRule(
                literal=f"signal description of Modic type {t['modic_type']}",
                category="modic",
                metadata={"modic_type": t["modic_type"], "descriptive": True},
            )
            for t in rules.types
        }

    def describe(self, text: str) -> tuple[dict[str, str], int, int] | None:
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

    def modic_type(self, signals: dict[str, str]) -> str | None:
        for entry in self.rules.types:
            needs = {k: v for k, v in entry.items() if k != "modic_type"}
            if all(signals.get(k) == v for k, v in needs.items()):
                return entry["modic_type"]
        return None

    def anchored(self, text: str) -> list[tuple[int, int]] | None:
        """The spans of the anchor's matches in a text of several sentences: a sentence that none
        of them overlaps holds no anchor of its own (one search instead of one per sentence).

        None when the anchor could match a sentence alone but not within the text (it anchors
        at a start or an end, or looks around negatively): then each sentence is searched."""
        if self._boundary_sensitive:
            return None
        if self._fast_anchor is not None and text.isascii():
            return [m.span() for m in self._fast_anchor.finditer(text.lower())]
        return [m.span() for m in self._anchor.finditer(text)]

    def find(self, sentence: str) -> Match | None:
        """The described Modic change of one sentence, if it has one."""
        lowered = sentence.lower() if sentence.isascii() else None
        if self._fast_anchor is not None and lowered is not None:
            anchor = self._fast_anchor.search(lowered)
        else:
            anchor = self._anchor.search(sentence)
        if not anchor:
            return None
        # every form of description names a sequence: without one there is none to read
        if self._fast_seq_any is not None and lowered is not None:
            if self._fast_seq_any.search(lowered) is None:
                return None
        elif self._seq_any.search(sentence) is None:
            return None
        described = self.describe(sentence)
        if not described:
            return None
        signals, a, b = described
        modic_type = self.modic_type(signals)
        if modic_type is None:
            return None
        return Match(min(a, anchor.start()), max(b, anchor.end()), self._rule[modic_type])

    def explained_away(self, sentence: str) -> bool:
        return bool(self.attribution and self.attribution.search(sentence))
