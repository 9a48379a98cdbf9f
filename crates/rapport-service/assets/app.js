// Rapport dashboard: the live queue, the conversation view (with agent assist) and the overview.
// Plain JavaScript, no build step. It talks to the /v1 API with the API key the user signs in with
// (kept in sessionStorage for this tab only) and follows /v1/events for live updates.
"use strict";

(() => {
  const { el } = RapportCharts;
  const main = document.getElementById("main");
  const KEY = "rapport.apiKey";
  let me = null;
  let view = { name: "", id: null };
  let refreshTimer = null;
  let eventsAbort = null;

  // ---- API -----------------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const key = sessionStorage.getItem(KEY);
    const headers = Object.assign({ Authorization: "Bearer " + key }, options.headers || {});
    if (options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401) {
      signOut("Your API key was refused. Sign in again.");
      throw new Error("unauthorised");
    }
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const body = await response.json();
        if (body && body.error) message = body.error.message;
      } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  // Server-sent events through fetch, so that the key travels in a header and never in a URL.
  async function followEvents() {
    if (eventsAbort) eventsAbort.abort();
    const controller = new AbortController();
    eventsAbort = controller;
    while (!controller.signal.aborted) {
      try {
        const response = await fetch("/v1/events", {
          headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY), Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw new Error("events: " + response.status);
        setConnection(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
            if (data) {
              try { onEvent(JSON.parse(data)); } catch (_) { /* keep-alive or partial */ }
            }
          }
        }
      } catch (_) {
        if (controller.signal.aborted) return;
      }
      setConnection(false);
      await new Promise((r) => setTimeout(r, 1500));
    }
  }

  function setConnection(live) {
    const status = document.getElementById("connection");
    if (status) status.textContent = live ? "Live: updates as they happen" : "Reconnecting…";
  }

  function onEvent(event) {
    if (event.kind === "alert" && event.alert === "self_harm_risk") {
      announce("Self-harm risk in conversation " + event.conversation_id);
    }
    if (view.name === "queue") scheduleRefresh(100);
    else if (view.name === "conversation" && view.id === event.conversation_id) scheduleRefresh(300);
  }

  function scheduleRefresh(ms) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => render(true), ms);
  }

  function announce(text) {
    document.getElementById("announce").textContent = text;
  }

  // ---- Sign-in ---------------------------------------------------------------------------------------
  function signOut(message) {
    sessionStorage.removeItem(KEY);
    me = null;
    if (eventsAbort) eventsAbort.abort();
    document.getElementById("who").textContent = "";
    document.getElementById("signout").hidden = true;
    showLogin(message);
  }

  function showLogin(message) {
    const input = el("input", { id: "api-key", type: "password", autocomplete: "off", required: "required", "aria-describedby": "key-hint" });
    const error = el("p", { class: "error", role: "alert", text: message || "" });
    const form = el("form", { class: "login panel" },
      el("h2", { text: "Sign in" }),
      el("label", { for: "api-key", text: "API key" }), input,
      el("p", { id: "key-hint", class: "hint", text: "A key from `rapport keys create`. It stays in this tab only." }),
      el("button", { type: "submit", text: "Sign in" }), error);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      try {
        await start();
      } catch (err) {
        if (err.message !== "unauthorised") error.textContent = err.message;
      }
    });
    main.replaceChildren(form);
    input.focus();
  }

  async function start() {
    me = await api("/v1/me");
    document.getElementById("who").textContent = me.role + " · tenant " + me.tenant;
    document.getElementById("signout").hidden = false;
    followEvents();
    await render();
  }

  // ---- Routing ---------------------------------------------------------------------------------------
  function route() {
    const hash = location.hash || "#/queue";
    const m = hash.match(/^#\/c\/(.+)$/);
    if (m) return { name: "conversation", id: decodeURIComponent(m[1]) };
    if (hash.startsWith("#/overview")) return { name: "overview", id: null };
    return { name: "queue", id: null };
  }

  async function render(live) {
    if (!me) return;
    const next = route();
    const same = next.name === view.name && next.id === view.id;
    view = next;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === view.name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    try {
      if (view.name === "queue") await renderQueue();
      else if (view.name === "conversation") await renderConversation(view.id, live && same);
      else if (!live) await renderOverview();
    } catch (err) {
      if (err.message !== "unauthorised") main.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
    }
    if (!live && !same) main.focus();
  }

  // ---- Live queue ------------------------------------------------------------------------------------
  let handoffOnly = false;
  const TREND = { improving: ["↗", "improving"], declining: ["↘", "declining"], stable: ["→", "stable"] };

  // Queue order: priority (distress, vulnerability, self-harm, a request for a human), then a handoff,
  // then how long the customer has waited without an answer (up to 20 points at 10 minutes).
  function queueScore(c, now) {
    const state = c.state || {};
    const waitingMs = state.waiting_since ? now - state.waiting_since : 0;
    const waiting = Math.min(20, (waitingMs / 60000) * 2);
    return c.priority + (c.status === "handoff" ? 15 : 0) + waiting;
  }

  function waitingText(state, now) {
    if (!state || !state.waiting_since) return "answered";
    const s = Math.max(0, Math.round((now - state.waiting_since) / 1000));
    return s < 60 ? s + " s" : Math.round(s / 60) + " min";
  }

  async function renderQueue() {
    const page = await api("/v1/conversations?limit=200");
    const now = Date.now();
    const all = page.items.slice().sort((a, b) => queueScore(b, now) - queueScore(a, now) || b.updated_at - a.updated_at);
    const items = handoffOnly ? all.filter((c) => c.status === "handoff") : all;
    const toggle = el("input", { type: "checkbox", id: "handoff-only" });
    toggle.checked = handoffOnly;
    toggle.addEventListener("change", () => { handoffOnly = toggle.checked; renderQueue(); });
    const filter = el("p", {}, toggle, " ", el("label", { for: "handoff-only", text: "Handoff queue only (" + all.filter((c) => c.status === "handoff").length + ")" }));
    const table = el("table", { id: "queue" });
    table.append(el("caption", { class: "hint", text: "Highest priority first: distress, vulnerability, a request for a person, waiting time." }));
    table.append(el("thead", {}, el("tr", {}, ...["Conversation", "Customer now", "Distress", "Trend", "Strategy in force", "Waiting", "Flags", "Priority"].map((h) => el("th", { scope: "col", text: h })))));
    const body = el("tbody");
    for (const c of items) {
      const summary = c.summary || {};
      const state = c.state || {};
      const metrics = state.metrics || {};
      const signals = summary.signals || [];
      const distress = summary.distress || 0;
      const trend = TREND[metrics.trend] || TREND.stable;
      const link = el("a", { href: "#/c/" + encodeURIComponent(c.id), text: c.id });
      const flags = el("td");
      if (signals.includes("self_harm_risk")) flags.append(el("span", { class: "badge selfharm", text: "self-harm risk" }));
      if (signals.includes("churn_threat") || (metrics.churn_risk || 0) >= 0.5) flags.append(el("span", { class: "badge churn", text: "churn threat" }));
      if (c.discreet) flags.append(el("span", { class: "badge discreet", text: "discreet" }));
      if (c.status === "handoff") flags.append(el("span", { class: "badge handoff", text: "handoff" }));
      const moves = (state.strategy || []).map((m) => m.move.replace(/_/g, " "));
      const row = el("tr", { class: "row", "data-id": c.id },
        el("td", {}, link, el("div", { class: "hint", text: (c.external_id ? c.external_id + " · " : "") + c.channel + " · " + c.turn_count + " turns" })),
        el("td", {}, el("span", { class: "chip", text: summary.emotion || metrics.emotion || "–" })),
        el("td", {}, el("span", { class: "meter", role: "img", "aria-label": "distress " + Math.round(distress * 100) + "%" }, el("span", { style: "width:" + Math.round(distress * 100) + "%" })), el("span", { text: distress.toFixed(2) })),
        el("td", {}, el("span", { class: "trend " + trend[1], title: trend[1], "aria-label": trend[1], text: trend[0] + " " + trend[1] })),
        el("td", { text: moves.length ? moves.join(", ") : "–" }),
        el("td", { text: waitingText(state, now) }),
        flags,
        el("td", { text: String(c.priority) }));
      body.append(row);
    }
    table.append(body);
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("tr.row");
    const focusedId = focused ? focused.dataset.id : null;
    const hadToggleFocus = document.activeElement && document.activeElement.id === "handoff-only";
    main.replaceChildren(el("h2", { text: "Live queue" }),
      el("p", { class: "status", id: "connection", text: eventsAbort ? "Live: updates as they happen" : "" }), filter,
      items.length ? table : el("p", { text: handoffOnly ? "No conversation is waiting for a person." : "No conversations yet. They appear here as soon as a customer writes." }));
    if (hadToggleFocus) document.getElementById("handoff-only").focus();
    if (focusedId) {
      const again = main.querySelector('tr.row[data-id="' + CSS.escape(focusedId) + '"] a');
      if (again) again.focus();
    }
  }

  // Arrow keys move between rows of the queue; Enter follows the focused link.
  document.addEventListener("keydown", (e) => {
    if (view.name !== "queue" || !["ArrowDown", "ArrowUp"].includes(e.key)) return;
    const links = Array.from(main.querySelectorAll("#queue tbody a"));
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = e.key === "ArrowDown" ? Math.min(links.length - 1, at + 1) : Math.max(0, at - 1);
    links[next].focus();
    e.preventDefault();
  });

  // ---- Conversation view -----------------------------------------------------------------------------
  function highlighted(text, marks) {
    const out = el("p", { class: "text" });
    let at = 0;
    for (const m of marks) {
      if (m.start < at) continue; // overlapping evidence: the first span wins
      if (m.start > at) out.append(text.slice(at, m.start));
      out.append(el("mark", { class: "evidence", title: m.label.replace(/_/g, " "), "data-label": m.label, text: text.slice(m.start, m.end) }));
      at = m.end;
    }
    if (at < text.length) out.append(text.slice(at));
    return out;
  }

  function scoreNode(score) {
    return el("span", { class: "score " + (score >= 70 ? "good" : score < 50 ? "poor" : ""), text: String(score) });
  }

  function auditNode(audit, label) {
    const box = el("div", { class: "audit" }, el("strong", { text: label + ": " }), scoreNode(audit.score), " / 100");
    const flags = [];
    if (audit.hollow_sympathy) flags.push("hollow sympathy");
    if ((audit.pii_leak || []).length) flags.push("personal data leak");
    if ((audit.dismissive || []).length) flags.push("dismissive wording");
    if ((audit.repetition || []).length) flags.push("repetition");
    if (audit.over_apology) flags.push("over-apology");
    if (flags.length) box.append(el("span", { class: "hint", text: " · " + flags.join(", ") }));
    if ((audit.suggestions || []).length) {
      box.append(el("ul", { class: "suggestions" }, ...audit.suggestions.map((s) => el("li", { text: s }))));
    }
    return box;
  }

  let draftText = "";

  async function renderConversation(id, live) {
    const c = await api("/v1/conversations/" + encodeURIComponent(id));
    const transcript = el("section", { "aria-label": "Transcript" }, el("h3", { text: "Transcript" }));
    for (const t of c.turns) {
      const turn = el("article", { class: "turn " + t.role },
        el("div", { class: "who", text: t.role + (t.redacted ? " · redacted" : "") }),
        highlighted(t.text, t.highlights || []));
      if (t.analysis) {
        const present = [];
        for (const group of ["signals", "vulnerability", "sensitive_topics"]) {
          for (const [name, s] of Object.entries(t.analysis[group] || {})) if (s.score >= 0.5) present.push(name);
        }
        const chips = el("div", {}, el("span", { class: "chip", text: "sentiment " + t.analysis.sentiment.score.toFixed(2) }));
        for (const p of present) chips.append(el("span", { class: "chip", text: p.replace(/_/g, " ") }));
        turn.append(chips);
      }
      if (t.audit) turn.append(auditNode(t.audit, "Reply audit"));
      transcript.append(turn);
    }

    // Agent assist: audit a draft against the latest customer turn before sending it.
    const lastCustomer = [...c.turns].reverse().find((t) => t.role === "customer");
    const draft = el("textarea", { id: "draft", "aria-describedby": "draft-hint" });
    draft.value = draftText;
    draft.addEventListener("input", () => { draftText = draft.value; });
    const result = el("div", { id: "assist-result", "aria-live": "polite" });
    const assist = el("form", { class: "panel", "aria-label": "Agent assist" },
      el("h3", { text: "Agent assist" }),
      el("label", { for: "draft", text: "Draft reply" }), draft,
      el("p", { id: "draft-hint", class: "hint", text: "Paste or write your reply: its audit shows before you send it." }),
      el("button", { type: "submit", text: "Audit draft" }), result);
    assist.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!lastCustomer) { result.replaceChildren(el("p", { class: "error", text: "The customer has not written yet." })); return; }
      if (!draft.value.trim()) { result.replaceChildren(el("p", { class: "error", text: "Write a draft first." })); return; }
      try {
        const history = c.turns.slice(0, c.turns.lastIndexOf(lastCustomer)).map((t) => ({ role: t.role, text: t.text }));
        const audit = await api("/v1/audit", { method: "POST", body: JSON.stringify({ customer: lastCustomer.text, reply: draft.value, history }) });
        result.replaceChildren(auditNode(audit, "Draft score"));
      } catch (err) {
        result.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
      }
    });

    const side = el("aside", { "aria-label": "State of the conversation" });
    const points = (c.trajectory && c.trajectory.points) || [];
    const chartBox = el("div");
    side.append(chartBox);
    RapportCharts.line(chartBox, "Trajectory (customer turns)", points.map((p, i) => i + 1), [
      { label: "sentiment", values: points.map((p) => p.sentiment), color: RapportCharts.COLORS.sentiment },
      { label: "distress", values: points.map((p) => p.distress), color: RapportCharts.COLORS.distress },
    ], [-1, 1], "customer turn");
    if (c.trajectory && c.trajectory.trend) side.append(el("p", { text: "Trend: " + c.trajectory.trend }));

    const strategy = el("section", { class: "panel" }, el("h3", { text: "Strategy for the next reply" }));
    const list = el("ol");
    for (const m of c.strategy || []) list.append(el("li", {}, el("strong", { text: m.move.replace(/_/g, " ") }), " — " + m.reasons.join("; ")));
    strategy.append(list);
    side.append(strategy);

    const memory = el("section", { class: "panel" }, el("h3", { text: "Memory" }));
    const dl = el("dl", { class: "memory" });
    const mem = c.memory || {};
    for (const f of mem.facts || []) dl.append(el("dt", { text: f.kind.replace(/_/g, " ") }), el("dd", { text: f.value }));
    for (const [label, key] of [["tried", "tried"], ["promised", "promised"], ["open question", "open_questions"]]) {
      for (const s of mem[key] || []) dl.append(el("dt", { text: label }), el("dd", { text: s.text }));
    }
    memory.append(dl.childNodes.length ? dl : el("p", { text: "Nothing remembered yet." }));
    side.append(memory);

    const handoff = el("section", { class: "panel", id: "handoff" }, el("h3", { text: "Handoff packet" }));
    if (c.handoff) {
      handoff.append(el("p", {}, el("span", { class: "badge handoff", text: c.handoff.priority }), " " + c.handoff.summary));
      if ((c.handoff.reasons || []).length) handoff.append(el("ul", {}, ...c.handoff.reasons.map((r) => el("li", { text: r }))));
    } else {
      handoff.append(el("p", { text: "No handoff: the strategy keeps the conversation with the assistant." }));
    }
    side.append(handoff);

    const badges = el("p");
    if (c.discreet) badges.append(el("span", { class: "badge discreet", text: "discreet" }));
    if (c.status === "handoff") badges.append(el("span", { class: "badge handoff", text: "handoff" }));
    badges.append(el("span", { class: "hint", text: (c.external_id ? "bot conversation " + c.external_id + " · " : "") + c.channel + " · priority " + c.priority + " · " + c.turn_count + " turns" }));

    const hadFocus = document.activeElement && document.activeElement.id === "draft";
    main.replaceChildren(
      el("p", {}, el("a", { href: "#/queue", text: "← Live queue" })),
      el("h2", { text: "Conversation " + c.id }), badges,
      el("p", { class: "status", id: "connection", text: "Live: updates as they happen" }),
      el("div", { class: "layout" }, el("div", {}, transcript, assist), side));
    if (live && hadFocus) document.getElementById("draft").focus();
  }

  // ---- Overview --------------------------------------------------------------------------------------
  const DAY = 86400000;
  let filters = null;

  function dateInput(id, label, ms) {
    const input = el("input", { id, type: "date", value: new Date(ms).toISOString().slice(0, 10) });
    return [el("label", { for: id }, label, input), input];
  }

  async function renderOverview() {
    if (!filters) filters = { from: Date.now() - 30 * DAY, to: Date.now() + DAY, channel: "" };
    const query = "from=" + filters.from + "&to=" + filters.to + (filters.channel ? "&channel=" + encodeURIComponent(filters.channel) : "");
    const data = await api("/v1/overview?" + query);
    const [fromLabel, fromInput] = dateInput("from", "From", filters.from);
    const [toLabel, toInput] = dateInput("to", "To (exclusive)", filters.to);
    const channel = el("select", { id: "channel" }, el("option", { value: "", text: "All channels" }),
      ...data.channels.map((ch) => el("option", { value: ch, text: ch })));
    channel.value = filters.channel;
    const form = el("form", { class: "filters", "aria-label": "Filters" }, fromLabel, toLabel,
      el("label", { for: "channel" }, "Channel", channel), el("button", { type: "submit", text: "Apply" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const from = Date.parse(fromInput.value), to = Date.parse(toInput.value);
      if (Number.isNaN(from) || Number.isNaN(to) || from >= to) { announce("Choose a start before the end."); return; }
      filters = { from, to, channel: channel.value };
      render();
    });
    const exportButton = el("button", { type: "button", class: "secondary", text: "Export CSV" });
    exportButton.addEventListener("click", async () => {
      try {
        const csv = await api("/v1/overview.csv?" + query);
        const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
        const a = el("a", { href: url, download: "rapport-conversations.csv" });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } catch (err) { announce(err.message); }
    });
    const body = el("div", { id: "overview" });
    main.replaceChildren(el("h2", { text: "Overview · tenant " + data.tenant }), form, el("p", {}, exportButton),
      data.pending ? el("p", { class: "hint", text: data.pending + " conversations are still being scored." }) : "", body);
    RapportCharts.overview(body, data.overview, data.sentiment_by_day,
      (id) => el("a", { href: "#/c/" + encodeURIComponent(id), text: id }));
  }

  // ---- Start -----------------------------------------------------------------------------------------
  document.getElementById("signout").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => render());
  if (sessionStorage.getItem(KEY)) start().catch(() => {});
  else showLogin("");
})();
