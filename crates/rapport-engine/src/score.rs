//! Conversation metrics: what a supervisor measures of a finished or running conversation (sentiment
//! trajectory, empathy of the replies, resolution, escalation, churn risk, the drivers of distress), and
//! their aggregate over many conversations. One definition, used by `rapport score`, the dashboard's
//! overview and its CSV exports.
//!
//! Pure and synchronous: the caller supplies the analyses (the analyzer's output per customer turn), so a
//! service that has them stored does not analyse twice. Not the place for storage or rendering.

use crate::policy::Policy;
use crate::trajectory::{self, Trend};
use crate::{customer_analyses, Role, Turn};
use rapport_audit::Auditor;
use rapport_signals::Analysis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Signals that count as a negative state of the customer.
const NEGATIVE: [&str; 4] = ["distress", "frustration", "anger", "anxiety"];

/// A customer turn with distress at or above this is a distressed turn (its intent and topics are
/// drivers of distress).
const DISTRESSED: f32 = 0.5;

/// Metrics of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub id: String,
    pub turns: usize,
    pub customer_turns: usize,
    /// Sentiment (-1..1) of each customer turn, in order.
    #[serde(serialize_with = "round_all")]
    pub sentiment: Vec<f32>,
    /// Distress (0..1) of each customer turn, in order.
    #[serde(serialize_with = "round_all")]
    pub distress: Vec<f32>,
    #[serde(serialize_with = "round")]
    pub sentiment_first: f32,
    #[serde(serialize_with = "round")]
    pub sentiment_last: f32,
    #[serde(serialize_with = "round")]
    pub sentiment_mean: f32,
    #[serde(serialize_with = "round")]
    pub distress_peak: f32,
    pub trend: Trend,
    /// The dominant emotion of the latest customer turn (`neutral` when none stands out).
    pub emotion: String,
    /// The intent of the first customer turn that has a confident one, else of the first.
    pub intent: String,
    /// Mean audit score (0-100) of the agent and bot replies; `None` without replies.
    #[serde(serialize_with = "round_option")]
    pub empathy: Option<f32>,
    /// Audit score of each reply, in order.
    pub reply_scores: Vec<u8>,
    /// Replies with sympathy and no help.
    pub hollow_sympathy: usize,
    /// Personal data the replies repeated that the customer had not given.
    pub pii_leaks: usize,
    /// The customer ends thanking us or positive, with no negative signal.
    pub resolved: bool,
    /// The customer asked for a person, showed self-harm risk, or stayed in high distress for the
    /// policy's number of turns.
    pub escalated: bool,
    /// 0..1: churn threats, the final mood, a declining trend, unresolved (formula in [`churn_risk`]).
    pub churn_risk: f32,
    /// Signals, vulnerabilities and sensitive topics present in any customer turn, each once.
    pub signals: Vec<String>,
    /// Intents and topics of the distressed customer turns, each once.
    pub distress_drivers: Vec<String>,
    /// The reply with the lowest audit score, with what the audit says is wrong with it.
    #[serde(default)]
    pub worst_reply: Option<ReplyNote>,
}

/// One reply of a conversation as QA drills into it: where it is, its score and the audit's reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyNote {
    /// The conversation (filled in lists of the overview).
    #[serde(default)]
    pub id: String,
    /// The reply's turn index in the conversation.
    pub turn: usize,
    pub score: u8,
    pub hollow_sympathy: bool,
    /// What is wrong (flags) and how to fix it (the audit's suggestions).
    pub reasons: Vec<String>,
}

fn rounded(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

fn round<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*x))
}

fn round_option<S: serde::Serializer>(x: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.serialize_some(&rounded(*x)),
        None => s.serialize_none(),
    }
}

fn round_all<S: serde::Serializer>(xs: &[f32], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(xs.iter().map(|&x| rounded(x)))
}

