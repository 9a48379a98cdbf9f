//! State and strategy never panic on any conversation, and memory never holds a detected raw value.

use crate::engine;
use proptest::prelude::*;
use rapport_engine::policy::Policy;
use rapport_engine::strategy::decide;
use rapport_engine::{Conversation, Role, Turn};

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Customer),
        Just(Role::Agent),
        Just(Role::Bot),
        Just(Role::System)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_conversation_gives_a_state_and_moves(turns in prop::collection::vec((role(), any::<String>()), 1..8)) {
        let conversation = Conversation {
            turns: turns.into_iter().map(|(role, text)| Turn { role, text }).collect(),
        };
        let state = engine().state("p", &conversation).expect("state");
        prop_assert_eq!(state.turns.len(), conversation.turns.len());
        let moves = decide(&state, &Policy::default());
        prop_assert!(!moves.is_empty());
        for (original, pseudonymised) in conversation.turns.iter().zip(&state.turns) {
            prop_assert_eq!(&state.vault.rehydrate(&pseudonymised.text), &original.text);
        }
    }
}

/// A sentence that carries a personal value in the context a detector needs to see it.
fn personal_sentence() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("my account number is GB82WEST12345698765432".to_string()),
        Just("account no 4111111111111111 please check it".to_string()),
        Just("Ticket 4111111111111111 is still open".to_string()),
        Just("my date of birth is 12/03/1980".to_string()),
        "[a-z]{3,8}\\.[a-z]{3,8}@example\\.com".prop_map(|e| format!("email me at {e}")),
        "07[0-9]{3} [0-9]{6}".prop_map(|p| format!("call me on {p} after 6")),
        Just("order #A12345 for Sarah Connor at 221B Baker Street".to_string()),
        Just("I paid £49.99 on 12 March and my IBAN is DE89370400440532013000".to_string()),
    ]
}

fn filler() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("My refund hasn't arrived and I've called twice.".to_string()),
        Just("I already tried restarting it.".to_string()),
        Just("Can you check?".to_string()),
        Just("This is the third time I'm asking!!".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every value that enters an LLM prompt has been through the detector and the vault: no detected
    /// entity's raw value appears anywhere in it, memory section included.
    #[test]
    fn no_detected_raw_value_reaches_the_prompt(
        turns in prop::collection::vec((role(), filler(), personal_sentence(), filler()), 1..6)
    ) {
        let conversation = Conversation {
            turns: turns
                .into_iter()
                .map(|(role, a, b, c)| Turn { role, text: format!("{a} {b}. {c}") })
                .collect(),
        };
        let state = engine().state("p", &conversation).expect("state");
        let moves = decide(&state, &Policy::default());
        let messages = rapport_engine::respond::prompt(&state, &moves, &[], &Policy::default(), false);
        let prompt: String = messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n");
        let detector = rapport_privacy::Detector::new();
        for turn in &conversation.turns {
            for entity in detector.detect(&turn.text) {
                let raw = &turn.text[entity.start..entity.end];
                prop_assert!(!prompt.contains(raw), "raw {:?} ({:?}) in the prompt:\n{}", raw, entity.kind, prompt);
            }
        }
    }
}
