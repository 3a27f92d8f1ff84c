//! Embedded panels: the key that signs their links, how long a link lives, where links point
//! and which CRM pages may frame the panels (the seed's `EMBED_*` and
//! `INTERNAL_DASHBOARD_BASE_URL`, plus `EMBED_FRAME_ANCESTORS`).

use std::time::Duration;

use adapters::embed::MIN_SECRET_LEN;
use secrecy::{ExposeSecret, SecretString};

use super::{parse_or, problem, ConfigProblem};

/// Where JobNimbus shows embedded panels; the default `frame-ancestors`.
const DEFAULT_FRAME_ANCESTORS: &str = "https://app.jobnimbus.com";

#[derive(Debug, Clone)]
pub struct EmbedSettings {
    /// `EMBED_SIGNING_SECRET` (at least 32 characters): signs embed links. `serve` refuses
    /// to start without it.
    pub signing_secret: Option<SecretString>,
    /// `EMBED_TOKEN_TTL_MINUTES` (default 30, 1 to 1440): how long a link opens its panel.
    pub token_ttl: Duration,
    /// `INTERNAL_DASHBOARD_BASE_URL`: the base of the links issued; by default this
    /// server's own address.
    pub dashboard_base_url: Option<String>,
    /// `EMBED_FRAME_ANCESTORS`: space- or comma-separated origins allowed to frame the
    /// panels (default `https://app.jobnimbus.com`).
    pub frame_ancestors: Vec<String>,
}

pub(super) fn embed_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> EmbedSettings {
    let signing_secret = get("EMBED_SIGNING_SECRET").map(SecretString::from);
    if signing_secret
        .as_ref()
        .is_some_and(|secret| secret.expose_secret().len() < MIN_SECRET_LEN)
    {
        problems.push(problem(
            "EMBED_SIGNING_SECRET",
            format!("must be at least {MIN_SECRET_LEN} characters"),
        ));
    }
    let minutes = parse_or(get, "EMBED_TOKEN_TTL_MINUTES", 30u64, problems);
    if !(1..=1_440).contains(&minutes) {
        problems.push(problem(
            "EMBED_TOKEN_TTL_MINUTES",
            "must be between 1 and 1440 (a day): links are meant to be short-lived",
        ));
    }
    let dashboard_base_url =
        get("INTERNAL_DASHBOARD_BASE_URL").map(|url| url.trim().trim_end_matches('/').to_string());
    if dashboard_base_url
        .as_deref()
        .is_some_and(|url| !is_http_url(url))
    {
        problems.push(problem(
            "INTERNAL_DASHBOARD_BASE_URL",
            "must be an http(s) URL",
        ));
    }
    let frame_ancestors = frame_ancestors(
        &get("EMBED_FRAME_ANCESTORS").unwrap_or_else(|| DEFAULT_FRAME_ANCESTORS.to_string()),
        problems,
    );
    EmbedSettings {
        signing_secret,
        token_ttl: Duration::from_secs(minutes.clamp(1, 1_440) * 60),
        dashboard_base_url,
        frame_ancestors,
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// Origins for a CSP `frame-ancestors` directive: each an http(s) origin (scheme, host,
/// optional port; `*.` wildcards allowed as CSP allows) or `'self'`. Anything else could
/// inject another directive into the header, so it is refused.
fn frame_ancestors(raw: &str, problems: &mut Vec<ConfigProblem>) -> Vec<String> {
    let origins: Vec<String> = raw
        .split([',', ' '])
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| origin.trim_end_matches('/').to_string())
        .collect();
    let valid = |origin: &str| {
        origin == "'self'"
            || (is_http_url(origin)
                && origin.split_once("://").is_some_and(|(_, host)| {
                    !host.is_empty()
                        && !host.contains('/')
                        && host.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*')
                        })
                }))
    };
    if origins.is_empty() || !origins.iter().all(|origin| valid(origin)) {
        problems.push(problem(
            "EMBED_FRAME_ANCESTORS",
            "must list http(s) origins (scheme://host[:port]) or 'self', separated by spaces or commas",
        ));
    }
    origins
}

impl Default for EmbedSettings {
    /// No signing secret; otherwise the documented defaults.
    fn default() -> Self {
        embed_settings(&|_: &str| None, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (EmbedSettings, Vec<&'static str>) {
        let mut problems = Vec::new();
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let settings = embed_settings(&get, &mut problems);
        (settings, problems.iter().map(|p| p.variable).collect())
    }

    #[test]
    fn defaults_are_thirty_minutes_framed_by_jobnimbus_with_no_secret() {
        let (settings, problems) = read(&[]);
        assert!(problems.is_empty());
        assert!(settings.signing_secret.is_none());
        assert_eq!(settings.token_ttl, Duration::from_secs(30 * 60));
        assert_eq!(settings.frame_ancestors, ["https://app.jobnimbus.com"]);
        assert_eq!(settings.dashboard_base_url, None);
    }

    #[test]
    fn a_short_secret_a_bad_ttl_a_bad_base_url_and_bad_origins_are_each_named() {
        let (_, problems) = read(&[
            ("EMBED_SIGNING_SECRET", "short"),
            ("EMBED_TOKEN_TTL_MINUTES", "0"),
            ("INTERNAL_DASHBOARD_BASE_URL", "dashboard.example.com"),
            (
                "EMBED_FRAME_ANCESTORS",
                "https://ok.example.com; script-src *",
            ),
        ]);
        assert_eq!(
            problems,
            [
                "EMBED_SIGNING_SECRET",
                "EMBED_TOKEN_TTL_MINUTES",
                "INTERNAL_DASHBOARD_BASE_URL",
                "EMBED_FRAME_ANCESTORS"
            ]
        );
    }

    #[test]
    fn several_origins_and_a_custom_ttl_are_read() {
        let (settings, problems) = read(&[
            ("EMBED_SIGNING_SECRET", "0123456789abcdef0123456789abcdef"),
            ("EMBED_TOKEN_TTL_MINUTES", "5"),
            ("INTERNAL_DASHBOARD_BASE_URL", "https://panels.example.com/"),
            (
                "EMBED_FRAME_ANCESTORS",
                "https://app.jobnimbus.com, https://*.example.com:8443 'self'",
            ),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.token_ttl, Duration::from_secs(300));
        assert_eq!(
            settings.dashboard_base_url.as_deref(),
            Some("https://panels.example.com")
        );
        assert_eq!(
            settings.frame_ancestors,
            [
                "https://app.jobnimbus.com",
                "https://*.example.com:8443",
                "'self'"
            ]
        );
    }
}
