"""spaCy components of the pipeline. Each takes the path of its rule file in its config."""

# No `from __future__ import annotations`: spaCy reads the factories' type hints at run time.
from pathlib import Path

from medspacy.context import ConText
from medspacy.target_matcher import TargetMatcher
from spacy.language import Language
from spacy.tokens import Doc, Span

from .rules import load_context_rules, load_target_rules

FINDINGS_GROUP = "findings"


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
    return context


# Set on a described Modic change that its sentence puts down to something else.
if not Span.has_extension("attributed"):
    Span.set_extension("attributed", default=False)
