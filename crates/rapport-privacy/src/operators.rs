//! What happens to detected personal data: redact (`[EMAIL]`), mask (`************1111`), keyed hash
//! (`[EMAIL:9f86d081884c7d65]`, HMAC-SHA256) or pseudonymise (`<EMAIL_1>`) with a [`Vault`] that maps
//! tokens back to values for this conversation only, sealed with ChaCha20-Poly1305.

use crate::entity::{Entity, EntityKind};
use crate::{Error, Result};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;

/// Environment variable holding the keyed-hash key (at least 32 bytes of text).
pub const HASH_KEY_ENV: &str = "RAPPORT_HASH_KEY";
/// Environment variable holding the vault key (64 hex digits: 32 bytes).
pub const VAULT_KEY_ENV: &str = "RAPPORT_VAULT_KEY";

/// How detected values are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Redact,
    Mask,
    Hash,
    Pseudonymize,
}

/// A key for keyed hashing, from [`HASH_KEY_ENV`].
#[derive(Clone)]
pub struct HashKey(Vec<u8>);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl HashKey {
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() < 32 {
            return Err(Error::Key {
                variable: HASH_KEY_ENV,
                why: format!("must be at least 32 bytes, got {}", key.len()),
            });
        }
        Ok(Self(key.to_vec()))
    }

    /// Reads [`HASH_KEY_ENV`].
    pub fn from_env() -> Result<Self> {
        let value = std::env::var(HASH_KEY_ENV).map_err(|_| Error::Key {
            variable: HASH_KEY_ENV,
            why: "is not set (the hash operator needs a secret of at least 32 bytes)".into(),
        })?;
        Self::new(value.as_bytes())
    }

    fn tag(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// A vault key, from [`VAULT_KEY_ENV`].
#[derive(Clone)]
pub struct VaultKey([u8; 32]);

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(..)")
    }
}

impl VaultKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self> {
        let bytes = hex::decode(hex_key.trim()).map_err(|e| Error::Key {
            variable: VAULT_KEY_ENV,
            why: format!("must be 64 hex digits: {e}"),
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| Error::Key {
            variable: VAULT_KEY_ENV,
            why: format!("must be 32 bytes (64 hex digits), got {} bytes", b.len()),
        })?;
        Ok(Self(bytes))
    }

    /// Reads [`VAULT_KEY_ENV`].
    pub fn from_env() -> Result<Self> {
        let value = std::env::var(VAULT_KEY_ENV).map_err(|_| Error::Key {
            variable: VAULT_KEY_ENV,
            why: "is not set (sealing a pseudonym vault needs 64 hex digits, e.g. from `openssl rand -hex 32`)".into(),
        })?;
        Self::from_hex(&value)
    }
}

/// The pseudonyms of one conversation: the same value always gets the same token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vault {
    conversation: String,
    /// Token -> original value.
    values: BTreeMap<String, String>,
    /// (kind, value) -> token.
    #[serde(skip)]
    tokens: BTreeMap<(String, String), String>,
    counters: BTreeMap<String, usize>,
}

impl Vault {
    pub fn new(conversation: impl Into<String>) -> Self {
        Self {
            conversation: conversation.into(),
            ..Self::default()
        }
    }

    pub fn conversation(&self) -> &str {
        &self.conversation
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The token for a value, minting `<KIND_N>` the first time it is seen.
    pub fn token_for(&mut self, kind: EntityKind, value: &str) -> String {
        let key = (kind.as_str().to_string(), value.to_string());
        if let Some(token) = self.tokens.get(&key) {
            return token.clone();
        }
        let counter = self.counters.entry(kind.as_str().to_string()).or_insert(0);
        *counter += 1;
        let token = format!("<{}_{}>", kind.as_str(), counter);
        self.values.insert(token.clone(), value.to_string());
        self.tokens.insert(key, token.clone());
        token
    }

    /// The values this vault holds, with their tokens.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(t, v)| (v.as_str(), t.as_str()))
    }

