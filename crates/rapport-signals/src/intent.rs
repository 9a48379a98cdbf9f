//! The support-intent classifier (Bitext taxonomy): one-vs-rest heads, the most likely intent wins and its
//! confidence is the softmax of the head logits.

use crate::features::FeatureConfig;
use crate::model::{self, LinearModel, TrainConfig};
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
    model: LinearModel,
}

impl IntentModel {
    pub fn new(model: LinearModel) -> Result<Self> {
        if model.header.kind != "intent" {
            return Err(Error::InvalidModel(format!(
                "expected an intent model, found kind {:?}",
                model.header.kind
            )));
        }
        Ok(Self { model })
    }

    pub fn linear(&self) -> &LinearModel {
        &self.model
    }

    /// Best intent and confidence for many texts, in parallel.
    pub fn predict_batch(&self, texts: &[&str]) -> Vec<(String, f32)> {
        model::logits_batch(&self.model, texts)
            .iter()
            .map(|logits| {
                let (label, confidence) = self.predict_from_logits(logits);
                (label.to_string(), confidence)
            })
            .collect()
    }

    pub fn labels(&self) -> &[String] {
        &self.model.header.labels
    }

    /// The best intent and its confidence, from the logits of every head.
    pub fn predict_from_logits(&self, logits: &[f32]) -> (&str, f32) {
        let (best, max) =
            logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bm), (i, &l)| {
                    if l > bm {
                        (i, l)
                    } else {
                        (bi, bm)
                    }
                });
        let total: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
        (&self.model.header.labels[best], 1.0 / total)
    }
}

/// Trains the intent model; labels are the sorted distinct intents of `train`.
pub fn train_intent(
    train: &[IntentExample],
    features: FeatureConfig,
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
    let examples = model::featurize_all(&features, &pairs);
    let model = model::train("intent", features, labels, &examples, config, progress);
    IntentModel::new(model)
}