/// Scores a conversation. `analyses[i]` is the analysis of turn `i` when it is a customer turn.
pub fn score(
    id: &str,
    turns: &[Turn],
    analyses: &[Option<Analysis>],
    auditor: &Auditor,
    policy: &Policy,
) -> Metrics {
    let customer = customer_analyses(analyses);
    let sentiment: Vec<f32> = customer.iter().map(|(_, a)| a.sentiment.score).collect();
    let distress: Vec<f32> = customer.iter().map(|(_, a)| level(a, "distress")).collect();
    let trend = trajectory::trajectory(&customer, Vec::new()).trend;

    let audit_policy = policy.audit_policy(Vec::new());
    let mut reply_scores = Vec::new();
    let mut hollow_sympathy = 0;
    let mut pii_leaks = 0;
    let mut worst_reply: Option<ReplyNote> = None;
    let mut last_customer: Option<usize> = None;
    for (i, turn) in turns.iter().enumerate() {
        match turn.role {
            Role::Customer => last_customer = Some(i),
            Role::Agent | Role::Bot => {
                let Some(c) = last_customer else { continue };
                // A reply that cannot be audited (empty, too long) is not a reply we can score.
                if let Ok(audit) =
                    auditor.audit(&turns[c].text, &turn.text, &turns[..i], &audit_policy)
                {
                    reply_scores.push(audit.score);
                    hollow_sympathy += usize::from(audit.hollow_sympathy);
                    pii_leaks += audit.pii_leak.len();
                    if worst_reply
                        .as_ref()
                        .is_none_or(|w: &ReplyNote| audit.score < w.score)
                    {
                        let mut reasons: Vec<String> = Vec::new();
                        if audit.hollow_sympathy {
                            reasons.push("hollow sympathy: sympathy without a fix".into());
                        }
                        if !audit.pii_leak.is_empty() {
                            reasons.push("repeats personal data the customer did not give".into());
                        }
                        if !audit.dismissive.is_empty() {
                            reasons.push("dismissive wording".into());
                        }
                        reasons.extend(audit.suggestions.iter().cloned());
                        worst_reply = Some(ReplyNote {
                            id: id.to_string(),
                            turn: i,
                            score: audit.score,
                            hollow_sympathy: audit.hollow_sympathy,
                            reasons,
                        });
                    }
                }
            }
            Role::System => {}
        }
    }
    let empathy = (!reply_scores.is_empty()).then(|| {
        reply_scores.iter().map(|&s| f32::from(s)).sum::<f32>() / reply_scores.len() as f32
    });

    let mut signals: Vec<String> = Vec::new();
    let mut drivers: Vec<String> = Vec::new();
    let push = |list: &mut Vec<String>, name: &str| {
        if !list.iter().any(|s| s == name) {
            list.push(name.to_string());
        }
    };
    for (_, a) in &customer {
        let present = a
            .signals
            .present()
            .chain(a.vulnerability.present())
            .chain(a.sensitive_topics.present());
        for name in present {
            push(&mut signals, name);
        }
        if level(a, "distress") >= DISTRESSED {
            if a.intent.label != rapport_signals::intent::OTHER {
                push(&mut drivers, &format!("intent:{}", a.intent.label));
            }
            for topic in a
                .vulnerability
                .present()
                .chain(a.sensitive_topics.present())
            {
                push(&mut drivers, &format!("topic:{topic}"));
            }
        }
    }

    let last = customer.last().map(|(_, a)| *a);
    // Read in context, the problem state says it; "thanks" while the problem is open is not resolution.
    let resolved = last.is_some_and(|a| {
        let negative = NEGATIVE.iter().any(|s| present(a, s));
        match a.reading.as_ref().map(|r| r.problem) {
            Some(problem) => problem == "resolved" || (problem == "none" && !negative),
            None => !negative && (present(a, "gratitude") || a.sentiment.score >= 0.3),
        }
    });
    let high_run = distress
        .iter()
        .rev()
        .take_while(|&&d| d >= policy.thresholds.high_distress)
        .count();
    let escalated = customer.iter().any(|(_, a)| {
        present(a, "human_request")
            || a.vulnerability
                .get("self_harm_risk")
                .is_some_and(|s| s.present())
    }) || high_run >= policy.escalation.distress_turns.max(1);
    let churn_threat = customer
        .iter()
        .map(|(_, a)| level(a, "churn_threat"))
        .fold(0.0, f32::max);
    let last_sentiment = sentiment.last().copied().unwrap_or(0.0);
    let intent = customer
        .iter()
        .find(|(_, a)| a.intent.confidence >= 0.3)
        .or(customer.first())
        .map_or_else(String::new, |(_, a)| a.intent.label.clone());
    Metrics {
        id: id.to_string(),
        turns: turns.len(),
        customer_turns: customer.len(),
        sentiment_first: sentiment.first().copied().unwrap_or(0.0),
        sentiment_last: last_sentiment,
        sentiment_mean: mean(&sentiment),
        distress_peak: distress.iter().copied().fold(0.0, f32::max),
        trend,
        emotion: last.map_or("neutral", dominant_emotion).to_string(),
        intent,
        empathy,
        hollow_sympathy,
        pii_leaks,
        resolved,
        escalated,
        churn_risk: churn_risk(churn_threat, last_sentiment, trend, resolved),
        signals,
        distress_drivers: drivers,
        worst_reply,
        sentiment,
        distress,
        reply_scores,
    }
}

