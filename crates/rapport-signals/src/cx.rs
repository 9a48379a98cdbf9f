//! The CX reading: one logistic regression per CX target, trained on annotated real support
//! conversations, stacked on top of the cue lexicon and the emotion model.
//!
//! Each customer message becomes one sparse feature vector: hashed word and character n-grams of the
//! message, hashed words of the reply it answers (the conversation as context), and a few dozen dense
//! inputs (every cue target's lexical score, the 28 emotion probabilities, shouting, punctuation, length,
//! what the previous reply did: reassure, ask, apologise, link). The heads are the CX signals,
//! vulnerabilities and topics of [`crate::cues`], four ordinal sentiment heads (`sentiment > -2`, ...),
//! pushback on the previous reply and the problem state. Decision thresholds per head are tuned on
//! out-of-fold predictions of the training data. Not for: lexical evidence (see `cues`) or how scores
//! become an [`crate::Analysis`] (see `analysis`).
//!
//! File layout (little endian): `RPCX`, format version `u32`, header length `u32`, the JSON header
//! ([`CxHeader`]), then `rows × heads` signed bytes (bucket-major, one scale per head) as one DEFLATE
//! stream, rows being the hash buckets followed by the dense inputs.

use crate::cues::{SIGNALS, TARGETS, TOPICS, VULNERABILITIES};
use crate::features::{FeatureConfig, Featurizer};
use crate::model::sigmoid;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"RPCX";
const FORMAT_VERSION: u32 = 1;

/// Ordinal sentiment heads: the probability that the -2..2 sentiment exceeds -2, -1, 0 and 1.
pub const SENTIMENT_HEADS: [&str; 4] =
    ["sentiment>-2", "sentiment>-1", "sentiment>0", "sentiment>1"];

/// Conversation heads: the customer rejects the previous reply; the problem is resolved; there is none.
pub const CONVERSATION_HEADS: [&str; 3] = ["pushback", "problem.resolved", "problem.none"];

/// Index of the first sentiment head.
pub const SENTIMENT_HEAD: usize = TARGETS;
/// Index of the pushback head.
pub const PUSHBACK_HEAD: usize = TARGETS + SENTIMENT_HEADS.len();
/// Index of the resolved head.
pub const RESOLVED_HEAD: usize = PUSHBACK_HEAD + 1;
/// Index of the no-problem head.
pub const NO_PROBLEM_HEAD: usize = PUSHBACK_HEAD + 2;

/// The names of every head, in order: signals, vulnerabilities, topics, sentiment, conversation.
pub fn head_names() -> Vec<String> {
    SIGNALS
        .iter()
        .map(|s| s.to_string())
        .chain(VULNERABILITIES.iter().map(|v| format!("vulnerability.{v}")))
        .chain(TOPICS.iter().map(|t| format!("topic.{t}")))
        .chain(SENTIMENT_HEADS.iter().map(|s| s.to_string()))
        .chain(CONVERSATION_HEADS.iter().map(|s| s.to_string()))
        .collect()
}

/// Dense inputs after the cue scores and the emotions: style, context and the previous reply.
const STYLE_AND_CONTEXT: [&str; 25] = [
    "emotion.positive",
    "emotion.negative",
    "shouting",
    "exclamations",
    "questions",
    "short",
    "long",
    "link",
    "first_turn",
    "later_turn",
    "reply.reassures",
    "reply.asks",
    "reply.apologises",
    "reply.links",
    "reply.dm",
    "reply.asks_and_short",
    "reply.reassures_and_negative",
    "reply.any_and_negative",
    "cue.negative",
    "says.resolved",
    "says.waiting",
    "says.closing",
    "reply.pending",
    "closing_after_pending",
    "closing_after_done",
];

/// Number of [`dense_names`].
const DENSE_NAMES_LEN: usize = TARGETS + crate::emotions::LABELS.len() + STYLE_AND_CONTEXT.len();

/// Index of the `says.resolved` dense input: the message says its problem is solved, not in a negation.
pub const SAYS_RESOLVED_INPUT: usize = DENSE_NAMES_LEN - 6;

/// Index of the `reply.pending` dense input: the reply answered leaves something still to happen ("our
/// claims team will contact you within 5 working days").
pub const REPLY_PENDING_INPUT: usize = DENSE_NAMES_LEN - 3;

