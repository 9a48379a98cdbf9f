//! Person names: runs of capitalised words (with initials, particles and hyphens), judged by a public-domain
//! gazetteer of given names and surnames, a list of common words, and context (introductions, titles,
//! greetings, sign-offs, dialogue speakers, relations). Lower-case names count only after an explicit
//! introduction ("my name is ...").

use crate::entity::{Entity, EntityKind};
use rapport_text::{Span, Token, TokenKind};
use std::collections::HashSet;

const FIRST_NAMES: &str = include_str!("../data/first_names.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");
const COMMON_WORDS: &str = include_str!("../data/common_words.txt");

/// Name and common-word lists, lower case.
#[derive(Debug)]
pub struct Gazetteer {
    first: HashSet<&'static str>,
    last: HashSet<&'static str>,
    common: HashSet<&'static str>,
}

impl Gazetteer {
    /// Whether `word` (any case) is a common word of English.
    pub fn is_common(&self, word: &str) -> bool {
        self.common_word(word, &mut String::new())
    }

    /// Whether `word` (any case) is a listed given name or surname and not a common word.
    pub fn is_listed_name(&self, word: &str) -> bool {
        let mut buf = String::new();
        let common = self.common_word(word, &mut buf);
        !common && (self.first.contains(buf.as_str()) || self.last.contains(buf.as_str()))
    }

    /// A common word, or an inflection of one ("Settings", "Appointments", "Additionally") that is not
    /// itself a listed name ("Banks", "Fields" stay possible surnames).
    fn common_word(&self, word: &str, buf: &mut String) -> bool {
        if lower_in(&self.common, word, buf) {
            return true;
        }
        if self.first.contains(buf.as_str()) || self.last.contains(buf.as_str()) {
            return false;
        }
        let lower = buf.as_str();
        ["s", "es", "ed", "d", "ing", "ly", "ally"]
            .iter()
            .any(|suffix| {
                lower.len() > suffix.len() + 3
                    && lower
                        .strip_suffix(suffix)
                        .is_some_and(|base| self.common.contains(base))
            })
    }

    pub fn builtin() -> Self {
        let set = |text: &'static str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        };
        Self {
            first: set(FIRST_NAMES),
            last: set(SURNAMES),
            common: set(COMMON_WORDS),
        }
    }
}

/// Words that are capitalised without being names.
const NOT_NAMES: &[&str] = &[
    "i",
    "i'm",
    "i've",
    "i'd",
    "i'll",
    "im",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "dear",
    "thanks",
    "thank",
    "regards",
    "cheers",
    "best",
    "kind",
    "sincerely",
    "yes",
    "no",
    "please",
    "sorry",
    "apt",
    "suite",
    "street",
    "road",
    "avenue",
    "inc",
    "ltd",
    "llc",
    "corp",
    "co",
    "company",
    "bank",
    "visa",
    "mastercard",
    "paypal",
    "amazon",
    "google",
    "apple",
    "iphone",
    "android",
    "windows",
    "microsoft",
    "ios",
    "email",
    "e-mail",
    "sms",
    "id",
    "pin",
    "usa",
    "uk",
    "eu",
    "us",
    "christmas",
    "easter",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sir",
    "madam",
    "miss",
    "name",
    "address",
    "phone",
    "user",
    "bot",
    "agent",
    "customer",
    "assistant",
    "directed",
    "date",
    "subject",
    "re",
    "fw",
    "fwd",
    "note",
    "title",
    "company",
    "organisation",
    "organization",
    "tel",
    "fax",
    "mobile",
    "account",
    "order",
    "invoice",
    "support",
    "team",
    "dob",
];
/// Function words that, capitalised inside a run, mark a title of a work rather than a name.
const TITLE_WORDS: &[&str] = &[
    "of", "the", "and", "for", "in", "on", "to", "a", "an", "my", "your", "with", "at", "by",
    "from", "is", "are",
];
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx", "rev", "lady", "lord",
];
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "du", "bin", "al",
    "el", "ter", "ten", "dos", "das", "y",
];
/// Words that introduce a person even right before a sentence break ("What's your last name? Magnusson").
const INTRODUCTIONS: &[&str] = &[
    "name",
    "called",
    "named",
    "i'm",
    "im",
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "regards",
    "cheers",
    "sincerely",
    "attn",
    "attention",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "sir",
    "madam",
    "mx",
];
/// Words right before a name that introduce a person.
const CUES_BEFORE: &[&str] = &[
    "name",
    "called",
    "named",
    "i'm",
    "im",
    "am",
    "this",
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "regards",
    "cheers",
    "sincerely",
    "from",
    "by",
    "with",
    "to",
    "and",
    "for",
    "of",
    "ask",
    "him",
    "her",
    "them",
    "speak",
    "contact",
    "agent",
    "beneficiary",
    "husband",
    "wife",
    "son",
    "daughter",
    "mother",
    "father",
    "mum",
    "mom",
    "dad",
    "brother",
    "sister",
    "friend",
    "colleague",
    "manager",
    "partner",
    "is",
    "was",
    "starring",
    "directed",
    "meet",
    "met",
    "told",
    "cc",
    "attn",
    "attention",
    "customer",
    "client",
    "tenant",
    "landlord",
    "signed",
    "authorised",
    "authorized",
];
/// Words right after a name that suggest a person.
const CUES_AFTER: &[&str] = &[
    "said", "says", "told", "asked", "wrote", "will", "is", "was", "has", "had", "and", "lives",
    "called", "who", "here", "speaking", "replied", "spent", "flew", "works", "worked", "went",
    "grew", "moved", "joined", "left", "came", "got", "wants", "needs", "lived", "died", "married",
    "studied", "became",
];

