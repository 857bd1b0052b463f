"""What kind of document a report is: modality, region, document type (patterns/exam_rules.json).

A warehouse extract holds every kind of document for a patient; only lumbar MRIs may decide a
lumbar flag. Each report's kind comes from the input's exam column when the user names one
(`--exam-col`: a CPT code or a procedure name), else from its text, in this order of trust:

1. a title: an exam header's text ("EXAM: MRI lumbar spine") or one of the first lines when it
   is made of region and modality words ("LSS MRI :", "CT HEAD WITHOUT CONTRAST");
2. region headers inside the report ("C.SPINE MRI : ... LSS MRI : ...", "CERVICAL SPINE:"),
   which also cut a multi-region report into parts;
3. the body: anatomy words and the vertebrae named (region), sequence or window words
   (modality), and section headers and phrases (document type).

No spaCy here: a few regular-expression scans of the lower-cased text per report.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import RuleError
from .rulefiles import read_json_object
from .schema import (
    DOCUMENT_TYPES,
    EXAM_SOURCES,
    IMAGING_REPORT,
    LUMBAR_REGIONS,
    MODALITIES,
    REGIONS,
    UNKNOWN,
    exam_kind,
)
from .textscan import bounded_blanks, top_alternatives

EXAM_FILE = "exam_rules.json"

IMAGING = IMAGING_REPORT
SOURCE_COLUMN, SOURCE_TEXT = EXAM_SOURCES

#: Regions whose exam shows the lumbar spine.
WITH_LUMBAR = frozenset(LUMBAR_REGIONS)
SPINE = frozenset({"lumbar", "thoracolumbar", "whole_spine", "thoracic", "cervical"})

#: A title is at most this long, and holds at most this many words that are not region,
#: modality or filler words ("MRI lumbar spine for low back pain": "pain" is one).
TITLE_MAX_CHARS = 120
TITLE_MAX_OTHER_WORDS = 2
#: The first lines read for a title, and how far into a report an exam header is looked for.
TITLE_LINES = 3
HEADER_REACH = 1500
#: A region header is a short line, or the words before a colon this close to a line's start.
REGION_HEADER_MAX_CHARS = 60
#: A region named in the body needs this many different words or vertebrae; two spine regions
#: combine (thoracolumbar, whole spine) only when each has this many.
BODY_MIN, COMBINE_MIN = 1, 3
EVIDENCE_MAX = 160
#: What a title naming a modality and a region weighs for an imaging report against note cues (half
#: as much with no region): a radiology report may recommend "referral to the pain clinic and
#: physiotherapy", and a note quoting its MRI on its first line needs more cues than that to be a note.
TITLE_WEIGHT = 4

_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
_HEADER_KINDS = frozenset({"region", "end"})
# An exam header's text runs to the end of its line, a full stop and comma (MTSamples' ".,"), or
# the next run-together header (",HISTORY:").
_HEADER_VALUE = re.compile(
    rf"\s*[:\-]\s*,?\s*([^\n]{{0,{TITLE_MAX_CHARS}}}?)\s*(?=\n|\.,|,\s*[a-z][a-z /&()-]{{1,40}}:|$)"
)
_CODE = re.compile(r"\s*(\d{5})(?!\d)")
# The end of a line's first phrase: a full stop or a spaced dash.
_PHRASE_END = re.compile(r"\.(?:\s|$)|\s[-\u2013]\s")
# MTSamples-style run-together text: a piece ends at ".," or before ",HEADER:".
_RUN_TOGETHER = re.compile(r"\.,|,\s*[a-z][a-z /&()-]{1,40}:")


@dataclass(frozen=True)
class Exam:
    """The kind of one document, where it came from, and the region parts of a multi-region report."""

    modality: str = UNKNOWN
    region: str = UNKNOWN
    document_type: str = UNKNOWN
    source: str = SOURCE_TEXT
    evidence: str = ""
    #: (start, end, region) of each part a region header opens ("C.SPINE MRI : ..." up to "LSS MRI :"),
    #: in text order, none overlapping.
    parts: tuple[tuple[int, int, str], ...] = ()

    @property
    def kind(self) -> str:
        """ "lumbar mri", "cervical ct" for an imaging report; the document type otherwise."""
        return exam_kind(self.modality, self.region, self.document_type)

    def region_at(self, offset: int) -> str:
        """The region of the part holding `offset`, else the report's."""
        # Parts come in order and do not overlap: the one holding `offset` is the last that starts at
        # or before it (a search: a long report may have thousands of parts, and asks for each finding).
        k = bisect_right(self.parts, offset, key=_part_start) - 1
        if k >= 0 and offset < self.parts[k][1]:
            return self.parts[k][2]
        return self.region

    def place(self, level: str, site: str, offset: int) -> tuple[str, bool]:
        """(region, lumbar) of a finding: the region it is in, and whether it counts for the lumbar spine.

        Where it is decides: its level where it has one (C -> cervical, T -> thoracic, T12-L1/L/S ->
        lumbar), else a site word next to it ("hip fracture"), else the part or report it sits in.
        A finding at a lumbar level counts in any document (an L3 metastasis on an abdominal CT); a
        thoracic level counts on an exam of the lumbar spine, which shows the lower thoracic levels; a
        level-less finding counts in a part or report about the lumbar spine, or in an imaging report or
        a document whose region could not be told (a note must say it is about the low back). Nothing
        else counts: a cervical root compression, a hip fracture, a urinary infection in a clinical note.
        """
        context = self.region_at(offset)
        by_level = level_region(level)
        region = by_level or site or context
        imaging = self.document_type in (IMAGING, UNKNOWN)  # a note names no exam of its own
        # the lower thoracic spine shows on a lumbar exam: a thoracic level or site word there counts
        shown = imaging and context == "lumbar"
        if by_level:
            return region, by_level == "lumbar" or (by_level == "thoracic" and shown)
        if site:
            return region, site in WITH_LUMBAR or (site == "thoracic" and shown)
        return region, context in WITH_LUMBAR or (context == UNKNOWN and imaging)


