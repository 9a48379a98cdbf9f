//! `rapport eval` and `rapport train` on fixtures in the repository, and on the shared developer data when
//! it is present.

use crate::{fixture, last_json, rapport, shared_data};

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn eval_goemotions_prints_the_contract_json_last() {
    let file = fixture("goemotions_small.tsv");
    let output = rapport(&["eval", "goemotions", path(&file)], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = last_json(&output);
    assert_eq!(summary["examples"], 16);
    for key in [
        "macro_f1",
        "macro_f1_ekman",
        "macro_f1_sentiment",
        "micro_f1",
    ] {
        let value = summary[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&value), "{key} = {value}");
    }
    // The fixture's messages are unambiguous: the shipped model gets most of them right.
    assert!(
        summary["micro_f1"].as_f64().unwrap_or(0.0) > 0.6,
        "{summary}"
    );
}

#[test]
fn eval_rejects_a_malformed_file_naming_the_line() {
    let dir = std::env::temp_dir().join(format!("rapport-eval-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.tsv");
    std::fs::write(&file, "fine\t27\tx\nbroken line without tabs\n").expect("write");
    let output = rapport(&["eval", "goemotions", path(&file)], b"");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    let missing = rapport(&["eval", "goemotions", "/nonexistent/file.tsv"], b"");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn trained_emotion_models_are_deterministic_and_evaluable() {
    let dir = std::env::temp_dir().join(format!("rapport-train-{}", std::process::id()));
    let file = fixture("goemotions_small.tsv");
    let mut models = Vec::new();
    for name in ["a.rplm", "b.rplm"] {
        let out = dir.join(name);
        let output = rapport(
            &[
                "train",
                "emotions",
                "--train",
                path(&file),
                "--dev",
                path(&file),
                "--out",
                path(&out),
                "--bucket-bits",
                "12",
                "--epochs",
                "3",
            ],
            b"",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        models.push(std::fs::read(&out).expect("model written"));
    }
    assert_eq!(
        models[0], models[1],
        "same data and seed give the same bytes"
    );
    let output = rapport(
        &[
            "eval",
            "goemotions",
            path(&file),
            "--model",
            path(&dir.join("a.rplm")),
        ],
        b"",
    );
    assert!(output.status.success());
    assert_eq!(last_json(&output)["examples"], 16);
}

#[test]
fn intent_training_reports_held_out_accuracy() {
    let dir = std::env::temp_dir().join(format!("rapport-intent-{}", std::process::id()));
    let out = dir.join("intent.rplm");
    let file = fixture("bitext_small.csv");
    let output = rapport(
        &[
            "train",
            "intent",
            "--train",
            path(&file),
            "--out",
            path(&out),
            "--bucket-bits",
            "12",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = rapport(&["eval", "intent", path(&file), "--model", path(&out)], b"");
    let report = last_json(&output);
    assert_eq!(report["examples"], 12);
    assert!(
        report["accuracy"].as_f64().unwrap_or(0.0) >= 0.9,
        "{report}"
    );
}

#[test]
fn shipped_emotion_model_on_shared_dev() {
    let Some(dev) = shared_data("goemotions/dev.tsv") else {
        return;
    };
    let output = rapport(&["eval", "goemotions", path(&dev)], b"");
    let summary = last_json(&output);
    // Dev tuned the thresholds, so this guards against regressions rather than measuring quality.
    assert!(
        summary["macro_f1"].as_f64().unwrap_or(0.0) >= 0.46,
        "{summary}"
    );
    assert!(
        summary["macro_f1_sentiment"].as_f64().unwrap_or(0.0) >= 0.65,
        "{summary}"
    );
}

#[test]
fn intent_recipe_on_shared_bitext_holds_out_97_percent() {
    let Some(data) = shared_data("bitext_customer_support/bitext_customer_support_4514.csv") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rapport-intent-shared-{}", std::process::id()));
    let out = dir.join("intent.rplm");
    let output = rapport(
        &[
            "train",
            "intent",
            "--train",
            path(&data),
            "--holdout-percent",
            "20",
            "--out",
            path(&out),
            "--bucket-bits",
            "16",
        ],
        b"",
    );
    let report = last_json(&output);
    assert!(
        report["accuracy"].as_f64().unwrap_or(0.0) >= 0.97,
        "{report}"
    );
}
