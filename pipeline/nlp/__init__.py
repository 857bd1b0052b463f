"""The NLP stage: report text -> sentences with sections -> findings with ConText modifiers.

Only sentences that can hold a finding (they match the prefilter built from
patterns/prefilter.json) are tokenised; a report's candidate sentences go through spaCy
as one Doc with their sentence boundaries set, so ConText scopes stop at the sentence.
"""

from __future__ import annotations

import logging
import os
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from ..errors import RuleError
from . import components  # noqa: F401  (registers the modic_* factories)
from .components import sentence_starts
from .rules import (
    CONTEXT_FILE,
    PREFILTER_FILE,
    SECTION_FILE,
    SIGNAL_FILE,
    TARGET_FILE,
    check_prefilter_covers,
    load_prefilter,
    load_section_rules,
    load_target_rules,
)
from .structure import Sentence, Structurer

#: Separator between candidate sentences inside one Doc.
JOIN = "\n\n"
#: ConText compares every modifier with every other in a Doc, so a long report is cut into
#: Docs of about this many characters (whole sentences) to keep its cost linear.
MAX_DOC_CHARS = 4000


def default_patterns_dir() -> Path:
    """patterns/ next to the package (a source checkout), unless MODIC_PATTERNS says otherwise."""
    env = os.environ.get("MODIC_PATTERNS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "patterns"


def _quiet_medspacy() -> None:
    # PyRuSH logs every token at DEBUG through loguru; nothing here uses it, but silence it anyway.
    try:
        from loguru import logger

        logger.disable("PyRuSH")
    except ImportError:  # pragma: no cover - loguru comes with medspaCy
        pass
    logging.getLogger("medspacy").setLevel(logging.WARNING)
    # ConText keeps an empty token Matcher when every rule is a phrase or a regex; spaCy warns on each call
    warnings.filterwarnings("ignore", message=r"\[W036\]")


def build_nlp(patterns_dir: Path) -> Language:
    """A blank English tokenizer with the project's target matcher, signal typer and ConText."""
    _quiet_medspacy()
    nlp = spacy.blank("en")
    nlp.add_pipe("modic_target_matcher", config={"rules": str(patterns_dir / TARGET_FILE)})
    nlp.add_pipe("modic_signal_typer", config={"rules": str(patterns_dir / SIGNAL_FILE)})
    nlp.add_pipe("modic_context", config={"rules": str(patterns_dir / CONTEXT_FILE)})
    return nlp


@dataclass
class Part:
    """A Doc holding some of a report's candidate sentences.

    `placed[k]` is (offset of candidate sentence k in the Doc, the Sentence it came from).
    """

    doc: Doc
    placed: list[tuple[int, Sentence]]


@dataclass
class AnalysedReport:
    """A report's sentences and the Docs of its candidate sentences (none when nothing qualified)."""

    text: str
    sentences: list[Sentence]
    parts: list[Part]


class Analyzer:
    """Loads and checks every rule file once, then analyses reports in batches."""

    def __init__(self, patterns_dir: Path | None = None):
        self.patterns_dir = Path(patterns_dir) if patterns_dir else default_patterns_dir()
        if not self.patterns_dir.is_dir():
            raise RuleError(f"{self.patterns_dir}: patterns folder not found (set --patterns or MODIC_PATTERNS)")
        self.prefilter = load_prefilter(self.patterns_dir / PREFILTER_FILE)
        target_path = self.patterns_dir / TARGET_FILE
        check_prefilter_covers(self.prefilter, load_target_rules(target_path), target_path)
        self.structurer = Structurer(load_section_rules(self.patterns_dir / SECTION_FILE))
        self.nlp = build_nlp(self.patterns_dir)

    def _prepare(self, text: str) -> AnalysedReport:
        sentences = self.structurer.split(text)
        hits = self.prefilter.starts(text)  # one scan of the whole report
        parts: list[Part] = []
        pieces: list[str] = []
        placed: list[tuple[int, Sentence]] = []
        offset = 0
        for s in sentences:
            first = bisect_left(hits, s.start)
            if first < len(hits) and hits[first] < s.end:
                piece = text[s.start : s.end]
                placed.append((offset, s))
                pieces.append(piece)
                offset += len(piece) + len(JOIN)
                if offset >= MAX_DOC_CHARS:
                    parts.append(self._part(pieces, placed))
                    pieces, placed, offset = [], [], 0
        if pieces:
            parts.append(self._part(pieces, placed))
        return AnalysedReport(text, sentences, parts)

    def _part(self, pieces: list[str], placed: list[tuple[int, Sentence]]) -> Part:
        doc = sentence_starts(self.nlp.make_doc(JOIN.join(pieces)), [o for o, _ in placed])
        return Part(doc, placed)

    def analyse(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[AnalysedReport]:
        """Analyse reports in order; one AnalysedReport per input text."""
        prepared = [self._prepare(t) for t in texts]
        parts = [part for report in prepared for part in report.parts]
        for part, doc in zip(parts, self.nlp.pipe((p.doc for p in parts), batch_size=batch_size)):
            part.doc = doc
        yield from prepared
