//! Jobber's OAuth 2.0 authorization-code grant, through the `oauth2` crate.
//!
//! Jobber's quirks (reference §2.1): the client id and secret travel in the form body; the
//! token response has no `token_type` and no `expires_in` (so the stock response type of
//! `oauth2` would refuse it), the expiry is the access token's JWT `exp`; a refresh rotates
//! the refresh token and kills the old one at once, and answers `expires_at` as a string.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, HttpClientError, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::token_expiry::{access_token_expiry, parse_expires_at};
use super::JobberError;

/// Where our Jobber app lives and who it is.
#[derive(Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `…/api/oauth/authorize`
    pub authorize_url: String,
    /// `…/api/oauth/token` (`JOBBER_TOKENS_URL`)
    pub token_url: String,
    /// Our callback, exactly as registered with the app (`JOBBER_REDIRECT_URI`).
    pub redirect_uri: String,
    /// Whole-request timeout of a token call.
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// A token pair Jobber issued, with the access token's expiry.
pub struct IssuedTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub access_expires_at: DateTime<Utc>,
    /// Jobber's `warning` (rotation off, reused refresh token…), worth logging.
    pub warning: Option<String>,
}

/// Used when a token carries no readable expiry: Jobber's documented default lifetime.
const DEFAULT_ACCESS_TOKEN_LIFETIME: ChronoDuration = ChronoDuration::minutes(60);

type JobberOAuthClient = oauth2::Client<
    BasicErrorResponse,
    JobberTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Talks to Jobber's authorize and token endpoints.
#[derive(Clone)]
pub struct OAuthClient {
    oauth: JobberOAuthClient,
    http: reqwest::Client,
    /// Also the key Jobber signs webhooks with.
    client_secret: SecretString,
}

impl OAuthClient {
    pub fn new(config: OAuthConfig) -> Result<Self, JobberError> {
        let url_error = |what: &str| {
            let what = what.to_string();
            move |e: oauth2::url::ParseError| JobberError::Config(format!("{what}: {e}"))
        };
        let client_secret = config.client_secret.clone();
        let oauth = oauth2::Client::new(ClientId::new(config.client_id))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_string(),
            ))
            .set_auth_uri(AuthUrl::new(config.authorize_url).map_err(url_error("authorize URL"))?)
            .set_token_uri(TokenUrl::new(config.token_url).map_err(url_error("token URL"))?)
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_uri).map_err(url_error("redirect URI"))?,
            )
            .set_auth_type(AuthType::RequestBody);
        // Never follow redirects from the token endpoint: a redirect there is either a
        // misconfiguration or an attempt to send our secret elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .build()
            .map_err(|e| JobberError::Config(e.to_string()))?;
        Ok(Self {
            oauth,
            http,
            client_secret,
        })
    }

    /// Our app's client secret: Jobber signs webhooks with it.
    pub fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }

    /// The URL that sends the user to Jobber's consent page; `state` comes back on the
    /// callback. Scopes are fixed per app in Jobber's Developer Center, so none are sent.
    pub fn authorize_url(&self, state: &str) -> String {
        let state = state.to_string();
        let (url, _) = self.oauth.authorize_url(|| CsrfToken::new(state)).url();
        url.to_string()
    }

    /// Exchanges the callback's code for the first token pair.
    pub async fn exchange_code(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, JobberError> {
        let response = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        issued(response, None, now)
    }

    /// Trades the refresh token for a new pair. With rotation on, the old refresh token is
    /// dead the moment Jobber answers, so the caller must store the new pair before anything
    /// else can fail.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, JobberError> {
        let response = self
            .oauth
            .exchange_refresh_token(&RefreshToken::new(
                refresh_token.expose_secret().to_string(),
            ))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        issued(response, Some(refresh_token), now)
    }
}

