//! Access tokens: HS256 JWTs with the claims one decoded public Jobber token showed
//! (reference §2.1). The signature is checked here; `exp` is checked by the caller against the
//! sandbox clock, because the library would compare it with the wall clock.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) app_id: String,
    pub(crate) user_id: u64,
    pub(crate) account_id: u64,
}

pub(crate) struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Signer {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub(crate) fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a token this sandbox signed (any other algorithm, key or shape is `None`).
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            exp: 2_000,
            iat: 1_000,
            app_id: "app".into(),
            user_id: 7,
            account_id: 9,
        }
    }

    #[test]
    fn a_signed_token_verifies_even_long_after_its_exp_on_the_wall_clock() {
        let signer = Signer::new(b"k");
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(signer.verify(&token), Some(claims()));
    }

    #[test]
    fn a_token_signed_with_another_key_or_tampered_with_does_not_verify() {
        let token = Signer::new(b"other").sign(&claims()).unwrap();
        assert_eq!(Signer::new(b"k").verify(&token), None);
        let mut tampered = Signer::new(b"k").sign(&claims()).unwrap();
        tampered.push('x');
        assert_eq!(Signer::new(b"k").verify(&tampered), None);
    }
}
