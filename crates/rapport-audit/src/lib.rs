//! Reply audit: scores a draft reply (by a bot or a human agent) for perceived empathy and usefulness, and
//! says how to fix it.
//!
//! Pure: no I/O. The empathy mechanisms follow EPITOME (Sharma et al., EMNLP 2020): emotional
//! reaction, interpretation and exploration, each none/weak/strong, found with patterns the project wrote
//! (EPITOME itself is research-only and was used to design and evaluate them, not to train anything).
//!
//! ## Score (0-100)
//!
//! The score is the overall rating (1-5) a person would give the reply, mapped to 0-100, as predicted by
//! the [`calibration`]: a linear model over the audit's parts and the reply's words, fitted to people's
//! ratings of real replies (`models/audit.json`, embedded). `heard` and `moved` are its predictions of
//! how heard the customer would feel and how far the reply moves the problem. Rules apply on top: each
//! PII leak costs 30 points, each policy violation 10.
//!
//! When the customer's message shows a risk of self-harm, safety comes before everything else: a reply
//! that checks the customer is safe and gives crisis resources scores at least 85 (whatever else it
//! does), one that does only one of the two at most 60, and one that does neither at most 20.

pub mod calibration;
mod mechanisms;
mod readability;

use rapport_text::Span;
use serde::{Deserialize, Serialize};

pub use calibration::{Calibration, Features};
pub use mechanisms::Mechanisms;

/// How many apologies ("sorry", "apologise", "apologies") a text makes. The engine counts apologies
/// across a conversation with the same rule the audit uses for one reply.
pub fn count_apologies(text: &str) -> usize {
    mechanisms::apology_pattern().find_iter(text).count()
}

/// Replies longer than this are refused: a support reply is far shorter, and the limit bounds the cost.
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// Errors: input the audit cannot score.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the reply is empty")]
    EmptyReply,
    #[error("the reply is {0} bytes; the limit is {MAX_REPLY_BYTES} bytes")]
    ReplyTooLong(usize),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Agent,
    Bot,
    System,
}

/// One earlier turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// A company's simple reply rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Phrases a reply must not contain (case-insensitive).
    #[serde(default)]
    pub banned_phrases: Vec<String>,
    /// Phrases a reply must contain (e.g. a disclosure that an automated assistant is writing).
    #[serde(default)]
    pub required_disclosures: Vec<String>,
    /// Text the company wrote and stands behind (knowledge-base articles, safety resources, disclosures):
    /// names and numbers quoted from it are not leaks.
    #[serde(default)]
    pub company_text: Vec<String>,
}

/// A mechanism's level with the spans that show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub level: u8,
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readability {
    /// Flesch-Kincaid grade level.
    pub grade: f32,
}

/// A phrase found in the reply, with where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub text: String,
    pub span: Span,
}

/// Personal data in the reply that the customer did not give in this conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leak {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub span: Span,
}

/// The audit of one reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    pub score: u8,
    /// Predicted rating (1-5) of how heard the customer would feel.
    pub heard: f32,
    /// Predicted rating (1-5) of how far the reply moves the problem.
    pub moved: f32,
    pub emotional_reaction: Level,
    pub interpretation: Level,
    pub exploration: Level,
    /// A concrete next step (0.5), who does it (0.25) and when (0.25).
    pub actionability: f32,
    /// How much of the customer's own details (numbers, names, content words) the reply uses, in [0, 1].
    pub specificity: f32,
    /// Sympathy or apology without an action, an answer or a handoff while the customer's problem is open.
    pub hollow_sympathy: bool,
    /// Sentences (and apologies) of the reply already used by the agent or bot earlier in the conversation.
    pub repetition: Vec<Finding>,
    /// Dismissive or blaming wording.
    pub dismissive: Vec<Finding>,
    pub over_apology: bool,
    pub readability: Readability,
    pub pii_leak: Vec<Leak>,
    pub policy_violations: Vec<String>,
    /// Present when the customer's message shows a risk of self-harm: what the reply does about it
    /// decides the score (see the crate docs).
    pub safety: Option<Safety>,
    pub suggestions: Vec<String>,
}

