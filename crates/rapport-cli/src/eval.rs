//! `rapport eval`: scores a model on a labelled data set; the last line of stdout is one JSON object.

use anyhow::{bail, Context, Result};
use rapport_eval::{multilabel_f1, round4, IntentRow};
use rapport_signals::emotions::{self, Grouping};
use rapport_signals::intent::IntentModel;
use rapport_signals::Analyzer;
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Emotions as `rapport analyze` reports them (model and cue lexicon) on a GoEmotions TSV file:
    /// 28-label, Ekman and sentiment macro-F1.
    Goemotions {
        /// GoEmotions TSV (text, label ids, comment id).
        file: PathBuf,
        /// Emotion model file (default: the built-in model).
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// Also print per-label F1 and support before the summary line.
        #[arg(long)]
        per_label: bool,
        /// Score the emotion model alone, without the cue lexicon that `rapport analyze` adds.
        #[arg(long)]
        model_only: bool,
        /// Write every head's probability per example to this TSV file (for calibration studies).
        #[arg(long, value_name = "FILE.tsv")]
        probabilities: Option<PathBuf>,
    },
    /// PII detection on a presidio-research synthetic JSON file: precision, recall, F2, per-type recall.
    Pii {
        /// JSON list of samples (`full_text`, `spans` with `entity_type`, `start_position`,
        /// `end_position` in characters).
        file: PathBuf,
        /// Also print each missed gold span and each wrong prediction before the summary line.
        #[arg(long)]
        errors: bool,
    },
    /// Reply audit's empathy mechanisms on EPITOME: DIR holds emotional-reactions-reddit.csv,
    /// interpretations-reddit.csv and explorations-reddit.csv; each scores `response_post` (levels 0-2).
    Epitome {
        /// Folder with the three EPITOME csv files.
        dir: PathBuf,
    },
    /// Reply audit against annotated ratings of replies (cx_gold / cx_dialogues JSONL: rated agent and bot
    /// turns, and cx_gold's `alternatives`): Spearman of the audit score with the overall, heard and
    /// moved ratings, and how often the best written reply outscores the scripted hollow one.
    ///
    /// The shipped calibration (models/audit.json) was fitted to the shared annotated files, so its
    /// figures on them are optimistic: with --cv K, grouped K-fold cross-validation instead (each fold
    /// scored by a calibration fitted on the other folds only).
    Audit {
        /// Annotated conversations, JSONL; several files are pooled.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Grouped K-fold cross-validation of the calibration (K >= 2).
        #[arg(long, value_name = "K")]
        cv: Option<usize>,
        /// What cross-validation folds keep together (with --cv).
        #[arg(long, value_enum, default_value = "conversation")]
        group_by: crate::cx::GroupBy,
        /// Also print each reply whose score is 1.5 or more rating points from its overall rating.
        #[arg(long)]
        errors: bool,
        #[command(flatten)]
        hyper: AuditHyper,
    },
    /// CX reading on annotated conversations (cx_gold or cx_dialogues JSONL): signals and vulnerabilities
    /// micro-F1 with precision, recall and per-signal figures, sentiment Spearman and 3-way macro-F1,
    /// topics micro-F1, pushback F1 and problem accuracy.
    ///
    /// With --cv K, grouped K-fold cross-validation instead: each fold is read by a model trained on the
    /// other folds only (honest figures for the data the shipped model was trained on).
    Cx {
        /// Annotated conversations, JSONL; several files are pooled.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Read every customer turn in its conversation (pushback, problem) instead of on its own.
        #[arg(long)]
        context: bool,
        /// Print each turn with a missed or wrong label before the summary line.
        #[arg(long)]
        errors: bool,
        /// Cross-validate with this many folds instead of evaluating the built-in (or --models) model.
        #[arg(long, value_name = "K")]
        cv: Option<usize>,
        /// What cross-validation folds keep together.
        #[arg(long, value_enum, default_value = "conversation")]
        group_by: crate::cx::GroupBy,
        #[command(flatten)]
        models: crate::ModelPaths,
        #[command(flatten)]
        hyper: crate::cx::CxHyper,
    },
    /// Intent model on a Bitext customer-support CSV: accuracy and macro-F1.
    Intent {
        /// Bitext CSV (`instruction`, `intent` columns).
        file: PathBuf,
        /// Intent model file (default: the built-in model).
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Cx {
            files,
            context,
            errors,
            cv,
            group_by,
            models,
            hyper,
        } => {
            let mut conversations = Vec::new();
            for file in &files {
                conversations.extend(rapport_eval::read_cx(file)?);
            }
            let mut error_lines = Vec::new();
            let errors = errors.then_some(&mut error_lines);
            let report = match cv {
                None => {
                    let analyzer = crate::analyze::load_analyzer(&models, crate::Tier::Fast)?;
                    if analyzer.cx().is_none() {
                        anyhow::bail!(
                            "no CX model: train one with `rapport train cx` or pass --cx-model"
                        );
                    }
                    let mut report =
                        crate::cx::evaluate(&analyzer, &conversations, context, errors);
                    if let Some(expect) = crate::cx::expectations(analyzer, &conversations)? {
                        report["expect"] = expect;
                    }
                    report
                }
                Some(folds) => {
                    let base = crate::analyze::load_base_analyzer(&models, crate::Tier::Fast)?;
                    // Every fold shares the base's encoder.
                    let make = |model| -> Result<Analyzer> {
                        Ok(Analyzer::new(
                            crate::analyze::load_emotions(models.emotions_model.as_deref())?,
                            crate::analyze::load_intent(models.intent_model.as_deref())?,
                        )
                        .with_encoder(base.encoder().cloned())
                        .with_cx(Some(model)))
                    };
                    let features = models.tier.unwrap_or(crate::Tier::Fast).cx_features();
                    let config = hyper.config();
                    let bar = crate::train::fits_bar(
                        rapport_signals::cx::fits(&config) * folds as u64,
                        "cross-validating cx",
                    );
                    let report = crate::cx::cross_validate(
                        &base,
                        &make,
                        &conversations,
                        features,
                        folds,
                        group_by,
                        context,
                        &config,
                        errors,
                        &|| bar.inc(1),
                    )?;
                    bar.finish_and_clear();
                    report
                }
            };
            for line in &error_lines {
                println!("{line}");
            }
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Goemotions {
            file,
            model,
            per_label,
            model_only,
            probabilities,
        } => {
            let model = crate::analyze::load_emotions(model.as_deref())?;
            let rows = rapport_eval::read_goemotions(&file, emotions::LABELS.len())?;
            let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
            if let Some(path) = probabilities {
                write_probabilities(&path, model.model(), &texts)?;
            }
            let predictions: Vec<GroupSets> = if model_only {
                model
                    .predict_batch(&texts)
                    .into_iter()
                    .map(|p| GroupSets {
                        labels: p.predicted.iter().map(|&i| emotions::LABELS[i]).collect(),
                        ekman: p.ekman,
                        sentiment: p.sentiment_group,
                    })
                    .collect()
            } else {
                let analyzer = Analyzer::new(model, crate::analyze::load_intent(None)?);
                texts
                    .par_iter()
                    .map(|text| {
                        let e = analyzer.analyze(text).emotions;
                        GroupSets {
                            labels: e.predicted,
                            ekman: e.ekman,
                            sentiment: e.sentiment_group,
                        }
                    })
                    .collect()
            };
            let to_set = |items: &mut dyn Iterator<Item = &str>| -> BTreeSet<String> {
                items.map(str::to_string).collect()
            };
            let gold: Vec<BTreeSet<String>> = rows
                .iter()
                .map(|r| to_set(&mut r.labels.iter().map(|&i| emotions::LABELS[i])))
                .collect();
            let predicted: Vec<BTreeSet<String>> = predictions
                .iter()
                .map(|p| to_set(&mut p.labels.iter().copied()))
                .collect();
            let labels = multilabel_f1(&emotions::LABELS, &gold, &predicted);
            let group_scores = |grouping: Grouping| {
                let gold: Vec<BTreeSet<String>> = rows
                    .iter()
                    .map(|r| to_set(&mut grouping.map_labels(&r.labels).into_iter()))
                    .collect();
                let predicted: Vec<BTreeSet<String>> = predictions
                    .iter()
                    .map(|p| match grouping {
                        Grouping::Ekman => to_set(&mut p.ekman.iter().copied()),
                        Grouping::Sentiment => to_set(&mut p.sentiment.iter().copied()),
                    })
                    .collect();
                let mut classes: Vec<&str> = grouping.groups().iter().map(|g| g.0).collect();
                classes.push("neutral");
                multilabel_f1(&classes, &gold, &predicted)
            };
            let ekman = group_scores(Grouping::Ekman);
            let sentiment = group_scores(Grouping::Sentiment);
            if per_label {
                for scores in [&labels, &ekman, &sentiment] {
                    for (class, f1, support) in &scores.per_class {
                        println!("{class:>16}  f1 {:.3}  support {support}", f1);
                    }
                }
            }
            let summary = json!({
                "examples": rows.len(),
                "macro_f1": round4(labels.macro_f1),
                "macro_f1_ekman": round4(ekman.macro_f1),
                "macro_f1_sentiment": round4(sentiment.macro_f1),
                "micro_f1": round4(labels.micro_f1),
            });
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Pii { file, errors } => {
            let samples = rapport_eval::read_presidio(&file)?;
            println!("{}", pii_report(&samples, errors));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            files,
            cv,
            group_by,
            errors,
            hyper,
        } => {
            let mut conversations = Vec::new();
            for file in &files {
                conversations.extend(rapport_eval::read_cx(file)?);
            }
            let replies = rated_replies(&conversations, group_by)?;
            let report = match cv {
                None => {
                    let auditor = rapport_audit::Auditor::new();
                    audit_report(&replies, &|_| &auditor, errors)?
                }
                Some(k) if k < 2 => bail!("--cv needs at least 2 folds"),
                Some(k) => {
                    let plain = rapport_audit::Auditor::new();
                    let examples = audit_examples(&plain, &replies)?;
                    let config = hyper.config();
                    let auditors: Vec<rapport_audit::Auditor> = (0..k)
                        .into_par_iter()
                        .map(|fold| {
                            let train: Vec<&rapport_audit::calibration::Example> = examples
                                .iter()
                                .filter(|e| rapport_signals::cx::fold_of(e.group, k) != fold)
                                .collect();
                            rapport_audit::Auditor::new()
                                .with_calibration(rapport_audit::calibration::fit(&train, &config))
                        })
                        .collect();
                    let mut report = audit_report(
                        &replies,
                        &|group| &auditors[rapport_signals::cx::fold_of(group, k)],
                        errors,
                    )?;
                    report["cv"] = json!(format!("{k}-fold by {group_by:?}").to_lowercase());
                    report
                }
            };
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Epitome { dir } => {
            let auditor = rapport_audit::Auditor::new();
            let mut report = serde_json::Map::new();
            for (index, (key, file)) in [
                ("emotional_reactions", "emotional-reactions-reddit.csv"),
                ("interpretations", "interpretations-reddit.csv"),
                ("explorations", "explorations-reddit.csv"),
            ]
            .into_iter()
            .enumerate()
            {
                let rows = rapport_eval::read_epitome(&dir.join(file))?;
                let predicted: Vec<u8> = rows
                    .par_iter()
                    .map(|row| auditor.mechanisms(&row.response)[index].level)
                    .collect();
                let one = |level: u8| BTreeSet::from([level.to_string()]);
                let gold: Vec<BTreeSet<String>> = rows.iter().map(|r| one(r.level)).collect();
                let pred: Vec<BTreeSet<String>> = predicted.iter().map(|&l| one(l)).collect();
                let scores = multilabel_f1(&["0", "1", "2"], &gold, &pred);
                let correct = rows
                    .iter()
                    .zip(&predicted)
                    .filter(|(r, &p)| r.level == p)
                    .count();
                report.insert(
                    key.to_string(),
                    json!({
                        "accuracy": round4(correct as f64 / rows.len().max(1) as f64),
                        "macro_f1": round4(scores.macro_f1),
                        "examples": rows.len(),
                    }),
                );
            }
            println!("{}", serde_json::Value::Object(report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Intent { file, model } => {
            let model = crate::analyze::load_intent(model.as_deref())?;
            let rows = rapport_eval::read_bitext(&file)?;
            println!("{}", serde_json::to_string(&intent_report(&model, &rows))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Predicted label and group sets of one text.
struct GroupSets {
    labels: Vec<&'static str>,
    ekman: Vec<&'static str>,
    sentiment: Vec<&'static str>,
}

/// Accuracy and macro-F1 of the intent model on labelled rows.
pub fn intent_report(model: &IntentModel, rows: &[IntentRow]) -> serde_json::Value {
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let predicted = model.predict_batch(&texts);
    let correct = rows
        .iter()
        .zip(&predicted)
        .filter(|(row, (label, _))| &row.intent == label)
        .count();
    let one = |label: &str| BTreeSet::from([label.to_string()]);
    let gold: Vec<BTreeSet<String>> = rows.iter().map(|r| one(&r.intent)).collect();
    let pred: Vec<BTreeSet<String>> = predicted.iter().map(|(l, _)| one(l)).collect();
    let scores = multilabel_f1(model.labels(), &gold, &pred);
    json!({
        "examples": rows.len(),
        "accuracy": round4(correct as f64 / rows.len().max(1) as f64),
        "macro_f1": round4(scores.macro_f1),
    })
}

fn write_probabilities(
    path: &std::path::Path,
    model: &rapport_signals::model::Model,
    texts: &[&str],
) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "{}", model.card.labels.join("\t"))?;
    for row in rapport_signals::model::predict_probabilities(model, texts) {
        let cells: Vec<String> = row.iter().map(|p| format!("{p:.5}")).collect();
        writeln!(out, "{}", cells.join("\t"))?;
    }
    out.flush()?;
    Ok(())
}

/// Gold types whose recall counts (the scope of Rapport's PII detection).
const PII_SCOPE: [&str; 10] = [
    "PERSON",
    "STREET_ADDRESS",
    "ZIP_CODE",
    "CREDIT_CARD",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "US_DRIVER_LICENSE",
];

/// Recall over in-scope gold spans (found when any prediction overlaps), precision over predictions
/// (correct when overlapping any gold span of any type), F2, and per-type recall.
pub fn pii_report(samples: &[rapport_eval::PiiSample], print_errors: bool) -> serde_json::Value {
    let detector = rapport_privacy::Detector::new();
    let predictions: Vec<Vec<rapport_privacy::Entity>> = samples
        .par_iter()
        .map(|s| detector.detect(&s.text))
        .collect();
    let mut per_type: std::collections::BTreeMap<&str, (usize, usize)> =
        PII_SCOPE.iter().map(|&t| (t, (0, 0))).collect();
    let (mut correct, mut predicted) = (0usize, 0usize);
    for (sample, found) in samples.iter().zip(&predictions) {
        let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
        for gold in &sample.spans {
            if let Some(entry) = per_type.get_mut(gold.entity_type.as_str()) {
                entry.1 += 1;
                let hit = found
                    .iter()
                    .any(|p| overlaps((p.start, p.end), (gold.start, gold.end)));
                if hit {
                    entry.0 += 1;
                } else if print_errors {
                    println!(
                        "missed {} {:?} in {:?}",
                        gold.entity_type,
                        &sample.text[gold.start..gold.end],
                        sample.text
                    );
                }
            }
        }
        for p in found {
            predicted += 1;
            if sample
                .spans
                .iter()
                .any(|g| overlaps((p.start, p.end), (g.start, g.end)))
            {
                correct += 1;
            } else if print_errors {
                println!(
                    "wrong {} {:?} in {:?}",
                    p.kind,
                    &sample.text[p.start..p.end],
                    sample.text
                );
            }
        }
    }
    let (found, support) = per_type
        .values()
        .fold((0, 0), |acc, v| (acc.0 + v.0, acc.1 + v.1));
    let recall = found as f64 / support.max(1) as f64;
    let precision = correct as f64 / predicted.max(1) as f64;
    let f2 = if precision + recall > 0.0 {
        5.0 * precision * recall / (4.0 * precision + recall)
    } else {
        0.0
    };
    let per_entity: serde_json::Map<String, serde_json::Value> = per_type
        .iter()
        .filter(|(_, v)| v.1 > 0)
        .map(|(t, v)| {
            (
                t.to_string(),
                json!({"recall": round4(v.0 as f64 / v.1 as f64), "support": v.1}),
            )
        })
        .collect();
    json!({
        "precision": round4(precision),
        "recall": round4(recall),
        "f2": round4(f2),
        "per_entity": per_entity,
    })
}

/// Hyper-parameters of the audit calibration's fit (`train audit`, `eval audit --cv`).
#[derive(Debug, Clone, clap::Args)]
pub struct AuditHyper {
    /// Passes over the rated replies.
    #[arg(long, default_value_t = FitConfig::default().epochs)]
    epochs: usize,
    /// AdaGrad step size.
    #[arg(long, default_value_t = FitConfig::default().learning_rate)]
    learning_rate: f32,
    /// L2 pull of the audit parts' weights.
    #[arg(long, default_value_t = FitConfig::default().l2_dense)]
    l2_dense: f32,
    /// L2 pull of the hashed words' weights.
    #[arg(long, default_value_t = FitConfig::default().l2_text)]
    l2_text: f32,
}

use rapport_audit::calibration::FitConfig;

impl AuditHyper {
    pub fn config(&self) -> FitConfig {
        FitConfig {
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            l2_dense: self.l2_dense,
            l2_text: self.l2_text,
            ..FitConfig::default()
        }
    }
}

/// A rated reply of an annotated conversation: an agent or bot turn, or one of cx_gold's alternatives.
pub struct RatedReply<'a> {
    pub conversation: &'a rapport_eval::CxConversation,
    /// The customer turn it answers.
    pub at: usize,
    pub text: &'a str,
    pub rating: &'a rapport_eval::ReplyRating,
    /// `best` or `hollow` for an alternative.
    pub kind: Option<&'a str>,
    /// Its cross-validation group.
    pub group: u64,
}

/// Every rated reply of `conversations`, in file order.
pub fn rated_replies(
    conversations: &[rapport_eval::CxConversation],
    by: crate::cx::GroupBy,
) -> Result<Vec<RatedReply<'_>>> {
    let mut out = Vec::new();
    for conversation in conversations {
        let group = crate::cx::group_of(conversation, by);
        for (j, turn) in conversation.turns.iter().enumerate() {
            let Some(rating) = &turn.rating else { continue };
            // The customer turn it answers: the last one before it.
            let Some(at) = conversation.turns[..j]
                .iter()
                .rposition(|t| t.role == "customer")
            else {
                continue;
            };
            out.push(RatedReply {
                conversation,
                at,
                text: &turn.text,
                rating,
                kind: None,
                group,
            });
        }
        for alternative in &conversation.alternatives {
            let at = alternative.after_turn;
            if at >= conversation.turns.len() {
                bail!(
                    "{}: an alternative answers turn {at}, past the conversation's end",
                    conversation.session
                );
            }
            out.push(RatedReply {
                conversation,
                at,
                text: &alternative.text,
                rating: &alternative.rating,
                kind: Some(alternative.kind.as_str()),
                group,
            });
        }
    }
    if out.is_empty() {
        bail!("no rated replies in these files (agent turns with heard/moved/overall labels)");
    }
    Ok(out)
}

/// The customer message a reply answers, the turns before it and the company (whose name is not a
/// leak), as the audit reads them.
fn audit_context(reply: &RatedReply) -> (String, Vec<rapport_audit::Turn>, rapport_audit::Policy) {
    let role = |r: &str| match r {
        "customer" => rapport_audit::Role::Customer,
        "bot" => rapport_audit::Role::Bot,
        _ => rapport_audit::Role::Agent,
    };
    let turns = &reply.conversation.turns;
    let history = turns[..reply.at]
        .iter()
        .map(|t| rapport_audit::Turn {
            role: role(&t.role),
            text: t.text.clone(),
        })
        .collect();
    let customer = turns.get(reply.at).map_or("", |t| t.text.as_str());
    let policy = rapport_audit::Policy {
        company_text: vec![reply.conversation.company.clone()],
        ..Default::default()
    };
    (customer.to_string(), history, policy)
}

/// The calibration's training examples for rated replies.
pub fn audit_examples(
    auditor: &rapport_audit::Auditor,
    replies: &[RatedReply],
) -> Result<Vec<rapport_audit::calibration::Example>> {
    replies
        .par_iter()
        .map(|reply| {
            let (customer, history, policy) = audit_context(reply);
            let features = auditor
                .features(&customer, reply.text, &history, &policy)
                .with_context(|| format!("auditing a reply of {}", reply.conversation.session))?;
            let r = reply.rating;
            Ok(rapport_audit::calibration::Example {
                features,
                ratings: [r.overall, r.heard, r.moved].map(f32::from),
                group: reply.group,
            })
        })
        .collect()
}

/// `rapport eval audit`: the audit's agreement with annotated reply ratings, each reply scored by the
/// auditor `auditor_for` gives for its group.
fn audit_report<'a>(
    replies: &[RatedReply],
    auditor_for: &(dyn Fn(u64) -> &'a rapport_audit::Auditor + Sync),
    print_errors: bool,
) -> Result<serde_json::Value> {
    let scores: Vec<f64> = replies
        .par_iter()
        .map(|reply| {
            let (customer, history, policy) = audit_context(reply);
            let audit = auditor_for(reply.group)
                .audit(&customer, reply.text, &history, &policy)
                .with_context(|| format!("auditing a reply of {}", reply.conversation.session))?;
            Ok(f64::from(audit.score))
        })
        .collect::<Result<_>>()?;
    if print_errors {
        for (reply, &score) in replies.iter().zip(&scores) {
            let as_rating = 1.0 + score / 25.0;
            if (as_rating - f64::from(reply.rating.overall)).abs() >= 1.5 {
                let customer = reply
                    .conversation
                    .turns
                    .get(reply.at)
                    .map_or("", |t| &t.text);
                println!(
                    "rated {} scored {score:.0} ({}) {:?} -> {:?}",
                    reply.rating.overall, reply.conversation.session, customer, reply.text
                );
            }
        }
    }
    let ratings = |f: fn(&rapport_eval::ReplyRating) -> u8| -> Vec<f64> {
        replies.iter().map(|r| f64::from(f(r.rating))).collect()
    };
    let (mut won, mut pairs) = (0usize, 0usize);
    let mut best: BTreeMap<(&str, usize), f64> = BTreeMap::new();
    for (reply, &score) in replies.iter().zip(&scores) {
        if reply.kind == Some("best") {
            best.insert((reply.conversation.session.as_str(), reply.at), score);
        }
    }
    for (reply, &score) in replies.iter().zip(&scores) {
        if reply.kind == Some("hollow") {
            if let Some(&b) = best.get(&(reply.conversation.session.as_str(), reply.at)) {
                pairs += 1;
                won += usize::from(b > score);
            }
        }
    }
    let mut per_source = serde_json::Map::new();
    let sources: BTreeSet<&str> = replies
        .iter()
        .map(|r| r.conversation.source.as_str())
        .collect();
    if sources.len() > 1 {
        for source in sources {
            let (s, o): (Vec<f64>, Vec<f64>) = replies
                .iter()
                .zip(&scores)
                .filter(|(r, _)| r.conversation.source == source)
                .map(|(r, &s)| (s, f64::from(r.rating.overall)))
                .unzip();
            per_source.insert(
                source.to_string(),
                json!({"replies": s.len(), "rho_overall": round4(rapport_eval::spearman(&s, &o))}),
            );
        }
    }
    Ok(serde_json::json!({
        "per_source": per_source,
        "replies": scores.len(),
        "rho_overall": rapport_eval::spearman(&scores, &ratings(|r| r.overall)),
        "rho_heard": rapport_eval::spearman(&scores, &ratings(|r| r.heard)),
        "rho_moved": rapport_eval::spearman(&scores, &ratings(|r| r.moved)),
        "best_over_hollow": format!("{won}/{pairs}"),
    }))
}
