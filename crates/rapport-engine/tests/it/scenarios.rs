//! Multi-turn scenarios (fixtures in `tests/scenarios/`): each states what the strategy, the reply and the
//! handoff must be; every scenario also checks the invariants customers rely on.

use rapport_engine::kb::KnowledgeBase;
use rapport_engine::memory::FactKind;
use rapport_engine::policy::Policy;
use rapport_engine::respond::{Responder, Response, Source};
use rapport_engine::strategy::MoveKind;
use rapport_engine::{Conversation, Engine, Role, Turn};
use serde::Deserialize;
use std::path::Path;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    turns: Vec<Turn>,
    #[serde(default)]
    policy: Option<String>,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Expect {
    moves: Vec<String>,
    not_moves: Vec<String>,
    first_move: Option<String>,
    handoff: Option<bool>,
    priority: Option<String>,
    reply_contains: Vec<String>,
    reply_lacks: Vec<String>,
    knows: Vec<String>,
    article: Option<String>,
    discreet: Option<bool>,
}

pub fn shared_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::builtin().expect("built-in models")))
        .clone()
}

pub fn responder(policy: Policy) -> Responder {
    Responder::new(
        shared_engine(),
        policy,
        Some(KnowledgeBase::example().expect("example knowledge base")),
    )
}

fn example_policy() -> Policy {
    Policy::from_toml(include_str!("../../../../examples/policy.toml")).expect("example policy")
}

fn load() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenario folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read scenario");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

fn move_name(kind: MoveKind) -> String {
    serde_json::to_value(kind)
        .expect("move name")
        .as_str()
        .expect("string")
        .to_string()
}

/// Checks one scenario; returns what failed, in words.
fn check(s: &Scenario, r: &Response, again: &Response) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |why: String| failures.push(why);
    let moves: Vec<String> = r.strategy.iter().map(|m| move_name(m.kind)).collect();
    let e = &s.expect;
    let lower = r.reply.to_lowercase();
    for m in &e.moves {
        if !moves.contains(m) {
            fail(format!("expected move {m}, got {moves:?}"));
        }
    }
    for m in &e.not_moves {
        if moves.contains(m) {
            fail(format!("unexpected move {m} in {moves:?}"));
        }
    }
    if let Some(first) = &e.first_move {
        if moves.first() != Some(first) {
            fail(format!("first move should be {first}, got {moves:?}"));
        }
    }
    if let Some(h) = e.handoff {
        if r.handoff.is_some() != h {
            fail(format!("handoff should be {h}"));
        }
    }
    if let Some(p) = &e.priority {
        let got = r.handoff.as_ref().map(|h| {
            serde_json::to_value(h.priority)
                .expect("priority")
                .as_str()
                .unwrap_or("")
                .to_string()
        });
        if got.as_deref() != Some(p.as_str()) {
            fail(format!("priority should be {p}, got {got:?}"));
        }
    }
    for c in &e.reply_contains {
        if !r.reply.contains(c.as_str()) {
            fail(format!("reply should contain {c:?}"));
        }
    }
    for c in &e.reply_lacks {
        if lower.contains(&c.to_lowercase()) {
            fail(format!("reply must not contain {c:?}"));
        }
    }
    for k in &e.knows {
        let kind = match k.as_str() {
            "order_id" => FactKind::OrderId,
            "contact" => FactKind::Contact,
            other => panic!("unknown fact kind {other} in {}", s.name),
        };
        if !r.memory.knows(kind) {
            fail(format!("memory should hold a {k}"));
        }
    }
    if let Some(a) = &e.article {
        if r.article.as_deref() != Some(a.as_str()) {
            fail(format!("article should be {a}, got {:?}", r.article));
        }
    }
    if let Some(d) = e.discreet {
        if r.discreet != d {
            fail(format!("discreet should be {d}"));
        }
    }

    // Invariants of every reply.
    if r.reply.trim().is_empty() {
        fail("empty reply".into());
    }
    if r.source != Source::Composer {
        fail(format!("expected the composer, got {:?}", r.source));
    }
    // The calibrated audit predicts a person's rating: 55 is 3.2 of 5, above a typical real agent's
    // reply (mean rating 2.7 on the annotated real conversations).
    if r.audit.score < 55 {
        fail(format!(
            "audit score {} < 55: {:?}",
            r.audit.score, r.audit.suggestions
        ));
    }
    if r.audit.hollow_sympathy {
        fail("hollow sympathy".into());
    }
    if !r.audit.pii_leak.is_empty() {
        fail(format!("PII leak {:?}", r.audit.pii_leak));
    }
    if r.signals.contains(&"human_request") && r.handoff.is_none() {
        fail("a request for a human must hand off".into());
    }
    if r.signals.contains(&"self_harm_risk")
        && moves.first().map(String::as_str) != Some("safety_protocol")
    {
        fail("self-harm risk must lead with the safety protocol".into());
    }
    if r.memory.knows(FactKind::OrderId) && lower.contains("send me your order number") {
        fail("asked again for the order number".into());
    }
    if r.memory.knows(FactKind::Contact) && lower.contains("email address on your account") {
        fail("asked again for the email address".into());
    }
    let apologised = s.turns.iter().any(|t| {
        matches!(t.role, Role::Agent | Role::Bot) && rapport_audit::count_apologies(&t.text) > 0
    });
    if apologised && rapport_audit::count_apologies(&r.reply) > 0 {
        fail("apologised again".into());
    }
    if !r.audit.policy_violations.is_empty() {
        fail(format!("policy violations {:?}", r.audit.policy_violations));
    }
    if serde_json::to_string(&r.strategy).ok() != serde_json::to_string(&again.strategy).ok()
        || r.reply != again.reply
    {
        fail("not deterministic".into());
    }
    failures
}

#[test]
fn every_scenario_holds() {
    let scenarios = load();
    assert!(scenarios.len() >= 30, "at least 30 scenarios");
    let default = responder(example_policy());
    let mut report = Vec::new();
    for s in &scenarios {
        let custom;
        let r = match &s.policy {
            Some(toml) => {
                custom = responder(Policy::from_toml(toml).expect("scenario policy"));
                &custom
            }
            None => &default,
        };
        let conversation = Conversation {
            turns: s.turns.clone(),
        };
        let first = r.reply(&s.name, &conversation).expect("reply");
        let again = r.reply(&s.name, &conversation).expect("reply");
        for why in check(s, &first, &again) {
            report.push(format!(
                "{}: {why}\n    reply: {}",
                s.name,
                first.reply.replace('\n', " / ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "{} failures:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn replies_promise_only_the_response_times_the_policy_commits_to() {
    let c = crate::conversation(&[(
        Role::Customer,
        "I want to speak to a human now, my refund is two weeks late.",
    )]);
    let silent = responder(Policy::default())
        .reply("c-commit", &c)
        .expect("reply");
    assert!(silent.handoff.is_some(), "{}", silent.reply);
    assert!(
        !silent.reply.contains("within 15 minutes")
            && silent
                .reply
                .contains("they'll reply here as soon as they can"),
        "a policy without commitments names no time of its own (the article's steps may): {}",
        silent.reply
    );
    let mut committed = Policy::default();
    committed.commitments.handoff_reply = "within 2 hours".into();
    let reply = responder(committed).reply("c-commit", &c).expect("reply");
    assert!(reply.reply.contains("within 2 hours"), "{}", reply.reply);
    let bad = Policy::from_toml("[commitments]\nupdate = \"soon. Very soon!\"\n");
    assert!(bad.is_err(), "a commitment is a time phrase, not sentences");
}
