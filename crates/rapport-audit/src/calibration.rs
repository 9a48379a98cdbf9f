//! How the audit's parts combine into its score: a linear model fitted to people's ratings of real
//! replies (how heard the customer would feel, how far the reply moves the problem, overall; 1-5).
//!
//! Its inputs are the audit's own explainable parts ([`DENSE`]: the mechanisms, actionability,
//! specificity, hollow sympathy, ...) plus hashed words and word pairs of the reply, which carry the
//! style people notice and patterns miss ("rest assured", "we appreciate your patience", "I've opened").
//! `rapport train audit` fits it (AdaGrad least squares, one output per rating) and writes
//! `models/audit.json`, which this crate embeds; `rapport eval audit --cv K` measures it with grouped
//! cross-validation (folds as the CX model's: `rapport_signals::cx::fold_of`).

use serde::{Deserialize, Serialize};

/// The ratings the model predicts, in output order.
pub const TARGETS: [&str; 3] = ["overall", "heard", "moved"];

/// Names of the dense inputs, in order (each in about [0, 1]).
pub const DENSE: [&str; 24] = [
    "emotional_reaction",
    "interpretation",
    "exploration",
    "actionability",
    "specificity",
    "hollow_sympathy",
    "dismissive",
    "repetition",
    "over_apology",
    "clarity",
    "apologies",
    "handoff",
    "information",
    "problem_open",
    "action_done",
    "action_promised",
    "timeline",
    "question",
    "link",
    "numbers",
    "names",
    "words",
    "short",
    "customer_question",
];

/// Bits of the hashed word space.
pub const BUCKET_BITS: u32 = 12;

const NS_WORD: u64 = 0x77;
const NS_PAIR: u64 = 0x7770;

/// One reply's inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub dense: [f32; DENSE.len()],
    /// Hashed buckets of the reply's words and word pairs, with their value.
    pub text: Vec<(u32, f32)>,
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub kind: String,
    pub dense: Vec<String>,
    pub targets: Vec<String>,
    pub bucket_bits: u32,
    pub bias: [f32; 3],
    /// One row per dense input: its weight for each target.
    pub dense_weights: Vec<[f32; 3]>,
    /// One row per hashed bucket.
    pub text_weights: Vec<[f32; 3]>,
    /// Free-form facts: data, date, cross-validated figures.
    #[serde(default)]
    pub info: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Errors reading a calibration file.
#[derive(Debug, thiserror::Error)]
#[error("invalid audit calibration: {0}")]
pub struct InvalidCalibration(String);