/// Names of the dense inputs, in order (part of the model file: a model lists the inputs it was trained
/// with and refuses to load when they differ). The accurate tier appends the sentence vector.
pub fn dense_names() -> Vec<String> {
    let mut names: Vec<String> = head_names()[..TARGETS]
        .iter()
        .map(|n| format!("cue.{n}"))
        .collect();
    names.extend(
        crate::emotions::LABELS
            .iter()
            .map(|l| format!("emotion.{l}")),
    );
    names.extend(STYLE_AND_CONTEXT.iter().map(|s| s.to_string()));
    names
}

/// The conversation around a customer message: what the message answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Index of the message among the conversation's turns (0 for the first).
    pub turn: usize,
    /// The agent's or bot's reply just before this message, if any.
    pub previous_reply: Option<&'a str>,
}

/// The model's inputs for one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// Hashed features (bucket index, value).
    pub sparse: Vec<(u32, f32)>,
    /// Dense inputs in [`dense_names`] order.
    pub dense: Vec<f32>,
}

/// Settings of the hashed features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CxFeatures {
    /// Hashed n-grams of the message.
    pub text: FeatureConfig,
    /// Hashed words of the previous reply (same bucket space, salted).
    pub reply: FeatureConfig,
    /// Dimensions of the sentence vector appended to the dense inputs: 0 for the fast tier,
    /// [`crate::encoder::DIM`] for the accurate tier (which needs the sentence encoder).
    #[serde(default)]
    pub embedding: usize,
}

impl CxFeatures {
    /// The accurate tier's features: the fast tier's plus the sentence vector.
    pub fn accurate() -> Self {
        Self {
            embedding: crate::encoder::DIM,
            ..Self::default()
        }
    }

    /// Dense inputs a model with these features reads: [`dense_names`] then the sentence vector.
    pub fn dense_len(&self) -> usize {
        DENSE_NAMES_LEN + self.embedding
    }
}

impl Default for CxFeatures {
    fn default() -> Self {
        let bucket_bits = 16;
        Self {
            text: FeatureConfig {
                bucket_bits,
                char_min: 0,
                char_max: 0,
                word_bigrams: true,
                word_trigrams: false,
            },
            reply: FeatureConfig {
                bucket_bits,
                char_min: 0,
                char_max: 0,
                word_bigrams: true,
                word_trigrams: false,
            },
            embedding: 0,
        }
    }
}

const REPLY_SALT: u32 = 0x5bd1_e995;

/// Words and phrases that tell what a reply did.
const REASSURES: [&str; 10] = [
    "don't worry",
    "dont worry",
    "do not worry",
    "no need to worry",
    "rest assured",
    "be patient",
    "bear with",
    "nothing to worry",
    "not to worry",
    "in good hands",
];
/// The customer says the problem is gone.
const RESOLVED: [&str; 26] = [
    "works now",
    "working now",
    "it worked",
    "that worked",
    "that did it",
    "did the trick",
    "fixed now",
    "it's fixed",
    "its fixed",
    "all sorted",
    "it's sorted",
    "all good now",
    "it's there now",
    "came through",
    "has arrived",
    "just arrived",
    "finally arrived",
    "received it",
    "got it now",
    "problem solved",
    "resolved now",
    "back to normal",
    "landed in my account",
    "came today",
    "reset done",
    "got the confirmation",
];
/// Whether a lowercased message says its problem is solved ("it works now"), and not in a negation ("it's
/// not working now", "still hasn't arrived").
fn says_resolved(lower: &str) -> bool {
    RESOLVED.iter().any(|phrase| {
        lower.match_indices(phrase).any(|(at, _)| {
            let before = &lower[lower.floor_char_boundary(at.saturating_sub(12))..at];
            !["not ", "n't ", "no longer", "still", "never"]
                .iter()
                .any(|n| before.contains(n))
        })
    })
}

/// The customer closes the exchange: thanks, acknowledgement, approval.
const CLOSING: [&str; 20] = [
    "thank",
    "thx",
    "cheers",
    "perfect",
    "great",
    "brilliant",
    "amazing",
    "awesome",
    "legend",
    "got it",
    "gotcha",
    "makes sense",
    "fair enough",
    "sounds good",
    "that's clear",
    "really clear",
    "relief",
    "appreciate",
    "\u{1f44d}",
    "\u{1f64f}",
];
/// The previous reply leaves something still to happen that the customer must wait for.
const PENDING: [&str; 18] = [
    "within",
    "working days",
    "business days",
    "will contact",
    "will call",
    "will be in touch",
    "we'll be in touch",
    "get back to you",
    "reply by email",
    "will email",
    "email you",
    "once you",
    "once the",
    "decision",
    "claims team",
    "claims handler",
    "give me a moment",
    "i'll check",
];