/// A reply to a customer at risk of self-harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Safety {
    /// It asks whether the customer is safe ("Are you safe right now?").
    pub checks_safety: bool,
    /// It gives crisis resources (an emergency number, a helpline, Samaritans, a person to talk to).
    pub gives_resources: bool,
}

/// The auditor: compiled patterns and a PII detector; build once and share.
#[derive(Debug)]
pub struct Auditor {
    mechanisms: Mechanisms,
    /// Fitted combination of the parts (None: the shipped one).
    calibration: Option<Box<Calibration>>,
    pii: rapport_privacy::Detector,
    risk: regex::Regex,
    checks_safety: regex::Regex,
    resources: regex::Regex,
}

impl Default for Auditor {
    fn default() -> Self {
        Self::new()
    }
}

impl Auditor {
    pub fn new() -> Self {
        let pattern = |p: &str| regex::Regex::new(p).expect("the safety patterns compile");
        Self {
            mechanisms: Mechanisms::new(),
            calibration: None,
            pii: rapport_privacy::Detector::new(),
            risk: pattern(
                r"(?i)\b(kill(ing)? myself|end(ing)? (it all|my life)|suicid\w*|self[- ]harm|hurt(ing)? myself|(don'?t|do not|can'?t)( really| even)? see (the|any) point (of|in) (being here|living|going on|anything|it all)|better off without me|no reason to live|(don'?t|do not) want to (be here|live|wake up|be alive|exist)|want to die|wish i (was|were) dead|take my (own )?life|not be here anymore|can'?t go on)",
            ),
            checks_safety: pattern(
                r"(?i)\b(are you safe|you('re| are) safe|keep(ing)? yourself safe|are you (ok|okay|alright) right now|in (immediate )?danger)",
            ),
            resources: pattern(
                r"(?i)(samaritans|\b(999|911|988|112|116 ?123)\b|crisis (line|team|text)|helpline|lifeline|emergency services|\bA&E\b|talk to someone (now|tonight|today)|someone to talk to)",
            ),
        }
    }

