"""Spinal level grammar: find disc levels in free text and give each finding its level.

Pure Python (no spaCy), so it can be tested by tables of (text, expected) rows.

A report names a disc level in many ways: "L4-5", "L4-L5", "L4/5", "L5S1", "T12-L1",
"D12/L1" (dorsal = thoracic), "inferior endplate of L4", "superior L5 endplate",
"the L5 and S1 endplates", "L4 over L5" (listhesis), ranges ("L3-4 through L5-S1",
"L3-S1") and lists ("at L3-4 and L4-5"). Everything is normalised to the disc between
two vertebrae, written "L4-L5".

T1 and T2 are read as MRI sequences, never as vertebrae: in a lumbar report "T1 and
T2 hyperintense" is a signal description, not the T1-T2 disc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .schema import DISC_LEVELS, LEVEL_ORDER

# Vertebrae in cranio-caudal order; a disc lies between two neighbours.
_VERTEBRAE = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)
_VERT_INDEX = {v: i for i, v in enumerate(_VERTEBRAE)}
_SEQUENCE_NAMES = {"T1", "T2"}

_END_PLATE = r"end[\s-]?p(?:la|al|a|l)(?:te|t|e)s?"  # endplate, end plate, end-plate, endpalte, end palate
_LETTER = r"[CcTtDdLlSs]"

# A disc written as two vertebrae: L4-5, L4-L5, L4/5, L4 / L5, L5-S1, L5S1, T12-L1, D12/L1.
# The letter comes first and the check that no letter or digit precedes it after it
# ("(?<![A-Za-z0-9].)"): a pattern that starts with a character class lets the engine skip
# ahead to the next candidate letter instead of trying every position (1.6 times faster).
_PAIR = re.compile(
    rf"({_LETTER})(?<![A-Za-z0-9].)\s?(\d{{1,2}})"
    rf"(?:\s*[-\u2010-\u2015/\\]\s*({_LETTER})?\s?|({_LETTER})\s?)(\d{{1,2}})(?![0-9])"
)
_SINGLE = re.compile(rf"({_LETTER})(?<![A-Za-z0-9].)\s?(\d{{1,2}})(?![0-9])")
# What every level above holds; a sentence without one names no level (checked first, for speed).
_ANY_VERTEBRA = re.compile(rf"{_LETTER}\s?\d")
_NAMED = {
    "L5-S1": re.compile(r"\blumbo-?sacral\s+(?:junction|level|disc|disk|interspace)\b", re.I),
    "T12-L1": re.compile(r"\bthoraco-?lumbar\s+(?:junction|level|disc|disk|interspace)\b", re.I),
}

_SIDE_BELOW = r"(?:inferior|lower|caudal|under)"
_SIDE_ABOVE = r"(?:superior|upper|cranial|top)"
_LEFT_SIDE = re.compile(rf"(?:({_SIDE_BELOW})|({_SIDE_ABOVE}))\s+(?:{_END_PLATE}\s+(?:of\s+)?(?:the\s+)?)?$", re.I)
_RIGHT_SIDE = re.compile(rf"^\s*(?:vertebral\s+(?:body\s+)?)?(?:({_SIDE_BELOW})|({_SIDE_ABOVE}))\s+{_END_PLATE}", re.I)
# "L4 and L5 endplates", "endplates of L5 and S1", "L4 over L5", "L4 on L5"
_JOIN_AND = re.compile(r"^\s*(?:and|&|\+|/)\s*(?:(?:inferior|superior|upper|lower)\s+)?$", re.I)
_JOIN_OVER = re.compile(r"^\s*(?:over|on)\s+(?:the\s+)?$", re.I)
_JOIN_RANGE = re.compile(
    r"^\s*(?:-|\u2013|\u2014|to|through|thru|down\s+to|till|until)\s+(?:the\s+)?$|^\s*[-\u2013]\s*$", re.I
)
_ROOTS_AFTER = re.compile(r"^\s*(?:nerve|root|roots|dermatom|radicul|segment)", re.I)
_ENDPLATE_NEAR = re.compile(rf"{_END_PLATE}|vertebra(?:l|e)?\s+bod", re.I)

# Between two level expressions of one list or range.
_LIST_GAP = re.compile(r"^[\s,]*(?:(?:and|&|\+|as\s+well\s+as|or)\s*)?(?:(?:at|the|at\s+the)\s+)?$", re.I)
_RANGE_GAP = re.compile(
    r"^\s*(?:-|\u2013|\u2014|to|through|thru|down\s+to|extending\s+to|until)\s*(?:(?:the)\s+)?$", re.I
)


@dataclass(frozen=True)
class LevelGroup:
    """A run of text naming one or more disc levels (a single level, a list or a range)."""

    start: int
    end: int
    levels: tuple[str, ...]


@lru_cache(maxsize=1024)
def vertebra(letter: str, number: str) -> str | None:
    """Normalise a vertebra ("d", "12") -> "T12"; None if it is not a vertebra we know."""
    name = ("T" if letter.upper() == "D" else letter.upper()) + str(int(number))
    return name if name in _VERT_INDEX else None


_REGION_OF_LETTER = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "lumbar"}


def vertebra_regions(text: str) -> set[str]:
    """The spine regions of the vertebrae a text names ("fracture of T8" -> {"thoracic"}); T1 and T2,
    which may be MRI sequences, are left out."""
    out = set()
    if _ANY_VERTEBRA.search(text) is None:
        return out
    for m in _SINGLE.finditer(text):
        v = vertebra(m.group(1), m.group(2))
        if v is not None and v not in _SEQUENCE_NAMES:
            out.add(_REGION_OF_LETTER[v[0]])
    return out


def disc_between(upper: str, lower: str) -> str | None:
    """The disc between two adjacent vertebrae ("L4", "L5") -> "L4-L5"; None if not adjacent."""
    if _VERT_INDEX.get(lower, -1) - _VERT_INDEX.get(upper, -99) != 1:
        return None
    disc = f"{upper}-{lower}"
    return disc if disc in LEVEL_ORDER else None


def discs_from(upper: str, lower: str) -> tuple[str, ...]:
    """All discs between two vertebrae, e.g. ("L3", "S1") -> L3-L4, L4-L5, L5-S1."""
    a, b = _VERT_INDEX[upper], _VERT_INDEX[lower]
    if b <= a:
        return ()
    return tuple(d for i in range(a, b) if (d := disc_between(_VERTEBRAE[i], _VERTEBRAE[i + 1])))


def disc_range(first: str, last: str) -> tuple[str, ...]:
    """Discs from one disc to another inclusive, in anatomical order."""
    a, b = sorted((LEVEL_ORDER[first], LEVEL_ORDER[last]))
    return DISC_LEVELS[a : b + 1]


@dataclass
class _Atom:
    start: int
    end: int
    levels: tuple[str, ...]
    vert: str | None = None  # a lone vertebra waiting for a partner


def _pair_atoms(text: str, taken: list[tuple[int, int]]) -> list[_Atom]:
    atoms = []
    for m in _PAIR.finditer(text):
        first = vertebra(m.group(1), m.group(2))
        letter2 = m.group(3) or m.group(4) or m.group(1)
        second = vertebra(letter2, m.group(5))
        if not first or not second or {first, second} & _SEQUENCE_NAMES:
            continue
        disc = disc_between(first, second)
        levels = (disc,) if disc else discs_from(first, second)
        if levels:
            atoms.append(_Atom(m.start(), m.end(), levels))
            taken.append((m.start(), m.end()))
    return atoms


def _single_atoms(text: str, taken: list[tuple[int, int]]) -> list[_Atom]:
    atoms = []
    for m in _SINGLE.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        v = vertebra(m.group(1), m.group(2))
        if not v or v in _SEQUENCE_NAMES or m.group(1).islower() and m.group(1) in "ts":
            continue
        # (a side written before the vertebra ends with a blank: look only when one precedes it)
        before = text[m.start() - 1 : m.start()].isspace()
        left = _LEFT_SIDE.search(text[max(0, m.start() - 40) : m.start()]) if before else None
        right = _RIGHT_SIDE.match(text[m.end() : m.end() + 40])
        side = left or right
        levels: tuple[str, ...] = ()
        if side:
            below = side.group(1) is not None
            idx = _VERT_INDEX[v]
            if below and idx + 1 < len(_VERTEBRAE):
                d = disc_between(v, _VERTEBRAE[idx + 1])
            elif not below and idx > 0:
                d = disc_between(_VERTEBRAE[idx - 1], v)
            else:
                d = None
            levels = (d,) if d else ()
        atoms.append(_Atom(m.start(), m.end(), levels, vert=v))
    return atoms


def _join_vertebrae(text: str, atoms: list[_Atom]) -> list[_Atom]:
    """Join two lone vertebrae into a disc ("L4 and L5 endplates", "L4 over L5", "from L3 to S1")."""
    out: list[_Atom] = []
    for atom in atoms:
        prev = out[-1] if out else None
        if prev is not None and prev.vert and atom.vert:
            gap = text[prev.end : atom.start]
            after = text[atom.end : atom.end + 30]
            if (_JOIN_AND.match(gap) or _JOIN_OVER.match(gap)) and not _ROOTS_AFTER.match(after):
                disc = disc_between(prev.vert, atom.vert)
                if disc:
                    out[-1] = _Atom(prev.start, atom.end, (disc,))
                    continue
            if _JOIN_RANGE.match(gap) and not _ROOTS_AFTER.match(after):
                levels = discs_from(prev.vert, atom.vert)
                if levels:
                    out[-1] = _Atom(prev.start, atom.end, levels)
                    continue
        out.append(atom)
    return out


def find_levels(text: str) -> list[LevelGroup]:
    """Every run of text naming disc levels, lists and ranges merged into one group each."""
    taken: list[tuple[int, int]] = []
    atoms = _pair_atoms(text, taken) + _single_atoms(text, taken) if _ANY_VERTEBRA.search(text) else []
    lowered = text.lower()
    if "lumbo" in lowered or "thoraco" in lowered:  # what the named junctions start with
        for disc, rx in _NAMED.items():
            atoms += [_Atom(m.start(), m.end(), (disc,)) for m in rx.finditer(text)]
    if not atoms:
        return []
    atoms.sort(key=lambda a: a.start)
    atoms = [a for a in _join_vertebrae(text, atoms) if a.levels]

    groups: list[LevelGroup] = []
    for atom in atoms:
        if groups:
            last = groups[-1]
            gap = text[last.end : atom.start]
            if _RANGE_GAP.match(gap) and len(last.levels) == 1 and len(atom.levels) == 1:
                levels = disc_range(last.levels[0], atom.levels[0])
                groups[-1] = LevelGroup(last.start, atom.end, levels)
                continue
            if _LIST_GAP.match(gap):
                merged = tuple(dict.fromkeys(last.levels + atom.levels))
                groups[-1] = LevelGroup(last.start, atom.end, merged)
                continue
        groups.append(LevelGroup(atom.start, atom.end, atom.levels))
    return groups


_HEADER_LEVEL = (
    r"[CTDLSctdls]\s?\d{1,2}(?:\s*[-\u2010-\u2015/\\]\s*(?:[CTDLSctdls]\s?)?\d{1,2}|[CTDLSctdls]\s?\d{1,2})?"
)
_HEADER = re.compile(
    rf"[\s\-*\u2022.>]*(?:at\s+)?(?:the\s+)?(?:level\s+(?:of\s+)?)?"
    rf"(?P<levels>{_HEADER_LEVEL}(?:\s*(?:,|&|\+|and|,\s*and|to|through|thru|-)\s*(?:the\s+)?{_HEADER_LEVEL})*"
    rf"|lumbo-?sacral\s+\w+|thoraco-?lumbar\s+\w+)"
    r"\s*(?:levels?|discs?|disks?|interspaces?|segments?)?\s*(?::|-\s|\u2013\s)",
    re.I,
)


def header_levels(sentence: str, start: int = 0, end: int | None = None) -> tuple[tuple[str, ...], int] | None:
    """A level header at the start of a sentence ("L4-L5:", "L5/S1 level :", "- L3-4 -").

    `start`/`end` look at that stretch of a longer text without copying it. Returns the levels
    and the offset (in the text given) where the header ends, or None.
    """
    m = _HEADER.match(sentence, start, len(sentence) if end is None else end)
    if not m:
        return None
    levels = _header_group(m.group("levels"))
    return (levels, m.end()) if levels else None


@lru_cache(maxsize=4096)
def _header_group(text: str) -> tuple[str, ...]:
    """The levels a header names, when it names one group of them (headers repeat: cached)."""
    groups = find_levels(text)
    return groups[0].levels if len(groups) == 1 else ()


# Clause boundaries inside a sentence: a finding takes the level of its own clause first.
# (What "[;,:()]|\s(?:and|with|while|whereas|but|although|plus)\s" finds, case-insensitively,
# written to start with one character class so the search jumps between candidates.)
_CLAUSE_SPLIT = re.compile(r"[;,:()\s](?:(?<=\s)(?:and|with|while|whereas|but|although|plus)\s|(?<=[;,:()]))", re.I)
_NO_LEVEL = re.compile(
    r"\b(?:elsewhere|other\s+(?:disc\s+)?levels?|remaining\s+(?:disc\s+)?levels?|rest\s+of\s+the|any\s+level|all\s+levels?)\b",
    re.I,
)
_CONTINUATION = re.compile(r"\b(?:also|lesser|similar|likewise|as\s+well|smaller|milder|minor|again)\b", re.I)
_FILLER = re.compile(r"\b(?:at|the|and|of|to|a|levels?|in|on|also|extent|lesser|degree|similar)\b|[\s,.;]", re.I)


@dataclass(frozen=True)
class Target:
    """A finding in a sentence, for level assignment: its span and its family ("modic:1", "fracture")."""

    start: int
    end: int
    family: str


def _blocked(family: str, claimants: set[str]) -> bool:
    """A Modic change does not borrow a level another Modic type was stated for."""
    return family.startswith("modic:") and any(c.startswith("modic:") and c != family for c in claimants)


def _clauses(text: str, protected: list[tuple[int, int]]) -> list[tuple[int, int]]:
    cuts = [0]
    for m in _CLAUSE_SPLIT.finditer(text):
        if not any(s <= m.start() < e for s, e in protected):
            cuts.append(m.start())
    cuts.append(len(text))
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def assign_levels(text: str, targets: list[Target], header: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The disc levels of each target in one sentence.

    Order of preference: a level in the target's own clause (the nearest after it, before
    the next target, else the nearest before it); a following clause that only adds levels
    ("..., and to a lesser extent at L4-5"); the nearest level earlier in the sentence, else
    the nearest later one, skipping levels whose clause holds a Modic change of another
    type; else the paragraph's level header. "elsewhere" / "other levels" means no level.
    """
    groups = find_levels(text)
    if not groups and not _NO_LEVEL.search(text):
        return [header] * len(targets)  # what the steps below come to with no level in the sentence
    return _by_clauses(text, targets, header, groups)


