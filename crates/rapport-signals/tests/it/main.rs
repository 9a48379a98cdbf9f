//! Integration tests of the analysis with the built-in models.

mod conversation;
mod properties;
mod signal_table;

use rapport_signals::{Analysis, Analyzer};
use std::sync::OnceLock;

pub fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(|| Analyzer::builtin().expect("built-in models load"))
}

pub fn analyze(text: &str) -> Analysis {
    analyzer().analyze(text)
}
