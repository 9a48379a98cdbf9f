//! `rapport analyze --conversation`, `rapport eval cx` and `rapport train cx` on a small fixture of
//! annotated conversations written for these tests (`tests/fixtures/cx_small.jsonl`).

use crate::{fixture, rapport, stdout_lines};
use serde_json::Value;

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn last_json(output: &std::process::Output) -> Value {
    let lines = stdout_lines(output);
    serde_json::from_str(lines.last().expect("a summary line")).expect("JSON summary")
}

#[test]
fn analyze_conversation_prints_one_reading_per_customer_turn() {
    let dir = tempfile_dir("conversation");
    let file = dir.join("c.json");
    std::fs::write(
        &file,
        r#"{"turns": [
            {"role": "customer", "text": "I can't afford this month's payment, I lost my job"},
            {"role": "bot", "text": "Don't worry, these things happen. Rest assured we'll look into it."},
            {"role": "customer", "text": "Stop telling me not to worry and DO something, I'm going to be evicted"},
            {"role": "agent", "text": "Which date is your rent due?"},
            {"role": "customer", "text": "the 1st"}
        ]}"#,
    )
    .expect("write");
    let output = rapport(&["analyze", "--conversation", path(&file)], b"");
    succeeded(&output);
    let lines: Vec<Value> = stdout_lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let turns: Vec<u64> = lines
        .iter()
        .map(|l| l["turn"].as_u64().expect("turn"))
        .collect();
    assert_eq!(turns, [0, 2, 4]);
    for line in &lines {
        assert!(line["signals"].is_object() && line["sentiment"].is_object());
        assert!(["open", "resolved", "none"].contains(&line["problem"].as_str().expect("problem")));
        assert!(!line["need"].as_str().expect("need").is_empty());
    }
    assert_eq!(lines[0]["pushback"]["score"], 0.0);
    assert!(lines[1]["pushback"]["score"].as_f64().expect("score") >= 0.5);
    assert!(!lines[1]["pushback"]["spans"]
        .as_array()
        .expect("spans")
        .is_empty());
    assert!(
        lines[1]["vulnerability"]["financial_hardship"]["score"]
            .as_f64()
            .expect("score")
            >= 0.5
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn analyze_conversation_refuses_a_file_of_another_shape() {
    let dir = tempfile_dir("bad-conversation");
    let file = dir.join("c.json");
    std::fs::write(&file, r#"{"messages": ["hi"]}"#).expect("write");
    let output = rapport(&["analyze", "--conversation", path(&file)], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("turns"), "{stderr}");
    std::fs::write(&file, r#"{"turns": []}"#).expect("write");
    let output = rapport(&["analyze", "--conversation", path(&file)], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no turns"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_cx_prints_the_contract_json_last() {
    let data = fixture("cx_small.jsonl");
    for context in [false, true] {
        let mut args = vec!["eval", "cx", path(&data)];
        if context {
            args.push("--context");
        }
        let output = rapport(&args, b"");
        succeeded(&output);
        let report = last_json(&output);
        assert_eq!(report["customer_turns"], 10);
        assert_eq!(report["context"], context);
        for key in [
            "signals_micro_f1",
            "signals_precision",
            "signals_recall",
            "sentiment_rho",
            "sentiment_macro_f1",
            "topics_micro_f1",
            "pushback_f1",
            "problem_accuracy",
        ] {
            let x = report[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} in {report}"));
            assert!((-1.0..=1.0).contains(&x), "{key} = {x}");
        }
        assert!(
            report["per_signal"]["frustration"]["support"]
                .as_u64()
                .expect("support")
                >= 3
        );
        assert_eq!(report["expect"]["conversations"], 5);
        // The fixture's clear cases: the built-in reading gets most of them.
        assert!(
            report["sentiment_rho"].as_f64().expect("rho") > 0.5,
            "{report}"
        );
    }
}

#[test]
fn eval_cx_errors_lists_the_misses_before_the_summary() {
    let output = rapport(
        &["eval", "cx", path(&fixture("cx_small.jsonl")), "--errors"],
        b"",
    );
    assert!(output.status.success());
    let lines = stdout_lines(&output);
    for line in &lines[..lines.len() - 1] {
        let miss: Value = serde_json::from_str(line).expect("JSON error line");
        assert!(miss["session"].is_string() && miss["text"].is_string());
    }
}

#[test]
fn eval_cx_rejects_a_malformed_file_naming_the_line() {
    let dir = tempfile_dir("bad-cx");
    let file = dir.join("bad.jsonl");
    let good = std::fs::read_to_string(fixture("cx_small.jsonl")).expect("fixture");
    let first = good.lines().next().expect("a line");
    std::fs::write(&file, format!("{first}\n{{\"session\": \"x\"}}\n")).expect("write");
    let output = rapport(&["eval", "cx", path(&file)], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cx_training_is_deterministic_and_the_model_loads() {
    let dir = tempfile_dir("train-cx");
    let data = fixture("cx_small.jsonl");
    let a = train_twice_identically(&dir, &data, "fast");
    let output = rapport(
        &["analyze", "--cx-model", path(&a), "thanks, all sorted"],
        b"",
    );
    succeeded(&output);
    let output = rapport(
        &["eval", "cx", path(&data), "--cv", "2", "--epochs", "3"],
        b"",
    );
    succeeded(&output);
    let report = last_json(&output);
    assert_eq!(report["cv_folds"], 2);
    assert_eq!(report["customer_turns"], 10);
    std::fs::write(dir.join("junk.rpcx"), b"RPCX junk").expect("write");
    let output = rapport(
        &[
            "analyze",
            "--cx-model",
            path(&dir.join("junk.rpcx")),
            "hello",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(2));
    // A fast-tier model cannot serve the accurate tier: it never learnt the sentence vector.
    let output = rapport(
        &[
            "analyze",
            "--tier",
            "accurate",
            "--cx-model",
            path(&a),
            "hello",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tier accurate"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn accurate_tier_trains_deterministically_and_reads_a_human_request() {
    let dir = tempfile_dir("train-cx-accurate");
    let data = fixture("cx_small.jsonl");
    let a = train_twice_identically(&dir, &data, "accurate");
    let output = rapport(
        &[
            "analyze",
            "--tier",
            "accurate",
            "--cx-model",
            path(&a),
            "thanks, all sorted",
        ],
        b"",
    );
    succeeded(&output);
    // The shipped accurate tier on an indirect request for a person.
    let output = rapport(
        &[
            "analyze",
            "--tier",
            "accurate",
            "can someone who isn't a robot get back to me please",
        ],
        b"",
    );
    succeeded(&output);
    let analysis = last_json(&output);
    let human = &analysis["signals"]["human_request"];
    assert!(human["score"].as_f64().expect("score") >= 0.5, "{analysis}");
    assert!(!human["spans"].as_array().expect("spans").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rapport eval cx` over both shared annotated sets, 5-fold cross-validated in context with `tier`;
/// `None` where the shared data is not there.
fn cross_validated(tier: &str) -> Option<Value> {
    let gold = crate::shared_data("cx_gold/conversations.jsonl")?;
    let dialogues = crate::shared_data("cx_dialogues/conversations.jsonl")?;
    let output = rapport(
        &[
            "eval",
            "cx",
            path(&gold),
            path(&dialogues),
            "--cv",
            "5",
            "--context",
            "--tier",
            tier,
        ],
        b"",
    );
    succeeded(&output);
    Some(last_json(&output))
}

/// Fails when `figure[key]` is below `bar`: the figures of models/cx.md, with no room for run-to-run noise
/// (training is deterministic), so a regression below them fails.
fn at_least(figure: &Value, key: &str, bar: f64) {
    let x = figure[key].as_f64().expect("figure");
    assert!(x >= bar, "{key} {x} < {bar}");
}

#[test]
fn cross_validated_figures_on_the_shared_sets() {
    let Some(report) = cross_validated("fast") else {
        return;
    };
    at_least(&report, "signals_micro_f1", 0.56);
    at_least(&report, "sentiment_rho", 0.67);
    at_least(&report, "pushback_f1", 0.75);
    at_least(&report, "problem_accuracy", 0.95);
    at_least(&report["expect"], "accuracy", 0.89);
}

#[test]
fn accurate_tier_cross_validated_on_the_shared_sets() {
    let Some(report) = cross_validated("accurate") else {
        return;
    };
    at_least(&report, "signals_micro_f1", 0.585);
    at_least(&report, "sentiment_rho", 0.68);
    // The real tweets on their own too.
    let gold = &report["by_source"]["cx_gold/conversations.jsonl"];
    at_least(gold, "signals_micro_f1", 0.57);
    at_least(gold, "sentiment_rho", 0.59);
    let expect = &report["expect"];
    at_least(expect, "accuracy", 0.90);
    at_least(&report, "problem_accuracy", 0.95);
}

/// Trains a CX model of `tier` on `data` twice into `dir`, checks the two files are byte-identical
/// (training is deterministic) and returns the first.
fn train_twice_identically(
    dir: &std::path::Path,
    data: &std::path::Path,
    tier: &str,
) -> std::path::PathBuf {
    let (a, b) = (dir.join("a.rpcx"), dir.join("b.rpcx"));
    for out in [&a, &b] {
        let output = rapport(
            &[
                "train",
                "cx",
                "--tier",
                tier,
                "--data",
                path(data),
                "--out",
                path(out),
                "--epochs",
                "3",
            ],
            b"",
        );
        succeeded(&output);
    }
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    a
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rapport-cx-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
