//! Privacy for Rapport: find personal data in customer text (with spans and confidence) and replace it by
//! redaction, masking, keyed hashes or reversible, conversation-scoped pseudonyms.
//!
//! Pure: no I/O beyond reading keys from the environment when asked to. Spans are byte offsets into the
//! original text, as everywhere in Rapport.

pub mod checks;
pub mod detect;
pub mod entity;
pub mod names;
pub mod operators;

pub use detect::Detector;
pub use entity::{Entity, EntityKind};
pub use operators::{apply, HashKey, Operator, Vault, VaultKey, HASH_KEY_ENV, VAULT_KEY_ENV};

/// Errors of this crate: keys that are missing or malformed, and vaults that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{variable} {why}")]
    Key { variable: &'static str, why: String },
    #[error("vault: {0}")]
    Vault(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
