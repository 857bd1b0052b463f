"""Regression tests on real report text written by others (../shared/realworld/).

Those files are not part of the project and not in users' clones: the tests skip without them.
Each expectation below was read off the real report by hand; the report ids name them.
"""

import csv
import json

import pytest

from pipeline.run import process_texts

from .conftest import ROOT

REALWORLD = ROOT.parent / "shared" / "realworld"
pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason="../shared/realworld is not present")


def load(name, id_col, text_col):
    csv.field_size_limit(1 << 30)
    with open(REALWORLD / name, encoding="utf-8", newline="") as fh:
        return {r[id_col]: r[text_col] for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def notes():
    return load("lumbar_radiologists_notes.csv", "report_id", "report_text")


@pytest.fixture(scope="module")
def notes_results(analyzer, notes):
    ids = list(notes)
    return dict(zip(ids, process_texts(analyzer, [notes[i] for i in ids])))


def test_every_real_note_is_processed_without_error(notes, notes_results):
    statuses = {r.status for r in notes_results.values()}
    assert statuses <= {"ok", "empty"}
    assert all(r.status == "empty" for i, r in notes_results.items() if not notes[i].strip())


def test_all_of_mtsamples_and_teaching_excerpts_run(analyzer):
    texts = list(load("mtsamples.csv", "", "transcription").values())
    with open(REALWORLD / "teaching_excerpts.jsonl", encoding="utf-8") as fh:
        texts += [json.loads(line)["text"] for line in fh if line.strip()]
    results = process_texts(analyzer, texts)
    assert len(results) == len(texts)
    assert not [r.message for r in results if r.status == "error"]


@pytest.mark.parametrize(
    ("report_id", "modic_levels"),
    [
        ("RN-474", "L5-S1:1"),  # "Modec Type I , noted at L5/S1 level."
        ("RN-164", "L4-L5:1"),  # "Endplate Modic typeI noted at L4/L5 level"
        ("RN-172", "L2-L3:2"),  # "Modec type II of L2/L3"
        ("RN-402", "L5-S1:2"),  # level header line "L5/S1 level :" then "Modic type II noted ."
        ("RN-356", "L5-S1:1"),  # "Type I end plate degeneration noted." under "L5-S1:"
        ("RN-502", "L4-L5:2"),  # "Modic type II end plate degenerative changes of L4/L5"
        ("RN-158", "L4-L5:2"),  # "at the level of the L4-L5-"
        ("RN-401", "L3-L4:1"),  # "spondylolithesis of L3 over L4 ... as well as modec type I"
        ("RN-53", ""),  # "endplate degeneration" is not a Modic change
        ("RN-117", ""),  # "degenerative end plate changes"
    ],
)
def test_modic_in_real_notes(notes_results, report_id, modic_levels):
    assert notes_results[report_id].modic_levels == modic_levels


@pytest.mark.parametrize(
    ("report_id", "exclusions"),
    [
        ("RN-2", set()),  # "No significant thecal sac or nerve root compression noted."
        ("RN-44", {"nerve_compression"}),  # misspelt "encraoching Rt S1 exit nerve root"
        ("RN-35", set()),  # thecal sac and exit neural canal, no root
        ("RN-91", {"instability"}),  # Grade II spondylolithesis; wedging fracture "due to old insult"
        ("RN-173", set()),  # "Old L1 compression fracture noted."
        ("RN-116", {"infection", "fusion"}),  # transpedicle fixation; "probably discitis"
        ("RN-410", {"fracture"}),
        ("RN-56", {"nerve_compression"}),  # "no definite fractures"
        ("RN-195", set()),  # haemangioma is not a tumour exclusion
    ],
)
def test_exclusions_in_real_notes(notes_results, report_id, exclusions):
    found = {name for name, value in notes_results[report_id].exclusions.items() if value}
    assert found == exclusions


def test_mtsamples_comparison_header_inside_findings_ends_with_its_sentence(analyzer):
    """MTS-1683: ',COMPARISON: Previous MRI examination 10/13/2004.,' sits inside FINDINGS."""
    text = load("mtsamples.csv", "", "transcription")["1683"]
    result = process_texts(analyzer, [text])[0]
    assert result.exclusions["fusion"]
    assert any(m.finding == "fusion" and m.section == "body" and m.current for m in result.mentions)
