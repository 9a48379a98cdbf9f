//! Realistic (customer, reply) pairs with the flags a supervisor expects: sympathy-only replies are
//! hollow, replies that act, answer or hand off are not, and actionability needs a concrete next step.

use rapport_audit::{Auditor, Policy, Role, Turn};

/// (customer, reply, hollow sympathy, actionable: actionability >= 0.5)
const CASES: &[(&str, &str, bool, bool)] = &[
    // Sympathy only, problem open: hollow.
    ("My refund still hasn't arrived after three weeks.", "I understand your frustration.", true, false),
    ("I was charged twice this month!", "I'm so sorry to hear that. We value you as a customer.", true, false),
    ("The app keeps crashing when I pay.", "Sorry for the inconvenience caused.", true, false),
    ("My parcel is lost and nobody answers.", "We apologise for any inconvenience. Your satisfaction is important to us.", true, false),
    ("I can't log in to my account.", "Oh no, that sounds really frustrating! Hang in there.", true, false),
    ("Where is my order? It's a birthday present.", "I'm sorry, I know how stressful that can be.", true, false),
    ("The replacement is broken too.", "I completely understand how disappointing this must be. We're sorry.", true, false),
    ("You cancelled my booking without telling me.", "I hear you, and I'm sorry you feel that way.", true, false),
    ("My card was declined but the money left my account.", "That's awful, I'm really sorry.", true, false),
    ("Still no answer about my complaint.", "Thank you for your patience, we appreciate it.", true, false),
    // Sympathy with an action: not hollow.
    ("My refund still hasn't arrived after three weeks.", "I'm sorry it's taken this long. I've re-issued the refund today; it will reach your card within 3-5 business days.", false, true),
    ("I was charged twice this month!", "I'm sorry about the double charge. I've refunded the second payment of £12.99 just now, and you'll see it in 2-3 days.", false, true),
    ("The app keeps crashing when I pay.", "Sorry about that. Please update the app to version 5.2 and restart your phone; I'll check the payment logs meanwhile.", false, true),
    ("My parcel is lost and nobody answers.", "I'm really sorry. I've opened a trace with the courier and I will email you the result by Friday.", false, true),
    ("Where is my order? It's a birthday present.", "I'm sorry for the worry. I'll upgrade it to next-day delivery now so it arrives tomorrow.", false, true),
    ("The replacement is broken too.", "That's so frustrating, I'm sorry. We will send a new one today and I've added a prepaid return label.", false, true),
    // Action only, no sympathy: not hollow, actionable.
    ("How do I reset my password?", "Go to the login page, tap 'Forgot password' and follow the link we email you.", false, true),
    ("Can you change my delivery address?", "Done: I've updated the address on order 48213 to 12 High Street.", false, true),
    ("I need an invoice for March.", "I've emailed the March invoice to the address on your account.", false, true),
    ("My promo code doesn't work.", "I've applied the 10% discount to your basket manually; it shows at checkout now.", false, true),
    ("Please cancel my subscription.", "I've cancelled it; you keep access until 30 June and won't be charged again.", false, true),
    ("The website won't load.", "Please clear your browser cache and try again. If it still fails, reply with a screenshot and I'll escalate it.", false, true),
    // Handoffs: not hollow even without a step of their own.
    ("I want to speak to a real person.", "Of course, I'm sorry for the trouble. I'm transferring you to a colleague now.", false, false),
    ("This is the third time I'm writing, get me a manager.", "I'm sorry you've had to write again. A specialist from our complaints team will call you back.", false, false),
    ("My father passed away and I need to close his account.", "I'm so sorry for your loss. I'm connecting you with our bereavement team, who will take care of everything.", false, false),
    // Answers (information): not hollow.
    ("When will my order arrive?", "Sorry for the wait. Your order has been shipped and is due on Thursday.", false, true),
    ("Why was I charged £5?", "I'm sorry for the confusion: the £5 is the monthly fee because the plan renewed on 1 May.", false, false),
    ("Do you deliver to Ireland?", "Yes, we deliver to Ireland; it usually takes 4 days.", false, false),
    // Questions to clarify: not hollow, not yet actionable.
    ("It doesn't work.", "I'm sorry to hear that. Which device are you using, and what happens when you try?", false, false),
    ("My kids' tablets won't connect.", "We're sorry to hear that. What's going on with them?", false, false),
    ("My account is weird.", "What do you see when you log in? A screenshot would help me check.", false, false),
    // Closed problems: thanks and sympathy are fine.
    ("Thanks, that fixed it!", "Glad to hear it! Have a lovely day.", false, false),
    ("Great, all sorted now, cheers.", "You're welcome, take care!", false, false),
    ("Thank you so much for your help", "It was a pleasure, I'm happy I could help.", false, false),
    // Dismissive replies without action.
    ("I was charged after I cancelled!", "As I already said, you should have cancelled before the renewal date.", false, false),
    ("Why can't I get a refund?", "Per our policy, refunds are not possible after 14 days.", false, false),
    ("This is ridiculous, fix it!", "Please calm down. There's nothing we can do.", false, false),
    // Policy with an alternative: actionable.
    ("Why can't I get a refund?", "Our policy doesn't allow refunds after 14 days, but I've added a £20 credit to your account today instead.", false, true),
    // Numbered steps.
    ("How do I set up the router?", "1. Plug in the router.\n2. Wait for the green light.\n3. Open the app and tap Connect.", false, true),
    // Timeline promise with owner.
    ("Any news on my repair?", "I'll call the workshop this afternoon and send you an update by 5 pm today.", false, true),
    // Sympathy plus vague promise: hollow.
    ("Nobody has fixed my broken heating for a week!", "I'm so sorry about this, we're looking into it.", true, false),
    ("My internet has been down for days.", "We apologise. Our team is aware of issues in some areas.", true, false),
];

