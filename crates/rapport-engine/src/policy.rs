//! The company policy file (TOML): brand voice, thresholds, escalation rules, safety protocol, apology
//! budget, banned phrases, required disclosures, discreet-mode rules and the knowledge base location.
//!
//! Every key has a documented default (see `examples/policy.toml`); unknown keys are errors, and every
//! error names the key and says why.

use serde::{Deserialize, Serialize};

/// Errors reading a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy: {0}")]
    Parse(String),
    #[error("policy: `{key}` {why}")]
    Invalid { key: &'static str, why: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Formality {
    Casual,
    Neutral,
    Formal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Brand {
    /// The company name used in replies.
    pub name: String,
    pub formality: Formality,
    /// Address the customer by their first name when they gave it.
    pub use_customer_name: bool,
    pub emoji: bool,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            name: "our team".into(),
            formality: Formality::Neutral,
            use_customer_name: true,
            emoji: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Distress at or above this counts as high.
    pub high_distress: f32,
    /// Churn threat at or above this makes the conversation a retention priority.
    pub churn: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            high_distress: 0.7,
            churn: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Escalation {
    /// Hand off when the customer asks for a human. Must stay true: Rapport never traps a customer.
    pub on_human_request: bool,
    /// Hand off when distress stays high for this many customer turns in a row.
    pub distress_turns: usize,
    /// Hand off when distress rises after a reassuring reply.
    pub on_rise_after_reassurance: bool,
    /// End every reply that does not hand off with how to reach a person.
    pub offer_human: bool,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            on_human_request: true,
            distress_turns: 2,
            on_rise_after_reassurance: true,
            offer_human: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Safety {
    /// What the reply says when a message shows self-harm risk, before the resources.
    pub message: String,
    /// Support lines and services listed with the safety message.
    pub resources: Vec<String>,
}

impl Default for Safety {
    fn default() -> Self {
        Self {
            message: "Thank you for telling me. What you're going through matters more than anything else here, and you deserve support right now. I'm connecting you with a person on our team.".into(),
            resources: vec![
                "If you are in immediate danger, call your local emergency number.".into(),
                "Samaritans (UK and Ireland): 116 123, free, day or night.".into(),
                "988 Suicide & Crisis Lifeline (US): call or text 988.".into(),
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Language {
    /// Apologies allowed per conversation.
    pub apology_budget: usize,
    /// Phrases replies must never contain.
    pub banned_phrases: Vec<String>,
    /// Phrases every reply must contain (e.g. that an automated assistant is writing).
    pub required_disclosures: Vec<String>,
}

impl Default for Language {
    fn default() -> Self {
        Self {
            apology_budget: 1,
            banned_phrases: vec!["calm down".into(), "as I already said".into()],
            required_disclosures: Vec::new(),
        }
    }
}

/// The sensitive topics Rapport detects, for discreet-mode rules.
pub use rapport_signals::cues::TOPICS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Discreet {
    /// Topics that switch a conversation into discreet mode.
    pub topics: Vec<String>,
    /// Whether replies may repeat the sensitive details back to the customer.
    pub repeat_details: bool,
}

impl Default for Discreet {
    fn default() -> Self {
        Self {
            topics: TOPICS.iter().map(|t| t.to_string()).collect(),
            repeat_details: false,
        }
    }
}

/// An OpenAI-compatible endpoint that writes replies instead of the built-in composer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Llm {
    /// Off by default: the built-in composer replies.
    pub enabled: bool,
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key (never the key itself); unset means no key.
    pub api_key_env: String,
    pub timeout_ms: u64,
    /// Ask for a server-sent-event stream.
    pub stream: bool,
    pub temperature: f32,
    pub max_tokens: u32,
    /// An LLM reply scoring below this in Rapport's audit is repaired once, then replaced.
    pub min_audit_score: u8,
}

impl Default for Llm {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.1".into(),
            api_key_env: "RAPPORT_LLM_API_KEY".into(),
            timeout_ms: 10_000,
            stream: false,
            temperature: 0.3,
            max_tokens: 400,
            min_audit_score: 70,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeBase {
    /// Folder of Markdown articles; empty means the shipped example knowledge base.
    pub path: String,
}

/// The response times the company commits to, in its own words. The composer promises these and no
/// others: an empty one names no time ("as soon as they can").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Commitments {
    /// When a colleague answers after a handoff, e.g. "within 15 minutes".
    pub handoff_reply: String,
    /// When a customer with an open problem hears from us next, e.g. "within 24 hours".
    pub update: String,
    /// When the support team answers a message passed on to it, e.g. "within 1 working day".
    pub support_reply: String,
}

/// A company's policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub brand: Brand,
    pub commitments: Commitments,
    pub thresholds: Thresholds,
    pub escalation: Escalation,
    pub safety: Safety,
    pub language: Language,
    pub discreet: Discreet,
    pub knowledge_base: KnowledgeBase,
    pub llm: Llm,
}

impl Policy {
    /// What the reply audit checks of this policy (banned phrases, required disclosures), with the
    /// company's own text whose names and contacts are not leaks.
    pub fn audit_policy(&self, company_text: Vec<String>) -> rapport_audit::Policy {
        rapport_audit::Policy {
            banned_phrases: self.language.banned_phrases.clone(),
            required_disclosures: self.language.required_disclosures.clone(),
            company_text,
        }
    }

    /// Parses and validates a policy file's text.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the values that the types alone do not.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |key: &'static str, why: &str| {
            Err(PolicyError::Invalid {
                key,
                why: why.to_string(),
            })
        };
        for (key, value) in [
            ("commitments.handoff_reply", &self.commitments.handoff_reply),
            ("commitments.update", &self.commitments.update),
            ("commitments.support_reply", &self.commitments.support_reply),
        ] {
            if value.len() > 80 || value.contains(['\n', '.', '!', '?']) {
                return invalid(
                    key,
                    "must be a short time phrase without sentence punctuation, e.g. \"within 24 hours\"",
                );
            }
        }
        for (key, value) in [
            ("thresholds.high_distress", self.thresholds.high_distress),
            ("thresholds.churn", self.thresholds.churn),
        ] {
            if !(0.0..=1.0).contains(&value) || value == 0.0 {
                return invalid(key, &format!("must be in (0, 1], got {value}"));
            }
        }
        if !self.escalation.on_human_request {
            return invalid(
                "escalation.on_human_request",
                "must be true: a customer who asks for a human always gets a path to one",
            );
        }
        if self.escalation.distress_turns == 0 {
            return invalid("escalation.distress_turns", "must be at least 1");
        }
        if self.safety.message.trim().is_empty() {
            return invalid(
                "safety.message",
                "must not be empty: it is what a customer at risk reads",
            );
        }
        if let Some(topic) = self
            .discreet
            .topics
            .iter()
            .find(|t| !TOPICS.contains(&t.as_str()))
        {
            return invalid(
                "discreet.topics",
                &format!(
                    "has unknown topic {topic:?}; known topics: {}",
                    TOPICS.join(", ")
                ),
            );
        }
        if self.llm.enabled {
            let url = self.llm.base_url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(
                    "llm.base_url",
                    &format!("must start with http:// or https://, got {url:?}"),
                );
            }
            if self.llm.model.trim().is_empty() {
                return invalid("llm.model", "must not be empty when llm.enabled is true");
            }
        }
        if !(100..=120_000).contains(&self.llm.timeout_ms) {
            return invalid(
                "llm.timeout_ms",
                &format!(
                    "must be between 100 and 120000, got {}",
                    self.llm.timeout_ms
                ),
            );
        }
        if !(0.0..=2.0).contains(&self.llm.temperature) {
            return invalid(
                "llm.temperature",
                &format!("must be between 0 and 2, got {}", self.llm.temperature),
            );
        }
        if self.llm.min_audit_score > 100 {
            return invalid("llm.min_audit_score", "must be at most 100");
        }
        if self.brand.name.trim().is_empty() {
            return invalid("brand.name", "must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_policy_is_valid() {
        let text = include_str!("../../../examples/policy.toml");
        let policy = Policy::from_toml(text).expect("example policy");
        assert_eq!(policy.brand.name, "Northwind Home");
        assert!(!policy.safety.resources.is_empty());
    }

    #[test]
    fn defaults_apply_to_missing_keys() {
        assert_eq!(Policy::from_toml("").expect("empty"), Policy::default());
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = Policy::from_toml("[brand]\nnmae = \"x\"").expect_err("unknown key");
        assert!(unknown.to_string().contains("nmae"), "{unknown}");
        let range = Policy::from_toml("[thresholds]\nhigh_distress = 1.5").expect_err("range");
        assert!(
            range.to_string().contains("thresholds.high_distress"),
            "{range}"
        );
        let trap = Policy::from_toml("[escalation]\non_human_request = false").expect_err("trap");
        assert!(
            trap.to_string().contains("escalation.on_human_request"),
            "{trap}"
        );
        let topic = Policy::from_toml("[discreet]\ntopics = [\"gossip\"]").expect_err("topic");
        assert!(topic.to_string().contains("gossip"), "{topic}");
        let kind = Policy::from_toml("[escalation]\ndistress_turns = \"two\"").expect_err("type");
        assert!(kind.to_string().contains("distress_turns"), "{kind}");
    }
}
