//! `rapport reply` and `rapport chat`: the output contract, and a safe reply on every error path.

use crate::rapport;
use serde_json::Value;
use std::path::PathBuf;

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rapport-reply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

const CONVERSATION: &str = r#"{"turns": [
  {"role": "customer", "text": "My parcel for order 48213 is a week late and nobody answers!"},
  {"role": "bot", "text": "Here's how we'll sort it: we open a trace with the courier."},
  {"role": "customer", "text": "I want to speak to a real person now."}
]}"#;

fn reply(args: &[&str], stdin: &[u8]) -> (Value, std::process::Output) {
    let out = rapport(args, stdin);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (json, out)
}

#[test]
fn reply_prints_strategy_reply_audit_memory_trajectory_and_handoff() {
    let file = temp("conversation.json", CONVERSATION);
    let (r, out) = reply(
        &["reply", "--conversation", file.to_str().expect("path")],
        b"",
    );
    assert!(out.status.success());
    for key in [
        "strategy",
        "reply",
        "audit",
        "memory",
        "trajectory",
        "handoff",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    let moves: Vec<&str> = r["strategy"]
        .as_array()
        .expect("strategy")
        .iter()
        .map(|m| m["move"].as_str().expect("move"))
        .collect();
    assert!(moves.contains(&"handoff"), "{moves:?}");
    assert!(r["strategy"][0]["reasons"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    assert!(
        r["handoff"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("48213")),
        "{r}"
    );
    assert_eq!(r["memory"]["facts"][0]["value"], "48213");
    assert!(r["audit"]["score"].as_u64().expect("score") >= 70);
}

#[test]
fn reply_reads_stdin_with_a_dash() {
    let (r, out) = reply(&["reply", "--conversation", "-"], CONVERSATION.as_bytes());
    assert!(out.status.success());
    assert!(!r["reply"].as_str().expect("reply").is_empty());
}

#[test]
fn a_policy_with_an_unknown_key_gives_a_clear_message_and_a_safe_handoff() {
    let file = temp("c2.json", CONVERSATION);
    let policy = temp("bad-policy.toml", "[brand]\nnmae = \"Typo Ltd\"\n");
    let (r, out) = reply(
        &[
            "reply",
            "--conversation",
            file.to_str().expect("path"),
            "--policy",
            policy.to_str().expect("path"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nmae") && stderr.contains("bad-policy.toml"),
        "{stderr}"
    );
    assert_eq!(r["source"], "safe_fallback");
    assert!(
        r["reply"].as_str().is_some_and(|s| s.contains("colleague")),
        "{r}"
    );
    assert!(r["handoff"].is_object());
}

#[test]
fn a_missing_knowledge_base_gives_a_clear_message_and_still_a_reply() {
    let file = temp(
        "c3.json",
        r#"{"turns":[{"role":"customer","text":"Where is my refund?"}]}"#,
    );
    let (r, out) = reply(
        &[
            "reply",
            "--conversation",
            file.to_str().expect("path"),
            "--kb",
            "/nonexistent/kb",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/kb"));
    assert!(r["diagnostics"][0]
        .as_str()
        .is_some_and(|d| d.contains("/nonexistent/kb")));
    let text = r["reply"].as_str().expect("reply");
    assert!(!text.trim().is_empty() && text.contains("person"), "{text}");
}

#[test]
fn a_custom_knowledge_base_folder_is_used() {
    let dir = std::env::temp_dir().join(format!("rapport-kb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("kb dir");
    std::fs::write(
        dir.join("warranty.md"),
        "# Warranty claims\n\nKeywords: warranty, guarantee, broken kettle\n\nEvery appliance has a 2-year warranty.\n\n## Steps\n1. Send us a photo of the fault and your receipt.\n2. We collect the appliance within 3 working days and repair or replace it.\n",
    )
    .expect("article");
    let file = temp(
        "c4.json",
        r#"{"turns":[{"role":"customer","text":"My kettle broke after a month, is it under warranty?"}]}"#,
    );
    let (r, out) = reply(
        &[
            "reply",
            "--conversation",
            file.to_str().expect("path"),
            "--kb",
            dir.to_str().expect("dir"),
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["article"], "warranty");
    assert!(
        r["reply"]
            .as_str()
            .is_some_and(|s| s.contains("photo of the fault")),
        "{r}"
    );
}

#[test]
fn malformed_conversations_are_refused_with_the_expected_shape() {
    for (input, expected) in [
        ("not json", "expected {\"turns\""),
        (r#"{"turns": []}"#, "no turns"),
        (r#"{"turns": [{"role": "wizard", "text": "hi"}]}"#, "wizard"),
    ] {
        let out = rapport(&["reply", "--conversation", "-"], input.as_bytes());
        assert_eq!(out.status.code(), Some(2), "{input}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{input}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = rapport(&["reply", "--conversation", "/nonexistent/c.json"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/c.json"));
}

#[test]
fn chat_shows_signals_strategy_and_reply_for_each_line() {
    let out = rapport(
        &["chat"],
        b"My refund for order 55120 still hasn't arrived and I'm fed up!\nI want to talk to a human.\n/quit\n",
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("rapport> ").count(), 2, "{text}");
    assert!(text.contains("strategy  handoff"), "{text}");
    assert!(text.contains("signals"), "{text}");
    assert!(text.contains("55120"), "{text}");
}
