"""Report structure from the raw text: sections, sentences and paragraph level headers.

Works on the original string with regular expressions, so offsets stay those of the
report and no tokenisation is spent on the many sentences that cannot hold a finding.
Real reports come with and without headers, in ALL CAPS, as bullet lists, with "//"
separators, with lines wrapped mid-sentence, and with MTSamples-style ",HEADER:,".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..levels import header_levels
from ..schema import NON_CURRENT_SECTIONS
from .rules import SectionHeader

UNHEADED = "body"
#: A "sentence" longer than this (run-on text with no full stops) is cut at a comma, semicolon or space.
MAX_SENTENCE_CHARS = 600
#: Sections whose text written beside the header ends with the header's line ("Comparison: MRI
#: 03/2021."), or, in run-together text with no line breaks, with its first sentence.
SHORT_SECTIONS = ("comparison", "technique")

_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|vs|approx|dr|fig|cf|incl|resp|etc|ca|mr|mrs|ms|st|sr|jr|pt|pts|hx|dx|rt|lt)|\b[A-Za-z])\.$",
    re.IGNORECASE,
)
# Sentence ends inside a line: ". " / "? " / "! " / ".," / "//" / inline bullets.
_INLINE_BREAK = re.compile(r"(?<=[.!?])[,]?(?=\s+\S)|(?<=[.!?]),(?=\S)|/{2,}|\s+\u2022\s*")
_BULLET_START = re.compile(r"^\s*(?:[-*\u2022>]|\d{1,2}[.)](?!\d)|[a-z][.)]\s)")
_LINE_END_PUNCT = re.compile(r"[.:;!?]\s*$")


@dataclass(frozen=True)
class Sentence:
    """A sentence of a report: offsets into the original text, its section and level header."""

    start: int
    end: int
    section: str
    header: tuple[str, ...]


@dataclass(frozen=True)
class _Header:
    start: int
    end: int
    category: str


class Structurer:
    """Splits reports into sentences with sections and level headers; built once per rule set."""

    def __init__(self, headers: list[SectionHeader]):
        self._categories: dict[str, str] = {}
        inline, alone = [], []
        for i, h in enumerate(headers):
            name = f"h{i}"
            self._categories[name] = h.category
            inline.append(f"(?P<{name}>{h.regex})")
            alone.append(f"(?:{h.regex})")
        names = "|".join(inline)
        # A header starts a line (or follows ".", "," or ":" in run-together text) and ends with ":"
        # (or ":-", " -"); a header alone on its line needs no colon.
        self._inline = re.compile(
            rf"(?:^|(?<=[.,:]))[ \t]*(?:\d{{1,2}}[.)]\s*)?(?:{names})[ \t]*(?::-?|\s-\s)[ \t,]*",
            re.IGNORECASE | re.MULTILINE,
        )
        self._alone = re.compile(
            rf"^[ \t]*(?:{names})[ \t]*:?[ \t]*$",
            re.IGNORECASE | re.MULTILINE,
        )

    def _headers(self, text: str) -> list[_Header]:
        found: dict[int, _Header] = {}
        for rx in (self._inline, self._alone):
            for m in rx.finditer(text):
                if m.start() in found:
                    continue
                name = next(k for k, v in m.groupdict().items() if v is not None)
                found[m.start()] = _Header(m.start(), m.end(), self._categories[name])
        ordered: list[_Header] = []
        for h in sorted(found.values(), key=lambda h: h.start):
            if ordered and h.start < ordered[-1].end:
                continue
            ordered.append(h)
        return ordered

    def split(self, text: str) -> list[Sentence]:
        """Sentences of the report, in order, each with its section and paragraph level header."""
        out: list[Sentence] = []
        headers = self._headers(text)
        bounds = [(0, headers[0].start if headers else len(text), UNHEADED)] if text else []
        for i, h in enumerate(headers):
            bounds.append((h.end, headers[i + 1].start if i + 1 < len(headers) else len(text), h.category))
        for start, end, section in bounds:
            level: tuple[str, ...] = ()
            seen_content = False
            short_end = _short_section_end(text, start, end) if section in SHORT_SECTIONS else None
            for s_start, s_end, new_paragraph in _sentences(text, start, end):
                if short_end is not None and (s_start >= short_end or (short_end == end and seen_content)):
                    section = UNHEADED
                if new_paragraph:
                    level = ()
                    # history, comparison and technique are one paragraph: what follows a blank line
                    # without a new header is the report body again
                    if seen_content and section in NON_CURRENT_SECTIONS:
                        section = UNHEADED
                seen_content = True
                found = header_levels(text[s_start:s_end])
                if found:
                    level = found[0]
                out.append(Sentence(s_start, s_end, section, level))
        return out


def _short_section_end(text: str, start: int, end: int) -> int | None:
    """Where a comparison/technique section written beside its header stops (None: header alone)."""
    line_end = text.find("\n", start, end)
    if not text[start : line_end if line_end >= 0 else end].strip():
        return None
    return line_end if line_end >= 0 else end


def _lines(text: str, start: int, end: int):
    """(line_start, line_end) of each non-empty line, and whether a blank line came before it."""
    pos = start
    blank = True
    for raw in text[start:end].split("\n"):
        line_start, line_end = pos, pos + len(raw)
        pos = line_end + 1
        if raw.strip():
            yield line_start, line_end, blank
            blank = False
        else:
            blank = True


def _sentences(text: str, start: int, end: int):
    """(start, end, starts_paragraph) for each sentence between two offsets."""
    pieces: list[list[int]] = []  # [start, end, paragraph]
    for line_start, line_end, blank in _lines(text, start, end):
        line = text[line_start:line_end]
        joins_previous = (
            pieces
            and not blank
            and not _LINE_END_PUNCT.search(text[pieces[-1][0] : pieces[-1][1]])
            and line.lstrip()[:1].islower()
            and not _BULLET_START.match(line)
        )
        if joins_previous:
            pieces[-1][1] = line_end
        else:
            pieces.append([line_start, line_end, int(blank)])
    for p_start, p_end, paragraph in pieces:
        first = True
        for s, e in _split_inline(text, p_start, p_end):
            yield s, e, bool(paragraph) and first
            first = False


def _split_inline(text: str, start: int, end: int):
    cuts = [start]
    for m in _INLINE_BREAK.finditer(text, start, end):
        if _ABBREVIATIONS.search(text[max(start, m.start() - 8) : m.start()]):
            continue
        if not text[cuts[-1] : m.start()].strip(" \t?!.,;()0123456789"):
            continue  # a leading "?" or a list number "1." belongs to the sentence that follows
        cuts.append(m.start())
        cuts.append(m.end())
    cuts.append(end)
    for a, b in zip(cuts[::2], cuts[1::2]):
        a, b = _strip(text, a, b)
        while b - a > MAX_SENTENCE_CHARS:
            window = text[a : a + MAX_SENTENCE_CHARS]
            cut = max(window.rfind(";"), window.rfind(","))
            if cut < MAX_SENTENCE_CHARS // 2:
                cut = window.rfind(" ")
            if cut <= 0:
                cut = MAX_SENTENCE_CHARS - 1
            head = _strip(text, a, a + cut + 1)
            if head[1] > head[0]:
                yield head
            a = _strip(text, a + cut + 1, b)[0]
        if b > a:
            yield a, b


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a] in " \t\r\n,;":
        a += 1
    while b > a and text[b - 1] in " \t\r\n":
        b -= 1
    return a, b
