"""Compare extraction with gold labels (the format of ANNOTATION.md): P/R/F1 and disagreements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .criteria import Criteria
from .errors import InputError
from .exams import Exam
from .flag import ImagingFinding, ImagingReport, PatientResult, flag
from .io import read_jsonl
from .levels import find_levels
from .nlp import Analyzer
from .run import ReportResult, process_texts
from .schema import (
    DOCUMENT_TYPES,
    ENDPLATE_FINDINGS,
    EXCLUSIONS,
    IMAGING_REPORT,
    MODALITIES,
    MODIC,
    REGIONS,
    STATUS_OK,
    UNKNOWN,
    exam_kind,
)
from .symptoms import SymptomTable

GOLD_KEYS = ("report_id", "report_text", "gold")


#: The exam a gold report is taken to be when its labels do not say (gold files written before exams).
LUMBAR_MRI = {"modality": "mri", "region": "lumbar", "document_type": IMAGING_REPORT}
_EXAM_VALUES = {
    "modality": (*MODALITIES, UNKNOWN),
    "region": (*REGIONS, UNKNOWN),
    "document_type": (*DOCUMENT_TYPES, UNKNOWN),
}


def load_gold(paths: Path | list[Path], split: str = "all") -> list[dict]:
    """Gold reports of one or more files, optionally only one split ("dev", "heldout"); clear errors
    naming the file and line. Report ids must be unique across the files."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    reports = []
    seen: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        for n, item in read_jsonl(path):
            missing = [k for k in GOLD_KEYS if k not in item]
            if missing:
                raise InputError(f"{path} line {n}: missing key(s) {', '.join(missing)}")
            for key in ("modic", "endplate", "exclusions"):
                if key not in item["gold"]:
                    raise InputError(f"{path} line {n}: gold has no {key!r}")
            exam = item["gold"].get("exam")
            if exam is not None:
                for key, allowed in _EXAM_VALUES.items():
                    if not isinstance(exam, dict) or exam.get(key) not in allowed:
                        raise InputError(f"{path} line {n}: gold.exam.{key} must be one of {', '.join(allowed)}")
            rid = str(item["report_id"])
            if rid in seen:
                raise InputError(f"{path} line {n}: report_id {rid!r} is also in {seen[rid]}")
            seen[rid] = f"{path} line {n}"
            if split == "all" or item.get("split", "dev") == split:
                reports.append(item)
    if not reports:
        shown = ", ".join(map(str, paths))
        raise InputError(f"{shown}: no gold reports{'' if split == 'all' else f' in split {split!r}'}")
    return reports


def gold_exam(item: dict) -> dict:
    """A gold report's exam labels (a lumbar MRI when its file labels no exams)."""
    return item["gold"].get("exam") or LUMBAR_MRI


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: set, system: set) -> tuple[set, set]:
        self.tp += len(gold & system)
        self.fp += len(system - gold)
        self.fn += len(gold - system)
        return system - gold, gold - system


@dataclass
class ExamScore:
    """Exam detection against gold exam labels: the kind ("lumbar mri", "operative_note") and each part."""

    total: int = 0
    kind: int = 0
    parts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("modality", "region", "document_type"), 0))
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, gold: dict, exam: Exam) -> bool:
        system = {"modality": exam.modality, "region": exam.region, "document_type": exam.document_type}
        self.total += 1
        for key in self.parts:
            self.parts[key] += gold[key] == system[key]
        g, s = exam_kind(**gold), exam.kind
        self.kind += g == s
        self.confusion[(g, s)] = self.confusion.get((g, s), 0) + 1
        return g == s

    def lines(self) -> list[str]:
        if not self.total:
            return []
        parts = ", ".join(f"{k.replace('_', ' ')} {v / self.total:.3f}" for k, v in self.parts.items())
        out = [f"exam kind accuracy {self.kind / self.total:.3f} ({self.kind}/{self.total}; {parts})"]
        wrong = sorted(((n, g, s) for (g, s), n in self.confusion.items() if g != s), reverse=True)
        for n, g, s in wrong[:12]:
            out.append(f"  {n:>4} x gold {g!r} read as {s!r}")
        return out


@dataclass
class Evaluation:
    n_reports: int
    scores: dict[str, Score]
    uncertain_agree: int = 0
    uncertain_total: int = 0
    disagreements: list[dict] = field(default_factory=list)
    exams: ExamScore = field(default_factory=ExamScore)

    def table(self) -> str:
        lines = [f"{'measure':<28}{'P':>7}{'R':>7}{'F1':>7}{'TP':>6}{'FP':>5}{'FN':>5}"]
        for name, s in self.scores.items():
            lines.append(f"{name:<28}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{s.tp:>6}{s.fp:>5}{s.fn:>5}")
        if self.uncertain_total:
            lines.append(f"modic uncertain flag agrees on {self.uncertain_agree}/{self.uncertain_total} matched levels")
        lines += self.exams.lines()
        lines.append(f"{self.n_reports} reports, {len(self.disagreements)} disagreements")
        return "\n".join(lines)


