//! Two companies in two sectors, each with its own policy and knowledge base (the shop in `examples/`,
//! the telecom company in `examples/telecom/`): the composer names situations and picks steps from the
//! knowledge base it is given, never from another sector's words; a threat to leave is retention, not
//! cancellation steps; an unrelated article is not quoted; thanks with an open problem is not resolution.

use crate::conversation;
use crate::scenarios::shared_engine;
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::Policy;
use rapport_engine::respond::{Responder, Response};
use rapport_engine::Role::{Agent, Customer};
use std::path::Path;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
}

fn shop() -> Responder {
    let policy =
        Policy::from_toml(include_str!("../../../../examples/policy.toml")).expect("policy");
    Responder::new(
        shared_engine(),
        policy,
        Some(KnowledgeBase::example().expect("example knowledge base")),
    )
}

fn telecom() -> Responder {
    let dir = examples().join("telecom");
    let text = std::fs::read_to_string(dir.join("policy.toml")).expect("telecom policy");
    let policy = Policy::from_toml(&text).expect("telecom policy parses");
    let kb = KnowledgeBase::load(&dir.join(&policy.knowledge_base.path)).expect("telecom kb");
    Responder::new(shared_engine(), policy, Some(kb))
}

fn reply(responder: &Responder, turns: &[(rapport_engine::Role, &str)]) -> Response {
    responder
        .reply("sector-test", &conversation(turns))
        .expect("reply")
}

/// Words only a shop's knowledge base would put in a reply.
const SHOP_WORDS: [&str; 5] = ["parcel", "delivery", "your order", "refund", "courier"];

#[test]
fn a_telecom_customer_gets_the_telecom_knowledge_base_in_its_own_words() {
    let t = telecom();
    let r = reply(
        &t,
        &[(Customer, "My broadband has been down since yesterday and I work from home, this is so frustrating")],
    );
    assert_eq!(
        r.article.as_deref(),
        Some("broadband-outage"),
        "{}",
        r.reply
    );
    assert!(r.reply.contains("your broadband"), "{}", r.reply);
    assert!(r.reply.contains("router"), "{}", r.reply);
    for word in SHOP_WORDS {
        assert!(
            !r.reply.to_lowercase().contains(word),
            "{word}: {}",
            r.reply
        );
    }
    // The company's own commitments, not the shop's.
    let h = reply(
        &t,
        &[(Customer, "I want to talk to a real person about my bill")],
    );
    assert!(h.handoff.is_some(), "{}", h.reply);
    assert!(h.reply.contains("within 30 minutes"), "{}", h.reply);
    assert!(!h.reply.contains("within 15 minutes"), "{}", h.reply);
}

#[test]
fn a_threat_to_leave_is_retention_and_a_request_to_leave_gets_the_steps() {
    let t = telecom();
    let threat = reply(
        &t,
        &[(
            Customer,
            "If my internet isn't fixed by Friday I'm switching to another provider.",
        )],
    );
    assert_ne!(
        threat.article.as_deref(),
        Some("leaving"),
        "{}",
        threat.reply
    );
    assert!(!threat.reply.contains("PAC"), "{}", threat.reply);
    let ask = reply(
        &t,
        &[(
            Customer,
            "How do I leave and keep my number? I'm moving to another network.",
        )],
    );
    assert_eq!(ask.article.as_deref(), Some("leaving"), "{}", ask.reply);
    assert!(ask.reply.contains("PAC"), "{}", ask.reply);

    let s = shop();
    let parcel = reply(
        &s,
        &[(Customer, "My parcel still hasn't arrived after two weeks. If it's not here by Friday I'm cancelling everything.")],
    );
    assert_ne!(
        parcel.article.as_deref(),
        Some("cancellations"),
        "{}",
        parcel.reply
    );
    assert!(
        !parcel.reply.contains("Account > Subscriptions"),
        "{}",
        parcel.reply
    );
}

#[test]
fn no_steps_from_an_unrelated_article_and_no_false_sorted() {
    for responder in [shop(), telecom()] {
        let music = reply(
            &responder,
            &[(
                Customer,
                "my music keeps pausing every few seconds on the app, it's driving me mad",
            )],
        );
        assert!(!music.reply.contains("pause payments"), "{}", music.reply);
        assert!(
            !music.reply.to_lowercase().contains("payment plan"),
            "{}",
            music.reply
        );
        let open = reply(
            &responder,
            &[
                (Customer, "I can't log in, it says my password is wrong"),
                (Agent, "Please try resetting it from the sign-in page."),
                (Customer, "thanks, but it still doesn't work"),
            ],
        );
        assert!(
            !open.reply.to_lowercase().contains("sorted"),
            "{}",
            open.reply
        );
        assert!(
            !open.reply.to_lowercase().contains("resolved"),
            "{}",
            open.reply
        );
    }
}

