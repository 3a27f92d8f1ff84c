//! Everything the sandbox remembers between requests: who is signed in, the consent answer,
//! outstanding codes, live refresh tokens, issued access tokens and each account's query-cost
//! bucket. One mutex guards it all, so a refresh token is redeemed by exactly one of any number
//! of concurrent requests, as at the real server.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::config::JobberUser;
use super::faults::{Faults, JobberSandboxStats};

/// How long a code may wait for its exchange (reference §2.1 says nothing; RFC 6749 advises
/// at most 10 minutes).
pub(crate) const CODE_TTL_SECS: i64 = 10 * 60;
/// The query-cost bucket (reference §2.3).
pub(crate) const MAX_AVAILABLE: u32 = 10_000;
pub(crate) const RESTORE_RATE: u32 = 500;

/// What the signed-in user answers on the consent screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consent {
    #[default]
    Grant,
    Deny,
}

/// Whom a code or token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grantee {
    pub(crate) user_id: u64,
    pub(crate) account_id: u64,
}

impl From<&JobberUser> for Grantee {
    fn from(user: &JobberUser) -> Self {
        Self {
            user_id: user.id,
            account_id: user.account_id,
        }
    }
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    grantee: Grantee,
    expires_at: i64,
}

struct RefreshGrant {
    client_id: String,
    grantee: Grantee,
}

/// What the API makes of a bearer token whose signature and `exp` are fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessStatus {
    Live,
    /// Its account disconnected the app since it was issued.
    Disconnected,
    /// Never issued here (signed with the key but minted elsewhere).
    Unknown,
}

struct Bucket {
    available: f64,
    at: i64,
}

pub(crate) struct State {
    rng: StdRng,
    pub(crate) consent: Consent,
    pub(crate) signed_in: Grantee,
    pub(crate) rotation: bool,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// Issued access tokens and whether their account has disconnected since. An identical
    /// token minted again (same user, same second) is live again, which is what it is.
    access_tokens: HashMap<String, (u64, bool)>,
    buckets: HashMap<u64, Bucket>,
    pub(crate) faults: Faults,
    pub(crate) stats: JobberSandboxStats,
}

