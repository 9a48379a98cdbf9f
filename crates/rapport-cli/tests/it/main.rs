//! End-to-end tests of the `rapport` binary: its command-line contract, snapshots of its output, and
//! evaluation and training on small fixtures (and on `../shared/data` when it is there).

mod analyze;
mod audit;
mod cx;
mod eval_train;
mod fleet;
mod hardening;
mod redact;
mod reply;
mod score;
mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub fn rapport(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .env_remove("RAPPORT_EMOTIONS_MODEL")
        .env_remove("RAPPORT_INTENT_MODEL")
        .env_remove("RAPPORT_POLICY")
        .env_remove("RAPPORT_KB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rapport runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("rapport finishes")
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A file of the shared developer data, when this checkout has it beside the repository.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not present", path.display());
        None
    }
}

pub fn last_json(output: &Output) -> serde_json::Value {
    let lines = stdout_lines(output);
    let last = lines.last().expect("some output");
    serde_json::from_str(last).expect("last line is JSON")
}
