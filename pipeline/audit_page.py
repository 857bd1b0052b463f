"""audit.html: one self-contained page (no script, no network) with the audit's headline numbers,
charts drawn by matplotlib as inline SVG, and the tables a quality team acts on.

Every piece of text that comes from the data is escaped with html.escape; matplotlib escapes
the text it writes into the SVG itself, and math text is switched off so a `$` stays a `$`.
The page is byte-identical for the same inputs: fixed SVG hash salt, no dates, no metadata.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .audit import ALL, UNKNOWN, Audit
from .schema import CANDIDATE, MODIC_TYPES, NOT_CANDIDATE, PATIENT_STATUSES, REVIEW

STATUS_COLOURS = {CANDIDATE: "#0b7a75", REVIEW: "#d98c00", NOT_CANDIDATE: "#8a8f98"}
STATUS_LABELS = {CANDIDATE: "candidate", REVIEW: "needs review", NOT_CANDIDATE: "not candidate", ALL: "all"}
TYPE_COLOURS = {
    "1": "#c0392b",
    "1/2": "#e08e45",
    "2": "#2b6cb0",
    "2/3": "#6fa8dc",
    "3": "#5f6b7a",
    "unspecified": "#c3c8cf",
}
INK, MUTED, GRID = "#1f2933", "#52606d", "#e4e7eb"
MAX_MESSAGES = 20
MAX_GROUPS = 15  # sites or providers drawn in a chart
MAX_TABLE_ROWS = 500  # rows of a table on the page (the CSVs have every row)

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "modic-audit",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "axes.labelsize": 10.5,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9aa5b1",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 9.5,
}


# -- charts ------------------------------------------------------------------------------------


def _svg(fig, title: str, n: int) -> str:
    """The figure as an inline <svg>: no XML prolog or metadata, ids made unique to this chart, scalable."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    prefix = f"chart{n}-"

    def rename(match: re.Match) -> str:
        head, name = match.group(1), match.group(2)
        return head + (prefix + name if name in ids else name)

    svg = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', rename, svg)
    svg = re.sub(r'\swidth="[\d.]+pt"\s+height="[\d.]+pt"', "", svg, count=1)
    title_id = f"{prefix}title"
    return svg.replace(
        "<svg ",
        f'<svg class="chart" role="img" aria-labelledby="{title_id}" ',
        1,
    ).replace(">", f'>\n <title id="{title_id}">{html.escape(title)}</title>', 1)


