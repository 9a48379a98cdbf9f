//! Invariants over arbitrary text: analysis never panics, spans lie inside the text on char boundaries,
//! every key is present and scores stay in range.

use crate::analyze;
use proptest::prelude::*;
use rapport_signals::Analysis;

fn check(text: &str, analysis: &Analysis) {
    for set in [
        &analysis.signals,
        &analysis.vulnerability,
        &analysis.sensitive_topics,
    ] {
        assert_eq!(set.names.len(), set.scores.len());
        for s in &set.scores {
            assert!((0.0..=1.0).contains(&s.score), "score {}", s.score);
            for span in &s.spans {
                assert!(span.start < span.end && span.end <= text.len());
                assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            }
        }
    }
    assert!((-1.0..=1.0).contains(&analysis.sentiment.score));
    assert!(!analysis.emotions.predicted.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_analyses_safely(text in any::<String>()) {
        check(&text, &analyze(&text));
    }

    #[test]
    fn any_conversation_analyses_safely(
        turns in proptest::collection::vec((any::<bool>(), any::<String>()), 0..8)
    ) {
        use rapport_signals::analysis::Speaker;
        let turns: Vec<(Speaker, &str)> = turns
            .iter()
            .map(|(customer, text)| {
                (if *customer { Speaker::Customer } else { Speaker::Company }, text.as_str())
            })
            .collect();
        let analyses = crate::analyzer().analyze_conversation(&turns);
        prop_assert_eq!(analyses.len(), turns.len());
        for ((speaker, text), analysis) in turns.iter().zip(&analyses) {
            prop_assert_eq!(analysis.is_some(), *speaker == Speaker::Customer);
            if let Some(analysis) = analysis {
                check(text, analysis);
                let reading = analysis.reading.as_ref().expect("a reading in a conversation");
                prop_assert!(["open", "resolved", "none"].contains(&reading.problem));
                prop_assert!((0.0..=1.0).contains(&reading.pushback.score));
            }
        }
    }

    #[test]
    fn customer_like_text_analyses_safely(
        text in "([A-Za-z']{1,10}|[ !?.,]{1,3}|é|😡|ß|—|\u{2019}){0,60}"
    ) {
        check(&text, &analyze(&text));
    }
}

#[test]
fn messy_inputs_get_diagnostics_not_panics() {
    let empty = analyze("");
    assert_eq!(empty.diagnostics[0].code, "empty");
    assert_eq!(empty.language, "und");

    let emoji = analyze("😡😡😡🤬");
    assert!(emoji.diagnostics.iter().any(|d| d.code == "no_words"));

    let huge = "I am so frustrated with this order. ".repeat(30_000);
    let analysis = analyze(&huge);
    assert!(analysis.diagnostics.iter().any(|d| d.code == "truncated"));
    check(&huge, &analysis);

    let spanish = analyze("Estoy muy enfadado, mi pedido no ha llegado y nadie me responde");
    assert_eq!(spanish.language, "es");
    assert!(spanish
        .diagnostics
        .iter()
        .any(|d| d.code == "language_not_supported"));
    assert!(spanish.signals.present().next().is_none());
}