#[test]
fn articles_carry_their_kind_subject_and_needs() {
    let dir = examples().join("telecom/kb");
    let kb = KnowledgeBase::load(&dir).expect("telecom kb");
    let hits = kb.search("I was overcharged on my bill for roaming", 1);
    let bill = hits.first().expect("a hit").article;
    assert_eq!(bill.id, "bills");
    assert_eq!(bill.kind.as_deref(), Some("billing"));
    assert_eq!(bill.subject.as_deref(), Some("your bill"));
    assert_eq!(bill.needs, Some(rapport_engine::kb::Need::AccountEmail));
    let bad = rapport_engine::kb::Article::parse("x", "# T\n\nNeeds: passport\n\n## Steps\n1. a\n")
        .expect_err("unknown need");
    assert!(bad.to_string().contains("order number"), "{bad}");
}

/// A message about another company's product (tagged to its handle) gets no borrowed steps: the reply
/// reads the problem back in the customer's words and asks the one question that moves it.
#[test]
fn another_companys_product_gets_its_problem_read_back_and_the_question_that_moves_it() {
    let shop = shop();
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "Hey @Apple my Face ID isn't working",
            &["your Face ID isn't working", "Which device and version"],
            &["Forgot password", "Update the app"],
        ),
        (
            "@RockstarSupport i ordered the criminal enterprise pack over 48 hours ago and didnt get anything",
            &["you ordered the criminal enterprise pack", "transaction number"],
            &["courier", "tracking link"],
        ),
        (
            "@SpotifyCares please help someone hacked my Spotify account and has changed my password I am panicking",
            &["hacked your Spotify account", "still have access to the email address"],
            &["you are panicking", "reset link"],
        ),
        (
            "@Google PLZ FIX IT",
            &["tell me a bit more"],
            &["passed this to our support team"],
        ),
        (
            "@SpotifyCares please add the new album by my favourite band",
            &["passed your suggestion on"],
            &["Could you tell me"],
        ),
    ];
    for (text, wanted, unwanted) in cases {
        let r = reply(&shop, &[(Customer, text)]);
        assert_eq!(r.article, None, "{text}: {}", r.reply);
        for w in wanted {
            assert!(r.reply.contains(w), "{text}: wanted {w:?} in {}", r.reply);
        }
        for u in unwanted {
            assert!(!r.reply.contains(u), "{text}: {u:?} in {}", r.reply);
        }
    }
}

#[test]
fn a_customer_who_thanks_and_goes_along_is_thanked_not_consoled() {
    let r = reply(
        &shop(),
        &[
            (
                Customer,
                "I'd like to overpay my account by £500. How do I make the payment?",
            ),
            (
                Agent,
                "You can pay by bank transfer with your account number as the reference; once it arrives I'll apply it.",
            ),
            (
                Customer,
                "Payment sent this morning with the reference. Thank you, very clear.",
            ),
        ],
    );
    for wrong in [
        "hasn't gone the way it should",
        "still isn't right",
        "more than once",
        "frustrat",
        "sorry",
    ] {
        assert!(!r.reply.contains(wrong), "{wrong:?} in {}", r.reply);
    }
    assert!(r.reply.starts_with("Thank"), "{}", r.reply);
}

#[test]
fn rejecting_the_feedback_route_is_not_feedback() {
    let r = reply(
        &shop(),
        &[
            (Customer, "The room we were given is damp and mouldy."),
            (Agent, "Thank you, I've passed your feedback on to the property team."),
            (
                Customer,
                "I don't want my 'feedback passed on', I want to be moved. Our 5 year old has been coughing since we arrived",
            ),
        ],
    );
    assert!(
        !r.reply.contains("suggestion") && !r.reply.contains("feedback"),
        "{}",
        r.reply
    );
}

#[test]
fn a_thankful_update_does_not_start_an_article_nobody_was_following() {
    let r = reply(
        &shop(),
        &[
            (
                Customer,
                "I'm on your holiday package and my husband was taken into hospital last night. We're meant to fly home on Saturday.",
            ),
            (
                Agent,
                "I'm so sorry. I've asked the hotel to extend your room and I'm holding your flights until there's a discharge date.",
            ),
            (
                Customer,
                "got it. they're saying maybe monday or tuesday for discharge but not certain. thank you for everything x",
            ),
        ],
    );
    for wrong in ["courier", "tracking", "order number", "charge"] {
        assert!(!r.reply.contains(wrong), "{wrong:?} in {}", r.reply);
    }
}
