"""`modic review`: the page data (segments, offsets, escaping), errors, and the page in a real browser."""

import json
import random
import re
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.review import TEMPLATES, script_json, segments, utf16_offsets
from pipeline.schema import EXCLUSIONS, FINDING_COLUMNS, MENTION_COLUMNS, REPORT_COLUMNS

from .test_cli import assert_clean_error, invoke, write_csv

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
REPORTS = [
    ("R1", "P1", "2024-03-01", f"FINDINGS: Modic type 1 change at L4-5 and L5-S1. {SCRIPT} {IMG} "
     "No nerve root compression."),
    ("R2", "P2", "2024-02-10", "Note \U0001f600 from the referrer \U0001f9b4. "
     "FINDINGS: Modic type 2 endplate changes at L4-L5."),
    ("R3", "P3", "2024-01-20", "FINDINGS: No Modic change at L3-L4. Possible Modic type 1 change at L5-S1. "
     "Modic type 2 change at L4-L5."),
    ("R4", "P1", "2023-01-05", "FINDINGS: Disc bulge compressing the left L5 nerve root."),
    ("R5", "", "2024-05-05", "FINDINGS: Modic type 3 change at L2-L3."),
]  # fmt: skip
SYMPTOMS = [
    ("P1", "2024-03-05", "24", "12", "no"),
    ("P2", "2024-02-01", "3", "12", "no"),
    ("P3", "2024-01-25", "18", "9", "yes"),
]


SYMPTOM_HEADER = ("patient_id", "assessment_date", "lbp_duration_months", "conservative_care_months", "radicular_pain")


