//! `rapport train`: trains the emotion and intent models from data files and writes model files.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_signals::cx;
use rapport_signals::emotions::{self, LabelledText};
use rapport_signals::features::{FeatureConfig, VIEW_NAMES};
use rapport_signals::intent::{self, IntentExample};
use rapport_signals::model::TrainConfig;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Train the emotion model on GoEmotions TSV files; thresholds are tuned on --dev.
    Emotions {
        /// Training file (GoEmotions TSV: text, label ids, comment id).
        #[arg(long, value_name = "FILE.tsv")]
        train: PathBuf,
        /// Dev file used to tune each label's decision threshold.
        #[arg(long, value_name = "FILE.tsv")]
        dev: PathBuf,
        /// Where to write the model file.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[command(flatten)]
        hyper: Hyper,
    },
    /// Train the CX model (signals, vulnerabilities, topics, sentiment, pushback, problem state) on
    /// annotated conversations (cx_gold / cx_dialogues JSONL), on top of the emotion model and the cue
    /// lexicon; thresholds are tuned on out-of-fold predictions grouped by conversation.
    Cx {
        /// Annotated conversations, JSONL; several files are pooled.
        #[arg(long = "data", value_name = "FILE.jsonl", required = true)]
        data: Vec<PathBuf>,
        /// Where to write the model file.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Emotion model file whose outputs the CX model reads (default: the built-in model).
        #[arg(long, value_name = "PATH")]
        emotions_model: Option<PathBuf>,
        /// `fast` (models/cx.rpcx) or `accurate`: the model also reads the sentence encoder's vector of
        /// each message (models/cx-accurate.rpcx).
        #[arg(long, value_enum, default_value = "fast")]
        tier: crate::Tier,
        #[command(flatten)]
        hyper: crate::cx::CxHyper,
    },
    /// Fit the audit's calibration (how its parts combine into the score) to annotated reply ratings
    /// (cx_gold / cx_dialogues JSONL) and write it as JSON (the shipped one is models/audit.json).
    Audit {
        /// Annotated conversations, JSONL; several files are pooled.
        #[arg(long = "data", value_name = "FILE.jsonl", required = true)]
        data: Vec<PathBuf>,
        /// Where to write the calibration.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[command(flatten)]
        hyper: crate::eval::AuditHyper,
    },
    /// Distil the accurate tier's sentence encoder: a static token table fitted to follow the
    /// transformer (all-MiniLM-L6-v2) on a corpus of plain messages (no labels); see
    /// scripts/encoder-corpus.py for the corpus the shipped table was fitted on.
    Encoder {
        /// Directory with the transformer: config.json, tokenizer.json, model.safetensors.
        #[arg(long, value_name = "DIR", default_value = "models/minilm")]
        teacher: PathBuf,
        /// Plain-text corpus, one message per line; several files are pooled.
        #[arg(long = "corpus", value_name = "FILE.txt", required = true)]
        corpus: Vec<PathBuf>,
        /// Where to write the token table (safetensors, f16).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Passes over the corpus.
        #[arg(long, default_value_t = rapport_signals::encoder::DistillConfig::default().epochs)]
        epochs: usize,
        /// SGD step size.
        #[arg(long, default_value_t = rapport_signals::encoder::DistillConfig::default().rate)]
        rate: f32,
        /// Pull of each token vector back to its vector read alone.
        #[arg(long, default_value_t = rapport_signals::encoder::DistillConfig::default().l2)]
        l2: f32,
    },
    /// Train the intent model on a Bitext customer-support CSV (`instruction`, `intent` columns).
    Intent {
        /// Training file (Bitext CSV).
        #[arg(long, value_name = "FILE.csv")]
        train: PathBuf,
        /// Leave this percentage of rows out of training (a stable split by text hash) and report accuracy
        /// on them; 0 trains on every row.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=90))]
        holdout_percent: u8,
        /// Where to write the model file.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[command(flatten)]
        hyper: Hyper,
    },
}

