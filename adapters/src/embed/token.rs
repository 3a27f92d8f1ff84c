//! Embed tokens: HS256 JWTs (the seed's scheme) carrying the job, the panel and an id that
//! names the `EmbedLink` stream recording who asked for it.
//!
//! Only HS256 with our key verifies: `alg: none`, RS/ES algorithms (the RS/HS confusion
//! attack) and any other issuer or audience are refused by the library before the claims are
//! read. `exp` is checked here against the caller's clock rather than the library's wall
//! clock, so expiry is testable and agrees with the instant the rest of the request uses.

use chrono::{DateTime, Duration, Utc};
use domain::{JobId, PanelType};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Shortest accepted signing secret: 256 bits of printable key material, the HS256 key size.
pub const MIN_SECRET_LEN: usize = 32;

/// Who issued the token and for what; anything else is not one of our embed tokens (a
/// Jobber token or another service's, signed with a reused secret, does not open a panel).
const ISSUER: &str = "unified-crm";
const AUDIENCE: &str = "unified-crm/embed";

/// Longest token read: ours are ~300 bytes; a megabyte of base64 is not worth decoding.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    /// The job's id (`jobnimbus:<jnid>`).
    sub: String,
    /// The link's id: the `EmbedLink` stream that records its issue.
    jti: Uuid,
    panel: PanelType,
    iat: i64,
    exp: i64,
}

/// A link about to be issued: what its event records and its token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedGrant {
    pub link_id: Uuid,
    pub job_id: JobId,
    pub panel: PanelType,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a valid token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedSession {
    pub link_id: Uuid,
    pub job_id: JobId,
    pub panel: PanelType,
    pub expires_at: DateTime<Utc>,
}

/// Why a token opens nothing. Deliberately coarse: a caller learns whether to ask for a new
/// link, never which check a forgery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the embed link has expired; ask for a new one")]
    Expired,
    #[error("the embed token is not valid")]
    Invalid,
}

