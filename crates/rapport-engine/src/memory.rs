//! Conversation memory: the facts a customer gave (ids, amounts, dates, contact details as pseudonyms),
//! what they already tried, and what the company promised, each with the turn it came from.

use crate::Turn;
use rapport_audit::Role;
use rapport_privacy::{Entity, EntityKind, Vault};
use regex::Regex;
use serde::Serialize;

/// What kind of fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    OrderId,
    AccountId,
    TicketId,
    Amount,
    Date,
    /// Personal data, held as a pseudonym (`<EMAIL_1>`): the value stays in the conversation's vault.
    Contact,
    Name,
}

/// One fact the customer gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub kind: FactKind,
    pub value: String,
    /// Index of the turn it came from.
    pub turn: usize,
}

/// Something the customer already tried, or something the company promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub text: String,
    pub turn: usize,
}

/// Everything remembered about a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub facts: Vec<Fact>,
    pub tried: Vec<Statement>,
    pub promised: Vec<Statement>,
    /// Customer questions that no later agent or bot turn has answered yet.
    pub open_questions: Vec<Statement>,
}

impl Memory {
    /// Whether a fact of this kind is already known (so a reply must not ask for it again).
    pub fn knows(&self, kind: FactKind) -> bool {
        self.facts.iter().any(|f| f.kind == kind)
    }
}

/// Compiled extraction patterns.
#[derive(Debug)]
pub struct MemoryExtractor {
    order: Regex,
    account: Regex,
    ticket: Regex,
    amount: Regex,
    date: Regex,
    tried: Regex,
    promise: Regex,
}

