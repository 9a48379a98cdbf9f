//! Language identification, tuned for the question that matters here: is this English (which Rapport's
//! models and lexicon cover) or not? English function words decide the common case cheaply; `whatlang`
//! names other languages.

use rapport_text::{Token, TokenKind};

const ENGLISH_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "i",
    "you",
    "my",
    "me",
    "is",
    "are",
    "was",
    "were",
    "it",
    "to",
    "and",
    "of",
    "in",
    "for",
    "on",
    "with",
    "this",
    "that",
    "not",
    "no",
    "have",
    "has",
    "had",
    "can",
    "do",
    "does",
    "did",
    "be",
    "been",
    "we",
    "our",
    "your",
    "what",
    "why",
    "how",
    "when",
    "where",
    "who",
    "please",
    "thanks",
    "thank",
    "order",
    "help",
    "at",
    "from",
    "but",
    "so",
    "just",
    "still",
    "get",
    "got",
    "want",
    "need",
    "i'm",
    "don't",
    "can't",
    "it's",
    "that's",
    "you're",
    "i've",
    "i'll",
    "would",
    "could",
    "should",
    "will",
    "if",
    "or",
    "am",
    "they",
    "he",
    "she",
    "his",
    "her",
    "him",
    "them",
    "their",
    "there",
    "here",
    "hi",
    "hello",
    "yes",
    "ok",
    "okay",
    "now",
    "then",
    "than",
    "too",
    "very",
    "really",
    "all",
    "some",
    "any",
    "more",
    "most",
    "about",
    "like",
    "know",
    "think",
    "good",
    "great",
    "bad",
    "new",
    "time",
    "day",
    "today",
    "year",
    "happy",
    "sad",
    "love",
    "hate",
    "lol",
    "gonna",
    "wanna",
    "yeah",
    "oh",
    "well",
    "go",
    "going",
    "make",
    "made",
    "see",
    "look",
    "let's",
    "next",
    "last",
    "way",
    "one",
    "out",
    "up",
    "down",
    "off",
    "over",
    "again",
    "by",
    "as",
    "which",
    "only",
    "even",
    "also",
    "never",
    "always",
    "money",
    "account",
    "refund",
    "payment",
    "delivery",
    "sorry",
    "damn",
    "fuck",
    "shit",
    "man",
    "guy",
    "people",
    "everyone",
    "someone",
    "nothing",
    "something",
    "much",
    "many",
    "back",
    "after",
    "before",
];

/// ISO 639-1 code of the language of `text` (`en` for English), or `und` when there are no words.
pub fn detect(text: &str, tokens: &[Token<'_>]) -> &'static str {
    let words: Vec<&str> = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Word && t.text.chars().any(char::is_alphabetic))
        .map(|t| t.text)
        .collect();
    if words.is_empty() {
        return "und";
    }
    let english = words
        .iter()
        .filter(|w| ENGLISH_WORDS.iter().any(|e| same_word(w, e)))
        .count();
    let latin = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c));
    if latin && english > 0 && english * 4 >= words.len() {
        return "en";
    }
    match whatlang::detect(text) {
        Some(info) if info.lang() == whatlang::Lang::Eng => "en",
        // Short Latin-script text is often misread (slang, names): only a confident verdict, or one on a
        // text of several words with few common English words, counts.
        Some(info) if !latin || info.is_reliable() || words.len() >= 5 => iso639_1(info.lang()),
        _ if latin => "en",
        _ => "und",
    }
}

/// Case-insensitive comparison that reads a typographic apostrophe as `'`.
fn same_word(word: &str, english: &str) -> bool {
    let mut expected = english.chars();
    word.chars()
        .map(|c| {
            if c == '\u{2019}' {
                '\''
            } else {
                c.to_ascii_lowercase()
            }
        })
        .all(|c| expected.next() == Some(c))
        && expected.next().is_none()
}

fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Spa => "es",
        Fra => "fr",
        Deu => "de",
        Ita => "it",
        Por => "pt",
        Nld => "nl",
        Rus => "ru",
        Ukr => "uk",
        Pol => "pl",
        Tur => "tr",
        Ara => "ar",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Hin => "hi",
        Swe => "sv",
        Dan => "da",
        Fin => "fi",
        Ell => "el",
        Heb => "he",
        Vie => "vi",
        Ind => "id",
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(text: &str) -> &'static str {
        let tokens: Vec<_> = rapport_text::tokens(text).collect();
        detect(text, &tokens)
    }

    #[test]
    fn english_and_others() {
        assert_eq!(lang("Where is my order? It has been two weeks."), "en");
        assert_eq!(lang("refund"), "en");
        assert_eq!(
            lang("Hola, ¿dónde está mi pedido? Llevo dos semanas esperando."),
            "es"
        );
        assert_eq!(
            lang("Ich warte seit zwei Wochen auf meine Bestellung und niemand antwortet."),
            "de"
        );
        // Short Cyrillic text may be named Russian or a neighbour; what matters is that it is not English.
        assert!(!matches!(
            lang("Где мой заказ? Я жду уже две недели."),
            "en" | "und"
        ));
        assert_eq!(lang("😡😡😡"), "und");
    }
}