/// The customer will wait for something still to happen.
const WAITING: [&str; 14] = [
    "i'll wait",
    "i will wait",
    "wait to hear",
    "wait for your",
    "let me know",
    "keep me posted",
    "keep me updated",
    "fingers crossed",
    "i'll see if",
    "we'll see",
    "hope it",
    "hopefully",
    "look forward",
    "until then",
];
const APOLOGISES: [&str; 3] = ["sorry", "apolog", "regret"];
const DM: [&str; 4] = [
    " dm",
    "direct message",
    "private message",
    "send us a message",
];

/// Words of a reply that leave the outcome with someone else, still to come.
const OUTCOME_PENDING: [&str; 18] = [
    "if it hasn't",
    "if it has not",
    "the day it",
    "as a priority",
    "will contact",
    "get back to you",
    "be in touch",
    "decision",
    "outcome",
    "claims team",
    "claims handler",
    "i'll check",
    "check in with you",
    "give me a moment",
    "until the",
    "once we hear",
    "under review",
    "investigat",
];

/// Words of a customer who is waiting for the outcome.
const WAITING_TO_HEAR: [&str; 11] = [
    "i'll see if",
    "i'll try that",
    "i'll try it",
    "i'll let you know",
    "will let you know",
    "hear back",
    "i'll wait",
    "i will wait",
    "wait to hear",
    "wait for the",
    "waiting for the",
];

/// Reusable buffers for building inputs.
#[derive(Debug, Default)]
pub struct InputScratch {
    featurizer: Featurizer,
    buckets: Vec<u32>,
    lower: String,
    cleaned: String,
    outcome_pending: bool,
    still_broken: bool,
}

impl InputScratch {
    /// Whether the outcome is still to come after the message [`dense_input`] last read: the reply it
    /// answers leaves it with someone else (a claims team, a decision, a call back), or the customer
    /// says they wait to hear. A date alone ("arrives within 7 days") is not that. Not a model input:
    /// the conversation reading uses it to keep thanks for a step from closing the problem.
    pub fn outcome_pending(&self) -> bool {
        self.outcome_pending
    }

    /// Whether the customer says, in the message [`dense_input`] last read, that it still fails ("thanks,
    /// but it still doesn't work"): not a model input; the reading never calls such a message resolved.
    pub fn still_broken(&self) -> bool {
        self.still_broken
    }
}

/// Words of a customer whose problem is still there.
const STILL_BROKEN: [&str; 20] = [
    "still doesn't",
    "still does not",
    "still isn't",
    "still is not",
    "still not ",
    "still won't",
    "still can't",
    "still cannot",
    "still broken",
    "still the same",
    "still having",
    "still getting",
    "didn't work",
    "did not work",
    "doesn't work",
    "does not work",
    "didn't help",
    "did not help",
    "didn't fix",
    "same problem",
];

/// Whether `word` is `negation`, ignoring ASCII case and reading a typographic apostrophe as `'`.
fn same_word(word: &str, negation: &str) -> bool {
    let mut chars = word.chars().map(|c| if c == '\u{2019}' { '\'' } else { c });
    negation
        .chars()
        .all(|n| chars.next().is_some_and(|c| c.eq_ignore_ascii_case(&n)))
        && chars.next().is_none()
}

/// Words that negate what follows them.
const NEGATIONS: [&str; 14] = [
    "not", "no", "never", "don't", "dont", "doesn't", "didn't", "isn't", "wasn't", "aren't",
    "can't", "cannot", "won't", "nothing",
];

/// The text as the model reads it: every @handle written `@user` and every link `url` (a company's
/// handle is not a feeling, and learning one would learn that company's share of angry customers), and
/// the three words after a negation marked `not_` until punctuation ("I'm not frustrated" is not
/// frustration).
fn neutralise_handles(text: &str, out: &mut String) {
    out.clear();
    let mut negated = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.len() > 1 && word.starts_with('@') {
            out.push_str("@user");
            out.extend(
                word.chars()
                    .skip(1)
                    .skip_while(|c| c.is_alphanumeric() || *c == '_'),
            );
            continue;
        }
        if word.starts_with("http://") || word.starts_with("https://") {
            out.push_str("url");
            continue;
        }
        let bare =
            word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '\u{2019}');
        if negated > 0 && !bare.is_empty() {
            out.push_str("not_");
            negated -= 1;
        }
        out.push_str(word);
        if word.ends_with(['.', ',', '!', '?', ';', ':']) {
            negated = 0;
        } else if NEGATIONS.iter().any(|n| same_word(bare, n)) {
            negated = 3;
        }
    }
}

