//! The handoff packet: what a person taking over needs, readable in ten seconds. Personal data stays as
//! the conversation's pseudonyms; a person with the right role re-hydrates it from the vault.

use crate::memory::Fact;
use crate::policy::Policy;
use crate::strategy::{Move, MoveKind};
use crate::trajectory::Trend;
use crate::{Role, State};
use rapport_signals::Analysis;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal,
    High,
    Urgent,
}

/// How the customer is, now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerState {
    /// Present signals and vulnerabilities of the latest customer turn, e.g. `["frustration", "urgency"]`.
    pub signals: Vec<&'static str>,
    pub emotions: Vec<&'static str>,
    pub sentiment: f32,
    pub distress: f32,
    pub trend: Trend,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handoff {
    /// One paragraph for the person taking over.
    pub summary: String,
    pub priority: Priority,
    /// Why the conversation is handed off.
    pub reasons: Vec<String>,
    /// The customer's problem, in their first words (pseudonymised).
    pub issue: String,
    pub intent: String,
    pub tried: Vec<String>,
    pub promised: Vec<String>,
    pub customer: CustomerState,
    pub facts: Vec<Fact>,
}

/// The longest issue quoted in a packet.
const ISSUE_CHARS: usize = 160;

/// The packet, when the strategy hands off (or follows the safety protocol).
pub fn packet(state: &State, moves: &[Move], policy: &Policy) -> Option<Handoff> {
    let reasons: Vec<String> = moves
        .iter()
        .filter(|m| matches!(m.kind, MoveKind::Handoff | MoveKind::SafetyProtocol))
        .flat_map(|m| m.reasons.iter().cloned())
        .collect();
    if reasons.is_empty() {
        return None;
    }
    let customer: Vec<(usize, &Analysis)> = state.customer();
    let first = customer.first().map(|&(i, _)| state.turns[i].text.as_str());
    let issue = first.map(first_sentence).unwrap_or_default();
    let last = customer.last().map(|&(_, a)| a);
    let signals: Vec<&'static str> = last
        .map(|a| {
            a.signals
                .present()
                .chain(a.vulnerability.present())
                .collect()
        })
        .unwrap_or_default();
    let present = |n: &str| signals.contains(&n);
    let distress = last
        .and_then(|a| a.signals.get("distress"))
        .map_or(0.0, |s| s.score);
    let churn = last
        .and_then(|a| a.signals.get("churn_threat"))
        .map_or(0.0, |s| s.score);
    let vulnerable = last.is_some_and(|a| a.vulnerability.present().next().is_some());
    let priority = if present("self_harm_risk")
        || (vulnerable && distress >= policy.thresholds.high_distress)
    {
        Priority::Urgent
    } else if distress >= policy.thresholds.high_distress
        || churn >= policy.thresholds.churn
        || present("anger")
        || vulnerable
    {
        Priority::High
    } else {
        Priority::Normal
    };
    // What the customer needs, read over the conversation; the message's intent when it was read alone.
    let intent = last
        .map(|a| match &a.reading {
            Some(reading) if !reading.need.is_empty() => reading.need.clone(),
            _ => a.intent.label.clone(),
        })
        .unwrap_or_default();
    let tried: Vec<String> = state.memory.tried.iter().map(|s| s.text.clone()).collect();
    let promised: Vec<String> = state
        .memory
        .promised
        .iter()
        .map(|s| s.text.clone())
        .collect();
    let trend = state.trajectory.trend;
    let mood = if signals.is_empty() {
        "no strong signals".to_string()
    } else {
        signals.join(", ")
    };
    let staff_turns = state
        .turns
        .iter()
        .filter(|t| matches!(t.role, Role::Agent | Role::Bot))
        .count();
    let summary = format!(
        "{priority}: {issue} ({intent}). Customer: {mood}; mood {trend} over {turns} customer turns. Tried: {tried}. Promised: {promised}. {replies} so far. Handed off because {why}.",
        priority = match priority {
            Priority::Urgent => "URGENT",
            Priority::High => "High priority",
            Priority::Normal => "Normal priority",
        },
        intent = intent.replace('_', " "),
        trend = match trend {
            Trend::Improving => "improving",
            Trend::Stable => "stable",
            Trend::Declining => "declining",
        },
        turns = customer.len(),
        tried = if tried.is_empty() { "nothing yet".into() } else { tried.join("; ") },
        promised = if promised.is_empty() { "nothing yet".into() } else { promised.join("; ") },
        replies = match staff_turns {
            1 => "1 reply".to_string(),
            n => format!("{n} replies"),
        },
        why = reasons.first().map_or("", String::as_str),
    );
    Some(Handoff {
        summary,
        priority,
        reasons,
        issue,
        intent,
        tried,
        promised,
        customer: CustomerState {
            signals,
            emotions: last
                .map(|a| a.emotions.predicted.clone())
                .unwrap_or_default(),
            sentiment: last.map_or(0.0, |a| a.sentiment.score),
            distress,
            trend,
        },
        facts: state.memory.facts.clone(),
    })
}

/// The first sentence that says something: greetings and introductions are skipped.
fn first_sentence(text: &str) -> String {
    let small_talk = |s: &str| {
        let lower = s.trim().to_lowercase();
        s.split_whitespace().count() < 3
            || [
                "hi",
                "hello",
                "hey",
                "good morning",
                "good afternoon",
                "my name is",
                "i'm ",
                "this is ",
            ]
            .iter()
            .any(|p| lower.starts_with(p) && lower.split_whitespace().count() <= 6)
    };
    let sentences: Vec<&str> = text
        .split_inclusive(['.', '!', '?', '\n'])
        .filter(|s| !s.trim().is_empty())
        .collect();
    let sentence = sentences
        .iter()
        .find(|s| !small_talk(s))
        .or(sentences.first())
        .map_or("", |s| s.trim());
    let cut = rapport_text::truncate_on_char_boundary(sentence, ISSUE_CHARS);
    if cut.len() < sentence.len() {
        format!("{cut}…")
    } else {
        cut.to_string()
    }
}
