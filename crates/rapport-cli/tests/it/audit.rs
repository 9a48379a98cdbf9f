//! `rapport audit` and `rapport eval epitome`.

use crate::{fixture, last_json, rapport, shared_data};

#[test]
fn audit_prints_the_documented_json() {
    let output = rapport(
        &[
            "audit",
            "--customer",
            "My order #48213 still hasn't arrived and it's been two weeks.",
            "--reply",
            "I'm sorry order #48213 is so late. I've asked the courier to trace it and I'll email you an update by Friday.",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for key in [
        "score",
        "emotional_reaction",
        "interpretation",
        "exploration",
        "actionability",
        "specificity",
        "hollow_sympathy",
        "repetition",
        "dismissive",
        "over_apology",
        "readability",
        "pii_leak",
        "suggestions",
    ] {
        assert!(audit.get(key).is_some(), "missing {key}");
    }
    assert_eq!(audit["emotional_reaction"]["level"], 2);
    assert_eq!(audit["hollow_sympathy"], false);
    assert!(audit["score"].as_u64().unwrap_or(0) >= 70, "{audit}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let empty = rapport(&["audit", "--customer", "hi", "--reply", "   "], b"");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("reply is empty"));

    let huge = "word ".repeat(5_000);
    let long = rapport(&["audit", "--customer", "hi", "--reply", &huge], b"");
    assert!(String::from_utf8_lossy(&long.stderr).contains("limit"));

    let dir = std::env::temp_dir().join(format!("rapport-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let history = dir.join("history.json");
    std::fs::write(&history, "{not json").expect("write");
    let bad = rapport(
        &[
            "audit",
            "--customer",
            "hi",
            "--reply",
            "ok",
            "--history",
            history.to_str().expect("utf-8"),
        ],
        b"",
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a JSON list"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn eval_epitome_prints_the_contract_json_last() {
    let dir = fixture("epitome");
    let output = rapport(&["eval", "epitome", dir.to_str().expect("utf-8")], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = last_json(&output);
    for key in ["emotional_reactions", "interpretations", "explorations"] {
        assert_eq!(report[key]["accuracy"], 1.0, "{report}");
        assert!(report[key]["macro_f1"].as_f64().is_some());
    }
}

#[test]
fn epitome_developer_copy_meets_the_bar() {
    let Some(dir) = shared_data("epitome") else {
        return;
    };
    let output = rapport(&["eval", "epitome", dir.to_str().expect("utf-8")], b"");
    let report = last_json(&output);
    // The patterns were designed while reading this copy, so this guards against regressions.
    assert!(
        report["emotional_reactions"]["macro_f1"]
            .as_f64()
            .unwrap_or(0.0)
            >= 0.60,
        "{report}"
    );
    assert!(
        report["interpretations"]["macro_f1"]
            .as_f64()
            .unwrap_or(0.0)
            >= 0.45,
        "{report}"
    );
    assert!(
        report["explorations"]["macro_f1"].as_f64().unwrap_or(0.0) >= 0.60,
        "{report}"
    );
}

/// `rapport eval audit`: the audit against rated replies, on a fixture whose ratings are clear-cut, and
/// on the shared annotated real replies where they exist (pinned at the figures the README reports).
#[test]
fn eval_audit_agrees_with_rated_replies() {
    let output = rapport(
        &[
            "eval",
            "audit",
            fixture("audit_small.jsonl").to_str().expect("utf-8"),
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = last_json(&output);
    assert_eq!(report["replies"], 7, "{report}");
    assert_eq!(report["best_over_hollow"], "2/2", "{report}");
    assert!(
        report["rho_overall"].as_f64().expect("rho") >= 0.5,
        "{report}"
    );

    let bad = rapport(&["eval", "audit", "/nonexistent/cx.jsonl"], b"");
    assert_eq!(bad.status.code(), Some(2));

    if let Some(gold) = shared_data("cx_gold/conversations.jsonl") {
        let output = rapport(&["eval", "audit", gold.to_str().expect("utf-8")], b"");
        assert!(output.status.success());
        let report = last_json(&output);
        let won: u32 = report["best_over_hollow"]
            .as_str()
            .and_then(|s| s.split('/').next()?.parse().ok())
            .expect("won/pairs");
        assert!(won >= 89, "{report}");
        assert!(
            report["rho_overall"].as_f64().expect("rho") >= 0.30,
            "{report}"
        );
    }
}

#[test]
fn reply_and_audit_give_one_score_for_the_same_reply_and_context() {
    let dir = std::env::temp_dir().join(format!("rapport-one-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let history = serde_json::json!([
        {"role": "customer", "text": "Hi, I can't get into my account, it's jane.doe@example.com and I'm Jane Doe"},
        {"role": "agent", "text": "Sorry about that, Jane. Have you tried resetting your password?"},
    ]);
    let customer = "Yes, twice, and the reset email for jane.doe@example.com never arrives. I need it for work today.";
    let mut turns = history.as_array().expect("turns").clone();
    turns.push(serde_json::json!({"role": "customer", "text": customer}));
    let conversation = dir.join("conversation.json");
    std::fs::write(
        &conversation,
        serde_json::json!({ "turns": turns }).to_string(),
    )
    .expect("write");
    let history_file = dir.join("history.json");
    std::fs::write(&history_file, history.to_string()).expect("write");
    let output = rapport(
        &[
            "reply",
            "--conversation",
            conversation.to_str().expect("path"),
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let text = reply["reply"].as_str().expect("reply");
    let output = rapport(
        &[
            "audit",
            "--customer",
            customer,
            "--reply",
            text,
            "--history",
            history_file.to_str().expect("path"),
            // The example policy's banned phrases, which `reply` checks.
            "--banned",
            "calm down",
            "--banned",
            "as I already said",
            "--banned",
            "per our policy",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(reply["audit"]["score"], audit["score"], "{text}");
    assert_eq!(reply["audit"]["specificity"], audit["specificity"]);
    // The spans point into the reply as shown (not into its pseudonymised draft).
    for span in reply["audit"]["exploration"]["spans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let end = span["end"].as_u64().expect("end") as usize;
        assert!(end <= text.len(), "{span} is outside {text:?}");
    }
}
