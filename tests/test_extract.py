"""Extraction from text: tables of (report text -> expected findings)."""

import pytest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # spellings of the type
        ("Modic type 1 change at L4-5.", "L4-L5:1"),
        ("Modic type I endplate change at L4/5.", "L4-L5:1"),
        ("Modic type one changes at L4-L5.", "L4-L5:1"),
        ("Modic 2 at L5-S1.", "L5-S1:2"),
        ("MC1 at L4-5.", "L4-L5:1"),
        ("Type 2 Modic changes at L5/S1.", "L5-S1:2"),
        ("Modic I/II changes at L4-5.", "L4-L5:1/2"),
        ("Mixed type 1/2 endplate changes at L4-5.", "L4-L5:1/2"),
        ("Modic type 1 and 2 changes at L4-5.", "L4-L5:1/2"),
        ("Modic type 1 and type 2 changes at L4-5.", "L4-L5:1/2"),
        ("Modic type II-III change at L5-S1.", "L5-S1:2/3"),
        ("Modic type 3 sclerosis at L5-S1.", "L5-S1:3"),
        ("Modic-type changes at L4-5.", "L4-L5:unspecified"),
        ("Modic changes at L3-4.", "L3-L4:unspecified"),
        ("Type II end plate degeneration at L3/4.", "L3-L4:2"),
        # misspellings
        ("Modec type II noted at L4/L5 level.", "L4-L5:2"),
        ("Endpalte modik tpye 1 at L5/S1.", "L5-S1:1"),
        ("Endplate Modic typeI noted at L4/L5 level.", "L4-L5:1"),
        ("Modik type11 endpalte changes at L4/L5.", "L4-L5:2"),
        # descriptive
        ("Endplate marrow oedema at L4/5.", "L4-L5:1"),
        ("T1 hypointense, T2/STIR hyperintense signal in the L4 inferior and L5 superior endplates.", "L4-L5:1"),
        ("Fatty marrow change along the L5-S1 endplates.", "L5-S1:2"),
        ("T1 and T2 hyperintense endplate signal at L3-4.", "L3-L4:2"),
        ("T1 and T2 hypointense endplate sclerosis at L5-S1.", "L5-S1:3"),
        ("Low signal on T1 and high signal on T2 along the L2-3 endplates.", "L2-L3:1"),
        # levels
        ("Type 1 Modic change at the inferior endplate of L4.", "L4-L5:1"),
        ("Modic 1 change of the superior S1 endplate.", "L5-S1:1"),
        ("Modic type 2 changes from L3-4 through L5-S1.", "L3-L4:2;L4-L5:2;L5-S1:2"),
        ("Modic type 2 at L3-4 and L4-5.", "L3-L4:2;L4-L5:2"),
        ("Type 1 at the inferior L5 endplate and type 2 at the superior S1 endplate.", "L5-S1:1/2"),
        ("L4-L5: Disc bulge. Modic type 1 change.", "L4-L5:1"),
        ("L5/S1 level :\nCentral protrusion.\nModic type II noted.", "L5-S1:2"),
        ("T12-L1: Modic type 2.", "T12-L1:2"),
        ("D12/L1 Modic type 2.", "T12-L1:2"),
        # negation and its scope
        ("No Modic changes.", ""),
        ("Modic 2 at L5-S1, no Modic change elsewhere.", "L5-S1:2"),
        ("No fracture, Modic type 1 changes at L4-5.", "L4-L5:1"),
        ("There is no endplate oedema at L4-5.", ""),
        # history, evolution, hypothetical
        ("INDICATION: Known Modic 1 at L4-5.\nFINDINGS: Normal.", ""),
        ("Type 1 changes at L4-5 have converted to type 2.", "L4-L5:2"),
        ("Interval conversion of the L4-L5 Modic change from type 1 to type 2.", "L4-L5:2"),
        ("Previously seen type 1 change at L4-5 has resolved.", ""),
        ("Resolved L5-S1 type 1 endplate change.", ""),
        ("Unchanged type 1 Modic changes at L5-S1.", "L5-S1:1"),
        ("If symptoms persist, consider MRI to assess for Modic change.", ""),
        # attribution: oedema explained by something else is not Modic
        ("Endplate oedema at L3-4 with erosion, consistent with discitis.", ""),
        ("Superior endplate fracture of L2 with marrow oedema of the endplate at L1-2.", ""),
        ("STIR hyperintensity at the superior endplate of L2, likely bone contusion.", ""),
        # not Modic at all
        ("Degenerative endplate changes at L4-5.", ""),
        ("Type 2 diabetes mellitus.", ""),
        ("T2 hyperintense annular fissure at L4-5.", ""),
    ],
)
def test_modic_levels(run, text, expected):
    assert run(text).modic_levels == expected


