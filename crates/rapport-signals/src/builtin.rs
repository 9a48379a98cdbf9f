//! The models that ship with Rapport, embedded in the binary at build time from `models/`.

use crate::emotions::EmotionModel;
use crate::intent::IntentModel;
use crate::model::Model;
use crate::{Error, Result};

#[cfg(rapport_builtin_models)]
const EMOTIONS: Option<&[u8]> = Some(include_bytes!("../../../models/emotions.rplm"));
#[cfg(rapport_builtin_models)]
const INTENT: Option<&[u8]> = Some(include_bytes!("../../../models/intent.rplm"));
#[cfg(not(rapport_builtin_models))]
const EMOTIONS: Option<&[u8]> = None;
#[cfg(not(rapport_builtin_models))]
const INTENT: Option<&[u8]> = None;

fn missing(name: &str) -> Error {
    Error::InvalidModel(format!(
        "this build has no built-in {name} model: train one with `rapport train {name}` into models/ and rebuild, or pass a model file"
    ))
}

/// The built-in emotion model.
pub fn emotion_model() -> Result<EmotionModel> {
    EmotionModel::new(Model::from_bytes(
        EMOTIONS.ok_or_else(|| missing("emotions"))?,
    )?)
}

/// The built-in intent model.
pub fn intent_model() -> Result<IntentModel> {
    IntentModel::new(Model::from_bytes(INTENT.ok_or_else(|| missing("intent"))?)?)
}

#[cfg(rapport_builtin_cx)]
const CX: Option<&[u8]> = Some(include_bytes!("../../../models/cx.rpcx"));
#[cfg(not(rapport_builtin_cx))]
const CX: Option<&[u8]> = None;

/// The built-in CX model, or `None` in a build without one (bootstrapping its first training run: the
/// analysis then reads the cue lexicon and the emotion model only).
pub fn cx_model() -> Result<Option<crate::cx::CxModel>> {
    CX.map(crate::cx::CxModel::from_bytes).transpose()
}

#[cfg(rapport_builtin_encoder)]
const ENCODER: Option<[&[u8]; 2]> = Some([
    include_bytes!("../../../models/minilm/tokenizer.json"),
    include_bytes!("../../../models/minilm/static.safetensors"),
]);
#[cfg(not(rapport_builtin_encoder))]
const ENCODER: Option<[&[u8]; 2]> = None;

#[cfg(rapport_builtin_cx_accurate)]
const CX_ACCURATE: Option<&[u8]> = Some(include_bytes!("../../../models/cx-accurate.rpcx"));
#[cfg(not(rapport_builtin_cx_accurate))]
const CX_ACCURATE: Option<&[u8]> = None;

/// The built-in sentence encoder of the accurate tier (the token table distilled from all-MiniLM-L6-v2,
/// `models/minilm/static.safetensors`), or `None` in a build without it.
pub fn encoder() -> Result<Option<crate::encoder::Encoder>> {
    ENCODER
        .map(|[tokenizer, table]| crate::encoder::Encoder::from_static(tokenizer, table))
        .transpose()
}

/// The transformer the token table is distilled from, read from a directory holding `config.json`,
/// `tokenizer.json` and `model.safetensors` (`models/minilm/`). Not built in: only distillation needs it.
pub fn teacher(dir: &std::path::Path) -> Result<crate::encoder::Encoder> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| {
            crate::Error::InvalidModel(format!("reading {}: {e}", dir.join(name).display()))
        })
    };
    crate::encoder::Encoder::from_parts(
        &read("config.json")?,
        &read("tokenizer.json")?,
        &read("model.safetensors")?,
    )
}

/// The built-in CX model of the accurate tier (it reads the encoder's sentence vector too), or `None`.
pub fn cx_accurate_model() -> Result<Option<crate::cx::CxModel>> {
    CX_ACCURATE.map(crate::cx::CxModel::from_bytes).transpose()
}
