//! The analysis of one customer message: the trained models and the cue lexicon combined into one
//! [`Analysis`], with diagnostics instead of failures.

use crate::cues::{self, Evidence, Lexicon, SIGNALS, TARGETS, TOPICS, VULNERABILITIES};
use crate::cx::{self, Context, CxModel, Input, InputScratch};
use crate::emotions::{EmotionModel, EmotionPrediction, LABELS};
use crate::encoder::Encoder;
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
    /// The message read as a turn of its conversation (only from [`Analyzer::analyze_conversation`]).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub reading: Option<Reading>,
}

/// A customer turn read in its conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// Index of the turn in the conversation.
    pub turn: usize,
    /// The customer rejects, contradicts or is let down by the previous reply.
    pub pushback: SignalScore,
    /// `open` while a problem or question is unsolved, `resolved` when the customer says it is fixed,
    /// `none` when there is no problem (praise, chit-chat).
    pub problem: &'static str,
    /// What the customer needs now, in a few words.
    pub need: String,
}

/// Who wrote a turn, as the analysis needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Customer,
    /// An agent or a bot.
    Company,
}

/// Reusable buffers so that steady-state analysis allocates only its output.
#[derive(Debug, Default)]
struct Scratch {
    model: crate::model::Scratch,
    emotion_probabilities: Vec<f32>,
    intent_probabilities: Vec<f32>,
    evidence: Vec<Evidence>,
    cx_input: Input,
    cx_inputs: InputScratch,
    cx_acc: Vec<f32>,
    cx_probabilities: Vec<f32>,
    buckets: Vec<u32>,
    embedding: Vec<f32>,
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
    cx: Option<CxModel>,
    encoder: Option<std::sync::Arc<Encoder>>,
}

impl Analyzer {
    pub fn new(emotions: EmotionModel, intent: IntentModel) -> Self {
        Self {
            emotions,
            intent,
            lexicon: Lexicon::builtin(),
            cx: None,
            encoder: None,
        }
    }

    /// The same analyser reading CX signals, sentiment and conversation state with `model` on top of the
    /// cue lexicon and the emotion model.
    pub fn with_cx(mut self, model: Option<CxModel>) -> Self {
        self.cx = model;
        self
    }

    /// The same analyser with a sentence encoder: the accurate tier, when its CX model reads sentence
    /// vectors (`features.embedding`). A CX model that reads them without an encoder sees zeros.
    pub fn with_encoder(mut self, encoder: Option<std::sync::Arc<Encoder>>) -> Self {
        self.encoder = encoder;
        self
    }

    /// The sentence encoder, when this analyser has one.
    pub fn encoder(&self) -> Option<&std::sync::Arc<Encoder>> {
        self.encoder.as_ref()
    }

