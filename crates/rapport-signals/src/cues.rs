//! Lexical cues for CX signals, vulnerability and sensitive topics, with the span of every cue.
//!
//! The cue lexicon (`lexicon.txt`, written by the project) is compiled once into one Aho-Corasick automaton.
//! Each match is then judged in context: negation ("I'm not angry"), intensifiers ("so frustrated"),
//! downtoners, first versus third person and fiction ("my father passed away" versus a film plot), and
//! whether an insult is aimed at the agent. Evidence for one target combines by noisy-OR, so two weak cues
//! can make a signal present while one cannot. Not for: model-based scores (see `analysis`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rapport_text::{is_word_bounded, Span, Token, TokenKind};
use regex::Regex;

/// The CX signals, in output order.
pub const SIGNALS: [&str; 11] = [
    "distress",
    "frustration",
    "anger",
    "confusion",
    "anxiety",
    "urgency",
    "gratitude",
    "human_request",
    "churn_threat",
    "repeat_contact",
    "abuse",
];

/// The vulnerabilities, in output order.
pub const VULNERABILITIES: [&str; 8] = [
    "bereavement",
    "financial_hardship",
    "physical_health",
    "mental_health",
    "self_harm_risk",
    "age",
    "disability",
    "domestic_abuse",
];

/// The sensitive topics, in output order.
pub const TOPICS: [&str; 5] = [
    "sexual_health",
    "reproductive_health",
    "debt",
    "mental_health",
    "addiction",
];

/// Number of targets: signals, then vulnerabilities, then topics.
pub const TARGETS: usize = SIGNALS.len() + VULNERABILITIES.len() + TOPICS.len();

/// Index of a target by its lexicon name (`frustration`, `vulnerability.age`, `topic.debt`).
pub fn target_index(name: &str) -> Option<usize> {
    if let Some(rest) = name.strip_prefix("vulnerability.") {
        VULNERABILITIES
            .iter()
            .position(|&v| v == rest)
            .map(|i| SIGNALS.len() + i)
    } else if let Some(rest) = name.strip_prefix("topic.") {
        TOPICS
            .iter()
            .position(|&t| t == rest)
            .map(|i| SIGNALS.len() + VULNERABILITIES.len() + i)
    } else {
        SIGNALS.iter().position(|&s| s == name)
    }
}

pub fn signal(name: &str) -> usize {
    target_index(name).unwrap_or(usize::MAX)
}

const FLAG_FIRST_PERSON: u8 = 1;
const FLAG_KIN: u8 = 2;
const FLAG_SECOND_PERSON: u8 = 4;
const FLAG_SELF_HARM: u8 = 8;
const FLAG_NOT_NEGATABLE: u8 = 16;

#[derive(Debug, Clone, Copy)]
struct Effect {
    target: u8,
    weight: f32,
    flags: u8,
}

#[derive(Debug)]
struct Pattern {
    /// Whether the match may end inside a word (`frustrat*`).
    prefix: bool,
    effects: Vec<Effect>,
}

/// The compiled cue lexicon.
#[derive(Debug)]
pub struct Lexicon {
    automaton: AhoCorasick,
    patterns: Vec<Pattern>,
    age: Regex,
}

/// One piece of evidence: which target, how strong, where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub target: usize,
    pub weight: f32,
    pub span: Span,
}

/// The weight of a negated cue: the customer denies the target ("I'm not angry"). Denials carry no
/// evidence (they never add spans or score) but keep the CX model from reading the word as the feeling.
pub const DENIED: f32 = -1.0;

/// The weight at which one cue alone makes its target present.
const PRESENT_WEIGHT: f32 = 0.5;

const LEXICON: &str = include_str!("lexicon.txt");

fn expand_braces(phrase: &str, out: &mut Vec<String>) {
    match (phrase.find('{'), phrase.find('}')) {
        (Some(open), Some(close)) if open < close => {
            for alternative in phrase[open + 1..close].split(',') {
                let expanded = format!(
                    "{}{}{}",
                    &phrase[..open],
                    alternative.trim(),
                    &phrase[close + 1..]
                );
                expand_braces(&expanded, out);
            }
        }
        _ => out.push(phrase.to_string()),
    }
}

