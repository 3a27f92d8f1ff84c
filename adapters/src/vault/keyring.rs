//! The encryption keys of the vault, from `TOKEN_ENCRYPTION_KEY`.

use std::fmt;

use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// The environment variable the keyring is read from.
pub const TOKEN_ENCRYPTION_KEY: &str = "TOKEN_ENCRYPTION_KEY";

/// AES-256 keys are 32 bytes.
const KEY_BYTES: usize = 32;

/// The vault's AES-256-GCM keys, each under a key id.
///
/// Invariant: at least one key, ids unique. The first key is the active one: every new
/// ciphertext uses it, and any listed key decrypts what it once encrypted. Rotation is
/// therefore: put a new key first, keep the old one listed, run `rewrap_all`, then drop the
/// old key.
pub struct Keyring {
    /// Never empty; `keys[0]` is active.
    keys: Vec<NamedKey>,
}

struct NamedKey {
    id: String,
    cipher: Aes256Gcm,
}

/// Why `TOKEN_ENCRYPTION_KEY` could not be read. Never holds key material: an entry is named
/// by its place in the list, not by its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "{TOKEN_ENCRYPTION_KEY} is empty: expected `<key id>:<base64 of 32 bytes>`, \
         several separated by commas, the active key first"
    )]
    Empty,
    /// `entry` counts from 1.
    #[error("{TOKEN_ENCRYPTION_KEY}: entry {entry} {problem}")]
    Entry { entry: usize, problem: EntryProblem },
}

/// What is wrong with one `<key id>:<base64>` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("is not of the form `<key id>:<base64 key>`")]
    NotKeyIdColonKey,
    #[error("has a key id that is not 1 to 32 letters, digits, `-`, `_` or `.`")]
    BadKeyId,
    #[error("uses a key id that an earlier entry already uses")]
    DuplicateKeyId,
    // The base64 crate's own message names the offending byte: a piece of the key.
    #[error("has a key that is not valid standard base64")]
    NotBase64,
    #[error("has a key of {0} bytes; AES-256 needs 32")]
    WrongLength(usize),
}

impl Keyring {
    /// Parses `TOKEN_ENCRYPTION_KEY`: `kid:base64(32 bytes)[,kid:base64(32 bytes)…]`,
    /// the active key first. Spaces around entries are ignored.
    pub fn parse(value: &SecretString) -> Result<Self, KeyringError> {
        let text = value.expose_secret().trim();
        if text.is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut keys: Vec<NamedKey> = Vec::new();
        for (index, entry) in text.split(',').enumerate() {
            let fail = |problem| KeyringError::Entry {
                entry: index + 1,
                problem,
            };
            let (id, encoded) = entry
                .trim()
                .split_once(':')
                .ok_or(fail(EntryProblem::NotKeyIdColonKey))?;
            if !is_key_id(id) {
                return Err(fail(EntryProblem::BadKeyId));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(fail(EntryProblem::DuplicateKeyId));
            }
            let bytes: SecretSlice<u8> = STANDARD
                .decode(encoded.trim())
                .map_err(|_| fail(EntryProblem::NotBase64))?
                .into();
            let cipher = Aes256Gcm::new_from_slice(bytes.expose_secret())
                .map_err(|_| fail(EntryProblem::WrongLength(bytes.expose_secret().len())))?;
            keys.push(NamedKey {
                id: id.to_string(),
                cipher,
            });
        }
        Ok(Self { keys })
    }

    /// A fresh random key with id `demo`. Tokens stored under it are lost with the process,
    /// which is what a demo wants and what production must never do.
    pub fn generate_for_demo() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let cipher = Aes256Gcm::new(&bytes.into());
        bytes.zeroize();
        Self {
            keys: vec![NamedKey {
                id: "demo".to_string(),
                cipher,
            }],
        }
    }

    /// The id of the key new ciphertexts use.
    pub fn active_key_id(&self) -> &str {
        self.active().0
    }

    /// Every listed key id, the active one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub(super) fn active(&self) -> (&str, &Aes256Gcm) {
        // `parse` and `generate_for_demo` never build an empty keyring.
        let key = &self.keys[0];
        (&key.id, &key.cipher)
    }

    pub(super) fn get(&self, key_id: &str) -> Option<&Aes256Gcm> {
        self.keys.iter().find(|k| k.id == key_id).map(|k| &k.cipher)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn is_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> String {
        STANDARD.encode([fill; KEY_BYTES])
    }

    fn parse(text: &str) -> Result<Keyring, KeyringError> {
        Keyring::parse(&SecretString::from(text))
    }

    #[test]
    fn the_first_entry_is_the_active_key_and_every_entry_is_listed() {
        let keyring = parse(&format!(" new:{} , old:{}", key(2), key(1))).unwrap();
        assert_eq!(keyring.active_key_id(), "new");
        assert_eq!(keyring.key_ids().collect::<Vec<_>>(), ["new", "old"]);
        assert!(keyring.get("old").is_some());
        assert!(keyring.get("gone").is_none());
    }

    #[test]
    fn each_malformed_entry_is_named_by_its_place_and_problem() {
        let short = STANDARD.encode([7u8; 16]);
        let cases = [
            (
                format!("k1:{}", key(1)).replace(':', ""),
                1,
                EntryProblem::NotKeyIdColonKey,
            ),
            (
                format!("k1:{},:{}", key(1), key(2)),
                2,
                EntryProblem::BadKeyId,
            ),
            (format!("k 1:{}", key(1)), 1, EntryProblem::BadKeyId),
            (
                format!("k1:{},k1:{}", key(1), key(2)),
                2,
                EntryProblem::DuplicateKeyId,
            ),
            (
                format!("k1:{},k2:{},k3:not*base64", key(1), key(2)),
                3,
                EntryProblem::NotBase64,
            ),
            (format!("k1:{short}"), 1, EntryProblem::WrongLength(16)),
        ];
        for (text, entry, problem) in cases {
            assert_eq!(
                parse(&text).unwrap_err(),
                KeyringError::Entry { entry, problem },
                "{text}"
            );
        }
        assert_eq!(parse("  ").unwrap_err(), KeyringError::Empty);
    }

    #[test]
    fn parse_errors_name_the_variable_but_never_the_key() {
        let secret_looking = "k1:c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let message = parse(secret_looking).unwrap_err().to_string();
        assert!(message.contains(TOKEN_ENCRYPTION_KEY), "{message}");
        assert!(message.contains("entry 1"), "{message}");
        assert!(!message.contains("c2VjcmV0"), "{message}");
        let missing_colon = parse(&key(9)).unwrap_err().to_string();
        assert!(!missing_colon.contains(&key(9)), "{missing_colon}");
    }

    #[test]
    fn debug_lists_key_ids_and_no_key_bytes() {
        let keyring = parse(&format!("k1:{}", key(0xAB))).unwrap();
        let debug = format!("{keyring:?}");
        assert!(debug.contains("k1"), "{debug}");
        assert!(!debug.contains(&key(0xAB)), "{debug}");
        assert!(!debug.to_lowercase().contains("abab"), "{debug}");
    }

    #[test]
    fn demo_keyrings_are_random_and_active() {
        let a = Keyring::generate_for_demo();
        assert_eq!(a.active_key_id(), "demo");
        let b = Keyring::generate_for_demo();
        let sealed = crate::vault::cipher::seal(&a, "c", 1, b"x").unwrap();
        assert!(crate::vault::cipher::open(&b, "c", 1, &sealed).is_err());
    }
}