    /// The tier this analyser reads with: `accurate` when its CX model reads the encoder's sentence
    /// vectors and the encoder is there, else `fast`.
    pub fn tier(&self) -> &'static str {
        match (&self.cx, &self.encoder) {
            (Some(cx), Some(_)) if cx.features().embedding > 0 => "accurate",
            _ => "fast",
        }
    }

    /// The CX model, when this analyser has one.
    pub fn cx(&self) -> Option<&CxModel> {
        self.cx.as_ref()
    }

    /// The analyser with the models that ship with Rapport.
    pub fn builtin() -> crate::Result<Self> {
        Ok(Self::new(
            crate::builtin::emotion_model()?,
            crate::builtin::intent_model()?,
        )
        .with_cx(crate::builtin::cx_model()?))
    }

    /// The analyser of the accurate tier with the models that ship with Rapport: the sentence encoder
    /// and the CX model that reads it. Falls back to the fast tier in a build without them.
    pub fn builtin_accurate() -> crate::Result<Self> {
        let fast = Self::builtin()?;
        match (
            crate::builtin::encoder()?,
            crate::builtin::cx_accurate_model()?,
        ) {
            (Some(encoder), Some(cx)) => Ok(fast
                .with_cx(Some(cx))
                .with_encoder(Some(std::sync::Arc::new(encoder)))),
            _ => Ok(fast),
        }
    }

    /// Analyses one message on its own. Never fails and never panics on any `&str`.
    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_in(text, &Context::default())
    }

    /// Analyses one message as the turn `context.turn` of a conversation, answering
    /// `context.previous_reply`. The result has no [`Reading`]; see [`Self::analyze_conversation`].
    pub fn analyze_in(&self, text: &str, context: &Context<'_>) -> Analysis {
        with_scratch(|scratch| self.analyze_with(scratch, text, context, false))
    }

    /// Analyses every customer turn of a conversation in context: each turn with the reply it answers,
    /// plus its [`Reading`] (pushback, problem, need). `None` for company turns.
    pub fn analyze_conversation(&self, turns: &[(Speaker, &str)]) -> Vec<Option<Analysis>> {
        let mut previous_reply: Option<&str> = None;
        let mut out: Vec<Option<Analysis>> = Vec::with_capacity(turns.len());
        let mut first_problem: Option<usize> = None;
        for (turn, &(speaker, text)) in turns.iter().enumerate() {
            if speaker == Speaker::Company {
                previous_reply = Some(text);
                out.push(None);
                continue;
            }
            let context = Context {
                turn,
                previous_reply,
            };
            let mut analysis =
                with_scratch(|scratch| self.analyze_with(scratch, text, &context, true));
            if let Some(reading) = analysis.reading.take() {
                if reading.problem == "open" && first_problem.is_none() {
                    first_problem = Some(turn);
                }
                let problem_text = first_problem.map_or(text, |t| turns[t].1);
                let need = need(&analysis, &reading, problem_text);
                analysis.reading = Some(Reading { need, ..reading });
            }
            out.push(Some(analysis));
        }
        out
    }

    /// The inputs of the CX model for one message (for training and evaluation).
    pub fn cx_input(&self, text: &str, context: &Context<'_>, features: &cx::CxFeatures) -> Input {
        with_scratch(|scratch| {
            let text = rapport_text::truncate_on_char_boundary(text, MAX_ANALYZED_BYTES);
            let tokens: Vec<Token<'_>> = rapport_text::tokens(text).collect();
            self.lexicon.evidence(text, &tokens, &mut scratch.evidence);
            let emotion = self.emotion(scratch, text);
            let mut input = Input::default();
            cx_input_into(
                features,
                &mut scratch.cx_inputs,
                text,
                &scratch.evidence,
                emotion.as_ref(),
                context,
                &mut input,
            );
            self.append_embedding(features, text, &mut scratch.embedding, &mut input);
            input
        })
    }

    /// Appends the sentence vector a model with `features` reads (scaled to unit variance per
    /// dimension, like the other dense inputs); zeros without an encoder.
    fn append_embedding(
        &self,
        features: &cx::CxFeatures,
        text: &str,
        buffer: &mut Vec<f32>,
        input: &mut Input,
    ) {
        if features.embedding == 0 {
            return;
        }
        match &self.encoder {
            Some(encoder) => {
                // An encoder error leaves zeros: the fast tier's inputs still hold.
                let _ = encoder.embed_into(text, buffer);
                let scale = (features.embedding as f32).sqrt();
                input.dense.extend(buffer.iter().map(|v| v * scale));
            }
            None => input
                .dense
                .extend(std::iter::repeat_n(0.0, features.embedding)),
        }
    }

    fn emotion(&self, scratch: &mut Scratch, text: &str) -> Option<EmotionPrediction> {
        if text.trim().is_empty() {
            return None;
        }
        self.emotions.model().probabilities_into(
            &mut scratch.model,
            text,
            &mut scratch.emotion_probabilities,
        );
        Some(self.emotions.predict(&scratch.emotion_probabilities))
    }

    fn analyze_with(
        &self,
        scratch: &mut Scratch,
        original: &str,
        context: &Context<'_>,
        read: bool,
    ) -> Analysis {
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
            self.emotion(scratch, text)
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
        let cx_model = self.cx.as_ref().filter(|_| english && words > 0);
        let mut reading = read.then(|| Reading {
            turn: context.turn,
            pushback: SignalScore {
                score: 0.0,
                spans: Vec::new(),
            },
            problem: "open",
            need: String::new(),
        });
        let (mut targets, sentiment) = match cx_model {
            Some(model) => {
                cx_input_into(
                    model.features(),
                    &mut scratch.cx_inputs,
                    text,
                    &scratch.evidence,
                    emotion.as_ref(),
                    context,
                    &mut scratch.cx_input,
                );
                self.append_embedding(
                    model.features(),
                    text,
                    &mut scratch.embedding,
                    &mut scratch.cx_input,
                );
                model.probabilities_into(
                    &scratch.cx_input,
                    &mut scratch.cx_acc,
                    &mut scratch.cx_probabilities,
                );
                let lexical = combine(&scratch.evidence, emotion.as_ref());
                let mut denied = [false; TARGETS];
                for e in scratch.evidence.iter().filter(|e| e.weight == cues::DENIED) {
                    denied[e.target] = true;
                }
                let calm = emotion.as_ref().is_none_or(|e| {
                    NEGATIVE_EMOTIONS
                        .iter()
                        .map(|l| label_score(e, l))
                        .fold(0.0, f32::max)
                        < CALM_BELOW
                });
                // "Playstation 4" answering "Which console are you on?": an answer, not a new feeling.
                let terse_answer =
                    calm && words <= 4 && context.previous_reply.is_some_and(|r| r.contains('?'));
                let tone = Tone {
                    calm,
                    terse_answer,
                    denied,
                };
                let mut targets = cx_targets(
                    model,
                    &scratch.cx_probabilities,
                    &tone,
                    lexical,
                    text,
                    &mut scratch.buckets,
                );
                derive_distress(&mut targets);
                let sentiment = cx_sentiment(&scratch.cx_probabilities, &targets);
                if let Some(reading) = reading.as_mut() {
                    let says = Says {
                        solved: scratch.cx_input.dense[cx::SAYS_RESOLVED_INPUT] > 0.0,
                        after_pending: scratch.cx_inputs.outcome_pending(),
                        still_broken: scratch.cx_inputs.still_broken(),
                    };
                    read_turn(
                        model,
                        &scratch.cx_probabilities,
                        says,
                        text,
                        context,
                        &mut scratch.buckets,
                        reading,
                    );
                }
                (targets, sentiment)
            }
            None => {
                let mut targets = combine(&scratch.evidence, emotion.as_ref());
                derive_distress(&mut targets);
                let sentiment = sentiment(emotion.as_ref(), &targets);
                (targets, sentiment)
            }
        };
        for target in &mut targets {
            if !target.present() {
                target.spans.clear();
            }
        }
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
            reading,
        }
    }
}

