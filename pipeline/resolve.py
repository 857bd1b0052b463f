"""Mentions -> findings (one per report, level and finding) and the report's summary row."""

from __future__ import annotations

from dataclasses import dataclass

from .extract import Mention
from .schema import EXCLUSIONS, MODIC, QUALIFYING_LEVELS, QUALIFYING_TYPES, level_sort_key


@dataclass(frozen=True)
class Finding:
    """A current finding of one report at one level, with the evidence behind it."""

    level: str
    region: str
    lumbar: bool  # counts for the lumbar spine: only these decide the report's exclusions
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
    """Current findings, one row per (level, finding, region), ordered by level then finding.

    A level-less finding is one row per region it is found in (the cervical and the lumbar part
    of a multi-region report are two rows)."""
    groups: dict[tuple[str, str, str], list[Mention]] = {}
    for m in mentions:
        if m.current:
            groups.setdefault((m.level, m.finding, "" if m.level else m.region), []).append(m)
    # A level-less mention adds nothing when the same finding is placed at a level elsewhere, on
    # the same side of the lumbar line (a level-less root compression in the lumbar part is kept
    # beside a C5-C6 one).
    placed = {(finding, any(m.lumbar for m in ms)) for (level, finding, _), ms in groups.items() if level}
    for key, ms in list(groups.items()):
        if not key[0] and (key[1], any(m.lumbar for m in ms)) in placed:
            del groups[key]

    rows = []
    for (level, finding, _), ms in groups.items():
        sure = [m for m in ms if not m.uncertain]
        evidence = (sure or ms)[0]
        modic_type = combine_types({m.modic_type for m in ms}) if finding == MODIC else ""
        rows.append(
            Finding(
                level=level,
                region=evidence.region,
                lumbar=any(m.lumbar for m in ms),
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


@dataclass(frozen=True)
class Summary:
    n_mentions: int
    modic_levels: str
    qualifying_modic: bool
    exclusions: dict[str, bool]


def summarise(mentions: list[Mention], findings: list[Finding]) -> Summary:
    """The per-report row: Modic levels, whether imaging qualifies, and the exclusion booleans.

    Only findings that count for the lumbar spine rule out or qualify (a cervical root compression,
    a hip fracture or a cervical fusion does not)."""
    modic = [f for f in findings if f.finding == MODIC and f.level]
    exclusions = {name: False for name in EXCLUSIONS}
    for f in findings:
        if f.finding in exclusions and f.lumbar:
            exclusions[f.finding] = True
    return Summary(
        n_mentions=len(mentions),
        modic_levels=";".join(f"{f.level}:{f.modic_type}" for f in modic),
        qualifying_modic=any(
            f.lumbar and f.modic_type in QUALIFYING_TYPES and f.level in QUALIFYING_LEVELS for f in modic
        ),
        exclusions=exclusions,
    )
