//! Multi-output linear models over hashed features, their file format and their trainer.
//!
//! A [`Model`] averages the probabilities of one or more [`LinearModel`] members, each reading the text through
//! its own feature view (character n-grams, word n-grams, ...); different views make errors that partly
//! cancel. Each output ("head") of a member is an independent logistic regression trained with
//! FTRL-proximal, so training is deterministic, parallel across heads and produces sparse weights.
//! Weights ship quantised to `i8` with one scale per head and are stored bucket-major, so that scoring a
//! text reads one contiguous row of `heads` bytes per feature.
//!
//! File layout (little endian): `RPLM`, format version `u32`, header length `u32`, the JSON header
//! ([`FileHeader`]), then the members' weights (`buckets × heads` signed bytes each, in member order) as
//! one DEFLATE stream: most weights are zero after L1 regularisation, so they compress well.

use crate::features::{FeatureConfig, Featurizer};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

const MAGIC: &[u8; 4] = b"RPLM";
const FORMAT_VERSION: u32 = 2;

/// What a model is and how to decide with it; shared by all members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// What the model predicts, e.g. `emotions` or `intent`.
    pub kind: String,
    /// One name per head.
    pub labels: Vec<String>,
    /// Decision threshold per head on the probability (multi-label models).
    pub thresholds: Vec<f32>,
    /// Free-form facts for the model card: data, date, metrics.
    #[serde(default)]
    pub info: serde_json::Map<String, serde_json::Value>,
}

/// Everything about one member except its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberHeader {
    pub features: FeatureConfig,
    pub biases: Vec<f32>,
    /// Dequantisation scale per head: weight = byte × scale.
    pub scales: Vec<f32>,
}

/// The JSON header of a model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileHeader {
    pub card: ModelCard,
    pub members: Vec<MemberHeader>,
}

/// One linear member of a model.
#[derive(Debug, Clone)]
pub struct LinearModel {
    pub header: MemberHeader,
    weights: Vec<i8>,
}

/// A model: its card and one or more members whose probabilities are averaged.
#[derive(Debug, Clone)]
pub struct Model {
    pub card: ModelCard,
    pub members: Vec<LinearModel>,
}

/// Reusable buffers for scoring one text.
#[derive(Debug, Default)]
pub struct Scratch {
    featurizer: Featurizer,
    features: Vec<u32>,
    acc: Vec<i32>,
    member_logits: Vec<f32>,
}

impl Model {
    pub fn heads(&self) -> usize {
        self.card.labels.len()
    }

    /// Parses a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::InvalidModel(why.to_string());
        let (header, body) = split_file(bytes, MAGIC, FORMAT_VERSION, "model")?;
        let header: FileHeader =
            serde_json::from_slice(header).map_err(|e| bad(&format!("header: {e}")))?;
        let heads = header.card.labels.len();
        if heads == 0 || header.card.thresholds.len() != heads || header.members.is_empty() {
            return Err(bad("header lists do not match the number of labels"));
        }
        let mut expected = 0usize;
        for member in &header.members {
            if member.biases.len() != heads || member.scales.len() != heads {
                return Err(bad("member header does not match the number of labels"));
            }
            if !(8..=24).contains(&member.features.bucket_bits) {
                return Err(bad("bucket_bits outside 8..=24"));
            }
            expected += member.features.buckets() * heads;
        }
        let body = inflate(body, expected)?;
        let mut offset = 0;
        let members = header
            .members
            .into_iter()
            .map(|member| {
                let len = member.features.buckets() * heads;
                let weights = body[offset..offset + len].to_vec();
                offset += len;
                LinearModel {
                    header: member,
                    weights,
                }
            })
            .collect();
        Ok(Self {
            card: header.card,
            members,
        })
    }

    /// Serialises the model to its file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = FileHeader {
            card: self.card.clone(),
            members: self.members.iter().map(|m| m.header.clone()).collect(),
        };
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let weights: Vec<i8> = self
            .members
            .iter()
            .flat_map(|m| m.weights.iter().copied())
            .collect();
        join_file(MAGIC, FORMAT_VERSION, &header, &weights)
    }

    /// The average of the members' probabilities for `text`, written into `probabilities`.
    pub fn probabilities_into(
        &self,
        scratch: &mut Scratch,
        text: &str,
        probabilities: &mut Vec<f32>,
    ) {
        probabilities.clear();
        probabilities.resize(self.heads(), 0.0);
        let share = 1.0 / self.members.len() as f32;
        for member in &self.members {
            scratch
                .featurizer
                .extract(&member.header.features, text, &mut scratch.features);
            member.logits_into(
                &scratch.features,
                &mut scratch.acc,
                &mut scratch.member_logits,
            );
            for (sum, &l) in probabilities.iter_mut().zip(&scratch.member_logits) {
                *sum += sigmoid(l) * share;
            }
        }
    }
}

