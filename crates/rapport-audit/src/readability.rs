//! Flesch-Kincaid grade level, with a vowel-group syllable estimate.

/// `0.39 × words/sentences + 11.8 × syllables/words − 15.59`; 0 for text without words.
pub fn flesch_kincaid_grade(text: &str) -> f32 {
    let sentences = crate::sentences(text).len().max(1);
    let (mut words, mut syllables) = (0usize, 0usize);
    for token in rapport_text::tokens(text) {
        if token.kind == rapport_text::TokenKind::Word
            && token.text.chars().any(char::is_alphabetic)
        {
            words += 1;
            syllables += syllable_count(token.text);
        }
    }
    if words == 0 {
        return 0.0;
    }
    let grade =
        0.39 * words as f32 / sentences as f32 + 11.8 * syllables as f32 / words as f32 - 15.59;
    grade.max(0.0)
}

fn syllable_count(word: &str) -> usize {
    let lower = word.to_lowercase();
    let mut count = 0;
    let mut previous_vowel = false;
    for c in lower.chars() {
        let vowel = matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
        if vowel && !previous_vowel {
            count += 1;
        }
        previous_vowel = vowel;
    }
    if lower.ends_with('e') && !lower.ends_with("le") && count > 1 {
        count -= 1;
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_text_reads_easier_than_dense_text() {
        let simple = flesch_kincaid_grade("I sent a new card. It comes on Monday.");
        let dense = flesch_kincaid_grade(
            "Notwithstanding the aforementioned considerations, reimbursement eligibility necessitates comprehensive documentation verification procedures.",
        );
        assert!(simple < 4.0, "{simple}");
        assert!(dense > 14.0, "{dense}");
        assert_eq!(flesch_kincaid_grade(""), 0.0);
    }
}
