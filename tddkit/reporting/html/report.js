// tddkit's HTML report: draws the page from the run's document embedded in it (no library, nothing fetched).
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";  // the SVG namespace name (an identifier, never loaded)
  const PHASES = [["class setup", "#8d6e63"], ["connection", "#7e57c2"], ["setup", "#29b6f6"],
    ["body", "#66bb6a"], ["SQL", "#ffa726"], ["cleanup", "#ef5350"]];
  const ROWS = 200;  // rows a table shows at once (filter or sort to see others)
  const main = document.getElementById("report");

  async function unpack(id) {
    const element = document.getElementById(id);
    if (!element) return null;
    const binary = atob(JSON.parse(element.textContent));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function s(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function tip(node, text) { node.append(s("title", {}, text)); return node; }

  function fmt(value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return "-";
    if (unit === "count") return Number.isInteger(value) ? String(value) : value.toFixed(1);
    const size = Math.abs(value);
    const text = size >= 100 ? value.toFixed(0) : size >= 10 ? value.toFixed(1) : size >= 1 ? value.toFixed(2)
      : value.toFixed(3);
    return unit ? text + " " + unit : text;
  }

  function cut(text, length) { return text.length <= length ? text : text.slice(0, length - 1) + "\u2026"; }

  function section(id, title, note) {
    const node = h("section", { id }, h("h2", {}, title));
    if (note) node.append(h("p", { class: "note" }, note));
    main.append(node);
    return node;
  }

  function chart(name, width, height, label) {
    return s("svg", { class: "chart", "data-chart": name, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": label, preserveAspectRatio: "xMinYMin meet" });
  }

  function legend(items) {
    return h("p", { class: "legend" }, ...items.map(([name, color]) => {
      const swatch = h("i");
      swatch.style.background = color;  // through the DOM: the policy refuses style attributes
      return h("span", {}, swatch, name);
    }));
  }

  // --- the run's figures ---------------------------------------------------------------------------------------

  function classOf(id) {
    const at = id.lastIndexOf("::");
    return at >= 0 ? id.slice(0, at) : id.slice(0, Math.max(0, id.lastIndexOf(".")));
  }

  function phases(t) {
    const sql = Math.min(t.query_ms || 0, t.body_ms || 0);
    return [0, t.connection_ms || 0, t.setup_ms || 0, (t.body_ms || 0) - sql, sql, t.cleanup_ms || 0];
  }

  function measured(doc) { return doc.tests.filter(t => t.outcome !== "skipped" && t.total_ms > 0); }

  function header(doc, checks) {
    const sm = doc.summary, env = doc.environment || {};
    const current = doc.history.length ? doc.history[doc.history.length - 1] : null;
    const bad = sm.failed + sm.errors;
    const cards = [["tests", sm.tests], ["passed", sm.passed, "good"], ["failed", bad, bad ? "bad" : ""],
      ["skipped", sm.skipped], ["wall time", fmt(sm.wall_seconds, "s")],
      ["targets met", `${sm.targets_met}/${sm.targets_total}`, sm.targets_met < sm.targets_total ? "bad" : "good"]];
    if (checks && checks.gate) cards.push(["gate", checks.gate.passed ? "PASSED" : "FAILED",
      checks.gate.passed ? "good" : "bad"]);
    if (checks && checks.comparison) cards.push(["regressions", checks.comparison.regressions.length,
      checks.comparison.flagged ? "bad" : "good"]);
    const where = [`tddkit ${doc.tddkit_version}`, `created ${doc.created}`,
      `Python ${env.python || "?"} on ${env.platform || "?"}`];
    if (current && current.commit) where.push(`commit ${current.commit.slice(0, 12)}` +
      (current.branch ? ` (${current.branch})` : ""));
    main.append(h("p", { class: "muted" }, where.join(" \u00b7 ")),
      h("div", { class: "cards" }, ...cards.map(([name, value, kind]) =>
        h("div", { class: "card " + (kind || "") }, h("b", {}, String(value)), name))),
      h("p", {}, "Recommendation: " + sm.recommendation),
      h("nav", {}, ...[["trend", "Trend"], ["durations", "Durations"], ["baseline", "Baseline"], ["phases", "Phases"],
        ["slowest", "Slowest"], ["repeated", "N+1"], ["alerts", "Alerts"],
        ["metrics", "Metrics"], ["tests", "Tests"], ["statements", "Statements"]].map(([id, name]) =>
        h("a", { href: "#" + id }, name))));
  }

  function metrics(doc) {
    const rows = Object.entries(doc.metrics).map(([name, m]) => [name, m.count, fmt(m.mean, m.unit === "count" ?
      "count" : ""), fmt(m.median), fmt(m.p95), fmt(m.max), m.target === null ? "-" : fmt(m.target), m.status,
    m.success_rate === null ? "-" : m.success_rate.toFixed(1), m.unit]);
    const node = section("metrics", "Metrics", "Each measured quantity over the run's tests, against its target.");
    node.append(table(["metric", "count", "mean", "median", "p95", "max", "target", "status", "success %", "unit"],
      rows, { text: [0], classes: { 7: v => v } }));
  }

  // A plain table; options.text: left-aligned columns, options.classes: column -> cell class from its value.
  function table(headers, rows, options) {
    const text = new Set((options && options.text) || [0]);
    const classes = (options && options.classes) || {};
    return h("table", {}, h("thead", {}, h("tr", {}, ...headers.map((name, i) =>
      h("th", { class: text.has(i) ? "text" : "" }, name)))),
    h("tbody", {}, ...rows.map(row => h("tr", {}, ...row.map((value, i) =>
      h("td", { class: (text.has(i) ? "text " : "") + (classes[i] ? classes[i](value) : "") }, String(value)))))));
  }

  // --- charts --------------------------------------------------------------------------------------------------

  function histogram(doc) {
    const node = section("durations", "Test durations",
      "How many tests took how long (total per test, log scale), with the median, p95 and the target.");
    const totals = measured(doc).map(t => t.total_ms);
    if (!totals.length) { node.append(h("p", { class: "note" }, "No measured test.")); return; }
    const row = doc.metrics.individual_test || {};
    const marks = [["median", row.median, "#1f5fbf"], ["p95", row.p95, "#ef6c00"], ["target", row.target, "#c62828"]]
      .filter(m => typeof m[1] === "number" && m[1] > 0);
    let lo = Math.min(...totals.filter(v => v > 0)), hi = Math.max(...totals);
    for (const m of marks) { lo = Math.min(lo, m[1]); hi = Math.max(hi, m[1]); }
    const a = Math.log10(lo) - 0.05, b = Math.log10(hi) + 0.05, bins = 48;
    const counts = new Array(bins).fill(0);
    for (const v of totals) counts[Math.min(bins - 1, Math.max(0, Math.floor((Math.log10(v) - a) / (b - a) * bins)))]++;
    const W = 960, H = 300, L = 50, R = 16, T = 18, B = 36, top = Math.max(...counts);
    const x = v => L + (Math.log10(v) - a) / (b - a) * (W - L - R), y = c => H - B - c / top * (H - T - B);
    const svg = chart("durations", W, H, "histogram of test durations");
    svg.append(s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    for (let e = Math.ceil(a); e <= b; e++) for (const f of [1, 2, 5]) {
      const v = f * 10 ** e;
      if (Math.log10(v) < a || Math.log10(v) > b) continue;
      svg.append(s("line", { class: "grid", x1: x(v), y1: T, x2: x(v), y2: H - B }),
        s("text", { x: x(v), y: H - B + 14, "text-anchor": "middle" }, fmt(v, "ms")));
    }
    const step = (W - L - R) / bins;
    counts.forEach((c, i) => {
      if (!c) return;
      const from = 10 ** (a + i * (b - a) / bins), to = 10 ** (a + (i + 1) * (b - a) / bins);
      svg.append(tip(s("rect", { x: L + i * step + 0.5, y: y(c), width: step - 1, height: H - B - y(c),
        fill: "#5c8fd6" }), `${c} tests from ${fmt(from, "ms")} to ${fmt(to, "ms")}`));
    });
    svg.append(s("text", { x: 8, y: T + 4 }, top === 1 ? "1 test" : `${top} tests`));
    marks.forEach(([name, v, color], i) => {
      svg.append(tip(s("line", { class: "mark", x1: x(v), y1: T, x2: x(v), y2: H - B, stroke: color }),
        `${name} ${fmt(v, "ms")}`), s("text", { x: x(v) + (x(v) > W - 140 ? -4 : 4), y: T + 10 + 12 * i, fill: color,
        "text-anchor": x(v) > W - 140 ? "end" : "start" }, `${name} ${fmt(v, "ms")}`));
    });
    node.append(svg);
  }

  // Horizontal stacked bars: items are [label, [segment values], tooltip]; colors per segment.
  function stacked(name, items, colors, label) {
    const W = 960, L = 330, R = 70, bar = 16, gap = 5, T = 6, H = T * 2 + items.length * (bar + gap);
    const top = Math.max(...items.map(([, parts]) => parts.reduce((x, y) => x + y, 0)), 1e-9);
    const svg = chart(name, W, H, label);
    items.forEach(([text, parts, title], i) => {
      const y = T + i * (bar + gap);
      svg.append(tip(s("text", { x: L - 6, y: y + bar - 4, "text-anchor": "end" }, cut(text, 52)), text));
      let x = L;
      parts.forEach((v, k) => {
        if (v <= 0) return;
        const w = v / top * (W - L - R);
        svg.append(tip(s("rect", { x, y, width: Math.max(w, 0.5), height: bar, fill: colors[k] }),
          `${title || text}\n${PHASES[k] ? PHASES[k][0] + ": " : ""}${fmt(v, "ms")}`));
        x += w;
      });
      svg.append(s("text", { x: x + 4, y: y + bar - 4 }, fmt(parts.reduce((p, q) => p + q, 0), "ms")));
    });
    return svg;
  }

  function byClass(doc) {
    const node = section("phases", "Time by phase per class",
      "Summed over each class's tests, the 25 classes that took longest: SQL is the time in statements, " +
      "counted out of the body; class setup is the class's own (setUpClass, setUpTestData).");
    const classes = new Map();
    const entry = key => classes.get(key) || classes.set(key, [0, 0, 0, 0, 0, 0]).get(key);
    for (const t of measured(doc)) phases(t).forEach((v, k) => { entry(classOf(t.test_id))[k] += v; });
    for (const c of doc.classes) entry(c.class_name)[0] += (c.connection_ms || 0) + (c.setup_ms || 0);
    const items = [...classes].map(([key, parts]) => [key || "(module)", parts])
      .sort((p, q) => q[1].reduce((x, y) => x + y, 0) - p[1].reduce((x, y) => x + y, 0)).slice(0, 25);
    if (!items.length) { node.append(h("p", { class: "note" }, "No measured test.")); return; }
    node.append(legend(PHASES), stacked("phases", items, PHASES.map(p => p[1]), "time by phase per class"));
  }

  function slowest(doc) {
    const node = section("slowest", "Slowest tests and statements",
      "The 20 slowest tests by phase, and the 20 statement shapes that took the most time in all.");
    const tests = measured(doc).sort((p, q) => q.total_ms - p.total_ms).slice(0, 20);
    if (tests.length) node.append(legend(PHASES.slice(1)), stacked("slowest-tests",
      tests.map(t => [t.test_id, phases(t).slice(1), `${t.test_id} (${t.query_count} statements)`]),
      PHASES.slice(1).map(p => p[1]), "slowest tests"));
    const shapes = doc.statements.slice(0, 20);
    if (shapes.length) node.append(stacked("slowest-statements",
      shapes.map(q => [q.statement, [q.total_ms], `${q.statement}\n${q.calls} calls in ${q.test_count} tests, ` +
        `mean ${fmt(q.mean_ms, "ms")}, max ${fmt(q.max_ms, "ms")}`]), ["#ffa726"], "slowest statements"));
    else node.append(h("p", { class: "note" }, "No statement was recorded."));
  }

  function findings(doc) {
    const repeated = section("repeated", "Repeated statements (N+1)",
      "Statements a test ran repeated_query_threshold times or more, with the application line that issued them.");
    repeated.append(doc.repeated_statements.length ? table(["test", "issued at", "statement", "calls", "severity"],
      doc.repeated_statements.map(f => [f.test_id, `${f.file}:${f.line} (${f.function})`, f.statement, f.calls,
        f.severity]), { text: [0, 1, 2], classes: { 4: v => v } }) : h("p", { class: "note" }, "None found."));
    const alerts = section("alerts", "Alerts", "Metrics over their thresholds ([tool.tddkit.thresholds]).");
    alerts.append(doc.alerts.length ? table(["severity", "metric", "test", "value", "threshold"],
      doc.alerts.map(a => [a.severity, a.metric, a.test_id, fmt(a.value), fmt(a.threshold)]),
      { text: [0, 1, 2], classes: { 0: v => v } }) : h("p", { class: "note" }, "No alert."));
  }

  function baseline(doc, checks) {
    const node = section("baseline", "Against the baseline", "");
    const c = checks && checks.comparison;
    if (c) {
      const flagged = new Set(c.regressions.map(r => r.key)), better = new Set(c.improvements.map(r => r.key));
      const deltas = doc.tests.filter(t => t.test_id in c.baseline_ms && t.outcome !== "skipped")
        .map(t => [t.test_id, t.total_ms - c.baseline_ms[t.test_id], c.baseline_ms[t.test_id], t.total_ms]);
      const shown = deltas.sort((p, q) => Math.abs(q[1]) - Math.abs(p[1])).slice(0, 30).sort((p, q) => q[1] - p[1]);
      node.querySelector("p, h2").after(h("p", { class: "note" }, `The 30 largest changes of a test's time ` +
        `against the baseline of ${c.baseline_created || "?"} (its median), of ${deltas.length} compared tests; ` +
        `red: flagged as a regression (beyond ${(c.threshold * 100).toFixed(0)}% and the noise), green: improvement.`));
      if (shown.length) node.append(diverging(shown, flagged, better));
      const rows = c.regressions.concat(c.improvements).map(r => [r.key, r.kind, fmt(r.baseline), fmt(r.current),
        r.ratio.toFixed(2) + "x", r.limit.toFixed(2) + "x", r.p_value === null ? "-" : r.p_value.toPrecision(2)]);
      if (rows.length) node.append(table(["test / metric", "change", "baseline", "current", "ratio", "limit", "p"],
        rows, { text: [0, 1], classes: { 1: v => v === "regression" ? "failed" : "passed" } }));
      if (c.query_changes.length) node.append(table(["test", "statements", "baseline", "current", "flagged"],
        c.query_changes.map(q => [q.key, q.kind, q.baseline, q.current, q.flagged ? "yes" : "no"]),
        { text: [0, 1], classes: { 4: v => v === "yes" ? "failed" : "" } }));
      c.notes.forEach(n => node.append(h("p", { class: "note" }, n)));
    } else node.append(h("p", { class: "note" }, "No baseline: run with --compare [FILE] to see per-test changes."));
    if (checks && checks.gate) node.append(h("h3", {}, "Performance gate: " + (checks.gate.passed ? "PASSED" :
      "FAILED")), table(["limit", "value", "allowed", "result"], checks.gate.checks.map(g => [g.name,
      fmt(g.value), fmt(g.limit), g.ok ? "PASS" : "FAIL"]), { text: [0], classes: { 3: v => v } }));
  }

  function diverging(items, flagged, better) {
    const W = 960, L = 330, R = 20, bar = 14, gap = 4, T = 6, H = T * 2 + items.length * (bar + gap);
    const top = Math.max(...items.map(i => Math.abs(i[1])), 1e-9), zero = L + (W - L - R) / 2;
    const svg = chart("baseline", W, H, "changes against the baseline");
    svg.append(s("line", { class: "axis", x1: zero, y1: 0, x2: zero, y2: H }));
    items.forEach(([id, delta, before, now], i) => {
      const y = T + i * (bar + gap), w = Math.abs(delta) / top * (W - L - R) / 2;
      const color = flagged.has(id) ? "#c62828" : better.has(id) ? "#2e7d32" : "#9aa3b2";
      svg.append(tip(s("text", { x: L - 6, y: y + bar - 3, "text-anchor": "end" }, cut(id, 52)), id),
        tip(s("rect", { x: delta < 0 ? zero - w : zero, y, width: Math.max(w, 0.5), height: bar, fill: color }),
          `${id}\n${fmt(before, "ms")} \u2192 ${fmt(now, "ms")} (${delta >= 0 ? "+" : ""}${fmt(delta, "ms")})`));
    });
    return svg;
  }

  function trend(doc) {
    const node = section("trend", "Trend", "");
    const runs = doc.history.filter(r => r.metrics && r.metrics.individual_test);
    if (!runs.length) {
      node.append(h("p", { class: "note" }, "No history: run with --history DIR (or set history_dir) to keep a " +
        "summary of each run and see the trend here."));
      return;
    }
    node.querySelector("h2").after(h("p", { class: "note" }, `Median and p95 test time (ms) of the last ${runs.length} ` +
      "runs of the history, oldest first; the ringed point is this run."));
    const W = 960, H = 280, L = 60, R = 20, T = 16, B = 46;
    const lines = [["median", "#1f5fbf"], ["p95", "#ef6c00"]];
    const top = Math.max(...runs.flatMap(r => lines.map(([k]) => r.metrics.individual_test[k] || 0)), 1e-9) * 1.1;
    const x = i => runs.length === 1 ? (L + W - R) / 2 : L + i / (runs.length - 1) * (W - L - R);
    const y = v => H - B - v / top * (H - T - B);
    const svg = chart("trend", W, H, "trend of test times over runs");
    svg.append(s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    for (let k = 0; k <= 4; k++) svg.append(s("line", { class: "grid", x1: L, y1: y(top * k / 4), x2: W - R,
      y2: y(top * k / 4) }), s("text", { x: L - 6, y: y(top * k / 4) + 4, "text-anchor": "end" }, fmt(top * k / 4)));
    const every = Math.max(1, Math.ceil(runs.length / 12));
    const anchor = i => runs.length > 1 && i === runs.length - 1 ? "end" : i === 0 && runs.length > 1 ? "start"
      : "middle";
    runs.forEach((r, i) => {
      if (i % every && i !== runs.length - 1) return;
      svg.append(s("text", { x: x(i), y: H - B + 14, "text-anchor": anchor(i) },
        (r.created || "").slice(5, 16).replace("T", " ")));
      if (r.commit) svg.append(s("text", { x: x(i), y: H - B + 27, "text-anchor": anchor(i), fill: "#5d6677" },
        r.commit.slice(0, 7)));
    });
    for (const [key, color] of lines) {
      svg.append(s("polyline", { fill: "none", stroke: color, "stroke-width": 2, points: runs.map((r, i) =>
        `${x(i)},${y(r.metrics.individual_test[key] || 0)}`).join(" ") }));
      runs.forEach((r, i) => svg.append(tip(s("circle", { class: "point", cx: x(i),
        cy: y(r.metrics.individual_test[key] || 0), r: 3.5, fill: color }), `${r.created}${r.commit ? " " + r.commit.slice(0, 12) : ""}${r.branch ? " (" +
        r.branch + ")" : ""}\n${r.tests} tests, ${key} ${fmt(r.metrics.individual_test[key], "ms")}, ` +
        `${r.queries ? r.queries.total : 0} statements`)));
    }
    const last = runs.length - 1;
    svg.append(s("circle", { class: "current", cx: x(last), cy: y(runs[last].metrics.individual_test.median || 0),
      r: 8, fill: "none", stroke: "#c62828", "stroke-width": 2 }), s("text", { x: x(last), y: H - 6,
      "text-anchor": anchor(last), fill: "#c62828" }, "this run"));
    node.append(legend(lines), svg);
  }

  // --- tables --------------------------------------------------------------------------------------------------

  // A table over many rows: a filter box, sorting by any column (click its header), the first ROWS shown.
  function bigTable(id, title, note, columns, rows) {
    const node = section(id, title, note);
    const input = h("input", { type: "search", placeholder: "filter (text in any column)", "aria-label": "filter" });
    const count = h("span", { class: "muted" });
    const body = h("tbody");
    const heads = columns.map(([name, , text], i) => h("th", { class: "sortable" + (text ? " text" : ""),
      "data-column": i }, name));
    let order = null, descending = false;
    function draw() {
      const needle = input.value.trim().toLowerCase();
      let shown = needle ? rows.filter(r => r.some(v => String(v).toLowerCase().includes(needle))) : rows.slice();
      if (order !== null) shown.sort((p, q) => (p[order] < q[order] ? -1 : p[order] > q[order] ? 1 : 0) *
        (descending ? -1 : 1));
      count.textContent = `showing ${Math.min(ROWS, shown.length)} of ${shown.length}` +
        (needle ? ` matching (${rows.length} in all)` : "");
      body.replaceChildren(...shown.slice(0, ROWS).map(r => h("tr", {}, ...r.map((v, i) =>
        h("td", { class: (columns[i][2] ? "text " : "") + (columns[i][3] ? columns[i][3](v) : "") },
          columns[i][1] ? columns[i][1](v) : String(v))))));
      heads.forEach((th, i) => { th.classList.toggle("asc", i === order && !descending);
        th.classList.toggle("desc", i === order && descending); });
    }
    heads.forEach((th, i) => th.addEventListener("click", () => {
      descending = order === i ? !descending : !columns[i][2];
      order = i;
      draw();
    }));
    input.addEventListener("input", draw);
    node.append(h("div", { class: "controls" }, input, count),
      h("div", { class: "scroll" }, h("table", { "data-table": id }, h("thead", {}, h("tr", {}, ...heads)), body)));
    draw();
  }

  function tables(doc) {
    const ms = v => fmt(v);
    bigTable("tests", "Tests", "Every test of the run: filter by name or outcome, click a header to sort.",
      [["test", null, true], ["outcome", null, true, v => v], ["total ms", ms], ["connection", ms], ["setup", ms],
        ["body", ms], ["cleanup", ms], ["statements", null], ["SQL ms", ms]],
      doc.tests.map(t => [t.test_id, t.outcome, t.total_ms, t.connection_ms, t.setup_ms, t.body_ms, t.cleanup_ms,
        t.query_count, t.query_ms]));
    bigTable("statements", "Statements", "Every statement shape the tests ran, with its calls and time in all.",
      [["statement", null, true], ["calls", null], ["total ms", ms], ["mean ms", ms], ["max ms", ms],
        ["tests", null]],
      doc.statements.map(q => [q.statement, q.calls, q.total_ms, q.mean_ms, q.max_ms, q.test_count]));
  }

  function render(doc, checks) {
    document.getElementById("loading").remove();
    header(doc, checks);
    trend(doc);
    histogram(doc);
    baseline(doc, checks);
    byClass(doc);
    slowest(doc);
    findings(doc);
    metrics(doc);
    tables(doc);
    document.body.dataset.rendered = "ok";
  }

  Promise.all([unpack("tddkit-data"), unpack("tddkit-checks")]).then(([doc, checks]) => render(doc, checks))
    .catch(error => {
      document.body.dataset.rendered = "error";
      main.append(h("p", { id: "failure" }, "The report could not be drawn: " + error));
      console.error(error);
    });
})();
