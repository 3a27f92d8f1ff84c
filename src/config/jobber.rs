//! The Jobber app's settings, under the seed's variable names (`JOBBER_*`), and the key that
//! encrypts the tokens it issues.

use std::time::Duration;

use secrecy::SecretString;

use super::{parse_or, problem, ConfigProblem};

/// Jobber's production endpoints (reference §2.1, §2.2).
const DEFAULT_API_URL: &str = "https://api.getjobber.com/api/graphql";
const DEFAULT_TOKENS_URL: &str = "https://api.getjobber.com/api/oauth/token";

/// Our Jobber app. Jobber features are on only when the app's three identifying settings
/// are all present.
#[derive(Debug, Clone)]
pub struct JobberSettings {
    /// `JOBBER_CLIENT_ID`, `JOBBER_CLIENT_SECRET`, `JOBBER_REDIRECT_URI`.
    pub app: Option<JobberApp>,
    /// `JOBBER_API_URL`: the GraphQL endpoint.
    pub api_url: String,
    /// `JOBBER_TOKENS_URL`: the token endpoint.
    pub tokens_url: String,
    /// `JOBBER_AUTHORIZE_URL`: the consent page; by default the token URL's sibling
    /// (`…/oauth/authorize`), as on Jobber.
    pub authorize_url: String,
    /// `JOBBER_GRAPHQL_VERSION` (default `2025-04-16`): sent on every GraphQL call.
    pub graphql_version: String,
    /// `JOBBER_REFRESH_MARGIN_SECONDS` (default 300): refresh this long before expiry.
    pub refresh_margin: Duration,
    /// `JOBBER_REFRESH_CHECK_SECONDS` (default 60): how often the scheduler looks for
    /// tokens close to expiry.
    pub refresh_check_every: Duration,
    /// `JOBBER_REFRESH_COALESCE_SECONDS` (default 60): a refresh asked for within this
    /// time of the last grant or refresh reuses its tokens instead of calling Jobber.
    pub refresh_coalesce: Duration,
    /// `TOKEN_ENCRYPTION_KEY`: `kid:base64(32 bytes)` entries, comma-separated, the first
    /// one encrypting. Required when the app is configured.
    pub token_encryption_key: Option<SecretString>,
}

/// The identity of our Jobber app.
#[derive(Debug, Clone)]
pub struct JobberApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
}