def _figure(width: float, height: float, rows: int = 1):
    """A figure made without pyplot: no global backend is touched, nothing is kept after saving."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axes:
        ax.set_axisbelow(True)
    return (fig, axes[0]) if rows == 1 else (fig, list(axes))


def _title(fig, title: str) -> None:
    fig.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")


HALF, FULL = 6.2, 12.6  # figure widths (inches) of a half-width and a full-width chart


def funnel_chart(audit: Audit, n: int) -> str:
    title = "Referral funnel"
    audits = audit.audits
    candidates = [a for a in audits if a.patient.status == CANDIDATE]
    referred = [a for a in candidates if a.specialist_within]
    stages = [
        ("All patients", len(audits), "#9fb3c8"),
        ("Imaging qualifies", sum(1 for a in audits if a.patient.qualifying_levels), "#627d98"),
        ("Candidate", len(candidates), "#14a098"),
        (f"Specialist referral\nwithin {audit.window_days} days", len(referred), STATUS_COLOURS[CANDIDATE]),
        ("BVNA procedure", sum(a.bvna for a in referred), "#064e4b"),
    ][::-1]
    fig, ax = _figure(HALF, 3.6)
    ax.xaxis.grid(True, color=GRID, linewidth=0.8)
    ys = range(len(stages))
    ax.barh(ys, [v for _, v, _ in stages], color=[c for _, _, c in stages], height=0.64)
    ax.set_yticks(ys, [label for label, _, _ in stages])
    first = stages[-1][1]
    top = max(first, 1)
    for y, (_, v, _) in enumerate(stages):
        share = f" ({100 * v / first:.0f}%)" if first else ""
        ax.text(v + top * 0.015, y, f"{v}{share}", va="center", color=INK)
    ax.set_xlim(0, top * 1.22)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("patients (and share of all patients)")
    _title(fig, title)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    return _svg(fig, title, n)


def _rate_rows(rows: list[dict], key: str) -> tuple[list[str], dict[str, dict[str, dict]]]:
    groups: list[str] = []
    cells: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r[key] not in cells:
            groups.append(r[key])
            cells[r[key]] = {}
        cells[r[key]][r["status"]] = r
    return groups, cells


def group_chart(audit: Audit, n: int, table: str, key: str, noun: str) -> str:
    """Specialist-referral rate per group (site or provider) and status, as grouped horizontal bars."""
    title = f"Specialist referral within {audit.window_days} days, by {noun}"
    groups, cells = _rate_rows(audit.tables[table], key)
    if len(groups) > MAX_GROUPS:  # the largest groups; the table under the charts has them all
        groups = sorted(sorted(groups, key=lambda g: -cells[g][ALL]["patients"])[:MAX_GROUPS], key=groups.index)
        title += f" (the {MAX_GROUPS} largest)"
    height = 1.5 + 0.62 * max(len(groups), 1)
    fig, ax = _figure(HALF, height)
    ax.xaxis.grid(True, color=GRID, linewidth=0.8)
    bar = 0.26
    for i, status in enumerate(PATIENT_STATUSES):
        for g, group in enumerate(groups):
            row = cells[group].get(status)
            if row is None:
                continue
            y = g + (i - 1) * bar
            x = row["specialist_within_pct"] or 0.0
            ax.barh(y, x, height=bar * 0.9, color=STATUS_COLOURS[status])
            ax.text(x + 1.2, y, f"{row['specialist_within_n']}/{row['patients']}", va="center", fontsize=8.5,
                    color=MUTED)  # fmt: skip
    ax.set_yticks(range(len(groups)), [_short(g, 28) for g in groups])
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 25))
    ax.set_xlabel("% of patients referred\n(bar labels: referred / patients)")
    ax.tick_params(axis="y", length=0)
    _title(fig, title)
    handles = [Patch(color=STATUS_COLOURS[s], label=STATUS_LABELS[s]) for s in PATIENT_STATUSES]
    fig.legend(handles=handles, ncol=3, loc="outside lower center", fontsize=9.5)
    return _svg(fig, title, n)


def month_chart(audit: Audit, n: int) -> str:
    """Monthly specialist-referral rate per status (bars) with a trailing 6-month rate (line)."""
    title = f"Specialist referral within {audit.window_days} days, by month of the index MRI"
    groups, cells = _rate_rows(audit.tables["by_month"], "month")
    months = _month_range([g for g in groups if g != UNKNOWN])
    fig, axes = _figure(FULL, 6.4, rows=len(PATIENT_STATUSES))
    _title(fig, title)
    for ax, status in zip(axes, PATIENT_STATUSES):
        rows = [cells.get(m, {}).get(status) for m in months]
        xs = [i for i, r in enumerate(rows) if r]
        ax.yaxis.grid(True, color=GRID, linewidth=0.8)
        ax.bar(xs, [rows[i]["specialist_within_pct"] or 0.0 for i in xs], width=0.8, color=STATUS_COLOURS[status],
               alpha=0.55)  # fmt: skip
        trail_x, trail_y = [], []
        for i in range(len(months)):
            recent = [r for r in rows[max(0, i - 5) : i + 1] if r]
            total = sum(r["patients"] for r in recent)
            if rows[i] and total:
                trail_x.append(i)
                trail_y.append(100 * sum(r["specialist_within_n"] for r in recent) / total)
        ax.plot(trail_x, trail_y, color=STATUS_COLOURS[status], linewidth=2)
        patients = sum(r["patients"] for r in rows if r)
        referred = sum(r["specialist_within_n"] for r in rows if r)
        share = f" ({100 * referred / patients:.0f}%)" if patients else ""
        ax.set_title(f"{STATUS_LABELS[status]}: {referred} of {patients} patients referred{share}", fontsize=11,
                     fontweight="normal", pad=4)  # fmt: skip
        ax.set_ylim(0, 108)
        ax.set_yticks([0, 50, 100], ["0%", "50%", "100%"])
        handles = [
            Patch(color=STATUS_COLOURS[status], alpha=0.55, label="that month"),
            Line2D([], [], color=STATUS_COLOURS[status], linewidth=2, label="last 6 months"),
        ]
        ax.legend(handles=handles, loc="upper right", ncol=2, fontsize=8.5, bbox_to_anchor=(1, 1.28))
    ticks = [i for i, m in enumerate(months) if m.endswith(("-01", "-07"))]
    axes[-1].set_xticks(ticks, [months[i] for i in ticks])
    axes[-1].set_xlim(-1, max(len(months), 12))
    axes[-1].set_xlabel("month of the index MRI (bars: that month; line: the 6 months up to it)")
    fig.supylabel("% of patients referred", fontsize=10.5)
    return _svg(fig, title, n)


def _month_range(months: list[str]) -> list[str]:
    """Every month from the first to the last, so the axis keeps time to scale."""
    if not months:
        return []
    year, month = map(int, months[0].split("-"))
    last = tuple(map(int, months[-1].split("-")))
    out = []
    while (year, month) <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def prevalence_chart(audit: Audit, n: int) -> str:
    title = "Modic changes on the index MRI, by level and type"
    rows = [r for r in audit.tables["modic_prevalence"] if r["modic_type"] != "any"]
    levels: list[str] = []
    for r in rows:
        if r["level"] not in levels:
            levels.append(r["level"])
    total = rows[0]["patients_with_index_mri"] if rows else 0
    fig, ax = _figure(HALF, 3.6)
    ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    bottom = [0.0] * len(levels)
    for t in MODIC_TYPES:
        values = [0.0] * len(levels)
        for r in rows:
            if r["modic_type"] == t:
                values[levels.index(r["level"])] = r["percent"] or 0.0
        if any(values):
            ax.bar(levels, values, bottom=bottom, color=TYPE_COLOURS[t], label=t, width=0.64)
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("% of patients")
    ax.set_xlabel(f"disc level ({total} patients with an index MRI)")
    ax.set_ylim(0, max([*bottom, 1.0]) * 1.12)
    _title(fig, title)
    ax.set_xlim(-0.6, max(len(levels), 6) - 0.4)
    ax.tick_params(axis="x", labelsize=9.5)
    if levels:
        ax.legend(title="Modic type", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, title_fontsize=9)
    else:
        ax.text(0.5, 0.5, "no current Modic change on any index MRI", ha="center", va="center", color=MUTED,
                transform=ax.transAxes)  # fmt: skip
    return _svg(fig, title, n)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- HTML ----------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1f2933; --muted: #52606d; --line: #e4e7eb; --bg: #f5f7fa; --accent: #0b7a75;
        --warn: #b7791f; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 32px 56px; }
h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 0 0 4px; }
p.lead, p.meta { color: var(--muted); margin: 0 0 6px; }
p.meta code, td code { font-size: 13px; background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 20px 22px;
          margin: 18px 0; }
section > p.note { color: var(--muted); font-size: 13.5px; margin: 2px 0 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px;
         background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card .value { font-size: 30px; font-weight: 650; line-height: 1.15; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: 13.5px; }
.card.alert .value { color: var(--bad); }
.card.good .value { color: var(--accent); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; margin: 18px 0; }
.charts { align-items: start; }
.charts figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px; }
.charts figure.wide { grid-column: 1 / -1; }
svg.chart { display: block; width: 100%; height: auto; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid var(--line); }
th { background: #f0f3f7; font-weight: 600; color: #323f4b; vertical-align: bottom; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
th.num { min-width: 64px; }
td.nowrap { white-space: nowrap; }
td.small { font-size: 12.5px; color: #3e4c59; }
td.evidence { min-width: 300px; }
td.place { min-width: 150px; }
td small, .card small { color: var(--muted); }
tr:hover td { background: #fafbfc; }
.tag { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
       line-height: 1.35; max-width: 180px; }
.tag.bad { background: #fde8e7; color: var(--bad); }
.tag.warn { background: #fdf3e1; color: #8a5a00; }
.tag.info { background: #e6f2f1; color: #075e5a; }
.tag.muted { background: #eef1f4; color: var(--muted); }
ul.messages { font-size: 13px; color: var(--muted); padding-left: 18px; margin: 6px 0; }
dl.defs { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; font-size: 13.5px; margin: 8px 0 0; }
dl.defs dt { font-weight: 600; }
dl.defs dd { margin: 0; color: #3e4c59; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } .charts figure.wide { grid-column: auto; }
                             main { padding: 16px; } }
"""


