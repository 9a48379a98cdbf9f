//! The analysis of one customer message: the trained models and the cue lexicon combined into one
//! [`Analysis`], with diagnostics instead of failures.

use crate::cues::{self, Evidence, Lexicon, SIGNALS, TOPICS, VULNERABILITIES};
use crate::emotions::{EmotionModel, EmotionPrediction, LABELS};
use crate::intent::IntentModel;
use rapport_text::{Span, Token, TokenKind};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::cell::RefCell;

/// Only the first `MAX_ANALYZED_BYTES` of a message are analysed; longer messages get a `truncated`
/// diagnostic. A support message is far shorter; the limit bounds the cost of hostile input.
pub const MAX_ANALYZED_BYTES: usize = 16 * 1024;

/// A signal is present when its score reaches this value.
pub const PRESENT: f32 = 0.5;

/// One scored signal with the spans that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalScore {
    #[serde(serialize_with = "round")]
    pub score: f32,
    pub spans: Vec<Span>,
}

impl SignalScore {
    pub fn present(&self) -> bool {
        self.score >= PRESENT
    }
}

/// Named scores in a fixed order, serialised as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSet {
    pub names: &'static [&'static str],
    pub scores: Vec<SignalScore>,
}

impl ScoreSet {
    pub fn get(&self, name: &str) -> Option<&SignalScore> {
        self.names
            .iter()
            .position(|&n| n == name)
            .map(|i| &self.scores[i])
    }

    /// Names of the present entries.
    pub fn present(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.names
            .iter()
            .zip(&self.scores)
            .filter(|(_, s)| s.present())
            .map(|(&n, _)| n)
    }
}

impl Serialize for ScoreSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.names.len()))?;
        for (name, score) in self.names.iter().zip(&self.scores) {
            map.serialize_entry(name, score)?;
        }
        map.end()
    }
}

fn round<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*x) * 10_000.0).round() / 10_000.0)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    #[serde(serialize_with = "round")]
    pub score: f32,
    pub label: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Emotions {
    pub scores: [f32; 28],
    pub predicted: Vec<&'static str>,
    pub ekman: Vec<&'static str>,
    pub sentiment_group: Vec<&'static str>,
}

impl Serialize for Emotions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Scores<'a>(&'a [f32; 28]);
        impl Serialize for Scores<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(28))?;
                for (label, p) in LABELS.iter().zip(self.0) {
                    map.serialize_entry(label, &((f64::from(*p) * 10_000.0).round() / 10_000.0))?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("scores", &Scores(&self.scores))?;
        map.serialize_entry("predicted", &self.predicted)?;
        map.serialize_entry("ekman", &self.ekman)?;
        map.serialize_entry("sentiment_group", &self.sentiment_group)?;
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    pub label: String,
    #[serde(serialize_with = "round")]
    pub confidence: f32,
}

/// Something about the input that the caller should know; analysis still produced a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code: `empty`, `truncated`, `language_not_supported`, `no_words`.
    pub code: &'static str,
    pub message: String,
}

/// The analysis of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub sentiment: Sentiment,
    pub emotions: Emotions,
    pub signals: ScoreSet,
    pub vulnerability: ScoreSet,
    pub sensitive_topics: ScoreSet,
    pub intent: Intent,
    /// ISO 639-1 code, or `und` when the text has no words to tell.
    pub language: &'static str,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reusable buffers so that steady-state analysis allocates only its output.
#[derive(Debug, Default)]
struct Scratch {
    model: crate::model::Scratch,
    emotion_probabilities: Vec<f32>,
    intent_probabilities: Vec<f32>,
    evidence: Vec<Evidence>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The analyser: models plus lexicon; cheap to share across threads (`&self` only).
#[derive(Debug)]
pub struct Analyzer {
    emotions: EmotionModel,
    intent: IntentModel,
    lexicon: Lexicon,
}

impl Analyzer {
    pub fn new(emotions: EmotionModel, intent: IntentModel) -> Self {
        Self {
            emotions,
            intent,
            lexicon: Lexicon::builtin(),
        }
    }

