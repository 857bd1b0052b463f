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
class AnalysedReport:
    """A report's sentences and the Doc of its candidate sentences (None when none qualified).

    `placed[k]` is (offset of candidate sentence k in the Doc, the Sentence it came from).
    """

    text: str
    sentences: list[Sentence]
    doc: Doc | None
    placed: list[tuple[int, Sentence]]


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

    def _prepare(self, text: str) -> tuple[AnalysedReport, Doc | None]:
        sentences = self.structurer.split(text)
        hits = self.prefilter.starts(text)  # one scan of the whole report
        placed: list[tuple[int, Sentence]] = []
        pieces: list[str] = []
        offset = 0
        for s in sentences:
            first = bisect_left(hits, s.start)
            if first < len(hits) and hits[first] < s.end:
                piece = text[s.start : s.end]
                placed.append((offset, s))
                pieces.append(piece)
                offset += len(piece) + len(JOIN)
        if not pieces:
            return AnalysedReport(text, sentences, None, []), None
        doc = sentence_starts(self.nlp.make_doc(JOIN.join(pieces)), [o for o, _ in placed])
        return AnalysedReport(text, sentences, doc, placed), doc

    def analyse(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[AnalysedReport]:
        """Analyse reports in order; one AnalysedReport per input text."""
        prepared = [self._prepare(t) for t in texts]
        docs = [doc for _, doc in prepared if doc is not None]
        processed = iter(self.nlp.pipe(docs, batch_size=batch_size))
        for report, doc in prepared:
            if doc is not None:
                report.doc = next(processed)
            yield report
