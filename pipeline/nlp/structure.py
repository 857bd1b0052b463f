"""Report structure from the raw text: sections, sentences and paragraph level headers.

Works on the original string with regular expressions, so offsets stay those of the
report and no tokenisation is spent on the many sentences that cannot hold a finding.
Real reports come with and without headers, in ALL CAPS, as bullet lists, with "//"
separators, with lines wrapped mid-sentence, and with MTSamples-style ",HEADER:,".
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from ..levels import header_levels
from ..schema import NON_CURRENT_SECTIONS
from .rules import SectionHeader

UNHEADED = "body"
# A header ends with ":" (or ":-", " - "); the words before it are looked up among the literal headers.
_COLON = r"[ \t]*(?::-?|\s-\s)[ \t,]*"
_NAMED_HEADER = re.compile(rf"[ \t]*(?:\d{{1,2}}[.)]\s*)?(?P<name>[A-Za-z][A-Za-z /&]{{0,60}}?){_COLON}")
# Inside a line a header needs its colon (or dash) close by.
_COLON_AHEAD = re.compile(r"[^\n:]{0,64}(?::|\s-\s)")
# Headers start a line, or in run-together text follow "." "," or ":", start with a capital and
# have their colon close by (checked here, in the same search, for speed). Written for speed:
# - it starts with one character class, so the engine jumps from one candidate to the next;
# - "a colon within 64 characters" takes the run of other characters once, without giving any
#   back ("(?=(X))\1" holds on to what X took): a colon cannot be among them, so trying shorter
#   runs, as a plain "[^\n:]{0,64}:" does on every failure, finds nothing more;
# - " - " is only looked for where a "-" follows the run of characters that are not a colon,
#   a line break or a dash.
# It finds what "\n|[.,:](?=[ \t]*(?:\d{1,2}[.)]\s*)?[A-Z])(?=[^\n:]{0,64}(?::|\s-\s))" finds.
# Python 3.11 has possessive quantifiers ("X{0,64}+"), which do the same without the copy.
_CANDIDATE_START = r"[\n.,:](?:(?<=\n)|(?<=[.,:])(?=[ \t]*(?:\d{1,2}[.)]\s*)?[A-Z])"
HEADER_CANDIDATE_PATTERNS = {
    "3.10": _CANDIDATE_START + r"(?:(?=(?=([^\n:]{0,64}))\1:)|(?=(?=([^\n:-]{0,64}))\2\s?-)(?=[^\n:]{0,64}\s-\s)))",
    "3.11": _CANDIDATE_START + r"(?:(?=[^\n:]{0,64}+:)|(?=[^\n:-]{0,64}+\s?-)(?=[^\n:]{0,64}\s-\s)))",
}
_HEADER_CANDIDATE = re.compile(HEADER_CANDIDATE_PATTERNS["3.11" if sys.version_info >= (3, 11) else "3.10"])
_MANY_BLANKS = re.compile(r"\s\s")
#: A "sentence" longer than this (run-on text with no full stops) is cut at a comma, semicolon or space.
MAX_SENTENCE_CHARS = 600
#: A header pattern may look to the end of its line ("(?=[^\n]*:[ \t]*$)"). Tried at every comma and
#: full stop of one huge line (text with no line break), that was quadratic: 2.3 s of a 1 MB report.
#: On a line that runs on for more than LONG_LINE characters past where a header is tried, the
#: patterns see the next HEADER_WINDOW characters only. No line of a normal report is that long (the
#: samples' longest is 1,365 characters, MTSamples' 18,425: run-together reports of one line), and
#: a header is a few words.
LONG_LINE = 100_000
HEADER_WINDOW = 2_000
# What the patterns see before the window (a lookbehind) and after it: NUL, a line break and NUL,
# which no header is made of and where neither "$" nor "\Z" holds (the line does not end there).
_WINDOW_BEFORE = 64
_WINDOW_END = "\x00\n\x00"
#: Sections whose text written beside the header ends with the header's line ("Comparison: MRI
#: 03/2021."), or, in run-together text with no line breaks, with its first sentence.
SHORT_SECTIONS = ("comparison", "technique")

_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|vs|approx|dr|fig|cf|incl|resp|etc|ca|mr|mrs|ms|st|sr|jr|pt|pts|hx|dx|rt|lt)|\b[A-Za-z])\.$",
    re.IGNORECASE,
)
# Sentence ends inside a line: ". " / "? " / "! " / ".," / "//" / inline bullets.
# The break is the "stop" group after a full stop, else the whole match. Matching from the
# punctuation before it, rather than with a lookbehind tried at every position, and starting
# with one character class, lets the search jump from one candidate character to the next
# (twice as fast each). It finds what
# "[.!?](?P<stop>,?(?=\s+\S)|,(?=\S))|(?P<slashes>/{2,})|(?P<bullet>\s+\u2022\s*)" finds.
_INLINE_BREAK = re.compile(
    r"[.!?/\s](?:(?<=[.!?])(?P<stop>,?(?=\s+\S)|,(?=\S))|(?<=/)(?P<slashes>/+)|(?<=\s)(?P<bullet>\s*\u2022\s*))"
)
# The same breaks, with a bullet's found from the bullet itself (see _inline_breaks): tried at every
# blank, "\s*\u2022" ran to the end of the blanks after it each time, quadratic in a run of blanks
# (4.7 s for 1 MB of "modic" and 5,000 blanks).
_INLINE_BREAK_FROM_BULLET = re.compile(
    r"[.!?/\u2022](?:(?<=[.!?])(?P<stop>,?(?=\s+\S)|,(?=\S))|(?<=/)(?P<slashes>/+)|(?<=\s\u2022)(?P<bullet>\s*))"
)
# What _strip takes off the start of a sentence.
_LEADING = re.compile(r"[ \t\r\n,;.]*")
# A character of a sentence's own: not of a leading "?" or list number ("1.", "(2)"), which belong
# to the sentence that follows.
_NOT_LEADING = re.compile(r"[^ \t?!.,;()0-9]")
_BULLET_START = re.compile(r"^\s*(?:[-*\u2022>]|\d{1,2}[.)](?!\d)|[a-z][.)]\s)")
_LINE_END_PUNCT = (".", ":", ";", "!", "?")


class Sentence(NamedTuple):
    """A sentence of a report: offsets into the original text, its section and level header.

    (A named tuple: a report has dozens of sentences and a tuple is several times quicker to make.)"""

    start: int
    end: int
    section: str
    header: tuple[str, ...]


@dataclass(frozen=True)
class _Header:
    start: int
    end: int
    category: str


def _by_first_letter(alternatives: list[str]) -> str:
    """An alternation of regexes that each start with a letter, grouped by that letter (a trie's first
    level): the engine then tries one group at a position instead of every alternative. Order is
    kept within a group, and alternatives of different letters cannot match at the same place."""
    if not alternatives:
        return "(?!)"
    groups: dict[str, list[str]] = {}
    others: list[str] = []
    for alt in alternatives:
        if alt[:1].isascii() and alt[:1].isalnum() and alt[1:2] not in ("*", "+", "?", "{"):
            groups.setdefault(alt[0].lower(), []).append(alt[1:])
        else:
            others.append(alt)
    return "|".join([f"{first}(?:{'|'.join(rests)})" for first, rests in groups.items()] + others)


class Structurer:
    """Splits reports into sentences with sections and level headers; built once per rule set."""

    def __init__(self, headers: list[SectionHeader]):
        # Literal headers are looked up by their normalised words; pattern headers are tried in order.
        self._literal: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], re.Pattern[str], str]] = []
        for h in headers:
            if h.literal_key:
                self._literal.setdefault(h.literal_key, h.category)
            else:
                inline = re.compile(rf"[ \t]*(?:\d{{1,2}}[.)]\s*)?(?:{h.regex}){_COLON}", re.IGNORECASE)
                alone = re.compile(rf"[ \t]*(?:{h.regex})[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE)
                self._patterns.append((inline, alone, h.category))
        self._longest = max((len(key) for key in self._literal), default=0)
        self._line_rx = self._line_start_regex()

    def _line_start_regex(self) -> re.Pattern[str]:
        """Every way a header can start a line, in the order _header_at tries them, as one regex.

        Alternatives: a literal header followed by its colon (what _NAMED_HEADER finds, when the
        name is a literal header), a line that is a literal header alone, then each pattern header
        with its colon or alone on its line. One match per line start instead of a call per way.
        """
        by_length = sorted(self._literal, key=len, reverse=True)
        named = [k for k in by_length if re.fullmatch(r"[a-z][a-z /&]{0,60}", k)]
        named_rx = _by_first_letter([" +".join(re.escape(w) for w in k.split()) for k in named])
        alone_rx = _by_first_letter([r"[^\S\n]+".join(re.escape(w) for w in k.split()) for k in by_length])
        parts = [
            rf"(?P<named>[ \t]*(?:\d{{1,2}}[.)]\s*)?(?P<named_key>{named_rx}){_COLON})",
            rf"(?P<alone>[^\S\n]*(?P<alone_key>{alone_rx})[^\S\n]*:*[^\S\n]*(?=\n|\Z))",
        ]
        for i, (inline, alone, _) in enumerate(self._patterns):
            parts.append(f"(?P<p{i}>{inline.pattern})")
            parts.append(f"(?P<q{i}>(?m:{alone.pattern}))")
        return re.compile("|".join(parts), re.IGNORECASE)

    def _line_header(self, text: str, pos: int) -> _Header | None:
        """The section header starting the line at `pos` (what _header_at(text, pos, True) gives)."""
        m = self._line_rx.match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup
        if kind == "named":
            if len(m.group("named_key")) > 61:  # longer than _NAMED_HEADER's name: take the slow way
                return self._header_at(text, pos, True)
            return _Header(pos, m.end(), self._literal[" ".join(m.group("named_key").lower().split())])
        if kind == "alone":
            line_end = text.find("\n", pos)
            end = line_end if line_end >= 0 else len(text)
            return _Header(pos, end, self._literal[" ".join(m.group("alone_key").lower().split())])
        return _Header(pos, m.end(), self._patterns[int(kind[1:])][2])

    def _header_at(self, text: str, pos: int, line_start: bool, line_end: int | None = None) -> _Header | None:
        """The section header starting at `pos`, if any.

        `line_end`: where the line holding `pos` ends, when known. Inside a line that runs on for
        more than LONG_LINE characters past `pos`, the header patterns see the next HEADER_WINDOW
        characters only (see _window_match)."""
        if not line_start and not _COLON_AHEAD.match(text, pos):
            return None
        m = _NAMED_HEADER.match(text, pos)
        if m:
            category = self._literal.get(" ".join(m.group("name").lower().split()))
            if category:
                return _Header(pos, m.end(), category)
        if line_start:
            line_end = text.find("\n", pos)
            line = text[pos : line_end if line_end >= 0 else len(text)]
            if self._could_be_key(line):
                category = self._literal.get(" ".join(line.strip().rstrip(":").lower().split()))
                if category:
                    return _Header(pos, pos + len(line), category)
        long_line = not line_start and line_end is not None and line_end - pos > LONG_LINE
        for inline, alone, category in self._patterns:
            if long_line:
                found_end = _window_match(inline, text, pos)
                if found_end is not None:
                    return _Header(pos, found_end, category)
                continue
            found = inline.match(text, pos) or (alone.match(text, pos) if line_start else None)
            if found:
                return _Header(pos, found.end(), category)
        return None

    def _could_be_key(self, line: str) -> bool:
        """False when a line is too long to be a header once its blanks are squeezed (most lines)."""
        stripped = line.strip()
        return len(stripped) <= self._longest or stripped.endswith(":") or bool(_MANY_BLANKS.search(stripped))

    def _headers(self, text: str) -> list[_Header]:
        """Headers start a line, or follow ".", "," or ":" in run-together text."""
        ordered: list[_Header] = []
        starts = [(0, True)] + [(m.end(), m.group() == "\n") for m in _HEADER_CANDIDATE.finditer(text)]
        # where the line of each candidate ends (every line break is a candidate: the next one's)
        line_ends = [0] * len(starts)
        line_end = len(text)
        for k in range(len(starts) - 1, -1, -1):
            line_ends[k] = line_end
            if starts[k][1] and starts[k][0] > 0:
                line_end = starts[k][0] - 1
        for (pos, line_start), line_end in zip(starts, line_ends):
            if ordered and pos < ordered[-1].end:
                continue
            header = self._line_header(text, pos) if line_start else self._header_at(text, pos, False, line_end)
            if header is not None:
                ordered.append(header)
        return ordered

    def split(self, text: str, hits: list[int] | None = None) -> list[Sentence]:
        """Sentences of the report, in order, each with its section and paragraph level header.

        With `hits` (the sorted offsets of prefilter triggers), only the sentences that hold a
        trigger are returned, and they come out exactly as without `hits`. A line that holds
        no trigger is only followed for what it changes (the section, the paragraph, the level
        header), and is not cut into sentences when that is plain without cutting it: it has
        no level header, or one at its start and no other level after it ("L3-L4: Mild bulge.
        The canal is patent.").
        """
        out: list[Sentence] = []
        headers = self._headers(text)
        bounds = [(0, headers[0].start if headers else len(text), UNHEADED)] if text else []
        for i, h in enumerate(headers):
            bounds.append((h.end, headers[i + 1].start if i + 1 < len(headers) else len(text), h.category))
        for start, end, section in bounds:
            if hits is not None and bisect_left(hits, start) == bisect_left(hits, end):
                continue  # a section without a trigger gives no sentence, and its state ends with it
            level: tuple[str, ...] = ()
            seen_content = False
            short_end = _short_section_end(text, start, end) if section in SHORT_SECTIONS else None
            for p_start, p_end, paragraph in _pieces(text, start, end):
                held = None  # the triggers' offsets in the piece (None: keep every sentence)
                h = 0  # the first of them not before the sentence at hand (sentences come in order)
                if hits is not None:
                    lo, hi = bisect_left(hits, p_start), bisect_left(hits, p_end)
                    if lo == hi:
                        kept = _without_trigger(text, p_start, p_end, short_end, end)
                        if kept is not None:
                            # what its sentences would do to the state: one at least, all on one side of short_end
                            if short_end is not None and p_start >= short_end:
                                section = UNHEADED
                            if paragraph:
                                level = ()
                                if seen_content and section in NON_CURRENT_SECTIONS:
                                    section = UNHEADED
                            if kept:
                                level = kept
                            seen_content = True
                            continue
                    held = hits[lo:hi]
                new_paragraph = paragraph
                for s_start, s_end in _piece_sentences(text, p_start, p_end):
                    if short_end is not None and (s_start >= short_end or (short_end == end and seen_content)):
                        section = UNHEADED
                    if new_paragraph:
                        level = ()
                        # history, comparison and technique are one paragraph: what follows a blank line
                        # without a new header is the report body again
                        if seen_content and section in NON_CURRENT_SECTIONS:
                            section = UNHEADED
                        new_paragraph = False
                    seen_content = True
                    first = text[s_start]
                    if first in _HEADER_FIRST or first.isspace():
                        found = header_levels(text, s_start, s_end)
                        if found:
                            level = found[0]
                    if held is not None:
                        while h < len(held) and held[h] < s_start:
                            h += 1  # (an index, not held.pop(0): a piece may hold 100,000 triggers)
                        if h == len(held) or held[h] >= s_end:
                            continue  # holds no trigger
                    out.append(Sentence(s_start, s_end, section, level))
        return out


# The characters a level header can start with ("- L4-5:", "* L4-5", ". L4-5", "> L4-5", "at L4-5",
# "the L4-5 level", "level of L4-5", "C"/"T"/"D"/"L"/"S" + digit, "lumbosacral", "thoraco-lumbar";
# the long s is an s to a case-insensitive match), or a blank: other sentences are not looked at.
_HEADER_FIRST = frozenset("-*\u2022.>aAtTlLcCdDsS\u017f")
# A level header needs a level ("L4", "S1", "T12") or names the lumbosacral/thoracolumbar junction.
# (What "[CTDLS]\s?\d|lumbo-?sacral|thoraco-?lumbar" finds case-insensitively, the long s
# included; one case-sensitive class first, so the search jumps between candidate letters.)
_LEVEL_TOKEN = re.compile(r"[CDLSTcdlst\u017f](?i:\s?\d|(?<=l)umbo-?sacral|(?<=t)horaco-?lumbar)")
# A character no sentence split removes: a piece holding one gives one sentence at least.
_KEPT_CHARACTER = re.compile(r"[^\s,;/\u2022]")


def _window_match(rx: re.Pattern[str], text: str, pos: int) -> int | None:
    """Where `rx` matched at `pos` ends, matched against the next HEADER_WINDOW characters only (None:
    no match). For a line that runs on past them: the work is bounded, however long the line."""
    lo = max(0, pos - _WINDOW_BEFORE)
    found = rx.match(text[lo : pos + HEADER_WINDOW] + _WINDOW_END, pos - lo)
    if found is None or found.end() > pos - lo + HEADER_WINDOW:
        return None  # (a match into what follows the window is none)
    return lo + found.end()


def _without_trigger(
    text: str, start: int, end: int, short_end: int | None, section_end: int
) -> tuple[str, ...] | None:
    """For a piece that holds no trigger, the level header its sentences leave set, when that is
    plain without cutting it into sentences: () when it has none. None: cut it (the section
    changes inside it, or a level is named where it might start a sentence)."""
    if short_end is not None and (short_end == section_end or start < short_end < end):
        return None  # the section changes inside the piece or with its second sentence
    level = _LEVEL_TOKEN.search(text, start, end)
    if level is None:
        # no level header; it gives one sentence at least (it holds a character no split removes)
        return () if _KEPT_CHARACTER.search(text, start, end) is not None else None
    if end - start > MAX_SENTENCE_CHARS:
        return None
    # A level header starting the piece starts its first sentence; it is that sentence's header
    # when no sentence break comes before the header's end and the header ends with its own
    # character (":", not the blank after a dash, which the sentence's end may drop). With no
    # level named after it, no later sentence has a header.
    first = _strip(text, start, end)[0]
    found = header_levels(text, first, end)
    if found is None or text[found[1] - 1].isspace() or _LEVEL_TOKEN.search(text, found[1], end) is not None:
        return None
    brk = next(_inline_breaks(text, start, end), None)
    if brk is not None and brk[0] < found[1]:
        return None
    return found[0]


def _inline_breaks(text: str, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(start, cut, cut end) of each match of _INLINE_BREAK in text[start:end], in linear time: the
    break is the "stop" group after a full stop, else the whole match.

    A bullet's break starts with the blanks before it that no break before took, as _INLINE_BREAK's
    "\\s*\u2022" tried at the first of them finds; found from the bullet, each blank is looked at once."""
    free = start  # no break took the text from here on
    for m in _INLINE_BREAK_FROM_BULLET.finditer(text, start, end):
        kind = m.lastindex
        if kind == 3:
            bullet = m.start()
            first = bullet
            while first > free and text[first - 1].isspace():
                first -= 1
            if first == bullet:
                continue  # its blanks were taken (or are before `start`): no break starts there
            yield first, first, m.end()
        elif kind == 1:
            yield m.start(), m.start(1), m.end(1)
        else:
            yield m.start(), m.start(), m.end()
        free = m.end()


def _short_section_end(text: str, start: int, end: int) -> int | None:
    """Where a comparison/technique section written beside its header stops (None: header alone)."""
    line_end = text.find("\n", start, end)
    if not text[start : line_end if line_end >= 0 else end].strip():
        return None
    return line_end if line_end >= 0 else end


def _pieces(text: str, start: int, end: int) -> list[list]:
    """[start, end, starts_paragraph] of each non-empty line, lines that continue a sentence
    joined to the line before ("starts_paragraph": a blank line came before it)."""
    pieces: list[list] = []
    pos = start
    blank = True
    last = ""  # the last character of the line before, blanks aside
    for line in text[start:end].split("\n"):
        line_start = pos
        pos += len(line) + 1
        stripped = line.strip()
        if not stripped:
            blank = True
            continue
        if (
            pieces
            and not blank
            and last not in _LINE_END_PUNCT
            and stripped[:1].islower()
            and not _BULLET_START.match(line)
        ):
            pieces[-1][1] = line_start + len(line)
        else:
            pieces.append([line_start, line_start + len(line), blank])
        last = stripped[-1:]
        blank = False
    return pieces


def _piece_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a piece."""
    breaks = _inline_breaks(text, start, end)
    m = next(breaks, None)
    if m is None and end - start <= MAX_SENTENCE_CHARS:
        a, b = _strip(text, start, end)  # most lines are one sentence
        return [(a, b)] if b > a else []
    cuts = [start]
    # text[cuts[-1]:plain] is known to hold nothing but what _NOT_LEADING leaves out: each character
    # is looked at once, however many breaks in a row ("1. 2. 3. ...") give no sentence of their own
    plain = start
    while m is not None:
        _, cut, cut_end = m  # after a full stop, the "stop" group
        m = next(breaks, None)
        # an abbreviation ("e.g.", "vs.") ends with a full stop, maybe before a line break
        if text[cut - 1 : cut] in ".\n" and _ABBREVIATIONS.search(text[max(start, cut - 8) : cut]):
            continue
        if _NOT_LEADING.search(text, plain, cut) is None:
            plain = cut
            continue  # a leading "?" or a list number "1." belongs to the sentence that follows
        cuts.append(cut)
        cuts.append(cut_end)
        plain = cut_end
    cuts.append(end)
    out: list[tuple[int, int]] = []
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
                out.append(head)
            a = _strip(text, a + cut + 1, b)[0]
        if b > a:
            out.append((a, b))
    return out


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    """(a, b) without leading blanks, commas, semicolons and full stops (".No significant ...", where
    spaCy would keep ".No" as one token and ConText would miss the negation) and without trailing blanks."""
    if b > a and text[a] not in " \t\r\n,;." and text[b - 1] not in " \t\r\n":
        return a, b  # nothing to strip (most sentences), no copy made
    if b <= a:
        return a, a
    # Only what is stripped is looked at (not a copy of the whole stretch, which made cutting a
    # long run-on sentence into pieces quadratic).
    lead = _LEADING.match(text, a, b)
    a = lead.end() if lead else a
    while b > a:
        lo = max(a, b - 256)
        kept = text[lo:b].rstrip(" \t\r\n")
        b = lo + len(kept)
        if kept:
            break
    return a, b
