"""Analysed report -> list of Mention (frozen dataclasses, offsets in the original text).

This is the last place spaCy objects are seen; later stages get dataclasses only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .exams import Exam
from .levels import Target, assign_levels, vertebra_regions
from .nlp import AnalysedReport, Part
from .nlp.components import FINDINGS_GROUP
from .schema import EXCLUSIONS, LUMBAR_REGIONS, MODIC, NON_CURRENT_SECTIONS

#: ConText categories -> the Mention flag they set.
_FLAGS = {
    "NEGATED_EXISTENCE": "negated",
    "POSSIBLE_EXISTENCE": "uncertain",
    "HYPOTHETICAL": "hypothetical",
    "HISTORICAL": "historical",
    "FAMILY": "family",
}
#: ConText category of a site word next to a finding ("hip fracture"): its rule's metadata.region
#: says where the finding is.
SITE = "ANATOMY"
_FLAG_NAMES = tuple(_FLAGS.values())
#: Findings that explain endplate oedema away: oedema the report attributes to them is not Modic.
_MIMICS = ("infection", "fracture", "tumor")


@dataclass(frozen=True)
class Mention:
    """One matched mention of a finding at one level (a list of levels gives one Mention each)."""

    finding: str
    modic_type: str
    level: str
    region: str  # where it is: from its level, a site word beside it, or the part of the report
    lumbar: bool  # counts for the lumbar spine (see Exam.place)
    section: str
    negated: bool
    uncertain: bool
    hypothetical: bool
    historical: bool
    family: bool  # about a relative ("mother had breast cancer")
    current: bool
    text: str
    sentence: str
    start_char: int
    end_char: int
    descriptive: bool = False  # a Modic change described by signal or oedema, not named


def _family(finding: str, meta: dict) -> str:
    """Mentions of one family do not share a level: two Modic types, or an exclusion and another."""
    if finding == MODIC:
        return f"modic:{meta.get('modic_type', '')}"
    return "exclusion" if finding in EXCLUSIONS else finding


@dataclass
class _Found:
    finding: str
    meta: dict
    start: int  # offsets in the original text
    end: int
    modifiers: tuple  # ConText's
    attributed: bool  # explained away by the report (see Match)


def mentions_of(report: AnalysedReport, exam: Exam | None = None) -> list[Mention]:
    """Every mention in a report, current or not, in text order; `exam` places each in a region."""
    exam = exam or Exam()
    out: list[Mention] = []
    for part in report.parts:
        out.extend(_part_mentions(report.text, part, exam))
    _drop_attributed_oedema(out)
    return out


def _part_mentions(text: str, part: Part, exam: Exam) -> list[Mention]:
    by_sentence: dict[int, list[_Found]] = {}
    spans = sorted(part.doc.spans[FINDINGS_GROUP], key=lambda s: (s.start_char, -s.end_char))
    starts = [offset for offset, _ in part.placed]
    modifiers = part.modifiers()
    k = 0
    for span in spans:
        while k + 1 < len(starts) and span.start_char >= starts[k + 1]:
            k += 1
        offset, sentence = part.placed[k]
        shift = sentence.start - offset
        key = (span.start_char, span.end_char)
        match = part.matches.get(key)
        rule = match.rule if match is not None else span._.target_rule
        attributed = match.attributed if match is not None else False
        meta = dict(rule.metadata or {}) if rule else {}
        by_sentence.setdefault(k, []).append(
            _Found(
                span.label_, meta, span.start_char + shift, span.end_char + shift, modifiers.get(key, ()), attributed
            )
        )
    out: list[Mention] = []
    for k, found in sorted(by_sentence.items()):
        out.extend(_sentence_mentions(text, part.placed[k][1], found, exam))
    return out


def _sentence_mentions(text: str, sentence, found: list[_Found], exam: Exam) -> list[Mention]:
    named_modic = any(f.finding == MODIC and not f.meta.get("bare") for f in found)
    found = [f for f in found if not (f.meta.get("bare") and not named_modic)]
    sent_text = text[sentence.start : sentence.end]
    targets = [Target(f.start - sentence.start, f.end - sentence.start, _family(f.finding, f.meta)) for f in found]
    levels = assign_levels(sent_text, targets, header=sentence.header)

    out: list[Mention] = []
    for f, lv in zip(found, levels):
        flags = dict.fromkeys(_FLAG_NAMES, False)
        sites = []
        for modifier in f.modifiers:
            flag = _FLAGS.get(modifier.category)
            if flag:
                flags[flag] = True
            elif modifier.category == SITE:
                sites.append((modifier.rule.metadata or {}).get("region", ""))
        # "screws at the lower dorsal and upper lumbar spine": a finding that reaches the lumbar spine is in it
        site = next((s for s in sites if s in LUMBAR_REGIONS), sites[0] if sites else "")
        if not site and not any(lv):
            # no level and no site word: the vertebrae its sentence names, when all in one region
            # ("cord compression at T8", "compression fracture of T8; old wedging of T6")
            named = vertebra_regions(sent_text)
            site = named.pop() if len(named) == 1 else ""
        in_current_section = sentence.section not in NON_CURRENT_SECTIONS
        current = in_current_section and not (
            flags["negated"] or flags["hypothetical"] or flags["historical"] or flags["family"] or f.attributed
        )
        for finding in (f.finding, *f.meta.get("also", ())):
            for level in lv or ("",):
                region, lumbar = exam.place(level, site, f.start)
                out.append(
                    Mention(
                        finding=finding,
                        modic_type=f.meta.get("modic_type", "") if finding == MODIC else "",
                        level=level,
                        region=region,
                        lumbar=lumbar,
                        section=sentence.section,
                        current=current,
                        text=text[f.start : f.end],
                        sentence=sent_text,
                        start_char=f.start,
                        end_char=f.end,
                        descriptive=bool(f.meta.get("descriptive")),
                        **flags,
                    )
                )
    return _hedge_described_modic(_drop_sclerosis_of_modic3(out))


def _hedge_described_modic(mentions: list[Mention]) -> list[Mention]:
    """ "STIR bright endplate signal, ?early Modic 1": a hedged reading hedges the description too."""
    hedged = {m.level for m in mentions if m.finding == MODIC and m.uncertain and not m.descriptive}
    if not hedged:
        return mentions
    return [
        replace(m, uncertain=True) if m.finding == MODIC and m.descriptive and m.level in hedged else m
        for m in mentions
    ]


def _drop_sclerosis_of_modic3(mentions: list[Mention]) -> list[Mention]:
    """Sclerosis that is part of a Modic type 3 change in the same sentence is only the Modic change."""
    typed3 = {m.level for m in mentions if m.finding == MODIC and "3" in m.modic_type}
    if not typed3:
        return mentions
    return [m for m in mentions if not (m.finding == "endplate_sclerosis" and m.level in typed3)]


def _drop_attributed_oedema(mentions: list[Mention]) -> None:
    """Endplate oedema the report puts down to infection, fracture or tumour is not a Modic change.

    A described (not named) Modic change stops being current when a current mimic sits in
    the same sentence, or at the same level anywhere in the report.
    """
    mimic_sentences = {m.sentence for m in mentions if m.finding in _MIMICS and m.current}
    mimic_levels = {m.level for m in mentions if m.finding in _MIMICS and m.current and m.level}
    for i, m in enumerate(mentions):
        if m.finding == MODIC and m.descriptive and m.current:
            if m.sentence in mimic_sentences or m.level in mimic_levels:
                mentions[i] = replace(m, current=False)
