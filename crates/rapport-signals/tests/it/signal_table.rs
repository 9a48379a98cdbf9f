//! Table-driven cases of realistic customer messages: which signals must be present and which must not.
//! Names are `signal`, `vulnerability.name` or `topic.name`.

use crate::analyze;
use rapport_signals::Analysis;

fn score(analysis: &Analysis, name: &str) -> f32 {
    let (set, key) = match name.split_once('.') {
        Some(("vulnerability", key)) => (&analysis.vulnerability, key),
        Some(("topic", key)) => (&analysis.sensitive_topics, key),
        _ => (&analysis.signals, name),
    };
    set.get(key)
        .unwrap_or_else(|| panic!("unknown signal {name}"))
        .score
}

const CASES: &[(&str, &[&str], &[&str])] = &[
    // Frustration, with intensity cues and without.
    (
        "I'm so frustrated, the app keeps logging me out",
        &["frustration"],
        &["anger", "abuse"],
    ),
    (
        "This is absolutely ridiculous, nothing works!!!",
        &["frustration"],
        &["gratitude"],
    ),
    (
        "I'm fed up with waiting for this refund",
        &["frustration"],
        &["distress"],
    ),
    ("Thanks for nothing.", &["frustration"], &["gratitude"]),
    (
        "I'm not frustrated, just curious how the billing works",
        &[],
        &["frustration"],
    ),
    (
        "WHY IS MY ORDER STILL NOT HERE",
        &["frustration"],
        &["gratitude"],
    ),
    (
        "Honestly I'm very disappointed with the service",
        &["frustration"],
        &[],
    ),
    // Anger.
    (
        "I am furious that you charged me twice",
        &["anger"],
        &["gratitude"],
    ),
    (
        "I'm not angry, I just want to understand the charge",
        &[],
        &["anger"],
    ),
    (
        "How dare you cancel my booking without telling me",
        &["anger"],
        &[],
    ),
    (
        "This is a scam and I'm absolutely livid",
        &["anger", "frustration"],
        &[],
    ),
    // Confusion.
    (
        "I don't understand what this charge on my bill is",
        &["confusion"],
        &["anger"],
    ),
    (
        "The instructions are really confusing, which button do I press?",
        &["confusion"],
        &[],
    ),
    (
        "I'm not confused, the app is just broken",
        &[],
        &["confusion"],
    ),
    (
        "Your new pricing page makes no sense at all",
        &["confusion"],
        &["gratitude"],
    ),
    // Anxiety.
    (
        "I'm really worried my payment went to the wrong account",
        &["anxiety"],
        &["gratitude"],
    ),
    (
        "I'm scared someone has accessed my account",
        &["anxiety"],
        &[],
    ),
    ("No worries, take your time", &[], &["anxiety"]),
    // Urgency.
    (
        "I need this fixed urgently, my flight is tomorrow",
        &["urgency"],
        &[],
    ),
    (
        "Please respond ASAP, this is an emergency",
        &["urgency"],
        &[],
    ),
    (
        "Can you send it as soon as possible?",
        &["urgency"],
        &["anger"],
    ),
    (
        "Whenever you get a chance, could you check my plan?",
        &[],
        &["urgency"],
    ),
    // Gratitude.
    (
        "Thank you so much, that fixed it!",
        &["gratitude"],
        &["frustration", "anger"],
    ),
    (
        "Thanks, really appreciate the quick help",
        &["gratitude"],
        &["frustration"],
    ),
    ("Cheers for sorting that out", &["gratitude"], &[]),
    // Human request.
    ("I want to speak to a real person", &["human_request"], &[]),
    (
        "Can you transfer me to a human agent please",
        &["human_request"],
        &[],
    ),
    ("Let me talk to a manager", &["human_request"], &[]),
    ("Are you a bot? I need a human", &["human_request"], &[]),
    (
        "I don't want to talk to a human, just tell me the tracking number",
        &[],
        &["human_request"],
    ),
    // Churn threat.
    (
        "If this isn't fixed I'm going to cancel my subscription",
        &["churn_threat"],
        &[],
    ),
    (
        "I'm switching to your competitor next month",
        &["churn_threat"],
        &[],
    ),
    (
        "Please close my account, I'm done with you",
        &["churn_threat"],
        &[],
    ),
    ("I'll take my business elsewhere", &["churn_threat"], &[]),
    (
        "How do I cancel my order from yesterday?",
        &[],
        &["churn_threat"],
    ),
    // Repeat contact.
    (
        "This is the third time I'm writing about this",
        &["repeat_contact"],
        &[],
    ),
    (
        "I've already told you my order number twice, how many times do I have to repeat it",
        &["repeat_contact"],
        &[],
    ),
    (
        "I contacted you three times last week and nobody got back to me",
        &["repeat_contact"],
        &[],
    ),
    (
        "Hi, first time ordering, where is the size guide?",
        &[],
        &["repeat_contact"],
    ),
    // Abuse toward the agent.
    ("You are useless, you idiot", &["abuse"], &["gratitude"]),
    ("Fuck you and your stupid company", &["abuse"], &[]),
    ("The app is useless on my old phone", &[], &["abuse"]),
    // Distress.
    (
        "I'm desperate, I don't know what to do anymore",
        &["distress"],
        &[],
    ),
    (
        "I've been in tears all morning over this",
        &["distress"],
        &[],
    ),
    (
        "I can't cope with this on top of everything else",
        &["distress"],
        &[],
    ),
    // Bereavement: first person versus third person and fiction.
    (
        "My father passed away last month and I need to close his account",
        &["vulnerability.bereavement", "distress"],
        &[],
    ),
    (
        "I lost my wife in March and the bills are still in her name",
        &["vulnerability.bereavement"],
        &[],
    ),
    (
        "My mum died on Sunday, can I cancel her phone contract?",
        &["vulnerability.bereavement"],
        &[],
    ),
    (
        "In the movie the hero's father passed away in the first scene",
        &[],
        &["vulnerability.bereavement"],
    ),
    (
        "My phone died this morning and won't turn on",
        &[],
        &["vulnerability.bereavement"],
    ),
    (
        "@Google my mother lost her Android mobile. Its still ringing and connected to the internet.",
        &[],
        &["vulnerability.bereavement"],
    ),
    (
        "We lost her last spring and her phone contract is still running",
        &["vulnerability.bereavement"],
        &[],
    ),
    (
        "I need a copy of the death certificate requirements for my late husband's account",
        &["vulnerability.bereavement"],
        &[],
    ),
    // Financial hardship and debt.
    (
        "I lost my job and can't afford the payments this month",
        &["vulnerability.financial_hardship"],
        &[],
    ),
    (
        "I'm struggling to pay my bills since I was made redundant",
        &["vulnerability.financial_hardship"],
        &[],
    ),
    (
        "A debt collector keeps calling me about this account",
        &["topic.debt"],
        &[],
    ),
    (
        "I'm in arrears and the bailiffs sent a letter",
        &["topic.debt"],
        &[],
    ),
    (
        "I can afford it, I just want to know the price",
        &[],
        &["vulnerability.financial_hardship"],
    ),
    // Physical health.
    (
        "I've been in hospital for two weeks so I missed the delivery",
        &["vulnerability.physical_health"],
        &[],
    ),
    (
        "I was diagnosed with cancer last year and can't get to the store",
        &["vulnerability.physical_health"],
        &[],
    ),
    (
        "I'm sick of these delays",
        &["frustration"],
        &["vulnerability.physical_health"],
    ),
    // Mental health (vulnerability and sensitive topic).
    (
        "I suffer from depression and phone calls give me panic attacks",
        &["vulnerability.mental_health", "topic.mental_health"],
        &[],
    ),
    (
        "My therapist said I should sort out my finances",
        &["vulnerability.mental_health", "topic.mental_health"],
        &[],
    ),
    // Self-harm risk: recalled generously, negation does not silence it.
    (
        "I just want to end it all",
        &["vulnerability.self_harm_risk", "distress"],
        &[],
    ),
    (
        "Honestly I feel like killing myself over this debt",
        &["vulnerability.self_harm_risk", "topic.debt"],
        &[],
    ),
    (
        "I don't want to live like this anymore",
        &["vulnerability.self_harm_risk"],
        &[],
    ),
    (
        "I'm not going to kill myself but I'm at the end of my rope",
        &["vulnerability.self_harm_risk"],
        &[],
    ),
    (
        "There's no reason to live when everything keeps going wrong",
        &["vulnerability.self_harm_risk"],
        &[],
    ),
    (
        "Twenty years of buying their printers and they just lost me as a customer",
        &["churn_threat"],
        &[],
    ),
    (
        "contract ends next week, give me a reason not to switch",
        &["churn_threat"],
        &[],
    ),
    (
        "honestly without it i dont really see the point of being here",
        &["vulnerability.self_harm_risk"],
        &[],
    ),
    (
        "I've been having suicidal thoughts since the eviction notice",
        &[
            "vulnerability.self_harm_risk",
            "vulnerability.financial_hardship",
        ],
        &[],
    ),
    (
        "Can you kill the old session? I can't log in",
        &[],
        &["vulnerability.self_harm_risk"],
    ),
    // Age and disability.
    (
        "I'm 84 and not good with computers, my grandson usually helps",
        &["vulnerability.age"],
        &[],
    ),
    (
        "As a pensioner I can't keep paying these fees",
        &["vulnerability.age"],
        &[],
    ),
    (
        "I'm visually impaired and your site doesn't work with my screen reader",
        &["vulnerability.disability"],
        &[],
    ),
    (
        "I'm deaf so please don't call me, email only",
        &["vulnerability.disability"],
        &[],
    ),
    (
        "I use a wheelchair and the delivery driver left it upstairs",
        &["vulnerability.disability"],
        &[],
    ),
    // Domestic abuse.
    (
        "I left an abusive partner and need to remove him from the account",
        &["vulnerability.domestic_abuse", "distress"],
        &[],
    ),
    (
        "Please don't send letters to my old address, I'm afraid of my ex",
        &["vulnerability.domestic_abuse"],
        &[],
    ),
    // Sensitive topics.
    (
        "Is the STI test kit shipped in discreet packaging?",
        &["topic.sexual_health"],
        &[],
    ),
    (
        "I need to return the pregnancy test, it arrived damaged",
        &["topic.reproductive_health"],
        &[],
    ),
    (
        "My order of the erectile dysfunction medication is late",
        &["topic.sexual_health"],
        &[],
    ),
    (
        "I have a gambling problem, please block my account from deposits",
        &["topic.addiction"],
        &[],
    ),
    (
        "I've just come out of rehab and want to close my betting account",
        &["topic.addiction"],
        &[],
    ),
    // Plain requests raise nothing.
    (
        "What are your opening hours on Saturday?",
        &[],
        &[
            "frustration",
            "anger",
            "distress",
            "urgency",
            "churn_threat",
        ],
    ),
    (
        "I'd like to change the delivery address for order 1234",
        &[],
        &["frustration", "anger", "confusion", "repeat_contact"],
    ),
    (
        "Can I pay with PayPal?",
        &[],
        &["frustration", "anxiety", "human_request"],
    ),
];

