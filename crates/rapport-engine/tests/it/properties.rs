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