def _sentences_naming(text: str, level: str) -> str:
    """The lines of a report that name a level, to show beside a missed finding."""
    hits = [line.strip() for line in text.splitlines() if any(level in g.levels for g in find_levels(line))]
    return " | ".join(hits[:3])


@dataclass
class _Noter:
    """Records a level-wise disagreement with the sentence that explains it."""

    ev: Evaluation
    report_id: str
    text: str
    evidence: dict

    def __call__(self, measure: str, kind: str, key: tuple, finding: str = MODIC) -> None:
        level = key[0]
        sentence = self.evidence.get((level, finding), "") if kind == "FP" else _sentences_naming(self.text, level)
        self.ev.disagreements.append(
            {"report_id": self.report_id, "measure": measure, "kind": kind, "item": ":".join(key), "sentence": sentence}
        )


def score(gold_reports: list[dict], results: Iterable[ReportResult]) -> Evaluation:
    names = ["modic level+type", "modic level", "endplate findings", *EXCLUSIONS]
    scores = {n: Score() for n in names}
    ev = Evaluation(len(gold_reports), scores)
    for item, result in zip(gold_reports, results):
        rid, text, gold = item["report_id"], item["report_text"], item["gold"]
        if "exam" in gold and not ev.exams.add(gold["exam"], result.exam):
            ev.disagreements.append(
                {
                    "report_id": rid,
                    "measure": "exam kind",
                    "kind": "wrong",
                    "item": f"{exam_kind(**gold['exam'])} read as {result.exam.kind}",
                    "sentence": result.exam.evidence,
                }
            )
        modic = [f for f in result.findings if f.finding == MODIC and f.level]
        evidence = {(f.level, f.finding): f.evidence for f in result.findings}
        note = _Noter(ev, rid, text, evidence)

        g_lt = {(m["level"], m["type"]) for m in gold["modic"]}
        s_lt = {(f.level, f.modic_type) for f in modic}
        fps, fns = scores["modic level+type"].add(g_lt, s_lt)
        for key in sorted(fps):
            note("modic level+type", "FP", key)
        for key in sorted(fns):
            note("modic level+type", "FN", key)
        scores["modic level"].add({lv for lv, _ in g_lt}, {lv for lv, _ in s_lt})
        g_unc = {m["level"]: m["uncertain"] for m in gold["modic"]}
        for f in modic:
            if f.level in g_unc:
                ev.uncertain_total += 1
                ev.uncertain_agree += g_unc[f.level] == f.uncertain

        g_ep = {(e["level"], e["finding"]) for e in gold["endplate"]}
        s_ep = {(f.level, f.finding) for f in result.findings if f.finding in ENDPLATE_FINDINGS}
        fps, fns = scores["endplate findings"].add(g_ep, s_ep)
        for key in sorted(fps):
            note("endplate findings", "FP", key, key[1])
        for key in sorted(fns):
            note("endplate findings", "FN", key, key[1])

        for name in EXCLUSIONS:
            g = {rid} if gold["exclusions"].get(name) else set()
            s = {rid} if result.exclusions.get(name) else set()
            fps, fns = scores[name].add(g, s)
            if fps or fns:
                sentence = next((f.evidence for f in result.findings if f.finding == name), "")
                ev.disagreements.append(
                    {
                        "report_id": rid,
                        "measure": name,
                        "kind": "FP" if fps else "FN",
                        "item": name,
                        "sentence": sentence,
                    }
                )
    return ev


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def system_imaging(gold_reports: list[dict], results: list[ReportResult]) -> list[ImagingReport]:
    """What the extraction says of each gold report, in the form the flagger judges."""
    return [
        ImagingReport(
            item["report_id"],
            item.get("patient_id", ""),
            _date(item.get("report_date", "")),
            r.status,
            order,
            dict(r.exclusions),
            [ImagingFinding(f.level, f.finding, f.modic_type, f.uncertain, f.evidence, f.lumbar) for f in r.findings],
            r.exam.modality,
            r.exam.region,
            r.exam.document_type,
        )
        for order, (item, r) in enumerate(zip(gold_reports, results))
    ]


