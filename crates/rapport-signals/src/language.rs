//! Language identification, tuned for the question that matters here: is this English (which Rapport's
//! models and lexicon cover) or not? English function words decide the common case cheaply; `whatlang`
//! names other languages.

use rapport_text::{Token, TokenKind};

const ENGLISH_WORDS: &[&str] = &[
    "the", "a", "an", "i", "you", "my", "me", "is", "are", "was", "it", "to", "and", "of", "in",
    "for", "on", "with", "this", "that", "not", "no", "have", "has", "can", "do", "does", "did",
    "be", "been", "we", "our", "your", "what", "why", "how", "when", "where", "please", "thanks",
    "thank", "order", "help", "at", "from", "but", "so", "just", "still", "get", "want", "need",
    "i'm", "don't", "can't", "it's", "would", "could", "will", "if", "or", "am", "they", "he",
    "she", "there", "here", "hi", "hello", "yes", "ok", "okay",
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
        .filter(|w| ENGLISH_WORDS.iter().any(|e| w.eq_ignore_ascii_case(e)))
        .count();
    let latin = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c));
    if latin && (english * 5 >= words.len() || (english > 0 && words.len() <= 4)) {
        return "en";
    }
    match whatlang::detect(text) {
        Some(info) if info.lang() == whatlang::Lang::Eng => "en",
        Some(info) if !latin || info.is_reliable() || words.len() >= 4 => iso639_1(info.lang()),
        // Too short to tell and written in the Latin alphabet: treat as English rather than drop signals.
        _ if latin => "en",
        Some(info) => iso639_1(info.lang()),
        None => "und",
    }
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