@pytest.mark.parametrize(
    ("text", "uncertain"),
    [
        ("Possible Modic type 1 change at L4-5.", True),
        ("Probable early Modic 1 at L4-5.", True),
        ("Endplate signal at L4-5 may represent Modic type 1 change.", True),
        ("Modic type 1 change at L4-5 cannot be excluded.", True),
        ("Questionable Modic 1 at L4-5.", True),
        ("? early Modic 1 at L4-5.", True),
        ("Query Modic 1 at L4/5.", True),
        ("Findings at L4-5 in keeping with Modic type 1 change.", False),
        ("Modic type 1 change at L4-5, consistent with degenerative change.", False),
        ("High STIR signal in the L4-5 endplates, ?early Modic 1.", True),
        ("Possible Modic 1 at L4-5. IMPRESSION: Modic 1 at L4-5.", False),
    ],
)
def test_modic_uncertain_only_when_every_mention_is_hedged(run, text, uncertain):
    rows = [f for f in run(text).findings if f.finding == "modic"]
    assert [f.uncertain for f in rows] == [uncertain]


@pytest.mark.parametrize(
    ("text", "exclusions"),
    [
        ("Disc bulge compressing the thecal sac and both nerve roots.", {"nerve_compression"}),
        ("Protrusion compresing the Rt exit nerve root.", {"nerve_compression"}),
        ("Extrusion displacing the traversing left S1 nerve root.", {"nerve_compression"}),
        ("Encroaching upon the exiting L5 nerve root.", {"nerve_compression"}),
        ("Severe central canal stenosis at L4-5.", {"nerve_compression"}),
        ("The neural foramina are severely narrowed at L5-S1.", {"nerve_compression"}),
        ("Compression of the cauda equina.", {"nerve_compression"}),
        ("Moderate central canal stenosis at L4-5.", set()),
        ("Mild bilateral foraminal narrowing.", set()),
        ("Disc bulge compressing the thecal sac and abutting both L5 roots.", set()),
        ("Encroaching upon exit neural canals.", set()),
        ("No significant thecal sac or nerve root compression noted.", set()),
        ("Grade II spondylolisthesis of L4 over L5.", {"instability"}),
        ("Grade 1 degenerative anterolisthesis of L4 on L5.", set()),
        ("Bilateral pars defects with grade 1 anterolisthesis of L5 on S1.", {"instability"}),
        ("Isthmic spondylolisthesis at L5-S1.", {"instability"}),
        ("Abnormal motion on flexion and extension.", {"instability"}),
        ("L3-4 discitis-osteomyelitis with epidural abscess.", {"infection"}),
        ("Probably discitis at L4-5.", {"infection"}),
        ("MRI with contrast to rule out discitis.", set()),
        ("Acute compression fracture of L1.", {"fracture"}),
        ("Old L1 compression fracture.", set()),
        ("Wedging fracture of L2 mostly due to old insult.", set()),
        ("Mild anterior wedging of T12.", set()),
        ("No acute fracture.", set()),
        ("Superior endplate fracture of L2.", {"fracture"}),
        ("Diffuse marrow replacement consistent with myeloma.", {"tumor"}),
        ("Metastasis cannot be excluded.", {"tumor"}),
        ("Typical haemangioma in the L2 vertebral body.", set()),
        ("Fatty marrow replacing the previous oedema.", set()),
        ("Posterior fusion with pedicle screws at L4-L5.", {"fusion"}),
        ("Previous surgery noted with transpedicle fixation.", {"fusion"}),
        ("HISTORY: Prior L4-5 fusion.\nFINDINGS: Normal.", set()),
        ("C5-C6 anterior cervical fusion.", set()),
        ("Congenital fusion (block vertebra) at C2-C3.", set()),
    ],
)
def test_exclusions(run, text, exclusions):
    result = run(text)
    assert {name for name, value in result.exclusions.items() if value} == exclusions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Schmorl's node at the superior endplate of L3.", {("L2-L3", "schmorl_node")}),
        ("Multiple schmorls nodules.", {("", "schmorl_node")}),
        ("Irregular end plates at L5/S1.", {("L5-S1", "endplate_irregularity")}),
        ("Endplate sclerosis at L4-5.", {("L4-L5", "endplate_sclerosis")}),
        ("Erosion of the inferior L3 and superior L4 endplates.", {("L3-L4", "endplate_erosion")}),
        (
            "The L5/S1 endplates are irregular with sclerosis.",
            {("L5-S1", "endplate_irregularity"), ("L5-S1", "endplate_sclerosis")},
        ),
        ("T1 and T2 hypointense endplate sclerosis at L5-S1.", set()),  # only the Modic 3 change
        ("No Schmorl nodes.", set()),
    ],
)
def test_endplate_findings(run, text, expected):
    found = {(f.level, f.finding) for f in run(text).findings if f.finding not in ("modic", "fracture")}
    assert found == expected


