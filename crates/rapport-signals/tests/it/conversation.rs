//! Real support language and the conversation read as a whole: the cases a person reading the
//! conversation gets right and a message-by-message reading got wrong (paraphrased, not copied, from
//! real customer-care traffic).

use crate::{analyze, analyzer};
use rapport_signals::analysis::Speaker;
use rapport_signals::{Analysis, SignalScore};

fn present(analysis: &Analysis, name: &str) -> bool {
    let (set, key) = match name.split_once('.') {
        Some(("vulnerability", key)) => (&analysis.vulnerability, key),
        Some(("topic", key)) => (&analysis.sensitive_topics, key),
        _ => (&analysis.signals, name),
    };
    set.get(key).is_some_and(SignalScore::present)
}

#[test]
fn real_support_phrasing_is_read() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "ok @shop get it together. you keep failing me",
            &["frustration"],
            &["gratitude"],
        ),
        (
            "My parcel for order 48213 STILL isn't here. This is the third time I'm contacting you!!",
            &["frustration", "repeat_contact"],
            &["gratitude"],
        ),
        (
            "I've been on hold for over an hour twice and still no refund",
            &["repeat_contact"],
            &[],
        ),
        (
            "I tried opening the game multiple times and it crashes on the title screen",
            &[],
            &["repeat_contact"],
        ),
        ("is there an actual person I can talk to?", &["human_request"], &[]),
        ("thx, that worked", &["gratitude"], &["frustration"]),
        (
            "Our office is closed due to covid, can I change the delivery address?",
            &[],
            &["vulnerability.physical_health"],
        ),
    ];
    let mut failures = Vec::new();
    for (text, yes, no) in cases {
        let analysis = analyze(text);
        for name in *yes {
            if !present(&analysis, name) {
                failures.push(format!("{text:?}: expected {name}"));
            }
        }
        for name in *no {
            if present(&analysis, name) {
                failures.push(format!("{text:?}: did not expect {name}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_demand_for_a_manager_with_a_cancellation_threat_is_never_positive() {
    let analysis =
        analyze("I want to speak to a manager or a real human NOW, or I'm cancelling my account");
    assert!(present(&analysis, "human_request"));
    assert!(present(&analysis, "churn_threat"));
    assert_eq!(
        analysis.sentiment.label, "negative",
        "{:?}",
        analysis.sentiment
    );
}

#[test]
fn spans_are_reported_only_for_present_signals() {
    for text in [
        "Why was I charged twice? This makes no sense",
        "My mum passed away and I need to close her account",
        "the app keeps pausing my music, so annoying",
        "thanks!",
    ] {
        crate::assert_spans_only_when_present(text);
    }
}

fn read(turns: &[(Speaker, &str)]) -> Vec<Analysis> {
    analyzer()
        .analyze_conversation(turns)
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn pushback_after_reassurance_is_read_in_context() {
    use Speaker::{Company, Customer};
    let turns = [
        (
            Customer,
            "I've missed a payment and I'm scared I'll lose the flat",
        ),
        (
            Company,
            "Don't worry, these things happen. We'll look into it for you.",
        ),
        (Customer, "When? The landlord wants the rent by Friday"),
        (Company, "Please don't worry, rest assured it is in hand."),
        (
            Customer,
            "Stop telling me not to worry and DO something, I'm going to be evicted",
        ),
    ];
    let analyses = read(&turns);
    assert_eq!(analyses.len(), 3);
    let first = analyses[0].reading.as_ref().expect("reading");
    assert_eq!(first.turn, 0);
    assert!(!first.pushback.present(), "a first turn has no pushback");
    let last = analyses[2].reading.as_ref().expect("reading");
    assert_eq!(last.turn, 4);
    assert!(last.pushback.present(), "{:?}", last.pushback);
    assert!(!last.pushback.spans.is_empty());
    assert_eq!(last.problem, "open");
    assert!(present(&analyses[2], "vulnerability.financial_hardship"));
}

#[test]
fn thanks_with_an_open_problem_is_not_resolution() {
    use Speaker::{Company, Customer};
    let open = read(&[
        (Customer, "My refund for order 5521 still hasn't arrived"),
        (
            Company,
            "I've asked the warehouse to check; I'll update you tomorrow.",
        ),
        (Customer, "ok thanks, I'll wait to hear from you then"),
    ]);
    assert_eq!(open[1].reading.as_ref().expect("reading").problem, "open");
    let solved = read(&[
        (Customer, "My refund for order 5521 still hasn't arrived"),
        (Company, "I've reissued it, it should show within the hour."),
        (Customer, "It's there now, all sorted. Thank you!"),
    ]);
    assert_eq!(
        solved[1].reading.as_ref().expect("reading").problem,
        "resolved"
    );
}

#[test]
fn thanks_after_an_answer_is_resolution_but_not_while_the_outcome_is_with_someone_else() {
    use Speaker::{Company, Customer};
    let problem = |reply: &str, thanks: &str| {
        let turns = read(&[
            (
                Customer,
                "My smart meter stopped sending readings, it says 014732",
            ),
            (Company, reply),
            (Customer, thanks),
        ]);
        turns[1].reading.as_ref().expect("reading").problem
    };
    // A date in the answer is not an outcome still to come: the step is done.
    assert_eq!(
        problem(
            "Thanks - 014732 added for today, so your next bill uses it. The meter usually reconnects within 5 days.",
            "Great, cheers for that"
        ),
        "resolved"
    );
    // The outcome is with someone else: thanks for the step, the problem stays open.
    assert_eq!(
        problem(
            "I've sent it to our metering team; they will contact you with the outcome within 10 working days.",
            "Great, cheers for that"
        ),
        "open"
    );
    assert_eq!(
        problem(
            "I've logged the reading.",
            "ok thanks. it says I'll hear back in 2 working days"
        ),
        "open"
    );
}

#[test]
fn a_terse_answer_to_our_question_is_neutral() {
    use Speaker::{Company, Customer};
    let analyses = read(&[
        (Customer, "The game won't start after the update"),
        (
            Company,
            "Sorry about that! Which console are you playing on?",
        ),
        (Customer, "Playstation 4"),
    ]);
    let answer = &analyses[1];
    assert_eq!(answer.sentiment.label, "neutral", "{:?}", answer.sentiment);
    assert!(
        answer.signals.present().next().is_none(),
        "{:?}",
        answer.signals.present().collect::<Vec<_>>()
    );
    let reading = answer.reading.as_ref().expect("reading");
    assert!(!reading.pushback.present());
    assert!(!reading.need.is_empty());
}