def _e(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def _label(name: str) -> str:
    return name.replace("_", " ")


def _table(headers: list[tuple[str, str]], rows: Iterable[list[str]], empty: str) -> str:
    """headers: (label, css class); cells are HTML already escaped by the caller."""
    rows = list(rows)
    if not rows:
        return f'<p class="note">{_e(empty)}</p>'
    head = "".join(f'<th class="{cls}">{_e(label)}</th>' for label, cls in headers)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="{cls}">{cell}</td>' for (_, cls), cell in zip(headers, row)) + "</tr>"
        for row in rows[:MAX_TABLE_ROWS]
    )
    more = ""
    if len(rows) > MAX_TABLE_ROWS:
        more = f'<p class="note">The first {MAX_TABLE_ROWS:,} of {len(rows):,} rows; the CSV has them all.</p>'
    table = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    return f'<div class="table-wrap">{table}</div>{more}'


def _pct(value: object) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _days(value: object) -> str:
    return "–" if value is None else f"{value:g}"


def _median_iqr(row: dict, small: bool = True) -> str:
    """'81.5 (40–116.2)': median and interquartile range of the days to a first specialist referral."""
    if row["days_to_specialist_median"] is None:
        return "–"
    iqr = f"({_days(row['days_to_specialist_p25'])}–{_days(row['days_to_specialist_p75'])})"
    return f"{_days(row['days_to_specialist_median'])} " + (f"<small>{iqr}</small>" if small else iqr)