    /// The same auditor with another calibration (cross-validation, a refitted file).
    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = Some(Box::new(calibration));
        self
    }

    /// The calibration this auditor scores with.
    pub fn calibration(&self) -> &Calibration {
        self.calibration
            .as_deref()
            .unwrap_or_else(|| Calibration::builtin())
    }

    /// The empathy mechanisms alone (what `rapport eval epitome` scores).
    pub fn mechanisms(&self, reply: &str) -> [Level; 3] {
        self.mechanisms.levels(reply)
    }

    /// Audits `reply` to `customer`, given the conversation so far and the company's policy.
    pub fn audit(
        &self,
        customer: &str,
        reply: &str,
        history: &[Turn],
        policy: &Policy,
    ) -> Result<Audit> {
        let (mut audit, features, reading) = self.assess(customer, reply, history, policy)?;
        let [overall, heard, moved] = self.calibration().predict(&features);
        audit.heard = (heard * 10.0).round() / 10.0;
        audit.moved = (moved * 10.0).round() / 10.0;
        let mut score = calibration::score_of(overall);
        score -= 30.0 * audit.pii_leak.len() as f32;
        score -= 10.0 * audit.policy_violations.len() as f32;
        if let Some(safety) = audit.safety {
            score = match (safety.checks_safety, safety.gives_resources) {
                (true, true) => score.max(85.0),
                (false, false) => score.min(20.0),
                _ => score.min(60.0),
            };
        }
        audit.score = score.clamp(0.0, 100.0).round() as u8;
        audit.suggestions = suggestions(&audit, reading);
        Ok(audit)
    }

    /// The calibration's inputs for `reply` (what `rapport train audit` fits on).
    pub fn features(
        &self,
        customer: &str,
        reply: &str,
        history: &[Turn],
        policy: &Policy,
    ) -> Result<Features> {
        Ok(self.assess(customer, reply, history, policy)?.1)
    }

    /// Every part of the audit but the score, and the calibration's inputs.
    fn assess(
        &self,
        customer: &str,
        reply: &str,
        history: &[Turn],
        policy: &Policy,
    ) -> Result<(Audit, Features, Reading)> {
        if reply.trim().is_empty() {
            return Err(Error::EmptyReply);
        }
        if reply.len() > MAX_REPLY_BYTES {
            return Err(Error::ReplyTooLong(reply.len()));
        }
        let [emotional_reaction, interpretation, exploration] = self.mechanisms.levels(reply);
        let m = &self.mechanisms;
        let actionability = m.actionability(reply);
        let specificity = specificity(customer, history, reply);
        let apologies = m.apologies(reply);
        let sympathy = emotional_reaction.level > 0 || apologies > 0;
        let handoff = m.is_handoff(reply);
        let information = m.gives_information(reply);
        // A needed question ("Which device are you using?") moves the problem too.
        let answered = actionability >= 0.5 || handoff || information || exploration.level > 0;
        let problem_open = m.problem_is_open(customer);
        let hollow_sympathy = sympathy && !answered && problem_open;
        let earlier: Vec<&Turn> = history
            .iter()
            .filter(|t| matches!(t.role, Role::Agent | Role::Bot))
            .collect();
        let earlier_apologies: usize = earlier.iter().map(|t| m.apologies(&t.text)).sum();
        let mut repetition = repeated_sentences(reply, &earlier);
        if earlier_apologies > 0 {
            // The same apology again: once per conversation is sincere, twice is a script.
            for span in m.apology_spans(reply) {
                if !repetition.iter().any(|r| r.span.overlaps(&span)) {
                    repetition.push(Finding {
                        text: reply[span.start..span.end].to_string(),
                        span,
                    });
                }
            }
        }
        let over_apology = apologies >= 3 || (apologies >= 1 && earlier_apologies >= 2);
        let dismissive = m.dismissive(reply, actionability);
        let grade = readability::flesch_kincaid_grade(reply);
        let pii_leak = self.leaks(customer, history, reply, &policy.company_text);
        let policy_violations = policy_violations(reply, policy);
        let clarity = (1.0 - (grade - 8.0).max(0.0) / 6.0).clamp(0.0, 1.0);
        let [action_done, action_promised, timeline] = m.acts(reply);
        let (numbers, names, words) = counts(reply);
        let flag = |b: bool| f32::from(u8::from(b));
        let mut features = Features {
            dense: [
                f32::from(emotional_reaction.level) / 2.0,
                f32::from(interpretation.level) / 2.0,
                f32::from(exploration.level) / 2.0,
                actionability,
                specificity,
                flag(hollow_sympathy),
                dismissive.len().min(2) as f32 / 2.0,
                repetition.len().min(2) as f32 / 2.0,
                flag(over_apology),
                clarity,
                apologies.min(2) as f32 / 2.0,
                flag(handoff),
                flag(information),
                flag(problem_open),
                flag(action_done),
                flag(action_promised),
                flag(timeline),
                flag(reply.contains('?')),
                flag(reply.contains("://") || reply.contains("www.")),
                numbers.min(4) as f32 / 4.0,
                names.min(4) as f32 / 4.0,
                ((1 + words) as f32).ln() / 5.0,
                flag(words < 12),
                flag(customer.contains('?')),
            ],
            text: Vec::new(),
        };
        calibration::text_features(reply, &mut features.text);
        let safety = self.risk.is_match(customer).then(|| Safety {
            checks_safety: self.checks_safety.is_match(reply),
            gives_resources: self.resources.is_match(reply),
        });
        let audit = Audit {
            score: 0,
            heard: 0.0,
            moved: 0.0,
            emotional_reaction,
            interpretation,
            exploration,
            actionability,
            specificity,
            hollow_sympathy,
            repetition,
            dismissive,
            over_apology,
            readability: Readability {
                grade: (grade * 10.0).round() / 10.0,
            },
            pii_leak,
            policy_violations,
            safety,
            suggestions: Vec::new(),
        };
        let reading = Reading {
            problem_open,
            moves: answered,
        };
        Ok((audit, features, reading))
    }

    fn leaks(
        &self,
        customer: &str,
        history: &[Turn],
        reply: &str,
        company: &[String],
    ) -> Vec<Leak> {
        // What the customer said in this conversation (their own name, in any case) and what the
        // company wrote are theirs to see again.
        let given: Vec<String> = std::iter::once(customer)
            .chain(
                history
                    .iter()
                    .filter(|t| t.role == Role::Customer)
                    .map(|t| t.text.as_str()),
            )
            .chain(company.iter().map(String::as_str))
            .map(str::to_lowercase)
            .collect();
        let links = links(reply);
        self.pii
            .detect(reply)
            .into_iter()
            .filter(|e| {
                let value = reply[e.start..e.end].to_lowercase();
                // A leak costs a third of the score: only a confident name counts (a product or a
                // word the detector half-recognises does not).
                let confident =
                    e.kind != rapport_privacy::EntityKind::Person || e.confidence >= 0.7;
                let joined: String = value.split_whitespace().collect();
                confident
                    && !given
                        .iter()
                        .any(|g| g.contains(&value) || (joined.len() >= 4 && g.contains(&joined)))
                    && !not_personal(reply, e, &links, self.pii.gazetteer())
            })
            .map(|e| Leak {
                kind: e.kind.as_str(),
                span: e.span(),
            })
            .collect()
    }
}

