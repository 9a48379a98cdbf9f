//! The emotion model: 28 GoEmotions labels plus heads trained directly on the Ekman and sentiment groups,
//! and the group mappings that turn label sets into group sets.

use crate::features::FeatureConfig;
use crate::model::{self, best_threshold, Model, TrainConfig};
use crate::{Error, Result};

/// The GoEmotions labels in the data set's id order (id 27 is neutral).
pub const LABELS: [&str; 28] = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
];

pub const NEUTRAL: usize = 27;

/// Ekman groups (GoEmotions `ekman_mapping.json`); `neutral` is its own group.
pub const EKMAN: [(&str, &[&str]); 6] = [
    ("anger", &["anger", "annoyance", "disapproval"]),
    ("disgust", &["disgust"]),
    ("fear", &["fear", "nervousness"]),
    (
        "joy",
        &[
            "joy",
            "amusement",
            "approval",
            "excitement",
            "gratitude",
            "love",
            "optimism",
            "relief",
            "pride",
            "admiration",
            "desire",
            "caring",
        ],
    ),
    (
        "sadness",
        &[
            "sadness",
            "disappointment",
            "embarrassment",
            "grief",
            "remorse",
        ],
    ),
    (
        "surprise",
        &["surprise", "realization", "confusion", "curiosity"],
    ),
];

/// Sentiment groups (GoEmotions `sentiment_dict.json`); `neutral` is its own group.
pub const SENTIMENT: [(&str, &[&str]); 3] = [
    (
        "positive",
        &[
            "amusement",
            "excitement",
            "joy",
            "love",
            "desire",
            "optimism",
            "caring",
            "pride",
            "admiration",
            "gratitude",
            "relief",
            "approval",
        ],
    ),
    (
        "negative",
        &[
            "fear",
            "nervousness",
            "remorse",
            "embarrassment",
            "disappointment",
            "sadness",
            "grief",
            "disgust",
            "anger",
            "annoyance",
            "disapproval",
        ],
    ),
    (
        "ambiguous",
        &["realization", "surprise", "curiosity", "confusion"],
    ),
];

/// Which grouping of the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Ekman,
    Sentiment,
}

