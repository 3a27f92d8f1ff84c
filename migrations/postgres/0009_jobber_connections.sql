-- Read model: one row per Jobber connection (Connection aggregate), what the status endpoint
-- and the refresh scheduler read. Rebuilt from events; every time in it is an event's time,
-- so a rebuild gives the same rows. No token here: only the vault's version number.
create table jobber_connections
(
    connection_id       text primary key,
    user_id             text        not null unique,
    -- authenticated, needs_reauth or revoked (a never-connected user has no row).
    status              text        not null,
    -- Version of the vault row holding the live tokens; null once revoked (shredded).
    secret_version      bigint,
    access_expires_at   timestamptz,
    account_id          text,
    account_name        text,
    last_refreshed_at   timestamptz,
    last_failure_reason text,
    last_failure_at     timestamptz,
    -- No refresh before this (cooldown after a failure); null when none runs.
    retry_not_before    timestamptz,
    revoked_at          timestamptz,
    revoke_cause        text,
    created_at          timestamptz not null,
    updated_at          timestamptz not null,
    -- Sequence of the last event folded in: every write is guarded by it, so replays are
    -- no-ops.
    version             bigint      not null,
    last_position       bigint      not null
);

-- The refresh scheduler looks for live connections whose token expires soonest.
create index jobber_connections_expiring on jobber_connections (status, access_expires_at);
