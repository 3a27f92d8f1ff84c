//! The few GraphQL calls a connection needs: who the account is, and `appDisconnect`.
//!
//! Every request is JSON with the pinned `X-JOBBER-GRAPHQL-VERSION` (reference §2.2: the
//! header is required, and removed versions are silently upgraded, so a version warning in
//! the answer is logged for operators).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::JobberError;

/// Default API version, the one many current clients pin (reference §2.2).
pub const DEFAULT_GRAPHQL_VERSION: &str = "2025-04-16";

/// The Jobber account a connection reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobberAccount {
    /// EncodedId (base64 of `gid://Jobber/Account/<n>`).
    pub id: String,
    pub name: String,
}

/// A GraphQL client for one Jobber app.
#[derive(Clone)]
pub struct GraphqlClient {
    http: reqwest::Client,
    url: String,
    version: String,
}

impl GraphqlClient {
    pub fn new(
        url: impl Into<String>,
        version: impl Into<String>,
        timeout: std::time::Duration,
    ) -> Result<Self, JobberError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| JobberError::Config(e.to_string()))?;
        Ok(Self {
            http,
            url: url.into(),
            version: version.into(),
        })
    }

    /// `account { id name }`: works for every app whatever its scopes, so it is what we
    /// ask right after a grant to learn which account the user connected.
    pub async fn account(&self, access_token: &SecretString) -> Result<JobberAccount, JobberError> {
        #[derive(Deserialize)]
        struct Data {
            account: Option<Account>,
        }
        #[derive(Deserialize)]
        struct Account {
            id: String,
            name: String,
        }
        let data: Data = self
            .call(access_token, "query Account { account { id name } }")
            .await?;
        let account = data
            .account
            .ok_or_else(|| JobberError::Protocol("account query answered no account".into()))?;
        Ok(JobberAccount {
            id: account.id,
            name: account.name,
        })
    }

    /// `appDisconnect`: Jobber invalidates every token of the connection and shows the app
    /// as disconnected in the user's account.
    pub async fn app_disconnect(&self, access_token: &SecretString) -> Result<(), JobberError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            app_disconnect: Option<Payload>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        #[derive(Deserialize)]
        struct UserError {
            message: String,
        }
        let data: Data = self
            .call(
                access_token,
                "mutation Disconnect { appDisconnect { app { name author } userErrors { message } } }",
            )
            .await?;
        let payload = data
            .app_disconnect
            .ok_or_else(|| JobberError::Protocol("appDisconnect answered nothing".into()))?;
        match payload.user_errors.first() {
            Some(error) => Err(JobberError::Protocol(format!(
                "appDisconnect refused: {}",
                error.message
            ))),
            None => Ok(()),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &SecretString,
        query: &str,
    ) -> Result<T, JobberError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(access_token.expose_secret())
            .header("X-JOBBER-GRAPHQL-VERSION", &self.version)
            .json(&json!({ "query": query }))
            .send()
            .await
            .map_err(|e| JobberError::Unavailable(without_url(e)))?;
        let status = response.status();
        let body: Value = match status.as_u16() {
            401 => return Err(JobberError::TokenRejected),
            429 => return Err(JobberError::Unavailable("request cap reached (429)".into())),
            500..=599 => return Err(JobberError::Unavailable(format!("HTTP {status}"))),
            _ => response
                .json()
                .await
                .map_err(|_| JobberError::Protocol(format!("HTTP {status} without a JSON body")))?,
        };
        if let Some(warning) = body
            .pointer("/extensions/versioning/warning")
            .and_then(Value::as_str)
        {
            tracing::warn!(version = %self.version, warning, "Jobber GraphQL version warning");
        }
        if let Some(error) = body
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first())
        {
            return Err(graphql_error(error));
        }
        if !status.is_success() {
            return Err(JobberError::Protocol(format!("HTTP {status}")));
        }
        serde_json::from_value(body.get("data").cloned().unwrap_or(Value::Null))
            .map_err(|e| JobberError::Protocol(format!("unexpected data: {e}")))
    }
}

/// A top-level GraphQL error, sorted by what the caller can do about it.
fn graphql_error(error: &Value) -> JobberError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unnamed GraphQL error");
    let code = error.pointer("/extensions/code").and_then(Value::as_str);
    if code == Some("THROTTLED") {
        JobberError::Unavailable("query cost throttled".into())
    } else if message.contains("disconnected this app") {
        JobberError::Disconnected
    } else {
        JobberError::Protocol(message.to_string())
    }
}

/// A transport error's message without its URL (ours, but keep logs short and uniform).
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_errors_map_to_what_the_caller_can_do() {
        let throttled = json!({"message": "Throttled", "extensions": {"code": "THROTTLED"}});
        assert!(graphql_error(&throttled).is_transient());
        let gone = json!({"message": "User has disconnected this app from their account. Please delete this token"});
        assert!(matches!(graphql_error(&gone), JobberError::Disconnected));
        let other = json!({"message": "Field 'nope' doesn't exist"});
        assert!(matches!(graphql_error(&other), JobberError::Protocol(m) if m.contains("nope")));
    }
}