/// Builds the sparse part of the input for a message and its context.
pub fn sparse_input(
    features: &CxFeatures,
    scratch: &mut InputScratch,
    text: &str,
    context: &Context<'_>,
    out: &mut Vec<(u32, f32)>,
) {
    out.clear();
    neutralise_handles(text, &mut scratch.cleaned);
    scratch
        .featurizer
        .extract(&features.text, &scratch.cleaned, &mut scratch.buckets);
    let value = 1.0 / (scratch.buckets.len().max(1) as f32).sqrt();
    out.extend(scratch.buckets.iter().map(|&b| (b, value)));
    if let Some(reply) = context.previous_reply {
        neutralise_handles(reply, &mut scratch.cleaned);
        scratch
            .featurizer
            .extract(&features.reply, &scratch.cleaned, &mut scratch.buckets);
        let mask = (features.reply.buckets() - 1) as u32;
        let value = 0.5 / (scratch.buckets.len().max(1) as f32).sqrt();
        out.extend(
            scratch
                .buckets
                .iter()
                .map(|&b| ((b ^ REPLY_SALT).wrapping_mul(0x9e37_79b1) & mask, value)),
        );
    }
}

/// Builds the dense part of the input. `cue_scores` holds each target's lexical score (noisy-OR of its
/// evidence), `emotions` the 28 emotion probabilities followed by the positive and negative group
/// probabilities.
pub fn dense_input(
    scratch: &mut InputScratch,
    text: &str,
    cue_scores: &[f32; TARGETS],
    emotions: &[f32; 30],
    context: &Context<'_>,
    out: &mut Vec<f32>,
) {
    out.clear();
    scratch.lower.clear();
    scratch
        .lower
        .extend(text.chars().map(|c| if c == '\u{2019}' { '\'' } else { c }));
    scratch.lower.make_ascii_lowercase();
    let says_resolved = f32::from(says_resolved(&scratch.lower));
    let says_waiting = f32::from(WAITING.iter().any(|p| scratch.lower.contains(p)));
    scratch.outcome_pending = WAITING_TO_HEAR.iter().any(|p| scratch.lower.contains(p));
    scratch.still_broken = STILL_BROKEN.iter().any(|p| scratch.lower.contains(p));
    let closing = f32::from(
        (CLOSING.iter().any(|p| scratch.lower.contains(p))
            || scratch
                .lower
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "ty" || w == "ta"))
            && !scratch.lower.contains('?'),
    );
    out.extend_from_slice(cue_scores);
    out.extend_from_slice(emotions);
    let (upper, letters) = rapport_text::uppercase_ratio(text);
    let shouting = if letters >= 8 { upper } else { 0.0 };
    let count = |c: char| text.matches(c).count().min(4) as f32 / 4.0;
    let words = rapport_text::tokens(text)
        .filter(|t| t.kind == rapport_text::TokenKind::Word)
        .count();
    let short = f32::from(words <= 4);
    let negative = [
        "frustration",
        "anger",
        "distress",
        "anxiety",
        "abuse",
        "churn_threat",
        "human_request",
    ]
    .iter()
    .map(|n| cue_scores[crate::cues::signal(n)])
    .fold(0.0, f32::max);
    out.extend([
        shouting,
        count('!'),
        count('?'),
        short,
        f32::from(words > 40),
        f32::from(text.contains("http")),
        f32::from(context.turn == 0),
        f32::from(context.turn > 0),
    ]);
    let reply = context.previous_reply.map(|r| {
        scratch.lower.clear();
        scratch.lower.push(' ');
        scratch
            .lower
            .extend(r.chars().map(|c| if c == '\u{2019}' { '\'' } else { c }));
        scratch.lower.make_ascii_lowercase();
        let has = |set: &[&str]| set.iter().any(|p| scratch.lower.contains(p));
        scratch.outcome_pending |= has(&OUTCOME_PENDING);
        [
            f32::from(has(&REASSURES)),
            f32::from(r.contains('?')),
            f32::from(has(&APOLOGISES)),
            f32::from(r.contains("http")),
            f32::from(has(&DM)),
            f32::from(has(&PENDING)),
        ]
    });
    let [reassures, asks, apologises, links, dm, pending] = reply.unwrap_or([0.0; 6]);
    out.extend([
        reassures,
        asks,
        apologises,
        links,
        dm,
        asks * short,
        reassures * negative,
        f32::from(reply.is_some()) * negative,
        negative,
        says_resolved,
        says_waiting,
        closing,
        pending,
        closing * pending,
        closing * f32::from(reply.is_some()) * (1.0 - pending),
    ]);
}