/// Signs and verifies embed tokens with one secret.
#[derive(Clone)]
pub struct EmbedSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for EmbedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl EmbedSigner {
    /// `secret` is at least [`MIN_SECRET_LEN`] bytes (checked by configuration); `ttl` how
    /// long each link opens its panel.
    pub fn new(secret: &SecretString, ttl: std::time::Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud", "jti"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl: Duration::from_std(ttl).unwrap_or_else(|_| Duration::minutes(30)),
        }
    }

    /// How long a link stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new link to `panel` of `job_id`, issued at `now` and valid for the configured TTL.
    pub fn grant(&self, job_id: JobId, panel: PanelType, now: DateTime<Utc>) -> EmbedGrant {
        // Whole seconds, as the token carries them, so the event and the token agree.
        let issued_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        EmbedGrant {
            link_id: Uuid::new_v4(),
            job_id,
            panel,
            issued_at,
            expires_at: issued_at + self.ttl,
        }
    }

    /// The token of `grant`.
    pub fn sign(&self, grant: &EmbedGrant) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: grant.job_id.to_string(),
            jti: grant.link_id,
            panel: grant.panel,
            iat: grant.issued_at.timestamp(),
            exp: grant.expires_at.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// What `token` opens at `now`: our signature, algorithm, issuer and audience, and not
    /// yet expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<EmbedSession, TokenRejection> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenRejection::Invalid);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenRejection::Invalid)?
            .claims;
        let job_id: JobId = claims.sub.parse().map_err(|_| TokenRejection::Invalid)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(TokenRejection::Invalid)?;
        if expires_at <= now {
            return Err(TokenRejection::Expired);
        }
        Ok(EmbedSession {
            link_id: claims.jti,
            job_id,
            panel: claims.panel,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::{json, Value};

    use super::*;

    const SECRET: &str = "embed-secret-0123456789abcdef0123456789";

    fn signer(secret: &str) -> EmbedSigner {
        EmbedSigner::new(
            &SecretString::from(secret),
            std::time::Duration::from_secs(30 * 60),
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn job() -> JobId {
        JobId::jobnimbus("j1abc").unwrap()
    }

    fn issued(panel: PanelType) -> (EmbedGrant, String) {
        let signer = signer(SECRET);
        let grant = signer.grant(job(), panel, now());
        let token = signer.sign(&grant).unwrap();
        (grant, token)
    }

    fn part(token: &str, index: usize) -> Value {
        let segment = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn a_valid_token_opens_its_job_and_panel_until_it_expires() {
        let (grant, token) = issued(PanelType::QcPanel);

        let session = signer(SECRET).verify(&token, now()).unwrap();

        assert_eq!(grant.expires_at - grant.issued_at, Duration::minutes(30));
        assert_eq!(
            session,
            EmbedSession {
                link_id: grant.link_id,
                job_id: job(),
                panel: PanelType::QcPanel,
                expires_at: grant.expires_at,
            }
        );
        let last_second = grant.expires_at - Duration::seconds(1);
        assert!(signer(SECRET).verify(&token, last_second).is_ok());
    }

    #[test]
    fn a_token_at_or_after_its_expiry_is_expired() {
        let (grant, token) = issued(PanelType::RiskView);
        for at in [grant.expires_at, grant.expires_at + Duration::days(1)] {
            assert_eq!(
                signer(SECRET).verify(&token, at),
                Err(TokenRejection::Expired)
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = signer("another-secret-0123456789abcdef012345");
        let token = other
            .sign(&other.grant(job(), PanelType::QcPanel, now()))
            .unwrap();
        assert_eq!(
            signer(SECRET).verify(&token, now()),
            Err(TokenRejection::Invalid)
        );
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let (_, token) = issued(PanelType::QcPanel);
        let mut claims = part(&token, 1);
        claims["panel"] = json!("RISK_VIEW");
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], encode(&claims), parts[2]);
        assert_eq!(
            signer(SECRET).verify(&tampered, now()),
            Err(TokenRejection::Invalid)
        );
    }

    #[test]
    fn unsigned_and_other_algorithm_tokens_are_invalid() {
        let (_, token) = issued(PanelType::QcPanel);
        let claims = encode(&part(&token, 1));
        let signature = token.split('.').nth(2).unwrap();
        let forgeries = [
            // alg none, with and without a signature.
            format!(
                "{}.{claims}.",
                encode(&json!({"alg": "none", "typ": "JWT"}))
            ),
            format!("{}.{claims}.{signature}", encode(&json!({"alg": "none"}))),
            // RS/HS confusion: an RS256 header over our claims.
            format!("{}.{claims}.{signature}", encode(&json!({"alg": "RS256"}))),
            format!("{}.{claims}.{signature}", encode(&json!({"alg": "HS512"}))),
        ];
        for forged in forgeries {
            assert_eq!(
                signer(SECRET).verify(&forged, now()),
                Err(TokenRejection::Invalid),
                "{forged}"
            );
        }
    }

    #[test]
    fn tokens_of_another_issuer_or_audience_or_garbage_are_invalid() {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let base = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "jobnimbus:j1abc",
            "jti": Uuid::nil(), "panel": "QC_PANEL",
            "iat": now().timestamp(), "exp": now().timestamp() + 60,
        });
        let with = |field: &str, value: Value| {
            let mut claims = base.clone();
            claims[field] = value;
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let valid = with("iss", json!(ISSUER));
        assert!(signer(SECRET).verify(&valid, now()).is_ok());
        for bad in [
            with("iss", json!("someone-else")),
            with("aud", json!("jobber")),
            with("sub", json!("not-a-job-id")),
            with("panel", json!("ADMIN")),
            "garbage".to_owned(),
            String::new(),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                signer(SECRET).verify(&bad, now()),
                Err(TokenRejection::Invalid),
                "{bad}"
            );
        }
    }
}
