// The dashboard and the `rapport score` report in headless Chromium. Started by scripts/browser-tests.sh,
// which runs a fresh `rapport serve` and passes: RAPPORT_URL, RAPPORT_AGENT_KEY, RAPPORT_ANALYST_KEY,
// RAPPORT_BIN (the binary, for `rapport score`) and ARTIFACTS (where screenshots go).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const URL_BASE = process.env.RAPPORT_URL;
const AGENT = process.env.RAPPORT_AGENT_KEY;
const ANALYST = process.env.RAPPORT_ANALYST_KEY;
const ARTIFACTS = process.env.ARTIFACTS || "target/browser-artifacts";
assert.ok(URL_BASE && AGENT && ANALYST, "run through scripts/browser-tests.sh");
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
let agentPage;
const run = Date.now().toString(36);

async function call(method, route, body, key = AGENT) {
  const response = await fetch(URL_BASE + route, {
    method,
    headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${route}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function conversation(customer) {
  return (await call("POST", "/v1/conversations", { customer_id: customer, channel: "chat" })).id;
}

let messageNumber = 0;
async function say(id, text, role = "customer") {
  messageNumber += 1;
  return call("POST", `/v1/conversations/${id}/messages`, { client_message_id: `m${messageNumber}`, role, text });
}

async function signIn(page, key) {
  await page.goto(URL_BASE + "/");
  await page.getByLabel("API key").fill(key);
  await page.keyboard.press("Enter");
  await page.getByText(/tenant /).first().waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name + ".png"), fullPage: true });
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  agentPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(agentPage, AGENT);
  await agentPage.locator("h2", { hasText: "Live queue" }).waitFor();
});

after(async () => {
  await browser?.close();
});

const NEUTRAL = "Hello, I have a question about my invoice.";
const DISTRESSED = "I'm desperate and panicking, I can't cope with this anymore, please help me";
const ANNOYED = "This is the second time I'm asking about my invoice and nobody answers, it's annoying.";
let calm;
let upset;

test("the queue shows a new conversation within a second of its first message", async () => {
  upset = await conversation(`customer-upset-${run}`);
  calm = await conversation(`customer-calm-${run}`);
  let started = Date.now();
  await say(upset, NEUTRAL);
  await agentPage.locator(`tr[data-id="${upset}"]`).waitFor({ timeout: 1000 });
  let elapsed = Date.now() - started;
  assert.ok(elapsed <= 1000, `shown after ${elapsed} ms`);
  started = Date.now();
  await say(calm, ANNOYED);
  await agentPage.locator(`tr[data-id="${calm}"]`).waitFor({ timeout: 1000 });
  elapsed = Date.now() - started;
  assert.ok(elapsed <= 1000, `shown after ${elapsed} ms`);
  console.log(`live update shown ${elapsed} ms after the message was acknowledged`);
  await shot(agentPage, "queue");
});

test("a distressed message moves its conversation to the top of the queue", async () => {
  // Precondition: the annoyed customer outranks the one with a plain question.
  await agentPage.waitForFunction(
    (id) => document.querySelector("#queue tbody tr")?.dataset.id === id,
    calm,
    { timeout: 3000 },
  );
  await say(upset, DISTRESSED);
  await agentPage.waitForFunction(
    (id) => document.querySelector("#queue tbody tr")?.dataset.id === id,
    upset,
    { timeout: 3000 },
  );
  const row = agentPage.locator(`tr[data-id="${upset}"]`);
  assert.match(await row.innerText(), /0\.[5-9]\d|1\.00/, "distress level shown");
  // The strategy in force follows within a moment: acknowledge the distress.
  await agentPage.waitForFunction(
    (id) => /acknowledge/.test(document.querySelector(`tr[data-id="${id}"]`)?.innerText || ""),
    upset,
    { timeout: 3000 },
  );
  await shot(agentPage, "queue-distressed-on-top");
});