#[test]
fn signal_table() {
    let mut failures = Vec::new();
    for (text, present, absent) in CASES {
        let analysis = analyze(text);
        for name in *present {
            let s = score(&analysis, name);
            if s < 0.5 {
                failures.push(format!("{text:?}: expected {name} present, score {s:.3}"));
            }
        }
        for name in *absent {
            let s = score(&analysis, name);
            if s >= 0.5 {
                failures.push(format!("{text:?}: expected {name} absent, score {s:.3}"));
            }
        }
    }
    assert!(CASES.len() >= 60, "the table covers at least 60 messages");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn present_signals_always_have_evidence_spans() {
    for (text, _, _) in CASES {
        crate::assert_spans_only_when_present(text);
    }
}

#[test]
fn bereavement_span_points_at_the_cue() {
    let text = "My father passed away last month";
    let analysis = analyze(text);
    let spans = &analysis
        .vulnerability
        .get("bereavement")
        .expect("key")
        .spans;
    let covered: Vec<&str> = spans.iter().filter_map(|s| s.slice(text)).collect();
    assert_eq!(covered, ["passed away"]);
}

#[test]
fn intensifiers_raise_and_negation_lowers_scores() {
    let plain = score(&analyze("I am annoyed about the delay"), "frustration");
    let intense = score(
        &analyze("I am extremely annoyed about the delay"),
        "frustration",
    );
    let negated = score(&analyze("I am not annoyed about the delay"), "frustration");
    assert!(intense > plain, "{intense} > {plain}");
    assert!(negated < plain && negated < 0.5, "{negated}");
}

#[test]
fn intent_uses_the_data_sets_names() {
    let analysis = analyze("I want to cancel the order I placed yesterday");
    assert_eq!(analysis.intent.label, "cancel_order");
    assert!(analysis.intent.confidence > 0.3);
    assert_eq!(
        analyze("what is the status of my refund").intent.label,
        "track_refund"
    );
}

#[test]
fn sentiment_follows_the_message() {
    let happy = analyze("Thank you so much, you have been wonderful!");
    let unhappy = analyze("This is the worst service ever, I'm furious");
    assert_eq!(happy.sentiment.label, "positive");
    assert_eq!(unhappy.sentiment.label, "negative");
    assert!((-1.0..=1.0).contains(&unhappy.sentiment.score));
}
