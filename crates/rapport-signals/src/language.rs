//! Language identification, tuned for the question that matters here: is this English (which Rapport's
//! models and lexicon cover) or not? English function words decide the common case cheaply; `whatlang`
//! names other languages.

use rapport_text::{Token, TokenKind};

/// Common English words, sorted for binary search (a unit test checks the order).
const ENGLISH_WORDS: &[&str] = &[
    "a",
    "about",
    "account",
    "after",
    "again",
    "all",
    "also",
    "always",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "back",
    "bad",
    "be",
    "been",
    "before",
    "but",
    "by",
    "can",
    "can't",
    "could",
    "damn",
    "day",
    "delivery",
    "did",
    "do",
    "does",
    "don't",
    "down",
    "even",
    "everyone",
    "for",
    "from",
    "fuck",
    "get",
    "go",
    "going",
    "gonna",
    "good",
    "got",
    "great",
    "guy",
    "had",
    "happy",
    "has",
    "hate",
    "have",
    "he",
    "hello",
    "help",
    "her",
    "here",
    "hi",
    "him",
    "his",
    "how",
    "i",
    "i'll",
    "i'm",
    "i've",
    "if",
    "in",
    "is",
    "it",
    "it's",
    "just",
    "know",
    "last",
    "let's",
    "like",
    "lol",
    "look",
    "love",
    "made",
    "make",
    "man",
    "many",
    "me",
    "money",
    "more",
    "most",
    "much",
    "my",
    "need",
    "never",
    "new",
    "next",
    "no",
    "not",
    "nothing",
    "now",
    "of",
    "off",
    "oh",
    "ok",
    "okay",
    "on",
    "one",
    "only",
    "or",
    "order",
    "our",
    "out",
    "over",
    "payment",
    "people",
    "please",
    "really",
    "refund",
    "sad",
    "see",
    "she",
    "shit",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "sorry",
    "still",
    "than",
    "thank",
    "thanks",
    "that",
    "that's",
    "the",
    "their",
    "them",
    "then",
    "there",
    "they",
    "think",
    "this",
    "time",
    "to",
    "today",
    "too",
    "up",
    "very",
    "wanna",
    "want",
    "was",
    "way",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yeah",
    "year",
    "yes",
    "you",
    "you're",
    "your",
];

/// ISO 639-1 code of the language of `text` (`en` for English), or `und` when there are no words.
pub fn detect(text: &str, tokens: &[Token<'_>]) -> &'static str {
    // Counted in one pass without collecting: this runs on every message.
    let (words, english) = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Word && t.text.chars().any(char::is_alphabetic))
        .fold((0usize, 0usize), |(words, english), t| {
            (words + 1, english + usize::from(is_english_word(t.text)))
        });
    if words == 0 {
        return "und";
    }
    let latin = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c));
    if latin && english > 0 && english * 4 >= words {
        return "en";
    }
    match whatlang::detect(text) {
        Some(info) if info.lang() == whatlang::Lang::Eng => "en",
        // Short Latin-script text is often misread (slang, names): only a confident verdict, or one on a
        // text of several words with few common English words, counts.
        Some(info) if !latin || info.is_reliable() || words >= 5 => iso639_1(info.lang()),
        _ if latin => "en",
        _ => "und",
    }
}

/// Whether `word` (any case, typographic apostrophes allowed) is one of [`ENGLISH_WORDS`]; no allocation.
fn is_english_word(word: &str) -> bool {
    let mut buf = [0u8; 16];
    let mut len = 0;
    for c in word.chars() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if !c.is_ascii() || len == buf.len() {
            return false;
        }
        buf[len] = c.to_ascii_lowercase() as u8;
        len += 1;
    }
    let lower = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    ENGLISH_WORDS.binary_search(&lower).is_ok()
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
    fn english_words_are_sorted_for_binary_search() {
        assert!(ENGLISH_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_english_word("I\u{2019}M"));
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
