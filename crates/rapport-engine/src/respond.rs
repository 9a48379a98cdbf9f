//! The reply pipeline: state, strategy, knowledge-base passages, a reply from the LLM (pseudonymised prompt,
//! audited, repaired once) or the built-in composer, the audit of the reply, and the handoff packet.
//!
//! Never a dead end: whatever fails (policy, knowledge base, LLM), the customer gets a safe, non-empty reply
//! and the response says what went wrong in `diagnostics`.

use crate::compose::{self, Context};
use crate::handoff::{self, Handoff};
use crate::kb::KnowledgeBase;
use crate::llm::{ChatMessage, Llm};
use crate::memory::Memory;
use crate::policy::{Formality, Policy};
use crate::strategy::{self, Move, MoveKind};
use crate::trajectory::Trajectory;
use crate::{Conversation, Engine, Role, State, Turn};
use rapport_audit::{Audit, Auditor};
use serde::Serialize;
use std::sync::Arc;

/// Who wrote the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The built-in composer.
    Composer,
    /// The LLM, first answer.
    Llm,
    /// The LLM, after one repair with the audit's suggestions.
    LlmRepaired,
    /// A fixed handoff reply, because the configuration could not be loaded.
    SafeFallback,
}

/// What `rapport reply` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// Signals, vulnerabilities and sensitive topics present in the latest customer turn.
    pub signals: Vec<&'static str>,
    pub strategy: Vec<Move>,
    /// The reply for the customer (re-hydrated: their own name and details are back).
    pub reply: String,
    /// The audit of the reply (scored on its pseudonymised form).
    pub audit: Audit,
    pub memory: Memory,
    pub trajectory: Trajectory,
    pub handoff: Option<Handoff>,
    pub source: Source,
    /// The knowledge-base article the reply drew on.
    pub article: Option<String>,
    /// The conversation is in discreet mode (a sensitive topic of the policy came up).
    pub discreet: bool,
    /// What went wrong on the way, in plain words (empty when nothing did).
    pub diagnostics: Vec<String>,
    /// The conversation's pseudonym vault (never serialised: it holds the raw values).
    #[serde(skip)]
    pub vault: rapport_privacy::Vault,
}

/// A conversation read and its next reply decided, for a writer outside the engine (a bot's own LLM
/// call through the OpenAI-compatible endpoint): the strategy, Rapport's guidance for the writer, and
/// the composer's reply as the fallback. Every text in it is pseudonymised.
#[derive(Debug)]
pub struct Prepared {
    pub state: State,
    pub moves: Vec<Move>,
    /// Instructions for the writer: the moves with their reasons, the memory, the article, the policy.
    pub guidance: String,
    /// The composer's reply (or the safe handoff reply when the policy could not be loaded).
    pub composed: String,
    /// Who wrote `composed`.
    pub fallback: Source,
    /// The knowledge-base article the reply may draw on.
    pub article: Option<crate::kb::Article>,
    pub discreet: bool,
    pub diagnostics: Vec<String>,
}

impl Prepared {
    /// Rapport answers itself and no writer is asked: the strategy hands off to a person or follows the
    /// safety protocol, or the policy could not be loaded.
    pub fn takes_over(&self) -> bool {
        self.fallback == Source::SafeFallback
            || self
                .moves
                .iter()
                .any(|m| matches!(m.kind, MoveKind::Handoff | MoveKind::SafetyProtocol))
    }
}

/// The fixed reply when the configuration is broken: a person takes over.
pub const SAFE_REPLY: &str = "Thanks for your message. I'm passing this to a colleague on our team now, with everything you've written, and they'll reply here as soon as they can.";

/// Builds replies; build once and share.
#[derive(Debug)]
pub struct Responder {
    engine: Arc<Engine>,
    policy: Policy,
    kb: Option<KnowledgeBase>,
    llm: Option<Box<dyn Llm>>,
    auditor: Auditor,
    /// Configuration problems found at start-up, repeated in every response.
    problems: Vec<String>,
    /// The policy could not be loaded: every reply is the safe handoff.
    safe_mode: bool,
}

