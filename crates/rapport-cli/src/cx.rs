//! Training and evaluation of the CX model on annotated conversations (`rapport train cx`,
//! `rapport eval cx`): examples from conversations, the report's metrics and grouped cross-validation.

use anyhow::{bail, Result};
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::Policy;
use rapport_engine::respond::Responder;
use rapport_engine::strategy::MoveKind;
use rapport_engine::{Conversation, Engine, Role, Turn};
use rapport_eval::{multilabel_f1, round4, CxConversation, CxLabels};
use rapport_signals::analysis::Speaker;
use rapport_signals::cues::{SIGNALS, TARGETS, TOPICS, VULNERABILITIES};
use rapport_signals::cx::{self, Context, CxExample, CxFeatures, CxModel, CxTrainConfig};
use rapport_signals::{Analysis, Analyzer};
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;

/// Hyper-parameters of the CX trainer; the defaults are the ones the shipped model was trained with.
#[derive(Debug, Clone, clap::Args)]
pub struct CxHyper {
    /// Passes over the training data.
    #[arg(long, default_value_t = CxTrainConfig::default().epochs)]
    epochs: usize,
    /// AdaGrad learning rate.
    #[arg(long, default_value_t = CxTrainConfig::default().learning_rate)]
    learning_rate: f32,
    /// L2 regularisation of the hashed n-gram weights.
    #[arg(long, default_value_t = CxTrainConfig::default().l2)]
    l2: f32,
    /// L2 regularisation of the dense inputs' weights.
    #[arg(long, default_value_t = CxTrainConfig::default().l2_dense)]
    l2_dense: f32,
    /// L2 regularisation of the sentence vector's weights (accurate tier).
    #[arg(long, default_value_t = CxTrainConfig::default().l2_embedding)]
    l2_embedding: f32,
    /// Up-weighting of rare labels' positive examples: (negatives/positives)^balance.
    #[arg(long, default_value_t = CxTrainConfig::default().balance)]
    balance: f32,
}

impl CxHyper {
    pub fn config(&self) -> CxTrainConfig {
        CxTrainConfig {
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            l2: self.l2,
            l2_dense: self.l2_dense,
            l2_embedding: self.l2_embedding,
            balance: self.balance,
            ..CxTrainConfig::default()
        }
    }
}

/// How cross-validation folds group examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// Never split a conversation across folds.
    Conversation,
    /// Never split a company across folds (conversations without a company group by themselves).
    Company,
}

fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The fold group of a conversation.
pub fn group_of(conversation: &CxConversation, by: GroupBy) -> u64 {
    match by {
        GroupBy::Company if !conversation.company.is_empty() => hash(&conversation.company),
        _ => hash(&conversation.session),
    }
}

fn speakers(conversation: &CxConversation) -> Vec<(Speaker, &str)> {
    conversation
        .turns
        .iter()
        .map(|t| {
            let speaker = if t.role == "customer" {
                Speaker::Customer
            } else {
                Speaker::Company
            };
            (speaker, t.text.as_str())
        })
        .collect()
}

/// Which heads a labelled turn makes positive.
fn positives(labels: &CxLabels) -> Vec<bool> {
    let names = cx::head_names();
    let mut out = vec![false; names.len()];
    let mut set = |name: String| {
        if let Some(i) = names.iter().position(|n| *n == name) {
            out[i] = true;
        }
    };
    labels.signals.iter().for_each(|s| set(s.clone()));
    labels
        .vulnerability
        .iter()
        .for_each(|v| set(format!("vulnerability.{v}")));
    labels.topics.iter().for_each(|t| set(format!("topic.{t}")));
    for (k, threshold) in [-2, -1, 0, 1].into_iter().enumerate() {
        out[cx::SENTIMENT_HEAD + k] = labels.sentiment > threshold;
    }
    out[cx::PUSHBACK_HEAD] = labels.pushback;
    out[cx::RESOLVED_HEAD] = labels.problem == "resolved";
    out[cx::NO_PROBLEM_HEAD] = labels.problem == "none";
    out
}

