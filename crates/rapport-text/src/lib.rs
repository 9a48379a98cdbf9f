//! Text primitives shared by Rapport's analysis crates: byte spans, char-boundary-safe truncation, word
//! boundaries and a word tokeniser that keeps byte offsets into the original text.
//!
//! Not for: anything that knows about signals, models or I/O. Every offset in Rapport is a byte offset into
//! the original (un-normalised) text and lies on a char boundary; this crate is where that is enforced.

use serde::{Deserialize, Serialize};

/// A half-open byte range `[start, end)` into the original text, always on char boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end);
        Self { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The covered text; `None` if the span does not fit `text` or splits a char.
    pub fn slice<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.start..self.end)
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The longest prefix of `text` that is at most `max_bytes` long and ends on a char boundary.
pub fn truncate_on_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What kind of token the tokeniser produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Letters, digits and inner apostrophes (`don't`, `it's`, `3rd`).
    Word,
    /// A run of one repeated punctuation mark (`!!!`, `?`), or a single other symbol (emoji included).
    Symbol,
}

/// A token with its byte span in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub span: Span,
    pub kind: TokenKind,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Iterator over the tokens of a text; never allocates.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

/// Splits `text` into words and symbols, skipping whitespace. Offsets are bytes into `text`.
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0 }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let rest = &self.text[self.pos..];
        let mut chars = rest.char_indices().peekable();
        // Skip whitespace and joiners that carry no meaning on their own.
        let (offset, first) = loop {
            let (i, c) = chars.next()?;
            if !(c.is_whitespace() || c == '\u{200d}' || c == '\u{fe0f}') {
                break (i, c);
            }
        };
        let start = self.pos + offset;
        let mut end = offset + first.len_utf8();
        let kind = if is_word_char(first) {
            while let Some(&(i, c)) = chars.peek() {
                if is_word_char(c) {
                    end = i + c.len_utf8();
                    chars.next();
                } else if is_apostrophe(c) {
                    // Keep an apostrophe only between two word chars (don't, it's).
                    let after = rest[i + c.len_utf8()..].chars().next();
                    if after.is_some_and(is_word_char) {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            TokenKind::Word
        } else {
            if first.is_ascii_punctuation() {
                while let Some(&(i, c)) = chars.peek() {
                    if c == first || (matches!(first, '!' | '?') && matches!(c, '!' | '?')) {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            TokenKind::Symbol
        };
        let end_abs = self.pos + end;
        self.pos = end_abs;
        Some(Token {
            text: &self.text[start..end_abs],
            span: Span::new(start, end_abs),
            kind,
        })
    }
}

/// True when the byte at `start - 1` and the byte at `end` are not part of a word, so that a match at
/// `[start, end)` is a whole word or phrase.
pub fn is_word_bounded(text: &str, start: usize, end: usize) -> bool {
    let before_ok = text[..start]
        .chars()
        .next_back()
        .is_none_or(|c| !is_word_char(c));
    let after_ok = text[end..].chars().next().is_none_or(|c| !is_word_char(c));
    before_ok && after_ok
}

/// Share of cased letters that are upper case, and how many cased letters there are.
pub fn uppercase_ratio(text: &str) -> (f32, usize) {
    let (mut upper, mut cased) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
            cased += 1;
        } else if c.is_lowercase() {
            cased += 1;
        }
    }
    if cased == 0 {
        (0.0, 0)
    } else {
        (upper as f32 / cased as f32, cased)
    }
}

/// The UTC calendar date (`YYYY-MM-DD`) of a Unix time in milliseconds, by Howard Hinnant's
/// civil-from-days algorithm: to stamp model cards and label report days without a date crate.
pub fn utc_date(unix_ms: i64) -> String {
    let z = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC time (`YYYY-MM-DDTHH:MM:SSZ`) of a Unix time in milliseconds.
pub fn utc_time(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1_000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        utc_date(unix_ms),
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_reads_unix_milliseconds() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(1_796_400_000_000), "2026-12-04T16:00:00Z");
        assert_eq!(utc_time(-1_000), "1969-12-31T23:59:59Z");
    }

    fn words(text: &str) -> Vec<&str> {
        tokens(text).map(|t| t.text).collect()
    }

    #[test]
    fn tokeniser_keeps_contractions_and_punctuation_runs() {
        assert_eq!(
            words("I don't get it!!! Why?"),
            ["I", "don't", "get", "it", "!!!", "Why", "?"]
        );
        assert_eq!(words("'quoted' word"), ["'", "quoted", "'", "word"]);
    }

    #[test]
    fn tokeniser_offsets_point_into_original_text() {
        let text = "Café ☕ – ok";
        for token in tokens(text) {
            assert_eq!(token.span.slice(text), Some(token.text));
        }
    }

    #[test]
    fn truncation_never_splits_a_char() {
        let text = "ééé";
        assert_eq!(truncate_on_char_boundary(text, 3), "é");
        assert_eq!(truncate_on_char_boundary(text, 100), text);
    }

    #[test]
    fn word_boundaries() {
        assert!(is_word_bounded("I am sad.", 5, 8));
        assert!(!is_word_bounded("I am sadder", 5, 8));
    }

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_795_651_199_999), "2026-11-25");
        assert_eq!(utc_date(1_795_651_200_000), "2026-11-26");
        assert_eq!(utc_date(-1), "1969-12-31");
    }
}
