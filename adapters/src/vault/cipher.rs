//! AES-256-GCM sealing of one secret, bound to the row it is stored in.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretSlice;

use super::Keyring;

/// GCM's standard 96-bit nonce.
pub(super) const NONCE_BYTES: usize = 12;

/// A ciphertext as stored: which key sealed it, its nonce, and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CipherError {
    /// The keyring does not list the key that sealed it.
    UnknownKey(String),
    /// Wrong key, tampered ciphertext, or a ciphertext moved to another row or version.
    Undecryptable,
    /// AES-GCM refuses only inputs of gigabytes; a token set never comes near.
    Encrypt,
}

/// Seals `plaintext` with the active key and a fresh random nonce. A nonce must never repeat
/// under one key; 96 random bits make a repeat negligible for far more writes than a vault
/// will ever see.
pub(super) fn seal(
    keyring: &Keyring,
    connection_id: &str,
    version: u64,
    plaintext: &[u8],
) -> Result<Sealed, CipherError> {
    let (key_id, cipher) = keyring.active();
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let aad = associated_data(connection_id, version);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CipherError::Encrypt)?;
    Ok(Sealed {
        key_id: key_id.to_string(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens a sealed secret stored for `connection_id` at `version`; fails unless both match
/// what it was sealed for.
pub(super) fn open(
    keyring: &Keyring,
    connection_id: &str,
    version: u64,
    sealed: &Sealed,
) -> Result<SecretSlice<u8>, CipherError> {
    let cipher: &Aes256Gcm = keyring
        .get(&sealed.key_id)
        .ok_or_else(|| CipherError::UnknownKey(sealed.key_id.clone()))?;
    if sealed.nonce.len() != NONCE_BYTES {
        return Err(CipherError::Undecryptable);
    }
    let aad = associated_data(connection_id, version);
    cipher
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map(SecretSlice::from)
        .map_err(|_| CipherError::Undecryptable)
}

/// Authenticated but not encrypted: the row the ciphertext belongs to. A ciphertext copied
/// onto another connection, or an old version written back over a new one, fails to open
/// instead of handing one user's tokens to another. The NUL separators keep `("a", 12)` and
/// `("a1", 2)` apart; connection ids never contain NUL.
fn associated_data(connection_id: &str, version: u64) -> Vec<u8> {
    format!("unified-crm/connection_secrets/v1\0{connection_id}\0{version}").into_bytes()
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret, SecretString};

    use super::*;

    fn keyring(text: &str) -> Keyring {
        Keyring::parse(&SecretString::from(text)).unwrap()
    }

    const K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

    #[test]
    fn a_sealed_secret_opens_with_its_row_and_hides_the_plaintext() {
        let keys = keyring(K1);
        let sealed = seal(&keys, "jobber:user:42", 3, b"plain token text").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert!(!sealed
            .ciphertext
            .windows(5)
            .any(|w| w == b"plain" || w == b"token"));
        let opened = open(&keys, "jobber:user:42", 3, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), b"plain token text");
    }

    #[test]
    fn a_secret_moved_to_another_connection_or_version_does_not_open() {
        let keys = keyring(K1);
        let sealed = seal(&keys, "jobber:user:42", 3, b"secret").unwrap();
        for (connection, version) in [("jobber:user:43", 3), ("jobber:user:42", 2)] {
            assert_eq!(
                open(&keys, connection, version, &sealed).unwrap_err(),
                CipherError::Undecryptable
            );
        }
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let keys = keyring(K1);
        let mut sealed = seal(&keys, "c", 1, b"secret").unwrap();
        sealed.ciphertext[0] ^= 1;
        assert_eq!(
            open(&keys, "c", 1, &sealed).unwrap_err(),
            CipherError::Undecryptable
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let keys = keyring(K1);
        let a = seal(&keys, "c", 1, b"same").unwrap();
        let b = seal(&keys, "c", 1, b"same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn any_listed_key_opens_and_an_unlisted_one_is_named() {
        let old = keyring(K1);
        let sealed = seal(&old, "c", 1, b"secret").unwrap();
        let rotated = keyring(&format!("{K2},{K1}"));
        assert_eq!(
            open(&rotated, "c", 1, &sealed).unwrap().expose_secret(),
            b"secret"
        );
        assert_eq!(seal(&rotated, "c", 1, b"x").unwrap().key_id, "k2");
        let dropped = keyring(K2);
        assert_eq!(
            open(&dropped, "c", 1, &sealed).unwrap_err(),
            CipherError::UnknownKey("k1".into())
        );
    }
}
