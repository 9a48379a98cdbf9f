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

/// A present signal, vulnerability or topic has evidence spans, and an absent one has none.
pub fn assert_spans_only_when_present(text: &str) {
    let analysis = analyze(text);
    for set in [
        &analysis.signals,
        &analysis.vulnerability,
        &analysis.sensitive_topics,
    ] {
        for (name, s) in set.names.iter().zip(&set.scores) {
            assert_eq!(
                s.present(),
                !s.spans.is_empty(),
                "{text:?}: {name} score {} spans {:?}",
                s.score,
                s.spans
            );
        }
    }
}