/// Parses the lexicon text; errors name the line.
fn parse_lexicon(text: &str) -> Result<Vec<(String, Effect)>, String> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |why: &str| format!("lexicon line {}: {why}", number + 1);
        let (head, phrases) = line.split_once('|').ok_or_else(|| fail("missing `|`"))?;
        let mut words = head.split_whitespace();
        let target_name = words.next().ok_or_else(|| fail("missing target"))?;
        let target = target_index(target_name)
            .ok_or_else(|| fail(&format!("unknown target {target_name}")))?;
        let weight: f32 = words
            .next()
            .and_then(|w| w.parse().ok())
            .filter(|w| (0.0..=1.0).contains(w))
            .ok_or_else(|| fail("weight must be a number in [0, 1]"))?;
        let mut flags = 0;
        for flag in words {
            flags |= match flag {
                "fp" => FLAG_FIRST_PERSON,
                "kin" => FLAG_KIN,
                "2p" => FLAG_SECOND_PERSON,
                "sh" => FLAG_SELF_HARM,
                "nn" => FLAG_NOT_NEGATABLE,
                other => return Err(fail(&format!("unknown flag {other}"))),
            };
        }
        let effect = Effect {
            target: target as u8,
            weight,
            flags,
        };
        for phrase in phrases.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let mut expanded = Vec::new();
            expand_braces(&phrase.to_ascii_lowercase(), &mut expanded);
            entries.extend(expanded.into_iter().map(|p| (p, effect)));
        }
    }
    Ok(entries)
}

impl Lexicon {
    /// Compiles the built-in lexicon.
    pub fn builtin() -> Self {
        // The lexicon is compiled into the binary and checked by unit tests, so a parse failure is a
        // build defect, not a runtime condition.
        Self::from_text(LEXICON).unwrap_or_else(|e| panic!("built-in cue lexicon is invalid: {e}"))
    }

    /// Compiles a lexicon from its text form.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let mut by_phrase: std::collections::BTreeMap<String, Pattern> = Default::default();
        for (phrase, effect) in parse_lexicon(text)? {
            let (key, prefix) = match phrase.strip_suffix('*') {
                Some(stem) => (stem.to_string(), true),
                None => (phrase, false),
            };
            let pattern = by_phrase.entry(key).or_insert(Pattern {
                prefix,
                effects: Vec::new(),
            });
            pattern.prefix |= prefix;
            pattern.effects.push(effect);
        }
        let (phrases, patterns): (Vec<String>, Vec<Pattern>) = by_phrase.into_iter().unzip();
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&phrases)
            .map_err(|e| e.to_string())?;
        let age = Regex::new(
            r"(?i)\b(?:(?:i'?m|i am|aged?)\s+(?:6[5-9]|[7-9]\d|1[01]\d)\b|(?:6[5-9]|[7-9]\d|1[01]\d|1[0-7])\s*(?:years?|yrs?)[\s-]*old\b)",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            automaton,
            patterns,
            age,
        })
    }

    /// Collects the evidence in `text` into `out` (cleared first). `tokens` are the tokens of `text`.
    pub fn evidence(&self, text: &str, tokens: &[Token<'_>], out: &mut Vec<Evidence>) {
        out.clear();
        let context = Context::new(tokens);
        for m in self.automaton.find_overlapping_iter(text) {
            let pattern = &self.patterns[m.pattern().as_usize()];
            let (start, end) = (m.start(), m.end());
            let bounded = if pattern.prefix {
                starts_word(text, start)
            } else {
                is_word_bounded(text, start, end)
            };
            if !bounded {
                continue;
            }
            let end = if pattern.prefix {
                word_end(text, end)
            } else {
                end
            };
            let span = Span::new(start, end);
            for effect in &pattern.effects {
                let weight = context.judge(effect, span);
                out.push(Evidence {
                    target: usize::from(effect.target),
                    weight,
                    span,
                });
            }
        }
        keep_longest_per_target(out);
        if text.bytes().any(|b| b.is_ascii_digit()) {
            for m in self.age.find_iter(text) {
                out.push(Evidence {
                    target: signal("vulnerability.age"),
                    weight: 0.8,
                    span: Span::new(m.start(), m.end()),
                });
            }
        }
        out.retain(|e| e.weight > 0.0 || e.weight == DENIED);
        context.style_evidence(text, tokens, out);
    }
}

fn starts_word(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

/// Extends a prefix match to the end of its word (`frustrat` -> `frustrating`).
fn word_end(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| !c.is_alphanumeric())
        .map_or(text.len(), |(i, _)| from + i)
}

/// Within one target, a cue inside a longer overlapping cue is dropped: "still not working" counts once,
/// and a zero-weight entry blocks the shorter cues it contains.
fn keep_longest_per_target(evidence: &mut Vec<Evidence>) {
    let n = evidence.len();
    let mut keep = vec![true; n];
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (&evidence[i], &evidence[j]);
            if i != j
                && a.target == b.target
                && a.span.overlaps(&b.span)
                && (b.span.len() > a.span.len() || (b.span.len() == a.span.len() && j < i))
            {
                keep[i] = false;
                break;
            }
        }
    }
    let mut index = 0;
    evidence.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

fn lower_eq_any(word: &str, set: &[&str]) -> bool {
    set.iter().any(|w| word.eq_ignore_ascii_case(w))
}