impl Grouping {
    pub fn groups(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Grouping::Ekman => &EKMAN,
            Grouping::Sentiment => &SENTIMENT,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Grouping::Ekman => "ekman:",
            Grouping::Sentiment => "sentiment:",
        }
    }

    /// Maps a set of label ids to the sorted set of group names (`neutral` for the neutral label).
    pub fn map_labels(self, label_ids: &[usize]) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for &id in label_ids {
            let name = LABELS[id];
            if id == NEUTRAL {
                out.push("neutral");
            }
            for (group, members) in self.groups() {
                if members.contains(&name) {
                    out.push(group);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Head names of the emotion model: the 28 labels, then the Ekman and sentiment group heads.
pub fn head_names() -> Vec<String> {
    let mut names: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    for grouping in [Grouping::Ekman, Grouping::Sentiment] {
        for (group, _) in grouping.groups() {
            names.push(format!("{}{group}", grouping.prefix()));
        }
    }
    names
}

/// Positive head ids of one example, given its label ids.
pub fn positive_heads(label_ids: &[usize]) -> Vec<u16> {
    let mut heads: Vec<u16> = label_ids.iter().map(|&id| id as u16).collect();
    let mut offset = LABELS.len();
    for grouping in [Grouping::Ekman, Grouping::Sentiment] {
        let groups = grouping.map_labels(label_ids);
        for (i, (group, _)) in grouping.groups().iter().enumerate() {
            if groups.contains(group) {
                heads.push((offset + i) as u16);
            }
        }
        offset += grouping.groups().len();
    }
    heads
}

/// What the emotion model says about one text.
#[derive(Debug, Clone, PartialEq)]
pub struct EmotionPrediction {
    /// Probability of each of the 28 labels, in [`LABELS`] order.
    pub scores: [f32; 28],
    /// Predicted label ids (never empty for a non-empty text).
    pub predicted: Vec<usize>,
    pub ekman: Vec<&'static str>,
    pub sentiment_group: Vec<&'static str>,
    /// Probability of the positive and the negative sentiment groups.
    pub positive: f32,
    pub negative: f32,
}

/// The emotion model with its per-head decision thresholds.
#[derive(Debug, Clone)]
pub struct EmotionModel {
    model: Model,
    group_offsets: [usize; 2],
}

impl EmotionModel {
    pub fn new(model: Model) -> Result<Self> {
        if model.card.kind != "emotions" || model.card.labels != head_names() {
            return Err(Error::InvalidModel(format!(
                "expected an emotions model with {} heads, found kind {:?} with {} heads",
                head_names().len(),
                model.card.kind,
                model.heads()
            )));
        }
        Ok(Self {
            model,
            group_offsets: [LABELS.len(), LABELS.len() + EKMAN.len()],
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Predictions for many texts, in parallel.
    pub fn predict_batch(&self, texts: &[&str]) -> Vec<EmotionPrediction> {
        model::predict_probabilities(&self.model, texts)
            .iter()
            .map(|p| self.predict(p))
            .collect()
    }

    /// Predicts from the probabilities of all heads (see [`Model::probabilities_into`]).
    pub fn predict(&self, probabilities: &[f32]) -> EmotionPrediction {
        let thresholds = &self.model.card.thresholds;
        let mut scores = [0f32; 28];
        scores.copy_from_slice(&probabilities[..28]);
        let predicted = decide(&scores, &thresholds[..28], 0..28);
        let group = |grouping: Grouping, offset: usize| -> Vec<&'static str> {
            let groups = grouping.groups();
            let mut candidates = probabilities[offset..offset + groups.len()].to_vec();
            candidates.push(scores[NEUTRAL]);
            let mut limits = thresholds[offset..offset + groups.len()].to_vec();
            limits.push(thresholds[NEUTRAL]);
            let mut names: Vec<&'static str> = decide(&candidates, &limits, 0..candidates.len())
                .into_iter()
                .map(|i| groups.get(i).map_or("neutral", |g| g.0))
                .collect();
            names.sort_unstable();
            names
        };
        let ekman = group(Grouping::Ekman, self.group_offsets[0]);
        let sentiment_group = group(Grouping::Sentiment, self.group_offsets[1]);
        let positive = probabilities[self.group_offsets[1]];
        let negative = probabilities[self.group_offsets[1] + 1];
        EmotionPrediction {
            scores,
            predicted,
            ekman,
            sentiment_group,
            positive,
            negative,
        }
    }
}

/// Heads whose probability reaches their threshold; when none does, the one closest to its threshold,
/// so that every text gets at least one label.
fn decide(probabilities: &[f32], thresholds: &[f32], range: std::ops::Range<usize>) -> Vec<usize> {
    let chosen: Vec<usize> = range
        .clone()
        .filter(|&i| probabilities[i] >= thresholds[i])
        .collect();
    if !chosen.is_empty() {
        return chosen;
    }
    range
        .max_by(|&a, &b| {
            (probabilities[a] / thresholds[a]).total_cmp(&(probabilities[b] / thresholds[b]))
        })
        .into_iter()
        .collect()
}

/// A labelled GoEmotions row: text and label ids.
#[derive(Debug, Clone)]
pub struct LabelledText {
    pub text: String,
    pub labels: Vec<usize>,
}

/// Trains the emotion model on `train` and tunes every head's threshold on `dev`.
pub fn train_emotions(
    train: &[LabelledText],
    dev: &[LabelledText],
    views: &[FeatureConfig],
    config: &TrainConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<EmotionModel> {
    if train.is_empty() || dev.is_empty() {
        return Err(Error::InvalidInput(
            "training and dev sets must not be empty".into(),
        ));
    }
    let examples: Vec<(&str, Vec<u16>)> = train
        .iter()
        .map(|row| (row.text.as_str(), positive_heads(&row.labels)))
        .collect();
    let mut model = model::train("emotions", head_names(), &examples, views, config, progress)?;
    let texts: Vec<&str> = dev.iter().map(|row| row.text.as_str()).collect();
    let probabilities = model::predict_probabilities(&model, &texts);
    let gold: Vec<Vec<u16>> = dev.iter().map(|row| positive_heads(&row.labels)).collect();
    for head in 0..model.heads() {
        let p: Vec<f32> = probabilities.iter().map(|row| row[head]).collect();
        let g: Vec<bool> = gold
            .iter()
            .map(|heads| heads.contains(&(head as u16)))
            .collect();
        model.card.thresholds[head] = best_threshold(&p, &g);
    }
    EmotionModel::new(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_labels_like_the_data_set() {
        let anger = LABELS
            .iter()
            .position(|&l| l == "annoyance")
            .unwrap_or_default();
        let joy = LABELS
            .iter()
            .position(|&l| l == "gratitude")
            .unwrap_or_default();
        assert_eq!(Grouping::Ekman.map_labels(&[anger, joy]), ["anger", "joy"]);
        assert_eq!(Grouping::Sentiment.map_labels(&[NEUTRAL]), ["neutral"]);
        assert_eq!(positive_heads(&[NEUTRAL]), [NEUTRAL as u16]);
    }

    #[test]
    fn decide_always_picks_one() {
        assert_eq!(decide(&[0.1, 0.3], &[0.5, 0.4], 0..2), [1]);
        assert_eq!(decide(&[0.6, 0.5], &[0.5, 0.4], 0..2), [0, 1]);
    }
}