fn issued(
    response: JobberTokenResponse,
    previous_refresh_token: Option<&SecretString>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, JobberError> {
    let access_token = response.access_token.secret().to_string();
    let access_expires_at = access_token_expiry(&access_token)
        .or_else(|| response.expires_at.as_deref().and_then(parse_expires_at))
        .unwrap_or(now + DEFAULT_ACCESS_TOKEN_LIFETIME);
    // With rotation off Jobber repeats the refresh token; a response without one keeps
    // the one we hold. A code exchange must always bring one.
    let refresh_token = match (&response.refresh_token, previous_refresh_token) {
        (Some(token), _) => SecretString::from(token.secret().to_string()),
        (None, Some(previous)) => previous.clone(),
        (None, None) => {
            return Err(JobberError::Protocol(
                "token response without a refresh token".into(),
            ))
        }
    };
    Ok(IssuedTokens {
        access_token: SecretString::from(access_token),
        refresh_token,
        access_expires_at,
        warning: response.warning,
    })
}

/// Sorts a failed token call into what the caller can do about it.
fn classify(
    error: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> JobberError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let detail = match response.error_description() {
                Some(description) => format!("{}: {description}", response.error()),
                None => response.error().to_string(),
            };
            match response.error() {
                BasicErrorResponseType::InvalidGrant => JobberError::GrantRejected(detail),
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => JobberError::InvalidClient,
                BasicErrorResponseType::Extension(code)
                    if code == "server_error" || code == "temporarily_unavailable" =>
                {
                    JobberError::Unavailable(detail)
                }
                _ => JobberError::Protocol(detail),
            }
        }
        // The message of a transport error names the token URL at most, never the body.
        RequestTokenError::Request(error) => JobberError::Unavailable(error.to_string()),
        // An unreadable answer is most often an HTML error page of a proxy or a 5xx. The
        // body is not quoted: on a 200 it could hold tokens.
        RequestTokenError::Parse(_, _) => {
            JobberError::Unavailable("unreadable answer from the token endpoint".into())
        }
        RequestTokenError::Other(message) => JobberError::Protocol(message),
    }
}

/// Jobber's token response: `access_token` and `refresh_token`, plus `expires_at` and
/// `warning` on refresh. No `token_type`: bearer is implied.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct JobberTokenResponse {
    access_token: AccessToken,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    warning: Option<String>,
    #[serde(skip, default = "bearer")]
    token_type: BasicTokenType,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

impl TokenResponse for JobberTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    /// Never sent by Jobber: the expiry is read from the JWT instead.
    fn expires_in(&self) -> Option<std::time::Duration> {
        None
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        OAuthClient::new(OAuthConfig {
            client_id: "app-123".into(),
            client_secret: SecretString::from("shh".to_string()),
            authorize_url: "https://api.getjobber.com/api/oauth/authorize".into(),
            token_url: "https://api.getjobber.com/api/oauth/token".into(),
            redirect_uri: "http://localhost:5000/auth/jobber/callback".into(),
            timeout: std::time::Duration::from_secs(5),
        })
        .unwrap()
    }

    #[test]
    fn the_authorize_url_carries_the_code_grant_client_redirect_and_state() {
        let url = reqwest::Url::parse(&client().authorize_url("st-1")).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/api/oauth/authorize");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "app-123");
        assert_eq!(
            query["redirect_uri"],
            "http://localhost:5000/auth/jobber/callback"
        );
        assert_eq!(query["state"], "st-1");
        assert!(!query.contains_key("client_secret"));
    }

    #[test]
    fn a_code_exchange_answer_without_token_type_or_expires_in_is_accepted() {
        let response: JobberTokenResponse =
            serde_json::from_str(r#"{"access_token":"a.b.c","refresh_token":"f00d"}"#).unwrap();
        let now = Utc::now();
        let tokens = issued(response, None, now).unwrap();
        assert_eq!(tokens.refresh_token.expose_secret(), "f00d");
        assert_eq!(
            tokens.access_expires_at,
            now + DEFAULT_ACCESS_TOKEN_LIFETIME
        );
    }

    #[test]
    fn a_refresh_answer_without_a_refresh_token_keeps_the_one_we_hold() {
        let response: JobberTokenResponse = serde_json::from_str(
            r#"{"access_token":"a.b.c","expires_at":"2024-04-09 21:04:31 UTC"}"#,
        )
        .unwrap();
        let held = SecretString::from("old".to_string());
        let tokens = issued(response, Some(&held), Utc::now()).unwrap();
        assert_eq!(tokens.refresh_token.expose_secret(), "old");
        assert_eq!(
            tokens.access_expires_at,
            parse_expires_at("2024-04-09 21:04:31 UTC").unwrap()
        );
    }

    #[test]
    fn the_config_debug_output_hides_the_client_secret() {
        let config = OAuthConfig {
            client_id: "app".into(),
            client_secret: SecretString::from("very-secret".to_string()),
            authorize_url: String::new(),
            token_url: String::new(),
            redirect_uri: String::new(),
            timeout: std::time::Duration::from_secs(1),
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
