//! Encryption at rest: message text and pseudonym vaults are sealed with ChaCha20-Poly1305 under the
//! master key (`RAPPORT_MASTER_KEY`, 64 hex digits). Every record keeps the id of the key that sealed it, so
//! keys can rotate: the current key seals, earlier keys (`RAPPORT_MASTER_KEY_PREVIOUS`, comma-separated)
//! still open, and `rapport keys rotate` re-seals everything under the current key.

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const MASTER_KEY_ENV: &str = "RAPPORT_MASTER_KEY";
pub const PREVIOUS_KEYS_ENV: &str = "RAPPORT_MASTER_KEY_PREVIOUS";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("{variable} {why}")]
    Key { variable: &'static str, why: String },
    #[error("no key with id {0} (was it rotated away? add it to {PREVIOUS_KEYS_ENV})")]
    UnknownKey(String),
    #[error(
        "a sealed record failed authentication (wrong key, another record's data, or tampering)"
    )]
    Tampered,
}

/// One 256-bit key and its id (the first 8 hex digits of its SHA-256).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_hex(variable: &'static str, text: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|e| CryptoError::Key {
            variable,
            why: format!("must be 64 hex digits (e.g. from `openssl rand -hex 32`): {e}"),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| CryptoError::Key {
            variable,
            why: format!("must be 32 bytes (64 hex digits), got {} bytes", b.len()),
        })?;
        let id = hex::encode(&Sha256::digest(key)[..4]);
        Ok(Self { id, key })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key derived for one purpose, so that one master key serves several ciphers.
    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The current key and the earlier ones.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// From `RAPPORT_MASTER_KEY` and `RAPPORT_MASTER_KEY_PREVIOUS`.
    pub fn from_env() -> Result<Self, CryptoError> {
        let current = std::env::var(MASTER_KEY_ENV).map_err(|_| CryptoError::Key {
            variable: MASTER_KEY_ENV,
            why: "is not set: it encrypts message text at rest (64 hex digits, e.g. from `openssl rand -hex 32`; `rapport serve --dev` keeps a development key in the data directory instead)".into(),
        })?;
        let current = MasterKey::from_hex(MASTER_KEY_ENV, &current)?;
        let previous = match std::env::var(PREVIOUS_KEYS_ENV) {
            Ok(list) => list
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| MasterKey::from_hex(PREVIOUS_KEYS_ENV, k))
                .collect::<Result<_, _>>()?,
            Err(_) => Vec::new(),
        };
        Ok(Self::new(current, previous))
    }

    /// A random key, for `--dev` runs: data written with it cannot be read after a restart.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let id = hex::encode(&Sha256::digest(key)[..4]);
        Self::new(MasterKey { id, key }, Vec::new())
    }

    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    fn key(&self, id: &str) -> Result<&MasterKey, CryptoError> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))
    }

    /// Seals `plaintext` under the current key; `context` (e.g. the conversation id) is authenticated
    /// with it. Returns the key id and `nonce || ciphertext`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> (String, Vec<u8>) {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.current.derive("text")));
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_else(|_| {
                unreachable!("ChaCha20-Poly1305 encryption of a slice cannot fail")
            });
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        (self.current.id.clone(), out)
    }

    /// Opens a record sealed by [`Keyring::seal`] under key `key_id`.
    pub fn open(&self, key_id: &str, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        let key = self.key(key_id)?;
        if sealed.len() < 12 + 16 {
            return Err(CryptoError::Tampered);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        ChaCha20Poly1305::new(Key::from_slice(&key.derive("text")))
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// The erasure receipt of a customer: HMAC-SHA256 of the customer id under a key derived for the
    /// tenant from the current master key (a dictionary of likely ids cannot reverse it).
    pub fn receipt_hash(&self, tenant: &str, customer_id: &str) -> String {
        let key = self
            .current
            .derive(&format!("erasure-receipt\u{0}{tenant}"));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(customer_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The key that seals pseudonym vaults, derived from the current key.
    pub fn vault_key(&self, key_id: &str) -> Result<rapport_privacy::VaultKey, CryptoError> {
        Ok(rapport_privacy::VaultKey::new(
            self.key(key_id)?.derive("vault"),
        ))
    }
}

/// SHA-256 of an API key, hex: what the database stores.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: `rpk_` and 64 random hex digits.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("rpk_{}", hex::encode(bytes))
}

/// HMAC-SHA256 of a webhook body, hex: the `X-Rapport-Signature: sha256=...` header.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: &str) -> MasterKey {
        MasterKey::from_hex(MASTER_KEY_ENV, &fill.repeat(64)).expect("key")
    }

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let ring = Keyring::new(key("a"), vec![]);
        let (id, sealed) = ring.seal(b"my card is 4111", "conv-1");
        assert!(!sealed.windows(4).any(|w| w == b"4111"));
        assert_eq!(
            ring.open(&id, &sealed, "conv-1").expect("open"),
            b"my card is 4111"
        );
        assert_eq!(
            ring.open(&id, &sealed, "conv-2"),
            Err(CryptoError::Tampered)
        );
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert_eq!(
            ring.open(&id, &flipped, "conv-1"),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn a_rotated_keyring_still_opens_old_records() {
        let old = Keyring::new(key("a"), vec![]);
        let (id, sealed) = old.seal(b"hello", "c");
        let rotated = Keyring::new(key("b"), vec![key("a")]);
        assert_ne!(rotated.current_id(), id);
        assert_eq!(rotated.open(&id, &sealed, "c").expect("open"), b"hello");
        let forgotten = Keyring::new(key("b"), vec![]);
        assert!(matches!(
            forgotten.open(&id, &sealed, "c"),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn bad_keys_are_explained() {
        let err = MasterKey::from_hex(MASTER_KEY_ENV, "abc").expect_err("short");
        assert!(err.to_string().contains("RAPPORT_MASTER_KEY"), "{err}");
    }
}