/// Training examples: every customer turn read with the reply it answers, and (for later turns) also on
/// its own, so that the model serves single messages and conversations alike.
pub fn examples(
    analyzer: &Analyzer,
    conversations: &[CxConversation],
    features: &CxFeatures,
    by: GroupBy,
) -> Vec<CxExample> {
    conversations
        .par_iter()
        .flat_map_iter(|conversation| {
            let group = group_of(conversation, by);
            let mut previous_reply: Option<&str> = None;
            let mut out = Vec::new();
            for (turn, t) in conversation.turns.iter().enumerate() {
                let Some(labels) = &t.labels else {
                    previous_reply = Some(&t.text);
                    continue;
                };
                let positives = positives(labels);
                let context = Context {
                    turn,
                    previous_reply,
                };
                out.push(CxExample {
                    input: analyzer.cx_input(&t.text, &context, features),
                    positives: positives.clone(),
                    group,
                });
                if previous_reply.is_some() {
                    let mut alone = positives;
                    alone[cx::PUSHBACK_HEAD] = false;
                    out.push(CxExample {
                        input: analyzer.cx_input(&t.text, &Context::default(), features),
                        positives: alone,
                        group,
                    });
                }
            }
            out
        })
        .collect()
}

/// One scored customer turn: gold labels and the analysis.
struct Scored<'a> {
    source: &'a str,
    session: &'a str,
    turn: usize,
    text: &'a str,
    gold: &'a CxLabels,
    analysis: Analysis,
}