/// Pushback and problem state of a customer turn, from the CX model's conversation heads.
/// What a turn says about its problem, read from the CX model's inputs.
#[derive(Debug, Clone, Copy)]
struct Says {
    /// The customer says it is solved ("it works now"), not in a negation.
    solved: bool,
    /// The outcome is still to come: the reply answered leaves it with someone else (a claims team,
    /// a decision, a call back), or the customer says they wait to hear. A date alone ("arrives within
    /// 7 days", "well within the limit") is not that: the question can be answered and the step done.
    after_pending: bool,
    /// The customer says it still fails ("thanks, but it still doesn't work").
    still_broken: bool,
}

fn read_turn(
    model: &CxModel,
    probabilities: &[f32],
    says: Says,
    text: &str,
    context: &Context<'_>,
    buckets: &mut Vec<u32>,
    reading: &mut Reading,
) {
    if context.previous_reply.is_some() {
        let score = model.calibrated(cx::PUSHBACK_HEAD, probabilities[cx::PUSHBACK_HEAD]);
        let spans = if score >= PRESENT {
            model_evidence(model, buckets, text, cx::PUSHBACK_HEAD)
        } else {
            Vec::new()
        };
        reading.pushback = SignalScore { score, spans };
    }
    let resolved = model.calibrated(cx::RESOLVED_HEAD, probabilities[cx::RESOLVED_HEAD]);
    let none = model.calibrated(cx::NO_PROBLEM_HEAD, probabilities[cx::NO_PROBLEM_HEAD]);
    // "ok did that and it works now": the customer's own words settle it unless they push back.
    let says_solved = says.solved && !reading.pushback.present() && !says.still_broken;
    // "perfect, thank you" to "the claims team will contact you within 5 working days" is thanks for
    // a step, not a solved problem: the outcome is still to come.
    let model_solved =
        resolved >= PRESENT && resolved >= none && !says.after_pending && !says.still_broken;
    reading.problem = if says_solved || model_solved {
        "resolved"
    } else if none >= PRESENT {
        "none"
    } else {
        "open"
    };
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        // Re-entrant call on this thread (not expected): use fresh buffers.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The CX model's input for one message: hashed n-grams of the message and of the reply it answers,
/// each cue target's lexical score, the emotion probabilities and the message's style.
fn cx_input_into(
    features: &cx::CxFeatures,
    scratch: &mut InputScratch,
    text: &str,
    evidence: &[Evidence],
    emotion: Option<&EmotionPrediction>,
    context: &Context<'_>,
    input: &mut Input,
) {
    let mut lexical = [0f32; TARGETS];
    let mut miss = [1f32; TARGETS];
    for e in evidence {
        miss[e.target] *= 1.0 - e.weight.clamp(0.0, 1.0);
    }
    for (l, m) in lexical.iter_mut().zip(miss) {
        *l = 1.0 - m;
    }
    let mut emotions = [0f32; 30];
    if let Some(p) = emotion {
        emotions[..28].copy_from_slice(&p.scores);
        emotions[28] = p.positive;
        emotions[29] = p.negative;
    } else {
        emotions[crate::emotions::NEUTRAL] = 1.0;
    }
    cx::sparse_input(features, scratch, text, context, &mut input.sparse);
    cx::dense_input(
        scratch,
        text,
        &lexical,
        &emotions,
        context,
        &mut input.dense,
    );
}

/// What the message's wording says about how far the CX model alone may go.
struct Tone {
    /// No negative emotion reaches [`CALM_BELOW`].
    calm: bool,
    /// A calm answer of a few words to our question.
    terse_answer: bool,
    /// Targets whose cues the customer negated ("I'm not frustrated").
    denied: [bool; TARGETS],
}

/// The CX model's targets: each trusted head's calibrated probability (raised to the cue score when both
/// say present), with the cue spans of the target as evidence, else the words that pushed the head up;
/// targets too rare to train keep their cue score. Self-harm cues keep their score: a miss is worse than
/// a false alarm.
fn cx_targets(
    model: &CxModel,
    probabilities: &[f32],
    tone: &Tone,
    lexical: Vec<SignalScore>,
    text: &str,
    buckets: &mut Vec<u32>,
) -> Vec<SignalScore> {
    let self_harm = cues::signal("vulnerability.self_harm_risk");
    let distress = cues::signal("distress");
    lexical
        .into_iter()
        .enumerate()
        .map(|(target, cue)| {
            let mut score = model.calibrated(target, probabilities[target]);
            if !model.trusted(target) {
                // Too rare to trust over the cues; self-harm risk excepted, where a miss is worse than
                // a false alarm: the model may still raise it above its cues.
                if target != self_harm
                    || score < SELF_HARM_MODEL_ONLY
                    || tone.terse_answer
                    || cue.score >= score
                {
                    return cue;
                }
            } else if !cue.present() {
                // Without a cue of its own and without a negative tone, the model must be surer: a
                // plain question is not frustration.
                if tone.calm && NEGATIVE_SIGNALS.contains(&target) {
                    score = (score - MODEL_ONLY_MARGIN).max(0.0);
                }
                // "I'm not frustrated": the customer denies it in so many words; a churn threat
                // needs a churn cue; a terse answer to our question carries no feeling of its own.
                let displeasure = NEGATIVE_SIGNALS.contains(&target) || target == distress;
                if tone.denied[target]
                    || CUE_REQUIRED.contains(&target)
                    || (tone.terse_answer && displeasure)
                {
                    score = score.min(PRESENT - 0.05);
                }
            }
            // The model decides presence; cues keep telling how strong (distress that is "desperate
            // and in tears" outranks a mild one), and a decisive cue ("thanks for nothing") stands.
            if (score >= PRESENT || target == self_harm || cue.score >= DECISIVE_CUE)
                && cue.present()
            {
                score = score.max(cue.score);
            }
            let spans = if score < PRESENT {
                Vec::new()
            } else if cue.spans.is_empty() {
                model_evidence(model, buckets, text, target)
            } else {
                cue.spans
            };
            SignalScore { score, spans }
        })
        .collect()
}

/// How much surer than its threshold the CX model must be to make a target present without any cue.
const MODEL_ONLY_MARGIN: f32 = 0.05;

/// Signals of displeasure (indices of frustration, anger, confusion, anxiety, churn threat).
const NEGATIVE_SIGNALS: [usize; 5] = [1, 2, 3, 4, 8];

/// The score the CX model alone needs to raise self-harm risk above its cues (never for a terse answer to
/// our question: "Playstation 4" answering an apology read 0.50). Measured: 0.6 halves the recall of
/// subtle disclosures (self-harm F1 0.76 -> 0.40 cross-validated), so the bar stays at present.
const SELF_HARM_MODEL_ONLY: f32 = PRESENT;

/// A message reads calm when none of these emotions reaches [`CALM_BELOW`].
const NEGATIVE_EMOTIONS: [&str; 9] = [
    "anger",
    "annoyance",
    "disappointment",
    "disapproval",
    "disgust",
    "sadness",
    "fear",
    "nervousness",
    "grief",
];
const CALM_BELOW: f32 = 0.2;

/// Targets that are never present without a cue of their own: the CX model alone reads churn into
/// ordinary complaints.
const CUE_REQUIRED: [usize; 1] = [8];

/// A cue score at which the cue is present whatever the CX model says.
const DECISIVE_CUE: f32 = 0.85;

/// The words of `text` whose unigram weighs most for `head` (at most two), else the first sentence: a
/// present score always shows where it comes from.
fn model_evidence(model: &CxModel, buckets: &mut Vec<u32>, text: &str, head: usize) -> Vec<Span> {
    thread_local! {
        static FEATURIZER: RefCell<crate::features::Featurizer> = RefCell::default();
    }
    FEATURIZER.with(|featurizer| match featurizer.try_borrow_mut() {
        Ok(mut featurizer) => evidence_words(model, &mut featurizer, buckets, text, head),
        Err(_) => evidence_words(model, &mut Default::default(), buckets, text, head),
    })
}

fn evidence_words(
    model: &CxModel,
    featurizer: &mut crate::features::Featurizer,
    buckets: &mut Vec<u32>,
    text: &str,
    head: usize,
) -> Vec<Span> {
    let config = crate::features::FeatureConfig {
        char_min: 0,
        char_max: 0,
        word_bigrams: false,
        word_trigrams: false,
        ..model.features().text
    };
    let mut best: Vec<(f32, Span)> = Vec::new();
    for token in rapport_text::tokens(text).filter(|t| t.kind == TokenKind::Word) {
        featurizer.extract(&config, token.text, buckets);
        let Some(&bucket) = buckets.first() else {
            continue;
        };
        let weight = model.bucket_weight(bucket, head);
        if weight > 0.0 {
            best.push((weight, token.span));
        }
    }
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut spans: Vec<Span> = best.into_iter().take(2).map(|(_, s)| s).collect();
    if spans.is_empty() {
        let end = text
            .find(['.', '!', '?', '\n'])
            .map_or(text.len(), |i| i + 1);
        if end > 0 {
            spans.push(Span::new(0, end));
        }
    }
    spans.sort_unstable();
    spans
}

/// Sentiment from the ordinal heads: the expected -2..2 sentiment, halved to [-1, 1]. Present anger, abuse
/// or a churn threat keep it negative (frustration is left to the model: measured, clamping on it costs
/// rank agreement on real turns): a demand for a manager with a cancellation
/// threat is never positive.
fn cx_sentiment(probabilities: &[f32], targets: &[SignalScore]) -> Sentiment {
    let expected: f32 = probabilities[cx::SENTIMENT_HEAD..cx::PUSHBACK_HEAD]
        .iter()
        .sum::<f32>()
        - 2.0;
    let mut score = (expected / 2.0).clamp(-1.0, 1.0);
    let present = |name: &str| targets[cues::signal(name)].present();
    if ["anger", "abuse", "churn_threat"]
        .iter()
        .any(|n| present(n))
    {
        score = score.min(-0.3);
    }
    if present("human_request") && (present("churn_threat") || present("anger")) {
        score = score.min(-0.75);
    }
    Sentiment {
        score,
        label: sentiment_label(score),
    }
}

fn sentiment_label(score: f32) -> &'static str {
    if score >= 0.25 {
        "positive"
    } else if score <= -0.25 {
        "negative"
    } else {
        "neutral"
    }
}