impl Responder {
    /// A responder with a valid policy and, if it loaded, a knowledge base.
    pub fn new(engine: Arc<Engine>, policy: Policy, kb: Option<KnowledgeBase>) -> Self {
        Self {
            engine,
            policy,
            kb,
            llm: None,
            auditor: Auditor::new(),
            problems: Vec::new(),
            safe_mode: false,
        }
    }

    /// A responder from configuration that may have failed to load. A broken policy puts it in safe mode
    /// (every reply hands off to a person); a missing knowledge base leaves the composer without articles.
    pub fn from_config(
        engine: Arc<Engine>,
        policy: Result<Policy, String>,
        kb: Result<KnowledgeBase, String>,
    ) -> Self {
        let mut problems = Vec::new();
        let (policy, safe_mode) = match policy {
            Ok(p) => (p, false),
            Err(e) => {
                problems.push(format!(
                    "{e}; every reply hands off to a person until it is fixed"
                ));
                (Policy::default(), true)
            }
        };
        let kb = match kb {
            Ok(kb) => Some(kb),
            Err(e) => {
                problems.push(format!("{e}; replies carry no knowledge-base steps"));
                None
            }
        };
        Self {
            problems,
            safe_mode,
            ..Self::new(engine, policy, kb)
        }
    }

    /// Lets an LLM write replies (the composer remains the fallback).
    pub fn with_llm(mut self, llm: Box<dyn Llm>) -> Self {
        self.llm = Some(llm);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Configuration problems found at start-up.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The next reply to `conversation` (`id` scopes its pseudonyms).
    pub fn reply(&self, id: &str, conversation: &Conversation) -> crate::Result<Response> {
        let mut prepared = self.prepare(id, conversation)?;
        let (draft, source) = match &self.llm {
            Some(llm)
                if !self.safe_mode
                    && !prepared
                        .moves
                        .iter()
                        .any(|m| m.kind == MoveKind::SafetyProtocol) =>
            {
                match self.ask_llm(llm.as_ref(), &prepared) {
                    Ok((text, source)) => (text, source),
                    Err(why) => {
                        prepared
                            .diagnostics
                            .push(format!("{why}; the built-in composer replied"));
                        (prepared.composed.clone(), Source::Composer)
                    }
                }
            }
            _ => (prepared.composed.clone(), prepared.fallback),
        };
        Ok(self.conclude(prepared, draft, source))
    }

    /// Reads `conversation` and decides the next reply without writing it with an LLM: the strategy,
    /// the article, the composer's reply (the fallback) and the guidance for a writer. `id` scopes the
    /// pseudonyms.
    pub fn prepare(&self, id: &str, conversation: &Conversation) -> crate::Result<Prepared> {
        let mut state = self.engine.state(id, conversation)?;
        let diagnostics = self.problems.clone();
        let (discreet, sensitive) = self.discreet(&state, conversation);
        if self.safe_mode {
            let moves = vec![Move {
                kind: MoveKind::Handoff,
                reasons: vec![
                    "the company policy could not be loaded: a person replies instead".into(),
                ],
            }];
            return Ok(Prepared {
                state,
                moves,
                guidance: String::new(),
                composed: SAFE_REPLY.to_string(),
                fallback: Source::SafeFallback,
                article: None,
                discreet,
                diagnostics,
            });
        }
        let moves = strategy::decide(&state, &self.policy);
        let query = self.query(&state, conversation);
        let mut hits = self
            .kb
            .as_ref()
            .map(|kb| kb.search(&query, 3))
            .unwrap_or_default();
        let retention = retention(&state);
        if retention || already_cancelled(state.latest_customer_text()) {
            hits.retain(|h| h.article.kind.as_deref() != Some("cancellation"));
        }
        // The customer's problem is with a product the knowledge base never mentions: its steps are for
        // the company's own products (only the articles about the customer's life still apply).
        if let Some(kb) = &self.kb {
            let latest = conversation
                .turns
                .iter()
                .rev()
                .find(|t| t.role == Role::Customer)
                .map_or("", |t| t.text.as_str());
            if kb
                .unknown_product(latest, &self.policy.brand.name, self.engine.names())
                .is_some()
            {
                hits.retain(|h| {
                    matches!(h.article.kind.as_deref(), Some("bereavement" | "hardship"))
                });
            }
        }
        let article = hits
            .iter()
            .find(|h| h.relevant())
            .map(|h| h.article.clone());
        let mut vault = std::mem::replace(&mut state.vault, rapport_privacy::Vault::new(id));
        let composed = compose::compose(
            &Context {
                state: &state,
                moves: &moves,
                policy: &self.policy,
                hits: &hits,
                discreet,
                sensitive: &sensitive,
                retention,
                words: self.engine.names(),
            },
            &mut vault,
        );
        state.vault = vault;
        let guidance = instructions(&state, &moves, article.as_ref(), &self.policy, discreet);
        Ok(Prepared {
            state,
            moves,
            guidance,
            composed,
            fallback: Source::Composer,
            article,
            discreet,
            diagnostics,
        })
    }

    /// The reply `draft` (pseudonymised) written by `source`, re-hydrated and audited, with the
    /// handoff packet.
    pub fn conclude(&self, prepared: Prepared, draft: String, source: Source) -> Response {
        let Prepared {
            state,
            moves,
            article,
            discreet,
            diagnostics,
            ..
        } = prepared;
        self.finish(
            state,
            moves,
            draft,
            source,
            article.map(|a| a.id),
            discreet,
            diagnostics,
        )
    }

    /// Whether a writer's pseudonymised `draft` may reach the customer, and its audit.
    pub fn gate(&self, prepared: &Prepared, draft: &str) -> (bool, Audit) {
        let audit = self.audit(
            &prepared.state,
            draft,
            prepared.article.as_ref().map(|a| a.id.as_str()),
        );
        (self.passes(&audit), audit)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        state: State,
        moves: Vec<Move>,
        draft: String,
        source: Source,
        article: Option<String>,
        discreet: bool,
        diagnostics: Vec<String>,
    ) -> Response {
        let draft = if draft.trim().is_empty() {
            SAFE_REPLY.to_string()
        } else {
            draft
        };
        let reply = state.vault.rehydrate(&draft);
        let audit = self.audit_shown(&state, &reply, article.as_deref());
        let handoff = handoff::packet(&state, &moves, &self.policy);
        let signals = state.latest_signals();
        Response {
            signals,
            strategy: moves,
            reply,
            audit,
            memory: state.memory,
            trajectory: state.trajectory,
            handoff,
            source,
            article,
            discreet,
            diagnostics,
            vault: state.vault,
        }
    }

    /// The audit of a pseudonymised draft against the pseudonymised conversation (the gate on an LLM's
    /// answer, which saw only pseudonyms); `article` (an id) is the knowledge-base article the draft may
    /// quote.
    pub fn audit(&self, state: &State, draft: &str, article: Option<&str>) -> Audit {
        self.audit_turns(&state.turns, draft, article)
    }

    /// The audit of the reply as the customer reads it, against the conversation as it was written
    /// (re-hydrated through the vault): the score and spans `rapport audit`, agent assist and the
    /// service give for the same texts.
    pub fn audit_shown(&self, state: &State, reply: &str, article: Option<&str>) -> Audit {
        let turns: Vec<Turn> = state
            .turns
            .iter()
            .map(|t| Turn {
                role: t.role,
                text: state.vault.rehydrate(&t.text),
            })
            .collect();
        self.audit_turns(&turns, reply, article)
    }

    fn audit_turns(&self, turns: &[Turn], draft: &str, article: Option<&str>) -> Audit {
        let last = turns
            .iter()
            .rposition(|t| t.role == Role::Customer)
            .unwrap_or(0);
        let customer = turns
            .get(last)
            .filter(|t| t.role == Role::Customer)
            .map_or("", |t| t.text.as_str());
        let mut company_text: Vec<String> = self.policy.safety.resources.clone();
        company_text.push(self.policy.safety.message.clone());
        company_text.push(self.policy.brand.name.clone());
        company_text.extend(self.policy.language.required_disclosures.iter().cloned());
        if let Some(a) =
            article.and_then(|id| self.kb.as_ref()?.articles().iter().find(|a| a.id == id))
        {
            company_text.push(a.intro.clone());
            company_text.extend(a.steps.iter().cloned());
        }
        let policy = self.policy.audit_policy(company_text);
        // The draft is never empty here and the composer stays far below the size limit; an LLM answer
        // over it was cut on the way in.
        let draft = rapport_text::truncate_on_char_boundary(draft, rapport_audit::MAX_REPLY_BYTES);
        self.auditor
            .audit(customer, draft, &turns[..last], &policy)
            .unwrap_or_else(|_| {
                self.auditor
                    .audit(customer, SAFE_REPLY, &turns[..last], &policy)
                    .unwrap_or_else(|e| unreachable!("the safe reply is a valid reply: {e}"))
            })
    }

    /// Whether a discreet topic of the policy came up, and the customer's sensitive phrases (lower case).
    fn discreet(&self, state: &State, conversation: &Conversation) -> (bool, Vec<String>) {
        let mut phrases = Vec::new();
        for (analysis, turn) in state.analyses.iter().zip(&conversation.turns) {
            let Some(a) = analysis else { continue };
            for topic in &self.policy.discreet.topics {
                let hit = a.sensitive_topics.get(topic).filter(|s| s.present());
                for span in hit.into_iter().flat_map(|s| &s.spans) {
                    if let Some(text) = turn.text.get(span.start..span.end) {
                        let text = text.to_lowercase();
                        if !phrases.contains(&text) {
                            phrases.push(text);
                        }
                    }
                }
            }
        }
        (!phrases.is_empty(), phrases)
    }

    /// The knowledge-base query: the latest customer turn, the one before it, the intent and any
    /// vulnerability.
    fn query(&self, state: &State, conversation: &Conversation) -> String {
        let mut parts: Vec<String> = Vec::new();
        // The customer's own words and what they need now: a retail intent label ("payment issue")
        // would steer a game studio's or an airline's question to a shop's payment-plan article.
        for &(i, a) in state.customer().iter().rev().take(2) {
            parts.push(conversation.turns[i].text.clone());
            if let Some(reading) = &a.reading {
                parts.push(reading.need.clone());
            }
            parts.extend(a.vulnerability.present().map(|v| v.replace('_', " ")));
        }
        parts.join(" ")
    }

    /// A reply from the LLM: first answer, or one repair; an error says why it was not used.
    fn ask_llm(&self, llm: &dyn Llm, prepared: &Prepared) -> Result<(String, Source), String> {
        let mut messages = vec![ChatMessage::new("system", prepared.guidance.clone())];
        messages.extend(transcript(&prepared.state));
        let first = llm.chat(&messages).map_err(|e| e.to_string())?;
        let (passes, audit) = self.gate(prepared, &first);
        if passes {
            return Ok((first, Source::Llm));
        }
        messages.push(ChatMessage::new("assistant", first));
        messages.push(ChatMessage::new("user", repair_request(&audit)));
        let second = llm.chat(&messages).map_err(|e| format!("repair: {e}"))?;
        let (passes, audit) = self.gate(prepared, &second);
        if passes {
            Ok((second, Source::LlmRepaired))
        } else {
            Err(format!(
                "the LLM reply failed the audit twice (last score {})",
                audit.score
            ))
        }
    }

    /// Whether an audit lets a writer's reply reach the customer.
    pub fn passes(&self, audit: &Audit) -> bool {
        audit.score >= self.policy.llm.min_audit_score
            && !audit.hollow_sympathy
            && audit.pii_leak.is_empty()
            && audit.policy_violations.is_empty()
    }
}

/// The LLM prompt: instructions with the strategy, memory, knowledge passages and policy, then the
/// pseudonymised transcript.
pub fn prompt(
    state: &State,
    moves: &[Move],
    hits: &[crate::kb::Hit<'_>],
    policy: &Policy,
    discreet: bool,
) -> Vec<ChatMessage> {
    let article = hits.iter().find(|h| h.relevant()).map(|h| h.article);
    let mut messages = vec![ChatMessage::new(
        "system",
        instructions(state, moves, article, policy, discreet),
    )];
    messages.extend(transcript(state));
    messages
}

/// What the audit asks a writer to change, as the next user message of a repair.
pub fn repair_request(audit: &Audit) -> String {
    format!(
        "Rapport's audit scored that reply {}/100. Rewrite it: {} Write only the new reply.",
        audit.score,
        audit.suggestions.join(" ")
    )
}

/// The writer's instructions: the strategy with its reasons, the memory, the knowledge-base article and
/// the policy's rules (pseudonymised, like the state).
pub fn instructions(
    state: &State,
    moves: &[Move],
    article: Option<&crate::kb::Article>,
    policy: &Policy,
    discreet: bool,
) -> String {
    let mut system = format!(
        "You write the next reply from {brand}'s customer support to the customer below, in a {voice} voice{emoji}.\n\
         Write only the reply text: warm, specific to this customer, and useful. Never use sympathy without a fix; \
         say who does what and when; apologise at most once in the whole conversation; never ask again for a fact \
         listed under Memory; copy placeholders such as <PERSON_1> or <EMAIL_1> exactly and never invent personal \
         data; always leave a way to reach a person.\n",
        brand = policy.brand.name,
        voice = match policy.brand.formality {
            Formality::Casual => "friendly, casual",
            Formality::Neutral => "friendly, plain",
            Formality::Formal => "courteous, formal",
        },
        emoji = if policy.brand.emoji { "" } else { ", without emoji" },
    );
    if discreet && !policy.discreet.repeat_details {
        system.push_str("The customer raised a sensitive topic: do not repeat their sensitive details back to them.\n");
    }
    if !policy.language.banned_phrases.is_empty() {
        system.push_str(&format!(
            "Never write these phrases: {}.\n",
            policy.language.banned_phrases.join("; ")
        ));
    }
    for d in &policy.language.required_disclosures {
        system.push_str(&format!("Include this sentence: {d}\n"));
    }
    system.push_str("\nThe reply must make these moves:\n");
    for m in moves {
        let name = serde_json::to_value(m.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        system.push_str(&format!("- {name}: {}\n", m.reasons.join("; ")));
    }
    system.push_str("\nMemory (what the customer already told us):\n");
    for f in &state.memory.facts {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        system.push_str(&format!("- {kind}: {}\n", f.value));
    }
    for t in &state.memory.tried {
        system.push_str(&format!("- already tried: {}\n", t.text));
    }
    for p in &state.memory.promised {
        system.push_str(&format!("- we promised: {}\n", p.text));
    }
    if let Some(article) = article {
        system.push_str(&format!(
            "\nKnowledge base: {}\n{}\n",
            article.title, article.intro
        ));
        for (i, s) in article.steps.iter().enumerate() {
            system.push_str(&format!("{}. {s}\n", i + 1));
        }
    }
    system
}

/// The pseudonymised transcript as chat messages (the customer is `user`, the company `assistant`).
fn transcript(state: &State) -> impl Iterator<Item = ChatMessage> + '_ {
    state
        .turns
        .iter()
        .filter(|t| t.role != Role::System)
        .map(|t: &Turn| {
            ChatMessage::new(
                if t.role == Role::Customer {
                    "user"
                } else {
                    "assistant"
                },
                t.text.clone(),
            )
        })
}

/// "I cancelled the trial and still got charged": how to cancel is no answer to someone who already
/// did.
fn already_cancelled(text: &str) -> bool {
    let lower = text.to_lowercase().replace('\u{2019}', "'");
    [
        "i cancelled",
        "i canceled",
        "i've cancelled",
        "i've canceled",
        "i have cancelled",
        "i have canceled",
        "already cancelled",
        "already canceled",
        "i keep cancelling",
        "i keep canceling",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// A customer who threatens to leave ("if it's not here by Friday I'm cancelling everything", "give me
/// a reason not to switch") needs the problem fixed and a reason to stay, not cancellation steps: the
/// knowledge base's `Kind: cancellation` articles are left out then, unless they ask how to cancel.
fn retention(state: &State) -> bool {
    static ASKS_TO_CANCEL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let threat = state
        .analyses
        .iter()
        .rev()
        .flatten()
        .next()
        .and_then(|a| a.signals.get("churn_threat"))
        .is_some_and(|s| s.present());
    if !threat {
        return false;
    }
    let asks = ASKS_TO_CANCEL.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(how (do|can|would) i (cancel|close|end|leave|switch|terminate)|(please|pls|plz|i want to|i'd like to|i would like to|i need to|help me|can you|could you) (cancel|close|end|leave|terminate)|cancel (it|my \w+|the \w+) (now|today|please|asap)|keep my number)\b",
        )
        .unwrap_or_else(|e| panic!("the cancel-request pattern compiles: {e}"))
    });
    !asks.is_match(state.latest_customer_text())
}