/// Training hyper-parameters; the defaults are the ones the shipped models were trained with.
#[derive(Debug, Clone, clap::Args)]
pub struct Hyper {
    /// Passes over the training data.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// FTRL learning rate.
    #[arg(long, default_value_t = TrainConfig::default().alpha)]
    alpha: f32,
    /// L1 regularisation (sparsity).
    #[arg(long, default_value_t = TrainConfig::default().l1)]
    l1: f32,
    /// L2 regularisation.
    #[arg(long, default_value_t = TrainConfig::default().l2)]
    l2: f32,
    /// Up-weighting of rare labels' positive examples: (negatives/positives)^balance.
    #[arg(long, default_value_t = TrainConfig::default().balance)]
    balance: f32,
    /// log2 of the number of feature hash buckets per member (default: 17 for emotions, 16 for intent).
    #[arg(long, value_parser = clap::value_parser!(u32).range(8..=24))]
    bucket_bits: Option<u32>,
    /// Feature views, one model member each, averaged (chars35, chars26, words; default: all three for
    /// emotions, chars35 for intent).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(VIEW_NAMES))]
    views: Vec<String>,
    /// Random seed of the example order.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
}

impl Hyper {
    fn configs(
        &self,
        default_views: &[&str],
        default_bits: u32,
    ) -> (Vec<FeatureConfig>, TrainConfig) {
        let bits = self.bucket_bits.unwrap_or(default_bits);
        let names: Vec<&str> = if self.views.is_empty() {
            default_views.to_vec()
        } else {
            self.views.iter().map(String::as_str).collect()
        };
        let views = names
            .iter()
            .filter_map(|name| FeatureConfig::view(name, bits))
            .collect();
        let train = TrainConfig {
            epochs: self.epochs,
            alpha: self.alpha,
            l1: self.l1,
            l2: self.l2,
            balance: self.balance,
            seed: self.seed,
            ..TrainConfig::default()
        };
        (views, train)
    }
}

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} head-epochs (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

fn write_model(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn today() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis()) as i64;
    rapport_text::utc_date(ms)
}