/// Churn risk, 0..1: `0.6 x` the strongest churn threat, `+ 0.2 x` how negative the last sentiment is,
/// `+ 0.1` when the mood is declining, `+ 0.1` when the conversation did not end resolved.
pub fn churn_risk(churn_threat: f32, last_sentiment: f32, trend: Trend, resolved: bool) -> f32 {
    let negative = (-last_sentiment).clamp(0.0, 1.0);
    let mut risk = 0.6 * churn_threat + 0.2 * negative;
    if trend == Trend::Declining {
        risk += 0.1;
    }
    if !resolved {
        risk += 0.1;
    }
    (risk.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

/// The strongest predicted emotion other than `neutral`, else `neutral`.
pub fn dominant_emotion(a: &Analysis) -> &'static str {
    a.emotions
        .predicted
        .iter()
        .copied()
        .find(|&e| e != "neutral")
        .unwrap_or("neutral")
}

/// How the customer is now, in one word a supervisor scans: from the reading's signals and
/// vulnerabilities (an alarm first), not from the emotion model's 28 labels ("approval" for a message
/// about ending one's life is what those gave).
pub fn feeling(a: &Analysis) -> &'static str {
    let vulnerable = |name: &str| a.vulnerability.get(name).is_some_and(|s| s.present());
    if vulnerable("self_harm_risk") {
        return "at risk";
    }
    if vulnerable("bereavement") {
        return "grieving";
    }
    for (signal, word) in [
        ("distress", "distressed"),
        ("anger", "angry"),
        ("frustration", "frustrated"),
        ("anxiety", "anxious"),
        ("confusion", "confused"),
        ("gratitude", "grateful"),
    ] {
        if present(a, signal) {
            return word;
        }
    }
    match a.sentiment.label {
        "positive" => "pleased",
        "negative" => "unhappy",
        _ => "calm",
    }
}

/// What the customer needs now as a short label that quotes none of their words (it is stored and
/// shown in queues): safety, a person, a different answer, nothing more, or the kind of problem.
pub fn need_label(a: &Analysis, words: &rapport_privacy::names::Gazetteer, text: &str) -> String {
    let need = a.reading.as_ref().map_or("", |r| r.need.as_str());
    if !need.starts_with("help with") && !need.starts_with("a fix that works") && !need.is_empty() {
        return need.to_string();
    }
    let kind = crate::problem::Problem::read(text, words).kind;
    let what = match kind {
        Some(crate::problem::Kind::PurchaseMissing) => "an order or purchase that has not arrived",
        Some(crate::problem::Kind::Charge) => "a charge, refund or bill",
        Some(crate::problem::Kind::Access) => "getting back into their account",
        Some(crate::problem::Kind::DataLoss) => "lost data",
        Some(crate::problem::Kind::Fault) => "something that does not work",
        Some(crate::problem::Kind::Feedback) => "feedback passed on",
        None => "their request",
    };
    if need.starts_with("a fix that works") {
        format!("a fix that works this time: {what}")
    } else {
        format!("help with {what}")
    }
}

fn level(a: &Analysis, name: &str) -> f32 {
    a.signals.get(name).map_or(0.0, |s| s.score)
}

fn present(a: &Analysis, name: &str) -> bool {
    a.signals.get(name).is_some_and(|s| s.present())
}

fn mean(xs: &[f32]) -> f32 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f32>() / xs.len() as f32
    }
}

