//! What a sandbox Jobber is started with: the one OAuth app it knows, its accounts and users,
//! and the API versions it serves.

use std::fmt;
use std::time::Duration;

use rand::RngCore;
use secrecy::{SecretSlice, SecretString};

/// The version the sandbox treats as current (reference §2.2: the one most clients pin).
pub const CURRENT_VERSION: &str = "2025-04-16";

/// A Jobber account (a service business). Its GraphQL id is the EncodedId of `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobberAccount {
    pub id: u64,
    pub name: String,
}

/// A person who can sign in to Jobber and approve the app; belongs to exactly one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobberUser {
    pub id: u64,
    pub account_id: u64,
}

/// Which `redirect_uri` values the app has registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectUris {
    /// Only these, compared byte for byte, as the Developer Center does.
    Exact(Vec<String>),
    /// Any `http` URI on 127.0.0.1, `localhost` or `[::1]`, any port and path: for the demo and
    /// tests, whose callback port is only known once the server is listening.
    AnyLoopback,
}

/// One API version the sandbox serves, and whether it is close to losing support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersion {
    /// `YYYY-MM-DD`.
    pub name: String,
    /// Within three months of losing support: responses carry `extensions.versioning.warning`.
    pub sunsetting: bool,
}

/// How to build a sandbox Jobber. [`JobberSandboxConfig::new`] gives a working default.
#[derive(Clone)]
pub struct JobberSandboxConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uris: RedirectUris,
    /// Refresh-token rotation (reference §2.1): on by default, as Jobber requires for
    /// Marketplace apps.
    pub rotation: bool,
    /// Lifetime of an access token, in the JWT's `exp` (Jobber: 60 minutes).
    pub access_token_ttl: Duration,
    /// The HS256 key the sandbox signs access tokens with. Sandbox-internal: real clients never
    /// see Jobber's key, and must not need this one.
    pub signing_secret: SecretSlice<u8>,
    /// The JWT `app_id` claim.
    pub app_id: String,
    /// What `appDisconnect { app { name author } }` answers.
    pub app_name: String,
    pub app_author: String,
    pub accounts: Vec<JobberAccount>,
    /// The first user is the one signed in at start.
    pub users: Vec<JobberUser>,
    /// Served versions, oldest first. A request naming any other version is answered with the
    /// oldest one and a warning, as Jobber upgrades removed versions silently.
    pub versions: Vec<ApiVersion>,
    /// Seeds the generator of codes and refresh tokens, so a sequential test sees the same
    /// values on every run.
    pub seed: u64,
    /// 0 picks a free port.
    pub port: u16,
}

impl JobberSandboxConfig {
    /// One account (1001 "Sandbox Landscaping") with one user (2001), any loopback redirect,
    /// rotation on, 60-minute tokens, a random signing key and seed.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        let mut rng = rand::thread_rng();
        let mut key = vec![0u8; 32];
        rng.fill_bytes(&mut key);
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_uris: RedirectUris::AnyLoopback,
            rotation: true,
            access_token_ttl: Duration::from_secs(60 * 60),
            signing_secret: SecretSlice::from(key),
            app_id: "9b3c6f2e-1d4a-4e8b-a7c5-0f6e2d1b8a94".to_owned(),
            app_name: "Unified CRM (sandbox)".to_owned(),
            app_author: "Unified CRM".to_owned(),
            accounts: vec![JobberAccount {
                id: 1001,
                name: "Sandbox Landscaping".to_owned(),
            }],
            users: vec![JobberUser {
                id: 2001,
                account_id: 1001,
            }],
            versions: vec![
                ApiVersion {
                    name: "2025-01-20".to_owned(),
                    sunsetting: true,
                },
                ApiVersion {
                    name: CURRENT_VERSION.to_owned(),
                    sunsetting: false,
                },
            ],
            seed: rng.next_u64(),
            port: 0,
        }
    }
}

impl fmt::Debug for JobberSandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobberSandboxConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("rotation", &self.rotation)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("signing_secret", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("accounts", &self.accounts)
            .field("users", &self.users)
            .field("versions", &self.versions)
            .field("seed", &self.seed)
            .field("port", &self.port)
            .finish()
    }
}
