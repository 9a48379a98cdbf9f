// Rapport dashboard: the live queue, the conversation view (with agent assist) and the overview.
// Plain JavaScript, no build step. It talks to the /v1 API with the API key the user signs in with
// (kept in sessionStorage for this tab only) and follows /v1/events for live updates.
"use strict";

(() => {
  const { el } = RapportCharts;
  const main = document.getElementById("main");
  const KEY = "rapport.apiKey";
  const NAME = "rapport.agentName";
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
    const name = el("input", { id: "agent-name", type: "text", autocomplete: "name", value: localStorage.getItem(NAME) || "" });
    const form = el("form", { class: "login panel" },
      el("h2", { text: "Sign in" }),
      el("label", { for: "api-key", text: "API key" }), input,
      el("p", { id: "key-hint", class: "hint", text: "A key from `rapport keys create`. It stays in this tab only." }),
      el("label", { for: "agent-name", text: "Your name (for assignments)" }), name,
      el("button", { type: "submit", text: "Sign in" }), error);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      if (name.value.trim()) localStorage.setItem(NAME, name.value.trim());
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
    document.getElementById("who").textContent = myName() + " · " + me.role + " · tenant " + me.tenant;
    document.getElementById("signout").hidden = false;
    followEvents();
    await render();
  }

  // Who "me" is in assignments: the name given at sign-in, else the key's id.
  function myName() {
    return localStorage.getItem(NAME) || (me && me.key_id) || "agent";
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
  let queueFilter = "open";
  const TREND = { improving: ["↗", "improving"], declining: ["↘", "declining"], stable: ["→", "stable"] };
  const FILTERS = [
    ["open", "Open work (not resolved)"],
    ["handoff", "Waiting for a person (handoff)"],
    ["mine", "Assigned to me"],
    ["unassigned", "Unassigned"],
    ["resolved", "Resolved"],
  ];
  const VULNERABLE = {
    bereavement: "bereavement", financial_hardship: "hardship", health: "health",
    domestic_abuse: "domestic abuse", elderly: "elderly", disability: "disability",
  };

  // Queue order: priority (distress, vulnerability, self-harm, a request for a human), then a handoff,
  // then how long the customer has waited without an answer (up to 20 points at 10 minutes). The
  // Priority column shows this same number, so the order matches what is shown.
  function queueScore(c, now) {
    const state = c.state || {};
    const waitingMs = state.waiting_since && c.status !== "resolved" ? now - state.waiting_since : 0;
    const waiting = Math.min(20, (waitingMs / 60000) * 2);
    return Math.round(c.priority + (c.status === "handoff" ? 15 : 0) + waiting);
  }

  function waitingText(state, now) {
    if (!state || !state.waiting_since) return "answered";
    const s = Math.max(0, Math.round((now - state.waiting_since) / 1000));
    return s < 60 ? s + " s" : Math.round(s / 60) + " min";
  }

  // Every page of the list (200 a page, five pages at a time), for queues of thousands.
  async function listAll(query) {
    const items = [];
    const page = (offset) => api("/v1/conversations?limit=200&offset=" + offset + (query ? "&" + query : ""));
    for (let offset = 0; offset < 10000; offset += 1000) {
      const pages = await Promise.all([0, 200, 400, 600, 800].map((o) => page(offset + o)));
      for (const p of pages) items.push(...p.items);
      if (pages.some((p) => p.items.length < 200)) break;
    }
    return items;
  }

  function filterQuery(filter) {
    if (filter === "handoff") return "status=handoff";
    if (filter === "mine") return "assignee=" + encodeURIComponent(myName());
    if (filter === "unassigned") return "unassigned=true";
    if (filter === "resolved") return "status=resolved";
    return "";
  }

  // The queue's rows are written as one HTML string (every value escaped) and parsed once: for
  // thousands of rows this is several times cheaper than building each node. Rows are laid out as
  // grids (app.css), so their table roles are given explicitly.
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(value) {
    return String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
  }
  const turns = (n) => n + (n === 1 ? " turn" : " turns");
  const badge = (kind, text) => '<span class="badge ' + kind + '">' + text + "</span>";

  function rowHtml(score, c, now) {
    const summary = c.summary || {};
    const state = c.state || {};
    const metrics = state.metrics || {};
    const signals = summary.signals || [];
    const distress = summary.distress || 0;
    const trend = TREND[metrics.trend] || TREND.stable;
    let flags = "";
    if (signals.includes("self_harm_risk")) flags += badge("selfharm", "self-harm risk");
    for (const [name, label] of Object.entries(VULNERABLE)) if (signals.includes(name)) flags += badge("vulnerable", label);
    if (signals.includes("churn_threat") || (metrics.churn_risk || 0) >= 0.5) flags += badge("churn", "churn threat");
    if (c.priority >= 80) flags += badge("urgent", "urgent");
    if (c.discreet) flags += badge("discreet", "discreet");
    const status = ["handoff", "assigned", "resolved"].includes(c.status) ? c.status : "open";
    const alarm = signals.includes("self_harm_risk") || c.priority >= 80;
    const moves = (state.strategy || []).map((m) => m.move.replace(/_/g, " "));
    const percent = Math.round(distress * 100);
    const last = c.last_message || "";
    return '<tr role="row" class="row' + (alarm ? " alarm" : "") + '" data-id="' + esc(c.id) + '">' +
      '<td role="cell"><a href="#/c/' + esc(encodeURIComponent(c.id)) + '">' + esc(c.customer_id) + "</a>" +
        '<div class="hint">' + esc((c.external_id ? c.external_id + " · " : "") + c.channel + " · " + turns(c.turn_count)) + "</div></td>" +
      '<td role="cell" class="last" title="' + esc(last) + '">' + (last ? esc(last) : "–") + "</td>" +
      '<td role="cell"><span>' + esc(state.need || "–") + "</span>" + (moves.length ? '<div class="hint">next: ' + esc(moves.join(", ")) + "</div>" : "") + "</td>" +
      '<td role="cell"><span class="chip">' + esc(state.feeling || summary.emotion || "–") + "</span>" +
        '<div class="trend ' + trend[1] + '" title="' + trend[1] + '" aria-label="trend ' + trend[1] + '">' + trend[0] + " " + trend[1] + "</div></td>" +
      '<td role="cell"><span class="meter" role="img" aria-label="distress ' + percent + '%"><span class="w' + Math.round(percent / 5) * 5 + '"></span></span>' +
        "<span>" + distress.toFixed(2) + "</span></td>" +
      '<td role="cell">' + badge(status, status) + (c.assignee ? '<div class="hint">' + esc(c.assignee) + "</div>" : "") + "</td>" +
      '<td role="cell">' + flags + "</td>" +
      '<td role="cell">' + (c.status === "resolved" ? "–" : waitingText(state, now)) + "</td>" +
      '<td role="cell" class="priority" title="priority ' + c.priority + (c.status === "handoff" ? " + 15 handoff" : "") + ' + waiting">' + score + "</td></tr>";
  }

  async function renderQueue() {
    const now = Date.now();
    const t0 = performance.now();
    const fetched = await listAll(filterQuery(queueFilter));
    const t1 = performance.now();
    const items = (queueFilter === "open" || queueFilter === "unassigned" ? fetched.filter((c) => c.status !== "resolved") : fetched)
      .map((c) => [queueScore(c, now), c])
      .sort((a, b) => b[0] - a[0] || b[1].updated_at - a[1].updated_at);
    const select = el("select", { id: "queue-filter" }, ...FILTERS.map(([v, label]) => el("option", { value: v, text: label })));
    select.value = queueFilter;
    select.addEventListener("change", () => { queueFilter = select.value; renderQueue(); });
    const filter = el("p", { class: "filters" }, el("label", { for: "queue-filter" }, "Show", select),
      el("span", { class: "hint", id: "queue-count", text: items.length + (items.length === 1 ? " conversation" : " conversations") }));
    const table = el("table", { id: "queue", role: "table", "aria-rowcount": String(items.length + 1) });
    table.append(el("caption", { class: "hint", text: "Highest priority first: self-harm risk, distress, vulnerability, a request for a person, waiting time." }));
    table.append(el("thead", { role: "rowgroup" }, el("tr", { role: "row" }, ...["Customer", "Last message", "Needs", "Customer now", "Distress", "Status", "Flags", "Waiting", "Priority"].map((h) => el("th", { scope: "col", role: "columnheader", text: h })))));
    const body = el("tbody", { role: "rowgroup" });
    let html = "";
    for (const [score, c] of items) html += rowHtml(score, c, now);
    body.innerHTML = html;
    table.append(body);
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("tr.row");
    const focusedId = focused ? focused.dataset.id : null;
    const hadFilterFocus = document.activeElement && document.activeElement.id === "queue-filter";
    const empty = {
      open: "No open conversations. They appear here as soon as a customer writes.",
      handoff: "No conversation is waiting for a person.",
      mine: "Nothing is assigned to you (" + myName() + ").",
      unassigned: "Every open conversation has someone.",
      resolved: "Nothing resolved yet.",
    };
    main.replaceChildren(el("h2", { text: "Live queue" }),
      el("p", { class: "status", id: "connection", text: eventsAbort ? "Live: updates as they happen" : "" }), filter,
      items.length ? table : el("p", { text: empty[queueFilter] }));
    window.queueTimings = { fetch: t1 - t0, build: performance.now() - t1 };
    if (hadFilterFocus) document.getElementById("queue-filter").focus();
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

  // Drafts per conversation: a draft never follows the agent to another conversation, and is cleared
  // once sent. Each draft keeps the id it will be sent with, so a retried send stores it once.
  const drafts = new Map();
  function draftOf(id) {
    if (!drafts.has(id)) drafts.set(id, { text: "", messageId: null });
    return drafts.get(id);
  }
  function newMessageId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "dash-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function patchConversation(id, change) {
    return api("/v1/conversations/" + encodeURIComponent(id), { method: "PATCH", body: JSON.stringify(change) });
  }

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

    // Agent workspace: a suggested reply to edit, its audit as it is written, send; take over, resolve.
    const canWrite = me.role !== "analyst";
    const lastCustomer = [...c.turns].reverse().find((t) => t.role === "customer");
    const mine = draftOf(c.id);
    const draft = el("textarea", { id: "draft", "aria-describedby": "draft-hint" });
    draft.value = mine.text;
    const result = el("div", { id: "assist-result", "aria-live": "polite" });
    const suggestion = el("div", { id: "suggestion", "aria-live": "polite" });
    const history = () => c.turns.slice(0, c.turns.lastIndexOf(lastCustomer)).map((t) => ({ role: t.role, text: t.text }));
    async function auditDraft() {
      if (!lastCustomer) { result.replaceChildren(el("p", { class: "error", text: "The customer has not written yet." })); return; }
      if (!draft.value.trim()) { result.replaceChildren(el("p", { class: "error", text: "Write a draft first." })); return; }
      try {
        const audit = await api("/v1/audit", { method: "POST", body: JSON.stringify({ customer: lastCustomer.text, reply: draft.value, history: history() }) });
        result.replaceChildren(auditNode(audit, "Draft score"));
      } catch (err) {
        result.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
      }
    }
    let auditTimer = null;
    draft.addEventListener("input", () => {
      mine.text = draft.value;
      clearTimeout(auditTimer);
      if (draft.value.trim() && lastCustomer) auditTimer = setTimeout(auditDraft, 500);
    });
    const suggest = el("button", { type: "button", class: "secondary", id: "suggest", text: "Suggest a reply" });
    suggest.addEventListener("click", async () => {
      try {
        const r = await api("/v1/conversations/" + encodeURIComponent(c.id) + "/reply", { method: "POST" });
        draft.value = r.reply;
        mine.text = r.reply;
        suggestion.replaceChildren(el("p", { class: "hint", text: "Suggested by Rapport (" + r.source.replace(/_/g, " ") + "): " +
          (r.strategy || []).map((m) => m.move.replace(/_/g, " ")).join(", ") + ". Edit it before you send it; nothing is stored until you do." }));
        result.replaceChildren(auditNode(r.audit, "Draft score"));
      } catch (err) {
        suggestion.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
      }
    });
    const send = el("button", { type: "button", id: "send", text: "Send reply" });
    send.addEventListener("click", async () => {
      if (!draft.value.trim()) { result.replaceChildren(el("p", { class: "error", text: "Write a reply first." })); return; }
      if (!mine.messageId) mine.messageId = newMessageId();
      try {
        await api("/v1/conversations/" + encodeURIComponent(c.id) + "/messages", { method: "POST",
          body: JSON.stringify({ client_message_id: mine.messageId, role: "agent", text: draft.value }) });
        drafts.delete(c.id);
        announce("Reply sent.");
        await renderConversation(c.id, false);
      } catch (err) {
        result.replaceChildren(el("p", { class: "error", role: "alert", text: "Not sent: " + err.message }));
      }
    });
    const assist = el("form", { class: "panel", "aria-label": "Agent assist" },
      el("h3", { text: "Agent assist" }),
      el("p", {}, suggest), suggestion,
      el("label", { for: "draft", text: "Draft reply" }), draft,
      el("p", { id: "draft-hint", class: "hint", text: "Write, paste or ask for a suggestion: the audit updates as you write, and the reply is stored only when you send it." }),
      el("p", { class: "actions" }, el("button", { type: "submit", class: "secondary", text: "Audit draft" }), " ", canWrite ? send : ""), result);
    assist.addEventListener("submit", (e) => { e.preventDefault(); auditDraft(); });
    if (!canWrite) { suggest.hidden = true; }

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
    const status = ["handoff", "assigned", "resolved"].includes(c.status) ? c.status : "open";
    badges.append(el("span", { class: "badge " + status, text: status }));
    if (c.assignee) badges.append(el("span", { class: "hint", text: " assigned to " + c.assignee + " ·" }));
    badges.append(el("span", { class: "hint", text: " customer " + c.customer_id + " · " + (c.external_id ? "bot conversation " + c.external_id + " · " : "") + c.channel + " · priority " + c.priority + " · " + turns(c.turn_count) }));

    const actions = el("p", { class: "actions", "aria-label": "Conversation actions" });
    if (canWrite) {
      const takeOver = el("button", { type: "button", id: "take-over", text: c.assignee === myName() && c.status === "assigned" ? "Assigned to you" : "Take over" });
      takeOver.disabled = c.assignee === myName() && c.status === "assigned";
      takeOver.addEventListener("click", async () => {
        try { await patchConversation(c.id, { assignee: myName() }); announce("You have this conversation."); await renderConversation(c.id, false); }
        catch (err) { announce(err.message); }
      });
      const resolve = el("button", { type: "button", class: "secondary", id: "resolve", text: c.status === "resolved" ? "Resolved" : "Resolve" });
      resolve.disabled = c.status === "resolved";
      resolve.addEventListener("click", async () => {
        try { await patchConversation(c.id, { status: "resolved" }); announce("Conversation resolved."); await renderConversation(c.id, false); }
        catch (err) { announce(err.message); }
      });
      actions.append(takeOver, " ", resolve);
    }

    const hadFocus = document.activeElement && document.activeElement.id === "draft";
    main.replaceChildren(
      el("p", {}, el("a", { href: "#/queue", text: "← Live queue" })),
      el("h2", { text: "Conversation " + c.id }), badges, actions,
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
