//! Integration tests of PII detection and the operators.

mod detectors;
mod properties;

use rapport_privacy::{Detector, Entity, EntityKind};
use std::sync::OnceLock;

pub fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(Detector::new)
}

pub fn found(text: &str) -> Vec<(EntityKind, String)> {
    detector()
        .detect(text)
        .iter()
        .map(|e: &Entity| (e.kind, text[e.start..e.end].to_string()))
        .collect()
}
