//! `rapport analyze`: one JSON analysis per message.

use crate::ModelPaths;
use anyhow::{Context, Result};
use rapport_signals::cx::CxModel;
use rapport_signals::emotions::EmotionModel;
use rapport_signals::intent::IntentModel;
use rapport_signals::model::Model;
use rapport_signals::{builtin, Analyzer};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

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

/// Loads the CX model from a file, or the built-in one (`None` in a build without one).
pub fn load_cx(path: Option<&Path>) -> Result<Option<CxModel>> {
    Ok(match path {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading model {}", path.display()))?;
            Some(
                CxModel::from_bytes(&bytes)
                    .with_context(|| format!("loading model {}", path.display()))?,
            )
        }
        None => builtin::cx_model()?,
    })
}

/// The analyser with the models from the given files, or the built-in ones.
pub fn load_analyzer(paths: &ModelPaths) -> Result<Analyzer> {
    Ok(load_base_analyzer(paths)?.with_cx(load_cx(paths.cx_model.as_deref())?))
}

/// The analyser without a CX model (what `rapport train cx` and cross-validation stack on).
pub fn load_base_analyzer(paths: &ModelPaths) -> Result<Analyzer> {
    Ok(Analyzer::new(
        load_emotions(paths.emotions_model.as_deref())?,
        load_intent(paths.intent_model.as_deref())?,
    ))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let analyzer = load_analyzer(&args.models)?;
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
