//! Integration tests of the engine's state: memory, pseudonyms and trajectory on realistic conversations.

mod llm;
mod properties;
mod scenarios;
mod sectors;
mod strategy;

use rapport_engine::memory::FactKind;
use rapport_engine::trajectory::Trend;
use rapport_engine::{Conversation, Engine, Role, Turn};
use std::sync::OnceLock;

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("built-in models"))
}

pub fn conversation(turns: &[(Role, &str)]) -> Conversation {
    Conversation {
        turns: turns
            .iter()
            .map(|(role, text)| Turn {
                role: *role,
                text: text.to_string(),
            })
            .collect(),
    }
}

use Role::{Agent, Bot, Customer};

#[test]
fn memory_keeps_ids_amounts_dates_tried_and_promised_with_their_turns() {
    let c = conversation(&[
        (Customer, "Hi, my order #A12345 never arrived. I paid £49.99 on 3 March."),
        (Bot, "Sorry to hear that. I'll ask the courier and we will refund you within 5 days if it's lost."),
        (Customer, "I've already called the courier twice and restarted the tracking app. My account number is 778899."),
        (Agent, "Thanks. What's the postcode on the order?"),
    ]);
    let state = engine().state("c1", &c).expect("state");
    let m = &state.memory;
    let fact = |kind: FactKind| {
        m.facts
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| (f.value.as_str(), f.turn))
    };
    assert_eq!(fact(FactKind::OrderId), Some(("A12345", 0)));
    assert_eq!(fact(FactKind::Amount), Some(("£49.99", 0)));
    assert_eq!(fact(FactKind::Date), Some(("3 March", 0)));
    assert_eq!(fact(FactKind::AccountId), Some(("778899", 2)));
    assert!(m.knows(FactKind::OrderId));
    assert_eq!(m.tried.len(), 1, "{:?}", m.tried);
    assert!(m.tried[0].text.contains("called the courier twice") && m.tried[0].turn == 2);
    assert!(
        m.promised
            .iter()
            .any(|p| p.text.contains("refund you within 5 days") && p.turn == 1),
        "{:?}",
        m.promised
    );
    assert!(m.open_questions.is_empty(), "the agent answered last");
}

#[test]
fn personal_data_is_remembered_and_shown_only_as_pseudonyms() {
    let c = conversation(&[
        (
            Customer,
            "I'm Priya Natarajan, email priya.n@example.com, I've called 07700 900123 three times.",
        ),
        (Agent, "Thanks Priya, I'll email priya.n@example.com today."),
        (Customer, "Is it sorted? My email is priya.n@example.com"),
    ]);
    let state = engine().state("c2", &c).expect("state");
    let serialised = serde_json::to_string(&state).expect("json");
    for raw in ["priya.n@example.com", "07700 900123", "Natarajan"] {
        assert!(
            !serialised.contains(raw),
            "{raw} leaked into the state: {serialised}"
        );
    }
    let contact: Vec<&str> = state
        .memory
        .facts
        .iter()
        .filter(|f| f.kind == FactKind::Contact)
        .map(|f| f.value.as_str())
        .collect();
    assert!(contact.contains(&"<EMAIL_1>"), "{contact:?}");
    assert_eq!(
        state.turns[2].text, "Is it sorted? My email is <EMAIL_1>",
        "stable pseudonym"
    );
    assert_eq!(state.vault.rehydrate(&state.turns[2].text), c.turns[2].text);
    assert_eq!(state.memory.open_questions.len(), 1);
}

#[test]
fn trajectory_trend_peak_and_repetition() {
    let declining = conversation(&[
        (Customer, "Hi, quick question about my delivery date."),
        (Bot, "Sorry for the wait. Your parcel is on its way."),
        (Customer, "It still hasn't arrived and I'm getting annoyed."),
        (Bot, "Sorry for the wait. Your parcel is on its way."),
        (
            Customer,
            "This is ridiculous, I'm furious, the parcel still hasn't arrived!!!",
        ),
    ]);
    let state = engine().state("c3", &declining).expect("state");
    let t = &state.trajectory;
    assert_eq!(t.points.len(), 3);
    assert_eq!(t.trend, Trend::Declining, "{:?}", t.points);
    assert_eq!(t.peak, Some(4));
    assert!(
        t.repetition
            .iter()
            .any(|r| r.what == "apology" && r.turn == 3 && r.repeats == 1),
        "{:?}",
        t.repetition
    );
    assert!(
        t.repetition
            .iter()
            .any(|r| r.what == "customer_complaint" && r.turn == 4 && r.repeats == 2),
        "{:?}",
        t.repetition
    );

    let improving = conversation(&[
        (
            Customer,
            "I'm so frustrated, my card was charged twice and nobody helps!",
        ),
        (Agent, "I've refunded the second charge just now."),
        (Customer, "Oh great, thank you so much, that's a relief!"),
    ]);
    assert_eq!(
        engine()
            .state("c4", &improving)
            .expect("state")
            .trajectory
            .trend,
        Trend::Improving
    );
}

#[test]
fn limits_are_clear_errors() {
    assert!(engine().state("e", &Conversation::default()).is_err());
    let many = Conversation {
        turns: vec![
            Turn {
                role: Customer,
                text: "hi".into()
            };
            rapport_engine::MAX_TURNS + 1
        ],
    };
    let err = engine().state("e", &many).expect_err("too long");
    assert!(err.to_string().contains("limit"));
}

#[test]
fn a_postal_tracking_number_is_the_parcel_and_is_not_asked_for_again() {
    let c = conversation(&[(
        Customer,
        "your driver THREW IT OVER A GATE. I'll say it again: your driver broke my parcel. PW90551274GB",
    )]);
    let state = engine().state("t1", &c).expect("state");
    assert!(
        state
            .memory
            .facts
            .iter()
            .any(|f| f.kind == FactKind::OrderId && f.value == "PW90551274GB"),
        "{:?}",
        state.memory.facts
    );
}

#[test]
fn what_went_wrong_after_a_relative_tried_is_not_something_tried() {
    let c = conversation(&[(
        Customer,
        "Where can I buy a 150 watt charger? The few others I've tried won't charge the laptop at all.",
    )]);
    let state = engine().state("c-tried", &c).expect("state");
    assert!(state.memory.tried.is_empty(), "{:?}", state.memory.tried);
}
