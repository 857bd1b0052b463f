"""spaCy components of the pipeline. Each takes the path of its rule file in its config."""

# No `from __future__ import annotations`: spaCy reads the factories' type hints at run time.
from pathlib import Path

from medspacy.common.regex_matcher import RegexMatcher
from medspacy.common.util import get_token_for_char
from medspacy.context import ConText
from medspacy.target_matcher import TargetMatcher
from spacy.language import Language
from spacy.tokens import Doc, Span

from .rules import load_context_rules, load_target_rules
from .skipahead import skip_ahead

FINDINGS_GROUP = "findings"
#: doc.user_data key under which the Analyzer keeps the text a Doc was made from (spaCy's
#: doc.text rebuilds it from the tokens on every call).
TEXT_KEY = "modic_text"


class TokenRuleMatcher:
    """Token-pattern target rules (a list of spaCy token patterns), which need tokens to match.

    Their spans join the ones found on the raw text, unless they overlap one of those.
    """

    def __init__(self, nlp: Language, name: str, rules: list):
        # medspaCy 1.3.1 cannot take `rules` in its own config: it loads them before its matcher exists
        self.matcher = TargetMatcher(nlp, name=name, rules=None, result_type=None)
        self.matcher.add(rules)

    def __call__(self, doc: Doc) -> Doc:
        existing = list(doc.spans[FINDINGS_GROUP]) if FINDINGS_GROUP in doc.spans else []
        added = [s for s in self.matcher(doc) if not any(s.start < e.end and e.start < s.end for e in existing)]
        doc.spans[FINDINGS_GROUP] = sorted(existing + added, key=lambda s: s.start)
        return doc


@Language.factory("modic_token_matcher", default_config={"rules": ""})
def make_token_matcher(nlp: Language, name: str, rules: str) -> TokenRuleMatcher:
    """The token-pattern rules of a target rule file."""
    return TokenRuleMatcher(nlp, name, [r for r in load_target_rules(Path(rules)) if isinstance(r.pattern, list)])


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
    _share_text(context)
    _skip_empty_token_matcher(context)
    return context


class SharedTextRegexMatcher(RegexMatcher):
    """medspaCy's RegexMatcher, reading the Doc's text once per call.

    medspaCy 1.3 rebuilds `doc.text_with_ws` (a Python loop over the tokens) for every regex
    rule; with the project's three regex ConText rules that was a tenth of the NLP time. Here
    the text is read once, from doc.user_data[TEXT_KEY] when the Analyzer left it there (the
    string the Doc was made from, which spaCy's tokenizer keeps character for character), and
    ASCII text is searched lower-cased with the rules rewritten to skip ahead. The
    matches are the same: a match that does not fall on token boundaries snaps outwards, as
    medspaCy does with its default resolve_start="left", resolve_end="right".
    """

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        matches: list[tuple[int, int, int]] = []
        if not self._patterns:
            return matches
        text = doc.user_data.get(TEXT_KEY)
        if text is None:
            text = doc.text_with_ws
        lowered = text.lower() if text.isascii() else None
        fast_patterns = self.__dict__.setdefault("_fast_patterns", {})
        for match_id, patterns in self._patterns.items():
            on_match = self._callbacks[match_id]
            for pattern in patterns:
                if pattern not in fast_patterns:
                    fast_patterns[pattern] = skip_ahead(pattern)  # see skipahead.py
                fast = fast_patterns[pattern]
                use_fast = fast is not None and lowered is not None
                for found in fast.finditer(lowered) if use_fast else pattern.finditer(text):
                    span = doc.char_span(found.start(), found.end())
                    if span is None:
                        first = get_token_for_char(doc, found.start(), resolve=self.resolve_start)
                        last = get_token_for_char(doc, found.end(), resolve=self.resolve_end)
                        span = doc[first.i : len(doc) if last is None else last.i]
                    if len(span):
                        matches.append((match_id, span.start, span.end))
                    if on_match is not None:
                        on_match(self, doc, len(matches) - 1, matches)
        return matches


def _share_text(context: ConText) -> None:
    """Swap the regex matcher inside ConText's matcher for SharedTextRegexMatcher (medspaCy 1.3.1 layout)."""
    matcher = getattr(context, "_ConText__matcher", None)
    regex_matcher = getattr(matcher, "_MedspacyMatcher__regex_matcher", None)
    if type(regex_matcher) is RegexMatcher:
        regex_matcher.__class__ = SharedTextRegexMatcher


class _NoTokenPatterns:
    """Stands in for a token Matcher that holds no pattern: it finds nothing, and says nothing.

    spaCy's Matcher warns (W036) on every call when it is empty, as ConText's is when every
    ConText rule is a phrase or a regex; the warning, even filtered out, cost about 35 µs a
    report, a third of ConText's own time.
    """

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        return []


def _skip_empty_token_matcher(context: ConText) -> None:
    """Swap the token Matcher inside ConText's matcher for _NoTokenPatterns when it has no pattern."""
    matcher = getattr(context, "_ConText__matcher", None)
    token_matcher = getattr(matcher, "_MedspacyMatcher__matcher", None)
    if token_matcher is not None and len(token_matcher) == 0:
        matcher._MedspacyMatcher__matcher = _NoTokenPatterns()


# Set on a described Modic change that its sentence puts down to something else.
if not Span.has_extension("attributed"):
    Span.set_extension("attributed", default=False)
