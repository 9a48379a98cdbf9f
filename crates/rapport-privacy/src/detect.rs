//! The PII detectors: patterns with validation (check digits, ranges, phone-number metadata), context
//! words that raise or lower confidence, and person names from context, shape and a gazetteer.
//!
//! Every pattern runs on the `regex` crate (linear time in the text); the name detector walks the tokens
//! once. Overlapping detections resolve to one span: the more confident wins, then the longer.

use crate::entity::{Entity, EntityKind};
use crate::{checks, names};
use rapport_text::{Span, Token};
use regex::Regex;

/// A detection is reported at or above this confidence.
pub const MIN_CONFIDENCE: f32 = 0.5;

/// Compiled detectors; build once ([`Detector::new`]) and share.
#[derive(Debug)]
pub struct Detector {
    email: Regex,
    url: Regex,
    ipv4: Regex,
    ipv6: Regex,
    card: Regex,
    iban: Regex,
    ssn: Regex,
    nino: Regex,
    nhs: Regex,
    phone: Regex,
    uk_postcode: Regex,
    ca_postcode: Regex,
    zip: Regex,
    zip_context: Regex,
    street: Regex,
    street_prefix: Regex,
    street_suffix_word: Regex,
    unit: Regex,
    street_after_name: Regex,
    number_words_number: Regex,
    date: Regex,
    secret_context: Regex,
    api_key: Regex,
    driver_license: Regex,
    names: names::Gazetteer,
}