/// Words of organisations and services that a name detector can take for people ("Samaritans",
/// "National Foundation for Credit Counseling", "our Billing team").
const ORGANISATION_WORDS: [&str; 22] = [
    "samaritans",
    "counseling",
    "counselling",
    "foundation",
    "billing",
    "support",
    "services",
    "service",
    "helpline",
    "hotline",
    "lifeline",
    "team",
    "trust",
    "council",
    "association",
    "centre",
    "center",
    "society",
    "advice",
    "citizens",
    "stepchange",
    "shelter",
];

/// Context that shows a phone number belongs to a service, not a person: "Samaritans on 116 123",
/// "our Billing team is on 0800 ...", "call us on", "the helpline".
const SERVICE_CONTEXT: [&str; 12] = [
    "samaritans",
    "helpline",
    "hotline",
    "lifeline",
    "crisis",
    "team",
    "call us",
    "us on",
    "our ",
    "line on",
    "service",
    "emergency",
];

/// Whether a detected entity of `reply` is the agent's, the customer's own or a service's, not
/// somebody's personal data: the agent introducing or signing themselves, the customer addressed by
/// name ("Hi Daniel", "sorry for the trouble, James!"), an organisation or a role ("our CEO ..."),
/// anything inside a link the reply gives, a service's or an emergency number, a team mailbox.
fn not_personal(
    reply: &str,
    e: &rapport_privacy::Entity,
    links: &[Span],
    names: &rapport_privacy::names::Gazetteer,
) -> bool {
    use rapport_privacy::EntityKind;
    if matches!(e.kind, EntityKind::Url) || links.iter().any(|l| l.overlaps(&e.span())) {
        return true;
    }
    let value = reply[e.start..e.end].to_lowercase();
    let before = reply[..e.start].to_lowercase();
    let after = &reply[e.end..];
    match e.kind {
        EntityKind::Person => {
            let introduction = ["i'm ", "i am ", "my name is ", "this is "]
                .iter()
                .any(|p| before.ends_with(p));
            // The customer addressed: after a greeting, or between a comma and the end of a sentence.
            let addressed = before.trim_end_matches([' ', ',']);
            let greeted = [
                "hi",
                "hello",
                "hey",
                "dear",
                "hallo",
                "hola",
                "bonjour",
                "thanks",
                "thank you",
                "morning",
                "afternoon",
                "evening",
            ]
            .iter()
            .any(|g| {
                addressed.ends_with(g)
                    && addressed[..addressed.len() - g.len()]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !c.is_alphanumeric())
            });
            // Where the name's sentence starts (after any @handles that open the reply).
            let sentence = before
                .rfind(['.', '!', '?', '\n'])
                .map_or(before.as_str(), |i| &before[i + 1..]);
            let sentence = sentence
                .split_whitespace()
                .skip_while(|w| w.starts_with('@'))
                .collect::<Vec<_>>()
                .join(" ");
            let closes = after.trim_start().starts_with(['!', '.', '?', ',', ':']);
            let vocative = (before.ends_with(", ") && closes)
                || (sentence.is_empty() && after.starts_with(','))
                || (closes
                    && [
                        "hi", "hello", "hey", "thank", "thanks", "congrat", "welcome", "good ",
                    ]
                    .iter()
                    .any(|g| sentence.starts_with(g)));
            // Title-case words no name list knows are products and features ("Xbox Live",
            // "Creative Cloud", "Lightroom") far more often than people in a reply.
            let unknown = !value.split_whitespace().any(|w| names.is_listed_name(w));
            // "~Brianna", "^Jo", "- Tom", "_Rjay", "Best, Tom" at the very end (a thread's "2/2"
            // after it), or right after the link the reply ends on.
            let rest = after.trim().trim_end_matches(['.', '!']);
            let last = rest.is_empty()
                || (rest.len() <= 5 && rest.chars().all(|c| c.is_ascii_digit() || c == '/'));
            let trimmed = before.trim_end();
            let signed = last
                && (trimmed
                    .ends_with(['~', '^', '-', '*', '_', '\u{2013}', '\u{2014}', ',', '\n'])
                    || before.ends_with('\n')
                    || trimmed.is_empty()
                    || links.iter().any(|l| l.end == trimmed.len()));
            let organisation = value.split_whitespace().any(|w| {
                ORGANISATION_WORDS.contains(&w.trim_matches(|c: char| !c.is_alphanumeric()))
            }) || after.trim_start().to_lowercase().starts_with("team")
                || before.ends_with("the ")
                || before.ends_with("our ")
                || ["ceo ", "president ", "founder ", "director "]
                    .iter()
                    .any(|r| before.ends_with(r));
            introduction || greeted || vocative || signed || organisation || unknown
        }
        EntityKind::Phone => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            let emergency =
                ["999", "911", "112", "111", "116123", "988"].contains(&digits.as_str());
            let start = before.floor_char_boundary(before.len().saturating_sub(40));
            let near = &before[start..];
            let personal = [" him", " her", " them", " my ", " his", " wife", " husband"]
                .iter()
                .any(|p| near.contains(p));
            // Toll-free and non-geographic numbers belong to businesses.
            let toll_free = [
                "1800", "1888", "1877", "1866", "1855", "1844", "1833", "0800", "0808",
            ]
            .iter()
            .any(|p| digits.starts_with(p))
                || (digits.len() == 10
                    && ["800", "888", "877", "866", "855", "844", "833"]
                        .iter()
                        .any(|p| digits.starts_with(p)));
            emergency
                || toll_free
                || (!personal && SERVICE_CONTEXT.iter().any(|c| near.contains(c)))
        }
        EntityKind::Email => {
            // A team's mailbox, not a person's.
            let local = value.split('@').next().unwrap_or("");
            TEAM_MAILBOXES.iter().any(|m| local.starts_with(m))
        }
        _ => false,
    }
}