impl State {
    pub(crate) fn new(seed: u64, signed_in: Grantee, rotation: bool) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            consent: Consent::Grant,
            signed_in,
            rotation,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            buckets: HashMap::new(),
            faults: Faults::default(),
            stats: JobberSandboxStats::default(),
        }
    }

    /// A single-use code for the signed-in user, bound to the client and redirect URI.
    pub(crate) fn issue_code(&mut self, client_id: &str, redirect_uri: &str, now: i64) -> String {
        let code = self.hex(16);
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                grantee: self.signed_in,
                expires_at: now + CODE_TTL_SECS,
            },
        );
        code
    }

    /// Consumes the code if it is live and was issued to this client for this redirect URI.
    /// A code presented with the wrong client or URI stays unused: that request proves nothing
    /// about the code's rightful holder.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Option<Grantee> {
        let grant = self.codes.get(code)?;
        if grant.expires_at <= now {
            self.codes.remove(code);
            return None;
        }
        if grant.client_id != client_id || grant.redirect_uri != redirect_uri {
            return None;
        }
        self.codes.remove(code).map(|grant| grant.grantee)
    }

    pub(crate) fn issue_refresh_token(&mut self, client_id: &str, grantee: Grantee) -> String {
        let token = self.hex(32);
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                grantee,
            },
        );
        token
    }

    /// Redeems a refresh token. With rotation on it dies here (the caller issues the next);
    /// with rotation off it stays live and is handed back.
    pub(crate) fn redeem_refresh_token(&mut self, token: &str, client_id: &str) -> Option<Grantee> {
        let grant = self.refresh_tokens.get(token)?;
        if grant.client_id != client_id {
            return None;
        }
        let grantee = grant.grantee;
        if self.rotation {
            self.refresh_tokens.remove(token);
        }
        Some(grantee)
    }

    pub(crate) fn record_access_token(&mut self, token: &str, account_id: u64) {
        self.access_tokens
            .insert(token.to_owned(), (account_id, false));
    }

    pub(crate) fn access_status(&self, token: &str) -> AccessStatus {
        match self.access_tokens.get(token) {
            Some((_, false)) => AccessStatus::Live,
            Some((_, true)) => AccessStatus::Disconnected,
            None => AccessStatus::Unknown,
        }
    }

    /// The app loses the account: every refresh token dies, every access token is marked.
    pub(crate) fn disconnect(&mut self, account_id: u64) {
        self.refresh_tokens
            .retain(|_, grant| grant.grantee.account_id != account_id);
        self.codes
            .retain(|_, grant| grant.grantee.account_id != account_id);
        for (account, revoked) in self.access_tokens.values_mut() {
            if *account == account_id {
                *revoked = true;
            }
        }
        self.stats.disconnects += 1;
    }

    /// Live refresh tokens of an account.
    pub(crate) fn live_refresh_tokens(&self, account_id: u64) -> usize {
        self.refresh_tokens
            .values()
            .filter(|grant| grant.grantee.account_id == account_id)
            .count()
    }

    /// Charges `cost` to the account's leaky bucket. `Err` when the bucket holds less than the
    /// cost (nothing is charged); either way, what is left after.
    pub(crate) fn charge(&mut self, account_id: u64, cost: u32, now: i64) -> Result<u32, u32> {
        let bucket = self.bucket(account_id, now);
        if f64::from(cost) > bucket.available {
            return Err(bucket.available as u32);
        }
        bucket.available -= f64::from(cost);
        Ok(bucket.available as u32)
    }

    pub(crate) fn set_available(&mut self, account_id: u64, available: u32, now: i64) {
        let bucket = self.bucket(account_id, now);
        bucket.available = f64::from(available.min(MAX_AVAILABLE));
    }

    /// The account's bucket, refilled for the time since it was last touched.
    fn bucket(&mut self, account_id: u64, now: i64) -> &mut Bucket {
        let bucket = self.buckets.entry(account_id).or_insert(Bucket {
            available: f64::from(MAX_AVAILABLE),
            at: now,
        });
        let elapsed = (now - bucket.at).max(0) as f64;
        bucket.available =
            (bucket.available + elapsed * f64::from(RESTORE_RATE)).min(f64::from(MAX_AVAILABLE));
        bucket.at = now;
        bucket
    }

    fn hex(&mut self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.rng.fill_bytes(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Grantee = Grantee {
        user_id: 1,
        account_id: 10,
    };

    fn state() -> State {
        State::new(5, ME, true)
    }

    #[test]
    fn a_code_redeems_once_and_only_for_its_client_and_redirect_uri() {
        let mut s = state();
        let code = s.issue_code("client", "http://127.0.0.1/cb", 0);
        assert_eq!(
            s.redeem_code(&code, "other", "http://127.0.0.1/cb", 1),
            None
        );
        assert_eq!(
            s.redeem_code(&code, "client", "http://127.0.0.1/x", 1),
            None
        );
        assert_eq!(
            s.redeem_code(&code, "client", "http://127.0.0.1/cb", 1),
            Some(ME)
        );
        assert_eq!(
            s.redeem_code(&code, "client", "http://127.0.0.1/cb", 1),
            None
        );
    }

    #[test]
    fn a_code_dies_at_ten_minutes() {
        let mut s = state();
        let code = s.issue_code("c", "u", 0);
        assert_eq!(s.redeem_code(&code, "c", "u", CODE_TTL_SECS), None);
        let code = s.issue_code("c", "u", 0);
        assert_eq!(s.redeem_code(&code, "c", "u", CODE_TTL_SECS - 1), Some(ME));
    }

    #[test]
    fn the_bucket_refuses_a_cost_above_what_is_left_and_refills_at_the_restore_rate() {
        let mut s = state();
        s.set_available(10, 100, 0);
        assert_eq!(s.charge(10, 101, 0), Err(100));
        assert_eq!(s.charge(10, 60, 0), Ok(40));
        assert_eq!(s.charge(10, 540, 1), Ok(0));
        assert_eq!(s.charge(10, 1, 1_000), Ok(MAX_AVAILABLE - 1));
    }

    #[test]
    fn the_same_seed_issues_the_same_codes() {
        let (mut a, mut b) = (state(), state());
        assert_eq!(a.issue_code("c", "u", 0), b.issue_code("c", "u", 0));
        assert_eq!(
            a.issue_refresh_token("c", ME),
            b.issue_refresh_token("c", ME)
        );
    }
}
