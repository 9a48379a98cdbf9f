//! `rapport analyze`: one JSON analysis per message.

use crate::ModelPaths;
use anyhow::{Context, Result};
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
    text: Option<String>,
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

/// Loads both models from the given files, or the built-in ones.
pub fn load_models(paths: &ModelPaths) -> Result<(EmotionModel, IntentModel)> {
    Ok((
        load_emotions(paths.emotions_model.as_deref())?,
        load_intent(paths.intent_model.as_deref())?,
    ))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (emotions, intent) = load_models(&args.models)?;
    let analyzer = Analyzer::new(emotions, intent);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
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