impl LinearModel {
    pub fn heads(&self) -> usize {
        self.header.biases.len()
    }

    /// Logits of every head for the given (sorted, de-duplicated) feature buckets, written into `logits`.
    pub fn logits_into(&self, features: &[u32], acc: &mut Vec<i32>, logits: &mut Vec<f32>) {
        let heads = self.heads();
        acc.clear();
        acc.resize(heads, 0);
        for &bucket in features {
            let row = &self.weights[bucket as usize * heads..(bucket as usize + 1) * heads];
            for (a, &w) in acc.iter_mut().zip(row) {
                *a += i32::from(w);
            }
        }
        let norm = feature_norm(features.len());
        logits.clear();
        logits.extend(
            acc.iter()
                .zip(&self.header.scales)
                .zip(&self.header.biases)
                .map(|((&a, &scale), &bias)| bias + a as f32 * scale * norm),
        );
    }
}

/// Each example's feature vector is binary and scaled to unit length.
fn feature_norm(count: usize) -> f32 {
    if count == 0 {
        0.0
    } else {
        1.0 / (count as f32).sqrt()
    }
}

/// The JSON header and the compressed body of a model file (`MAGIC`, version `u32`, header length
/// `u32`, header, body), after checking the magic bytes and the format version.
pub(crate) fn split_file<'a>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    version: u32,
    what: &str,
) -> Result<(&'a [u8], &'a [u8])> {
    let bad = |why: &str| Error::InvalidModel(why.to_string());
    if bytes.len() < 12 || &bytes[..4] != magic {
        return Err(bad(&format!("not a Rapport {what} file (bad magic bytes)")));
    }
    let read_u32 =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let found = read_u32(4);
    if found != version {
        return Err(bad(&format!(
            "{what} format version {found}, this build reads version {version}"
        )));
    }
    let header_end = 12usize
        .checked_add(read_u32(8) as usize)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| bad("truncated header"))?;
    Ok((&bytes[12..header_end], &bytes[header_end..]))
}

/// Exactly `expected` quantised weights from a compressed body.
pub(crate) fn inflate(body: &[u8], expected: usize) -> Result<Vec<i8>> {
    let mut out = Vec::with_capacity(expected);
    flate2::read::DeflateDecoder::new(body)
        .take(expected as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::InvalidModel(format!("weights: {e}")))?;
    if out.len() != expected {
        return Err(Error::InvalidModel(format!(
            "expected {expected} weight bytes, found {}",
            out.len()
        )));
    }
    Ok(out.into_iter().map(|b| b as i8).collect())
}

/// A model file from its JSON header and its quantised weights (compressed).
pub(crate) fn join_file(magic: &[u8; 4], version: u32, header: &[u8], weights: &[i8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    let mut encoder = flate2::write::DeflateEncoder::new(out, flate2::Compression::best());
    let bytes: Vec<u8> = weights.iter().map(|&w| w as u8).collect();
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(&bytes);
    encoder.finish().unwrap_or_default()
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One training example: its feature buckets and which heads are positive.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub positives: Vec<u16>,
}

/// Hyper-parameters of FTRL-proximal training.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub alpha: f32,
    pub beta: f32,
    pub l1: f32,
    pub l2: f32,
    /// Positive examples of a head weigh `(negatives / positives) ^ balance`: 0 trains unweighted, larger
    /// values help rare labels.
    #[serde(default)]
    pub balance: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 6,
            alpha: 1.0,
            beta: 1.0,
            l1: 0.5,
            l2: 1.0,
            balance: 0.0,
            seed: 20_260_101,
        }
    }
}

