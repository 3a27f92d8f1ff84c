//! Jobber webhooks: signature check and payload (reference §2.8).
//!
//! Jobber signs the raw body: `X-Jobber-Hmac-SHA256` is base64(HMAC-SHA256(client secret,
//! body)). The bytes must be hashed as received; re-serialising the parsed JSON changes them
//! (the vendor template's bug). Payloads carry ids only, and apps created before Dec 2023 get
//! the misspelt `occuredAt`, so both spellings are read.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// The header Jobber puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Jobber-Hmac-SHA256";

/// Whether `signature` (the header's base64 value) is Jobber's HMAC of `body` under our
/// client secret. Compared in constant time by the MAC itself.
pub fn signature_is_valid(client_secret: &SecretString, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Some(mut mac) = keyed(client_secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// base64(HMAC-SHA256(secret, body)): what Jobber sends; tests sign with it.
pub fn sign(client_secret: &SecretString, body: &[u8]) -> Option<String> {
    let mut mac = keyed(client_secret)?;
    mac.update(body);
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

/// HMAC accepts keys of any length, so this is `None` only in theory.
fn keyed(client_secret: &SecretString) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(client_secret.expose_secret().as_bytes()).ok()
}

/// One webhook event: a topic and the ids it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub topic: String,
    pub app_id: Option<String>,
    /// EncodedId of the account.
    pub account_id: String,
    pub item_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
#[error("not a Jobber webhook payload: {0}")]
pub struct InvalidPayload(String);

/// Parses `{"data":{"webHookEvent":{topic, appId, accountId, itemId, occurredAt}}}`.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, InvalidPayload> {
    #[derive(Deserialize)]
    struct Envelope {
        data: Data,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        web_hook_event: Event,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Event {
        topic: String,
        app_id: Option<String>,
        account_id: String,
        item_id: Option<String>,
        #[serde(alias = "occuredAt")]
        occurred_at: DateTime<Utc>,
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| InvalidPayload(e.to_string()))?;
    let event = envelope.data.web_hook_event;
    Ok(WebhookEvent {
        topic: event.topic,
        app_id: event.app_id,
        account_id: event.account_id,
        item_id: event.item_id,
        occurred_at: event.occurred_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_over_the_raw_bytes_verifies_and_any_change_fails() {
        let secret = SecretString::from("client-secret".to_string());
        let body = br#"{"data":{"webHookEvent":{"topic":"APP_DISCONNECT"}}}"#;
        let signature = sign(&secret, body).unwrap();
        assert!(signature_is_valid(&secret, body, &signature));
        // Same JSON, other bytes: a re-serialised body must not verify.
        let spaced = br#"{"data": {"webHookEvent": {"topic": "APP_DISCONNECT"}}}"#;
        assert!(!signature_is_valid(&secret, spaced, &signature));
        let other = SecretString::from("other".to_string());
        assert!(!signature_is_valid(&other, body, &signature));
        assert!(!signature_is_valid(&secret, body, "not base64!"));
    }

    #[test]
    fn both_spellings_of_occurred_at_are_read() {
        for key in ["occurredAt", "occuredAt"] {
            let body = format!(
                r#"{{"data":{{"webHookEvent":{{"topic":"APP_DISCONNECT","appId":"a","accountId":"QQ==","itemId":"QQ==","{key}":"2024-04-09T21:04:31Z"}}}}}}"#
            );
            let event = parse(body.as_bytes()).unwrap();
            assert_eq!(event.topic, "APP_DISCONNECT");
            assert_eq!(event.account_id, "QQ==");
        }
        assert!(parse(b"{}").is_err());
    }
}