def _part_start(part: tuple[int, int, str]) -> int:
    return part[0]


def level_region(level: str) -> str:
    """The spine region of a disc level ("C5-C6" -> cervical, "T11-T12" -> thoracic, "T12-L1" -> lumbar)."""
    if not level:
        return ""
    if level[0] == "C":
        return "cervical"
    if level[0] == "T" and not level.endswith("L1"):
        return "thoracic"
    return "lumbar"


def combine_regions(regions: Iterable[str]) -> str:
    """The region of a report that names several, in the order named: cervical + thoracic + lumbar ->
    whole spine; thoracic + lumbar -> thoracolumbar; the lumbar spine with anything else -> lumbar
    (the part that can be flagged); otherwise the first named."""
    ordered = [r for r in dict.fromkeys(regions) if r != UNKNOWN]  # "whole body" names no single region
    if not ordered:
        return UNKNOWN
    found = set(ordered)
    spine = set()
    for r in found:
        spine |= {"thoracolumbar": {"thoracic", "lumbar"}, "whole_spine": {"cervical", "thoracic", "lumbar"}}.get(
            r, {r}
        )
    if {"cervical", "thoracic", "lumbar"} <= spine:
        return "whole_spine"
    if {"thoracic", "lumbar"} <= spine:
        return "thoracolumbar"
    if "lumbar" in spine:
        return "lumbar"
    return ordered[0]


# -- rules ------------------------------------------------------------------------------------


