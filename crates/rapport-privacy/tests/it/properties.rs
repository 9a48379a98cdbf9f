//! Invariants: no detected value survives an operator, pseudonyms re-hydrate exactly, spans are valid,
//! and detection stays linear on a 1 MB text.

use crate::detector;
use proptest::prelude::*;
use rapport_privacy::{apply, HashKey, Operator, Vault};

fn luhn_complete(prefix: &str) -> String {
    // Append the check digit that makes `prefix` Luhn-valid.
    let digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    format!("{prefix}{}", (10 - sum % 10) % 10)
}

fn pii_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{3,8}\\.[a-z]{3,8}@[a-z]{3,8}\\.(com|org|io)",
        "4[0-9]{14}".prop_map(|p| luhn_complete(&p)),
        "\\+44 20 7946 0[0-9]{3}",
        "(536|123|456)-(22|45|67)-[1-9][0-9]{3}".prop_map(|s| format!("SSN {s}")),
        Just("GB82 WEST 1234 5698 7654 32".to_string()),
        "(10|172|192)\\.(0|[1-9][0-9]?)\\.(0|[1-9][0-9]?)\\.[1-9][0-9]?",
    ]
}

fn filler() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "please check",
        "my details are",
        "and",
        "thanks",
        "the refund for",
        "I was told",
        "contact me at",
        "hello",
        "it still fails",
        "",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_detected_value_survives_any_operator(parts in prop::collection::vec((filler(), pii_value()), 1..5)) {
        let text: String = parts.iter().map(|(f, v)| format!("{f} {v} ")).collect();
        let entities = detector().detect(&text);
        let key = HashKey::new(&[9; 32]).expect("key");
        for operator in [Operator::Redact, Operator::Mask, Operator::Hash, Operator::Pseudonymize] {
            let mut vault = Vault::new("p");
            let out = apply(&text, &entities, operator, Some(&key), Some(&mut vault)).expect("apply");
            for e in &entities {
                let value = &text[e.start..e.end];
                prop_assert!(!out.contains(value), "{operator:?} leaked {value:?} in {out:?}");
            }
        }
        for (_, value) in &parts {
            // Every generated value is found: the digits of an SSN behind its label, the rest whole.
            let core = value.trim_start_matches("SSN ");
            prop_assert!(
                entities.iter().any(|e| text[e.start..e.end].contains(core)),
                "missed {core:?} in {text:?}: {entities:?}"
            );
        }
    }

    #[test]
    fn pseudonymize_then_rehydrate_is_the_identity(text in any::<String>()) {
        let entities = detector().detect(&text);
        for e in &entities {
            prop_assert!(e.start < e.end && e.end <= text.len());
            prop_assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end));
        }
        let mut vault = Vault::new("p");
        let out = apply(&text, &entities, Operator::Pseudonymize, None, Some(&mut vault)).expect("apply");
        prop_assert_eq!(vault.rehydrate(&out), text);
    }

    #[test]
    fn rehydrate_round_trips_customer_like_text(parts in prop::collection::vec((filler(), pii_value()), 0..5)) {
        let text: String = parts.iter().map(|(f, v)| format!("{f} <{v}> ")).collect();
        let entities = detector().detect(&text);
        let mut vault = Vault::new("p");
        let out = apply(&text, &entities, Operator::Pseudonymize, None, Some(&mut vault)).expect("apply");
        prop_assert_eq!(vault.rehydrate(&out), text);
    }
}

#[test]
fn detection_on_a_megabyte_is_linear() {
    let line = "Hi, I'm Ann Smith, card 4111 1111 1111 1111, call +44 20 7946 0958 or mail ann@example.com. ";
    let small: String = line.repeat(1_000);
    let large: String = line.repeat(10_000);
    // The best of three runs, so that a busy machine does not decide the outcome.
    let time = |text: &str| {
        let mut best = std::time::Duration::MAX;
        let mut n = 0;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            n = detector().detect(text).len();
            best = best.min(start.elapsed());
        }
        (best, n)
    };
    let (t_small, n_small) = time(&small);
    let (t_large, n_large) = time(&large);
    assert_eq!(n_large, n_small * 10, "every repetition is found");
    // Ten times the text may take at most ~30 times as long (linear with generous noise); a quadratic
    // detector would take ~100 times as long.
    assert!(
        t_large < t_small * 30 + std::time::Duration::from_millis(50),
        "{t_small:?} -> {t_large:?}"
    );
}