test("the conversation view highlights the evidence span", async () => {
  await say(upset, "I'm so sorry to hear that. I've refunded the invoice today; you'll see it within 3 days.", "agent");
  // Keyboard only: focus the conversation's link and follow it with Enter.
  await agentPage.locator(`tr[data-id="${upset}"] a`).focus();
  await agentPage.keyboard.press("Enter");
  await agentPage.locator("h2", { hasText: `Conversation ${upset}` }).waitFor();
  const marks = agentPage.locator("mark.evidence");
  await marks.first().waitFor();
  const texts = await marks.allInnerTexts();
  assert.ok(texts.length > 0);
  for (const t of texts) assert.ok(DISTRESSED.includes(t) || NEUTRAL.includes(t), `highlight ${JSON.stringify(t)} is a span of the text`);
  assert.ok(texts.some((t) => /desperate|panicking|can't cope|help me/i.test(t)), `evidence of distress highlighted: ${texts}`);
  // The reply's audit is shown with the transcript.
  await agentPage.locator(".turn.agent .audit .score").waitFor();
  await agentPage.locator("figure.chart canvas").first().waitFor();
  await shot(agentPage, "conversation");
});

test("agent assist audits a draft reply and shows its score", async () => {
  await agentPage.getByLabel("Draft reply").fill(
    "I'm really sorry this has been so stressful. I've refunded your invoice today and emailed you the confirmation; if anything is still wrong, reply here and I'll call you.",
  );
  await agentPage.getByRole("button", { name: "Audit draft" }).click();
  const score = agentPage.locator("#assist-result .score");
  await score.waitFor({ timeout: 3000 });
  const value = Number(await score.innerText());
  assert.ok(Number.isInteger(value) && value >= 0 && value <= 100, `score ${value}`);
  await shot(agentPage, "agent-assist");
});

test("an analyst does not see the raw text of a discreet conversation", async () => {
  const discreet = await conversation(`customer-discreet-${run}`);
  const secrets = ["Sarah Jones", "sarah.jones@example.com", "chlamydia"];
  await say(discreet, "Hi, I'm Sarah Jones. I got a chlamydia test result and I'm worried, please email sarah.jones@example.com");
  await say(discreet, "I understand, I'll send the results to your registered address today.", "agent");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, ANALYST);
  await page.locator(`tr[data-id="${discreet}"]`).waitFor({ timeout: 3000 });
  assert.match(await page.locator(`tr[data-id="${discreet}"]`).innerText(), /discreet/);
  await page.goto(URL_BASE + "/#/c/" + encodeURIComponent(discreet));
  await page.locator("h2", { hasText: `Conversation ${discreet}` }).waitFor();
  await page.locator(".turn.customer").first().waitFor();
  const html = await page.content();
  for (const secret of secrets) assert.ok(!html.toLowerCase().includes(secret.toLowerCase()), `analyst page shows ${secret}`);
  assert.match(await page.locator(".turn.customer .text").first().innerText(), /\[/, "redaction markers shown");
  await shot(page, "analyst-discreet");
  await context.close();
});

test("the overview shows the charts and exports CSV", async () => {
  await agentPage.goto(URL_BASE + "/#/overview");
  await agentPage.locator("h2", { hasText: "Overview" }).waitFor();
  // States are computed shortly after each turn; the overview counts them once computed.
  await agentPage.waitForFunction(() => document.querySelectorAll("figure.chart canvas").length >= 3, null, { timeout: 5000 });
  assert.match(await agentPage.locator(".tiles").innerText(), /conversations/);
  // QA drills down: the worst replies link to their conversations, with the audit's reasons.
  await agentPage.locator("#worst-replies a[href^='#/c/']").first().waitFor({ timeout: 5000 });
  const download = agentPage.waitForEvent("download");
  await agentPage.getByRole("button", { name: "Export CSV" }).click();
  const file = await download;
  const saved = path.join(ARTIFACTS, "overview.csv");
  await file.saveAs(saved);
  await shot(agentPage, "overview");
});

test("the score report opens offline and shows its charts", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "rapport-report-"));
  const input = path.join(dir, "conversations.jsonl");
  const lines = [];
  for (let i = 0; i < 30; i++) {
    lines.push(JSON.stringify({
      id: `r${i}`,
      turns: [
        { role: "customer", text: i % 3 ? "My parcel is late and nobody answers, this is ridiculous." : "Thanks, that fixed it!" },
        { role: "agent", text: "I'm sorry it's late. I've asked the courier to deliver tomorrow and refunded the shipping." },
        { role: "customer", text: i % 2 ? "Ok, thank you." : "I'm cancelling my subscription if it doesn't come." },
      ],
    }));
  }
  writeFileSync(input, lines.join("\n") + "\n");
  execFileSync(process.env.RAPPORT_BIN, ["score", input, "--out", path.join(dir, "out")], { stdio: "pipe" });
  const context = await browser.newContext({ offline: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(pathToFileURL(path.join(dir, "out", "report.html")).href);
  await page.waitForFunction(() => document.querySelectorAll("figure.chart canvas").length >= 3, null, { timeout: 5000 });
  assert.deepEqual(requests, [], "the report makes no network request");
  assert.deepEqual(errors, []);
  assert.match(await page.locator(".tiles").innerText(), /30\s+conversations/);
  // Every list links to its conversations: here, to the report's own index of them.
  const links = page.locator("#worst-replies a[href^='#conv-']");
  assert.ok((await links.count()) > 0, "the worst replies link to their conversations");
  const href = await links.first().getAttribute("href");
  const target = page.locator(`[id="${decodeURIComponent(href.slice(1))}"]`);
  assert.equal(await target.count(), 1, `the report holds ${href}`);
  await links.first().click();
  assert.equal(await page.evaluate(() => location.hash), href);
  assert.ok((await page.locator("#hollow-replies a, section a[href^='#conv-']").count()) > 1);
  await shot(page, "report");
  await context.close();
});

test("the handoff queue lists only the conversations waiting for a person", async () => {
  await agentPage.goto(URL_BASE + "/#/queue");
  await agentPage.locator("h2", { hasText: "Live queue" }).waitFor();
  await say(calm, "I want to speak to a real person now, please.");
  await agentPage.locator(`tr[data-id="${calm}"] .badge.handoff`).waitFor({ timeout: 3000 });
  await agentPage.getByLabel("Show").selectOption("handoff");
  // The filtered queue replaces the full one: the conversation without a handoff goes.
  await agentPage.waitForFunction(
    (id) => document.getElementById("queue-filter")?.value === "handoff" && !document.querySelector(`tr[data-id="${id}"]`),
    upset,
    { timeout: 3000 },
  );
  const ids = await agentPage.locator("#queue tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.ok(ids.includes(calm), `${ids}`);
  const badges = await agentPage.locator("#queue tbody tr .badge.handoff").count();
  assert.equal(badges, ids.length, "every listed conversation is handed off");
  await shot(agentPage, "handoff-queue");
});

test("an agent takes over, edits the suggested reply, audits it, sends it and resolves: the handoff queue shrinks", async () => {
  const waiting = await conversation(`customer-waiting-${run}`);
  await say(waiting, "My order 77120 never arrived and this is the third time I'm asking. Let me speak to a manager.");
  await agentPage.goto(URL_BASE + "/#/queue");
  await agentPage.getByLabel("Show").selectOption("handoff");
  await agentPage.locator(`tr[data-id="${waiting}"]`).waitFor({ timeout: 3000 });
  const before = await agentPage.locator("#queue tbody tr").count();
  const row = agentPage.locator(`tr[data-id="${waiting}"]`);
  assert.match(await row.innerText(), /never arrived/, "the last message is in the row");
  await row.locator("a").click();
  await agentPage.locator("h2", { hasText: `Conversation ${waiting}` }).waitFor();
  await agentPage.getByRole("button", { name: "Take over" }).click();
  await agentPage.getByRole("button", { name: "Assigned to you" }).waitFor({ timeout: 3000 });
  await agentPage.getByRole("button", { name: "Suggest a reply" }).click();
  await agentPage.waitForFunction(() => document.getElementById("draft")?.value.trim().length > 20, null, { timeout: 5000 });
  const suggested = await agentPage.getByLabel("Draft reply").inputValue();
  // The agent edits the suggestion; the audit follows the edit.
  const edited = suggested + " I've also asked the courier for a delivery date and will message you by 5pm today.";
  await agentPage.getByLabel("Draft reply").fill(edited);
  await agentPage.getByRole("button", { name: "Audit draft" }).click();
  await agentPage.locator("#assist-result .score").waitFor({ timeout: 3000 });
  await shot(agentPage, "agent-workspace");
  await agentPage.getByRole("button", { name: "Send reply" }).click();
  await agentPage.locator(".turn.agent").last().waitFor({ timeout: 3000 });
  assert.equal(await agentPage.locator(".turn.agent .text").last().innerText(), edited);
  assert.equal(await agentPage.getByLabel("Draft reply").inputValue(), "", "the draft is cleared once sent");
  await agentPage.getByRole("button", { name: "Resolve", exact: true }).click();
  await agentPage.getByRole("button", { name: "Resolved" }).waitFor({ timeout: 3000 });
  const stored = await call("GET", `/v1/conversations/${waiting}`);
  assert.equal(stored.status, "resolved");
  assert.equal(stored.turns.filter((t) => t.role === "agent").length, 1, "sent once");
  await agentPage.goto(URL_BASE + "/#/queue");
  await agentPage.getByLabel("Show").selectOption("handoff");
  await agentPage.waitForFunction(
    (id) => document.getElementById("queue-filter")?.value === "handoff" && !document.querySelector(`tr[data-id="${id}"]`),
    waiting,
    { timeout: 3000 },
  );
  const after = await agentPage.locator("#queue tbody tr").count();
  assert.equal(after, before - 1, "the handoff queue shrank by one");
  await agentPage.getByLabel("Show").selectOption("open");
});

test("a draft stays with its conversation", async () => {
  const first = await conversation(`customer-first-${run}`);
  const second = await conversation(`customer-second-${run}`);
  await say(first, "Where is my replacement?");
  await say(second, "I can't log in to my account.");
  await agentPage.goto(URL_BASE + "/#/c/" + encodeURIComponent(first));
  await agentPage.locator("h2", { hasText: `Conversation ${first}` }).waitFor();
  const note = "Mark, order 77120 is being replaced today.";
  await agentPage.getByLabel("Draft reply").fill(note);
  await agentPage.goto(URL_BASE + "/#/c/" + encodeURIComponent(second));
  await agentPage.locator("h2", { hasText: `Conversation ${second}` }).waitFor();
  assert.equal(await agentPage.getByLabel("Draft reply").inputValue(), "", "the draft did not follow the agent");
  await agentPage.goto(URL_BASE + "/#/c/" + encodeURIComponent(first));
  await agentPage.locator("h2", { hasText: `Conversation ${first}` }).waitFor();
  assert.equal(await agentPage.getByLabel("Draft reply").inputValue(), note, "the draft is kept with its conversation");
  await agentPage.getByLabel("Draft reply").fill("");
});

test("an analyst sees the queue's last messages redacted", async () => {
  const id = await conversation(`customer-contact-${run}`);
  await say(id, "Please call me back on 07700 900456 or write to pat.lee@example.com about my refund.");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, ANALYST);
  const row = page.locator(`tr[data-id="${id}"]`);
  await row.waitFor({ timeout: 3000 });
  const text = await row.innerText();
  assert.match(text, /refund/);
  assert.ok(!text.includes("pat.lee@example.com") && !text.includes("900456"), text);
  await shot(page, "analyst-queue");
  await context.close();
});

test("every bar chart starts at zero", async () => {
  await agentPage.goto(URL_BASE + "/#/overview");
  await agentPage.locator("h2", { hasText: "Overview" }).waitFor();
  await agentPage.waitForFunction(() => Array.from(document.querySelectorAll("figure.chart"))
    .filter((f) => /Empathy score|Outcomes/.test(f.querySelector("figcaption").textContent) && f.dataset.yMin !== undefined).length >= 2,
  null, { timeout: 5000 });
  const mins = await agentPage.locator("figure.chart").evaluateAll((figures) =>
    figures.filter((f) => /Empathy score|Outcomes/.test(f.querySelector("figcaption").textContent)).map((f) => Number(f.dataset.yMin)));
  assert.ok(mins.length >= 2, `${mins}`);
  for (const m of mins) assert.equal(m, 0);
  await shot(agentPage, "overview-bars");
});

test("the queue renders 2,000 open conversations in under a second", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // 2,000 conversations with a message each, written through the API, 20 at a time.
  const total = 2000;
  for (let i = 0; i < total; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, total - i) }, async (_, k) => {
      const id = await conversation(`bulk-${run}-${i + k}`);
      await call("POST", `/v1/conversations/${id}/messages`, { client_message_id: "b1", role: "customer", text: `Question ${i + k} about my invoice.` });
    }));
  }
  // A live queue of 2,000 has its derived states; wait until the refresher has caught up with the burst.
  const deadline = Date.now() + 90000;
  for (;;) {
    let pending = 0;
    for (let offset = 0; offset < total + 400; offset += 200) {
      const page = await call("GET", `/v1/conversations?limit=200&offset=${offset}`);
      pending += page.items.filter((c) => !(c.state && c.state.metrics)).length;
      if (page.items.length < 200) break;
    }
    if (pending === 0) break;
    assert.ok(Date.now() < deadline, `${pending} states still pending after 90 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  await signIn(page, AGENT);
  await page.locator("#queue").waitFor({ timeout: 10000 });
  await page.waitForFunction((n) => document.querySelectorAll("#queue tbody tr").length >= n, total, { timeout: 10000 });
  // Time renders of the whole queue, from the request to the rows in the page: three of them, and the
  // median must be under a second (one slow run of a 2-core machine busy elsewhere does not decide).
  const times = [];
  for (let i = 0; i < 3; i++) {
    times.push(await page.evaluate(async (n) => {
      document.getElementById("queue").dataset.old = "1";
      const started = performance.now();
      document.getElementById("queue-filter").dispatchEvent(new Event("change"));
      await new Promise((resolve) => {
        const fresh = () => {
          const table = document.getElementById("queue");
          return table && !table.dataset.old && table.querySelectorAll("tbody tr").length >= n;
        };
        const check = () => (fresh() ? resolve() : requestAnimationFrame(check));
        requestAnimationFrame(check);
      });
      // The first frame after the rows are in: style, layout and paint of what is on screen.
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      return performance.now() - started;
    }, total));
  }
  const parts = await page.evaluate(() => window.queueTimings);
  const median = [...times].sort((a, b) => a - b)[1];
  console.log(`queue of ${total} rendered in ${times.map(Math.round).join(", ")} ms (median ${Math.round(median)}; last ${JSON.stringify(parts)})`);
  assert.ok(median < 1000, `rendered in ${times.map(Math.round)} ms (${JSON.stringify(parts)})`);
  await shot(page, "queue-2000");
  await context.close();
});
