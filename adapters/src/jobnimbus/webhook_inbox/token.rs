//! The shared secret JobNimbus automations put in the webhook URL (they cannot sign).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::WebhookInbox;

/// Shortest secret accepted: 32 characters of a random token is far past guessing.
pub const MIN_SECRET_LEN: usize = 32;

/// The expected `token` query parameter.
///
/// Invariant: never printed (`Debug` is redacted) and compared in constant time.
#[derive(Clone)]
pub struct WebhookToken {
    /// SHA-256 of the secret: comparing digests of equal length leaks neither the secret's
    /// bytes nor its length through timing.
    digest: [u8; 32],
}

impl WebhookToken {
    pub fn new(secret: &SecretString) -> Self {
        Self {
            digest: Sha256::digest(secret.expose_secret().as_bytes()).into(),
        }
    }

    /// True when `presented` is the secret.
    pub fn matches(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&self.digest))
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken(<redacted>)")
    }
}

/// What the webhook endpoint needs: the token to check and the inbox to store into.
#[derive(Clone, Debug)]
pub struct WebhookReceiver {
    pub token: WebhookToken,
    pub inbox: WebhookInbox,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-hook";

    #[test]
    fn only_the_exact_secret_matches() {
        let token = WebhookToken::new(&SecretString::from(SECRET));
        let prefix = &SECRET[..SECRET.len() - 1];
        let longer = format!("{SECRET}x");

        assert!(token.matches(Some(SECRET)));
        for wrong in [
            None,
            Some(""),
            Some(prefix),
            Some(longer.as_str()),
            Some("nope"),
        ] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_debug_form_shows_nothing_of_the_secret() {
        let token = WebhookToken::new(&SecretString::from(SECRET));
        assert_eq!(format!("{token:?}"), "WebhookToken(<redacted>)");
    }
}