impl Metrics {
    /// The CSV header of [`Metrics::csv_record`].
    pub const CSV_HEADER: [&'static str; 19] = [
        "id",
        "turns",
        "customer_turns",
        "sentiment_first",
        "sentiment_last",
        "sentiment_mean",
        "distress_peak",
        "trend",
        "emotion",
        "intent",
        "empathy",
        "replies",
        "hollow_sympathy",
        "pii_leaks",
        "resolved",
        "escalated",
        "churn_risk",
        "signals",
        "distress_drivers",
    ];

    /// One CSV row (lists joined with `;`).
    pub fn csv_record(&self) -> [String; 19] {
        let trend = match self.trend {
            Trend::Improving => "improving",
            Trend::Stable => "stable",
            Trend::Declining => "declining",
        };
        [
            self.id.clone(),
            self.turns.to_string(),
            self.customer_turns.to_string(),
            format!("{:.3}", self.sentiment_first),
            format!("{:.3}", self.sentiment_last),
            format!("{:.3}", self.sentiment_mean),
            format!("{:.3}", self.distress_peak),
            trend.to_string(),
            self.emotion.clone(),
            self.intent.clone(),
            self.empathy.map_or_else(String::new, |e| format!("{e:.1}")),
            self.reply_scores.len().to_string(),
            self.hollow_sympathy.to_string(),
            self.pii_leaks.to_string(),
            self.resolved.to_string(),
            self.escalated.to_string(),
            format!("{:.3}", self.churn_risk),
            self.signals.join(";"),
            self.distress_drivers.join(";"),
        ]
    }
}

/// Positions of customer turns tracked by [`Overview::sentiment_by_turn`].
pub const TURN_POSITIONS: usize = 20;
/// Length of [`Overview::churn_risk`].
pub const CHURN_LIST: usize = 20;

/// A conversation at risk of churning, for the churn-risk list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRisk {
    pub id: String,
    pub churn_risk: f32,
    pub sentiment_last: f32,
    pub intent: String,
}

/// A running mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    pub sum: f64,
    pub count: u64,
}

impl Mean {
    pub fn add(&mut self, x: f32) {
        self.sum += f64::from(x);
        self.count += 1;
    }

    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// The aggregate of many conversations' metrics, built one conversation at a time in constant memory
/// (the churn list is bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub conversations: u64,
    pub turns: u64,
    pub customer_turns: u64,
    pub resolved: u64,
    pub escalated: u64,
    pub improving: u64,
    pub stable: u64,
    pub declining: u64,
    /// Replies by audit score: `[0-9, 10-19, ..., 90-100]`.
    pub empathy_histogram: [u64; 10],
    pub empathy: Mean,
    pub hollow_sympathy: u64,
    pub pii_leaks: u64,
    /// Mean sentiment of the n-th customer turn (the last bucket holds later turns too).
    pub sentiment_by_turn: Vec<Mean>,
    /// Dominant emotion of the latest customer turn, by conversations.
    pub emotions: BTreeMap<String, u64>,
    /// Intents and topics of distressed turns, by conversations.
    pub distress_drivers: BTreeMap<String, u64>,
    /// The conversations at highest churn risk, highest first.
    pub churn_risk: Vec<AtRisk>,
    /// The lowest-scoring replies (one per conversation), lowest first, with the audit's reasons.
    #[serde(default)]
    pub worst_replies: Vec<ReplyNote>,
    /// Conversations with hollow-sympathy replies (the first few, as examples).
    #[serde(default)]
    pub hollow_examples: Vec<String>,
    /// Example conversations of each driver of distress (the first few of each).
    #[serde(default)]
    pub driver_examples: BTreeMap<String, Vec<String>>,
}

/// Examples kept per list of the overview.
const EXAMPLES: usize = 10;
/// Example conversations kept per driver of distress.
const DRIVER_EXAMPLES: usize = 3;