def _cards(audit: Audit) -> str:
    summary = {r["status"]: r for r in audit.tables["summary"]}
    cand = summary[CANDIDATE]
    not_referred = cand["patients"] - cand["specialist_within_n"]
    concerns = audit.tables["referrals_not_candidates"]
    procedures = [r for r in concerns if r["is_procedure"]]
    no_imaging = sum(r["concern"] == "procedure_without_qualifying_imaging" for r in procedures)
    median = cand["days_to_specialist_median"]
    spread = (
        f"IQR {_days(cand['days_to_specialist_p25'])}–{_days(cand['days_to_specialist_p75'])} days, "
        f"{cand['days_to_specialist_n']} candidates"
        if median is not None
        else "no candidate referred"
    )
    cards = [
        ("", _e(cand["patients"]), f"candidates of {summary[ALL]['patients']} patients"),
        (
            "good",
            f"{_e(cand['specialist_within_n'])} <small>({_pct(cand['specialist_within_pct'])})</small>",
            f"candidates referred to a spine or pain specialist within {audit.window_days} days",
        ),
        ("alert" if not_referred else "", _e(not_referred), "candidates not referred to a specialist in the window"),
        (
            "alert" if procedures else "",
            _e(len(procedures)),
            f"BVNA procedures on patients who are not candidates ({no_imaging} without qualifying imaging)",
        ),
        ("", _days(median), f"median days from index MRI to first specialist referral ({spread})"),
    ]
    return (
        '<section class="cards">'
        + "".join(
            f'<div class="card {cls}"><div class="value">{value}</div><div class="label">{_e(label)}</div></div>'
            for cls, value, label in cards
        )
        + "</section>"
    )


