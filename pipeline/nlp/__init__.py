"""The NLP stage: report text -> sentences with sections -> findings with ConText modifiers.

Sentences that can hold a finding (they hold a trigger of patterns/prefilter.json) are
searched for targets on their raw text; only those with a match are tokenised, as one Doc per
report with their sentence boundaries set (so ConText scopes stop at the sentence) and the
matches as spans in doc.spans["findings"].
"""

from __future__ import annotations

import logging
import os
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from ..errors import RuleError
from ..exams import ExamDetector
from ..textscan import bounded_blanks
from . import components  # noqa: F401  (registers the modic_* factories)
from .components import FINDINGS_GROUP, TEXT_KEY
from .matching import Match, SignalTyper, TextMatcher
from .rules import (
    CONTEXT_FILE,
    PREFILTER_FILE,
    SECTION_FILE,
    SIGNAL_FILE,
    TARGET_FILE,
    check_prefilter_covers,
    load_prefilter,
    load_section_rules,
    load_signal_rules,
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


def build_nlp(patterns_dir: Path, token_rules: list | None = None) -> Language:
    """A blank English tokenizer and medspaCy ConText with the project's radiology rules.

    Targets are found on the raw text before tokenising (see matching.py); only token-pattern
    target rules, if a rule file has any, need medspaCy's TargetMatcher in the pipeline.
    """
    _quiet_medspacy()
    nlp = spacy.blank("en")
    if token_rules:
        nlp.add_pipe("modic_token_matcher", config={"rules": str(patterns_dir / TARGET_FILE)})
    nlp.add_pipe("modic_context", config={"rules": str(patterns_dir / CONTEXT_FILE)})
    return nlp


@dataclass
class Candidates:
    """A report's sentences that hold a trigger: their text joined, and what each holds."""

    sentences: list[Sentence]
    pieces: list[str]
    offsets: list[int]  # where each piece starts in `text`
    stretches: list[tuple[int, int, set[int]]]  # (start, end, triggers seen) per piece

    @property
    def text(self) -> str:
        return JOIN.join(self.pieces)


@dataclass
class Part:
    """A Doc holding some of a report's sentences that hold a target.

    `placed[k]` is (offset of sentence k in the Doc, the Sentence it came from). `matches`
    gives the Match behind each span of doc.spans["findings"] found on the raw text, by the
    span's (start_char, end_char); spans of token-pattern rules are not in it (they carry
    their rule in span._.target_rule). Kept here rather than in span extensions, which cost
    a dictionary entry and two objects per read or write.
    """

    doc: Doc
    placed: list[tuple[int, Sentence]]
    matches: dict[tuple[int, int], Match] = field(default_factory=dict)

    def modifiers(self) -> dict[tuple[int, int], tuple]:
        """ConText's modifiers of each span, by (start_char, end_char), in the order ConText
        linked them (what span._.modifiers holds)."""
        graph = self.doc._.context_graph
        out: dict[tuple[int, int], tuple] = {}
        for target, modifier in graph.edges if graph is not None else ():
            key = (target.start_char, target.end_char)
            out[key] = (*out.get(key, ()), modifier)
        return out


@dataclass
class AnalysedReport:
    """A report's sentences that could hold a finding (those holding a trigger) and the Docs of
    its sentences with targets (none when it has none)."""

    text: str
    sentences: list[Sentence]
    parts: list[Part]


class Analyzer:
    """Loads and checks every rule file once, then analyses reports in batches.

    Per report: sections and sentences from the raw text; the prefilter keeps sentences that
    hold a trigger; target and signal rules run over those sentences' raw text; only the
    sentences with a match are tokenised, as one Doc per report (cut every MAX_DOC_CHARS),
    with their sentence starts set and the matches as spans, for ConText.
    """

    def __init__(self, patterns_dir: Path | None = None):
        self.patterns_dir = Path(patterns_dir) if patterns_dir else default_patterns_dir()
        if not self.patterns_dir.is_dir():
            raise RuleError(f"{self.patterns_dir}: patterns folder not found (set --patterns or MODIC_PATTERNS)")
        self.prefilter = load_prefilter(self.patterns_dir / PREFILTER_FILE)
        target_path = self.patterns_dir / TARGET_FILE
        rules = load_target_rules(target_path)
        check_prefilter_covers(self.prefilter, rules, target_path)
        self.matcher = TextMatcher(rules, self.prefilter)
        self.signals = SignalTyper(load_signal_rules(self.patterns_dir / SIGNAL_FILE))
        self.structurer = Structurer(load_section_rules(self.patterns_dir / SECTION_FILE))
        self.exams = ExamDetector.from_patterns(self.patterns_dir)
        self.nlp = build_nlp(self.patterns_dir, self.matcher.token_rules)

    def candidates(self, text: str, sentences: list[Sentence], hits: list[tuple[int, int]] | None = None) -> Candidates:
        """The sentences holding a trigger, joined, with the triggers each holds.

        `hits` are the prefilter's hits in `text` (found here if not given)."""
        if hits is None:
            hits = self.prefilter.hits(text)
        starts = [pos for pos, _ in hits]
        numbers = [trigger for _, trigger in hits]
        c = Candidates([], [], [], [])
        offset = 0
        for s in sentences:
            first = bisect_left(starts, s.start)
            last = bisect_left(starts, s.end, first)
            if last > first:
                piece = text[s.start : s.end]
                c.sentences.append(s)
                c.pieces.append(piece)
                c.offsets.append(offset)
                c.stretches.append((offset, offset + len(piece), set(numbers[first:last])))
                offset += len(piece) + len(JOIN)
        return c

    def _matches(
        self, text: str, sentences: list[Sentence], hits: list[tuple[int, int]]
    ) -> list[tuple[Sentence, str, list[Match]]]:
        """Each candidate sentence with its matches (offsets within the sentence)."""
        c = self.candidates(text, sentences, hits)
        if not c.sentences:
            return []
        candidates, pieces, offsets = c.sentences, c.pieces, c.offsets
        per_sentence: list[list[Match]] = [[] for _ in candidates]
        for m in self.matcher.find(c.text, c.stretches):
            k = bisect_right(offsets, m.start) - 1
            if m.end <= offsets[k] + len(pieces[k]):  # never across two sentences
                m.start -= offsets[k]
                m.end -= offsets[k]
                per_sentence[k].append(m)
        out = []
        # A sentence holds an anchor of its own only where an anchor found in the joined text
        # overlaps it (one found there either starts in it or runs over it from before).
        anchors = self.signals.anchored(c.text)
        a = 0
        for s, piece, found, offset in zip(candidates, pieces, per_sentence, offsets):
            if anchors is None:
                anchored = True
            else:
                while a < len(anchors) and anchors[a][1] <= offset:
                    a += 1
                anchored = a < len(anchors) and anchors[a][0] < offset + len(piece)
            described = self.signals.find(piece) if anchored else None
            if described and not any(
                m.rule.category == "modic" and m.start < described.end and described.start < m.end for m in found
            ):
                found = sorted([*found, described], key=lambda m: m.start)
            descriptive = [m for m in found if (m.rule.metadata or {}).get("descriptive")]
            if descriptive and self.signals.explained_away(piece):
                for m in descriptive:
                    m.attributed = True
            if found or self.matcher.token_rules:
                out.append((s, piece, found))
        return out

    def _prepare(self, text: str) -> AnalysedReport:
        # The rules read the report with no run of blanks longer than MAX_BLANK_RUN (the same offsets;
        # the same text for any normal report): some rule patterns take time that grows with the
        # square of a run of blanks. The report keeps its own text, which the mentions quote.
        scan = bounded_blanks(text)
        hits = self.prefilter.hits(scan)  # one scan of the whole report
        # only the lines holding a trigger (or a level header) are cut into sentences
        sentences = self.structurer.split(scan, [pos for pos, _ in hits])
        parts: list[Part] = []
        batch: list[tuple[Sentence, str, list[Match]]] = []
        size = 0
        for item in self._matches(scan, sentences, hits):
            batch.append(item)
            size += len(item[1]) + len(JOIN)
            if size >= MAX_DOC_CHARS:
                parts.append(self._part(batch))
                batch, size = [], 0
        if batch:
            parts.append(self._part(batch))
        return AnalysedReport(text, sentences, parts)

    def _part(self, batch: list[tuple[Sentence, str, list[Match]]]) -> Part:
        text = JOIN.join(piece for _, piece, _ in batch)
        doc = self.nlp.make_doc(text)
        doc.user_data[TEXT_KEY] = text
        placed, spans, offset = [], [], 0
        matches: dict[tuple[int, int], Match] = {}
        for sentence, piece, found in batch:
            placed.append((offset, sentence))
            first = doc.char_span(offset, offset + 1, alignment_mode="expand")
            if first is not None and len(first):
                first[0].is_sent_start = True
            for m in found:
                span = doc.char_span(offset + m.start, offset + m.end, label=m.rule.category, alignment_mode="expand")
                if span is not None and len(span):
                    matches[span.start_char, span.end_char] = m  # the later of two on one span, as an extension would
                    spans.append(span)
            offset += len(piece) + len(JOIN)
        if len(doc) > 1 and doc[1].is_sent_start is None:
            doc[1].is_sent_start = False  # spaCy only counts boundaries as set once a token is marked
        doc.spans[FINDINGS_GROUP] = spans
        return Part(doc, placed, matches)

    def analyse(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[AnalysedReport]:
        """Analyse reports in order; one AnalysedReport per input text."""
        prepared = [self._prepare(t) for t in texts]
        parts = [part for report in prepared for part in report.parts]
        for part, doc in zip(parts, self.nlp.pipe((p.doc for p in parts), batch_size=batch_size)):
            part.doc = doc
        yield from prepared
