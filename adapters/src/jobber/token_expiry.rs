//! When a Jobber access token expires.
//!
//! Jobber's token responses carry no `expires_in` (an integration that waits for one dies
//! every hour: reference §3). The access token is a JWT whose `exp` claim is the expiry, so
//! we read it. We cannot verify the signature (Jobber signs with its own key) and need not:
//! the value only decides when *we* refresh; Jobber still judges the token itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};

/// The `exp` claim of a JWT access token, or None when the token is not a JWT with one.
pub fn access_token_expiry(access_token: &str) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: i64,
    }
    let mut parts = access_token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    // Some encoders pad; the JWT spec says they must not, so accept both.
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Utc.timestamp_opt(claims.exp, 0).single()
}

/// The `expires_at` string of Jobber's refresh response, e.g. `2024-04-09 21:04:31 UTC`.
pub fn parse_expires_at(value: &str) -> Option<DateTime<Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(
        value.trim().trim_end_matches("UTC").trim_end(),
        "%Y-%m-%d %H:%M:%S",
    )
    .ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.signature",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn the_expiry_is_the_exp_claim_of_the_access_token() {
        let token = jwt(r#"{"exp":1712696671,"account_id":7,"user_id":3}"#);
        assert_eq!(
            access_token_expiry(&token),
            Utc.timestamp_opt(1_712_696_671, 0).single()
        );
    }

    #[test]
    fn tokens_that_are_not_jwts_with_an_exp_have_no_known_expiry() {
        for token in [
            "opaque-token",
            "a.b",
            "a.b.c.d",
            &jwt(r#"{"account_id":7}"#),
            &jwt(r#"{"exp":"tomorrow"}"#),
            "x.!!!.y",
        ] {
            assert_eq!(access_token_expiry(token), None, "{token}");
        }
    }

    #[test]
    fn refresh_responses_expires_at_parses_as_utc() {
        assert_eq!(
            parse_expires_at("2024-04-09 21:04:31 UTC"),
            Utc.with_ymd_and_hms(2024, 4, 9, 21, 4, 31).single()
        );
        assert_eq!(parse_expires_at("next tuesday"), None);
    }
}