fn normalise_apostrophe(word: &str, buf: &mut [u8; 24]) -> usize {
    let mut len = 0;
    for c in word.chars() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if !c.is_ascii() || len >= buf.len() {
            return 0;
        }
        buf[len] = c as u8;
        len += 1;
    }
    len
}

const NEGATORS: &[&str] = &[
    "not", "no", "never", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "isn't", "isnt",
    "aren't", "arent", "wasn't", "wasnt", "weren't", "won't", "wont", "cannot", "nothing",
    "hardly", "barely", "neither", "nor", "without", "nobody",
];
const BREAKERS: &[&str] = &[
    "but", "and", "or", "how", "because", "though", "although", "yet", "which", "that", "when",
    "if", "so",
];
const INTENSIFIERS: &[&str] = &[
    "very",
    "so",
    "really",
    "extremely",
    "absolutely",
    "completely",
    "totally",
    "incredibly",
    "utterly",
    "super",
    "seriously",
    "truly",
    "deeply",
    "fucking",
    "bloody",
    "too",
    "beyond",
    "properly",
    "genuinely",
];
const DOWNTONERS: &[&str] = &[
    "slightly", "bit", "little", "somewhat", "kinda", "kind", "mildly", "fairly",
];
const FIRST_PERSON: &[&str] = &[
    "i", "i'm", "im", "i've", "ive", "i'd", "i'll", "me", "my", "mine", "myself", "we", "we're",
    "we've", "our", "ours", "us",
];
const SECOND_PERSON: &[&str] = &[
    "you", "your", "you're", "youre", "u", "ur", "yours", "you've", "guys",
];
const KIN: &[&str] = &[
    "mum",
    "mom",
    "mother",
    "dad",
    "father",
    "husband",
    "wife",
    "partner",
    "son",
    "daughter",
    "child",
    "children",
    "baby",
    "brother",
    "sister",
    "grandmother",
    "grandfather",
    "grandma",
    "grandpa",
    "nan",
    "nana",
    "granny",
    "aunt",
    "uncle",
    "cousin",
    "friend",
    "fiance",
    "fiancee",
    "boyfriend",
    "girlfriend",
    "parent",
    "parents",
    "dog",
    "cat",
    "pet",
    "he",
    "she",
    "him",
    "her",
    "family",
    "relative",
    "niece",
    "nephew",
    "spouse",
    "stepdad",
    "stepmum",
    "stepmom",
    "loved",
    "mummy",
    "daddy",
];
const FICTION: &[&str] = &[
    "movie",
    "film",
    "films",
    "show",
    "episode",
    "book",
    "novel",
    "character",
    "characters",
    "series",
    "season",
    "plot",
    "story",
    "game",
    "tv",
    "netflix",
    "documentary",
    "scene",
    "actor",
    "anime",
    "spoiler",
];

fn word_in(token: &Token<'_>, set: &[&str]) -> bool {
    if token.kind != TokenKind::Word {
        return false;
    }
    let mut buf = [0u8; 24];
    let len = normalise_apostrophe(token.text, &mut buf);
    let word = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    len > 0 && lower_eq_any(word, set)
}

/// Per-text facts used to judge each cue.
struct Context<'t, 'a> {
    tokens: &'t [Token<'a>],
    /// Whether the text talks about a film, book or show; looked up once, on the first cue that asks.
    fiction: std::cell::OnceCell<bool>,
}