/// Turns texts into examples with the given featurizer settings.
fn featurize_all(config: &FeatureConfig, texts: &[(&str, Vec<u16>)]) -> Vec<Example> {
    texts
        .par_iter()
        .map_init(Featurizer::default, |featurizer, (text, positives)| {
            let mut features = Vec::new();
            featurizer.extract(config, text, &mut features);
            Example {
                features,
                positives: positives.clone(),
            }
        })
        .collect()
}

/// A deterministic shuffle (SplitMix64-driven Fisher–Yates); the order is part of what makes training
/// reproducible, so it does not depend on an external RNG's version.
pub(crate) fn shuffled_order(n: usize, seed: u64, epoch: usize) -> Vec<u32> {
    let mut state = seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Trains a model with one member per feature view and one head per label; thresholds start at 0.5.
/// `progress` is called once per finished head-epoch of each member.
pub fn train(
    kind: &str,
    labels: Vec<String>,
    texts: &[(&str, Vec<u16>)],
    views: &[FeatureConfig],
    config: &TrainConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<Model> {
    if views.is_empty() {
        return Err(Error::InvalidInput(
            "a model needs at least one feature view".into(),
        ));
    }
    if texts.is_empty() {
        return Err(Error::InvalidInput("the training set is empty".into()));
    }
    let heads = labels.len();
    let members = views
        .iter()
        .map(|view| {
            let examples = featurize_all(view, texts);
            train_member(*view, heads, &examples, config, progress)
        })
        .collect();
    Ok(Model {
        card: ModelCard {
            kind: kind.to_string(),
            thresholds: vec![0.5; heads],
            labels,
            info: serde_json::Map::new(),
        },
        members,
    })
}

fn train_member(
    features: FeatureConfig,
    heads: usize,
    examples: &[Example],
    config: &TrainConfig,
    progress: &(dyn Fn() + Sync),
) -> LinearModel {
    let buckets = features.buckets();
    let orders: Vec<Vec<u32>> = (0..config.epochs)
        .map(|epoch| shuffled_order(examples.len(), config.seed, epoch))
        .collect();
    let trained: Vec<(Vec<f32>, f32)> = (0..heads)
        .into_par_iter()
        .map(|head| train_head(head as u16, buckets, examples, &orders, config, progress))
        .collect();
    quantize(features, trained)
}

fn train_head(
    head: u16,
    buckets: usize,
    examples: &[Example],
    orders: &[Vec<u32>],
    c: &TrainConfig,
    progress: &(dyn Fn() + Sync),
) -> (Vec<f32>, f32) {
    // FTRL-proximal state per coordinate; the bias is the extra last coordinate and is not regularised.
    let mut z = vec![0f32; buckets + 1];
    let mut n = vec![0f32; buckets + 1];
    let weight = |z: f32, n: f32, l1: f32, l2: f32| -> f32 {
        if z.abs() <= l1 {
            0.0
        } else {
            -(z - z.signum() * l1) / ((c.beta + n.sqrt()) / c.alpha + l2)
        }
    };
    let positives = examples
        .iter()
        .filter(|e| e.positives.contains(&head))
        .count()
        .max(1) as f32;
    let negatives = (examples.len() as f32 - positives).max(1.0);
    let positive_weight = (negatives / positives).powf(c.balance);
    for order in orders {
        for &i in order {
            let example = &examples[i as usize];
            let x = feature_norm(example.features.len());
            let mut logit = weight(z[buckets], n[buckets], 0.0, 0.0);
            for &f in &example.features {
                logit += weight(z[f as usize], n[f as usize], c.l1, c.l2) * x;
            }
            let y = if example.positives.contains(&head) {
                1.0
            } else {
                0.0
            };
            let g = (sigmoid(logit) - y) * if y > 0.0 { positive_weight } else { 1.0 };
            let mut update = |k: usize, xk: f32, l1: f32, l2: f32| {
                let gk = g * xk;
                let sigma = ((n[k] + gk * gk).sqrt() - n[k].sqrt()) / c.alpha;
                z[k] += gk - sigma * weight(z[k], n[k], l1, l2);
                n[k] += gk * gk;
            };
            update(buckets, 1.0, 0.0, 0.0);
            for &f in &example.features {
                update(f as usize, x, c.l1, c.l2);
            }
        }
        progress();
    }
    let weights = (0..buckets)
        .map(|k| weight(z[k], n[k], c.l1, c.l2))
        .collect();
    (weights, weight(z[buckets], n[buckets], 0.0, 0.0))
}

fn quantize(features: FeatureConfig, trained: Vec<(Vec<f32>, f32)>) -> LinearModel {
    let heads = trained.len();
    let buckets = features.buckets();
    let mut weights = vec![0i8; buckets * heads];
    let mut scales = Vec::with_capacity(heads);
    let mut biases = Vec::with_capacity(heads);
    for (head, (w, bias)) in trained.iter().enumerate() {
        let max = w.iter().fold(0f32, |m, &v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        for (bucket, &v) in w.iter().enumerate() {
            weights[bucket * heads + head] = (v / scale).round().clamp(-127.0, 127.0) as i8;
        }
        scales.push(scale);
        biases.push(*bias);
    }
    LinearModel {
        header: MemberHeader {
            features,
            biases,
            scales,
        },
        weights,
    }
}

/// Per-head probabilities for many texts, in parallel.
pub fn predict_probabilities(model: &Model, texts: &[&str]) -> Vec<Vec<f32>> {
    texts
        .par_iter()
        .map_init(Scratch::default, |scratch, text| {
            let mut probabilities = Vec::new();
            model.probabilities_into(scratch, text, &mut probabilities);
            probabilities
        })
        .collect()
}

/// The threshold in `(0, 1)` that maximises F1 of one head, given its probabilities and gold labels.
pub fn best_threshold(probabilities: &[f32], gold: &[bool]) -> f32 {
    let mut pairs: Vec<(f32, bool)> = probabilities
        .iter()
        .copied()
        .zip(gold.iter().copied())
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = gold.iter().filter(|&&g| g).count() as f32;
    if positives == 0.0 {
        return 0.5;
    }
    let (mut tp, mut best_f1, mut best) = (0f32, -1f32, 0.5f32);
    for (i, &(p, g)) in pairs.iter().enumerate() {
        if g {
            tp += 1.0;
        }
        // Only consider cut points between distinct probabilities.
        let next = pairs.get(i + 1).map(|x| x.0);
        if next == Some(p) {
            continue;
        }
        let predicted = (i + 1) as f32;
        let f1 = 2.0 * tp / (predicted + positives);
        if f1 > best_f1 {
            best_f1 = f1;
            best = match next {
                Some(q) => (p + q) / 2.0,
                None => p * 0.999,
            };
        }
    }
    best.clamp(0.01, 0.99)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_model() -> Model {
        let chars = FeatureConfig {
            bucket_bits: 10,
            ..FeatureConfig::default()
        };
        let words = FeatureConfig {
            char_min: 0,
            char_max: 0,
            ..chars
        };
        let data: Vec<(&str, Vec<u16>)> = vec![
            ("thank you so much", vec![0]),
            ("thanks a lot, great help", vec![0]),
            ("this is terrible and broken", vec![1]),
            ("awful, broken again", vec![1]),
        ];
        let config = TrainConfig {
            epochs: 20,
            l1: 0.0,
            ..TrainConfig::default()
        };
        train(
            "test",
            vec!["thanks".into(), "broken".into()],
            &data,
            &[chars, words],
            &config,
            &|| {},
        )
        .expect("trains")
    }

    #[test]
    fn training_learns_and_round_trips_through_bytes() {
        let model = tiny_model();
        let again = Model::from_bytes(&model.to_bytes()).expect("round trip");
        assert_eq!(again.members.len(), 2);
        let p = predict_probabilities(&again, &["thanks, great", "broken and terrible"]);
        assert!(p[0][0] > p[0][1], "{p:?}");
        assert!(p[1][1] > p[1][0], "{p:?}");
    }

    #[test]
    fn training_is_deterministic() {
        assert_eq!(tiny_model().to_bytes(), tiny_model().to_bytes());
    }

    #[test]
    fn corrupt_files_are_rejected_with_a_reason() {
        assert!(Model::from_bytes(b"nope").is_err());
        let bytes = tiny_model().to_bytes();
        let err = Model::from_bytes(&bytes[..bytes.len() - 40]).expect_err("truncated");
        assert!(err.to_string().contains("weight"), "{err}");
    }

    #[test]
    fn best_threshold_separates_classes() {
        let t = best_threshold(&[0.9, 0.8, 0.3, 0.2], &[true, true, false, false]);
        assert!(t > 0.3 && t < 0.8, "{t}");
    }
}