class _Scan:
    """One pass over lower-cased text finding whole-word terms; each term has one or more roles.

    Terms are grouped by first letter (pipeline/textscan.py) and must start where a word starts
    and end where it ends ("not before a letter or digit"; a digit only, for vertebrae: "L5S1").
    Terms written the same way share one alternative and all its roles.
    """

    def __init__(self, path: Path, entries: list[tuple[str, str, str]], digits_end: frozenset[str] = frozenset()):
        index: dict[str, int] = {}
        roles: list[list[tuple[str, str]]] = []
        for term, kind, value in entries:
            try:
                re.compile(term)
            except re.error as exc:
                raise RuleError(
                    f"{path}: {kind} {value!r}: {term!r} is not a valid regular expression: {exc}"
                ) from None
            if re.search(r"(?<!\\)[A-Z]", term):
                raise RuleError(
                    f"{path}: {kind} {value!r}: write {term!r} in lower case (it is matched on lower-cased text)"
                )
            if term not in index:
                index[term] = len(roles)
                roles.append([])
            if (kind, value) not in roles[index[term]]:
                roles[index[term]].append((kind, value))
        wrapped = []
        # where terms overlap, the longest is tried first ("skull base to mid-thigh" before "skull")
        order = sorted(index, key=lambda t: (-len(t), index[t]))
        for term in order:
            end = r"(?![0-9])" if term in digits_end else r"(?![a-z0-9])"
            parts = []
            for alt in _plain_starts(top_alternatives(term) or [term]):
                parts.append(f"{alt}{end}")
            wrapped.append("|".join(parts))
        self.roles = [tuple(roles[index[t]]) for t in order]
        self.kinds = [frozenset(kind for kind, _ in r) for r in self.roles]  # per term number, for quick tests
        # Grouped by their first two letters, behind one "not after a letter or digit": the engine
        # tries the alternatives only where a word can start (four times quicker than checking that
        # in each alternative), and of those only the few that share its first two letters. Every
        # alternative ends with an empty group named after its term.
        self.pattern = re.compile(f"(?<![a-z0-9])(?:{_trie(wrapped)})")
        self.numbers = [-1] * (self.pattern.groups + 1)
        for name, group in self.pattern.groupindex.items():
            self.numbers[group] = int(name[2:].split("_")[0])

    def find(self, lowered: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, int]]:
        """(start, end, term number) of each term found, in order."""
        numbers = self.numbers
        found = self.pattern.finditer(lowered, start, len(lowered) if end is None else end)
        return [(m.start(), m.end(), numbers[m.lastindex]) for m in found]


@dataclass
class ExamRules:
    """patterns/exam_rules.json, checked and compiled."""

    path: Path
    codes: dict[str, tuple[str, str]]
    titles: _Scan  # region and modality title words, exam headers, part ends, and the document cues
    body: _Scan  # body words: modality and region words, vertebrae, findings words
    filler: frozenset[str]
    minimum: dict[str, int]
    assumed_modality: str
    assumed_regions: frozenset[str]
    column_documents: _Scan