impl<'t, 'a> Context<'t, 'a> {
    fn new(tokens: &'t [Token<'a>]) -> Self {
        Self {
            tokens,
            fiction: std::cell::OnceCell::new(),
        }
    }

    fn is_fiction(&self) -> bool {
        *self
            .fiction
            .get_or_init(|| self.tokens.iter().any(|t| word_in(t, FICTION)))
    }

    /// Index of the first token that starts at or after `pos`.
    fn token_at(&self, pos: usize) -> usize {
        self.tokens.partition_point(|t| t.span.start < pos)
    }

    /// Tokens of the sentence around the token range, bounded by sentence punctuation.
    fn sentence(&self, first: usize, last: usize) -> &'t [Token<'a>] {
        let is_end = |t: &Token<'_>| {
            t.kind == TokenKind::Symbol && matches!(t.text.as_bytes()[0], b'.' | b'!' | b'?' | b';')
        };
        let start = self.tokens[..first]
            .iter()
            .rposition(is_end)
            .map_or(0, |i| i + 1);
        let end = self.tokens[last..]
            .iter()
            .position(is_end)
            .map_or(self.tokens.len(), |i| last + i);
        &self.tokens[start..end.max(start)]
    }

    /// Up to `n` word tokens just before token `index`, nearest first, stopping at punctuation or a clause
    /// boundary.
    fn before(&self, index: usize, n: usize) -> impl Iterator<Item = &'t Token<'a>> {
        self.tokens[..index]
            .iter()
            .rev()
            .take_while(|t| t.kind == TokenKind::Word && !word_in(t, BREAKERS))
            .take(n)
    }

    fn judge(&self, effect: &Effect, span: Span) -> f32 {
        let mut weight = effect.weight;
        if weight == 0.0 {
            return 0.0;
        }
        let first = self.token_at(span.start);
        let last = self
            .token_at(span.end)
            .max(first + 1)
            .min(self.tokens.len());
        let negated = self.before(first, 3).any(|t| word_in(t, NEGATORS));
        if negated && effect.flags & FLAG_NOT_NEGATABLE == 0 {
            // A negated cue is no evidence at all ("I'm not angry") but a denial, which the analysis
            // needs to know; self-harm cues keep their floor below.
            if effect.flags & FLAG_SELF_HARM == 0 {
                return DENIED;
            }
            weight = 0.0;
        }
        if self.before(first, 2).any(|t| word_in(t, INTENSIFIERS)) {
            weight = (weight * 1.3).min(0.98);
        } else if self.before(first, 2).any(|t| word_in(t, DOWNTONERS)) {
            weight *= 0.6;
        }
        let cue = &self.tokens[first.min(self.tokens.len())..last];
        if cue.iter().all(|t| {
            t.kind == TokenKind::Word && t.text.len() > 2 && !t.text.chars().any(char::is_lowercase)
        }) && !cue.is_empty()
        {
            weight = (weight * 1.2).min(0.98);
        }
        if effect.flags & (FLAG_FIRST_PERSON | FLAG_KIN) != 0 {
            let sentence = self.sentence(first, last);
            if effect.flags & FLAG_FIRST_PERSON != 0
                && !sentence.iter().any(|t| word_in(t, FIRST_PERSON))
            {
                weight *= 0.3;
            }
            if effect.flags & FLAG_KIN != 0 && !sentence.iter().any(|t| word_in(t, KIN)) {
                weight *= 0.25;
            }
            if self.is_fiction() {
                weight *= 0.2;
            }
        }
        if effect.flags & FLAG_SECOND_PERSON != 0
            && !self.before(first, 3).any(|t| word_in(t, SECOND_PERSON))
        {
            weight *= 0.5;
        }
        if effect.flags & FLAG_SELF_HARM != 0 {
            // A missed self-harm cue is far worse than a false alarm: context may lower it, never below 0.5.
            weight = weight.max(PRESENT_WEIGHT);
        }
        weight
    }

    /// Evidence from how the text is written: shouting in capitals and runs of `!`/`?`.
    fn style_evidence(&self, text: &str, tokens: &[Token<'_>], out: &mut Vec<Evidence>) {
        let (ratio, cased) = rapport_text::uppercase_ratio(text);
        if cased >= 8 && ratio >= 0.7 {
            let start = tokens.first().map_or(0, |t| t.span.start);
            let end = tokens.last().map_or(text.len(), |t| t.span.end);
            let span = Span::new(start, end);
            out.push(Evidence {
                target: signal("anger"),
                weight: 0.35,
                span,
            });
            out.push(Evidence {
                target: signal("frustration"),
                weight: 0.5,
                span,
            });
        }
        for token in tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Symbol && t.text.len() >= 2)
        {
            let bytes = token.text.as_bytes();
            let questions = bytes.contains(&b'?');
            let exclaims = bytes.contains(&b'!');
            if !(questions || exclaims) {
                continue;
            }
            let strength = (0.15 * token.text.len() as f32).min(0.45);
            if exclaims {
                out.push(Evidence {
                    target: signal("frustration"),
                    weight: strength,
                    span: token.span,
                });
            }
            if questions {
                out.push(Evidence {
                    target: signal("confusion"),
                    weight: strength,
                    span: token.span,
                });
                if exclaims {
                    out.push(Evidence {
                        target: signal("anger"),
                        weight: strength * 0.7,
                        span: token.span,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lexicon_parses() {
        let lexicon = Lexicon::from_text(LEXICON).expect("valid lexicon");
        assert!(lexicon.patterns.len() > 500);
    }

    #[test]
    fn braces_expand() {
        let mut out = Vec::new();
        expand_braces("lost my {mum,dad}", &mut out);
        assert_eq!(out, ["lost my mum", "lost my dad"]);
    }

    #[test]
    fn bad_lexicon_lines_name_the_line() {
        let err = Lexicon::from_text("# c\nnonsense 0.5 | x").expect_err("unknown target");
        assert!(err.contains("line 2"), "{err}");
        assert!(Lexicon::from_text("anger 2 | x").is_err());
        assert!(Lexicon::from_text("anger 0.5 zz | x").is_err());
    }
}