    /// Replaces every token of this vault in `text` by its value. Tokens this vault did not mint are left
    /// as they are, so a value never enters a text from another conversation's vault.
    pub fn rehydrate(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let candidate = &rest[open..];
            match candidate.find('>').map(|close| &candidate[..=close]) {
                Some(token) if self.values.contains_key(token) => {
                    out.push_str(&self.values[token]);
                    rest = &candidate[token.len()..];
                }
                _ => {
                    out.push('<');
                    rest = &candidate[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Encrypts the vault; the conversation id is authenticated with it.
    pub fn seal(&self, key: &VaultKey) -> Result<Vec<u8>> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let plaintext = serde_json::to_vec(self).map_err(|e| Error::Vault(e.to_string()))?;
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: self.conversation.as_bytes(),
                },
            )
            .map_err(|_| Error::Vault("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts a sealed vault of `conversation`; refuses a wrong key, another conversation's vault or
    /// any tampering.
    pub fn open(key: &VaultKey, conversation: &str, sealed: &[u8]) -> Result<Self> {
        if sealed.len() < 12 + 16 {
            return Err(Error::Vault("sealed vault is truncated".into()));
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
        let (nonce, ciphertext) = sealed.split_at(12);
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: conversation.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::Vault(
                    "cannot open the vault: wrong key, another conversation's vault, or tampered data".into(),
                )
            })?;
        let mut vault: Vault =
            serde_json::from_slice(&plaintext).map_err(|e| Error::Vault(e.to_string()))?;
        vault.tokens = vault
            .values
            .iter()
            .filter_map(|(token, value)| {
                let kind = token
                    .trim_start_matches('<')
                    .rsplit_once('_')?
                    .0
                    .to_string();
                Some(((kind, value.clone()), token.clone()))
            })
            .collect();
        Ok(vault)
    }
}

/// Applies `operator` to the detected `entities` (sorted, non-overlapping) of `text`.
/// `hash_key` is required for [`Operator::Hash`], `vault` for [`Operator::Pseudonymize`].
pub fn apply(
    text: &str,
    entities: &[Entity],
    operator: Operator,
    hash_key: Option<&HashKey>,
    mut vault: Option<&mut Vault>,
) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for e in entities {
        if e.start < cursor || e.end > text.len() {
            continue;
        }
        out.push_str(&text[cursor..e.start]);
        let value = &text[e.start..e.end];
        match operator {
            Operator::Redact => {
                out.push('[');
                out.push_str(e.kind.as_str());
                out.push(']');
            }
            Operator::Mask => out.push_str(&mask(e.kind, value)),
            Operator::Hash => {
                let key = hash_key.ok_or(Error::Key {
                    variable: HASH_KEY_ENV,
                    why: "is needed by the hash operator".into(),
                })?;
                out.push_str(&format!("[{}:{}]", e.kind.as_str(), key.tag(value)));
            }
            Operator::Pseudonymize => {
                let vault = vault.as_deref_mut().ok_or_else(|| {
                    Error::Vault("the pseudonymize operator needs a vault".into())
                })?;
                out.push_str(&vault.token_for(e.kind, value));
            }
        }
        cursor = e.end;
    }
    out.push_str(&text[cursor..]);
    Ok(out)
}

/// Masks letters and digits with `*`; numeric identifiers keep their last four digits.
fn mask(kind: EntityKind, value: &str) -> String {
    let keep_from = if kind.is_numeric_id() {
        let digits = value.bytes().filter(u8::is_ascii_digit).count();
        digits.saturating_sub(4)
    } else {
        usize::MAX
    };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > keep_from {
                    return c;
                }
                '*'
            } else if c.is_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_text::Span;

    fn entity(kind: EntityKind, text: &str, value: &str) -> Entity {
        let start = text.find(value).unwrap_or_default();
        Entity::new(kind, Span::new(start, start + value.len()), 0.9)
    }

    #[test]
    fn mask_keeps_last_four_digits_of_a_card() {
        assert_eq!(
            mask(EntityKind::CreditCard, "4111 1111 1111 1111"),
            "**** **** **** 1111"
        );
        assert_eq!(mask(EntityKind::Email, "ann@x.io"), "***@*.**");
    }

    #[test]
    fn pseudonyms_are_stable_and_rehydrate() {
        let text = "Mail ann@example.com or ann@example.com, not bob@example.com";
        let entities = vec![
            Entity::new(EntityKind::Email, Span::new(5, 20), 0.9),
            Entity::new(EntityKind::Email, Span::new(24, 39), 0.9),
            Entity::new(EntityKind::Email, Span::new(45, 60), 0.9),
        ];
        let mut vault = Vault::new("c1");
        let out = apply(
            text,
            &entities,
            Operator::Pseudonymize,
            None,
            Some(&mut vault),
        )
        .expect("apply");
        assert_eq!(out, "Mail <EMAIL_1> or <EMAIL_1>, not <EMAIL_2>");
        assert_eq!(vault.rehydrate(&out), text);
        assert_eq!(
            vault.rehydrate("Hi <PERSON_9> <EMAIL_1>"),
            "Hi <PERSON_9> ann@example.com"
        );
    }

    #[test]
    fn hash_needs_a_long_enough_key_and_is_keyed() {
        let err = HashKey::new(b"short").expect_err("too short");
        assert!(err.to_string().contains(HASH_KEY_ENV));
        let text = "call 07700 900123";
        let e = [entity(EntityKind::Phone, text, "07700 900123")];
        let a = HashKey::new(&[1; 32]).expect("key");
        let b = HashKey::new(&[2; 32]).expect("key");
        let ha = apply(text, &e, Operator::Hash, Some(&a), None).expect("hash");
        let hb = apply(text, &e, Operator::Hash, Some(&b), None).expect("hash");
        assert!(ha.starts_with("call [PHONE:") && ha != hb);
        assert_eq!(
            ha,
            apply(text, &e, Operator::Hash, Some(&a), None).expect("hash")
        );
    }

    #[test]
    fn vault_seals_and_refuses_tampering() {
        let key = VaultKey::new([7; 32]);
        let mut vault = Vault::new("conv-1");
        vault.token_for(EntityKind::Person, "Ann Smith");
        let sealed = vault.seal(&key).expect("seal");
        let opened = Vault::open(&key, "conv-1", &sealed).expect("open");
        assert_eq!(opened.rehydrate("<PERSON_1>"), "Ann Smith");
        let mut again = opened.clone();
        assert_eq!(
            again.token_for(EntityKind::Person, "Ann Smith"),
            "<PERSON_1>"
        );

        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(Vault::open(&key, "conv-1", &tampered).is_err());
        assert!(
            Vault::open(&key, "conv-2", &sealed).is_err(),
            "bound to its conversation"
        );
        assert!(Vault::open(&VaultKey::new([8; 32]), "conv-1", &sealed).is_err());
    }

    #[test]
    fn vault_key_errors_name_the_variable() {
        let err = VaultKey::from_hex("zz").expect_err("not hex");
        assert!(err.to_string().contains(VAULT_KEY_ENV));
        let err = VaultKey::from_hex("abcd").expect_err("too short");
        assert!(err.to_string().contains("32 bytes"));
    }
}