    /// The analyser with the models that ship with Rapport.
    pub fn builtin() -> crate::Result<Self> {
        Ok(Self::new(
            crate::builtin::emotion_model()?,
            crate::builtin::intent_model()?,
        ))
    }

    /// Analyses one message. Never fails and never panics on any `&str`.
    pub fn analyze(&self, text: &str) -> Analysis {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.analyze_with(&mut scratch, text),
            // Re-entrant call on this thread (not expected): use fresh buffers.
            Err(_) => self.analyze_with(&mut Scratch::default(), text),
        })
    }

    fn analyze_with(&self, scratch: &mut Scratch, original: &str) -> Analysis {
        let mut diagnostics = Vec::new();
        let text = rapport_text::truncate_on_char_boundary(original, MAX_ANALYZED_BYTES);
        if text.len() < original.len() {
            diagnostics.push(Diagnostic {
                code: "truncated",
                message: format!(
                    "message is {} bytes; only the first {} bytes were analysed",
                    original.len(),
                    text.len()
                ),
            });
        }
        let tokens: Vec<Token<'_>> = rapport_text::tokens(text).collect();
        let words = tokens.iter().filter(|t| t.kind == TokenKind::Word).count();
        if text.trim().is_empty() {
            diagnostics.push(Diagnostic {
                code: "empty",
                message: "message is empty".into(),
            });
        } else if words == 0 {
            diagnostics.push(Diagnostic {
                code: "no_words",
                message: "message has no words (emoji or symbols only); only the emotion model was applied".into(),
            });
        }
        let language = crate::language::detect(text, &tokens);
        let english = language == "en" || language == "und";
        if !english {
            diagnostics.push(Diagnostic {
                code: "language_not_supported",
                message: format!(
                    "message looks like language {language:?}; signals, emotions and intent are trained on English and were not applied"
                ),
            });
        }

        let emotion = if english && !tokens.is_empty() {
            self.emotions.model().probabilities_into(
                &mut scratch.model,
                text,
                &mut scratch.emotion_probabilities,
            );
            Some(self.emotions.predict(&scratch.emotion_probabilities))
        } else {
            None
        };
        let intent = if english && words > 0 {
            self.intent.model().probabilities_into(
                &mut scratch.model,
                text,
                &mut scratch.intent_probabilities,
            );
            let (label, confidence) = self.intent.predict(&scratch.intent_probabilities);
            Intent {
                label: label.to_string(),
                confidence,
            }
        } else {
            Intent {
                label: "unknown".into(),
                confidence: 0.0,
            }
        };
        if english && words > 0 {
            self.lexicon.evidence(text, &tokens, &mut scratch.evidence);
        } else {
            scratch.evidence.clear();
        }
        let mut targets = combine(&scratch.evidence, emotion.as_ref());
        derive_distress(&mut targets);
        let sentiment = sentiment(emotion.as_ref(), &targets);
        let emotions = match emotion {
            Some(p) => Emotions {
                scores: p.scores,
                predicted: p.predicted.iter().map(|&i| LABELS[i]).collect(),
                ekman: p.ekman,
                sentiment_group: p.sentiment_group,
            },
            None => neutral_emotions(),
        };
        let mut targets = targets.into_iter();
        let mut take = |names: &'static [&'static str]| ScoreSet {
            names,
            scores: targets.by_ref().take(names.len()).collect(),
        };
        Analysis {
            sentiment,
            emotions,
            signals: take(&SIGNALS),
            vulnerability: take(&VULNERABILITIES),
            sensitive_topics: take(&TOPICS),
            intent,
            language,
            diagnostics,
        }
    }
}

fn neutral_emotions() -> Emotions {
    let mut scores = [0.0; 28];
    scores[crate::emotions::NEUTRAL] = 1.0;
    Emotions {
        scores,
        predicted: vec!["neutral"],
        ekman: vec!["neutral"],
        sentiment_group: vec!["neutral"],
    }
}

fn label_score(p: &EmotionPrediction, label: &str) -> f32 {
    LABELS
        .iter()
        .position(|&l| l == label)
        .map_or(0.0, |i| p.scores[i])
}