impl Overview {
    pub fn add(&mut self, m: &Metrics) {
        self.conversations += 1;
        self.turns += m.turns as u64;
        self.customer_turns += m.customer_turns as u64;
        self.resolved += u64::from(m.resolved);
        self.escalated += u64::from(m.escalated);
        match m.trend {
            Trend::Improving => self.improving += 1,
            Trend::Stable => self.stable += 1,
            Trend::Declining => self.declining += 1,
        }
        for &s in &m.reply_scores {
            self.empathy_histogram[usize::from(s / 10).min(9)] += 1;
            self.empathy.add(f32::from(s));
        }
        self.hollow_sympathy += m.hollow_sympathy as u64;
        self.pii_leaks += m.pii_leaks as u64;
        if self.sentiment_by_turn.len() < TURN_POSITIONS {
            self.sentiment_by_turn
                .resize(TURN_POSITIONS, Mean::default());
        }
        for (i, &s) in m.sentiment.iter().enumerate() {
            self.sentiment_by_turn[i.min(TURN_POSITIONS - 1)].add(s);
        }
        if m.customer_turns > 0 {
            *self.emotions.entry(m.emotion.clone()).or_default() += 1;
        }
        for d in &m.distress_drivers {
            *self.distress_drivers.entry(d.clone()).or_default() += 1;
            let examples = self.driver_examples.entry(d.clone()).or_default();
            if examples.len() < DRIVER_EXAMPLES {
                examples.push(m.id.clone());
            }
        }
        if m.hollow_sympathy > 0 && self.hollow_examples.len() < EXAMPLES {
            self.hollow_examples.push(m.id.clone());
        }
        if let Some(w) = &m.worst_reply {
            let full = self.worst_replies.len() >= EXAMPLES;
            if !full || self.worst_replies.last().is_some_and(|l| l.score > w.score) {
                let at = self.worst_replies.partition_point(|r| r.score <= w.score);
                let mut note = w.clone();
                note.id = m.id.clone();
                self.worst_replies.insert(at, note);
                self.worst_replies.truncate(EXAMPLES);
            }
        }
        if m.churn_risk > 0.0 {
            self.offer_at_risk(AtRisk {
                id: m.id.clone(),
                churn_risk: m.churn_risk,
                sentiment_last: m.sentiment_last,
                intent: m.intent.clone(),
            });
        }
    }

    fn offer_at_risk(&mut self, candidate: AtRisk) {
        let full = self.churn_risk.len() >= CHURN_LIST;
        if full
            && self
                .churn_risk
                .last()
                .is_some_and(|l| l.churn_risk >= candidate.churn_risk)
        {
            return;
        }
        let at = self
            .churn_risk
            .partition_point(|r| r.churn_risk >= candidate.churn_risk);
        self.churn_risk.insert(at, candidate);
        self.churn_risk.truncate(CHURN_LIST);
    }

    /// Share of conversations resolved (0..1).
    pub fn resolution_rate(&self) -> f64 {
        ratio(self.resolved, self.conversations)
    }

    /// Share of conversations escalated (0..1).
    pub fn escalation_rate(&self) -> f64 {
        ratio(self.escalated, self.conversations)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_risk(id: &str, churn_risk: f32) -> Metrics {
        Metrics {
            id: id.into(),
            turns: 2,
            customer_turns: 1,
            sentiment: vec![-0.5],
            distress: vec![0.2],
            sentiment_first: -0.5,
            sentiment_last: -0.5,
            sentiment_mean: -0.5,
            distress_peak: 0.2,
            trend: Trend::Stable,
            emotion: "anger".into(),
            intent: "cancel_order".into(),
            empathy: Some(55.0),
            reply_scores: vec![55],
            hollow_sympathy: 0,
            pii_leaks: 0,
            resolved: false,
            escalated: false,
            churn_risk,
            signals: vec![],
            distress_drivers: vec![],
            worst_reply: None,
        }
    }

    #[test]
    fn churn_list_keeps_the_highest_risks_in_order() {
        let mut o = Overview::default();
        for i in 0..100 {
            o.add(&at_risk(&format!("c{i}"), (i % 50) as f32 / 50.0));
        }
        assert_eq!(o.churn_risk.len(), CHURN_LIST);
        assert!(o
            .churn_risk
            .windows(2)
            .all(|w| w[0].churn_risk >= w[1].churn_risk));
        assert!((o.churn_risk[0].churn_risk - 0.98).abs() < 1e-6);
        assert_eq!(o.empathy_histogram[5], 100);
    }

    #[test]
    fn churn_risk_formula() {
        assert_eq!(churn_risk(0.0, 0.5, Trend::Improving, true), 0.0);
        assert_eq!(churn_risk(1.0, -1.0, Trend::Declining, false), 1.0);
        assert!((churn_risk(0.5, 0.0, Trend::Stable, false) - 0.4).abs() < 1e-6);
    }
}