fn re(pattern: &str) -> Regex {
    // Patterns are constants of this module and covered by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

const STREET_TYPES: &str = r"(?:Street|St|Road|Rd|Avenue|Ave|Av|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way|Place|Pl|Terrace|Ter|Crescent|Cres|Close|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Alley|Row|Walk|Mews|Grove|Gardens|Gdns|Park|Hill|Heights|Flats|Green|Vale|View|Loop|Path|Pike|Ridge|Crossing|Expressway|Freeway|Plaza|Wharf|Quay|Parade|Esplanade|Causeway|Embankment)";

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    pub fn new() -> Self {
        Self {
            email: re(r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,24}\b"),
            url: re(r#"(?i)\b(?:https?://|www\.)[^\s<>"']+"#),
            ipv4: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
            ipv6: re(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}"),
            card: re(r"\b\d(?:[ -]?\d){11,18}\b"),
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
            ssn: re(r"\b\d{3}([- ]?)\d{2}([- ]?)\d{4}\b"),
            nino: re(r"(?i)\b[a-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d]\b"),
            nhs: re(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"),
            phone: re(
                r"(?:\+|\b00)?(?:\(\d{1,4}\)|\d{1,5})(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,7}\b",
            ),
            uk_postcode: re(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"),
            ca_postcode: re(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b"),
            zip: re(r"\b\d{4,6}(?:-\d{4})?\b"),
            zip_context: re(
                r"(?i)\b(?:zip|postal|post)\s*(?:code)?\s*(?:is|:)?\s*(\d{3}(?: ?\d{2})?(?:-\d{3,4})?|[a-z]{1,2}\d[a-z\d]? ?\d[a-z]{2})\b",
            ),
            street: re(&format!(
                r"\b\d{{1,6}}[A-Za-z]?,?\s+(?:\d{{1,4}}\s+)?(?:[\p{{L}}][\p{{L}}'.-]*\s+){{0,4}}{STREET_TYPES}\b\.?"
            )),
            street_prefix: re(
                r"(?i)\b(?:rue|via|viale|avenida|av\.|rua|calle|carrer|piazza|corso|largo|strada|chemin|all[ée]e|boulevard|place|plac|ul\.|ulica|al\.|travessa|pra[çc]a|paseo|camino|vicolo|avinguda|rambla)\s+(?:[\p{L}'.-]+\s+){0,4}?\d{1,5}[a-z]?\b",
            ),
            street_suffix_word: re(
                r"(?i)\b[\p{L}-]*(?:stra(?:ss|ß)e|gasse|weg|vej|vei|veien|vegen|gata|gatan|gade|laan|straat|plein|tie|katu|utca|út|ulica|v[äa]g|v[äa]gen|allee|kuja|polku|torg|plads)\s+\d{1,5}[a-z]?\b\.?",
            ),
            unit: re(
                r"(?i)\b(?:apt|apartment|suite|ste|unit|flat|floor|room|p\.?\s?o\.?\s?box|box)\.?\s*#?\d{1,6}[a-z]?\b",
            ),
            street_after_name: re(
                r"\b(?:\p{Lu}\p{L}*\s+){1,3}(?:u\.|utca|út|útja|tér|körút|str\.)\s+\d{1,4}\b\.?",
            ),
            number_words_number: re(r"\b\d{3,6}\s+(?:\p{Lu}[\p{L}'.-]*\s+){1,3}\d{1,5}\b"),
            date: re(
                r"(?i)\b(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})\b",
            ),
            secret_context: re(
                r"(?i)\b(?:password|passwd|pwd|passcode|pass code|pin(?: code)?|otp|one[- ]time (?:code|password|passcode)|verification code|security code|auth(?:entication)? code|2fa code|login code|access code|code)\b(?:\s+(?:is|was|=)|\s*[:=])?\s*([^\s,;]{3,64})",
            ),
            api_key: re(
                r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
            ),
            driver_license: re(
                r"(?i)\b(?:driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|licen[cs]e\s+(?:number|no\.?)|DL)\s*(?:number|no\.?|#)?\s*(?:is\s+|:\s*)?([A-Z0-9][A-Z0-9-]{4,17})\b",
            ),
            names: names::Gazetteer::builtin(),
        }
    }

    /// Every detection at or above [`MIN_CONFIDENCE`], sorted by start, without overlaps.
    /// The name lists the person detector reads.
    pub fn gazetteer(&self) -> &names::Gazetteer {
        &self.names
    }

    pub fn detect(&self, text: &str) -> Vec<Entity> {
        let mut found = Vec::new();
        let lower = text.to_ascii_lowercase();
        self.emails(text, &mut found);
        self.urls(text, &lower, &mut found);
        self.ips(text, &lower, &mut found);
        self.cards(text, &lower, &mut found);
        self.ibans(text, &mut found);
        self.national_ids(text, &lower, &mut found);
        self.phones(text, &lower, &mut found);
        self.addresses(text, &lower, &mut found);
        self.dates_of_birth(text, &lower, &mut found);
        self.secrets(text, &mut found);
        let tokens: Vec<Token<'_>> = rapport_text::tokens(text).collect();
        names::people(text, &tokens, &self.names, &mut found);
        found.retain(|e| e.confidence >= MIN_CONFIDENCE && e.start < e.end);
        resolve_overlaps(found)
    }

    fn emails(&self, text: &str, out: &mut Vec<Entity>) {
        for m in self.email.find_iter(text) {
            out.push(Entity::new(EntityKind::Email, span(&m), 0.95));
        }
    }

    fn urls(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        const PERSONAL_KEYS: [&str; 14] = [
            "email", "mail", "user", "name", "token", "key", "session", "sid", "phone", "account",
            "password", "auth", "customer", "uid",
        ];
        for m in self.url.find_iter(text) {
            let url = m.as_str().trim_end_matches(['.', ',', ')', '!', '?']);
            let url_lower = &lower[m.start()..m.start() + url.len()];
            let query = url_lower.split_once('?').map_or("", |(_, q)| q);
            let personal = url.contains('@')
                || query.split('&').any(|pair| {
                    let key = pair.split('=').next().unwrap_or_default();
                    PERSONAL_KEYS.iter().any(|k| key.contains(k))
                })
                || url_lower.contains("/users/")
                || url_lower.contains("/profile/");
            if personal {
                out.push(Entity::new(
                    EntityKind::Url,
                    Span::new(m.start(), m.start() + url.len()),
                    0.85,
                ));
            }
        }
    }

    fn ips(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        for m in self.ipv4.find_iter(text) {
            if m.as_str().parse::<std::net::Ipv4Addr>().is_err() {
                continue;
            }
            let confidence = if version_context(before(lower, m.start(), 12)) {
                0.3
            } else {
                0.85
            };
            out.push(Entity::new(EntityKind::IpAddress, span(&m), confidence));
        }
        for m in self.ipv6.find_iter(text) {
            let candidate = m.as_str();
            if candidate.matches(':').count() >= 2
                && candidate.len() >= 6
                && candidate.parse::<std::net::Ipv6Addr>().is_ok()
            {
                out.push(Entity::new(EntityKind::IpAddress, span(&m), 0.85));
            }
        }
    }

    fn cards(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        for m in self.card.find_iter(text) {
            let Some(digits) = checks::digits(m.as_str()) else {
                continue;
            };
            let context = before(lower, m.start(), 30);
            // With card words around, any Luhn-valid 12-19 digit number counts (old JCB, Maestro).
            let card_context = has_any(context, &CARD_WORDS);
            let plausible = checks::is_card(&digits)
                || (card_context && (12..=19).contains(&digits.len()) && checks::luhn(&digits));
            if !plausible {
                continue;
            }
            let mut confidence = 0.85;
            if card_context {
                confidence = 0.98;
            } else if has_any(context, &NOT_PII_NUMBER_WORDS) {
                confidence = 0.3;
            }
            out.push(Entity::new(EntityKind::CreditCard, span(&m), confidence));
        }
    }

    fn ibans(&self, text: &str, out: &mut Vec<Entity>) {
        for m in self.iban.find_iter(text) {
            // The pattern may run into a following word; shrink to the longest valid prefix.
            let candidate = m.as_str();
            let mut end = candidate.len();
            while end >= 15 {
                if candidate.is_char_boundary(end) && checks::is_iban(&candidate[..end]) {
                    out.push(Entity::new(
                        EntityKind::Iban,
                        Span::new(m.start(), m.start() + end),
                        0.97,
                    ));
                    break;
                }
                end -= 1;
            }
        }
    }

    fn national_ids(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        for caps in self.ssn.captures_iter(text) {
            let Some(m) = caps.get(0) else { continue };
            let digits = checks::digits(m.as_str()).unwrap_or_default();
            if !checks::is_ssn(&digits) {
                continue;
            }
            let separated = caps.get(1).is_some_and(|s| !s.is_empty())
                && caps.get(2).is_some_and(|s| !s.is_empty());
            let context = before(lower, m.start(), 40);
            let confidence = if has_any(context, &["ssn", "social security", "social"]) {
                0.95
            } else if separated
                && m.as_str().contains('-')
                && !has_any(context, &NOT_PII_NUMBER_WORDS)
            {
                0.7
            } else {
                0.2
            };
            out.push(Entity::new(EntityKind::UsSsn, span(&m), confidence));
        }
        for m in self.nino.find_iter(text) {
            if checks::is_nino(m.as_str()) {
                let confidence = if m.as_str().chars().any(|c| c.is_ascii_lowercase()) {
                    0.5
                } else {
                    0.9
                };
                out.push(Entity::new(EntityKind::UkNino, span(&m), confidence));
            }
        }
        for m in self.nhs.find_iter(text) {
            let digits = checks::digits(m.as_str()).unwrap_or_default();
            if checks::is_nhs(&digits)
                && has_any(before(lower, m.start(), 40), &["nhs", "health service"])
            {
                // Checksum and context together outrank the phone reading of the same digits.
                out.push(Entity::new(EntityKind::NhsNumber, span(&m), 0.99));
            }
        }
    }

    fn phones(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        for m in self.phone.find_iter(text) {
            let raw = m.as_str().trim_end();
            let digit_count = raw.bytes().filter(u8::is_ascii_digit).count();
            if !(7..=15).contains(&digit_count) || self.is_whole_date(raw) {
                continue;
            }
            let start = m.start();
            let context = before(lower, start, 30);
            if has_any(context, &NOT_PII_NUMBER_WORDS) && !has_any(context, &PHONE_WORDS) {
                continue;
            }
            let international = raw.starts_with('+') || raw.starts_with("00");
            let grouped = raw.contains([' ', '-', '(', '.']);
            let valid = phone_is_valid(raw, international);
            let mut confidence: f32 = match (valid, international, grouped) {
                // A bare run of digits may be any id; it takes context to call it a phone number.
                (true, false, false) => 0.45,
                (true, _, _) => 0.9,
                (false, true, _) => 0.65,
                (false, false, true) if digit_count >= 8 => 0.55,
                _ => 0.3,
            };
            if has_any(context, &PHONE_WORDS)
                || has_any(
                    after(lower, start + raw.len(), 12),
                    &["office", "fax", "mobile", "home", "work", "cell"],
                )
            {
                confidence = (confidence + 0.25).min(0.98);
            }
            out.push(Entity::new(
                EntityKind::Phone,
                Span::new(start, start + raw.len()),
                confidence,
            ));
        }
    }

    fn addresses(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        let mut address_spans: Vec<Span> = Vec::new();
        for regex in [
            &self.street,
            &self.street_prefix,
            &self.street_suffix_word,
            &self.street_after_name,
            &self.unit,
        ] {
            for m in regex.find_iter(text) {
                address_spans.push(span(&m));
            }
        }
        let has_address = !address_spans.is_empty();
        for m in self.number_words_number.find_iter(text) {
            // "23100 Ilichova 23": only where the text already reads as an address.
            if has_address || has_any(before(lower, m.start(), 30), &ADDRESS_WORDS) {
                address_spans.push(span(&m));
            }
        }
        for m in self
            .uk_postcode
            .find_iter(text)
            .chain(self.ca_postcode.find_iter(text))
        {
            out.push(Entity::new(EntityKind::Postcode, span(&m), 0.85));
        }
        for caps in self.zip_context.captures_iter(text) {
            if let Some(value) = caps.get(1) {
                out.push(Entity::new(EntityKind::Postcode, span(&value), 0.92));
            }
        }
        for m in self.zip.find_iter(text) {
            let context = before(lower, m.start(), 25);
            let near_address = address_spans
                .iter()
                .any(|s| s.end + 80 >= m.start() && m.end() + 80 >= s.start);
            let state_before = text[..m.start()]
                .trim_end_matches([' ', ','])
                .rsplit(|c: char| !c.is_ascii_alphabetic())
                .next()
                .is_some_and(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase()));
            let confidence = if has_any(
                context,
                &["zip", "postcode", "postal code", "post code", "postal"],
            ) {
                0.9
            } else if near_address || (state_before && matches!(m.as_str().len(), 5 | 10)) {
                0.7
            } else {
                0.0
            };
            if confidence > 0.0 && !has_any(context, &NOT_PII_NUMBER_WORDS) {
                out.push(Entity::new(EntityKind::Postcode, span(&m), confidence));
            }
        }
        for s in &mut address_spans {
            *s = with_leading_numbers(text, *s);
        }
        address_spans.sort_unstable();
        // Parts of one address (street, unit, town line) separated only by spaces, commas or a line
        // break become one span.
        let mut merged: Vec<Span> = Vec::new();
        for s in address_spans {
            match merged.last_mut() {
                Some(last)
                    if s.start <= last.end
                        || text[last.end..s.start]
                            .chars()
                            .all(|c| matches!(c, ' ' | ',' | '\n' | '\r' | '\t'))
                            && s.start - last.end <= 3 =>
                {
                    last.end = last.end.max(s.end);
                }
                _ => merged.push(s),
            }
        }
        for s in merged {
            out.push(Entity::new(EntityKind::StreetAddress, s, 0.8));
        }
    }

    /// Whether all of `raw` is one date ("01.84.17.61.18" is not, "12.03.1985" is).
    fn is_whole_date(&self, raw: &str) -> bool {
        self.date
            .find(raw)
            .is_some_and(|d| d.start() == 0 && d.end() == raw.len())
    }

    fn dates_of_birth(&self, text: &str, lower: &str, out: &mut Vec<Entity>) {
        for m in self.date.find_iter(text) {
            if has_any(
                before(lower, m.start(), 40),
                &["born", "birth", "dob", "d.o.b", "birthday"],
            ) {
                out.push(Entity::new(EntityKind::DateOfBirth, span(&m), 0.9));
            }
        }
    }

    fn secrets(&self, text: &str, out: &mut Vec<Entity>) {
        for caps in self.secret_context.captures_iter(text) {
            let (Some(all), Some(value)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            let keyword = all.as_str()[..value.start() - all.start()].to_ascii_lowercase();
            let v = value
                .as_str()
                .trim_end_matches(['.', '!', '?', ')', '"', '\'']);
            if v.len() < 3
                || COMMON_AFTER_SECRET
                    .iter()
                    .any(|w| v.eq_ignore_ascii_case(w))
            {
                continue;
            }
            let digits = v.bytes().filter(u8::is_ascii_digit).count();
            // A bare "code" needs a code-like value (digits); a password may be anything.
            let is_code_word = keyword.trim_start().starts_with("code");
            if is_code_word && !(4..=10).contains(&digits) {
                continue;
            }
            let stated = keyword.contains(':')
                || keyword.contains('=')
                || keyword.contains(" is")
                || keyword.contains(" was");
            let secret_like = digits > 0 || v.chars().any(|c| !c.is_alphanumeric());
            if !secret_like && self.names.is_common(v.trim_start_matches('.')) {
                // "my password is wrong": a plain English word is a complaint, not a password.
                continue;
            }
            // "password but ...", "code because ...": without "is"/":" only a secret-looking value counts.
            let confidence = match (stated, secret_like) {
                (_, true) => 0.9,
                (true, false) => 0.6,
                (false, false) => 0.0,
            };
            out.push(Entity::new(
                EntityKind::Secret,
                Span::new(value.start(), value.start() + v.len()),
                confidence,
            ));
        }
        for m in self.api_key.find_iter(text) {
            out.push(Entity::new(EntityKind::Secret, span(&m), 0.95));
        }
        for caps in self.driver_license.captures_iter(text) {
            if let Some(value) = caps.get(1) {
                if value.as_str().bytes().any(|b| b.is_ascii_digit()) {
                    out.push(Entity::new(EntityKind::DriverLicense, span(&value), 0.85));
                }
            }
        }
    }
}

const CARD_WORDS: [&str; 10] = [
    "card",
    "cc",
    "visa",
    "mastercard",
    "amex",
    "credit",
    "debit",
    "cvv",
    "expir",
    "payment",
];
const PHONE_WORDS: [&str; 13] = [
    "phone",
    "tel",
    "call",
    "mobile",
    "cell",
    "fax",
    "whatsapp",
    "text me",
    "reach",
    "contact",
    "ring",
    "number is",
    "dial",
];
/// Context in which a long number is an identifier of the business, not personal data.
const NOT_PII_NUMBER_WORDS: [&str; 15] = [
    "order",
    "tracking",
    "invoice",
    "ref",
    "reference",
    "ticket",
    "case",
    "parcel",
    "shipment",
    "transaction",
    "receipt",
    "sku",
    "serial",
    "confirmation",
    "booking",
];
const ADDRESS_WORDS: [&str; 6] = [
    "address",
    "live at",
    "located at",
    "deliver to",
    "ship to",
    "moved to",
];
const COMMON_AFTER_SECRET: [&str; 12] = [
    "is", "was", "and", "the", "for", "that", "isn't", "doesn't", "does", "not", "reset", "again",
];

fn phone_is_valid(raw: &str, international: bool) -> bool {
    let normalised: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if international {
        let normalised = normalised.replacen("00", "+", usize::from(normalised.starts_with("00")));
        return phonenumber::parse(None, &normalised).is_ok_and(|n| phonenumber::is_valid(&n));
    }
    [phonenumber::country::Id::US, phonenumber::country::Id::GB]
        .into_iter()
        .any(|region| {
            phonenumber::parse(Some(region), &normalised).is_ok_and(|n| phonenumber::is_valid(&n))
        })
}

/// Widens an address span over the house or building numbers written just before it on the same line
/// ("772 ul. Narewska 94", "846 31 Rue ...").
fn with_leading_numbers(text: &str, mut s: Span) -> Span {
    for _ in 0..2 {
        let before = &text[..s.start];
        let trimmed = before.trim_end_matches(' ');
        if trimmed.len() == before.len() && s.start > 0 {
            break;
        }
        let digits = trimmed.len() - trimmed.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let start = trimmed.len() - digits;
        let boundary = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '>' | ',' | ':'));
        if digits == 0 || digits > 6 || !boundary {
            break;
        }
        s = Span::new(start, s.end);
    }
    s
}

fn span(m: &regex::Match<'_>) -> Span {
    Span::new(m.start(), m.end())
}

/// Up to `n` bytes of `lower` before `pos`, on a char boundary.
/// Whether the words just before a dotted number say it is a version ("version 10.0.0.1", "v. 2.1.0.3"),
/// as whole words: the "v." of a domain ("mail@shop.io thanks 10.0.0.1") is not one.
fn version_context(before: &str) -> bool {
    before.contains("version")
        || before
            .split(|c: char| !c.is_alphanumeric() && c != '.')
            .any(|w| matches!(w, "v." | "v" | "ver" | "ver."))
}

fn before(lower: &str, pos: usize, n: usize) -> &str {
    let mut start = pos.saturating_sub(n);
    while !lower.is_char_boundary(start) {
        start += 1;
    }
    &lower[start..pos]
}

/// Up to `n` bytes of `lower` after `pos`, on a char boundary.
fn after(lower: &str, pos: usize, n: usize) -> &str {
    let mut end = (pos + n).min(lower.len());
    while !lower.is_char_boundary(end) {
        end -= 1;
    }
    &lower[pos.min(end)..end]
}

/// Whether any needle occurs in `haystack` as whole words ("ref" is not in "refund").
fn has_any(haystack: &str, needles: &[&str]) -> bool {
    let is_word_byte = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    needles.iter().any(|needle| {
        haystack.match_indices(needle).any(|(at, _)| {
            let bytes = haystack.as_bytes();
            let starts_word = at == 0 || !is_word_byte(bytes.get(at - 1));
            let ends_word = !is_word_byte(bytes.get(at + needle.len()))
                || !needle
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric());
            starts_word && ends_word
        })
    })
}

/// Keeps one detection per overlapping group: the most confident, then the longest. O(n log n).
pub fn resolve_overlaps(mut found: Vec<Entity>) -> Vec<Entity> {
    found.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    // Kept spans are disjoint, so only the kept span starting last before `e.end` can overlap `e`.
    let mut kept: std::collections::BTreeMap<usize, Entity> = std::collections::BTreeMap::new();
    for e in found {
        let overlaps = kept
            .range(..e.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > e.start);
        if !overlaps {
            kept.insert(e.start, e);
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_before_an_ip_is_not_a_version() {
        let text = "please check aaa.aaa@aav.io thanks 10.0.0.1 ";
        let entities = Detector::new().detect(text);
        assert!(
            entities
                .iter()
                .any(|e| e.kind == EntityKind::IpAddress && &text[e.start..e.end] == "10.0.0.1"),
            "{entities:?}"
        );
        assert!(version_context("version "));
        assert!(version_context("app v. "));
        assert!(!version_context("v.io thanks "));
    }
}