GAP_LABELS = {
    "index_mri_undated": "index MRI undated",
    "specialist_after_window": "referred after the window",
    "specialist_date_unreadable": "referral date unreadable",
    "non_specialist_only": "non-specialist referral only",
    "specialist_before_mri_only": "referred only before the MRI",
    "other_referral_outside_window": "other referral outside the window",
    "never_referred": "never referred",
}
CONCERN_LABELS = {
    "procedure_without_qualifying_imaging": "procedure without qualifying imaging",
    "procedure_despite_exclusion": "procedure despite exclusion",
    "procedure_pending_review": "procedure while review pending",
    "referral_despite_exclusion": "referral despite exclusion",
    "referral_pending_review": "referral while review pending",
}


def _gap_kind(gap: str) -> str:
    return "bad" if gap == "never_referred" else "warn" if gap != "index_mri_undated" else "muted"


def _place(site: str, provider: str) -> str:
    return f"{_e(site)}<br><small>{_e(provider)}</small>"


def _not_referred_table(audit: Audit) -> str:
    rows = [
        [
            f"<strong>{_e(r['patient_id'])}</strong>",
            f"{_e(r['index_report_date'])}<br><small>{_e(r['index_report_id'])}</small>",
            _place(r["site"], r["provider"]),
            _e(r["qualifying_levels"]).replace(";", "<br>"),
            f'<span class="tag {_gap_kind(r["gap"])}">{_e(GAP_LABELS[r["gap"]])}</span>',
            "<br>".join(_e(x) for x in r["referrals"].split("; ")) if r["referrals"] else "–",
            _e(r["evidence"]),
        ]
        for r in audit.tables["candidates_not_referred"]
    ]
    headers = [
        ("Patient", "nowrap"), ("Index MRI", "nowrap"), ("Site / provider", "place"), ("Levels", "nowrap"),
        ("Why", ""), ("Referrals they had", "small"), ("Evidence", "small evidence"),
    ]  # fmt: skip
    return _table(headers, rows, "Every candidate was referred to a specialist within the window.")


def _concerns_table(audit: Audit, procedures: bool) -> str:
    rows = []
    for r in audit.tables["referrals_not_candidates"]:
        if r["is_procedure"] != procedures:
            continue
        day = f"<br><small>day {r['days_from_mri']}</small>" if r["days_from_mri"] is not None else ""
        what = _e(r["referred_to"]) or "–"
        if r["procedure"]:
            what += f"<br><small>{_e(r['procedure'])}</small>"
        kind = "bad" if procedures else "warn"
        rows.append(
            [
                f'<span class="tag {kind}">{_e(CONCERN_LABELS[r["concern"]])}</span>',
                f"<strong>{_e(r['patient_id'])}</strong><br><small>{_e(_label(r['status']))}</small>",
                _e(_label(r["reasons"]).replace(";", ", ")),
                _e(r["qualifying_levels"]).replace(";", "<br>") or "none",
                _place(r["site"], r["provider"]),
                f"{_e(r['referral_date']) or 'date unreadable'}{day}",
                what,
            ]
        )
    headers = [
        ("Concern", ""), ("Patient", "nowrap"), ("Reasons", "small"), ("Qualifying levels", "nowrap"),
        ("Site / provider", "place"), ("Date", "nowrap"), ("Referred to / procedure", ""),
    ]  # fmt: skip
    if procedures:
        return _table(headers, rows, "No BVNA procedure of a patient who is not a candidate.")
    return _table(headers, rows, "No specialist referral of a patient who is not a candidate.")


def _summary_table(audit: Audit) -> str:
    rows = [
        [
            f"<strong>{_e(STATUS_LABELS[r['status']])}</strong>",
            _e(r["patients"]),
            f"{r['specialist_within_n']} ({_pct(r['specialist_within_pct'])})",
            f"{r['any_referral_within_n']} ({_pct(r['any_referral_within_pct'])})",
            f"{r['bvna_n']} ({_pct(r['bvna_pct'])})",
            _e(r["specialist_before_mri_n"]),
            _e(r["specialist_after_window_n"]),
            _median_iqr(r, small=False),
        ]
        for r in audit.tables["summary"]
    ]
    w = audit.window_days
    headers = [
        ("Status", ""), ("Patients", "num"), (f"Specialist ≤ {w} d", "num"), (f"Any referral ≤ {w} d", "num"),
        ("BVNA", "num"), ("Specialist before MRI", "num"), (f"Specialist only after {w} d", "num"),
        ("Days to specialist, median (IQR)", "num"),
    ]  # fmt: skip
    return _table(headers, rows, "No patients.")