def test_mentions_keep_negated_and_historical_with_their_flags(run):
    text = "Type 1 changes at L4-5 have converted to type 2. No Schmorl nodes. Possible early discitis."
    mentions = {(m.finding, m.modic_type, m.text): m for m in run(text).mentions}
    old = mentions[("modic", "1", "Type 1 changes")]
    assert old.historical and not old.current
    new = mentions[("modic", "2", "type 2")]
    assert new.current and not new.historical
    schmorl = mentions[("schmorl_node", "", "Schmorl nodes")]
    assert schmorl.negated and not schmorl.current
    discitis = mentions[("infection", "", "discitis")]
    assert discitis.uncertain and discitis.current


def test_offsets_and_evidence_point_into_the_original_text(run):
    text = "EXAM: MRI L-spine\r\n\r\nFINDINGS:\r\n  L4-5: disc bulge.\r\n  Modic type 1 change at L4-5.\r\n"
    result = run(text)
    for m in result.mentions:
        assert text[m.start_char : m.end_char] == m.text
        assert m.sentence in text
    (row,) = result.findings
    assert row.evidence == "Modic type 1 change at L4-5."
    assert text[row.start_char : row.end_char] == "Modic type 1"


def test_finding_in_findings_and_impression_counts_once(run):
    text = "FINDINGS: Modic type 1 change at L4-5.\nIMPRESSION: L4-5 Modic type 1 change."
    rows = [f for f in run(text).findings if f.finding == "modic"]
    assert [(f.level, f.modic_type, f.section) for f in rows] == [("L4-L5", "1", "findings")]


def test_report_summary(run):
    result = run("Modic type 2 at L5-S1 and type 1 at L4-5. Modic 2 at L1-2.")
    assert result.modic_levels == "L1-L2:2;L4-L5:1;L5-S1:2"
    assert result.qualifying_modic
    assert not run("Modic type 2 at L1-2. Modic 3 at L5-S1.").qualifying_modic
    assert not run("Modic changes at L4-5.").qualifying_modic  # unspecified type


def test_a_huge_report_is_processed_in_bounded_pieces(run):
    filler = " ".join(["Disc bulge at L3-4 abutting the thecal sac;"] * 3000)
    result = run(filler + " Modic type 1 change at L4-5. " + filler)
    assert result.status == "ok"
    assert result.modic_levels == "L4-L5:1"


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("Grade 1 degenerative anterolisthesis of L4 on L5.", {("L4-L5", "listhesis")}),
        ("Trace retrolisthesis of L3 on L4.", {("L3-L4", "listhesis")}),
        ("Grade II spondylolisthesis of L4 over L5.", {("L4-L5", "instability")}),
        ("No spondylolisthesis.", set()),
    ],
)
def test_listhesis_of_any_grade_is_recorded(run, text, rows):
    result = run(text)
    assert {(f.level, f.finding) for f in result.findings} == rows
    assert result.exclusions["instability"] == any(f == "instability" for _, f in rows)


def test_rendered_rows_write_every_value_as_cell_does(analyzer):
    """Rows are rendered with a shortcut for mention and finding values; it must write what `cell` writes."""
    import csv
    import io
    import json

    from pipeline.io import Chunk
    from pipeline.outputs import TABLES, cell, render
    from pipeline.run import process_texts

    from .conftest import SAMPLES

    texts = [json.loads(line)["report_text"] for line in (SAMPLES / "gold.jsonl").read_text().splitlines()]
    chunk = Chunk()
    for i, text in enumerate(texts):
        chunk.add(f"R{i}", text, f"P{i}", "2024-01-02")
    results = process_texts(analyzer, chunk.texts)
    rendered = render(chunk, results)
    for table, attr in (("mentions", "mentions"), ("findings", "findings")):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for i, r in enumerate(results):
            for item in getattr(r, attr):
                ids = [chunk.report_id[i], chunk.patient_id[i], chunk.report_date[i]]
                writer.writerow(ids + [cell(getattr(item, col)) for col in TABLES[table][3:]])
        assert rendered[table] == buffer.getvalue()
        assert "true" in rendered[table] and "false" in rendered[table] and "True" not in rendered[table]
