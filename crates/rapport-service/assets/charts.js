// Rapport charts: uPlot helpers and the overview (used by the dashboard and by the offline report of
// `rapport score`). Every chart has a data table beside it for screen readers and keyboard users.
"use strict";

const RapportCharts = (() => {
  const COLORS = { sentiment: "#1d5fa8", distress: "#b3261e", bars: "#2e6b3a", accent: "#6a3d9a" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the CSP, unlike a style attribute
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  function width(figure) {
    return Math.max(260, Math.min(900, (figure.clientWidth || 600) - 16));
  }

  // Charts are drawn on the next frame, once their figure is in the page and has a width.
  function draw(figure, opts, data) {
    if (typeof uPlot === "undefined") return;
    requestAnimationFrame(() => {
      opts.width = width(figure);
      // What the chart's value axis starts at once drawn, for tests and for anyone inspecting the page.
      opts.hooks = { draw: [(u) => { figure.dataset.yMin = String(u.scales.y.min); }] };
      new uPlot(opts, data, figure);
      figure.append(figure.querySelector("details.data"));
    });
  }

  const WHOLE = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (_, ticks) => ticks.map(String) };

  // A line chart: xs (numbers), series [{label, values, color}], y range [min, max]; with `names`, the
  // x values are positions 0..n-1 labelled by `names` (days, say) on the axis and in the data table.
  function line(container, title, xs, series, range, xLabel, names) {
    const figure = el("figure", { class: "chart" }, el("figcaption", { text: title }));
    container.append(figure);
    const opts = {
      height: 220,
      scales: { x: names ? { time: false, range: [-0.5, xs.length - 0.5] } : { time: false }, y: { range: () => range } },
      axes: [names
        ? { label: xLabel || "", incrs: [1, 2, 5, 7, 14, 30, 60, 90], values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? names[t] || "" : "")) }
        : Object.assign({ label: xLabel || "" }, WHOLE), {}],
      series: [{ label: xLabel || "x" }].concat(
        series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: true, size: 6 } }))
      ),
      // The legend names the series; values show in the data table (a live legend shows "--" at rest).
      legend: { live: false },
    };
    if (xs.length > 0) draw(figure, opts, [xs].concat(series.map((s) => s.values)));
    figure.append(table(title, [xLabel || "x"].concat(series.map((s) => s.label)),
      xs.map((x, i) => [names ? names[i] : x].concat(series.map((s) => fmt(s.values[i]))))));
    return figure;
  }

  // A bar chart of labelled counts.
  function bars(container, title, labels, values, color) {
    const figure = el("figure", { class: "chart" }, el("figcaption", { text: title }));
    container.append(figure);
    const xs = labels.map((_, i) => i);
    const opts = {
      height: 200,
      // Counts: the bars start at zero and the axis has whole-number ticks.
      scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: (_, __, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
      axes: [{ values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? labels[t] || "" : "")) }, Object.assign({ label: "count" }, WHOLE)],
      series: [{}, { label: title, fill: color || COLORS.bars, stroke: color || COLORS.bars,
        paths: typeof uPlot !== "undefined" && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined,
        points: { show: false } }],
      legend: { show: false },
    };
    if (labels.length > 0) draw(figure, opts, [xs, values]);
    figure.append(table(title, ["", "count"], labels.map((l, i) => [l, values[i]])));
    return figure;
  }

  function fmt(v) {
    if (v == null || Number.isNaN(v)) return "";
    return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v);
  }

  // A chart's data as a table, folded under the chart.
  function table(caption, head, rows) {
    return el("details", { class: "data" }, el("summary", { text: "Data: " + caption }), simpleTable(head, rows));
  }

  const mean = (m) => (m && m.count > 0 ? m.sum / m.count : null);
  const pct = (x) => (100 * x).toFixed(1) + "%";

  // The overview: tiles, sentiment trend, empathy distribution, rates, churn-risk list, drivers.
  // `o` is the aggregate; `byDay` (optional) is [{day, sum, count}]; `link(id)` makes a churn row a link.
  function overview(root, o, byDay, link) {
    root.replaceChildren();
    const n = o.conversations || 0;
    const rate = (k) => (n ? o[k] / n : 0);
    const tiles = el("div", { class: "tiles" });
    const tile = (label, value) => tiles.append(el("div", { class: "tile" }, el("span", { class: "tile-value", text: value }), el("span", { class: "tile-label", text: label })));
    tile("conversations", String(n));
    tile("resolution rate", pct(rate("resolved")));
    tile("escalation rate", pct(rate("escalated")));
    const emp = mean(o.empathy);
    tile("mean empathy score", emp == null ? "–" : emp.toFixed(1));
    tile("declining mood", pct(rate("declining")));
    tile("hollow-sympathy replies", String(o.hollow_sympathy || 0));
    root.append(tiles);

    const grid = el("div", { class: "charts" });
    root.append(grid);
    if (byDay && byDay.length > 0) {
      line(grid, "Sentiment trend by day (mean of customer turns)", byDay.map((_, i) => i),
        [{ label: "sentiment", values: byDay.map((d) => mean(d)), color: COLORS.sentiment }], [-1, 1], "day (UTC)",
        byDay.map((d) => d.day));
    }
    const byTurn = (o.sentiment_by_turn || []).map(mean);
    const last = byTurn.reduce((acc, v, i) => (v == null ? acc : i), -1);
    const turns = byTurn.slice(0, last + 1);
    line(grid, "Sentiment by customer turn (mean)", turns.map((_, i) => i + 1),
      [{ label: "sentiment", values: turns, color: COLORS.sentiment }], [-1, 1], "customer turn");
    const bins = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100"];
    bars(grid, "Empathy score of replies", bins, o.empathy_histogram || bins.map(() => 0));
    bars(grid, "Outcomes", ["resolved", "escalated", "improving", "stable", "declining"],
      [o.resolved, o.escalated, o.improving, o.stable, o.declining].map((x) => x || 0), COLORS.accent);

    // Every list links to its conversations: the dashboard's conversation view, or (in the offline
    // report, `link` null) the report's own index of the conversations its lists name.
    const named = new Map();
    const linkTo = (id) => {
      if (link) return link(id);
      if (!named.has(id)) named.set(id, []);
      return el("a", { href: "#conv-" + encodeURIComponent(id), text: id });
    };
    const note = (id, text) => { if (!link) { linkTo(id); named.get(id).push(text); } };
    const linkCell = (ids) => el("td", {}, ...ids.flatMap((id, i) => (i ? [", ", linkTo(id)] : [linkTo(id)])));

    const drivers = Object.entries(o.distress_drivers || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    const driverSection = el("section", { class: "panel" }, el("h3", { text: "Top drivers of distress" }));
    if (drivers.length === 0) driverSection.append(el("p", { text: "No distressed turns." }));
    else {
      const t = simpleTable(["driver", "conversations", "examples"], []);
      const body = t.querySelector("tbody");
      for (const [k, v] of drivers) {
        const examples = (o.driver_examples || {})[k] || [];
        for (const id of examples) note(id, "distress driver: " + k.replace(":", ": ").replace(/_/g, " "));
        body.append(el("tr", {}, el("td", { text: k.replace(":", ": ").replace(/_/g, " ") }), el("td", { text: String(v) }), linkCell(examples)));
      }
      driverSection.append(t);
    }
    root.append(driverSection);

    const worst = el("section", { class: "panel", id: "worst-replies" }, el("h3", { text: "Worst replies" }));
    const notes = o.worst_replies || [];
    if (notes.length === 0) worst.append(el("p", { text: "No replies audited yet." }));
    else {
      const t = simpleTable(["conversation", "reply (turn)", "audit score", "what to fix"], []);
      const body = t.querySelector("tbody");
      for (const r of notes) {
        note(r.id, "worst reply: turn " + (r.turn + 1) + ", score " + r.score + (r.reasons.length ? " (" + r.reasons.join("; ") + ")" : ""));
        body.append(el("tr", {}, el("td", {}, linkTo(r.id)), el("td", { text: String(r.turn + 1) }), el("td", { text: String(r.score) }),
          el("td", { text: r.reasons.length ? r.reasons.join("; ") : "–" })));
      }
      worst.append(t);
    }
    root.append(worst);

    const hollow = el("section", { class: "panel", id: "hollow-replies" }, el("h3", { text: "Hollow-sympathy replies: examples" }));
    const hollowIds = o.hollow_examples || [];
    if (hollowIds.length === 0) hollow.append(el("p", { text: "None found." }));
    else {
      for (const id of hollowIds) note(id, "has a hollow-sympathy reply");
      hollow.append(el("p", {}, ...hollowIds.flatMap((id, i) => (i ? [" · ", linkTo(id)] : [linkTo(id)]))));
    }
    root.append(hollow);

    const churn = el("section", { class: "panel" }, el("h3", { text: "Churn-risk list" }));
    const rows = o.churn_risk || [];
    if (rows.length === 0) churn.append(el("p", { text: "No conversation at risk." }));
    else {
      const t = simpleTable(["conversation", "churn risk", "last sentiment", "intent"], []);
      const body = t.querySelector("tbody");
      for (const r of rows) {
        note(r.id, "churn risk " + r.churn_risk.toFixed(2) + ", last sentiment " + r.sentiment_last.toFixed(2));
        body.append(el("tr", {}, el("td", {}, linkTo(r.id)), el("td", { text: r.churn_risk.toFixed(2) }),
          el("td", { text: r.sentiment_last.toFixed(2) }), el("td", { text: (r.intent || "").replace(/_/g, " ") })));
      }
      churn.append(t);
    }
    root.append(churn);

    if (!link && named.size) {
      const index = el("section", { class: "panel", id: "conversations" }, el("h3", { text: "Conversations in these lists" }));
      const dl = el("dl", { class: "memory" });
      for (const [id, texts] of named) {
        dl.append(el("dt", { id: "conv-" + id, text: id }), el("dd", { text: [...new Set(texts)].join("; ") }));
      }
      index.append(dl);
      root.append(index);
    }
  }

  function simpleTable(head, rows) {
    const t = el("table");
    t.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))));
    const body = el("tbody");
    for (const r of rows) body.append(el("tr", {}, ...r.map((c) => el("td", { text: String(c) }))));
    t.append(body);
    return t;
  }

  return { el, line, overview, COLORS };
})();