def run_and_review(tmp, reports, symptoms):
    """`modic run` on these reports and symptoms, then `modic review`: (the output folder, review's output)."""
    write_csv(tmp / "reports.csv", reports)
    write_csv(tmp / "symptoms.csv", symptoms, header=SYMPTOM_HEADER)
    out = tmp / "out"
    result = invoke("run", tmp / "reports.csv", "--symptoms", tmp / "symptoms.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    result = invoke("review", out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """A folder made by the real `modic run`, with review.html built in it."""
    out, output = run_and_review(tmp_path_factory.mktemp("review"), REPORTS, SYMPTOMS)
    assert output.strip().endswith(f"-> {out / 'review.html'}")
    assert output.startswith("3 patients, 4 reports, ")  # R5 has no patient id
    return out


@pytest.fixture(scope="module")
def unflagged(flagged, tmp_path_factory):
    """The same extraction without patients.csv (only `modic extract` was run)."""
    out = tmp_path_factory.mktemp("unflagged")
    for name in ("reports.csv", "mentions.csv", "findings.csv", "texts.parquet"):
        shutil.copy(flagged / name, out / name)
    result = invoke("review", out, "--out", out / "page.html")
    assert result.exit_code == 0, result.output
    assert "4 patients (not flagged" in result.output
    return out


def page_data(html_path):
    text = html_path.read_text(encoding="utf-8")
    body = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S).group(1)
    return json.loads(body), body, text


def js_slice(text, start, end):
    """What JavaScript's text.slice(start, end) gives: offsets in UTF-16 code units."""
    units = text.encode("utf-16-le")
    return units[2 * start : 2 * end].decode("utf-16-le")


def report_of(data, rid):
    return next(r for r in data["reports"] if r["id"] == rid)


def patient_of(data, key):
    return next(p for p in data["patients"] if p["k"] == key)


# -- segments, offsets, escaping ---------------------------------------------------------------


def test_segments_split_at_every_boundary_innermost_first():
    # lengths: outer 0-20 is 20, inner 5-10 is 5, crossing 8-25 is 17
    got = segments([(0, 20), (5, 10), (8, 25)])
    assert got == [
        (0, 5, [0]),
        (5, 8, [1, 0]),
        (8, 10, [1, 2, 0]),
        (10, 20, [2, 0]),
        (20, 25, [2]),
    ]


def test_segments_leave_gaps_and_bad_spans_out():
    got = segments([(2, 4), (6, 9), (7, 7), (5, 3), (-1, 2), (8, 40)], length=30)
    assert got == [(2, 4, [0]), (6, 9, [1])]


def test_segments_same_span_twice_is_one_piece_ranked():
    assert segments([(3, 9), (3, 9)]) == [(3, 9, [0, 1])]
    assert segments([(3, 9), (3, 9)], rank=[2, 0]) == [(3, 9, [1, 0])]


def test_utf16_offsets_count_characters_beyond_the_bmp_twice():
    text = "a\U0001f600b\u00e9c\U0001f9b4d"
    points = [0, 1, 2, 3, 4, 5, 6, 7]
    got = utf16_offsets(text, points)
    assert got == [0, 1, 3, 4, 5, 6, 8, 9]
    for i in range(len(text)):
        assert js_slice(text, got[i], got[i + 1]) == text[i]
    assert utf16_offsets("plain ascii", [3, 7]) == [3, 7]


def test_script_json_cannot_close_the_script_tag():
    nasty = {"t": "</script><script>alert(1)</script><!-- & -->\u2028\u2029", "k": "<b>"}
    out = script_json(nasty)
    for ch in "<>&\u2028\u2029":
        assert ch not in out
    assert json.loads(out) == nasty


# -- the page data on a real run ---------------------------------------------------------------


def test_one_span_naming_two_levels_is_one_mention(flagged):
    data, _, _ = page_data(flagged / "review.html")
    r1 = report_of(data, "R1")
    modic = [m for m in r1["m"] if m[0] == "modic"]
    assert len(modic) == 1 and modic[0][3] == ["L4-L5", "L5-S1"]
    (seg,) = [s for s in r1["seg"] if r1["m"][s[2][0]][0] == "modic"]
    assert js_slice(r1["t"], seg[0], seg[1]) == "Modic type 1"


def test_emoji_before_a_mention_still_points_at_its_words(flagged):
    data, _, _ = page_data(flagged / "review.html")
    r2 = report_of(data, "R2")
    (seg,) = r2["seg"]
    assert js_slice(r2["t"], seg[0], seg[1]) == "type 2 endplate changes"
    assert seg[0] == r2["t"].index("type 2") + 2  # two characters beyond U+FFFF before it
    assert r2["notes"] == []


def test_mention_flags_and_groups(flagged):
    data, _, _ = page_data(flagged / "review.html")
    bit = {name: 1 << i for i, name in enumerate(data["meta"]["flags"])}
    r3 = report_of(data, "R3")
    by_text = {js_slice(r3["t"], s[0], s[1]): r3["m"][s[2][0]] for s in r3["seg"]}
    assert by_text["Modic change"][5] & bit["negated"] and not by_text["Modic change"][5] & bit["current"]
    assert by_text["Modic type 1"][5] == bit["uncertain"] | bit["current"]
    assert by_text["Modic type 2"][5] == bit["current"]
    r1 = report_of(data, "R1")
    assert {m[1] for m in r1["m"]} == {"modic", "nerve_compression"}


def test_patients_reports_and_index_first(flagged):
    data, _, _ = page_data(flagged / "review.html")
    meta = data["meta"]
    assert meta["flagged"] and meta["criteria"] == ["default"] and meta["unlinked"] == 1
    assert meta["counts"] == {"candidate": 1, "needs_review": 1, "not_candidate": 1}
    p1 = patient_of(data, "P1")
    assert [data["reports"][k]["id"] for k in p1["rep"]] == ["R1", "R4"]
    assert p1["ir"] == "R1" and p1["mp"] == ["L4-L5:1", "L5-S1:1"]
    assert p1["ev"] and "Modic type 1 change" in p1["ev"][0]
    assert "R5" not in {r["id"] for r in data["reports"]}
    p3 = patient_of(data, "P3")
    assert p3["s"] == "needs_review" and p3["r"] == ["radicular_pain"]
    assert p3["mp"] == ["L4-L5:2", "L5-S1:1"]  # the hedged type 1 is current too


def test_report_text_is_never_raw_markup_in_the_page(flagged):
    _, body, html = page_data(flagged / "review.html")
    assert "<" not in body and ">" not in body and "&" not in body
    assert SCRIPT not in html and "onerror=" not in html.replace('onerror=\\"', "")
    assert html.count("</script>") == 2  # the data block and the page script, nothing from a report
    assert "\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e" in body


def test_page_script_builds_no_markup_from_strings():
    js = (TEMPLATES / "review.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink


def test_status_and_limit_select_patients_and_load_only_their_texts(flagged, tmp_path):
    result = invoke("review", flagged, "--status", "candidate", "--out", tmp_path / "c.html")
    assert result.exit_code == 0, result.output
    assert "1 of 3 patients, 2 reports" in result.output
    data, _, html = page_data(tmp_path / "c.html")
    assert [p["k"] for p in data["patients"]] == ["P1"]
    assert {r["id"] for r in data["reports"]} == {"R1", "R4"}
    assert "Possible Modic type 1" not in html and "\U0001f600" not in html
    result = invoke("review", flagged, "--status", "needs_review", "--status", "not_candidate", "--limit", "1",
                    "--out", tmp_path / "l.html")  # fmt: skip
    assert result.exit_code == 0, result.output
    data, _, _ = page_data(tmp_path / "l.html")
    assert [p["k"] for p in data["patients"]] == ["P2"]
    assert data["meta"]["total"] == 3 and data["meta"]["shown"] == 1 and data["meta"]["limit"] == 1


def test_without_patients_csv_reports_are_grouped(unflagged):
    data, _, _ = page_data(unflagged / "page.html")
    meta = data["meta"]
    assert not meta["flagged"] and meta["counts"] == {"not_flagged": 4}
    groups = {p["k"]: [data["reports"][k]["id"] for k in p["rep"]] for p in data["patients"]}
    assert groups == {"P1": ["R1", "R4"], "P2": ["R2"], "P3": ["R3"], "report:R5": ["R5"]}
    assert {p["s"] for p in data["patients"]} == {"not_flagged"}
    assert patient_of(data, "report:R5")["mp"] == ["L2-L3:3"]


# -- errors ------------------------------------------------------------------------------------


def test_missing_texts_parquet_is_one_line(flagged, tmp_path):
    for name in ("reports.csv", "mentions.csv", "findings.csv"):
        shutil.copy(flagged / name, tmp_path / name)
    assert_clean_error(invoke("review", tmp_path), f"{tmp_path}: no texts.parquet - re-run modic extract")


def test_missing_reports_csv_names_the_file(tmp_path):
    assert_clean_error(invoke("review", tmp_path), str(tmp_path / "reports.csv"), "not found")


def test_missing_folder_and_status_without_flags(unflagged, tmp_path):
    assert_clean_error(invoke("review", tmp_path / "nope"), str(tmp_path / "nope"), "no such folder")
    assert_clean_error(invoke("review", unflagged, "--status", "candidate"), "no patients.csv", "modic flag")


def test_table_missing_a_column_names_it(flagged, tmp_path):
    for name in ("reports.csv", "mentions.csv", "findings.csv", "texts.parquet"):
        shutil.copy(flagged / name, tmp_path / name)
    frame = pd.read_csv(tmp_path / "mentions.csv", dtype=str, keep_default_na=False).drop(columns=["start_char"])
    frame.to_csv(tmp_path / "mentions.csv", index=False)
    assert_clean_error(invoke("review", tmp_path), str(tmp_path / "mentions.csv"), "'start_char'")


# -- in the browser ----------------------------------------------------------------------------


def open_page(page, path, fragment=""):
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("body[data-ready='1']")


def assert_clean(page):
    assert page.errors == []
    assert page.requests_out == []


def rows(page):
    return page.locator("#patients-body tr[data-key]")


def click_into(page, row, key):
    """Click a patient row and wait for the patient view (the hash changes asynchronously)."""
    row.click()
    page.wait_for_function("k => location.hash === '#patient=' + encodeURIComponent(k)", arg=key)
    page.wait_for_selector("#patient-view:not([hidden]) .pv-bar")


def test_page_loads_filters_and_searches(page, flagged):
    open_page(page, flagged / "review.html")
    assert page.locator("#count").inner_text() == "3 of 3 patients"
    assert rows(page).count() == 3
    assert "default" in page.locator("#facts").inner_text()
    page.click("#status-chips [data-status='candidate']")
    assert page.locator("#count").inner_text() == "1 of 3 patients"
    assert [rows(page).nth(i).get_attribute("data-key") for i in range(rows(page).count())] == ["P1"]
    page.click("#status-chips [data-status='candidate']")
    page.fill("#f-search", "r4")  # a report id finds its patient
    assert [rows(page).nth(i).get_attribute("data-key") for i in range(rows(page).count())] == ["P1"]
    page.fill("#f-search", "p3")
    assert rows(page).count() == 1 and rows(page).first.get_attribute("data-key") == "P3"
    page.fill("#f-search", "")
    page.select_option("#f-level", "L5-S1")
    page.select_option("#f-type", "1")
    assert page.locator("#count").inner_text() == "2 of 3 patients"
    page.select_option("#f-level", "L4-L5")
    page.select_option("#f-type", "2")
    keys = {rows(page).nth(i).get_attribute("data-key") for i in range(rows(page).count())}
    assert keys == {"P2", "P3"}
    page.select_option("#f-reason", "radicular_pain")
    assert page.locator("#count").inner_text() == "1 of 3 patients"
    page.click("#f-clear")
    assert page.locator("#count").inner_text() == "3 of 3 patients"
    page.click("th[data-sort='status']")
    assert [rows(page).nth(i).get_attribute("data-key") for i in range(3)] == ["P1", "P3", "P2"]
    page.click("th[data-sort='status']")
    assert [rows(page).nth(i).get_attribute("data-key") for i in range(3)] == ["P2", "P3", "P1"]
    assert "1 report(s) have no patient_id" in page.locator("#notices").inner_text()
    assert_clean(page)


def test_opened_patient_shows_highlights_by_state(page, flagged):
    open_page(page, flagged / "review.html")
    click_into(page, rows(page).filter(has_text="P3"), "P3")
    text = page.locator(".rtext").first
    negated = text.locator(".hl", has_text="Modic change")
    hedged = text.locator(".hl", has_text="Modic type 1")
    current = text.locator(".hl", has_text="Modic type 2")
    for span in (negated, hedged, current):
        assert span.is_visible()

    def style(loc):
        return loc.evaluate(
            "e => { const s = getComputedStyle(e); return [s.textDecorationLine, s.textDecorationStyle, "
            "s.color, s.backgroundColor, s.backgroundImage]; }"
        )

    cur, neg, hed = style(current), style(negated), style(hedged)
    assert cur[0] == "underline" and cur[1] == "solid"
    assert neg[0] == "line-through" and neg != cur
    assert hed[1] == "dashed" and hed != cur
    assert "hedged" in hedged.get_attribute("title") and "L5-S1" in hedged.get_attribute("title")
    hedged.click()
    pin = page.locator("#pin-body")
    assert "Modic type 1" in pin.inner_text() and "L5-S1" in pin.inner_text()
    on = pin.locator(".flag.on").all_inner_texts()
    assert on == ["current \u2713", "uncertain \u2713"]
    assert "sel" in hedged.get_attribute("class")
    assert page.locator(".pv-bar").inner_text().count("Needs review") == 1
    assert "Radicular pain" in page.locator(".summary").inner_text()
    assert_clean(page)


def test_injected_markup_stays_text(page, flagged):
    open_page(page, flagged / "review.html", "#patient=P1")
    text = page.locator(".report").first.locator(".rtext")
    assert SCRIPT in text.inner_text() and IMG in text.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".rtext img, .rtext script").count() == 0
    reports = page.locator(".report .rid").all_inner_texts()
    assert reports == ["R1", "R4"] and "INDEX MRI" in page.locator(".report").first.inner_text()
    modic = text.locator(".hl", has_text="Modic type 1")
    assert "L4-L5, L5-S1" in modic.get_attribute("title")
    assert_clean(page)


def test_deep_link_with_emoji_text_and_navigation(page, flagged):
    open_page(page, flagged / "review.html", "#patient=P2")
    assert page.locator(".rtext .hl").all_inner_texts() == ["type 2 endplate changes"]
    page.keyboard.press("ArrowRight")
    page.wait_for_function("location.hash === '#patient=P3'")
    page.wait_for_selector(".pv-bar h2:has-text('P3')")
    page.keyboard.press("Escape")
    page.wait_for_selector("#list-view:not([hidden])")
    assert rows(page).count() == 3
    open_page(page, flagged / "review.html", "#patient=NOPE")  # same document: only the hash changes
    page.wait_for_selector("#patient-view h2:has-text('Patient not found')")
    assert_clean(page)


def test_unflagged_folder_page(page, unflagged):
    open_page(page, unflagged / "page.html")
    assert "modic flag was not run" in page.locator("#notices").inner_text()
    assert page.locator("#count").inner_text() == "4 of 4 patients"
    assert "(no patient id) R5" in page.locator("#patients-body").inner_text()
    assert page.locator("#patients-body .badge").all_inner_texts() == ["Not flagged"] * 4
    assert "Reasons" not in page.locator("#patients-head").inner_text()
    page.select_option("#f-type", "3")
    assert page.locator("#count").inner_text() == "1 of 4 patients"
    click_into(page, rows(page).filter(has_text="R5"), "report:R5")
    assert page.locator(".rtext .hl").all_inner_texts() == ["Modic type 3"]
    assert_clean(page)


# -- 10,000 patients ---------------------------------------------------------------------------

LEVELS = ["L2-L3", "L3-L4", "L4-L5", "L5-S1"]
TYPES = ["1", "2", "1/2", "3"]
STATUSES = ["candidate", "needs_review", "not_candidate"]


def synthetic_folder(folder, n, seed=11):
    """patients, reports, mentions, findings and texts of n patients, written directly (no NLP)."""
    rng = random.Random(seed)
    patients, reports, mentions, findings, texts = [], [], [], [], []
    for p in range(n):
        pid = f"S{p:05d}"
        status = rng.choice(STATUSES)
        level, mtype = rng.choice(LEVELS), rng.choice(TYPES)
        n_reports = rng.choice([1, 1, 2])
        for k in range(n_reports):
            rid = f"{pid}-R{k}"
            date = f"202{k}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            phrase = f"Modic type {mtype} change"
            text = f"FINDINGS: Alignment normal. {phrase} at {level}. No nerve root compression. " * 3
            start = text.index(phrase)
            texts.append((rid, text))
            flags = ("false", "false", "false", "false", "false", "true")
            mentions.append((rid, pid, date, "modic", mtype, level, "lumbar", "true", "findings", *flags, phrase, "",
                             start, start + len(phrase)))  # fmt: skip
            neg = text.index("nerve root compression")
            mentions.append((rid, pid, date, "nerve_compression", "", "", "lumbar", "true", "findings", "true",
                             "false", "false", "false", "false", "false", "nerve root compression", "", neg,
                             neg + 22))  # fmt: skip
            findings.append((rid, pid, date, level, "lumbar", "true", "modic", mtype, "false", "findings", text[:40],
                             start, start + 5))  # fmt: skip
            exam = ("mri", "lumbar", "imaging_report", "text", "title 'MRI LUMBAR SPINE'")
            reports.append((rid, pid, date, "ok", "", *exam, 2, f"{level}:{mtype}", "true",
                            *["false"] * len(EXCLUSIONS)))  # fmt: skip
        patients.append({
            "patient_id": pid, "status": status, "reasons": "" if status == "candidate" else "lbp_duration_short",
            "criteria": "default", "index_report_id": f"{pid}-R{n_reports - 1}", "index_report_date": "",
            "set_aside": "",
            "qualifying_levels": f"{level}:{mtype}", "assessment_date": "", "lbp_duration_months": "",
            "conservative_care_months": "", "radicular_pain": "", "evidence": "", "notes": "",
            "_level": level, "_type": mtype,
        })  # fmt: skip
    pd.DataFrame(reports, columns=REPORT_COLUMNS).to_csv(folder / "reports.csv", index=False)
    pd.DataFrame(mentions, columns=MENTION_COLUMNS).to_csv(folder / "mentions.csv", index=False)
    pd.DataFrame(findings, columns=FINDING_COLUMNS).to_csv(folder / "findings.csv", index=False)
    frame = pd.DataFrame(patients)
    frame.drop(columns=["_level", "_type"]).to_csv(folder / "patients.csv", index=False)
    pq.write_table(pa.table({"report_id": [t[0] for t in texts], "report_text": [t[1] for t in texts]}),
                   folder / "texts.parquet")  # fmt: skip
    return frame


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    frame = synthetic_folder(folder, 10_000)
    result = invoke("review", folder)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("10,000 patients")
    return folder, frame


def test_ten_thousand_patients_paginate_and_filter(page, big):
    folder, frame = big
    open_page(page, folder / "review.html")
    assert page.locator("#count").inner_text() == "10,000 of 10,000 patients"
    assert rows(page).count() == 50
    assert "Page 1 of 200" in page.locator("#pager").inner_text()
    page.click("#pager button:has-text('Next')")
    assert rows(page).first.get_attribute("data-key") == "S00050"
    page.click("#status-chips [data-status='needs_review']")
    want = int((frame.status == "needs_review").sum())
    assert page.locator("#count").inner_text() == f"{want:,} of 10,000 patients"
    assert rows(page).first.get_attribute("data-key") == frame[frame.status == "needs_review"].patient_id.iloc[0]
    page.select_option("#f-level", "L5-S1")
    page.select_option("#f-type", "1/2")
    sub = frame[(frame.status == "needs_review") & (frame._level == "L5-S1") & (frame._type == "1/2")]
    assert page.locator("#count").inner_text() == f"{len(sub):,} of 10,000 patients"
    assert rows(page).count() == min(50, len(sub))
    page.fill("#f-search", sub.patient_id.iloc[-1].lower())
    assert rows(page).count() == 1
    click_into(page, rows(page).first, sub.patient_id.iloc[-1])
    assert page.locator(".rtext .hl").first.is_visible()
    assert_clean(page)


# -- exams: every report's kind, and the reports that did not count --------------------------------
MIXED = [
    ("M1", "P9", "2024-01-10", "MRI LUMBAR SPINE\nFINDINGS: Modic type 1 change at L4-5."),
    ("M2", "P9", "2024-05-02", "MRI CERVICAL SPINE\nFINDINGS: C5-C6 disc compressing the exiting right C6 nerve root."),
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return run_and_review(tmp_path_factory.mktemp("mixed"), MIXED, [("P9", "2024-01-12", "24", "12", "no")])[0]


def test_page_data_says_each_reports_kind_and_what_was_set_aside(mixed):
    data, _, _ = page_data(mixed / "review.html")
    assert (report_of(data, "M1")["kind"], report_of(data, "M2")["kind"]) == ("lumbar MRI", "cervical MRI")
    assert report_of(data, "M2")["xe"] == "title 'MRI CERVICAL SPINE'"
    p9 = patient_of(data, "P9")
    assert (p9["s"], p9["ir"], p9["aside"]) == ("candidate", "M1", ["M2"])


def test_opened_patient_marks_the_report_that_did_not_count(page, mixed):
    open_page(page, mixed / "review.html", "#patient=P9")
    page.wait_for_selector("#patient-view:not([hidden]) .pv-bar")
    index = page.locator("article.report[data-report-id='M1']")
    aside = page.locator("article.report[data-report-id='M2']")
    assert "INDEX MRI" in index.locator(".report-head").inner_text()
    assert "lumbar MRI" in index.locator(".badge.kind").inner_text()
    assert "is-aside" not in index.get_attribute("class")
    assert "is-aside" in aside.get_attribute("class")
    assert "SET ASIDE" in aside.locator(".badge.aside").inner_text()
    title = aside.locator(".badge.kind").get_attribute("title")
    assert title == "exam from the report text: title 'MRI CERVICAL SPINE'"
    assert aside.locator(".rtext .hl").count() >= 1  # its findings are still shown
    assert_clean(page)
