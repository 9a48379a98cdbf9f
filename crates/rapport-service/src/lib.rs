//! `rapport serve`: Rapport as an HTTP service (axum, tokio) with durable storage (SQLite by default,
//! PostgreSQL for scale), tenants and API keys with roles, encryption at rest, retention, erasure, an audit
//! log, live events (across instances through NATS when configured) and signed webhooks. See the README for the walk-through and `api.rs` for the routes.

pub mod api;
pub mod crypto;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod fleet;
pub mod openai;
pub mod server;
pub mod store;

use crypto::Keyring;
use store::Store;

/// What a key rotation re-encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotated {
    pub messages: u64,
    pub vaults: u64,
    pub secrets: u64,
}

/// Re-encrypts every message, vault and webhook secret not sealed with the keyring's current key;
/// returns the counts.
pub async fn rotate(store: &Store, keyring: &Keyring) -> Result<Rotated, RotateError> {
    let current = keyring.current_id().to_string();
    let mut messages = 0u64;
    loop {
        let batch = store.messages_not_under(&current, 500).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let plain = keyring.open(&m.key_id, &m.text, &m.conversation_id)?;
            let (key_id, sealed) = keyring.seal(&plain, &m.conversation_id);
            store
                .rewrite_message(m.id, &key_id, &sealed, m.redacted)
                .await?;
            messages += 1;
        }
    }
    let mut vaults = 0u64;
    for (id, key_id, sealed) in store.vaults_not_under(&current).await? {
        let vault = rapport_privacy::Vault::open(&keyring.vault_key(&key_id)?, &id, &sealed)
            .map_err(|e| RotateError::Vault(e.to_string()))?;
        let resealed = vault
            .seal(&keyring.vault_key(&current)?)
            .map_err(|e| RotateError::Vault(e.to_string()))?;
        store.save_vault(&id, &current, &resealed).await?;
        vaults += 1;
    }
    let mut secrets = 0u64;
    for (tenant, key_id, sealed) in store.webhook_secrets_not_under(&current).await? {
        let context = events::secret_context(&tenant);
        let plain = keyring.open(&key_id, &sealed, &context)?;
        let (key_id, resealed) = keyring.seal(&plain, &context);
        store
            .seal_webhook_secret(&tenant, &key_id, &resealed)
            .await?;
        secrets += 1;
    }
    Ok(Rotated {
        messages,
        vaults,
        secrets,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error("vault: {0}")]
    Vault(String),
}