/// The JSON header of a model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CxHeader {
    pub kind: String,
    pub labels: Vec<String>,
    pub dense: Vec<String>,
    pub features: CxFeatures,
    pub thresholds: Vec<f32>,
    pub biases: Vec<f32>,
    pub scales: Vec<f32>,
    /// Positive training examples per head.
    #[serde(default)]
    pub positives: Vec<u32>,
    /// Per head: whether the model beat the cue lexicon on out-of-fold predictions of the training data
    /// (see [`CxModel::trusted`]).
    #[serde(default)]
    pub beats_cues: Vec<bool>,
    /// Free-form facts for the model card: data, date, cross-validated figures.
    #[serde(default)]
    pub info: serde_json::Map<String, serde_json::Value>,
}

/// The trained CX model.
#[derive(Debug, Clone)]
pub struct CxModel {
    pub header: CxHeader,
    /// `rows × heads` quantised weights, bucket-major.
    weights: Vec<i8>,
}

impl CxModel {
    pub fn heads(&self) -> usize {
        self.header.labels.len()
    }

    /// Parses a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::InvalidModel(why.to_string());
        let (header, body) = crate::model::split_file(bytes, MAGIC, FORMAT_VERSION, "CX model")?;
        let header: CxHeader =
            serde_json::from_slice(header).map_err(|e| bad(&format!("header: {e}")))?;
        if header.kind != "cx" || header.labels != head_names() || header.dense != dense_names() {
            return Err(bad(
                "the CX model was trained for other heads or inputs than this build reads; retrain it with `rapport train cx`",
            ));
        }
        let heads = header.labels.len();
        if header.thresholds.len() != heads
            || header.positives.len() != heads
            || header.beats_cues.len() != heads
            || header.biases.len() != heads
            || header.scales.len() != heads
            || header.features.text.bucket_bits != header.features.reply.bucket_bits
            || !(8..=24).contains(&header.features.text.bucket_bits)
            || ![0, crate::encoder::DIM].contains(&header.features.embedding)
        {
            return Err(bad("header lists do not match the number of heads"));
        }
        let expected = (header.features.text.buckets() + header.features.dense_len()) * heads;
        let weights = crate::model::inflate(body, expected)?;
        Ok(Self { header, weights })
    }

    /// Serialises the model to its file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).unwrap_or_default();
        crate::model::join_file(MAGIC, FORMAT_VERSION, &header, &self.weights)
    }

    /// Per-head probabilities for one input, written into `out`.
    pub fn probabilities_into(&self, input: &Input, acc: &mut Vec<f32>, out: &mut Vec<f32>) {
        let heads = self.heads();
        acc.clear();
        acc.resize(heads, 0.0);
        let buckets = self.header.features.text.buckets();
        let dense = self.header.features.dense_len();
        let mut add = |row: usize, value: f32| {
            let weights = &self.weights[row * heads..(row + 1) * heads];
            for (a, &w) in acc.iter_mut().zip(weights) {
                *a += value * f32::from(w);
            }
        };
        for &(bucket, value) in &input.sparse {
            add(bucket as usize, value);
        }
        for (i, &value) in input.dense.iter().take(dense).enumerate() {
            if value != 0.0 {
                add(buckets + i, value);
            }
        }
        out.clear();
        out.extend(
            acc.iter()
                .zip(&self.header.scales)
                .zip(&self.header.biases)
                .map(|((a, s), b)| sigmoid(a * s + b)),
        );
    }

    /// Whether a target's head is trusted over the cue lexicon: a CX signal with enough positive
    /// examples. Vulnerabilities and topics never are: annotators carry them over the later turns of a
    /// conversation ("thank you, that is kind" after a bereavement), so a message-level model learns
    /// politeness as bereavement.
    pub fn trusted(&self, head: usize) -> bool {
        head < SIGNALS.len()
            && self.header.beats_cues.get(head).copied().unwrap_or(false)
            && self
                .header
                .positives
                .get(head)
                .is_some_and(|&n| n as usize >= MIN_POSITIVES)
    }

    /// How much one hashed bucket pushes a head up (for choosing evidence words).
    pub fn bucket_weight(&self, bucket: u32, head: usize) -> f32 {
        let heads = self.heads();
        let row = bucket as usize;
        if row >= self.header.features.text.buckets() || head >= heads {
            return 0.0;
        }
        f32::from(self.weights[row * heads + head]) * self.header.scales[head]
    }

    /// The hashed feature settings this model reads.
    pub fn features(&self) -> &CxFeatures {
        &self.header.features
    }

    /// A head's probability mapped so that its decision threshold lands on 0.5.
    pub fn calibrated(&self, head: usize, probability: f32) -> f32 {
        let t = self.header.thresholds[head].clamp(0.01, 0.99);
        if probability < t {
            0.5 * probability / t
        } else {
            0.5 + 0.5 * (probability - t) / (1.0 - t)
        }
    }
}

