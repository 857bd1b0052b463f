(function () {
  "use strict";
  // Every value from the data reaches the page through textContent, text nodes or attributes set
  // with setAttribute; markup is never built from strings.
  var DATA = JSON.parse(document.getElementById("data").textContent);
  var META = DATA.meta;
  var PATIENTS = DATA.patients;
  var REPORTS = DATA.reports;
  var PAGE_SIZE = 50;
  var BIT = { negated: 1, uncertain: 2, hypothetical: 4, historical: 8, current: 16 };
  var STATUS_LABEL = {
    candidate: "Candidate",
    needs_review: "Needs review",
    not_candidate: "Not candidate",
    not_flagged: "Not flagged"
  };
  var STATE_LABEL = {
    current: "current",
    hedged: "hedged (uncertain)",
    negated: "negated",
    historical: "historical",
    hypothetical: "hypothetical",
    noncurrent: "not current (section)"
  };
  var SYMPTOM_LABEL = {
    assessment_date: "Assessed",
    lbp_duration_months: "LBP months",
    conservative_care_months: "Conservative care months",
    radicular_pain: "Radicular pain",
    odi: "ODI",
    pain_score: "Pain (0-10)",
    bmi: "BMI",
    prior_lumbar_surgery: "Prior lumbar surgery"
  };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return parent;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function human(name) { return String(name).replace(/_/g, " "); }
  function statusBadge(status) {
    var known = Object.prototype.hasOwnProperty.call(STATUS_LABEL, status);
    var b = el("span", "badge " + (known ? "s-" + status : "s-other"), known ? STATUS_LABEL[status] : status || "no status");
    return b;
  }
  function statusRank(status) {
    var i = META.status_order.indexOf(status);
    return i < 0 ? META.status_order.length : i;
  }
  function patientLabel(p) {
    if (p.id) return p.id;
    var r = REPORTS[p.rep[0]];
    return "(no patient id) " + (r ? r.id : p.k);
  }
  function levelsText(text) {
    return text ? text.split(";").join("  ") : "";
  }
  function patientHref(p) { return "#patient=" + encodeURIComponent(p.k); }

  // ---- per-patient values used by filters and sorting ----------------------------------------
  var BY_KEY = Object.create(null);
  PATIENTS.forEach(function (p, i) {
    BY_KEY[p.k] = i;
    var ids = [p.id || ""];
    var latest = "";
    p.rep.forEach(function (k) {
      ids.push(REPORTS[k].id);
      if (REPORTS[k].d > latest) latest = REPORTS[k].d;
    });
    p._hay = ids.join("\u0001").toLowerCase();
    p._date = p.idate || latest;
    p._pairs = p.mp.map(function (pair) {
      var at = pair.indexOf(":");
      return [pair.slice(0, at), pair.slice(at + 1)];
    });
  });

  // ---- header ----------------------------------------------------------------------------------
  function fact(term, value) {
    var d = el("div");
    add(d, el("dt", null, term));
    var dd = el("dd");
    add(dd, value);
    add(d, dd);
    return d;
  }
  function renderHeader() {
    $("folder").textContent = META.folder;
    $("folder").setAttribute("title", META.folder);
    var facts = $("facts");
    add(facts, fact("Built", META.built));
    if (META.flagged) add(facts, fact("Criteria", META.criteria.length ? META.criteria.join(", ") : "(none)"));
    var tally = el("span", "tally");
    Object.keys(META.counts).forEach(function (s) {
      var b = statusBadge(s);
      b.textContent = META.counts[s].toLocaleString() + " " + b.textContent.toLowerCase();
      add(tally, b);
    });
    add(facts, fact(META.total.toLocaleString() + " patients", tally));

    var notices = $("notices");
    function notice(parts) {
      var n = el("p", "notice");
      parts.forEach(function (part) {
        add(n, part.code ? el("code", null, part.code) : part);
      });
      add(notices, n);
    }
    if (!META.flagged) {
      notice([
        "modic flag was not run on this folder (no patients.csv): reports are grouped by patient_id, " +
          "a report without one stands alone, and nobody has a status. Run ",
        { code: "modic flag DIR --symptoms FILE" },
        " to flag patients, then rebuild this page."
      ]);
    }
    if (META.shown < META.total) {
      var how = [];
      if (META.statuses.length) how.push("status " + META.statuses.map(human).join(" or "));
      if (META.limit !== null) how.push("at most " + META.limit.toLocaleString() + " patients");
      notice([
        "This page holds " + META.shown.toLocaleString() + " of the folder's " + META.total.toLocaleString() +
          " patients (built with " + how.join(", ") + ")."
      ]);
    }
    if (META.flagged && META.unlinked) {
      notice([
        META.unlinked.toLocaleString() + " report(s) have no patient_id, belong to no patient and are not on this page."
      ]);
    }
    document.title = "Modic review - " + (META.folder.split(/[\\/]/).filter(Boolean).pop() || META.folder);
  }

  // ---- list: filters, sorting, paging -----------------------------------------------------------
  var state = { statuses: {}, reason: "", level: "", type: "", q: "", page: 0, sort: "id", dir: 1 };
  var filtered = [];

  function option(select, value, label) {
    var o = el("option", null, label);
    o.value = value;
    select.appendChild(o);
  }
  function renderFilters() {
    var chips = $("status-chips");
    var counts = {};
    PATIENTS.forEach(function (p) { counts[p.s] = (counts[p.s] || 0) + 1; });
    Object.keys(counts).sort(function (a, b) { return statusRank(a) - statusRank(b) || (a < b ? -1 : 1); })
      .forEach(function (s) {
        var b = el("button", "chip");
        b.type = "button";
        b.setAttribute("aria-pressed", "false");
        b.setAttribute("data-status", s);
        add(b, el("span", "dot s-" + s), STATUS_LABEL[s] || s, el("span", "n", counts[s].toLocaleString()));
        b.addEventListener("click", function () {
          if (state.statuses[s]) delete state.statuses[s]; else state.statuses[s] = true;
          b.setAttribute("aria-pressed", state.statuses[s] ? "true" : "false");
          state.page = 0;
          update();
        });
        chips.appendChild(b);
      });

    var reasons = {};
    PATIENTS.forEach(function (p) { p.r.forEach(function (r) { reasons[r] = (reasons[r] || 0) + 1; }); });
    var fr = $("f-reason");
    option(fr, "", "Any reason");
    Object.keys(reasons).sort().forEach(function (r) { option(fr, r, human(r) + " (" + reasons[r] + ")"); });
    fr.parentNode.hidden = !META.flagged;
    var fl = $("f-level");
    option(fl, "", "Any level");
    META.levels.forEach(function (l) { option(fl, l, l); });
    var ft = $("f-type");
    option(ft, "", "Any type");
    META.types.forEach(function (t) { option(ft, t, t === "unspecified" ? "unspecified" : "type " + t); });

    fr.addEventListener("change", function () { state.reason = fr.value; state.page = 0; update(); });
    fl.addEventListener("change", function () { state.level = fl.value; state.page = 0; update(); });
    ft.addEventListener("change", function () { state.type = ft.value; state.page = 0; update(); });
    var fs = $("f-search");
    fs.addEventListener("input", function () { state.q = fs.value; state.page = 0; update(); });
    $("f-clear").addEventListener("click", function () {
      state.statuses = {};
      state.reason = state.level = state.type = state.q = "";
      state.page = 0;
      fr.value = fl.value = ft.value = fs.value = "";
      Array.prototype.forEach.call(chips.children, function (c) { c.setAttribute("aria-pressed", "false"); });
      update();
    });
  }

  var COLUMNS = [
    { key: "id", label: "Patient", sort: true },
    { key: "status", label: "Status", sort: true },
    { key: "reasons", label: "Reasons", flagged: true },
    { key: "levels", label: META.flagged ? "Qualifying levels" : "Modic levels" },
    { key: "report", label: META.flagged ? "Index report" : "Latest report" },
    { key: "index", label: "Date", sort: true },
    { key: "reports", label: "Reports", sort: true, num: true }
  ].filter(function (c) { return META.flagged || !c.flagged; });
  function renderHead() {
    var row = $("patients-head");
    COLUMNS.forEach(function (c) {
      var th = el("th", (c.sort ? "sortable" : "") + (c.num ? " num" : ""));
      th.setAttribute("scope", "col");
      add(th, c.label);
      if (c.sort) {
        th.setAttribute("data-sort", c.key);
        add(th, " ", el("span", "arrow"));
        th.addEventListener("click", function () {
          if (state.sort === c.key) state.dir = -state.dir; else { state.sort = c.key; state.dir = 1; }
          state.page = 0;
          update();
        });
      }
      row.appendChild(th);
    });
  }

  function compare(a, b) {
    var pa = PATIENTS[a], pb = PATIENTS[b], d = 0;
    if (state.sort === "status") d = statusRank(pa.s) - statusRank(pb.s);
    else if (state.sort === "index") d = pa._date < pb._date ? -1 : pa._date > pb._date ? 1 : 0;
    else if (state.sort === "reports") d = pa.rep.length - pb.rep.length;
    if (d === 0) d = pa.k < pb.k ? -1 : pa.k > pb.k ? 1 : 0;
    return d * state.dir;
  }

  function applyFilters() {
    var wantStatus = Object.keys(state.statuses).length > 0;
    var q = state.q.trim().toLowerCase();
    var lv = state.level, ty = state.type, reason = state.reason;
    var out = [];
    for (var i = 0; i < PATIENTS.length; i++) {
      var p = PATIENTS[i];
      if (wantStatus && !state.statuses[p.s]) continue;
      if (reason && p.r.indexOf(reason) < 0) continue;
      if (lv || ty) {
        var hit = false;
        for (var j = 0; j < p._pairs.length && !hit; j++) {
          hit = (!lv || p._pairs[j][0] === lv) && (!ty || p._pairs[j][1] === ty);
        }
        if (!hit) continue;
      }
      if (q && p._hay.indexOf(q) < 0) continue;
      out.push(i);
    }
    if (!(state.sort === "id" && state.dir === 1)) out.sort(compare);
    filtered = out;
  }

  function renderRows() {
    var body = $("patients-body");
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE_SIZE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE_SIZE;
    var frag = document.createDocumentFragment();
    filtered.slice(start, start + PAGE_SIZE).forEach(function (i) {
      var p = PATIENTS[i];
      var tr = el("tr");
      tr.setAttribute("data-key", p.k);
      var td = el("td", "pid");
      var a = el("a", null, patientLabel(p));
      a.setAttribute("href", patientHref(p));
      add(tr, add(td, a));
      add(tr, add(el("td"), statusBadge(p.s)));
      if (META.flagged) {
        td = el("td");
        if (p.r.length) p.r.forEach(function (r) { add(td, el("span", "reason", human(r))); });
        else add(td, el("span", "none", "none"));
        add(tr, td);
      }
      var lv = META.flagged ? levelsText(p.q) : p.mp.join("  ");
      add(tr, add(el("td"), lv ? el("span", "levels", lv) : el("span", "none", "-")));
      td = el("td");
      var rid = p.ir || (p.rep.length ? REPORTS[p.rep[0]].id : "");
      var rdate = p.ir ? p.idate : (p.rep.length ? REPORTS[p.rep[0]].d : "");
      add(td, rid ? el("span", "mono", rid) : el("span", "none", "-"));
      add(tr, td, el("td", rdate ? "date" : "none", rid ? rdate || "no date" : ""));
      add(tr, el("td", "num", p.rep.length));
      tr.addEventListener("click", function (ev) {
        if (ev.target.closest("a")) return;
        location.hash = patientHref(p).slice(1);
      });
      frag.appendChild(tr);
    });
    if (!filtered.length) {
      var tr = el("tr");
      var td = el("td", "empty", "No patient matches these filters.");
      td.setAttribute("colspan", String(COLUMNS.length));
      frag.appendChild(add(tr, td));
    }
    clear(body);
    body.appendChild(frag);

    $("count").textContent = filtered.length.toLocaleString() + " of " + PATIENTS.length.toLocaleString() + " patients";
    Array.prototype.forEach.call(document.querySelectorAll("th[data-sort]"), function (th) {
      var on = th.getAttribute("data-sort") === state.sort;
      th.querySelector(".arrow").textContent = on ? (state.dir > 0 ? "\u25b2" : "\u25bc") : "";
      th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });

    var pager = $("pager");
    clear(pager);
    var prev = el("button", null, "\u2039 Previous");
    prev.type = "button";
    prev.disabled = state.page === 0;
    prev.addEventListener("click", function () { state.page--; renderRows(); });
    var next = el("button", null, "Next \u203a");
    next.type = "button";
    next.disabled = state.page >= pages - 1;
    next.addEventListener("click", function () { state.page++; renderRows(); });
    var shown = filtered.length
      ? (start + 1).toLocaleString() + "\u2013" + Math.min(start + PAGE_SIZE, filtered.length).toLocaleString()
      : "0";
    add(pager, prev, el("span", "page-of", "Page " + (state.page + 1) + " of " + pages + " (" + shown + ")"), next);
    pager.hidden = filtered.length <= PAGE_SIZE;
    var active = Object.keys(state.statuses).length || state.reason || state.level || state.type || state.q;
    $("f-clear").disabled = !active;
  }

  function update() {
    applyFilters();
    renderRows();
  }

  // ---- one patient -----------------------------------------------------------------------------
  var pinned = null; // {report: index, cover: [mention indexes], mention: index or -1}

  function stateOf(flags) {
    if (flags & BIT.negated) return "negated";
    if (flags & BIT.hypothetical) return "hypothetical";
    if (flags & BIT.historical) return "historical";
    if (!(flags & BIT.current)) return "noncurrent";
    if (flags & BIT.uncertain) return "hedged";
    return "current";
  }
  // mention row: [finding, group, modic_type, levels, section, flags]
  function findingLabel(m) {
    if (m[0] === "modic") return m[2] && m[2] !== "unspecified" ? "Modic type " + m[2] : "Modic (type unspecified)";
    return human(m[0]);
  }
  function describe(m) {
    var parts = [findingLabel(m)];
    parts.push(m[3].length ? m[3].join(", ") : "no level");
    parts.push(m[4] || "no section");
    var flags = [];
    ["current", "negated", "uncertain", "hypothetical", "historical"].forEach(function (f) {
      if (m[5] & BIT[f]) flags.push(f === "uncertain" ? "hedged" : f);
    });
    parts.push(flags.length ? flags.join(", ") : "not current");
    return parts.join(" \u00b7 ");
  }

  function mentionExtents(rep) {
    var ext = rep.m.map(function () { return null; });
    rep.seg.forEach(function (sg) {
      sg[2].forEach(function (i) {
        if (!ext[i]) ext[i] = [sg[0], sg[1]];
        else { ext[i][0] = Math.min(ext[i][0], sg[0]); ext[i][1] = Math.max(ext[i][1], sg[1]); }
      });
    });
    return ext;
  }

  function renderText(rep, k) {
    var box = el("div", "rtext");
    box.setAttribute("data-report", String(k));
    if (!rep.t) {
      box.className = "rtext empty";
      box.textContent = "(no text)";
      return box;
    }
    var t = rep.t, pos = 0;
    rep.seg.forEach(function (sg, n) {
      if (sg[0] > pos) box.appendChild(document.createTextNode(t.slice(pos, sg[0])));
      var m = rep.m[sg[2][0]];
      var span = el("span", "hl g-" + m[1] + " st-" + stateOf(m[5]) + (sg[2].length > 1 ? " multi" : ""), t.slice(sg[0], sg[1]));
      span.setAttribute("data-seg", String(n));
      span.setAttribute("data-mentions", sg[2].join(" "));
      span.setAttribute("title", sg[2].map(function (i) { return describe(rep.m[i]); }).join("\n"));
      box.appendChild(span);
      pos = sg[1];
    });
    if (pos < t.length) box.appendChild(document.createTextNode(t.slice(pos)));
    box.addEventListener("click", function (ev) {
      var span = ev.target.closest(".hl");
      if (!span) return;
      var cover = span.getAttribute("data-mentions").split(" ").map(Number);
      pin(k, cover, -1);
    });
    return box;
  }

  function pin(k, cover, only) {
    pinned = { report: k, cover: cover, mention: only };
    Array.prototype.forEach.call(document.querySelectorAll(".hl.sel"), function (s) { s.classList.remove("sel"); });
    var box = document.querySelector('.rtext[data-report="' + k + '"]');
    var first = null;
    if (box) {
      var target = only >= 0 ? only : cover[0];
      Array.prototype.forEach.call(box.querySelectorAll(".hl"), function (s) {
        if (s.getAttribute("data-mentions").split(" ").map(Number).indexOf(target) >= 0) {
          s.classList.add("sel");
          if (!first) first = s;
        }
      });
    }
    renderPin();
    return first;
  }

  function flagChip(label, on) { return el("span", "flag" + (on ? " on" : ""), label + (on ? " \u2713" : "")); }

  function renderPin() {
    var body = $("pin-body");
    if (!body) return;
    clear(body);
    if (!pinned) {
      add(body, el("p", "pin-empty", "Click a highlighted phrase to pin what was extracted from it."));
      return;
    }
    var rep = REPORTS[pinned.report];
    var ext = mentionExtents(rep);
    var list = pinned.mention >= 0 ? [pinned.mention] : pinned.cover;
    add(body, el("p", "muted", "Report " + rep.id + (list.length > 1 ? " \u00b7 " + list.length + " mentions here" : "")));
    list.forEach(function (i) {
      var m = rep.m[i];
      var item = el("div", "pin-item");
      item.setAttribute("data-mention", String(i));
      add(item, add(el("div", "title"), el("span", "swatch g-" + m[1]), findingLabel(m)));
      if (ext[i]) add(item, el("div", "quote", "\u201c" + rep.t.slice(ext[i][0], ext[i][1]) + "\u201d"));
      var dl = el("dl");
      function row(term, value) { add(dl, el("dt", null, term), el("dd", null, value)); }
      row("Finding", m[0]);
      row("Modic type", m[2] || "-");
      row(m[3].length > 1 ? "Levels" : "Level", m[3].length ? m[3].join(", ") : "-");
      row("Section", m[4] || "-");
      row("Shown as", STATE_LABEL[stateOf(m[5])]);
      add(item, dl);
      add(item, add(el("div", "flagset"),
        flagChip("current", m[5] & BIT.current), flagChip("negated", m[5] & BIT.negated),
        flagChip("uncertain", m[5] & BIT.uncertain), flagChip("hypothetical", m[5] & BIT.hypothetical),
        flagChip("historical", m[5] & BIT.historical)));
      add(body, item);
    });
    var unpin = el("button", "linkish", "Unpin");
    unpin.type = "button";
    unpin.addEventListener("click", function () {
      pinned = null;
      Array.prototype.forEach.call(document.querySelectorAll(".hl.sel"), function (s) { s.classList.remove("sel"); });
      renderPin();
    });
    add(body, unpin);
  }

  function mentionTable(rep, k) {
    var det = el("details", "mentions");
    var current = rep.m.filter(function (m) { return m[5] & BIT.current; }).length;
    add(det, el("summary", null, rep.m.length + " mention" + (rep.m.length === 1 ? "" : "s") + " (" + current + " current)"));
    var ext = mentionExtents(rep);
    var table = el("table", "mtable");
    var head = el("tr");
    ["Text", "Finding", "Type", "Level(s)", "Section", "Shown as"].forEach(function (h) { add(head, el("th", null, h)); });
    add(table, add(el("thead"), head));
    var tb = el("tbody");
    rep.m.forEach(function (m, i) {
      var tr = el("tr");
      add(tr, el("td", null, ext[i] ? rep.t.slice(ext[i][0], ext[i][1]) : "(offsets outside the text)"));
      add(tr, add(el("td"), el("span", "swatch g-" + m[1]), " " + human(m[0])));
      add(tr, el("td", null, m[2] || "-"), el("td", "levels", m[3].join(", ") || "-"), el("td", null, m[4] || "-"));
      add(tr, el("td", null, STATE_LABEL[stateOf(m[5])]));
      tr.addEventListener("click", function () {
        var first = pin(k, [i], i);
        if (first) first.scrollIntoView({ block: "center" });
      });
      add(tb, tr);
    });
    add(table, tb);
    return add(det, table);
  }

  function renderReport(p, k) {
    var rep = REPORTS[k];
    var isIndex = p.ir && rep.id === p.ir;
    var aside = p.aside.indexOf(rep.id) >= 0;
    var card = el("article", "card report" + (isIndex ? " is-index" : "") + (aside ? " is-aside" : ""));
    card.id = "report-" + k;
    card.setAttribute("data-report-id", rep.id);
    var head = el("div", "report-head");
    add(head, el("span", "rid", rep.id), el("span", "date", rep.d || "no date"));
    if (isIndex) add(head, el("span", "badge index", "INDEX MRI"));
    var kind = el("span", "badge kind", rep.kind);
    kind.title = "exam from the " + (rep.xs === "column" ? "exam column" : "report text") + (rep.xe ? ": " + rep.xe : "");
    add(head, kind);
    if (aside) add(head, el("span", "badge aside", "SET ASIDE: not a lumbar MRI, did not count"));
    add(head, el("span", "badge r-" + rep.st, rep.st));
    if (rep.msg) add(head, el("span", "msg", rep.msg));
    var facts = el("div", "facts2");
    add(facts, add(el("span"), "Modic: ", el("b", null, rep.ml ? levelsText(rep.ml) : "none")));
    add(facts, add(el("span"), "Exclusions: ", el("b", null, rep.ex.length ? rep.ex.map(human).join(", ") : "none")));
    add(head, facts);
    rep.notes.forEach(function (n) { add(head, el("div", "warn", "\u26a0 " + n)); });
    add(card, head, renderText(rep, k));
    if (rep.m.length) add(card, mentionTable(rep, k));
    return card;
  }

  var USED_GROUPS = null;
  function legend() {
    var card = el("div", "card");
    add(card, el("h3", null, "Legend"));
    var body = el("div", "body");
    var groups = el("ul", "legend");
    if (!USED_GROUPS) {
      USED_GROUPS = {};
      REPORTS.forEach(function (r) { r.m.forEach(function (m) { USED_GROUPS[m[1]] = true; }); });
    }
    Object.keys(META.groups).forEach(function (g) {
      add(groups, add(el("li"), el("span", "swatch g-" + g), META.groups[g]));
    });
    if (USED_GROUPS.other) add(groups, add(el("li"), el("span", "swatch g-other"), "Other finding"));
    var states = el("ul", "legend states");
    [
      ["current", "stated as present"],
      ["hedged", "possible, ?, cannot be excluded"],
      ["negated", "no, without, not seen"],
      ["historical", "resolved, previously seen"],
      ["hypothetical", "if, to rule out"],
      ["noncurrent", "history or comparison section"]
    ].forEach(function (s) {
      add(states, add(el("li"), el("span", "hl g-modic st-" + s[0], STATE_LABEL[s[0]].replace(" (uncertain)", "").replace(" (section)", "")),
        el("span", "what", s[1])));
    });
    add(states, add(el("li"), el("span", "hl g-modic st-current multi", "overlap"), el("span", "what", "line above: several mentions")));
    add(body, groups, el("div", null, "\u00a0"), states);
    return add(card, body);
  }

  function showPatient(key) {
    var view = $("patient-view");
    $("list-view").hidden = true;
    view.hidden = false;
    clear(view);
    pinned = null;
    var bar = el("div", "pv-bar");
    var back = el("a", "btn", "\u2190 All patients");
    back.setAttribute("href", "#");
    add(bar, back);
    var idx = BY_KEY[key];
    if (idx === undefined) {
      add(bar, el("h2", null, "Patient not found"));
      add(view, bar, el("p", null, "No patient " + JSON.stringify(key) + " on this page."));
      document.title = "Patient not found - Modic review";
      return;
    }
    var p = PATIENTS[idx];
    var h = el("h2");
    add(h, el("span", "mono", patientLabel(p)), statusBadge(p.s));
    add(bar, h, el("span", "spacer"));
    var order = filtered.indexOf(idx) >= 0 ? filtered : PATIENTS.map(function (_, i) { return i; });
    var at = order.indexOf(idx);
    var nav = el("div", "nav");
    var prev = el("button", "btn", "\u2039 Previous");
    var next = el("button", "btn", "Next \u203a");
    prev.type = next.type = "button";
    prev.disabled = at <= 0;
    next.disabled = at >= order.length - 1;
    prev.addEventListener("click", function () { go(order[at - 1]); });
    next.addEventListener("click", function () { go(order[at + 1]); });
    add(nav, prev, el("span", null, (at + 1).toLocaleString() + " of " + order.length.toLocaleString() +
      (order === filtered && filtered.length < PATIENTS.length ? " filtered" : "")), next);
    add(bar, nav);
    add(view, bar);
    view._go = { prev: at > 0 ? order[at - 1] : -1, next: at < order.length - 1 ? order[at + 1] : -1 };

    var grid = el("div", "pv-grid");
    var mainCol = el("div", "pv-main");
    var summary = el("section", "card");
    add(summary, el("h3", null, "Flag"));
    var kv = el("dl", "kv summary");
    function row(term, value) { add(kv, el("dt", null, term), add(el("dd"), value)); }
    row("Status", statusBadge(p.s));
    if (META.flagged) {
      var rs = el("span");
      if (p.r.length) p.r.forEach(function (r) { add(rs, el("span", "reason", human(r))); });
      else add(rs, el("span", "none", "none - meets every criterion"));
      row("Reasons", rs);
      row("Qualifying levels", p.q ? el("span", "levels", levelsText(p.q)) : el("span", "none", "none"));
      var ir = el("span");
      if (p.ir) {
        var link = el("a", "mono", p.ir);
        link.setAttribute("href", patientHref(p));
        link.addEventListener("click", function (ev) {
          ev.preventDefault();
          var card = document.querySelector('[data-report-id="' + CSS.escape(p.ir) + '"]');
          if (card) card.scrollIntoView({ block: "start" });
        });
        add(ir, link, " ", el("span", "muted", p.idate || "no date"));
      } else add(ir, el("span", "none", "none"));
      row("Index MRI", ir);
      row("Criteria", p.c || "-");
      var sym = el("dl", "sym");
      var anyValue = false;
      META.symptoms.forEach(function (c, i) {
        var v = p.sym[i];
        if (v) anyValue = true;
        add(sym, add(el("div"), el("dt", null, SYMPTOM_LABEL[c] || human(c)), el("dd", v ? null : "none", v || "-")));
      });
      row("Symptoms", anyValue ? sym : el("span", "none", "no assessment used"));
      var ev = el("ul", "evidence");
      p.ev.forEach(function (line) { add(ev, el("li", null, line)); });
      row("Evidence", p.ev.length ? ev : el("span", "none", "none"));
      if (p.notes) row("Notes", el("div", "notes", p.notes));
    } else {
      row("Modic levels", p.mp.length ? el("span", "levels", p.mp.join("  ")) : el("span", "none", "none"));
      row("Flag", el("span", "none", "modic flag was not run on this folder"));
    }
    add(summary, kv);
    add(mainCol, summary);
    add(mainCol, el("h3", "section-title", p.rep.length ? "Reports (" + p.rep.length + ")" : "Reports"));
    if (!p.rep.length) add(mainCol, add(el("section", "card"), add(el("p", "summary none"), "No report for this patient in reports.csv.")));
    p.rep.forEach(function (k) { add(mainCol, renderReport(p, k)); });

    var side = el("aside", "side");
    var pinCard = el("div", "card");
    var pinHead = el("h3", null, "Mention details");
    var pinBody = el("div", "body");
    pinBody.id = "pin-body";
    add(pinCard, pinHead, pinBody);
    add(side, pinCard, legend());
    add(grid, mainCol, side);
    add(view, grid);
    renderPin();
    document.title = patientLabel(p) + " - Modic review";
    window.scrollTo(0, 0);
  }

  function go(i) {
    if (i === undefined || i < 0) return;
    location.hash = patientHref(PATIENTS[i]).slice(1);
  }

  function showList() {
    $("patient-view").hidden = true;
    clear($("patient-view"));
    $("list-view").hidden = false;
    document.title = "Modic review - " + (META.folder.split(/[\\/]/).filter(Boolean).pop() || META.folder);
  }

  function route() {
    var m = /^#patient=(.*)$/.exec(location.hash);
    if (m) {
      var key;
      try { key = decodeURIComponent(m[1]); } catch (e) { key = m[1]; }
      showPatient(key);
    } else {
      showList();
    }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    var view = $("patient-view");
    if (!view.hidden) {
      if (ev.key === "Escape") { location.hash = ""; }
      else if ((ev.key === "ArrowRight" || ev.key === "j") && view._go) go(view._go.next);
      else if ((ev.key === "ArrowLeft" || ev.key === "k") && view._go) go(view._go.prev);
    } else if (ev.key === "/") {
      ev.preventDefault();
      $("f-search").focus();
    }
  });

  renderHeader();
  renderFilters();
  renderHead();
  update();
  window.addEventListener("hashchange", route);
  route();
  document.body.setAttribute("data-ready", "1");
})();