def _obj(path: Path, data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise RuleError(f"{path}: expected {key!r} to be a JSON object")
    return value


def _terms(path: Path, where: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise RuleError(f"{path}: {where}: expected a list of non-empty strings")
    return value


def load_exam_rules(path: Path) -> ExamRules:
    """Load and check the exam rules; a broken file names the file, the entry and what was expected."""
    data = read_json_object(path)
    codes = {}
    for code, value in _obj(path, data, "codes").items():
        if code == "description":
            continue
        if not re.fullmatch(r"\d{5}", code):
            raise RuleError(f"{path}: codes: {code!r} is not a five-digit code")
        if not (isinstance(value, list) and len(value) == 2 and value[0] in MODALITIES and value[1] in REGIONS):
            raise RuleError(f"{path}: codes: {code}: expected [modality, region] from {MODALITIES} and {REGIONS}")
        codes[code] = (value[0], value[1])

    titles: list[tuple[str, str, str]] = []
    body: list[tuple[str, str, str]] = []
    cue_terms: list[tuple[str, str, str]] = []
    minimum: dict[str, int] = {}
    for doc_type, spec in _obj(path, data, "document_types").items():
        if doc_type == "description":
            continue
        if doc_type not in DOCUMENT_TYPES or not isinstance(spec, dict):
            raise RuleError(f"{path}: document_types: {doc_type!r} is not one of {', '.join(DOCUMENT_TYPES)}")
        minimum[doc_type] = spec.get("min", 1)
        cues = spec.get("cues")
        if not isinstance(cues, list):
            raise RuleError(f"{path}: document_types.{doc_type}.cues: expected a list of [term, weight]")
        for cue in cues:
            if not (isinstance(cue, list) and len(cue) == 2 and isinstance(cue[0], str) and isinstance(cue[1], int)):
                raise RuleError(f"{path}: document_types.{doc_type}: {cue!r}: expected [term, weight]")
            cue_terms.append((cue[0], "doc", f"{doc_type}:{cue[1]}"))
    for kind, names in (("modality", MODALITIES), ("region", REGIONS)):
        key = "modalities" if kind == "modality" else "regions"
        for name, spec in _obj(path, data, key).items():
            if name == "description":
                continue
            allowed = (*names, UNKNOWN) if kind == "region" else names
            if name not in allowed or not isinstance(spec, dict):
                raise RuleError(f"{path}: {key}: {name!r} is not one of {', '.join(allowed)}")
            titles += [(t, kind, name) for t in _terms(path, f"{key}.{name}.title", spec.get("title"))]
            body += [(t, kind, name) for t in _terms(path, f"{key}.{name}.text", spec.get("text", []))]
    levels = _obj(path, data, "levels")
    for region in ("cervical", "thoracic", "lumbar"):
        if not isinstance(levels.get(region), str):
            raise RuleError(f"{path}: levels.{region}: expected a regular expression string")
        body.append((levels[region], "level", region))
    body += [
        (t, "finding", "")
        for t in _terms(path, "imaging_findings.terms", _obj(path, data, "imaging_findings").get("terms"))
    ]
    titles += [
        (t, "header", "") for t in _terms(path, "exam_headers.terms", _obj(path, data, "exam_headers").get("terms"))
    ]
    titles += [
        (t, "end", "") for t in _terms(path, "segment_ends.terms", _obj(path, data, "segment_ends").get("terms"))
    ]
    not_title = _obj(path, data, "not_title").get("terms")
    titles += [(t, "not_title", "") for t in _terms(path, "not_title.terms", not_title)]

    filler = _terms(path, "filler.words", _obj(path, data, "filler").get("words"))
    assumed = _obj(path, data, "assumed_modality")
    if assumed.get("modality") not in MODALITIES:
        raise RuleError(f"{path}: assumed_modality.modality: expected one of {', '.join(MODALITIES)}")
    regions = _terms(path, "assumed_modality.regions", assumed.get("regions"))
    if any(r not in REGIONS for r in regions):
        raise RuleError(f"{path}: assumed_modality.regions: expected regions from {', '.join(REGIONS)}")
    column_docs: list[tuple[str, str, str]] = []
    for doc_type, terms in _obj(path, data, "column_documents").items():
        if doc_type == "description":
            continue
        if doc_type not in DOCUMENT_TYPES:
            raise RuleError(f"{path}: column_documents: {doc_type!r} is not one of {', '.join(DOCUMENT_TYPES)}")
        column_docs += [(t, "doc", doc_type) for t in _terms(path, f"column_documents.{doc_type}", terms)]

    level_terms = frozenset(levels[r] for r in ("cervical", "thoracic", "lumbar"))
    return ExamRules(
        path=path,
        codes=codes,
        titles=_Scan(path, titles + cue_terms),
        body=_Scan(path, body, digits_end=level_terms),
        filler=frozenset(w for w in filler if re.fullmatch(r"[a-z][a-z'-]*", w)),
        minimum=minimum,
        assumed_modality=assumed["modality"],
        assumed_regions=frozenset(regions),
        column_documents=_Scan(path, column_docs),
    )


def _plain_head(alt: str) -> bool:
    """Whether an alternative starts with a plain letter or digit that no quantifier follows."""
    return alt[:1].isascii() and alt[:1].isalnum() and alt[1:2] not in ("*", "+", "?", "{")


def _trie(terms: list[str]) -> str:
    """One alternation of every term's alternatives, grouped by first and second letter where those
    are plain ("lumbar", "lss" -> "l(?:u(?:mbar)|s(?:s))"); each alternative ends with an empty group
    "_t<term>_<k>" that names its term. Alternatives of different letters cannot match at the same
    place; within a group the terms keep their order, those that cannot be grouped further last."""
    named = []
    for i, term in enumerate(terms):
        for alt in top_alternatives(term) or [term]:
            named.append((alt, f"(?P<_t{i}_{len(named)}>)"))

    def group(alts: list[tuple[str, str]], depth: int) -> str:
        heads: dict[str, list[tuple[str, str]]] = {}
        rest = []
        for alt, name in alts:
            if depth < 2 and _plain_head(alt):
                heads.setdefault(alt[0], []).append((alt[1:], name))
            else:
                rest.append(f"{alt}{name}")
        parts = [f"{head}(?:{group(members, depth + 1)})" for head, members in heads.items()]
        return "|".join(parts + rest)

    return group(named, 0)


_LEADING_GROUP = re.compile(r"^\(\?:([^()]*)\)(\??)")


def _plain_starts(alternatives: list[str]) -> list[str]:
    """Alternatives that start with a plain character where a leading group allows it:
    "(?:upper|lower)\\s+lobes?" -> "upper\\s+lobes?", "lower\\s+lobes?"; "(?:bone\\s+)?marrow" -> "bone\\s+marrow",
    "marrow". (Grouped by first letter, they are several times quicker to search for.)"""
    out = []
    for alt in alternatives:
        m = _LEADING_GROUP.match(alt)
        inner = top_alternatives(m.group(1)) if m else None
        if m is None or inner is None:
            out.append(alt)
            continue
        rest = alt[m.end() :]
        out += [f"{x}{rest}" for x in inner]
        if m.group(2):
            out.append(rest)
    return out


# -- detection --------------------------------------------------------------------------------


@dataclass
class _Title:
    """What a title-like piece of text names."""

    start: int
    end: int
    regions: list[str]
    modalities: list[str]
    ends_part: bool = False
    other_words: int = 0  # words that are neither region, modality nor filler


class ExamDetector:
    """Tells the kind of each document from its exam column value or its text."""

    def __init__(self, rules: ExamRules):
        self.rules = rules

    @classmethod
    def from_patterns(cls, patterns_dir: Path) -> ExamDetector:
        return cls(load_exam_rules(patterns_dir / EXAM_FILE))

    # -- the exam column ---------------------------------------------------------------------

    def from_column(self, value: str) -> tuple[str, str, str, str] | None:
        """(modality, region, document type, evidence) from an exam column value; None when not recognised.
        A field the value does not tell is "" (then read from the text)."""
        value = value.strip()
        if not value:
            return None
        code = _CODE.match(value)
        if code:
            known = self.rules.codes.get(code.group(1))
            if known is None:
                return None
            return known[0], known[1], IMAGING, f"column {code.group(1)}"
        lowered = value.lower()
        if len(lowered) != len(value):
            lowered = value.casefold()[: len(value)].ljust(len(value))
        title = self._title(lowered, 0, len(lowered), strict=False)
        documents = [
            self.rules.column_documents.roles[n][0][1] for _, _, n in self.rules.column_documents.find(lowered)
        ]
        shown = f"column {value[:60]!r}"
        regions = combine_regions(title.regions) if title and title.regions else ""
        if documents:  # a procedure or a note, even when it names a modality ("CT GUIDED BIOPSY"); the first says
            return UNKNOWN, regions, documents[0], shown
        if title is not None and title.modalities:
            return title.modalities[0], regions, IMAGING, shown
        if title is not None and title.regions:
            return "", combine_regions(title.regions), "", shown
        return None

    # -- the text ----------------------------------------------------------------------------

    def _title(
        self, lowered: str, start: int, end: int, found: list[tuple[int, int, int]] | None = None, strict: bool = True
    ) -> _Title | None:
        """What a piece of text names when it reads as a title: region and modality words and filler,
        with at most TITLE_MAX_OTHER_WORDS other words. None when it does not.

        `found`: the title scan's matches over the whole text, when the caller has them (those inside
        the piece are used; the piece is not scanned again)."""
        if found is None:
            found = self.rules.titles.find(lowered, start, end)
        else:
            first = bisect_left(found, (start,))
            found = [f for f in found[first : bisect_left(found, (end,), first)] if f[1] <= end]
        regions: list[str] = []
        modalities: list[str] = []
        ends = False
        sentence = False
        covered = []
        for s, e, number in found:
            for kind, value in self.rules.titles.roles[number]:
                if kind == "region":
                    regions.append(value)
                elif kind == "modality":
                    modalities.append(value)
                elif kind == "end":
                    ends = True
                elif kind == "not_title":
                    sentence = True
            covered.append((s, e))
        if not regions and not modalities or (strict and sentence):
            return None
        other = 0
        pos = start
        for s, e in [*covered, (end, end)]:
            for w in _WORD.findall(lowered, pos, s):
                if w not in self.rules.filler:
                    other += 1
            pos = max(pos, e)
        if strict and other > TITLE_MAX_OTHER_WORDS:
            return None
        return _Title(start, end, list(dict.fromkeys(regions)), list(dict.fromkeys(modalities)), ends, other)

    def detect(self, text: str, column: str = "") -> Exam:
        """The exam kind of one document."""
        from_column = self.from_column(column) if column else None
        lowered = text.lower()
        if len(lowered) != len(text):  # a rare character changed length when lower-cased: keep offsets
            lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        # no run of blanks longer than MAX_BLANK_RUN: some rules take time that grows with its square
        lowered = bounded_blanks(lowered)
        exam = self._from_text(text, lowered)
        if from_column is None:
            return exam
        modality, region, doc_type, evidence = from_column
        return Exam(
            modality=modality or (exam.modality if (doc_type or exam.document_type) == IMAGING else UNKNOWN),
            region=region or exam.region,
            document_type=doc_type or exam.document_type,
            source=SOURCE_COLUMN,
            evidence=evidence,
            parts=exam.parts,
        )

    def _lines(self, lowered: str) -> list[tuple[int, int]]:
        out = []
        pos = 0
        for line in lowered.split("\n"):
            out.append((pos, pos + len(line)))
            pos += len(line) + 1
        return out

    def _from_text(self, text: str, lowered: str) -> Exam:
        rules = self.rules
        lines = self._lines(lowered)
        title_found = rules.titles.find(lowered)
        evidence: list[str] = []

        # 1. a title: an exam header's text, or one of the first lines
        title: _Title | None = None
        for s, e, number in title_found:
            if s > HEADER_REACH:
                break
            if ("header", "") in rules.titles.roles[number]:
                line_start = lowered.rfind("\n", 0, s) + 1
                before = lowered[line_start:s].strip(" \t,.-*")
                if before and not before.endswith((".", ",")):
                    continue  # a header starts its line or follows run-together text
                value = _HEADER_VALUE.match(lowered, e)
                if value and value.group(1):
                    title = self._title(lowered, value.start(1), value.end(1), title_found)
                    if title is not None:
                        break
        if title is None:
            seen = 0
            for s, e in lines:
                if lowered[s:e].strip():
                    seen += 1
                    run = _RUN_TOGETHER.search(lowered, s, e)
                    e = run.start() if run else e
                    # the line, or its first phrase ("MRI L-spine - normal study. No disc herniation.")
                    phrase = _PHRASE_END.search(lowered, s, e)
                    for end in dict.fromkeys((e, phrase.start() if phrase else e)):
                        if end - s <= TITLE_MAX_CHARS:
                            title = self._title(lowered, s, _header_end(lowered, s, end), title_found)
                            if title is not None:
                                break
                    if title is not None:
                        break
                    if seen >= TITLE_LINES:
                        break

        # 2. region headers, which cut a multi-region report into parts
        headers: list[_Title] = []
        line_starts = [s for s, _ in lines]
        checked: set[int] = set()
        kinds = rules.titles.kinds
        for s, _, number in title_found:
            if not (kinds[number] & _HEADER_KINDS):
                continue
            roles = rules.titles.roles[number]
            k = bisect_right(line_starts, s) - 1
            if k in checked:
                continue
            checked.add(k)
            line_start, line_end = lines[k]
            head_end = _header_end(lowered, line_start, line_end)
            if head_end - line_start > REGION_HEADER_MAX_CHARS or s >= head_end:
                continue
            piece = self._title(lowered, line_start, head_end, title_found)
            if piece is None:
                if any(kind == "end" for kind, _ in roles) and _is_header(lowered, line_start, head_end, line_end):
                    headers.append(_Title(line_start, head_end, [], [], True))
                continue
            spine = [r for r in piece.regions if r in SPINE]
            # "LSS MRI :", "CERVICAL SPINE:", "Lumbar spine" alone; not "2. Lumbar strain, resolved."
            plain = piece.modalities or head_end < line_end or piece.other_words == 0
            # "RIGHT HIP:" heads a part of an "MRI LUMBAR SPINE AND RIGHT HIP" (not "Sacroiliac joints:"
            # in a lumbar MRI)
            titled = title is not None and set(piece.regions) <= set(title.regions)
            if piece.regions and (piece.modalities or spine or titled) and len(piece.regions) <= 3 and plain:
                headers.append(piece)
            elif piece.ends_part and _is_header(lowered, line_start, head_end, line_end):
                headers.append(_Title(line_start, head_end, [], [], True))
        region_headers = [h for h in headers if h.regions]
        parts: list[tuple[int, int, str]] = []
        if len(region_headers) > 1 or (
            region_headers and title is not None and set(region_headers[0].regions) != set(title.regions)
        ):
            for i, h in enumerate(headers):
                if not h.regions:
                    continue
                nxt = headers[i + 1].start if i + 1 < len(headers) else len(lowered)
                parts.append((h.start, nxt, combine_regions(h.regions)))

        named = (title.regions if title else []) + [r for h in region_headers for r in h.regions]
        modality = ""
        if title is not None and title.modalities:
            modality = title.modalities[0]
            evidence.append(f"title '{_shown(text, title)}'")
        elif title is not None:
            evidence.append(f"title '{_shown(text, title)}'")
        first_header = next((h for h in region_headers if h.modalities), None)  # "LSS MRI :" weighs as a title
        if not modality and first_header is not None:
            modality = first_header.modalities[0]
        shown_headers = [h for h in region_headers if title is None or h.start != title.start]
        if shown_headers:
            evidence.append("region headers " + ", ".join(f"'{_shown(text, h)}'" for h in shown_headers[:3]))

        # 3. the body: its note cues (found with the title words); its words when the title leaves region
        # or modality open
        votes = self._votes(lowered, title_found, words=not (named and modality))
        region = combine_regions(named) if named else ""
        if not region:
            region, words = votes.region()
            if region != UNKNOWN:
                evidence.append(f"{region} words: {', '.join(words[:4])}")
        doc_type, doc_words = votes.document_type(rules.minimum, title if title and title.modalities else first_header)
        if doc_type in ("operative_note", "clinical_note"):
            evidence.append(f"{doc_type.replace('_', ' ')} cues: {', '.join(doc_words[:3])}")
            modality = UNKNOWN
        else:
            if not modality:
                modality, words = votes.modality()
                if modality != UNKNOWN:
                    evidence.append(f"{modality} words: {', '.join(words[:4])}")
                elif (
                    doc_type == IMAGING
                    and region in rules.assumed_regions
                    and votes.plain_spine_findings()
                    # not the exam a line compares with ("Compared with lumbar MRI 30/05/2022.")
                    and rules.assumed_modality not in self._compared(lines, title_found)
                ):
                    modality = rules.assumed_modality
                    evidence.append(f"{modality} assumed: no modality named")
        return Exam(
            modality=modality or UNKNOWN,
            region=region or UNKNOWN,
            document_type=doc_type,
            source=SOURCE_TEXT,
            evidence="; ".join(evidence)[:EVIDENCE_MAX],
            parts=tuple(parts),
        )

    def _compared(self, lines: list[tuple[int, int]], found: list[tuple[int, int, int]]) -> set[str]:
        """Modalities named on lines that also hold a comparison word."""
        by_line: dict[int, set[tuple[str, str]]] = {}
        starts = [s for s, _ in lines]
        for s, _, number in found:
            for kind, value in self.rules.titles.roles[number]:
                if kind in ("modality", "not_title"):
                    by_line.setdefault(bisect_right(starts, s), set()).add((kind, value))
        return {
            value
            for roles in by_line.values()
            if ("not_title", "") in roles
            for kind, value in roles
            if kind == "modality"
        }

    def _votes(self, lowered: str, title_found: list[tuple[int, int, int]], words: bool) -> _Votes:
        votes = _Votes()
        roles, kinds = self.rules.titles.roles, self.rules.titles.kinds
        for s, e, number in title_found:
            if "doc" in kinds[number]:
                for kind, value in roles[number]:
                    if kind == "doc":
                        votes.add(kind, value, lowered[s:e], (0, number))
        if words:
            roles = self.rules.body.roles
            for s, e, number in self.rules.body.find(lowered):
                for kind, value in roles[number]:
                    votes.add(kind, value, lowered[s:e], (1, number))
        return votes


class _Votes:
    """What the words of a body point to: each different word (or vertebra) counts once."""

    def __init__(self):
        self.words: dict[tuple[str, str], dict[str, None]] = {}
        self.doc_weight: dict[str, dict[tuple[int, int], int]] = {}
        self.doc_words: dict[str, list[str]] = {}
        self.findings = False

    def add(self, kind: str, value: str, word: str, number: tuple[int, int]) -> None:
        if kind == "doc":
            doc_type, weight = value.split(":")
            seen = self.doc_weight.setdefault(doc_type, {})
            if number not in seen:
                seen[number] = int(weight)
                self.doc_words.setdefault(doc_type, []).append(" ".join(word.split()))
        elif kind == "finding":
            self.findings = True
        else:
            key = word.replace(" ", "") if kind == "level" else " ".join(word.split())
            self.words.setdefault((kind, value), {})[key] = None

    def _count(self, kind: str, value: str) -> int:
        return len(self.words.get((kind, value), ()))

    def region(self) -> tuple[str, list[str]]:
        scores = {}
        for region in REGIONS:
            score = self._count("region", region)
            if region in ("cervical", "thoracic", "lumbar"):
                score += self._count("level", region)
            if score >= BODY_MIN:
                scores[region] = score
        if not scores:
            return UNKNOWN, []
        spine = {r: scores.get(r, 0) for r in ("cervical", "thoracic", "lumbar")}
        # a tie goes to a region outside the spine (a few vertebrae named on a pelvis film)
        best = max(scores, key=lambda r: (scores[r], r not in SPINE, -REGIONS.index(r)))
        if best in ("cervical", "thoracic", "lumbar"):
            combined = [r for r in ("cervical", "thoracic", "lumbar") if spine[r] >= COMBINE_MIN]
            if len(combined) > 1 and "lumbar" in combined:
                best = combine_regions(combined)
        words = [
            w
            for r in (best, "cervical", "thoracic", "lumbar")
            for kind in ("level", "region")
            for w in self.words.get((kind, r), ())
        ]
        return best, list(dict.fromkeys(words))

    def plain_spine_findings(self) -> bool:
        """A report of spine findings and little else (then it may be taken as an MRI): no modality word,
        note cues of weight 1 at most ("24 y/o" in the clinical details), and spine words at least twice
        those of any other region (a chest CT that mentions the lumbar MRI is not one)."""
        notes = sum(self.doc_weight.get("operative_note", {}).values())
        notes += sum(self.doc_weight.get("clinical_note", {}).values())
        if self.any_modality() or notes > 1:
            return False
        spine = sum(self._count("region", r) + self._count("level", r) for r in ("cervical", "thoracic", "lumbar"))
        other = max((self._count("region", r) for r in REGIONS if r not in SPINE), default=0)
        return spine >= 2 * other

    def any_modality(self) -> bool:
        return any(self._count("modality", m) for m in MODALITIES)

    def modality(self) -> tuple[str, list[str]]:
        scores = {m: self._count("modality", m) for m in MODALITIES}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if ranked[0][1] == 0 or ranked[0][1] == ranked[1][1]:
            return UNKNOWN, []
        best = ranked[0][0]
        return best, list(self.words[("modality", best)])

    def document_type(self, minimum: dict[str, int], title: _Title | None) -> tuple[str, list[str]]:
        score = {d: sum(self.doc_weight.get(d, {}).values()) for d in DOCUMENT_TYPES}
        if title is not None and title.modalities:
            score[IMAGING] += TITLE_WEIGHT if title.regions else TITLE_WEIGHT // 2
        note = max(("operative_note", "clinical_note"), key=lambda d: (score[d], d == "operative_note"))
        if score[note] >= minimum.get(note, 1) and score[note] > score[IMAGING]:
            return note, self.doc_words.get(note, [])
        if score[IMAGING] > 0 or self.any_modality():
            return IMAGING, self.doc_words.get(IMAGING, [])
        if self.findings and not score["operative_note"] and not score["clinical_note"]:
            return IMAGING, []  # untitled findings ("L4/5: disc bulge ...") in a document with no note cue
        return UNKNOWN, []


def _header_end(lowered: str, start: int, end: int) -> int:
    """Where the title part of a line ends: before a colon near its start ("LSS MRI : ..."), else the line's end."""
    colon = lowered.find(":", start, min(end, start + REGION_HEADER_MAX_CHARS + 1))
    return colon if colon >= 0 else end


def _is_header(lowered: str, start: int, head_end: int, line_end: int) -> bool:
    """A section header: its words end with a colon, or stand alone on their line."""
    return head_end < line_end or lowered[start:line_end].strip().endswith(":")


def _shown(text: str, title: _Title) -> str:
    return " ".join(text[title.start : title.end].split())[:50]
