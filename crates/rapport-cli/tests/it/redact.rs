//! `rapport redact`, `rapport rehydrate` and `rapport eval pii`.

use crate::{fixture, last_json, rapport, stdout_lines};
use std::process::{Command, Output, Stdio};

const VAULT_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn rapport_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
    command
        .args(args)
        .env_remove("RAPPORT_HASH_KEY")
        .env_remove("RAPPORT_VAULT_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("rapport runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    child.wait_with_output().expect("rapport finishes")
}

#[test]
fn redact_replaces_values_with_their_type() {
    let output = rapport(
        &[
            "redact",
            "Mail me at ann@example.com or call +44 20 7946 0958",
        ],
        b"",
    );
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "Mail me at [EMAIL] or call [PHONE]"
    );
}

#[test]
fn json_output_gives_byte_offsets_into_the_original() {
    let text = "Café order: my card is 4111 1111 1111 1111";
    let output = rapport(&["redact", "--json", text], b"");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let entity = &value["entities"][0];
    assert_eq!(entity["type"], "CREDIT_CARD");
    let (start, end) = (
        entity["start"].as_u64().unwrap_or(0) as usize,
        entity["end"].as_u64().unwrap_or(0) as usize,
    );
    assert_eq!(&text[start..end], "4111 1111 1111 1111");
    assert_eq!(value["text"], "Café order: my card is [CREDIT_CARD]");
}

#[test]
fn stdin_gives_one_line_per_line_and_mask_keeps_last_four() {
    let output = rapport(
        &["redact", "--operator", "mask"],
        b"card 4111 1111 1111 1111\nnothing here\n",
    );
    assert_eq!(
        stdout_lines(&output),
        ["card **** **** **** 1111", "nothing here"]
    );
}

#[test]
fn hash_needs_its_key_from_the_environment() {
    let missing = rapport_env(
        &["redact", "--operator", "hash", "ann@example.com"],
        &[],
        b"",
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RAPPORT_HASH_KEY"));
    let short = rapport_env(
        &["redact", "--operator", "hash", "ann@example.com"],
        &[("RAPPORT_HASH_KEY", "short")],
        b"",
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 bytes"));
    let key = [(
        "RAPPORT_HASH_KEY",
        "a-long-enough-secret-for-the-tests-0123456789",
    )];
    let output = rapport_env(
        &["redact", "--operator", "hash", "ann@example.com"],
        &key,
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("[EMAIL:") && !text.contains("ann@"),
        "{text}"
    );
}

#[test]
fn pseudonyms_round_trip_through_a_sealed_vault() {
    let dir = std::env::temp_dir().join(format!("rapport-vault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let vault = dir.join("vault.bin");
    let vault_arg = vault.to_str().expect("utf-8");
    let missing = rapport_env(
        &[
            "redact",
            "--operator",
            "pseudonymize",
            "--vault",
            vault_arg,
            "x",
        ],
        &[],
        b"",
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RAPPORT_VAULT_KEY"));

    let key = [("RAPPORT_VAULT_KEY", VAULT_KEY)];
    let output = rapport_env(
        &[
            "redact",
            "--operator",
            "pseudonymize",
            "--vault",
            vault_arg,
            "--conversation",
            "c-42",
        ],
        &key,
        b"I'm Ann Smith, mail ann@example.com\nyes ann@example.com is right\n",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        ["I'm <PERSON_1>, mail <EMAIL_1>", "yes <EMAIL_1> is right"]
    );

    let back = rapport_env(
        &[
            "rehydrate",
            "--vault",
            vault_arg,
            "--conversation",
            "c-42",
            "Dear <PERSON_1>, we wrote to <EMAIL_1> and <EMAIL_7>.",
        ],
        &key,
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&back.stdout).trim(),
        "Dear Ann Smith, we wrote to ann@example.com and <EMAIL_7>."
    );
    let other = rapport_env(
        &[
            "rehydrate",
            "--vault",
            vault_arg,
            "--conversation",
            "c-43",
            "<EMAIL_1>",
        ],
        &key,
        b"",
    );
    assert!(
        !other.status.success(),
        "a vault opens only for its own conversation"
    );
    assert!(String::from_utf8_lossy(&other.stderr).contains("cannot open the vault"));
}

#[test]
fn eval_pii_prints_the_contract_json_last() {
    let file = fixture("pii_small.json");
    let output = rapport(&["eval", "pii", file.to_str().expect("utf-8")], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = last_json(&output);
    assert_eq!(report["recall"], 1.0, "{report}");
    assert!(
        report["precision"].as_f64().unwrap_or(0.0) >= 0.8,
        "{report}"
    );
    assert_eq!(report["per_entity"]["PERSON"]["support"], 1);
    assert!(report["f2"].as_f64().is_some());
}

#[test]
fn eval_pii_on_shared_data_meets_the_bar() {
    let Some(data) = crate::shared_data("presidio_synth_pii/synth_dataset_v2.json") else {
        return;
    };
    let output = rapport(&["eval", "pii", data.to_str().expect("utf-8")], b"");
    let report = last_json(&output);
    assert!(report["recall"].as_f64().unwrap_or(0.0) >= 0.90, "{report}");
    assert!(
        report["precision"].as_f64().unwrap_or(0.0) >= 0.90,
        "{report}"
    );
}