def gold_imaging(gold_reports: list[dict]) -> list[ImagingReport]:
    """What the gold labels say of each report: the correct imaging the statuses are compared with."""
    out = []
    for order, item in enumerate(gold_reports):
        g = item["gold"]
        e = gold_exam(item)
        exam = Exam(e["modality"], e["region"], e["document_type"])
        labels = [(m["level"], MODIC, m["type"], m["uncertain"]) for m in g["modic"]]
        labels += [(x["level"], x["finding"], "", False) for x in g["endplate"]]
        findings = [ImagingFinding(*label, "gold label", exam.place(label[0], "", 0)[1]) for label in labels]
        exclusions = {name: bool(g["exclusions"].get(name)) for name in EXCLUSIONS}
        out.append(
            ImagingReport(
                item["report_id"],
                item.get("patient_id", ""),
                _date(item.get("report_date", "")),
                STATUS_OK,
                order,
                exclusions,
                findings,
                e["modality"],
                e["region"],
                e["document_type"],
            )
        )
    return out


@dataclass
class StatusAgreement:
    agree: int
    total: int
    disagreements: list[dict]
    index_agree: int = 0
    #: patients with a lumbar MRI (by the gold exam labels) and how many keep, on the whole extract,
    #: the status and index report their lumbar MRIs alone give them (None: the gold labels no other exam)
    kept: tuple[int, int] | None = None

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else 1.0

    def line(self, criteria: str) -> str:
        out = (
            f"patient status ({criteria}): {self.agree}/{self.total} patients agree with the status "
            f"the gold imaging labels give ({self.rate:.1%}); index report agrees for {self.index_agree}/{self.total}"
        )
        if self.kept is not None:
            kept, of = self.kept
            out += (
                f"\nmixed extract ({criteria}): {kept}/{of} patients with a lumbar MRI keep the status and index "
                "report "
                f"their lumbar MRIs alone give them ({kept / of if of else 1:.1%})"
            )
        return out


def status_agreement(
    gold_reports: list[dict], results: list[ReportResult], symptoms: SymptomTable, criteria: Criteria
) -> StatusAgreement:
    """Flag the gold patients twice, from the extraction and from the gold labels, and compare."""
    patients = {item.get("patient_id", "") for item in gold_reports} - {""}
    table = SymptomTable({p: a for p, a in symptoms.by_patient.items() if p in patients}, symptoms.fields, [])
    imaging = system_imaging(gold_reports, results)
    system = flag(imaging, table, criteria)
    gold = {r.patient_id: r for r in flag(gold_imaging(gold_reports), table, criteria)}
    rows = []
    index_agree = 0
    for s in system:
        g = gold[s.patient_id]
        index_agree += s.index_report_id == g.index_report_id
        if s.status != g.status or s.index_report_id != g.index_report_id:
            rows.append(
                {
                    "report_id": s.index_report_id,
                    "measure": "patient status",
                    "kind": "status" if s.status != g.status else "index",
                    "item": f"{s.patient_id}: {s.status} (gold {g.status}), index {s.index_report_id or '-'} "
                    f"(gold {g.index_report_id or '-'})",
                    "sentence": f"reasons: {';'.join(s.reasons) or '-'} (gold {';'.join(g.reasons) or '-'})",
                }
            )
    agree = sum(1 for s in system if s.status == gold[s.patient_id].status)
    return StatusAgreement(agree, len(system), rows, index_agree, _kept(gold_reports, imaging, system, table, criteria))


def _kept(
    gold_reports: list[dict],
    imaging: list[ImagingReport],
    system: list[PatientResult],
    table: SymptomTable,
    criteria: Criteria,
) -> tuple[int, int] | None:
    """Flag the patients again from their lumbar MRIs alone (by the gold exam labels) and count those
    whose status and index report the whole extract leaves as they are."""
    parts = ("modality", "region", "document_type")
    lumbar = [criteria.index.accepts(**{k: gold_exam(item)[k] for k in parts}) for item in gold_reports]
    if all(lumbar):
        return None
    alone = {r.patient_id: r for r in flag([r for r, keep in zip(imaging, lumbar) if keep], table, criteria)}
    with_mri = {r.patient_id for r, keep in zip(imaging, lumbar) if keep and r.patient_id}
    whole = {r.patient_id: r for r in system}
    kept = sum(
        1
        for p in with_mri
        if (whole[p].status, whole[p].index_report_id) == (alone[p].status, alone[p].index_report_id)
    )
    return kept, len(with_mri)


def evaluate(
    gold_paths: Path | list[Path], analyzer: Analyzer, split: str = "all"
) -> tuple[Evaluation, list[dict], list]:
    """Scores of the extraction against the gold labels; also returns the gold items and results.

    A gold item's `exam_name` (the value an exam column would hold) is given to the extraction as such."""
    gold_reports = load_gold(gold_paths, split)
    results = process_texts(
        analyzer, [g["report_text"] for g in gold_reports], [str(g.get("exam_name") or "") for g in gold_reports]
    )
    return score(gold_reports, results), gold_reports, results