/// One training example: its input and which heads are positive.
#[derive(Debug, Clone)]
pub struct CxExample {
    pub input: Input,
    pub positives: Vec<bool>,
    /// The conversation it belongs to (folds never split a conversation).
    pub group: u64,
}

/// Hyper-parameters of the CX trainer (AdaGrad logistic regression per head).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CxTrainConfig {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 regularisation of the hashed n-gram weights.
    pub l2: f32,
    /// L2 regularisation of the dense inputs' weights (cues, emotions, style, context): few inputs seen
    /// in every example, so they need less than the hashed n-grams.
    #[serde(default)]
    pub l2_dense: f32,
    /// L2 regularisation of the sentence vector's weights (accurate tier): many correlated inputs seen in
    /// every example, so they need more.
    #[serde(default)]
    pub l2_embedding: f32,
    /// Positive examples of a head weigh `(negatives / positives) ^ balance`.
    pub balance: f32,
    /// Folds (by conversation) of the out-of-fold predictions that tune the thresholds.
    pub threshold_folds: usize,
    pub seed: u64,
}

impl Default for CxTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            learning_rate: 0.1,
            l2: 0.01,
            l2_dense: 0.01,
            l2_embedding: 0.2,
            balance: 0.0,
            threshold_folds: 4,
            seed: 20_261_129,
        }
    }
}

/// Weights of one head before quantisation.
struct Head {
    weights: Vec<f32>,
    bias: f32,
}

fn train_head(
    examples: &[&CxExample],
    head: usize,
    rows: usize,
    buckets: usize,
    embedding_from: usize,
    config: &CxTrainConfig,
) -> Head {
    let positives = examples.iter().filter(|e| e.positives[head]).count();
    let negatives = examples.len() - positives;
    let positive_weight = if positives == 0 {
        1.0
    } else {
        ((negatives.max(1) as f32) / positives as f32).powf(config.balance)
    };
    // Pushback and problem state read what the message says to the reply it answers: the sentence
    // vector of the message alone only adds noise there (measured: pushback F1 0.78 -> 0.74 with it).
    let dense_rows = if head >= PUSHBACK_HEAD {
        embedding_from - buckets
    } else {
        rows - buckets
    };
    let mut weights = vec![0f32; rows];
    let mut squares = vec![1e-6f32; rows];
    let mut bias = 0f32;
    let mut bias_square = 1e-6f32;
    for epoch in 0..config.epochs {
        for &i in &crate::model::shuffled_order(examples.len(), config.seed, epoch) {
            let example = examples[i as usize];
            let dense = example.input.dense.iter().take(dense_rows).enumerate();
            let mut z = bias;
            for &(b, v) in &example.input.sparse {
                z += weights[b as usize] * v;
            }
            for (d, &v) in dense.clone() {
                z += weights[buckets + d] * v;
            }
            let y = example.positives[head];
            let weight = if y { positive_weight } else { 1.0 };
            let g = (sigmoid(z) - f32::from(u8::from(y))) * weight;
            let mut step = |row: usize, v: f32| {
                let l2 = if row < buckets {
                    config.l2
                } else if row < embedding_from {
                    config.l2_dense
                } else {
                    config.l2_embedding
                };
                let grad = g * v + l2 * weights[row];
                squares[row] += grad * grad;
                weights[row] -= config.learning_rate * grad / squares[row].sqrt();
            };
            for &(b, v) in &example.input.sparse {
                step(b as usize, v);
            }
            for (d, &v) in dense {
                if v != 0.0 {
                    step(buckets + d, v);
                }
            }
            bias_square += g * g;
            bias -= config.learning_rate * g / bias_square.sqrt();
        }
    }
    Head { weights, bias }
}