/// Analyses the customer turns of `conversations`, alone or in context.
fn score_turns<'a>(
    analyzer: &Analyzer,
    conversations: &[&'a CxConversation],
    context: bool,
) -> Vec<Scored<'a>> {
    conversations
        .par_iter()
        .flat_map_iter(|conversation| {
            let analyses: Vec<Option<Analysis>> = if context {
                analyzer.analyze_conversation(&speakers(conversation))
            } else {
                conversation
                    .turns
                    .iter()
                    .map(|t| t.labels.as_ref().map(|_| analyzer.analyze(&t.text)))
                    .collect()
            };
            conversation
                .turns
                .iter()
                .zip(analyses)
                .enumerate()
                .filter_map(|(turn, (t, analysis))| {
                    Some(Scored {
                        source: &conversation.source,
                        session: &conversation.session,
                        turn,
                        text: &t.text,
                        gold: t.labels.as_ref()?,
                        analysis: analysis?,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn signal_names() -> Vec<String> {
    SIGNALS
        .iter()
        .map(|s| s.to_string())
        .chain(VULNERABILITIES.iter().map(|v| format!("vulnerability.{v}")))
        .collect()
}

fn gold_signals(labels: &CxLabels) -> BTreeSet<String> {
    labels
        .signals
        .iter()
        .cloned()
        .chain(
            labels
                .vulnerability
                .iter()
                .map(|v| format!("vulnerability.{v}")),
        )
        .collect()
}

fn predicted_signals(analysis: &Analysis) -> BTreeSet<String> {
    analysis
        .signals
        .present()
        .map(str::to_string)
        .chain(
            analysis
                .vulnerability
                .present()
                .map(|v| format!("vulnerability.{v}")),
        )
        .collect()
}

fn sentiment_class(x: f64) -> &'static str {
    if x > 0.0 {
        "positive"
    } else if x < 0.0 {
        "negative"
    } else {
        "neutral"
    }
}

fn report_refs(scored: &[&Scored<'_>], context: bool) -> serde_json::Value {
    let owned: Vec<Scored<'_>> = scored
        .iter()
        .map(|s| Scored {
            source: s.source,
            session: s.session,
            turn: s.turn,
            text: s.text,
            gold: s.gold,
            analysis: s.analysis.clone(),
        })
        .collect();
    report(&owned, context, None)
}

/// The report of `rapport eval cx` over scored turns; `--errors` lines go to `errors`.
fn report(
    scored: &[Scored<'_>],
    context: bool,
    errors: Option<&mut Vec<String>>,
) -> serde_json::Value {
    let names = signal_names();
    let gold: Vec<BTreeSet<String>> = scored.iter().map(|s| gold_signals(s.gold)).collect();
    let predicted: Vec<BTreeSet<String>> = scored
        .iter()
        .map(|s| predicted_signals(&s.analysis))
        .collect();
    let scores = multilabel_f1(&names, &gold, &predicted);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut per_signal = serde_json::Map::new();
    for name in &names {
        let (mut t, mut f, mut n, mut support) = (0usize, 0usize, 0usize, 0usize);
        for (g, p) in gold.iter().zip(&predicted) {
            let (ig, ip) = (g.contains(name), p.contains(name));
            support += usize::from(ig);
            match (ig, ip) {
                (true, true) => t += 1,
                (false, true) => f += 1,
                (true, false) => n += 1,
                _ => {}
            }
        }
        tp += t;
        fp += f;
        fn_ += n;
        if support > 0 || f > 0 {
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            per_signal.insert(
                name.clone(),
                json!({"support": support, "precision": round4(ratio(t, t + f)),
                       "recall": round4(ratio(t, t + n)), "f1": round4(rapport_eval::f1(t, f, n))}),
            );
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let gold_sentiment: Vec<f64> = scored.iter().map(|s| f64::from(s.gold.sentiment)).collect();
    let predicted_sentiment: Vec<f64> = scored
        .iter()
        .map(|s| f64::from(s.analysis.sentiment.score))
        .collect();
    let sentiment_gold: Vec<BTreeSet<String>> = gold_sentiment
        .iter()
        .map(|&x| BTreeSet::from([sentiment_class(x).to_string()]))
        .collect();
    let sentiment_predicted: Vec<BTreeSet<String>> = scored
        .iter()
        .map(|s| BTreeSet::from([s.analysis.sentiment.label.to_string()]))
        .collect();
    let sentiment = multilabel_f1(
        &["negative", "neutral", "positive"],
        &sentiment_gold,
        &sentiment_predicted,
    );
    let topic_names: Vec<String> = TOPICS.iter().map(|t| t.to_string()).collect();
    let topics_gold: Vec<BTreeSet<String>> = scored
        .iter()
        .map(|s| s.gold.topics.iter().cloned().collect())
        .collect();
    let topics_predicted: Vec<BTreeSet<String>> = scored
        .iter()
        .map(|s| {
            s.analysis
                .sensitive_topics
                .present()
                .map(str::to_string)
                .collect()
        })
        .collect();
    let topics = multilabel_f1(&topic_names, &topics_gold, &topics_predicted);
    fn reading<'s>(s: &'s Scored<'_>) -> Option<&'s rapport_signals::analysis::Reading> {
        s.analysis.reading.as_ref()
    }
    let (mut ptp, mut pfp, mut pfn, mut problem_right) = (0, 0, 0, 0);
    for s in scored {
        let pushback = reading(s).is_some_and(|r| r.pushback.present());
        match (s.gold.pushback, pushback) {
            (true, true) => ptp += 1,
            (false, true) => pfp += 1,
            (true, false) => pfn += 1,
            _ => {}
        }
        let problem = reading(s).map_or("open", |r| r.problem);
        problem_right += usize::from(problem == s.gold.problem);
    }
    if let Some(errors) = errors {
        for (s, (g, p)) in scored.iter().zip(gold.iter().zip(&predicted)) {
            let missed: Vec<&String> = g.difference(p).collect();
            let wrong: Vec<&String> = p.difference(g).collect();
            let sentiment_off =
                (f64::from(s.analysis.sentiment.score) * 2.0 - f64::from(s.gold.sentiment)).abs()
                    >= 1.5;
            let problem = reading(s).map_or("open", |r| r.problem);
            let pushback = reading(s).is_some_and(|r| r.pushback.present());
            if missed.is_empty()
                && wrong.is_empty()
                && !sentiment_off
                && (!context || (problem == s.gold.problem && pushback == s.gold.pushback))
            {
                continue;
            }
            errors.push(
                json!({"session": s.session, "turn": s.turn, "text": s.text, "missed": missed, "wrong": wrong,
                       "sentiment": {"gold": s.gold.sentiment, "predicted": round4(f64::from(s.analysis.sentiment.score))},
                       "problem": {"gold": s.gold.problem, "predicted": problem},
                       "pushback": {"gold": s.gold.pushback, "predicted": pushback}})
                .to_string(),
            );
        }
    }
    json!({
        "customer_turns": scored.len(),
        "context": context,
        "signals_micro_f1": round4(scores.micro_f1),
        "signals_precision": round4(ratio(tp, tp + fp)),
        "signals_recall": round4(ratio(tp, tp + fn_)),
        "per_signal": per_signal,
        "sentiment_rho": round4(rapport_eval::spearman(&predicted_sentiment, &gold_sentiment)),
        "sentiment_macro_f1": round4(sentiment.macro_f1),
        "topics_micro_f1": round4(topics.micro_f1),
        "pushback_f1": round4(rapport_eval::f1(ptp, pfp, pfn)),
        "problem_accuracy": round4(ratio(problem_right, scored.len())),
    })
}

/// Facts a reply may ask for again; a `not_ask` item naming one forbids asking for it.
const FACTS: [&str; 16] = [
    "number",
    "email",
    "e-mail",
    "address",
    "postcode",
    "name",
    "date of birth",
    "account",
    "order",
    "reference",
    "booking",
    "policy",
    "card",
    "phone",
    "details",
    "serial",
];

/// Whether `reply` asks for a fact named in `not_ask`: a question or request sentence mentioning it.
fn reasks(reply: &str, not_ask: &[String]) -> bool {
    let lower = reply.to_lowercase();
    let requests = [
        "could you",
        "can you",
        "please confirm",
        "please provide",
        "please send",
        "please share",
        "please tell",
        "please give",
        "what is your",
        "what's your",
        "which",
    ];
    lower
        .split_inclusive(['.', '?', '!', '\n'])
        .filter(|s| s.contains('?') || requests.iter().any(|r| s.contains(r)))
        .any(|sentence| {
            not_ask.iter().any(|item| {
                let item = item.to_lowercase();
                FACTS.iter().any(|f| {
                    item.contains(f)
                        && sentence.contains(f)
                        && requests.iter().any(|r| sentence.contains(r))
                })
            })
        })
}

/// How `rapport reply` meets the `expect` blocks of multi-turn conversations: hand off, lead with
/// safety, treat the problem as solved or not, and never re-ask a given fact.
fn expect_report(engine: Engine, conversations: &[&CxConversation]) -> Result<serde_json::Value> {
    let policy = Policy::from_toml(crate::reply::EXAMPLE_POLICY)?;
    let responder = Responder::new(
        std::sync::Arc::new(engine),
        policy,
        Some(KnowledgeBase::example()?),
    );
    let mut counts = [0usize; 5];
    let mut total = 0usize;
    let mut failures = Vec::new();
    for conversation in conversations {
        let Some(expect) = &conversation.expect else {
            continue;
        };
        let turns: Vec<Turn> = conversation
            .turns
            .iter()
            .map(|t| Turn {
                role: match t.role.as_str() {
                    "customer" => Role::Customer,
                    "bot" => Role::Bot,
                    _ => Role::Agent,
                },
                text: t.text.clone(),
            })
            .collect();
        let response = responder.reply(&conversation.session, &Conversation { turns })?;
        let has = |kind: MoveKind| response.strategy.iter().any(|m| m.kind == kind);
        let checks = [
            response.handoff.is_some() == expect.handoff,
            has(MoveKind::SafetyProtocol) == expect.safety,
            has(MoveKind::ConfirmResolution) == expect.resolved,
            !reasks(&response.reply, &expect.not_ask),
        ];
        total += 1;
        for (count, ok) in counts.iter_mut().zip(checks) {
            *count += usize::from(ok);
        }
        if checks.iter().all(|&ok| ok) {
            counts[4] += 1;
        } else {
            failures.push(json!({"session": conversation.session, "expect": {"handoff": expect.handoff,
                "safety": expect.safety, "resolved": expect.resolved},
                "got": {"handoff": response.handoff.is_some(), "safety": has(MoveKind::SafetyProtocol),
                "resolved": has(MoveKind::ConfirmResolution), "reasks": !checks[3]}}));
        }
    }
    let rate = |n: usize| {
        round4(if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        })
    };
    Ok(
        json!({"conversations": total, "accuracy": rate(counts[4]), "handoff": rate(counts[0]),
        "safety": rate(counts[1]), "resolved": rate(counts[2]), "not_ask": rate(counts[3]),
        "failures": failures}),
    )
}

/// Evaluates `analyzer` (and its CX model) on every customer turn of `conversations`.
pub fn evaluate(
    analyzer: &Analyzer,
    conversations: &[CxConversation],
    context: bool,
    errors: Option<&mut Vec<String>>,
) -> serde_json::Value {
    let all: Vec<&CxConversation> = conversations.iter().collect();
    let scored = score_turns(analyzer, &all, context);
    let mut out = report(&scored, context, errors);
    by_source(&mut out, &scored, context);
    out
}

/// With turns from several files, the headline figures of each file under `by_source`.
fn by_source(out: &mut serde_json::Value, scored: &[Scored<'_>], context: bool) {
    let mut sources: Vec<&str> = scored.iter().map(|s| s.source).collect();
    sources.sort_unstable();
    sources.dedup();
    if sources.len() < 2 {
        return;
    }
    let mut map = serde_json::Map::new();
    for source in sources {
        let part: Vec<&Scored<'_>> = scored.iter().filter(|s| s.source == source).collect();
        let mut figures = report_refs(&part, context);
        if let Some(figures) = figures.as_object_mut() {
            figures.remove("per_signal");
        }
        map.insert(source.to_string(), figures);
    }
    out["by_source"] = serde_json::Value::Object(map);
}

/// The `expect` report for conversations that carry expectations, with the given analyser.
pub fn expectations(
    analyzer: Analyzer,
    conversations: &[CxConversation],
) -> Result<Option<serde_json::Value>> {
    let with: Vec<&CxConversation> = conversations
        .iter()
        .filter(|c| c.expect.is_some())
        .collect();
    if with.is_empty() {
        return Ok(None);
    }
    expect_report(Engine::new(analyzer), &with).map(Some)
}

/// Grouped cross-validation: each fold's conversations are read by a model trained (thresholds
/// included) on the other folds only. `make_analyzer` builds an analyser around a fold's model.
#[allow(clippy::too_many_arguments)]
pub fn cross_validate(
    base: &Analyzer,
    make_analyzer: &dyn Fn(CxModel) -> Result<Analyzer>,
    conversations: &[CxConversation],
    features: CxFeatures,
    folds: usize,
    by: GroupBy,
    context: bool,
    config: &CxTrainConfig,
    errors: Option<&mut Vec<String>>,
    progress: &(dyn Fn() + Sync),
) -> Result<serde_json::Value> {
    if folds < 2 {
        bail!("--cv needs at least 2 folds");
    }
    let all = examples(base, conversations, &features, by);
    let mut scored = Vec::new();
    let mut expect_parts = Vec::new();
    for fold in 0..folds {
        let train: Vec<&CxExample> = all
            .iter()
            .filter(|e| cx::fold_of(e.group, folds) != fold)
            .collect();
        let test: Vec<&CxConversation> = conversations
            .iter()
            .filter(|c| cx::fold_of(group_of(c, by), folds) == fold)
            .collect();
        if train.is_empty() || test.is_empty() {
            continue;
        }
        let model = cx::train(&train, features, config, progress)?;
        let analyzer = make_analyzer(model.clone())?;
        scored.extend(score_turns(&analyzer, &test, context));
        let with: Vec<&CxConversation> = test
            .iter()
            .copied()
            .filter(|c| c.expect.is_some())
            .collect();
        if !with.is_empty() {
            expect_parts.push(expect_report(Engine::new(make_analyzer(model)?), &with)?);
        }
    }
    let mut out = report(&scored, context, errors);
    by_source(&mut out, &scored, context);
    if !expect_parts.is_empty() {
        out["expect"] = merge_expect(&expect_parts);
    }
    out["cv_folds"] = json!(folds);
    out["cv_group_by"] = json!(match by {
        GroupBy::Conversation => "conversation",
        GroupBy::Company => "company",
    });
    Ok(out)
}

/// Number of target heads whose labels a data set contains at least `min` times (for the model card).
pub fn label_counts(examples: &[CxExample]) -> serde_json::Map<String, serde_json::Value> {
    let names = cx::head_names();
    let mut counts = serde_json::Map::new();
    for (i, name) in names.iter().enumerate().take(TARGETS) {
        let n = examples.iter().filter(|e| e.positives[i]).count();
        counts.insert(name.clone(), n.into());
    }
    counts
}

/// Pools the per-fold expect reports.
fn merge_expect(parts: &[serde_json::Value]) -> serde_json::Value {
    let total: f64 = parts
        .iter()
        .map(|p| p["conversations"].as_f64().unwrap_or(0.0))
        .sum();
    let pooled = |key: &str| {
        let sum: f64 = parts
            .iter()
            .map(|p| p[key].as_f64().unwrap_or(0.0) * p["conversations"].as_f64().unwrap_or(0.0))
            .sum();
        round4(if total > 0.0 { sum / total } else { 0.0 })
    };
    let failures: Vec<serde_json::Value> = parts
        .iter()
        .flat_map(|p| p["failures"].as_array().cloned().unwrap_or_default())
        .collect();
    json!({"conversations": total as u64, "accuracy": pooled("accuracy"), "handoff": pooled("handoff"),
        "safety": pooled("safety"), "resolved": pooled("resolved"), "not_ask": pooled("not_ask"),
        "failures": failures})
}