/// Local parts of e-mail addresses that belong to a team, not a person.
const TEAM_MAILBOXES: [&str; 18] = [
    "support", "help", "care", "info", "contact", "report", "abuse", "privacy", "security",
    "noreply", "no-reply", "service", "team", "hello", "feedback", "billing", "accounts", "dpo",
];

/// Links and @handles in a reply (what the detector finds inside one is part of the address, not
/// personal data: the handle is the customer's or the company's own).
fn links(reply: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut offset = 0;
    for chunk in reply.split_inclusive(char::is_whitespace) {
        let word = chunk.trim_end();
        if word.contains("://") || word.starts_with("www.") || word.starts_with('@') {
            let start = offset + word.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            out.push(Span::new(start, offset + word.len()));
        }
        offset += chunk.len();
    }
    out
}

/// Numbers (two digits or more), capitalised words inside a sentence (names, products, places) and
/// words of a reply.
fn counts(reply: &str) -> (usize, usize, usize) {
    let (mut numbers, mut names, mut words) = (0, 0, 0);
    let mut sentence_start = true;
    for token in rapport_text::tokens(reply) {
        if token.kind != rapport_text::TokenKind::Word {
            sentence_start = matches!(token.text.chars().next(), Some('.' | '!' | '?' | ':'));
            continue;
        }
        words += 1;
        if token.text.chars().filter(char::is_ascii_digit).count() >= 2 {
            numbers += 1;
        } else if !sentence_start
            && token.text != "I"
            && !token.text.starts_with("I'")
            && token.text.chars().next().is_some_and(char::is_uppercase)
        {
            names += 1;
        }
        sentence_start = false;
    }
    (numbers, names, words)
}