pub(super) fn jobber_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> JobberSettings {
    let url = |variable: &'static str, default: &str, problems: &mut Vec<ConfigProblem>| {
        let value = get(variable).unwrap_or_else(|| default.to_string());
        if !value.starts_with("http://") && !value.starts_with("https://") {
            problems.push(problem(variable, "must be an http(s) URL"));
        }
        value
    };
    let api_url = url("JOBBER_API_URL", DEFAULT_API_URL, problems);
    let tokens_url = url("JOBBER_TOKENS_URL", DEFAULT_TOKENS_URL, problems);
    let derived_authorize = match tokens_url.strip_suffix("/token") {
        Some(base) => format!("{base}/authorize"),
        None => String::new(),
    };
    let authorize_url = match get("JOBBER_AUTHORIZE_URL") {
        Some(_) => url("JOBBER_AUTHORIZE_URL", "", problems),
        None if derived_authorize.is_empty() => {
            problems.push(problem(
                "JOBBER_AUTHORIZE_URL",
                "required when JOBBER_TOKENS_URL does not end in /token",
            ));
            String::new()
        }
        None => derived_authorize,
    };

    let client_id = get("JOBBER_CLIENT_ID");
    let client_secret = get("JOBBER_CLIENT_SECRET").map(SecretString::from);
    let redirect_uri = get("JOBBER_REDIRECT_URI");
    let app = match (client_id, client_secret, redirect_uri) {
        (Some(client_id), Some(client_secret), Some(redirect_uri)) => {
            if !redirect_uri.starts_with("http://") && !redirect_uri.starts_with("https://") {
                problems.push(problem("JOBBER_REDIRECT_URI", "must be an http(s) URL"));
            }
            Some(JobberApp {
                client_id,
                client_secret,
                redirect_uri,
            })
        }
        (None, None, None) => None,
        (id, secret, redirect) => {
            // Half a configuration is a mistake, not a choice: say what is missing.
            for (variable, present) in [
                ("JOBBER_CLIENT_ID", id.is_some()),
                ("JOBBER_CLIENT_SECRET", secret.is_some()),
                ("JOBBER_REDIRECT_URI", redirect.is_some()),
            ] {
                if !present {
                    problems.push(problem(
                        variable,
                        "required when any JOBBER_CLIENT_ID / JOBBER_CLIENT_SECRET / \
                         JOBBER_REDIRECT_URI is set",
                    ));
                }
            }
            None
        }
    };
    let token_encryption_key = get("TOKEN_ENCRYPTION_KEY").map(SecretString::from);
    if let Some(key) = &token_encryption_key {
        if let Err(error) = adapters::vault::Keyring::parse(key) {
            problems.push(problem("TOKEN_ENCRYPTION_KEY", error.to_string()));
        }
    } else if app.is_some() {
        problems.push(problem(
            "TOKEN_ENCRYPTION_KEY",
            "required when Jobber is configured: it encrypts the OAuth tokens at rest \
             (`kid:<base64 of 32 random bytes>`)",
        ));
    }
    let margin = parse_or(get, "JOBBER_REFRESH_MARGIN_SECONDS", 300u64, problems);
    let check = parse_or(get, "JOBBER_REFRESH_CHECK_SECONDS", 60u64, problems);
    let coalesce = parse_or(get, "JOBBER_REFRESH_COALESCE_SECONDS", 60u64, problems);
    JobberSettings {
        app,
        api_url,
        tokens_url,
        authorize_url,
        graphql_version: get("JOBBER_GRAPHQL_VERSION")
            .unwrap_or_else(|| adapters::jobber::DEFAULT_GRAPHQL_VERSION.to_string()),
        refresh_margin: Duration::from_secs(margin),
        refresh_check_every: Duration::from_secs(check.max(1)),
        refresh_coalesce: Duration::from_secs(coalesce),
        token_encryption_key,
    }
}

impl Default for JobberSettings {
    /// No app (so no Jobber), otherwise the documented defaults.
    fn default() -> Self {
        jobber_settings(&|_: &str| None, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (JobberSettings, Vec<&'static str>) {
        let mut problems = Vec::new();
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let settings = jobber_settings(&get, &mut problems);
        (settings, problems.iter().map(|p| p.variable).collect())
    }

    #[test]
    fn without_jobber_variables_jobber_is_off_and_defaults_point_at_jobber() {
        let (settings, problems) = read(&[]);
        assert!(problems.is_empty());
        assert!(settings.app.is_none());
        assert_eq!(
            settings.authorize_url,
            "https://api.getjobber.com/api/oauth/authorize"
        );
        assert_eq!(settings.graphql_version, "2025-04-16");
    }

    #[test]
    fn half_an_app_names_every_missing_variable_and_the_encryption_key() {
        let (_, problems) = read(&[("JOBBER_CLIENT_ID", "abc")]);
        assert_eq!(problems, ["JOBBER_CLIENT_SECRET", "JOBBER_REDIRECT_URI",]);
        let (_, problems) = read(&[
            ("JOBBER_CLIENT_ID", "abc"),
            ("JOBBER_CLIENT_SECRET", "s"),
            (
                "JOBBER_REDIRECT_URI",
                "http://localhost:5000/auth/jobber/callback",
            ),
        ]);
        assert_eq!(problems, ["TOKEN_ENCRYPTION_KEY"]);
    }

    #[test]
    fn a_bad_encryption_key_is_reported_without_echoing_it() {
        let (_, problems) = read(&[("TOKEN_ENCRYPTION_KEY", "k1:not-base64-secret")]);
        assert_eq!(problems, ["TOKEN_ENCRYPTION_KEY"]);
    }
}
