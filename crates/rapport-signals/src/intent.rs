//! The support-intent classifier (Bitext taxonomy): one-vs-rest heads, the most likely intent wins and its
//! confidence is its probability's share of all heads' probabilities.

use crate::features::FeatureConfig;
use crate::model::{self, Model, TrainConfig};
use crate::{Error, Result};

/// A text with its intent name.
#[derive(Debug, Clone)]
pub struct IntentExample {
    pub text: String,
    pub intent: String,
}

/// The intent model.
#[derive(Debug, Clone)]
pub struct IntentModel {
    model: Model,
}

impl IntentModel {
    pub fn new(model: Model) -> Result<Self> {
        if model.card.kind != "intent" {
            return Err(Error::InvalidModel(format!(
                "expected an intent model, found kind {:?}",
                model.card.kind
            )));
        }
        Ok(Self { model })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Best intent and confidence for many texts, in parallel.
    pub fn predict_batch(&self, texts: &[&str]) -> Vec<(String, f32)> {
        model::predict_probabilities(&self.model, texts)
            .iter()
            .map(|p| {
                let (label, confidence) = self.predict(p);
                (label.to_string(), confidence)
            })
            .collect()
    }

    pub fn labels(&self) -> &[String] {
        &self.model.card.labels
    }

    /// The best intent and its confidence, from the probabilities of every head; [`OTHER`] when the
    /// confidence is below [`OTHER_BELOW`] (a message outside the taxonomy).
    pub fn predict(&self, probabilities: &[f32]) -> (&str, f32) {
        let (best, max) =
            probabilities
                .iter()
                .enumerate()
                .fold(
                    (0, 0.0f32),
                    |(bi, bm), (i, &p)| if p > bm { (i, p) } else { (bi, bm) },
                );
        let total: f32 = probabilities.iter().sum();
        let confidence = if total > 0.0 { max / total } else { 0.0 };
        if confidence < OTHER_BELOW {
            (OTHER, confidence)
        } else {
            (&self.model.card.labels[best], confidence)
        }
    }
}

/// The intent of a message that fits none of the model's intents.
pub const OTHER: &str = "other";

/// Confidence (the best head's share of all heads' probability) below which the intent is [`OTHER`].
/// Calibrated so that in-taxonomy support messages (Bitext, held-out rows) almost never fall below it
/// while real customer messages about other things (cx_gold) mostly do; see `models/intent.md`.
pub const OTHER_BELOW: f32 = 0.3;

/// Trains the intent model; labels are the sorted distinct intents of `train`.
pub fn train_intent(
    train: &[IntentExample],
    views: &[FeatureConfig],
    config: &TrainConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<IntentModel> {
    if train.is_empty() {
        return Err(Error::InvalidInput("the training set is empty".into()));
    }
    let mut labels: Vec<String> = train.iter().map(|e| e.intent.clone()).collect();
    labels.sort_unstable();
    labels.dedup();
    let pairs: Vec<(&str, Vec<u16>)> = train
        .iter()
        .map(|e| {
            let id = labels.binary_search(&e.intent).unwrap_or_default() as u16;
            (e.text.as_str(), vec![id])
        })
        .collect();
    let model = model::train("intent", labels, &pairs, views, config, progress)?;
    IntentModel::new(model)
}