/// Share of the customer's specific details that the reply uses: numbers (order ids, amounts) count
/// double, then capitalised names and longer content words.
fn specificity(customer: &str, history: &[Turn], reply: &str) -> f32 {
    let source: String = std::iter::once(customer)
        .chain(
            history
                .iter()
                .filter(|t| t.role == Role::Customer)
                .map(|t| t.text.as_str()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let reply_lower = reply.to_lowercase();
    let mut details = 0usize;
    let mut used = 0usize;
    let mut seen: Vec<String> = Vec::new();
    for token in rapport_text::tokens(&source) {
        let word = token.text;
        let numeric = word.chars().filter(char::is_ascii_digit).count() >= 2;
        let content =
            word.chars().count() >= 5 && !STOPWORDS.iter().any(|s| word.eq_ignore_ascii_case(s));
        if token.kind != rapport_text::TokenKind::Word || !(numeric || content) {
            continue;
        }
        let lower = word.to_lowercase();
        if seen.contains(&lower) {
            continue;
        }
        seen.push(lower.clone());
        let weight = if numeric { 2 } else { 1 };
        details += weight;
        let stem: String = lower.chars().take(6).collect();
        if reply_lower.contains(&stem) {
            used += weight;
        }
    }
    if details == 0 {
        return 1.0;
    }
    // Using about a third of what the customer said is already specific.
    ((used as f32 / details as f32) * 3.0).min(1.0)
}

const STOPWORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "already",
    "because",
    "before",
    "being",
    "could",
    "doesn't",
    "didn't",
    "every",
    "there",
    "their",
    "these",
    "thing",
    "think",
    "those",
    "would",
    "should",
    "still",
    "where",
    "which",
    "while",
    "please",
    "thanks",
    "hello",
    "today",
    "really",
    "something",
    "anything",
    "nothing",
    "other",
    "since",
    "until",
    "going",
    "getting",
    "can't",
    "won't",
    "don't",
    "isn't",
];

fn normalise_sentence(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sentences of `reply` that an earlier agent or bot turn already used (ignoring case and punctuation).
fn repeated_sentences(reply: &str, earlier: &[&Turn]) -> Vec<Finding> {
    let earlier_sentences: Vec<String> = earlier
        .iter()
        .flat_map(|t| {
            sentences(&t.text)
                .into_iter()
                .map(|s| normalise_sentence(&t.text[s.start..s.end]))
        })
        .filter(|s| s.split(' ').count() >= 3)
        .collect();
    sentences(reply)
        .into_iter()
        .filter(|s| {
            let n = normalise_sentence(&reply[s.start..s.end]);
            n.split(' ').count() >= 3 && earlier_sentences.contains(&n)
        })
        .map(|s| Finding {
            text: reply[s.start..s.end].to_string(),
            span: s,
        })
        .collect()
}

/// Sentence spans (trimmed), split after `.`, `!`, `?` or a line break.
pub(crate) fn sentences(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            push_trimmed(text, start, i + c.len_utf8(), &mut out);
            start = i + c.len_utf8();
        }
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let piece = &text[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if start + lead < end - trail {
        out.push(Span::new(start + lead, end - trail));
    }
}

fn policy_violations(reply: &str, policy: &Policy) -> Vec<String> {
    let lower = reply.to_lowercase();
    let banned = policy
        .banned_phrases
        .iter()
        .filter(|p| !p.trim().is_empty() && lower.contains(&p.to_lowercase()))
        .map(|p| format!("banned phrase: {p:?}"));
    let missing = policy
        .required_disclosures
        .iter()
        .filter(|p| !p.trim().is_empty() && !lower.contains(&p.to_lowercase()))
        .map(|p| format!("missing required disclosure: {p:?}"));
    banned.chain(missing).collect()
}

/// What the audit read besides its reported parts, for the suggestions.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// The customer's message still has a problem to solve.
    problem_open: bool,
    /// The reply acts, answers, asks a needed question or hands off.
    moves: bool,
}

fn suggestions(a: &Audit, reading: Reading) -> Vec<String> {
    let problem_open = reading.problem_open;
    let mut out = Vec::new();
    if let Some(safety) = a.safety {
        if !safety.checks_safety {
            out.push("The customer may be at risk of self-harm: first ask whether they are safe right now.".to_string());
        }
        if !safety.gives_resources {
            out.push("Give crisis resources before anything else: the emergency number and a helpline such as Samaritans (116 123 in the UK).".to_string());
        }
    }
    // A safe reply to a customer at risk is not the place for order numbers and timelines.
    let safe = a
        .safety
        .is_some_and(|s| s.checks_safety && s.gives_resources);
    if a.hollow_sympathy {
        out.push("Pair the sympathy with an action, an answer or a handoff: sympathy alone reads as scripted.".to_string());
    }
    if a.actionability < 0.5 && problem_open && !safe && (!reading.moves || a.moved < 3.0) {
        out.push("Add a concrete next step: what will happen, who does it and by when (e.g. \"I've asked the warehouse to resend it; you'll get tracking by Friday\").".to_string());
    }
    if a.emotional_reaction.level == 0
        && a.interpretation.level == 0
        && problem_open
        && a.heard < 3.5
    {
        out.push("Acknowledge the customer's situation in one short, specific sentence before the fix (e.g. \"I'm sorry the refund still hasn't arrived\").".to_string());
    }
    if a.specificity < 0.34 && !safe {
        out.push("Use the customer's own details (order number, product, amount, what they already tried) instead of generic words.".to_string());
    }
    for d in &a.dismissive {
        out.push(format!(
            "Remove {:?}: it dismisses or blames the customer; explain what you can do instead.",
            d.text
        ));
    }
    for r in &a.repetition {
        out.push(format!("Don't repeat {:?} from earlier in the conversation; say something new or move the case forward.", r.text));
    }
    if a.over_apology {
        out.push(
            "Apologise once, for the specific failure; repeated apologies sound insincere."
                .to_string(),
        );
    }
    if a.readability.grade > 9.0 {
        out.push(format!(
            "Use shorter sentences and plainer words (reading grade {:.1}; aim for 8 or below).",
            a.readability.grade
        ));
    }
    for leak in &a.pii_leak {
        out.push(format!(
            "Remove the {} at bytes {}..{}: the customer did not share it in this conversation.",
            leak.kind, leak.span.start, leak.span.end
        ));
    }
    for violation in &a.policy_violations {
        out.push(format!("Fix the policy violation ({violation})."));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_and_trim() {
        let text = "Hi there. How are you?\nFine";
        let parts: Vec<&str> = sentences(text)
            .iter()
            .map(|s| &text[s.start..s.end])
            .collect();
        assert_eq!(parts, ["Hi there.", "How are you?", "Fine"]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let auditor = Auditor::new();
        let policy = Policy::default();
        assert!(matches!(
            auditor.audit("hi", "  ", &[], &policy),
            Err(Error::EmptyReply)
        ));
        let huge = "a".repeat(MAX_REPLY_BYTES + 1);
        assert!(matches!(
            auditor.audit("hi", &huge, &[], &policy),
            Err(Error::ReplyTooLong(_))
        ));
    }
}