impl Calibration {
    /// The calibration shipped in `models/audit.json`.
    pub fn builtin() -> &'static Calibration {
        static BUILTIN: std::sync::OnceLock<Calibration> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The embedded file is checked by this crate's tests; a build that broke it still audits,
            // with every reply rated 3 before the rules (safety, leaks, policy) apply.
            Calibration::from_json(include_str!("../../../models/audit.json"))
                .unwrap_or_else(|_| Calibration::neutral())
        })
    }

    /// A model that predicts 3 for everything.
    pub fn neutral() -> Self {
        Self {
            kind: "audit-calibration".into(),
            dense: DENSE.iter().map(|s| s.to_string()).collect(),
            targets: TARGETS.iter().map(|s| s.to_string()).collect(),
            bucket_bits: BUCKET_BITS,
            bias: [3.0; 3],
            dense_weights: vec![[0.0; 3]; DENSE.len()],
            text_weights: vec![[0.0; 3]; 1 << BUCKET_BITS],
            info: Default::default(),
        }
    }

    /// Parses and checks a calibration file.
    pub fn from_json(text: &str) -> Result<Self, InvalidCalibration> {
        let c: Calibration =
            serde_json::from_str(text).map_err(|e| InvalidCalibration(e.to_string()))?;
        if c.kind != "audit-calibration"
            || c.dense != DENSE
            || c.targets != TARGETS
            || c.bucket_bits != BUCKET_BITS
            || c.dense_weights.len() != DENSE.len()
            || c.text_weights.len() != 1 << BUCKET_BITS
        {
            return Err(InvalidCalibration(
                "it was fitted for other inputs than this build reads; refit it with `rapport train audit`"
                    .into(),
            ));
        }
        Ok(c)
    }

    /// Serialises the model (weights rounded to 5 decimals).
    pub fn to_json(&self) -> String {
        let round = |rows: &[[f32; 3]]| -> Vec<[f32; 3]> {
            rows.iter()
                .map(|r| r.map(|w| (w * 1e5).round() / 1e5))
                .collect()
        };
        let rounded = Self {
            dense_weights: round(&self.dense_weights),
            text_weights: round(&self.text_weights),
            ..self.clone()
        };
        serde_json::to_string(&rounded).unwrap_or_default()
    }

    /// Predicted ratings (overall, heard, moved), each clamped to 1..=5.
    pub fn predict(&self, features: &Features) -> [f32; 3] {
        self.raw(features).map(|r| r.clamp(1.0, 5.0))
    }

    /// The linear outputs before clamping (what the fit's squared error is taken on).
    fn raw(&self, features: &Features) -> [f32; 3] {
        let mut out = self.bias;
        for (value, weights) in features.dense.iter().zip(&self.dense_weights) {
            for (o, w) in out.iter_mut().zip(weights) {
                *o += value * w;
            }
        }
        for &(bucket, value) in &features.text {
            if let Some(weights) = self.text_weights.get(bucket as usize) {
                for (o, w) in out.iter_mut().zip(weights) {
                    *o += value * w;
                }
            }
        }
        out
    }
}

/// Hashed words and word pairs of a reply: lowercased, links and @handles as one token each, numbers
/// as their digit count; each present bucket weighs `1/sqrt(n)`.
pub(crate) fn text_features(reply: &str, out: &mut Vec<(u32, f32)>) {
    out.clear();
    let mask = (1u64 << BUCKET_BITS) - 1;
    let mut previous: u64 = 0x5eed;
    let mut word = String::new();
    let mut push = |token: &str, previous: &mut u64| {
        let h = fnv1a(NS_WORD, token.as_bytes());
        out.push(((h & mask) as u32, 1.0));
        let pair = fnv1a(*previous ^ NS_PAIR, token.as_bytes());
        out.push(((pair & mask) as u32, 1.0));
        *previous = h;
    };
    for chunk in reply.split_whitespace() {
        if chunk.starts_with("http") || chunk.contains("://") || chunk.contains(".com/") {
            push("<link>", &mut previous);
            continue;
        }
        if chunk.starts_with('@') && chunk.len() > 1 {
            push("<handle>", &mut previous);
            continue;
        }
        for token in rapport_text::tokens(chunk) {
            if token.kind != rapport_text::TokenKind::Word {
                if matches!(token.text.chars().next(), Some('?' | '!')) {
                    push(&token.text[..1], &mut previous);
                }
                continue;
            }
            word.clear();
            if token.text.chars().any(|c| c.is_ascii_digit()) {
                word.push_str(if token.text.len() >= 4 {
                    "<num4>"
                } else {
                    "<num>"
                });
            } else {
                word.extend(token.text.chars().flat_map(char::to_lowercase));
            }
            push(&word, &mut previous);
        }
    }
    out.sort_unstable_by_key(|&(b, _)| b);
    out.dedup_by_key(|&mut (b, _)| b);
    let value = 1.0 / (out.len().max(1) as f32).sqrt();
    for (_, v) in out.iter_mut() {
        *v = value;
    }
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x100_0000_01b3);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// One rated reply for fitting.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Features,
    /// Ratings in [`TARGETS`] order.
    pub ratings: [f32; 3],
    /// The conversation it belongs to (folds never split one).
    pub group: u64,
}

