//! The OAuth token pair the vault keeps, and its plaintext layout inside a ciphertext.

use std::fmt;

use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// One connection's OAuth tokens.
///
/// Both are stored together because they are only valid together: with refresh-token
/// rotation a new access token comes with a new refresh token, and keeping either without
/// the other loses the connection. `Debug` shows neither.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
}

impl TokenSet {
    pub fn new(access_token: SecretString, refresh_token: SecretString) -> Self {
        Self {
            access_token,
            refresh_token,
        }
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .finish()
    }
}

/// Layout version of the plaintext, so the layout can change without guessing.
const LAYOUT_V1: u8 = 1;

/// `[1][access length: u32 big-endian][access][refresh]`. Length-prefixed rather than
/// JSON: no escaping, no intermediate strings left unzeroed, and nothing to parse but two
/// slices. The buffer is zeroed when dropped.
pub(super) fn encode(tokens: &TokenSet) -> SecretSlice<u8> {
    let access = tokens.access_token.expose_secret().as_bytes();
    let refresh = tokens.refresh_token.expose_secret().as_bytes();
    // Sized up front so the buffer never reallocates and leaves a stray copy behind.
    let mut plain = Vec::with_capacity(1 + 4 + access.len() + refresh.len());
    plain.push(LAYOUT_V1);
    // A token longer than 4 GiB cannot arrive in an HTTP response we accept.
    plain.extend_from_slice(
        &u32::try_from(access.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    plain.extend_from_slice(access);
    plain.extend_from_slice(refresh);
    plain.into()
}

/// The token set in a decrypted plaintext, or `None` if it is not a layout we wrote.
pub(super) fn decode(plain: &[u8]) -> Option<TokenSet> {
    let (&layout, rest) = plain.split_first()?;
    if layout != LAYOUT_V1 || rest.len() < 4 {
        return None;
    }
    let (length, rest) = rest.split_at(4);
    let length = usize::try_from(u32::from_be_bytes(length.try_into().ok()?)).ok()?;
    if length > rest.len() {
        return None;
    }
    let (access, refresh) = rest.split_at(length);
    Some(TokenSet {
        access_token: SecretString::from(std::str::from_utf8(access).ok()?.to_owned()),
        refresh_token: SecretString::from(std::str::from_utf8(refresh).ok()?.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(access: &str, refresh: &str) -> TokenSet {
        TokenSet::new(SecretString::from(access), SecretString::from(refresh))
    }

    #[test]
    fn a_token_set_survives_encoding_including_empty_and_unicode_tokens() {
        for (access, refresh) in [("eyJhbGciOi.x.y", "9f8e7d"), ("", "r"), ("ä€", "")] {
            let plain = encode(&tokens(access, refresh));
            let back = decode(plain.expose_secret()).unwrap();
            assert_eq!(back.access_token.expose_secret(), access);
            assert_eq!(back.refresh_token.expose_secret(), refresh);
        }
    }

    #[test]
    fn foreign_or_truncated_plaintext_is_refused() {
        let plain = encode(&tokens("access", "refresh"));
        let bytes = plain.expose_secret();
        assert!(decode(&[]).is_none());
        assert!(decode(&bytes[..3]).is_none());
        assert!(decode(&bytes[..7]).is_none());
        let mut other_layout = bytes.to_vec();
        other_layout[0] = 2;
        assert!(decode(&other_layout).is_none());
    }

    #[test]
    fn debug_shows_no_token() {
        let debug = format!("{:?}", tokens("access-secret", "refresh-secret"));
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
