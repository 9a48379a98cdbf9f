//! `rapport analyze`: one JSON analysis per message.

use crate::{ModelPaths, Tier};
use anyhow::{bail, Context, Result};
use rapport_signals::cx::CxModel;
use rapport_signals::emotions::EmotionModel;
use rapport_signals::encoder::Encoder;
use rapport_signals::intent::IntentModel;
use rapport_signals::model::Model;
use rapport_signals::{builtin, Analyzer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The message to analyse; without it, stdin is read, one message per line.
    #[arg(conflicts_with = "conversation")]
    text: Option<String>,
    /// Read a whole conversation (JSON `{"turns": [{"role", "text"}]}`, the shape `rapport reply` reads)
    /// and print one JSON object per customer turn, in order: its analysis in context with `turn`,
    /// `pushback`, `problem` and `need`.
    #[arg(long, value_name = "FILE.json")]
    conversation: Option<std::path::PathBuf>,
    #[command(flatten)]
    models: ModelPaths,
}

fn read_model(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).with_context(|| format!("reading model {}", path.display()))?;
    Model::from_bytes(&bytes).with_context(|| format!("loading model {}", path.display()))
}

/// Loads the emotion model from a file, or the built-in one.
pub fn load_emotions(path: Option<&Path>) -> Result<EmotionModel> {
    Ok(match path {
        Some(path) => EmotionModel::new(read_model(path)?)?,
        None => builtin::emotion_model()?,
    })
}

/// Loads the intent model from a file, or the built-in one.
pub fn load_intent(path: Option<&Path>) -> Result<IntentModel> {
    Ok(match path {
        Some(path) => IntentModel::new(read_model(path)?)?,
        None => builtin::intent_model()?,
    })
}

/// Loads the CX model from a file, or the built-in one of the tier (`None` in a build without one).
pub fn load_cx(path: Option<&Path>, tier: Tier) -> Result<Option<CxModel>> {
    Ok(match path {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading model {}", path.display()))?;
            Some(
                CxModel::from_bytes(&bytes)
                    .with_context(|| format!("loading model {}", path.display()))?,
            )
        }
        None => match tier {
            Tier::Fast => builtin::cx_model()?,
            Tier::Accurate => builtin::cx_accurate_model()?,
        },
    })
}

/// The sentence encoder of the accurate tier (`None` for the fast tier); an error when this build has
/// none.
/// `RAPPORT_ENCODER` names a token table to read instead of the built-in one (with `tokenizer.json`
/// beside it), e.g. one just written by `rapport train encoder`, before it is built in.
pub fn load_encoder(tier: Tier) -> Result<Option<Arc<Encoder>>> {
    match tier {
        Tier::Fast => Ok(None),
        Tier::Accurate if std::env::var_os("RAPPORT_ENCODER").is_some() => {
            let table = PathBuf::from(std::env::var_os("RAPPORT_ENCODER").unwrap_or_default());
            let tokenizer = table.with_file_name("tokenizer.json");
            let read = |path: &Path| {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))
            };
            Ok(Some(Arc::new(Encoder::from_static(
                &read(&tokenizer)?,
                &read(&table)?,
            )?)))
        }
        Tier::Accurate => match builtin::encoder()? {
            Some(encoder) => Ok(Some(Arc::new(encoder))),
            None => bail!(
                "this build has no sentence encoder (models/minilm/static.safetensors): use --tier fast, or run `rapport train encoder` and rebuild"
            ),
        },
    }
}

/// The analyser with the models from the given files, or the built-in ones of the tier (`--tier`, else
/// `default`).
pub fn load_analyzer(paths: &ModelPaths, default: Tier) -> Result<Analyzer> {
    let tier = paths.tier.unwrap_or(default);
    let analyzer =
        load_base_analyzer(paths, default)?.with_cx(load_cx(paths.cx_model.as_deref(), tier)?);
    if tier == Tier::Accurate && analyzer.tier() != "accurate" {
        bail!(
            "the CX model does not read sentence vectors: train one with `rapport train cx --tier accurate`, or use --tier fast"
        );
    }
    Ok(analyzer)
}

/// The analyser without a CX model (what `rapport train cx` and cross-validation stack on), with the
/// tier's sentence encoder.
pub fn load_base_analyzer(paths: &ModelPaths, default: Tier) -> Result<Analyzer> {
    Ok(Analyzer::new(
        load_emotions(paths.emotions_model.as_deref())?,
        load_intent(paths.intent_model.as_deref())?,
    )
    .with_encoder(load_encoder(paths.tier.unwrap_or(default))?))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let default = if args.conversation.is_some() {
        Tier::Accurate
    } else {
        Tier::Fast
    };
    let analyzer = load_analyzer(&args.models, default)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(path) = args.conversation {
        let conversation = crate::reply::read_conversation(&path)?;
        if conversation.turns.is_empty() {
            anyhow::bail!("{}: the conversation has no turns", path.display());
        }
        let turns = rapport_engine::speakers(&conversation.turns);
        for analysis in analyzer.analyze_conversation(&turns).into_iter().flatten() {
            serde_json::to_writer(&mut out, &analysis)?;
            writeln!(out)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(text) = args.text {
        serde_json::to_writer(&mut out, &analyzer.analyze(&text))?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let failed = crate::lines::for_each_stdin_line(&mut out, |text, out| {
        serde_json::to_writer(&mut *out, &analyzer.analyze(text))?;
        writeln!(out)?;
        Ok(())
    })?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
