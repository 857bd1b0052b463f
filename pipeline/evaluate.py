"""Compare extraction with gold labels (the format of ANNOTATION.md): P/R/F1 and disagreements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .io import read_jsonl
from .levels import find_levels
from .nlp import Analyzer
from .run import ReportResult, process_texts
from .schema import ENDPLATE_FINDINGS, EXCLUSIONS, MODIC

GOLD_KEYS = ("report_id", "report_text", "gold")


def load_gold(path: Path, split: str = "all") -> list[dict]:
    """Gold reports, optionally only one split ("dev", "heldout"); clear errors naming the line."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    reports = []
    for n, item in read_jsonl(path):
        missing = [k for k in GOLD_KEYS if k not in item]
        if missing:
            raise InputError(f"{path} line {n}: missing key(s) {', '.join(missing)}")
        for key in ("modic", "endplate", "exclusions"):
            if key not in item["gold"]:
                raise InputError(f"{path} line {n}: gold has no {key!r}")
        if split == "all" or item.get("split", "dev") == split:
            reports.append(item)
    if not reports:
        raise InputError(f"{path}: no gold reports{'' if split == 'all' else f' in split {split!r}'}")
    return reports


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
class Evaluation:
    n_reports: int
    scores: dict[str, Score]
    uncertain_agree: int = 0
    uncertain_total: int = 0
    disagreements: list[dict] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'measure':<28}{'P':>7}{'R':>7}{'F1':>7}{'TP':>6}{'FP':>5}{'FN':>5}"]
        for name, s in self.scores.items():
            lines.append(f"{name:<28}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{s.tp:>6}{s.fp:>5}{s.fn:>5}")
        if self.uncertain_total:
            lines.append(f"modic uncertain flag agrees on {self.uncertain_agree}/{self.uncertain_total} matched levels")
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


def evaluate(gold_path: Path, analyzer: Analyzer, split: str = "all") -> Evaluation:
    gold_reports = load_gold(gold_path, split)
    results = process_texts(analyzer, [g["report_text"] for g in gold_reports])
    return score(gold_reports, results)