/// Trains every head with thresholds at 0.5.
fn fit(
    examples: &[&CxExample],
    features: CxFeatures,
    config: &CxTrainConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<CxModel> {
    let heads = head_names();
    let dense = dense_names();
    let buckets = features.text.buckets();
    let rows = buckets + features.dense_len();
    if examples.is_empty() {
        return Err(Error::InvalidInput("the training set is empty".into()));
    }
    if let Some(bad) = examples
        .iter()
        .find(|e| e.positives.len() != heads.len() || e.input.dense.len() != features.dense_len())
    {
        return Err(Error::InvalidInput(format!(
            "an example has {} labels and {} dense inputs; expected {} and {}",
            bad.positives.len(),
            bad.input.dense.len(),
            heads.len(),
            features.dense_len()
        )));
    }
    let trained: Vec<Head> = (0..heads.len())
        .into_par_iter()
        .map(|h| {
            let head = train_head(examples, h, rows, buckets, buckets + dense.len(), config);
            progress();
            head
        })
        .collect();
    let positives: Vec<u32> = (0..heads.len())
        .map(|h| examples.iter().filter(|e| e.positives[h]).count() as u32)
        .collect();
    let mut weights = vec![0i8; rows * heads.len()];
    let mut scales = Vec::with_capacity(heads.len());
    let mut biases = Vec::with_capacity(heads.len());
    for (h, head) in trained.iter().enumerate() {
        let max = head.weights.iter().fold(0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        for (row, w) in head.weights.iter().enumerate() {
            weights[row * heads.len() + h] = (w / scale).round().clamp(-127.0, 127.0) as i8;
        }
        scales.push(scale);
        biases.push(head.bias);
    }
    Ok(CxModel {
        header: CxHeader {
            kind: "cx".into(),
            thresholds: vec![0.5; heads.len()],
            labels: heads,
            dense,
            features,
            biases,
            scales,
            beats_cues: vec![false; positives.len()],
            positives,
            info: Default::default(),
        },
        weights,
    })
}

/// Positive training examples (a later turn counts twice: read alone and in context) a signal's head
/// needs before it overrules the cue lexicon: with fewer, its tuned threshold is noise.
pub const MIN_POSITIVES: usize = 25;

/// Which fold an example's conversation falls in (a stable hash of its group).
pub fn fold_of(group: u64, folds: usize) -> usize {
    let mut z = group.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % folds.max(1) as u64) as usize
}

/// Out-of-fold probabilities of every example: each fold predicted by a model trained on the others.
pub fn out_of_fold(
    examples: &[&CxExample],
    features: CxFeatures,
    config: &CxTrainConfig,
    folds: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<f32>>> {
    let mut probabilities = vec![Vec::new(); examples.len()];
    for fold in 0..folds {
        let train: Vec<&CxExample> = examples
            .iter()
            .filter(|e| fold_of(e.group, folds) != fold)
            .copied()
            .collect();
        if train.is_empty() {
            continue;
        }
        let model = fit(&train, features, config, progress)?;
        let mut acc = Vec::new();
        for (i, e) in examples.iter().enumerate() {
            if fold_of(e.group, folds) == fold {
                model.probabilities_into(&e.input, &mut acc, &mut probabilities[i]);
            }
        }
    }
    Ok(probabilities)
}

/// Trains the model on every example and tunes each head's threshold for F1 on out-of-fold predictions
/// (grouped by conversation). Sentiment heads keep 0.5: they are read as an expectation.
pub fn train(
    examples: &[&CxExample],
    features: CxFeatures,
    config: &CxTrainConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<CxModel> {
    let oof = out_of_fold(examples, features, config, config.threshold_folds, progress)?;
    let mut model = fit(examples, features, config, progress)?;
    for head in 0..model.heads() {
        if (SENTIMENT_HEAD..PUSHBACK_HEAD).contains(&head) {
            continue;
        }
        let gold: Vec<bool> = examples.iter().map(|e| e.positives[head]).collect();
        let probabilities: Vec<f32> = oof
            .iter()
            .map(|p| p.get(head).copied().unwrap_or(0.0))
            .collect();
        if gold.iter().filter(|&&g| g).count() >= 3 {
            model.header.thresholds[head] = crate::model::best_threshold(&probabilities, &gold);
        }
        if head < TARGETS {
            let threshold = model.header.thresholds[head];
            let by_model: Vec<bool> = probabilities.iter().map(|&p| p >= threshold).collect();
            let by_cues: Vec<bool> = examples
                .iter()
                .map(|e| e.input.dense.get(head).is_some_and(|&c| c >= 0.5))
                .collect();
            model.header.beats_cues[head] = f1(&by_model, &gold) > f1(&by_cues, &gold);
        }
    }
    Ok(model)
}

fn f1(predicted: &[bool], gold: &[bool]) -> f32 {
    let (mut tp, mut fp, mut fn_) = (0f32, 0f32, 0f32);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p, g) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// Number of model fits `train` makes (for progress bars): heads × (threshold folds + 1).
pub fn fits(config: &CxTrainConfig) -> u64 {
    (head_names().len() * (config.threshold_folds + 1)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_inputs_match_their_names() {
        let mut scratch = InputScratch::default();
        let mut out = Vec::new();
        let context = Context {
            turn: 2,
            previous_reply: Some("Don't worry, we'll sort it. Can you DM us?"),
        };
        dense_input(
            &mut scratch,
            "STILL NOT FIXED!!",
            &[0.0; TARGETS],
            &[0.0; 30],
            &context,
            &mut out,
        );
        assert_eq!(out.len(), dense_names().len());
        let at = |name: &str| out[dense_names().iter().position(|n| n == name).unwrap_or(0)];
        assert_eq!(dense_names()[SAYS_RESOLVED_INPUT], "says.resolved");
        assert_eq!(dense_names()[REPLY_PENDING_INPUT], "reply.pending");
        assert_eq!(at("reply.reassures"), 1.0);
        assert_eq!(at("reply.asks"), 1.0);
        assert_eq!(at("reply.dm"), 1.0);
        assert!(at("shouting") > 0.9);
    }

    #[test]
    fn handles_and_links_are_neutralised() {
        let mut out = String::new();
        neutralise_handles("@AskShop: my order https://x.y/z is late @bob_1!", &mut out);
        assert_eq!(out, "@user: my order url is late @user!");
        neutralise_handles("I'm not frustrated at all, just curious", &mut out);
        assert!(same_word("Don\u{2019}t", "don't") && !same_word("dont", "don't"));
        assert_eq!(out, "I'm not not_frustrated not_at not_all, just curious");
    }

    #[test]
    fn folds_keep_a_group_together_and_spread_groups() {
        let folds: Vec<usize> = (0..1000u64).map(|g| fold_of(g, 5)).collect();
        for f in 0..5 {
            let n = folds.iter().filter(|&&x| x == f).count();
            assert!((150..250).contains(&n), "fold {f} has {n} of 1000 groups");
        }
        assert_eq!(fold_of(42, 5), fold_of(42, 5));
    }

    #[test]
    fn a_trained_model_round_trips_and_learns_a_cue() {
        let heads = head_names().len();
        let features = CxFeatures::default();
        let mut scratch = InputScratch::default();
        let examples: Vec<CxExample> = (0..40u64)
            .map(|i| {
                let angry = i % 2 == 0;
                let text = if angry {
                    format!("still broken again, order {i}")
                } else {
                    format!("thanks a lot, order {i}")
                };
                let mut input = Input::default();
                sparse_input(
                    &features,
                    &mut scratch,
                    &text,
                    &Context::default(),
                    &mut input.sparse,
                );
                input.dense = vec![0.0; dense_names().len()];
                let mut positives = vec![false; heads];
                positives[crate::cues::signal("frustration")] = angry;
                CxExample {
                    input,
                    positives,
                    group: i,
                }
            })
            .collect();
        let refs: Vec<&CxExample> = examples.iter().collect();
        let model = train(&refs, features, &CxTrainConfig::default(), &|| {}).expect("trains");
        let model = CxModel::from_bytes(&model.to_bytes()).expect("round trip");
        let (mut acc, mut p) = (Vec::new(), Vec::new());
        let frustration = crate::cues::signal("frustration");
        model.probabilities_into(&examples[0].input, &mut acc, &mut p);
        let angry = model.calibrated(frustration, p[frustration]);
        model.probabilities_into(&examples[1].input, &mut acc, &mut p);
        let calm = model.calibrated(frustration, p[frustration]);
        assert!(angry >= 0.5 && calm < 0.5, "angry {angry}, calm {calm}");
    }
}
