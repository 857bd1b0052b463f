"""Criteria profiles (TOML in patterns/criteria/): what makes a patient a candidate.

A profile is data: a coordinator copies one, edits numbers or lists, and passes its path.
Every key is checked; an unknown key or a bad value is refused with a message naming it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ModicError
from .schema import (
    DISC_LEVELS,
    DOCUMENT_TYPES,
    EXCLUSIONS,
    IMAGING_REPORT,
    LUMBAR_REGIONS,
    MODALITIES,
    MODIC_TYPES,
    REGIONS,
    UNKNOWN,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CRITERIA_DIR = "criteria"
ACTIONS = ("ignore", "review", "exclude")


class CriteriaError(ModicError):
    """A criteria profile cannot be used: names the file and the key."""


@dataclass(frozen=True)
class IndexExams:
    """Which reports may be a patient's index MRI, by the exam kind extraction gave each."""

    modalities: tuple[str, ...] = ("mri",)
    regions: tuple[str, ...] = LUMBAR_REGIONS
    document_types: tuple[str, ...] = (IMAGING_REPORT,)
    unknown_exams: str = "review"  # accept | review | ignore

    def accepts(self, modality: str, region: str, document_type: str) -> bool:
        return modality in self.modalities and region in self.regions and document_type in self.document_types

    def unknown(self, modality: str, region: str, document_type: str) -> bool:
        """Not accepted, yet nothing rules it out: each part is accepted or unknown."""
        parts = ((modality, self.modalities), (region, self.regions), (document_type, self.document_types))
        return (
            any(value == UNKNOWN for value, _ in parts)
            and all(value == UNKNOWN or value in allowed for value, allowed in parts)
        )


@dataclass(frozen=True)
class Imaging:
    modic_types: tuple[str, ...]
    levels: tuple[str, ...]
    hedged_modic: str  # accept | review | exclude
    unspecified_modic: str  # review | exclude
    modic_outside_levels: str  # ignore | review | exclude
    max_vertebrae: int  # 0: no limit
    exclude: tuple[str, ...]
    review: tuple[str, ...]
    listhesis: str  # ignore | review | exclude


@dataclass(frozen=True)
class Symptoms:
    min_lbp_months: float
    min_conservative_care_months: float
    radicular_pain: str
    prior_lumbar_surgery: str
    min_odi: float | None = None
    min_pain_score: float | None = None
    max_bmi: float | None = None


@dataclass(frozen=True)
class Criteria:
    name: str
    description: str
    window_days: int
    imaging: Imaging
    symptoms: Symptoms
    path: Path
    index: IndexExams = IndexExams()


def _choice(options):
    def check(value):
        if value not in options:
            return f"expected one of {', '.join(options)}"
        return None

    return check


def _number(low: float, high: float | None = None, integer: bool = False):
    def check(value):
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if not ok or isinstance(value, bool) or value < low or (high is not None and value > high):
            kind = "a whole number" if integer else "a number"
            return f"expected {kind} from {low}" + (f" to {high}" if high is not None else " up")
        return None

    return check


def _list_of(options):
    def check(value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of strings"
        bad = [v for v in value if v not in options]
        if bad:
            return f"{', '.join(map(repr, bad))} not among {', '.join(options)}"
        return None

    return check


# key -> (check, required)
_TOP = {
    "description": (lambda v: None if isinstance(v, str) else "expected a string", True),
    "window_days": (_number(0, 3650, integer=True), True),
}
_IMAGING = {
    "modic_types": (_list_of(MODIC_TYPES), True),
    "levels": (_list_of(DISC_LEVELS), True),
    "hedged_modic": (_choice(("accept", "review", "exclude")), True),
    "unspecified_modic": (_choice(("review", "exclude")), True),
    "modic_outside_levels": (_choice(ACTIONS), True),
    "max_vertebrae": (_number(0, 30, integer=True), True),
    "exclude": (_list_of(EXCLUSIONS), True),
    "review": (_list_of(EXCLUSIONS), True),
    "listhesis": (_choice(ACTIONS), True),
}
_INDEX = {
    "modalities": (_list_of(MODALITIES), False),
    "regions": (_list_of(REGIONS), False),
    "document_types": (_list_of(DOCUMENT_TYPES), False),
    "unknown_exams": (_choice(("accept", "review", "ignore")), False),
}
_SYMPTOMS = {
    "min_lbp_months": (_number(0, 600), True),
    "min_conservative_care_months": (_number(0, 600), True),
    "radicular_pain": (_choice(ACTIONS), True),
    "prior_lumbar_surgery": (_choice(ACTIONS), True),
    "min_odi": (_number(0, 100), False),
    "min_pain_score": (_number(0, 10), False),
    "max_bmi": (_number(0, 200), False),
}


def _check_table(path: Path, prefix: str, data: dict, spec: dict) -> None:
    for key in data:
        if key not in spec:
            raise CriteriaError(f"{path}: unknown key '{prefix}{key}'; known keys: {', '.join(spec)}")
    for key, (check, required) in spec.items():
        if key not in data:
            if required:
                raise CriteriaError(f"{path}: missing key '{prefix}{key}'")
            continue
        problem = check(data[key])
        if problem:
            raise CriteriaError(f"{path}: {prefix}{key} = {data[key]!r}: {problem}")


def bundled(patterns_dir: Path) -> dict[str, Path]:
    """Profile name -> file, for the profiles shipped in patterns/criteria/."""
    folder = patterns_dir / CRITERIA_DIR
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def resolve(name_or_path: str, patterns_dir: Path) -> Path:
    """A bundled profile name ("default") or the path of a profile file."""
    profiles = bundled(patterns_dir)
    if name_or_path in profiles:
        return profiles[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise CriteriaError(
        f"no criteria profile {name_or_path!r}: not a bundled profile ({', '.join(profiles) or 'none found'}) "
        "and not a file"
    )


def load(name_or_path: str, patterns_dir: Path) -> Criteria:
    path = resolve(name_or_path, patterns_dir)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CriteriaError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CriteriaError(f"{path}: cannot read: {exc}") from None
    sections = {"imaging": _IMAGING, "symptoms": _SYMPTOMS}
    _check_table(path, "", {k: v for k, v in data.items() if k not in (*sections, "index")}, _TOP)
    for section, spec in sections.items():
        if not isinstance(data.get(section), dict):
            raise CriteriaError(f"{path}: missing table [{section}]")
        _check_table(path, f"{section}.", data[section], spec)
    index = data.get("index", {})  # optional: profiles written before it default to lumbar MRI
    if not isinstance(index, dict):
        raise CriteriaError(f"{path}: index must be a table ([index])")
    _check_table(path, "index.", index, _INDEX)
    img, sym = data["imaging"], data["symptoms"]
    both = set(img["exclude"]) & set(img["review"])
    if both:
        raise CriteriaError(f"{path}: imaging.exclude and imaging.review both name {', '.join(sorted(both))}")
    return Criteria(
        name=path.stem,
        description=data["description"],
        window_days=data["window_days"],
        imaging=Imaging(
            modic_types=tuple(img["modic_types"]),
            levels=tuple(img["levels"]),
            hedged_modic=img["hedged_modic"],
            unspecified_modic=img["unspecified_modic"],
            modic_outside_levels=img["modic_outside_levels"],
            max_vertebrae=img["max_vertebrae"],
            exclude=tuple(img["exclude"]),
            review=tuple(img["review"]),
            listhesis=img["listhesis"],
        ),
        symptoms=Symptoms(**sym),
        path=path,
        index=IndexExams(**{k: tuple(v) if isinstance(v, list) else v for k, v in index.items()}),
    )