fn re(pattern: &str) -> Regex {
    // Patterns are constants of this module and covered by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

impl Default for MemoryExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryExtractor {
    pub fn new() -> Self {
        Self {
            order: re(
                r"(?i)\b(?:order|purchase|parcel|package|shipment|tracking)\s*(?:number|no\.?|id|#|code)?\s*(?:is\s+)?#?\s*([A-Z]{0,4}-?\d[\dA-Z-]{3,19})\b|\b([A-Z]{2}\d{8,9}[A-Z]{2})\b",
            ),
            account: re(
                r"(?i)\b(?:account|customer|member(?:ship)?)\s*(?:number|no\.?|id|#)\s*(?:is\s+)?#?\s*([A-Z]{0,4}-?\d[\dA-Z-]{3,19})\b",
            ),
            ticket: re(
                r"(?i)\b(?:ticket|case|reference|ref)\s*(?:number|no\.?|id|#)?\s*(?:is\s+)?#?\s*([A-Z]{0,4}-?\d[\dA-Z-]{2,19})\b",
            ),
            amount: re(
                r"(?:[$£€]\s?\d{1,7}(?:[.,]\d{2})?|\b\d{1,7}(?:[.,]\d{2})?\s?(?:USD|EUR|GBP|dollars|euros|pounds)\b)",
            ),
            date: re(
                r"(?i)\b(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\s+\d{1,2}(?:st|nd|rd|th)?|(?:last|this|next)\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|week|month)|yesterday)\b",
            ),
            tried: re(
                r"(?i)\bi(?:'ve| have)?\s+(?:already\s+|also\s+|even\s+)?(?:tried|restarted|rebooted|reinstalled|reset|cleared|updated|unplugged|logged out|signed out|checked|called|emailed|contacted|uninstalled|changed|turned)\b(?P<rest>[^.!?\n]*)",
            ),
            promise: re(
                r"(?i)\b(?:i|we)(?:'ll| will| are going to| am going to)\s+[^.!?\n]*|\b(?:your|the)\s+(?:refund|replacement|order|parcel|engineer|technician|callback)\s+will\s+[^.!?\n]*|\bwithin\s+\d+(?:\s*[-–]\s*\d+)?\s+(?:hours|days|business days|working days)\b[^.!?\n]*",
            ),
        }
    }

    /// Builds the memory of `turns`; personal data goes into `vault` and is remembered as its pseudonym.
    /// `entities[i]` are the personal data found in `turns[i]` (see `Engine::state`); every value memory
    /// keeps carries their pseudonyms from `vault`.
    pub fn extract(&self, turns: &[Turn], entities: &[Vec<Entity>], vault: &mut Vault) -> Memory {
        let mut memory = Memory::default();
        for (index, turn) in turns.iter().enumerate() {
            let found = entities.get(index).map_or(&[][..], Vec::as_slice);
            match turn.role {
                Role::Customer => self.customer_turn(index, &turn.text, found, vault, &mut memory),
                Role::Agent | Role::Bot => {
                    for m in self.promise.find_iter(&turn.text) {
                        let text = fact_value(&turn.text, m.range(), found, vault);
                        push_statement(&mut memory.promised, &text, index);
                    }
                    // Any agent or bot turn after a question counts as the answer to it.
                    memory.open_questions.clear();
                }
                Role::System => {}
            }
        }
        memory
    }

    fn customer_turn(
        &self,
        index: usize,
        text: &str,
        entities: &[Entity],
        vault: &mut Vault,
        memory: &mut Memory,
    ) {
        // Memory never holds raw personal data: every value is read with the entities of the whole turn
        // (a card number, an IBAN or a birth date is only recognised in its context) and keeps the
        // conversation's pseudonyms, as the transcript does.
        let mut add = |kind: FactKind, value: String| {
            let value = value.trim().to_string();
            if !memory
                .facts
                .iter()
                .any(|f| f.kind == kind && f.value == value)
            {
                memory.facts.push(Fact {
                    kind,
                    value,
                    turn: index,
                });
            }
        };
        for (regex, kind) in [
            (&self.account, FactKind::AccountId),
            (&self.ticket, FactKind::TicketId),
            (&self.order, FactKind::OrderId),
        ] {
            for caps in regex.captures_iter(text) {
                // The order pattern's second group: a postal tracking number on its own (two letters, 8-9
                // digits, two letters: "PW90551274GB"), which finds the parcel as well as an order number does.
                if let Some(id) = caps.get(1).or_else(|| caps.get(2)) {
                    add(kind, fact_value(text, id.range(), entities, vault));
                }
            }
        }
        for m in self.amount.find_iter(text) {
            add(
                FactKind::Amount,
                fact_value(text, m.range(), entities, vault),
            );
        }
        for m in self.date.find_iter(text) {
            add(FactKind::Date, fact_value(text, m.range(), entities, vault));
        }
        for entity in entities {
            let kind = match entity.kind {
                // Only the customer's own name is a name fact (the composer greets with it): one they
                // introduce or sign with, not a place, a brand or somebody else they mention ("Any plans
                // for a Hilo to Maui route?", "my mother Jane").
                EntityKind::Person if own_name(text, entity) => FactKind::Name,
                EntityKind::Person => continue,
                EntityKind::Email
                | EntityKind::Phone
                | EntityKind::StreetAddress
                | EntityKind::Postcode => FactKind::Contact,
                _ => continue,
            };
            let token = vault.token_for(entity.kind, &text[entity.start..entity.end]);
            add(kind, token);
        }
        for c in self.tried.captures_iter(text) {
            // "the few others I've tried won't charge": "tried" ends a relative clause; what follows
            // is what went wrong, not what they did.
            let after = c
                .name("rest")
                .and_then(|r| r.as_str().split_whitespace().next());
            if after.is_some_and(|w| {
                let w = w.to_lowercase();
                [
                    "won't", "wont", "don't", "doesn't", "didn't", "can't", "isn't", "aren't",
                    "is", "are", "was", "were", "keep", "keeps", "still",
                ]
                .contains(&w.as_str())
            }) {
                continue;
            }
            let Some(m) = c.get(0) else { continue };
            let statement = fact_value(text, m.range(), entities, vault);
            push_statement(&mut memory.tried, &statement, index);
        }
        let mut at = 0;
        for sentence in text.split_inclusive(['.', '!', '?', '\n']) {
            if sentence.trim_end().ends_with('?') {
                let statement = fact_value(text, at..at + sentence.len(), entities, vault);
                push_statement(&mut memory.open_questions, &statement, index);
            }
            at += sentence.len();
        }
    }
}

/// Whether the person `entity` of a customer's `text` is the customer: introduced ("I'm Tom Baker",
/// "my name is", "this is") or signing the message (the last words, after a line break, a dash, a tilde
/// or a closing such as "Thanks,").
fn own_name(text: &str, entity: &Entity) -> bool {
    let before = text[..entity.start].to_lowercase();
    let introduced = [
        "i'm ",
        "i am ",
        "im ",
        "my name is ",
        "my name's ",
        "this is ",
        "name is ",
        "it's ",
        "its ",
    ]
    .iter()
    .any(|p| before.ends_with(p));
    let last = text[entity.end..]
        .trim()
        .trim_end_matches(['.', '!'])
        .is_empty();
    let trimmed = before.trim_end();
    let signed = last
        && (before.ends_with('\n')
            || trimmed.ends_with(['-', '~', '^', ',', '\u{2013}', '\u{2014}'])
            || ["thanks", "thank you", "regards", "cheers", "best"]
                .iter()
                .any(|c| trimmed.ends_with(c)));
    introduced || signed
}

/// The fact found at `span` of `text`, with every detected entity it overlaps replaced by its pseudonym
/// (the span widened to cover those entities whole).
fn fact_value(
    text: &str,
    span: std::ops::Range<usize>,
    entities: &[Entity],
    vault: &mut Vault,
) -> String {
    let mut overlapping: Vec<&Entity> = entities
        .iter()
        .filter(|e| e.start < span.end && span.start < e.end)
        .collect();
    if overlapping.is_empty() {
        return text[span].to_string();
    }
    overlapping.sort_by_key(|e| e.start);
    let start = overlapping
        .iter()
        .map(|e| e.start)
        .fold(span.start, usize::min);
    let end = overlapping.iter().map(|e| e.end).fold(span.end, usize::max);
    let mut out = String::new();
    let mut at = start;
    for e in overlapping {
        if e.start < at {
            continue;
        }
        out.push_str(&text[at..e.start]);
        out.push_str(&vault.token_for(e.kind, &text[e.start..e.end]));
        at = e.end;
    }
    out.push_str(&text[at..end]);
    out
}

fn push_statement(list: &mut Vec<Statement>, text: &str, turn: usize) {
    let text = text.trim().trim_end_matches([',', ';']).to_string();
    // "we'll do next:" introduces a list; it promises nothing by itself.
    let fragment = text.ends_with(':') || text.split_whitespace().count() < 3;
    if !fragment && !list.iter().any(|s| s.text.eq_ignore_ascii_case(&text)) {
        list.push(Statement { text, turn });
    }
}
