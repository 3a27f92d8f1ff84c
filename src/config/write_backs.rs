//! Write-backs to JobNimbus: retries, leases, how long idempotency keys are kept, and the
//! task type of created tasks (`WRITE_BACK_*`, `JOBNIMBUS_TASK_TYPE`).

use std::time::Duration;

use adapters::write_back::WriteBackSettings;

use super::{parse_or, problem, ConfigProblem};

pub(super) fn write_back_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> WriteBackSettings {
    let defaults = WriteBackSettings::default();
    let max_attempts = parse_or(
        get,
        "WRITE_BACK_MAX_ATTEMPTS",
        defaults.max_attempts,
        problems,
    );
    if !(1..=100).contains(&max_attempts) {
        problems.push(problem(
            "WRITE_BACK_MAX_ATTEMPTS",
            "must be between 1 and 100",
        ));
    }
    let base_ms = parse_or(get, "WRITE_BACK_RETRY_BASE_MS", 2_000u64, problems);
    if base_ms < 1_000 {
        problems.push(problem(
            "WRITE_BACK_RETRY_BASE_MS",
            "must be at least 1000: a read-back sooner than JobNimbus indexes a write may miss it",
        ));
    }
    let cap_s = parse_or(get, "WRITE_BACK_RETRY_CAP_SECONDS", 1_800u64, problems);
    if cap_s * 1_000 < base_ms {
        problems.push(problem(
            "WRITE_BACK_RETRY_CAP_SECONDS",
            "must not be shorter than WRITE_BACK_RETRY_BASE_MS",
        ));
    }
    let lease_s = parse_or(get, "WRITE_BACK_LEASE_SECONDS", 300u64, problems);
    if lease_s < 60 {
        problems.push(problem(
            "WRITE_BACK_LEASE_SECONDS",
            "must be at least 60: longer than one attempt with the client's retries can take",
        ));
    }
    let poll_s = parse_or(get, "WRITE_BACK_POLL_SECONDS", 5u64, problems);
    if poll_s == 0 {
        problems.push(problem("WRITE_BACK_POLL_SECONDS", "must be at least 1"));
    }
    let ttl_h = parse_or(get, "WRITE_BACK_IDEMPOTENCY_TTL_HOURS", 24u64, problems);
    if !(24..=24 * 30).contains(&ttl_h) {
        problems.push(problem(
            "WRITE_BACK_IDEMPOTENCY_TTL_HOURS",
            "must be between 24 and 720: callers may retry a write for a day",
        ));
    }
    let task_type = get("JOBNIMBUS_TASK_TYPE")
        .map(|t| t.trim().to_string())
        .unwrap_or(defaults.task_type.clone());
    if task_type.is_empty() {
        problems.push(problem("JOBNIMBUS_TASK_TYPE", "must not be blank"));
    }
    WriteBackSettings {
        max_attempts,
        backoff_base: Duration::from_millis(base_ms),
        backoff_cap: Duration::from_secs(cap_s),
        lease: Duration::from_secs(lease_s),
        idempotency_ttl: Duration::from_secs(ttl_h * 3_600),
        task_type,
        poll_interval: Duration::from_secs(poll_s.max(1)),
        ..defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> (WriteBackSettings, Vec<ConfigProblem>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        };
        let mut problems = Vec::new();
        let settings = write_back_settings(&get, &mut problems);
        (settings, problems)
    }

    #[test]
    fn defaults_keep_keys_a_day_and_retry_eight_times_from_two_seconds() {
        let (settings, problems) = parse(&[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.max_attempts, 8);
        assert_eq!(settings.backoff_base, Duration::from_secs(2));
        assert_eq!(settings.idempotency_ttl, Duration::from_secs(86_400));
        assert_eq!(settings.task_type, "Follow Up");
    }

    #[test]
    fn keys_kept_under_a_day_and_read_backs_sooner_than_a_second_are_refused() {
        let (_, problems) = parse(&[
            ("WRITE_BACK_IDEMPOTENCY_TTL_HOURS", "1"),
            ("WRITE_BACK_RETRY_BASE_MS", "10"),
            ("WRITE_BACK_MAX_ATTEMPTS", "0"),
        ]);
        let variables: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            [
                "WRITE_BACK_MAX_ATTEMPTS",
                "WRITE_BACK_RETRY_BASE_MS",
                "WRITE_BACK_IDEMPOTENCY_TTL_HOURS"
            ]
        );
    }
}