fn lower_in(set: &HashSet<&'static str>, word: &str, buf: &mut String) -> bool {
    buf.clear();
    for c in word.chars() {
        if c == '\u{2019}' {
            buf.push('\'');
        } else {
            buf.extend(c.to_lowercase());
        }
    }
    set.contains(buf.as_str())
}

fn in_list(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| word.eq_ignore_ascii_case(w))
}

fn is_capitalised(word: &str) -> bool {
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    // All-caps words (SPEAK, VIC) are shouting or abbreviations, and inner capitals (GoDaddy,
    // WellsFargo) mark brands; names have neither, except Mc/Mac/O' prefixes.
    let rest: Vec<char> = chars.collect();
    let inner_capitals = rest.iter().skip(1).any(|c| c.is_uppercase())
        && !(word.starts_with("Mc") || word.starts_with("Mac") || word.starts_with("O'"));
    first.is_uppercase()
        && rest.iter().any(|c| c.is_lowercase())
        && !inner_capitals
        && rest
            .iter()
            .all(|&c| c.is_alphabetic() || c == '\'' || c == '\u{2019}')
}

/// The word without a possessive ending.
fn without_possessive(word: &str) -> &str {
    word.strip_suffix("'s")
        .or_else(|| word.strip_suffix("\u{2019}s"))
        .unwrap_or(word)
}