def _group_table(audit: Audit, name: str, key: str) -> str:
    """One row per site (or provider): the referral rate of each status, BVNA and days over all patients."""
    groups, cells = _rate_rows(audit.tables[name], key)

    def rate(row: dict | None) -> str:
        if row is None:
            return "–"
        return f"{row['specialist_within_n']}/{row['patients']} <small>({_pct(row['specialist_within_pct'])})</small>"

    rows = []
    for group in groups:
        every = cells[group][ALL]
        rows.append(
            [
                f"<strong>{_e(group)}</strong>",
                _e(every["patients"]),
                *(rate(cells[group].get(s)) for s in (*PATIENT_STATUSES, ALL)),
                _e(every["bvna_n"]),
                _median_iqr(every),
            ]
        )
    headers = [
        (key.capitalize(), ""), ("Patients", "num"),
        *((f"{STATUS_LABELS[s].capitalize()} referred", "num") for s in PATIENT_STATUSES),
        ("All referred", "num"), ("BVNA", "num"), ("Days to specialist, median (IQR)", "num"),
    ]  # fmt: skip
    return _table(headers, rows, "No patients.")


def _unmatched_table(audit: Audit) -> str:
    rows = [
        [
            _e(r["source_row"]),
            f"<strong>{_e(r['patient_id'])}</strong>",
            _e(r["referral_date"] or r["referral_date_text"]),
            _e(r["referred_to"]),
            _e(r["procedure"]),
            _e(r["site"]),
            _e(r["provider"]),
        ]
        for r in audit.tables["unmatched_referrals"]
    ]
    headers = [
        ("Row", "nowrap"), ("Patient id", "nowrap"), ("Date", "nowrap"), ("Referred to", ""), ("Procedure", ""),
        ("Site", ""), ("Provider", ""),
    ]  # fmt: skip
    return _table(headers, rows, "Every referral row belongs to a patient of patients.csv.")


def _exams_table(audit: Audit) -> str:
    rows = [
        [
            f"<strong>{_e(r['exam_kind'])}</strong>",
            _e(r["reports"]),
            _e(r["patients"]),
            _e(r["index_reports"]),
            _e(r["set_aside_reports"]),
            _e(r["from_exam_column"]),
        ]
        for r in audit.tables["reports_by_exam"]
    ]
    headers = [
        ("Exam kind", ""), ("Reports", "num"), ("Patients", "num"), ("Index MRI of a patient", "num"),
        ("Set aside (not a lumbar MRI)", "num"), ("Kind from the exam column", "num"),
    ]  # fmt: skip
    return _table(headers, rows, "No reports.")


def _notes(audit: Audit) -> str:
    parts = [
        f"<p>{audit.n_rows} rows read from the referral table: {audit.n_referrals} referrals or procedures, "
        f"{audit.n_placeholders} rows without a referral (site and provider only), "
        f"{audit.n_unreadable} with a value that could not be read.</p>"
    ]
    if audit.messages:
        items = "".join(f"<li>{_e(m)}</li>" for m in audit.messages[:MAX_MESSAGES])
        more = len(audit.messages) - MAX_MESSAGES
        if more > 0:
            items += f"<li>… and {more} more</li>"
        parts.append(f'<ul class="messages">{items}</ul>')
    if audit.unmatched_destinations:
        names = ", ".join(f"{_e(d)} ({n})" for d, n in audit.unmatched_destinations)
        parts.append(
            f"<p>Destinations that match no rule of <code>{_e(audit.rules.path.name)}</code> "
            f"(counted as a referral, not as a specialist referral): {names}</p>"
        )
    specialists = ", ".join(d.label for d in audit.rules.destinations if d.kind == "specialist")
    others = ", ".join(d.label for d in audit.rules.destinations if d.kind != "specialist")
    w = audit.window_days
    defs = [
        ("Index MRI", "the patient's most recent lumbar MRI with status ok (the index exams of the criteria "
         "profile), as in patients.csv (index_report_date); reports of other exams are set aside."),
        ("Specialist referral", f"a referral to {specialists}, or a BVNA procedure; not: {others}."),
        ("Within the window", f"0 to {w} days after the index MRI, both ends included."),
        ("BVNA procedure", f"a procedure matching {', '.join(audit.rules.bvna)}, not dated before the index MRI."),
        ("Days to specialist", "from the index MRI to the first specialist referral on or after it, late ones too."),
        ("Site, provider", "the most common non-empty value of the patient's rows in the referral table; "
         "a tie goes to the value first in the file; no rows: unknown."),
    ]  # fmt: skip
    parts.append('<dl class="defs">' + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in defs) + "</dl>")
    return "\n".join(parts)


