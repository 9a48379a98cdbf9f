//! The conversation engine: from the turns of a conversation, the analysis of each customer turn, the
//! turns with personal data pseudonymised, the memory (facts given, things tried, promises, open
//! questions) and the emotional trajectory ([`Engine::state`]); the moves the next reply must make under a
//! company policy ([`strategy`]); and the reply itself, from the knowledge base by the built-in composer or
//! from an OpenAI-compatible LLM, audited, with a handoff packet when a person takes over
//! ([`respond::Responder`]).
//!
//! Synchronous. The only I/O is reading a knowledge-base folder and, when the policy enables it, the LLM
//! call behind the [`llm::Llm`] trait.

pub mod compose;
pub mod handoff;
pub mod kb;
pub mod llm;
pub mod memory;
pub mod policy;
pub mod problem;
pub mod respond;
pub mod score;
pub mod strategy;
pub mod trajectory;

use memory::{Memory, MemoryExtractor};
use rapport_privacy::{Detector, Entity, EntityKind, Operator, Vault};
use rapport_signals::analysis::Speaker;
use rapport_signals::{Analysis, Analyzer};
use serde::{Deserialize, Serialize};
use trajectory::{content_words, similarity, Repeat, Trajectory};

pub use rapport_audit::{Role, Turn};

/// A conversation longer than this is refused: the engine keeps the whole conversation in memory.
pub const MAX_TURNS: usize = 1_000;