/// Whether the token is a social-media handle (`@TeamSupport`), which names an account, not a person.
/// Every part of it counts: `@Neon_Vertigo` names no one called Vertigo.
fn is_handle(text: &str, token: &Token<'_>) -> bool {
    let before = &text[..token.span.start];
    let chunk = before.rsplit(char::is_whitespace).next().unwrap_or(before);
    chunk.starts_with('@')
}
fn is_initial(tokens: &[Token<'_>], i: usize) -> bool {
    let t = &tokens[i];
    t.kind == TokenKind::Word
        && t.text.len() == 1
        && t.text.chars().all(|c| c.is_ascii_uppercase())
        && tokens
            .get(i + 1)
            .is_some_and(|n| n.text == "." && n.span.start == t.span.end)
}

/// Whether token `i` starts a sentence or a line (so its capital letter says nothing).
fn starts_sentence(text: &str, tokens: &[Token<'_>], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev = &tokens[i - 1];
    let gap = &text[prev.span.end..tokens[i].span.start];
    if prev.text == "." && i >= 2 && in_list(tokens[i - 2].text, TITLES) {
        // "ms. Quinzia": the full stop closes an abbreviated title, not a sentence.
        return false;
    }
    gap.contains('\n')
        || (prev.kind == TokenKind::Symbol
            && prev
                .text
                .chars()
                .any(|c| matches!(c, '.' | '!' | '?' | ':' | '>' | '"' | '(' | '-' | '*')))
}

/// Whether token `j` continues a name without being a name word itself: the full stop of an initial or
/// a title ("K.", "Dr."), a hyphen between two capitalised parts, or a particle before one ("van", "de").
fn joins_name_parts(tokens: &[Token<'_>], j: usize, prev_end: usize) -> bool {
    let t = &tokens[j];
    let next_capitalised = |adjacent: bool| {
        tokens
            .get(j + 1)
            .is_some_and(|n| (!adjacent || n.span.start == t.span.end) && is_capitalised(n.text))
    };
    (t.text == "." && (is_initial(tokens, j - 1) || in_list(tokens[j - 1].text, TITLES)))
        || (t.text == "-" && t.span.start == prev_end && next_capitalised(true))
        || (t.kind == TokenKind::Word && in_list(t.text, PARTICLES) && next_capitalised(false))
}

/// Appends the person names found in `text` (tokens are `text`'s tokens).
pub fn people(text: &str, tokens: &[Token<'_>], names: &Gazetteer, out: &mut Vec<Entity>) {
    let mut buf = String::new();
    let mut candidates: Vec<(Span, f32)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_run = tokens[i].kind == TokenKind::Word
            && (is_capitalised(tokens[i].text) || is_initial(tokens, i))
            && !in_list(tokens[i].text, PARTICLES)
            && !is_handle(text, &tokens[i])
            && (!in_list(without_possessive(tokens[i].text), NOT_NAMES)
                || in_list(tokens[i].text, TITLES));
        if !starts_run {
            i += 1;
            continue;
        }
        // Extend the run over capitalised words, initials ("K."), particles and hyphen joins.
        let first = i;
        let mut last = i;
        let mut j = i + 1;
        while j < tokens.len() {
            let t = &tokens[j];
            let prev_end = tokens[j - 1].span.end;
            let same_line = !text[prev_end..t.span.start].contains('\n');
            if !same_line {
                break;
            }
            if t.kind == TokenKind::Word
                && (is_capitalised(t.text) || is_initial(tokens, j))
                && !in_list(without_possessive(t.text), NOT_NAMES)
                && !is_handle(text, t)
            {
                last = j;
                j += 1;
            } else if joins_name_parts(tokens, j, prev_end) {
                j += 1;
            } else {
                break;
            }
        }
        let run = &tokens[first..=last];
        i = last + 1;
        // A title opens the name and is part of it ("Dr. Jennifer Holst").
        let titled = in_list(run[0].text, TITLES);
        let words: Vec<&Token<'_>> = run
            .iter()
            .filter(|t| {
                t.kind == TokenKind::Word && !in_list(t.text, PARTICLES) && !in_list(t.text, TITLES)
            })
            .collect();
        if words.is_empty() {
            continue;
        }
        if words.len() > 1 && words.iter().any(|w| in_list(w.text, TITLE_WORDS)) {
            // "Musicians Of The 70s", "The Big Three": titles of works.
            continue;
        }
        let (mut first_names, mut surnames, mut common, mut not_names, mut foreign) =
            (0, 0, 0, 0, 0);
        let mut common_first_names = 0;
        for w in &words {
            let is_first = lower_in(&names.first, w.text, &mut buf);
            let is_last = lower_in(&names.last, w.text, &mut buf);
            let is_common = w.text.chars().count() > 1 && names.common_word(w.text, &mut buf);
            if in_list(w.text, NOT_NAMES) {
                not_names += 1;
            }
            if is_first && !is_common {
                first_names += 1;
            }
            if is_last && !is_common {
                surnames += 1;
            }
            if is_common {
                common += 1;
                if is_first {
                    common_first_names += 1;
                }
            }
            if !w.text.is_ascii() {
                foreign += 1;
            }
        }
        if not_names == words.len() {
            continue;
        }
        let sentence_start = starts_sentence(text, tokens, first);
        let prev_word = tokens[..first]
            .iter()
            .rev()
            .find(|t| t.kind == TokenKind::Word);
        let cue_before = prev_word.is_some_and(|t| {
            in_list(t.text, INTRODUCTIONS) || (in_list(t.text, CUES_BEFORE) && !sentence_start)
        });
        let next = tokens.get(last + 1);
        let speaker = next.is_some_and(|t| t.text.starts_with(':')) && sentence_start;
        let possessive = text[run[run.len() - 1].span.end..].starts_with("'s")
            || text[run[run.len() - 1].span.end..].starts_with("\u{2019}s");
        let cue_after = next.is_some_and(|t| {
            t.kind == TokenKind::Word
                && (in_list(t.text, CUES_AFTER)
                    || (t.text.len() > 4
                        && t.text.ends_with("ed")
                        && t.text.chars().all(|c| c.is_ascii_lowercase())))
        }) || (sentence_start && next.is_some_and(|t| t.text == ","));
        let unknown = words.len() - common;
        let mut score: f32 = 0.0;
        if titled {
            score = 0.9;
        }
        if first_names > 0 {
            score = score.max(0.75);
        }
        if surnames > 0 {
            score = score.max(if words.len() > 1 { 0.7 } else { 0.5 });
        }
        if words.len() > 1 && unknown > 0 {
            // Title-case phrases ("More Towers", "Popup Error Scammers") mix common words with
            // unknown ones; a name of unknown words has no common word, or is vouched for.
            let vouched = first_names + surnames > 0 || cue_before || speaker;
            if common == 0 || vouched {
                score = score.max(if sentence_start { 0.6 } else { 0.7 });
            }
        }
        if words.len() == 1 && unknown == 1 {
            score = score.max(if sentence_start { 0.45 } else { 0.6 });
        }
        if foreign > 0 && unknown > 0 && (!sentence_start || words.len() > 1) {
            score = score.max(0.65);
        }
        if unknown == 0 && first_names == 0 && !titled {
            // Only common words ("Please Help", "Will"): a name only with strong context.
            // "Try:" and "Link:" open instructions; a speaker's label is a name only when it can be one.
            let strong = (speaker && common_first_names > 0)
                || (cue_before && (words.len() > 1 || common_first_names > 0));
            score = if strong { 0.55 } else { 0.0 };
        }
        if score > 0.0 && (cue_before || speaker || possessive || cue_after) {
            score = (score + 0.15).min(0.97);
        }
        if sentence_start
            && unknown == 1
            && words.len() == 1
            && first_names == 0
            && surnames == 0
            && !(speaker || possessive || cue_after || cue_before)
        {
            // One unknown capitalised word opening a sentence is as likely a product or a typo.
            score = score.min(0.45);
        }
        if score > 0.0 {
            let start = run[0].span.start;
            let end = run[run.len() - 1].span.end;
            let end = if tokens
                .get(last + 1)
                .is_some_and(|t| t.text == "." && is_initial(tokens, last))
            {
                end + 1
            } else {
                end
            };
            candidates.push((Span::new(start, end), score));
        }
    }
    propagate_in_lists(text, &mut candidates);
    out.extend(
        candidates
            .into_iter()
            .map(|(span, score)| Entity::new(EntityKind::Person, span, score)),
    );
    introduced_lowercase(text, tokens, names, out);
    lowercase_full_names(text, tokens, names, out);
}

/// In "Gaetane, Hannah and Anthony" a doubtful word listed beside a confident name is a name too.
fn propagate_in_lists(text: &str, candidates: &mut [(Span, f32)]) {
    let is_list_gap = |gap: &str| matches!(gap, ", " | " and " | ", and " | " & " | "," | " or ");
    for i in 0..candidates.len() {
        if candidates[i].1 >= 0.5 || candidates[i].1 < 0.3 {
            continue;
        }
        let span = candidates[i].0;
        let next = candidates
            .get(i + 1)
            .is_some_and(|(n, score)| *score >= 0.5 && is_list_gap(&text[span.end..n.start]));
        let prev = i > 0 && {
            let (p, score) = candidates[i - 1];
            score >= 0.5 && is_list_gap(&text[p.end..span.start])
        };
        if next || prev {
            candidates[i].1 = 0.55;
        }
    }
}

/// "follow up with patricia desrosiers": a lower-case given name from the gazetteer followed by an
/// optional initial and a word that is not a common word.
fn lowercase_full_names(
    text: &str,
    tokens: &[Token<'_>],
    names: &Gazetteer,
    out: &mut Vec<Entity>,
) {
    let mut buf = String::new();
    let lower_word = |t: &Token<'_>| {
        let word = t
            .text
            .strip_suffix("'s")
            .or_else(|| t.text.strip_suffix("\u{2019}s"))
            .unwrap_or(t.text);
        t.kind == TokenKind::Word && word.chars().all(char::is_lowercase)
    };
    let stem = |w: &'_ str| -> String {
        w.strip_suffix("'s")
            .or_else(|| w.strip_suffix("\u{2019}s"))
            .unwrap_or(w)
            .to_string()
    };
    for i in 0..tokens.len() {
        let t = &tokens[i];
        let word = stem(t.text);
        if !lower_word(t)
            || word.chars().count() < 3
            || !lower_in(&names.first, &word, &mut buf)
            || lower_in(&names.common, &word, &mut buf)
        {
            continue;
        }
        let mut j = i + 1;
        if tokens
            .get(j)
            .is_some_and(|n| n.text.len() == 1 && lower_word(n))
        {
            j += if tokens.get(j + 1).is_some_and(|n| n.text == ".") {
                2
            } else {
                1
            };
        }
        let surname = tokens.get(j).filter(|n| {
            lower_word(n)
                && n.text.chars().count() >= 2
                && !text[t.span.end..n.span.start].contains('\n')
                && t.text == word
                && (!lower_in(&names.common, &stem(n.text), &mut buf)
                    || lower_in(&names.last, &stem(n.text), &mut buf))
        });
        let end = match surname {
            Some(n) => n.span.end,
            None => {
                // A lone lower-case given name needs a speaker colon, a possessive, or a list of names.
                let rest = &text[t.span.end..];
                let listed = [i.checked_sub(2), Some(i + 2)]
                    .into_iter()
                    .flatten()
                    .any(|k| {
                        tokens.get(k).is_some_and(|n| {
                            lower_word(n)
                                && lower_in(&names.first, &stem(n.text), &mut buf)
                                && matches!(
                                    tokens.get((k + i) / 2).map(|m| m.text),
                                    Some("," | "and")
                                )
                        })
                    });
                if rest.starts_with(':') || t.text != word || listed {
                    t.span.end
                } else {
                    continue;
                }
            }
        };
        out.push(Entity::new(
            EntityKind::Person,
            Span::new(t.span.start, end),
            0.6,
        ));
    }
}

/// "my name is borna jerković": names typed in lower case, taken only after an explicit introduction.
fn introduced_lowercase(
    text: &str,
    tokens: &[Token<'_>],
    names: &Gazetteer,
    out: &mut Vec<Entity>,
) {
    let mut buf = String::new();
    for i in 0..tokens.len() {
        let intro_end = if i + 2 < tokens.len()
            && tokens[i].text.eq_ignore_ascii_case("name")
            && tokens[i + 1].text.eq_ignore_ascii_case("is")
        {
            Some(i + 2)
        } else if i + 1 < tokens.len()
            && (tokens[i].text.eq_ignore_ascii_case("called")
                || tokens[i].text.eq_ignore_ascii_case("named"))
        {
            Some(i + 1)
        } else if i + 2 < tokens.len()
            && (tokens[i].text.eq_ignore_ascii_case("call")
                || tokens[i].text.eq_ignore_ascii_case("calls"))
            && tokens[i + 1].text.eq_ignore_ascii_case("me")
        {
            Some(i + 2)
        } else {
            None
        };
        let Some(start) = intro_end else { continue };
        let mut end = start;
        while end < tokens.len()
            && end < start + 3
            && tokens[end].kind == TokenKind::Word
            && tokens[end].text.chars().all(char::is_alphabetic)
            && (end == start
                || !lower_in(&names.common, tokens[end].text, &mut buf)
                || lower_in(&names.last, tokens[end].text, &mut buf))
            && !text[tokens[end - 1].span.end..tokens[end].span.start].contains('\n')
        {
            end += 1;
        }
        let capitalised = tokens[start]
            .text
            .chars()
            .next()
            .is_some_and(char::is_uppercase);
        if end > start && (capitalised || !lower_in(&names.common, tokens[start].text, &mut buf)) {
            out.push(Entity::new(
                EntityKind::Person,
                Span::new(tokens[start].span.start, tokens[end - 1].span.end),
                0.85,
            ));
        }
    }
}
