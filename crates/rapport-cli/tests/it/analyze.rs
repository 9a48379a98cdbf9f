//! `rapport analyze`: output shape, snapshots, and messy input.

use crate::{rapport, stdout_lines};
use serde_json::Value;

/// Rounds every number to two decimals so snapshots tolerate tiny numeric drift.
fn rounded(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                    *v = serde_json::json!((f * 100.0).round() / 100.0);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Only the present signals and the headline fields, so the snapshot reads like a summary.
fn summary(analysis: &Value) -> Value {
    let present = |group: &str| -> Value {
        analysis[group]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| s["score"].as_f64().unwrap_or(0.0) >= 0.5)
                    .map(|(k, s)| (k.clone(), s.clone()))
                    .collect::<serde_json::Map<_, _>>()
            })
            .unwrap_or_default()
            .into()
    };
    rounded(serde_json::json!({
        "sentiment": analysis["sentiment"],
        "predicted": analysis["emotions"]["predicted"],
        "ekman": analysis["emotions"]["ekman"],
        "signals": present("signals"),
        "vulnerability": present("vulnerability"),
        "sensitive_topics": present("sensitive_topics"),
        "intent": analysis["intent"]["label"],
        "language": analysis["language"],
        "diagnostics": analysis["diagnostics"],
    }))
}

const MESSAGES: &str = "\
This is the THIRD time I'm writing!!! My refund still hasn't arrived and I'm furious.
My mum passed away in June and I can't afford to keep her phone contract, please help.
Thank you so much, the replacement arrived today and works perfectly.
I just want to end it all, the debt collectors call every day.

🙂🙂
¿Dónde está mi pedido? Nadie me responde.
";

#[test]
fn analyze_output_snapshot() {
    let output = rapport(&["analyze"], MESSAGES.as_bytes());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let analyses: Vec<Value> = stdout_lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(
        analyses.len(),
        MESSAGES.lines().count(),
        "one object per input line"
    );
    let summaries: Vec<Value> = analyses.iter().map(summary).collect();
    insta::assert_json_snapshot!("analyze_messages", summaries);
}

#[test]
fn every_key_is_always_present() {
    let output = rapport(&["analyze", "What are your opening hours?"], b"");
    let analysis: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let keys = |group: &str| -> Vec<String> {
        analysis[group]
            .as_object()
            .expect(group)
            .keys()
            .cloned()
            .collect()
    };
    let sorted = |mut names: Vec<&'static str>| -> Vec<&'static str> {
        names.sort_unstable();
        names
    };
    assert_eq!(
        keys("signals"),
        sorted(vec![
            "distress",
            "frustration",
            "anger",
            "confusion",
            "anxiety",
            "urgency",
            "gratitude",
            "human_request",
            "churn_threat",
            "repeat_contact",
            "abuse"
        ])
    );
    assert_eq!(
        keys("vulnerability"),
        sorted(vec![
            "bereavement",
            "financial_hardship",
            "physical_health",
            "mental_health",
            "self_harm_risk",
            "age",
            "disability",
            "domestic_abuse"
        ])
    );
    assert_eq!(
        keys("sensitive_topics"),
        sorted(vec![
            "sexual_health",
            "reproductive_health",
            "debt",
            "mental_health",
            "addiction"
        ])
    );
    assert_eq!(
        analysis["emotions"]["scores"]
            .as_object()
            .expect("scores")
            .len(),
        28
    );
    assert!(analysis["intent"]["label"].is_string());
    assert_eq!(analysis["language"], "en");
}

#[test]
fn spans_are_byte_offsets_into_the_original_text() {
    let text = "Café order — I'm so frustrated, it's the third time!";
    let output = rapport(&["analyze", text], b"");
    let analysis: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let spans = analysis["signals"]["frustration"]["spans"]
        .as_array()
        .expect("spans");
    let covered: Vec<&str> = spans
        .iter()
        .map(|s| {
            let (start, end) = (
                s["start"].as_u64().unwrap_or(0),
                s["end"].as_u64().unwrap_or(0),
            );
            &text[start as usize..end as usize]
        })
        .collect();
    assert!(covered.contains(&"frustrated"), "{covered:?}");
}

#[test]
fn invalid_utf8_names_the_line_and_keeps_the_rest() {
    let output = rapport(&["analyze"], b"first line\n\xff\xfe broken\nthird line\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("UTF-8"),
        "{stderr}"
    );
    assert_eq!(
        stdout_lines(&output).len(),
        2,
        "lines 1 and 3 are still analysed"
    );
}

#[test]
fn a_one_megabyte_line_is_truncated_with_a_diagnostic() {
    let line = "I am upset about my order. ".repeat(40_000);
    let output = rapport(&["analyze"], line.as_bytes());
    assert!(output.status.success());
    let analysis: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(analysis["diagnostics"][0]["code"], "truncated");
}

#[test]
fn help_describes_every_command() {
    for args in [
        vec!["--help"],
        vec!["analyze", "--help"],
        vec!["train", "emotions", "--help"],
        vec!["train", "intent", "--help"],
        vec!["eval", "goemotions", "--help"],
        vec!["eval", "intent", "--help"],
    ] {
        let output = rapport(&args, b"");
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