def _by_clauses(
    text: str, targets: list[Target], header: tuple[str, ...], groups: list[LevelGroup]
) -> list[tuple[str, ...]]:
    """assign_levels' steps, given the sentence's level groups."""
    protected = [(g.start, g.end) for g in groups] + [(t.start, t.end) for t in targets]
    clauses = _clauses(text, protected)

    def clause_of(pos: int) -> int:
        for i, (a, b) in enumerate(clauses):
            if a <= pos < b:
                return i
        return len(clauses) - 1

    target_clause = [clause_of(t.start) for t in targets]
    group_clause = [clause_of(g.start) for g in groups]
    clause_targets: dict[int, list[int]] = {}
    for ti, ci in enumerate(target_clause):
        clause_targets.setdefault(ci, []).append(ti)

    # Level-only continuation clauses lend their levels to the nearest earlier clause with targets.
    extra: dict[int, list[LevelGroup]] = {}
    for gi, ci in enumerate(group_clause):
        if ci in clause_targets:
            continue
        a, b = clauses[ci]
        chars = list(text[a:b])  # the clause with its levels blanked out
        for g in groups:
            lo, hi = max(g.start, a), min(g.end, b)
            if hi > lo:
                chars[lo - a : hi - a] = " " * (hi - lo)
        rest = "".join(chars)
        if _CONTINUATION.search(text[a:b]) or not _FILLER.sub("", rest):
            earlier = [c for c in clause_targets if c < ci]
            if earlier:
                extra.setdefault(max(earlier), []).append(groups[gi])

    # Which groups are claimed by which family (groups in a clause with targets).
    claimed: dict[int, set[str]] = {}
    for gi, ci in enumerate(group_clause):
        for ti in clause_targets.get(ci, []):
            claimed.setdefault(gi, set()).add(targets[ti].family)

    result: list[tuple[str, ...]] = []
    for ti, target in enumerate(targets):
        ci = target_clause[ti]
        a, b = clauses[ci]
        if _NO_LEVEL.search(text[a:b]):
            result.append(())
            continue
        own = [g for gi, g in enumerate(groups) if group_clause[gi] == ci]
        chosen: tuple[str, ...] = ()
        if own:
            later_targets = [t.start for t in targets if t.start > target.end and clause_of(t.start) == ci]
            limit = min(later_targets) if later_targets else b
            after = [g for g in own if g.start >= target.end and g.start < limit]
            before = [g for g in own if g.end <= target.start]
            if after:
                chosen = after[0].levels
            elif before:
                chosen = before[-1].levels
            else:
                chosen = own[0].levels
        for g in extra.get(ci, []):
            chosen = tuple(dict.fromkeys(chosen + g.levels))
        if not chosen:
            free = [g for gi, g in enumerate(groups) if not _blocked(target.family, claimed.get(gi, set()))]
            before = [g for g in free if g.end <= target.start]
            after = [g for g in free if g.start >= target.end]
            if before:
                chosen = before[-1].levels
            elif after:
                chosen = after[0].levels
            else:
                chosen = header
        result.append(chosen)
    return result