/// Hyper-parameters of the fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 pull of the dense inputs' weights.
    pub l2_dense: f32,
    /// L2 pull of the hashed words' weights.
    pub l2_text: f32,
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 40,
            learning_rate: 0.05,
            l2_dense: 1e-4,
            l2_text: 2e-3,
            seed: 20_261_205,
        }
    }
}

/// Fits the calibration to rated replies (least squares with AdaGrad steps).
pub fn fit(examples: &[&Example], config: &FitConfig) -> Calibration {
    let mut model = Calibration::neutral();
    if examples.is_empty() {
        return model;
    }
    for t in 0..3 {
        model.bias[t] = examples.iter().map(|e| e.ratings[t]).sum::<f32>() / examples.len() as f32;
    }
    let buckets = 1usize << BUCKET_BITS;
    let mut squares_dense = vec![[1e-6f32; 3]; DENSE.len()];
    let mut squares_text = vec![[1e-6f32; 3]; buckets];
    let mut squares_bias = [1e-6f32; 3];
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut state = config.seed | 1;
    for _ in 0..config.epochs {
        // Fisher-Yates with xorshift: the same order for the same seed on every machine.
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let e = examples[i];
            let raw = model.raw(&e.features);
            for t in 0..3 {
                let g = raw[t] - e.ratings[t];
                let rate = config.learning_rate;
                for (d, &value) in e.features.dense.iter().enumerate() {
                    if value != 0.0 {
                        let w = &mut model.dense_weights[d][t];
                        let grad = g * value + config.l2_dense * *w;
                        squares_dense[d][t] += grad * grad;
                        *w -= rate * grad / squares_dense[d][t].sqrt();
                    }
                }
                for &(b, value) in &e.features.text {
                    let w = &mut model.text_weights[b as usize][t];
                    let grad = g * value + config.l2_text * *w;
                    squares_text[b as usize][t] += grad * grad;
                    *w -= rate * grad / squares_text[b as usize][t].sqrt();
                }
                squares_bias[t] += g * g;
                model.bias[t] -= rate * g / squares_bias[t].sqrt();
            }
        }
    }
    model
}

/// Maps a predicted overall rating (1-5) to the audit's 0-100 score.
pub fn score_of(overall: f32) -> f32 {
    (overall - 1.0) / 4.0 * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_calibration_parses() {
        let text = include_str!("../../../models/audit.json");
        let c = Calibration::from_json(text).expect("models/audit.json parses");
        assert!(c.dense_weights.iter().flatten().any(|&w| w != 0.0));
        assert_eq!(Calibration::from_json(&c.to_json()).ok(), Some(c));
    }

    #[test]
    fn a_file_for_other_inputs_is_refused() {
        let mut c = Calibration::neutral();
        c.dense.pop();
        assert!(Calibration::from_json(&c.to_json()).is_err());
        assert!(Calibration::from_json("{").is_err());
    }

    #[test]
    fn the_fit_learns_which_words_people_rate_low() {
        let example = |text: &str, rating: f32, group: u64| {
            let mut features = Features::default();
            text_features(text, &mut features.text);
            Example {
                features,
                ratings: [rating; 3],
                group,
            }
        };
        let examples: Vec<Example> = (0..40)
            .flat_map(|i| {
                [
                    example("Rest assured we appreciate your patience.", 1.0, i),
                    example("I've sent a replacement, it arrives on Friday.", 5.0, i),
                ]
            })
            .collect();
        let refs: Vec<&Example> = examples.iter().collect();
        let model = fit(&refs, &FitConfig::default());
        let low = model.predict(&examples[0].features)[0];
        let high = model.predict(&examples[1].features)[0];
        assert!(high - low > 2.0, "{low} vs {high}");
    }

    #[test]
    fn text_features_collapse_links_handles_and_numbers() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        text_features("@ann see https://x.example/1 order 12345", &mut a);
        text_features("@bob see http://y.example/2 order 99999", &mut b);
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }
}