#[test]
fn hollow_sympathy_and_actionability_table() {
    let auditor = Auditor::new();
    let policy = Policy::default();
    let mut failures = Vec::new();
    for (customer, reply, hollow, actionable) in CASES {
        let audit = auditor.audit(customer, reply, &[], &policy).expect("audit");
        if audit.hollow_sympathy != *hollow {
            failures.push(format!(
                "{reply:?}: hollow {} expected {hollow}",
                audit.hollow_sympathy
            ));
        }
        if (audit.actionability >= 0.5) != *actionable {
            failures.push(format!(
                "{reply:?}: actionability {} expected actionable={actionable}",
                audit.actionability
            ));
        }
    }
    assert!(CASES.len() >= 40, "at least 40 pairs");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hollow_replies_score_far_below_helpful_ones() {
    let auditor = Auditor::new();
    let policy = Policy::default();
    let customer = "My order #48213 still hasn't arrived and it's been two weeks.";
    let hollow = auditor
        .audit(customer, "I understand your frustration.", &[], &policy)
        .expect("audit");
    let helpful = auditor
        .audit(
            customer,
            "I'm sorry order #48213 is so late. I've asked the courier to trace it and I'll email you an update by Friday.",
            &[],
            &policy,
        )
        .expect("audit");
    assert!(hollow.score < 40, "{}", hollow.score);
    assert!(helpful.score >= 70, "{}", helpful.score);
    assert!(!hollow.suggestions.is_empty());
    assert!(helpful.specificity > 0.5);
}

#[test]
fn repetition_dismissive_over_apology_pii_and_policy() {
    let auditor = Auditor::new();
    let history = vec![
        Turn {
            role: Role::Customer,
            text: "My package is late.".into(),
        },
        Turn {
            role: Role::Bot,
            text:
                "Sorry about that. We apologise for the delay. Please allow 24 hours for an update."
                    .into(),
        },
    ];
    let policy = Policy {
        banned_phrases: vec!["unfortunately".into()],
        required_disclosures: vec!["automated assistant".into()],
        ..Policy::default()
    };
    let audit = auditor
        .audit(
            "Still nothing!",
            "Sorry again. Please allow 24 hours for an update. Unfortunately, as I already said, Jane Doe at jane.doe@example.com handles it.",
            &history,
            &policy,
        )
        .expect("audit");
    // The repeated sentence and the repeated apology.
    assert_eq!(audit.repetition.len(), 2, "{:?}", audit.repetition);
    assert!(audit
        .dismissive
        .iter()
        .any(|d| d.text.to_lowercase().contains("as i already said")));
    assert!(audit.over_apology);
    assert!(
        audit.pii_leak.iter().any(|l| l.kind == "EMAIL"),
        "{:?}",
        audit.pii_leak
    );
    assert_eq!(
        audit.policy_violations.len(),
        2,
        "{:?}",
        audit.policy_violations
    );
    assert!(audit.score < 30, "{}", audit.score);
}

#[test]
fn details_the_customer_gave_are_not_leaks() {
    let auditor = Auditor::new();
    let audit = auditor
        .audit(
            "Please send it to ann@example.com",
            "I'm Sam from support. I've sent the invoice to ann@example.com just now.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert!(audit.pii_leak.is_empty(), "{:?}", audit.pii_leak);
}

/// What is not a leak: the company's and helplines' contact details, support organisations, the agent's
/// own name or sign-off, and what the customer said in this conversation (their name in any case). What
/// is: somebody else's personal data.
#[test]
fn leaks_are_somebody_elses_personal_data_only() {
    let auditor = Auditor::new();
    let not_leaks: &[(&str, &str)] = &[
        (
            "honestly i dont see the point of being here anymore",
            "I am here with you. Are you safe right now? If you are in danger, call 999, or Samaritans on 116 123, any time, day or night.",
        ),
        (
            "My card was charged twice",
            "I've refunded the duplicate charge today; it reaches your card in 3-5 working days. If anything else looks wrong, our Billing team is on 0800 123 4567. ~Brianna",
        ),
        (
            "I can't pay my loan this month",
            "Thank you for telling us. We can pause payments for 60 days, and free advice is available from the National Foundation for Credit Counseling or Credit Counseling services near you. Best, Tom",
        ),
        (
            "hi this is sarah, my parcel never came",
            "Hi Sarah, I'm sorry it hasn't arrived. I've opened a trace on it and will email you by 5pm today. ^Jo",
        ),
    ];
    for (customer, reply) in not_leaks {
        assert_no_leak(&auditor, customer, reply, &Policy::default());
    }
    let leak = auditor
        .audit(
            "where is my order?",
            "Your order went to John Smith at john.smith@example.org, call him on 07700 900123.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert!(leak.pii_leak.len() >= 2, "{:?}", leak.pii_leak);
}

/// To a customer at risk of self-harm, the reply that checks they are safe and gives resources scores
/// high and is not told to add order numbers; a reply that ignores the risk scores low whatever else it
/// does; half of it sits between.
#[test]
fn safety_replies_score_as_what_they_are() {
    let auditor = Auditor::new();
    let customer = "honestly without it i dont really see the point of being here anymore";
    let audit = |reply: &str| {
        auditor
            .audit(customer, reply, &[], &Policy::default())
            .expect("audit")
    };
    let safe = audit("I am here with you. Are you safe right now? If you are in danger, call 999, or Samaritans on 116 123, any time, day or night.");
    let refund = audit("I've processed a full refund of £49.99 to your card; it arrives in 3-5 working days. Your order number is 12345.");
    let half =
        audit("I'm so sorry you're feeling this way. You can call Samaritans on 116 123 any time.");
    assert!(safe.score >= 85, "{safe:?}");
    assert!(safe.pii_leak.is_empty(), "{:?}", safe.pii_leak);
    assert!(
        !safe.suggestions.iter().any(|s| s.contains("order number")),
        "{:?}",
        safe.suggestions
    );
    assert!(refund.score <= 20, "{refund:?}");
    assert!(
        refund.suggestions[0].contains("safe"),
        "{:?}",
        refund.suggestions
    );
    assert!(half.score <= 60 && half.score > refund.score, "{half:?}");
    // Without a risk, a refund is a fine reply and there is no safety block.
    let calm = auditor
        .audit(
            "where is my refund?",
            "I've processed a full refund of £49.99 to your card; it arrives in 3-5 working days.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert!(calm.safety.is_none());
    assert!(calm.score > 20, "{calm:?}");
}

/// A strong human draft scores high and is not told to add what it already has; a scripted hollow
/// reply to the same message scores far below it.
#[test]
fn a_strong_agent_draft_scores_high() {
    let auditor = Auditor::new();
    let customer = "My parcel 77120 STILL isn't here. This is the third time I'm contacting you!!";
    let strong = auditor
        .audit(
            customer,
            "Mark, I'm sorry you've had to chase us three times for order 77120. I've opened a trace with the courier and ordered a replacement that ships today; you'll get the tracking number by email within the hour. If it isn't with you by Thursday, reply here and my team leader will call you.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    let hollow = auditor
        .audit(
            customer,
            "We understand how frustrating this must be and appreciate your patience. Rest assured we are looking into it.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert!(strong.score >= 70, "{strong:?}");
    assert!(strong.moved >= 3.5, "{strong:?}");
    assert!(
        !strong.suggestions.iter().any(|s| s.contains("next step")),
        "{:?}",
        strong.suggestions
    );
    assert!(hollow.hollow_sympathy);
    assert!(
        hollow.score + 30 <= strong.score,
        "{} vs {}",
        hollow.score,
        strong.score
    );
}

/// A greeting is not an emotional reaction, and a trace with a timeline is a next step.
#[test]
fn greetings_are_not_reactions_and_a_trace_is_a_step() {
    let auditor = Auditor::new();
    let greeting = auditor
        .audit(
            "my order is late",
            "Hi there, welcome!",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert_eq!(greeting.emotional_reaction.level, 0, "{greeting:?}");
    let trace = auditor
        .audit(
            "where is my parcel?",
            "I've opened a trace with the courier; you'll get the tracking number by email within the hour.",
            &[],
            &Policy::default(),
        )
        .expect("audit");
    assert!(trace.actionability >= 0.75, "{trace:?}");
    assert!(!trace.suggestions.iter().any(|s| s.contains("next step")));
}

/// Real replies address the customer by name, quote the company's name and toll-free number, start
/// with the customer's handle and link to help pages: none of it is a leak.
#[test]
fn how_real_agents_write_is_not_a_leak() {
    let auditor = Auditor::new();
    let policy = Policy {
        company_text: vec!["WellsFargo".into()],
        ..Policy::default()
    };
    let replies = [
        "@Neon_Vertigo Hi Daniel! You can reset it here: https://example.com/help/Reset?user=Announcements",
        "@jmkrause78 Thanks for reaching out, Joshua. Wells Fargo can help at 1-800-225-5935, 24 hours a day.",
        "@capt_geech We're sorry for the trouble, James! Please try the steps in Settings > Playback.",
        "@wms_janet Thanks for the tweet Janet. Use Smart Sync to free up space.",
        "Forward the suspicious email to reportphish@wellsfargo.com. Select the product type, then Install the driver.",
        "You can find the form here https://example.com/contact Sasha",
        "Please reach out to Xbox Live Support for more help with Creative Cloud. ^Vinod 2/2",
    ];
    for reply in replies {
        assert_no_leak(&auditor, "I can't get into my account", reply, &policy);
    }
}

/// Fails with the flagged words when the audit of `reply` reports a leak.
fn assert_no_leak(auditor: &Auditor, customer: &str, reply: &str, policy: &Policy) {
    let audit = auditor.audit(customer, reply, &[], policy).expect("audit");
    assert!(
        audit.pii_leak.is_empty(),
        "{reply}\n  flagged: {:?}",
        audit
            .pii_leak
            .iter()
            .map(|l| (&reply[l.span.start..l.span.end], l.kind))
            .collect::<Vec<_>>()
    );
}