/// How much the emotion model supports a signal, from the labels that express it.
fn model_support(p: &EmotionPrediction, signal: &str) -> f32 {
    let max = |labels: &[&str]| labels.iter().map(|l| label_score(p, l)).fold(0.0, f32::max);
    match signal {
        "frustration" => max(&["annoyance", "disappointment", "disapproval"]),
        "anger" => max(&["anger"]),
        "confusion" => max(&["confusion"]),
        "anxiety" => max(&["fear", "nervousness"]),
        "gratitude" => max(&["gratitude"]),
        "distress" => max(&["sadness", "grief", "fear"]),
        _ => 0.0,
    }
}

/// Noisy-OR of the evidence per target, raised by the emotion model where it has a say. Without a lexical
/// cue the model alone stays below [`PRESENT`]: a present signal always has spans to show for it.
fn combine(evidence: &[Evidence], emotion: Option<&EmotionPrediction>) -> Vec<SignalScore> {
    let mut scores: Vec<SignalScore> = (0..cues::TARGETS)
        .map(|_| SignalScore {
            score: 0.0,
            spans: Vec::new(),
        })
        .collect();
    let mut miss = [1.0f32; cues::TARGETS];
    for e in evidence {
        miss[e.target] *= 1.0 - e.weight.clamp(0.0, 1.0);
        let spans = &mut scores[e.target].spans;
        if !spans.contains(&e.span) {
            spans.push(e.span);
        }
    }
    for (target, score) in scores.iter_mut().enumerate() {
        let lexical = 1.0 - miss[target];
        let support = match (emotion, SIGNALS.get(target)) {
            (Some(p), Some(name)) => 0.6 * model_support(p, name),
            _ => 0.0,
        };
        score.score = if score.spans.is_empty() {
            support.min(PRESENT - 0.05)
        } else {
            1.0 - (1.0 - lexical) * (1.0 - support)
        };
        score.spans.sort_unstable();
    }
    scores
}

/// Distress also rises with self-harm risk, bereavement, domestic abuse, hardship and strong anxiety that
/// are present, taking their spans as its evidence.
fn derive_distress(scores: &mut [SignalScore]) {
    let distress = cues::signal("distress");
    let contributors = [
        ("vulnerability.self_harm_risk", 0.9),
        ("vulnerability.domestic_abuse", 0.8),
        ("vulnerability.bereavement", 0.7),
        ("vulnerability.financial_hardship", 0.5),
        ("vulnerability.mental_health", 0.5),
        ("anxiety", 0.5),
    ];
    for (name, factor) in contributors {
        let source = &scores[cues::signal(name)];
        if !source.present() {
            continue;
        }
        let lift = source.score * factor;
        let spans = source.spans.clone();
        let target = &mut scores[distress];
        target.score = 1.0 - (1.0 - target.score) * (1.0 - lift);
        for span in spans {
            if !target.spans.contains(&span) {
                target.spans.push(span);
            }
        }
        target.spans.sort_unstable();
    }
}

/// Sentiment in [-1, 1]: the model's positive minus negative probability, overruled by the CX signals: a
/// present frustration, anger, distress or abuse makes the message negative at least in proportion (more so
/// when several are present), and a present gratitude without them makes it positive.
fn sentiment(emotion: Option<&EmotionPrediction>, targets: &[SignalScore]) -> Sentiment {
    let model = emotion.map_or(0.0, |p| p.positive - p.negative);
    let present = |name: &str| {
        let s = &targets[cues::signal(name)];
        if s.present() {
            s.score
        } else {
            0.0
        }
    };
    // Several negative signals at once weigh more than one (noisy-OR).
    let negative = 1.0
        - ["frustration", "anger", "distress", "abuse"]
            .iter()
            .map(|n| 1.0 - present(n))
            .product::<f32>();
    let positive = present("gratitude");
    let score = if negative > 0.0 {
        model.min(-0.8 * negative)
    } else if positive > 0.0 {
        model.max(0.6 * positive)
    } else {
        model
    }
    .clamp(-1.0, 1.0);
    let label = if score >= 0.25 {
        "positive"
    } else if score <= -0.25 {
        "negative"
    } else {
        "neutral"
    };
    Sentiment { score, label }
}