/// Errors: conversations the engine will not process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the conversation has {0} turns; the limit is {MAX_TURNS}")]
    TooManyTurns(usize),
    #[error("the conversation has no turns")]
    Empty,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A conversation as clients send it: `{"turns": [{"role", "text"}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub turns: Vec<Turn>,
}

/// What the engine knows about a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    /// The turns with personal data replaced by this conversation's pseudonyms.
    pub turns: Vec<Turn>,
    /// The analysis of each customer turn, by turn index (`None` for other roles).
    pub analyses: Vec<Option<Analysis>>,
    pub memory: Memory,
    pub trajectory: Trajectory,
    /// The pseudonym vault of this conversation (never serialised: it holds the raw values).
    #[serde(skip)]
    pub vault: Vault,
}

/// The analyses of the customer turns with their turn index, in order.
pub fn customer_analyses(analyses: &[Option<Analysis>]) -> Vec<(usize, &Analysis)> {
    analyses
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
        .collect()
}

impl State {
    /// The analyses of the customer turns with their turn index, in order.
    pub fn customer(&self) -> Vec<(usize, &Analysis)> {
        customer_analyses(&self.analyses)
    }

    /// The text of the latest customer turn (pseudonymised), or "" when the customer has not written.
    pub fn latest_customer_text(&self) -> &str {
        self.turns
            .iter()
            .rev()
            .find(|t| t.role == Role::Customer)
            .map_or("", |t| t.text.as_str())
    }

    /// The signals, vulnerabilities and sensitive topics present in the latest customer turn.
    pub fn latest_signals(&self) -> Vec<&'static str> {
        self.analyses
            .iter()
            .rev()
            .flatten()
            .next()
            .map(|a| {
                a.signals
                    .present()
                    .chain(a.vulnerability.present())
                    .chain(a.sensitive_topics.present())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `entities` of `text` plus every occurrence of a `known` value they do not cover, sorted.
fn with_known(
    text: &str,
    mut entities: Vec<Entity>,
    known: &[(EntityKind, String)],
) -> Vec<Entity> {
    let before = entities.len();
    for (kind, value) in known {
        for (start, _) in text.match_indices(value.as_str()) {
            let end = start + value.len();
            if !entities.iter().any(|e| e.start < end && start < e.end) {
                entities.push(Entity {
                    kind: *kind,
                    start,
                    end,
                    confidence: 1.0,
                });
            }
        }
    }
    if entities.len() > before {
        entities.sort_by_key(|e| (e.start, e.end));
    }
    entities
}

/// The turns as the analysis reads them: the customer's, and the company's (agent, bot or system).
pub fn speakers(turns: &[Turn]) -> Vec<(Speaker, &str)> {
    turns
        .iter()
        .map(|t| {
            let speaker = if t.role == Role::Customer {
                Speaker::Customer
            } else {
                Speaker::Company
            };
            (speaker, t.text.as_str())
        })
        .collect()
}

/// The engine: models, detectors and patterns; build once and share.
#[derive(Debug)]
pub struct Engine {
    analyzer: Analyzer,
    /// The conversation reader (the accurate tier), when it differs from `analyzer`.
    reader: Option<Analyzer>,
    detector: Detector,
    memory: MemoryExtractor,
}

impl Engine {
    pub fn new(analyzer: Analyzer) -> Self {
        Self {
            analyzer,
            reader: None,
            detector: Detector::new(),
            memory: MemoryExtractor::new(),
        }
    }

    /// The name and common-word lists of the engine's personal-data detector.
    pub fn names(&self) -> &rapport_privacy::names::Gazetteer {
        self.detector.gazetteer()
    }

    /// The analyzer of customer messages.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The same engine reading conversations (state, strategy, replies, metrics) with `reader`, typically
    /// the accurate tier; single messages keep the first analyser.
    pub fn with_reader(mut self, reader: Option<Analyzer>) -> Self {
        self.reader = reader;
        self
    }

    /// The analyser that reads conversations.
    pub fn reader(&self) -> &Analyzer {
        self.reader.as_ref().unwrap_or(&self.analyzer)
    }

    /// The engine with Rapport's built-in models: the fast tier for single messages, the accurate tier
    /// (when this build has it) for conversations.
    pub fn builtin() -> rapport_signals::Result<Self> {
        let reader = Analyzer::builtin_accurate()?;
        let reader = (reader.tier() == "accurate").then_some(reader);
        Ok(Self::new(Analyzer::builtin()?).with_reader(reader))
    }

    /// The engine with Rapport's built-in fast tier only (batch scoring).
    pub fn builtin_fast() -> rapport_signals::Result<Self> {
        Ok(Self::new(Analyzer::builtin()?))
    }

    /// The analysis of each customer turn read in its conversation (with its pushback, problem state and
    /// need), by turn index (`None` for other roles).
    pub fn analyze_turns(&self, turns: &[Turn]) -> Vec<Option<Analysis>> {
        self.reader().analyze_conversation(&speakers(turns))
    }

    /// Analyses, pseudonymises and remembers a conversation (`id` scopes its pseudonyms).
    pub fn state(&self, id: &str, conversation: &Conversation) -> Result<State> {
        self.state_with(self.reader(), id, conversation)
    }

    fn state_with(
        &self,
        reader: &Analyzer,
        id: &str,
        conversation: &Conversation,
    ) -> Result<State> {
        let turns = &conversation.turns;
        if turns.is_empty() {
            return Err(Error::Empty);
        }
        if turns.len() > MAX_TURNS {
            return Err(Error::TooManyTurns(turns.len()));
        }
        let mut analyses = reader.analyze_conversation(&speakers(turns));
        let mut vault = Vault::new(id);
        let (entities, known) = self.personal_data(turns);
        let memory = self.memory.extract(turns, &entities, &mut vault);
        // A need quotes the customer's words: it holds pseudonyms, like every text the state keeps.
        for reading in analyses
            .iter_mut()
            .flatten()
            .filter_map(|a| a.reading.as_mut())
        {
            let entities = with_known(&reading.need, self.detector.detect(&reading.need), &known);
            if !entities.is_empty() {
                reading.need = rapport_privacy::apply(
                    &reading.need,
                    &entities,
                    Operator::Pseudonymize,
                    None,
                    Some(&mut vault),
                )
                .unwrap_or_else(|_| "help with their request".into());
            }
        }
        let pseudonymised: Vec<Turn> = turns
            .iter()
            .zip(&entities)
            .map(|(t, entities)| {
                let text = rapport_privacy::apply(
                    &t.text,
                    entities,
                    Operator::Pseudonymize,
                    None,
                    Some(&mut vault),
                )
                .unwrap_or_else(|_| t.text.clone());
                Turn { role: t.role, text }
            })
            .collect();
        let customer = customer_analyses(&analyses);
        let trajectory = trajectory::trajectory(&customer, self.repetition(turns));
        Ok(State {
            turns: pseudonymised,
            analyses,
            memory,
            trajectory,
            vault,
        })
    }

    /// `text` (a text beside the conversation: a bot's own system prompt, a tool's result) with its
    /// personal data replaced by the conversation's pseudonyms: what the detector finds, and every value
    /// `vault` already holds (a name given earlier is replaced wherever it appears).
    pub fn pseudonymise(&self, text: &str, vault: &mut Vault) -> String {
        let entities = self.detector.detect(text);
        let mut out =
            rapport_privacy::apply(text, &entities, Operator::Pseudonymize, None, Some(vault))
                .unwrap_or_else(|_| "[REDACTED]".into());
        // Values of four characters or more, longest first (as for the turns): "Jo" would match inside
        // other words, and a name must go before the first name inside it.
        let mut known: Vec<(String, String)> = vault
            .values()
            .filter(|(v, _)| v.chars().count() >= 4)
            .map(|(v, t)| (v.to_string(), t.to_string()))
            .collect();
        known.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        for (value, token) in known {
            if out.contains(&value) {
                out = out.replace(&value, &token);
            }
        }
        out
    }

    /// The personal data in each turn: what the detector finds there, plus every other occurrence of a
    /// value it found in any turn of the conversation ("Ticket 4111111111111111" is not recognised as a
    /// card on its own, but it is the card number the customer gave two turns before). Also returns
    /// those values, for other texts quoting the conversation.
    fn personal_data(&self, turns: &[Turn]) -> (Vec<Vec<Entity>>, Vec<(EntityKind, String)>) {
        let detected: Vec<Vec<Entity>> = turns
            .iter()
            .map(|t| self.detector.detect(&t.text))
            .collect();
        let mut known: Vec<(EntityKind, String)> = Vec::new();
        for (turn, entities) in turns.iter().zip(&detected) {
            for e in entities {
                let value = &turn.text[e.start..e.end];
                // Very short values ("Jo") would match inside other words.
                if value.chars().count() >= 4 && !known.iter().any(|(_, v)| v == value) {
                    known.push((e.kind, value.to_string()));
                }
            }
        }
        let found = turns
            .iter()
            .zip(detected)
            .map(|(turn, entities)| with_known(&turn.text, entities, &known))
            .collect();
        (found, known)
    }

    /// The customer repeating a complaint, the agent or bot asking the same question again, and a second
    /// apology.
    fn repetition(&self, turns: &[Turn]) -> Vec<Repeat> {
        let words: Vec<Vec<String>> = turns.iter().map(|t| content_words(&t.text)).collect();
        let is_staff = |t: &Turn| matches!(t.role, Role::Agent | Role::Bot);
        let mut found = Vec::new();
        let mut first_apology: Option<usize> = None;
        for (j, turn) in turns.iter().enumerate() {
            for i in 0..j {
                let same_side = (turn.role == Role::Customer && turns[i].role == Role::Customer)
                    || (is_staff(turn) && is_staff(&turns[i]));
                if !same_side || similarity(&words[i], &words[j]) < 0.6 {
                    continue;
                }
                let what = if turn.role == Role::Customer {
                    "customer_complaint"
                } else if turn.text.contains('?') && turns[i].text.contains('?') {
                    "question"
                } else {
                    "reply"
                };
                found.push(Repeat {
                    turn: j,
                    repeats: i,
                    what,
                });
                break;
            }
            if is_staff(turn) && rapport_audit::count_apologies(&turn.text) > 0 {
                match first_apology {
                    Some(first) => found.push(Repeat {
                        turn: j,
                        repeats: first,
                        what: "apology",
                    }),
                    None => first_apology = Some(j),
                }
            }
        }
        found
    }
}