/// What the customer needs now, in a few words: safety, a person, a different answer, nothing more, or
/// their problem in their own words (the first sentence that told it, without handles or links).
fn need(analysis: &Analysis, reading: &Reading, problem_text: &str) -> String {
    let present = |set: &ScoreSet, name: &str| set.get(name).is_some_and(SignalScore::present);
    if present(&analysis.vulnerability, "self_harm_risk") {
        return "safety first: someone to talk to now".into();
    }
    if present(&analysis.signals, "human_request") {
        return "a person to take over".into();
    }
    match reading.problem {
        "resolved" => return "nothing more: the problem is solved".into(),
        "none" => return "an acknowledgement; no problem to solve".into(),
        _ => {}
    }
    let summary = problem_summary(problem_text);
    match (reading.pushback.present(), summary) {
        (true, Some(problem)) => format!("a fix that works this time for: {problem}"),
        (true, None) => "a different answer: the last one did not help".into(),
        (false, Some(problem)) => format!("help with: {problem}"),
        (false, None) => "help with their request".into(),
    }
}

/// The first sentence of a problem, at most twelve words, without @handles or links. A greeting or an
/// introduction before it ("Hi, I'm Dana (dana@example.com).") is not the problem: the first sentence
/// that is more than that is taken.
fn problem_summary(text: &str) -> Option<String> {
    let sentences = sentences(text);
    let chosen = sentences
        .iter()
        .find(|s| !is_preamble(s))
        .or(sentences.first())?;
    let words: Vec<&str> = chosen
        .split_whitespace()
        .filter(|w| !w.starts_with('@') && !w.starts_with("http") && !w.starts_with('#'))
        .collect();
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i == 12 {
            out.push_str(" ...");
            break;
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

/// `text` cut after each `.`, `?` or `!` that ends a word (a sentence of fewer than four words stays
/// with the next one, as "Hi all." does).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut words = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if next_is_space {
            words += 1;
            if matches!(c, '.' | '?' | '!') && words >= 4 {
                out.push(text[start..=i].trim());
                start = i + c.len_utf8();
                words = 0;
            }
        }
    }
    if !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

