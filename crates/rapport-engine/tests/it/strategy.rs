//! Strategy on realistic conversations: the moves a supervisor expects, with reasons.

use crate::{conversation, engine};
use rapport_engine::policy::Policy;
use rapport_engine::strategy::{decide, MoveKind};
use rapport_engine::Role::{Agent, Bot, Customer};

fn moves(turns: &[(rapport_engine::Role, &str)]) -> Vec<MoveKind> {
    let state = engine().state("s", &conversation(turns)).expect("state");
    let decided = decide(&state, &Policy::default());
    assert!(
        decided.iter().all(|m| !m.reasons.is_empty()),
        "every move has reasons"
    );
    decided.into_iter().map(|m| m.kind).collect()
}

#[test]
fn a_request_for_a_human_always_hands_off() {
    let m = moves(&[(Customer, "Stop. I want to speak to a real person now.")]);
    assert!(m.contains(&MoveKind::Handoff), "{m:?}");
}

#[test]
fn self_harm_risk_triggers_the_safety_protocol_on_that_turn() {
    let m = moves(&[
        (Customer, "My card was declined again."),
        (Bot, "Sorry about that, please try again in an hour."),
        (
            Customer,
            "I can't do this anymore, I just want to end it all.",
        ),
    ]);
    assert_eq!(m.first(), Some(&MoveKind::SafetyProtocol), "{m:?}");
    assert!(m.contains(&MoveKind::Handoff));
    assert!(
        !m.contains(&MoveKind::Inform),
        "no sales talk in a crisis: {m:?}"
    );
}

#[test]
fn thanks_for_a_resolved_issue_closes_with_confirmation() {
    let m = moves(&[
        (Customer, "My refund hasn't arrived."),
        (Agent, "I've re-issued it; it reaches your card today."),
        (Customer, "Thank you so much, it just arrived!"),
    ]);
    assert_eq!(m, [MoveKind::Affirm, MoveKind::ConfirmResolution]);
}

#[test]
fn frustration_gets_acknowledgement_and_one_apology_only() {
    let first = moves(&[(
        Customer,
        "This is ridiculous, my parcel is a week late and nobody answers!",
    )]);
    assert!(
        first.contains(&MoveKind::Acknowledge) && first.contains(&MoveKind::Apologize),
        "{first:?}"
    );
    let later = moves(&[
        (Customer, "This is ridiculous, my parcel is a week late!"),
        (Bot, "I'm sorry about the delay, I've chased the courier."),
        (Customer, "It's still not here and I'm furious!"),
    ]);
    assert!(later.contains(&MoveKind::Acknowledge), "{later:?}");
    assert!(
        !later.contains(&MoveKind::Apologize),
        "apology budget of one is spent: {later:?}"
    );
}

#[test]
fn distress_rising_after_a_reassurance_changes_strategy() {
    let m = moves(&[
        (
            Customer,
            "I'm a bit worried my payment went to the wrong account.",
        ),
        (Bot, "Don't worry, everything will be fine."),
        (
            Customer,
            "I'm desperate, it's all my rent money and I can't cope, I don't know what to do!",
        ),
    ]);
    assert!(m.contains(&MoveKind::Handoff), "{m:?}");
}

#[test]
fn what_was_tried_is_reflected_and_confusion_is_clarified() {
    let m = moves(&[(Customer, "I've already restarted the router twice and I don't understand what the orange light means?")]);
    assert!(m.contains(&MoveKind::Reflect), "{m:?}");
    assert!(m.contains(&MoveKind::Clarify), "{m:?}");
}

#[test]
fn the_same_state_gives_the_same_moves() {
    let turns = [(
        Customer,
        "I'm worried, my order #5531 still hasn't shipped and it's urgent.",
    )];
    assert_eq!(moves(&turns), moves(&turns));
}
