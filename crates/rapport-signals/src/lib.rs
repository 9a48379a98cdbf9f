//! Per-message analysis for Rapport: `&str -> Analysis` with emotions, sentiment, CX signals,
//! vulnerability, sensitive topics and intent, each with the byte spans that caused it.
//!
//! Pure and synchronous: no I/O, no async, no global state beyond read-only models. Analysis never fails on
//! messy text; it returns diagnostics instead. Errors exist only for loading or training models.

pub mod analysis;
pub mod builtin;
pub mod cues;
pub mod cx;
pub mod emotions;
pub mod encoder;
pub mod features;
pub mod intent;
pub mod language;
pub mod model;

pub use analysis::{Analysis, Analyzer, Diagnostic, SignalScore, MAX_ANALYZED_BYTES, PRESENT};

/// Errors of this crate: a model that cannot be used, or training input that cannot be trained on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