/// A greeting or an introduction and nothing more: "Hi there!", "Hello, I'm Dana Whitfield (dana@...).",
/// "My name is Sam and my account email is sam@example.com."
fn is_preamble(sentence: &str) -> bool {
    let lower = sentence.to_lowercase().replace('\u{2019}', "'");
    let mut rest = lower.trim_start();
    for greeting in [
        "hi there",
        "hello there",
        "hey there",
        "good morning",
        "good afternoon",
        "good evening",
        "hello",
        "hiya",
        "hey",
        "hi",
        "dear team",
        "dear",
        "greetings",
    ] {
        if let Some(after) = rest.strip_prefix(greeting) {
            if after.chars().next().is_none_or(|c| !c.is_alphanumeric()) {
                rest = after.trim_start_matches(|c: char| !c.is_alphanumeric());
                break;
            }
        }
    }
    if rest.is_empty() {
        return true;
    }
    let introduces = [
        "i'm ",
        "i am ",
        "my name is ",
        "my name's ",
        "this is ",
        "it's ",
        "name's ",
    ]
    .iter()
    .any(|p| rest.starts_with(p));
    let trouble = [
        "not", "n't", "never", "still", "problem", "issue", "help", "can't", "cannot", "won't",
        "wrong", "broken", "missing", "charged", "refund", "cancel", "late", "error",
    ];
    introduces && rest.split_whitespace().count() <= 10 && !trouble.iter().any(|t| rest.contains(t))
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
    for e in evidence.iter().filter(|e| e.weight > 0.0) {
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
    Sentiment {
        score,
        label: sentiment_label(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_signal_indices_name_the_signals() {
        let names: Vec<&str> = NEGATIVE_SIGNALS.iter().map(|&i| SIGNALS[i]).collect();
        assert_eq!(
            names,
            [
                "frustration",
                "anger",
                "confusion",
                "anxiety",
                "churn_threat"
            ]
        );
        assert_eq!(SIGNALS[CUE_REQUIRED[0]], "churn_threat");
    }

    #[test]
    fn the_need_skips_a_greeting_and_an_introduction() {
        let text = "Hi, I am Dana Whitfield (dana.whitfield@example.com, 07700 900123). My order 77120 still has not arrived and it was due last week.";
        assert_eq!(
            problem_summary(text).as_deref(),
            Some("My order 77120 still has not arrived and it was due last ...")
        );
        assert_eq!(
            problem_summary("Hello! I'm Sam and my card was charged twice. Please help.")
                .as_deref(),
            Some("Hello! I'm Sam and my card was charged twice.")
        );
        assert_eq!(
            problem_summary("@brand my app keeps crashing on start up, any ideas? thanks")
                .as_deref(),
            Some("my app keeps crashing on start up, any ideas?")
        );
        assert_eq!(problem_summary("Hi there").as_deref(), Some("Hi there"));
    }
}