/// A progress bar counted in model fits (one head on one fold).
pub fn fits_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} head fits (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Encoder {
            teacher,
            corpus,
            out,
            epochs,
            rate,
            l2,
        } => {
            let teacher = rapport_signals::builtin::teacher(&teacher)?;
            let mut texts = Vec::new();
            for file in &corpus {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                texts.extend(text.lines().map(str::to_string));
            }
            if texts.iter().all(|t| t.trim().is_empty()) {
                bail!("the corpus has no messages (one message per line)");
            }
            let config = rapport_signals::encoder::DistillConfig {
                epochs,
                rate,
                l2,
                ..Default::default()
            };
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let distilled = rapport_signals::encoder::distill(
                &teacher,
                &texts,
                &config,
                &|stage, done, total| {
                    bar.set_message(format!("distilling: {stage}"));
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            )?;
            bar.finish_and_clear();
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            rapport_signals::encoder::save_static_table(&distilled.table, &out)?;
            eprintln!(
                "wrote {}: held-out cosine to the teacher {:.3} (tokens read alone: {:.3}) on {} messages",
                out.display(),
                distilled.heldout_cosine_after,
                distilled.heldout_cosine_before,
                distilled.heldout
            );
            println!(
                "{}",
                serde_json::json!({
                    "heldout_cosine": distilled.heldout_cosine_after,
                    "heldout_cosine_tokens_alone": distilled.heldout_cosine_before,
                    "heldout_messages": distilled.heldout,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Cx {
            data,
            out,
            emotions_model,
            tier,
            hyper,
        } => {
            let mut conversations = Vec::new();
            for file in &data {
                conversations.extend(rapport_eval::read_cx(file)?);
            }
            let analyzer = rapport_signals::Analyzer::new(
                crate::analyze::load_emotions(emotions_model.as_deref())?,
                crate::analyze::load_intent(None)?,
            )
            .with_encoder(crate::analyze::load_encoder(tier)?);
            let features = tier.cx_features();
            let examples = crate::cx::examples(
                &analyzer,
                &conversations,
                &features,
                crate::cx::GroupBy::Conversation,
            );
            let refs: Vec<&cx::CxExample> = examples.iter().collect();
            let config = hyper.config();
            let bar = fits_bar(cx::fits(&config), "training cx");
            let mut model = cx::train(&refs, features, &config, &|| bar.inc(1))?;
            bar.finish_and_clear();
            let info = &mut model.header.info;
            info.insert("trained".into(), today().into());
            info.insert(
                "data_files".into(),
                data.iter()
                    .map(|p| rapport_eval::source_name(p))
                    .collect::<Vec<_>>()
                    .into(),
            );
            info.insert("conversations".into(), conversations.len().into());
            info.insert("examples".into(), examples.len().into());
            info.insert(
                "positives".into(),
                crate::cx::label_counts(&examples).into(),
            );
            info.insert("train_config".into(), serde_json::to_value(config)?);
            write_model(&out, &model.to_bytes())?;
            eprintln!(
                "wrote {} ({} conversations, {} examples, {} heads)",
                out.display(),
                conversations.len(),
                examples.len(),
                model.heads()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { data, out, hyper } => {
            let mut conversations = Vec::new();
            for file in &data {
                conversations.extend(rapport_eval::read_cx(file)?);
            }
            let replies =
                crate::eval::rated_replies(&conversations, crate::cx::GroupBy::Conversation)?;
            let examples = crate::eval::audit_examples(&rapport_audit::Auditor::new(), &replies)?;
            let config = hyper.config();
            let refs: Vec<&rapport_audit::calibration::Example> = examples.iter().collect();
            let mut calibration = rapport_audit::calibration::fit(&refs, &config);
            let info = &mut calibration.info;
            info.insert("trained".into(), today().into());
            info.insert(
                "data".into(),
                data.iter().map(|p| file_name(p)).collect::<Vec<_>>().into(),
            );
            info.insert("replies".into(), examples.len().into());
            info.insert("fit_config".into(), serde_json::to_value(config)?);
            write_model(&out, calibration.to_json().as_bytes())?;
            eprintln!(
                "wrote {} ({} conversations, {} rated replies)",
                out.display(),
                conversations.len(),
                examples.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Emotions {
            train,
            dev,
            out,
            hyper,
        } => {
            let load = |path: &Path| -> Result<Vec<LabelledText>> {
                Ok(rapport_eval::read_goemotions(path, emotions::LABELS.len())?
                    .into_iter()
                    .map(|row| LabelledText {
                        text: row.text,
                        labels: row.labels,
                    })
                    .collect())
            };
            let (train_rows, dev_rows) = (load(&train)?, load(&dev)?);
            let (views, config) = hyper.configs(&["chars35", "words", "chars26"], 17);
            let bar = progress_bar(
                (views.len() * config.epochs * emotions::head_names().len()) as u64,
                "training emotions",
            );
            let model =
                emotions::train_emotions(&train_rows, &dev_rows, &views, &config, &|| bar.inc(1))?;
            bar.finish_and_clear();
            let mut model = model.model().clone();
            let info = &mut model.card.info;
            info.insert("trained".into(), today().into());
            info.insert("train_file".into(), file_name(&train).into());
            info.insert("dev_file".into(), file_name(&dev).into());
            info.insert("train_examples".into(), train_rows.len().into());
            info.insert("train_config".into(), serde_json::to_value(config)?);
            write_model(&out, &model.to_bytes())?;
            eprintln!(
                "wrote {} ({} examples, {} heads)",
                out.display(),
                train_rows.len(),
                model.heads()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Intent {
            train,
            holdout_percent,
            out,
            hyper,
        } => {
            let rows = rapport_eval::read_bitext(&train)?;
            let (held, kept): (Vec<_>, Vec<_>) = rows
                .into_iter()
                .partition(|row| rapport_eval::in_holdout(&row.text, holdout_percent));
            if kept.is_empty() {
                bail!("no training rows left in {}", train.display());
            }
            let examples: Vec<IntentExample> = kept
                .iter()
                .map(|row| IntentExample {
                    text: row.text.clone(),
                    intent: row.intent.clone(),
                })
                .collect();
            let (views, config) = hyper.configs(&["chars35"], 16);
            let labels = {
                let mut l: Vec<&str> = kept.iter().map(|r| r.intent.as_str()).collect();
                l.sort_unstable();
                l.dedup();
                l.len()
            };
            let bar = progress_bar(
                (views.len() * config.epochs * labels) as u64,
                "training intent",
            );
            let model = intent::train_intent(&examples, &views, &config, &|| bar.inc(1))?;
            bar.finish_and_clear();
            let mut model = model.model().clone();
            let info = &mut model.card.info;
            info.insert("trained".into(), today().into());
            info.insert("train_file".into(), file_name(&train).into());
            info.insert("train_examples".into(), kept.len().into());
            info.insert("holdout_percent".into(), holdout_percent.into());
            info.insert("train_config".into(), serde_json::to_value(config)?);
            write_model(&out, &model.to_bytes())?;
            eprintln!(
                "wrote {} ({} examples, {labels} intents)",
                out.display(),
                kept.len()
            );
            if !held.is_empty() {
                let model = intent::IntentModel::new(model)?;
                let report = crate::eval::intent_report(&model, &held);
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