def render_page(audit: Audit) -> str:
    """The whole page as one string (inline CSS and SVG; no script, nothing fetched)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        funnel = funnel_chart(audit, 1)
        prevalence = prevalence_chart(audit, 2)
        site = group_chart(audit, 3, "by_site", "site", "site")
        provider = group_chart(audit, 4, "by_provider", "provider", "provider")
        month = month_chart(audit, 5)
    w = audit.window_days
    n_not = len(audit.tables["candidates_not_referred"])
    n_concerns = len(audit.tables["referrals_not_candidates"])
    n_procedures = sum(1 for r in audit.tables["referrals_not_candidates"] if r["is_procedure"])
    criteria = f" (criteria profile <code>{_e(audit.criteria)}</code>)" if audit.criteria else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Referral audit</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>Referral audit</h1>
<p class="meta">Patients from <code>{_e(audit.source_dir)}</code>{criteria}; referrals from
<code>{_e(audit.referrals_path)}</code>. A referral counts when it is dated 0 to {w} days after the
patient's index MRI.</p>
</header>
{_cards(audit)}
<div class="charts">
<figure>{funnel}</figure>
<figure>{prevalence}</figure>
<figure>{site}</figure>
<figure>{provider}</figure>
<figure class="wide">{month}</figure>
</div>
<section id="candidates-not-referred">
<h2>Candidates not referred to a specialist within {w} days ({n_not})</h2>
<p class="note">Referred means a referral to a spine or pain specialist, or a BVNA procedure, dated 0 to {w} days
after the index MRI. "Referrals they had" lists every referral row of the patient.</p>
{_not_referred_table(audit)}
</section>
<section id="procedures-not-candidates">
<h2>BVNA procedures of patients who are not candidates ({n_procedures})</h2>
<p class="note">A procedure without qualifying Modic changes comes first, then one despite a rule-out reason, then
one while the patient's review is pending. Rows dated before the index MRI are left out.</p>
{_concerns_table(audit, procedures=True)}
</section>
<section id="referrals-not-candidates">
<h2>Specialist referrals of patients who are not candidates ({n_concerns - n_procedures})</h2>
<p class="note">Often appropriate (a root compression goes to a spine surgeon), listed so that each can be checked.</p>
{_concerns_table(audit, procedures=False)}
</section>
<section id="by-status">
<h2>By status</h2>
{_summary_table(audit)}
</section>
<section id="by-site">
<h2>By site</h2>
{_group_table(audit, "by_site", "site")}
</section>
<section id="by-provider">
<h2>By provider</h2>
{_group_table(audit, "by_provider", "provider")}
</section>
<section id="exams">
<h2>Reports by exam kind ({sum(r["reports"] for r in audit.tables["reports_by_exam"]):,})</h2>
<p class="note">Every report of the extraction, by the exam kind read from its exam column or its text. Only
lumbar MRIs can be a patient's index MRI; the others are set aside, and patients.csv names them.</p>
{_exams_table(audit)}
</section>
<section id="unmatched">
<h2>Referrals for patients not in patients.csv ({len(audit.tables["unmatched_referrals"])})</h2>
{_unmatched_table(audit)}
</section>
<section id="notes">
<h2>How to read this page</h2>
{_notes(audit)}
</section>
</main>
</body>
</html>
"""
