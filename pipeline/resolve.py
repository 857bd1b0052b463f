"""Mentions -> findings (one per report, level and finding) and the report's summary row."""

from __future__ import annotations

from dataclasses import dataclass

from .extract import Mention
from .schema import EXCLUSIONS, MODIC, QUALIFYING_LEVELS, QUALIFYING_TYPES, level_sort_key


@dataclass(frozen=True)
class Finding:
    """A current finding of one report at one level, with the evidence behind it."""

    level: str
    finding: str
    modic_type: str
    uncertain: bool
    section: str
    evidence: str
    start_char: int
    end_char: int


def combine_types(types: set[str]) -> str:
    """Types stated for one level combine: 1 and 2 -> "1/2", 2 and 3 -> "2/3"."""
    digits = set()
    for t in types:
        digits.update(t.split("/") if t != "unspecified" else ())
    if not digits:
        return "unspecified"
    if {"1", "2"} <= digits:
        return "1/2"
    if "1" in digits:
        return "1"  # type 3 beside type 1 without type 2: type 1 is what matters clinically
    if {"2", "3"} <= digits:
        return "2/3"
    return digits.pop()


def resolve(mentions: list[Mention]) -> list[Finding]:
    """Current findings, one row per (level, finding), ordered by level then finding."""
    groups: dict[tuple[str, str], list[Mention]] = {}
    for m in mentions:
        if m.current:
            groups.setdefault((m.level, m.finding), []).append(m)
    # A level-less mention adds nothing when the same finding is placed at a level elsewhere.
    placed = {finding for level, finding in groups if level}
    for level, finding in list(groups):
        if not level and finding in placed:
            del groups[(level, finding)]

    rows = []
    for (level, finding), ms in groups.items():
        sure = [m for m in ms if not m.uncertain]
        evidence = (sure or ms)[0]
        modic_type = combine_types({m.modic_type for m in ms}) if finding == MODIC else ""
        rows.append(
            Finding(
                level=level,
                finding=finding,
                modic_type=modic_type,
                uncertain=not sure,
                section=evidence.section,
                evidence=evidence.sentence,
                start_char=evidence.start_char,
                end_char=evidence.end_char,
            )
        )
    rows.sort(key=lambda f: (level_sort_key(f.level), f.finding))
    return rows


def _lumbar_fusion(f: Finding) -> bool:
    return not f.level.startswith("C")


@dataclass(frozen=True)
class Summary:
    n_mentions: int
    modic_levels: str
    qualifying_modic: bool
    exclusions: dict[str, bool]


def summarise(mentions: list[Mention], findings: list[Finding]) -> Summary:
    """The per-report row: Modic levels, whether imaging qualifies, and the exclusion booleans."""
    modic = [f for f in findings if f.finding == MODIC and f.level]
    exclusions = {name: False for name in EXCLUSIONS}
    for f in findings:
        if f.finding in exclusions and (f.finding != "fusion" or _lumbar_fusion(f)):
            exclusions[f.finding] = True
    return Summary(
        n_mentions=len(mentions),
        modic_levels=";".join(f"{f.level}:{f.modic_type}" for f in modic),
        qualifying_modic=any(f.modic_type in QUALIFYING_TYPES and f.level in QUALIFYING_LEVELS for f in modic),
        exclusions=exclusions,
    )
