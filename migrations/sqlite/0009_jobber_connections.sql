-- Read model: one row per Jobber connection (Connection aggregate), what the status endpoint
-- and the refresh scheduler read. Rebuilt from events; every time in it is an event's time,
-- so a rebuild gives the same rows. No token here: only the vault's version number.
-- Timestamps are RFC 3339 UTC text, which sorts chronologically.
create table jobber_connections
(
    connection_id       text primary key,
    user_id             text    not null unique,
    -- authenticated, needs_reauth or revoked (a never-connected user has no row).
    status              text    not null,
    -- Version of the vault row holding the live tokens; null once revoked (shredded).
    secret_version      integer,
    access_expires_at   text,
    account_id          text,
    account_name        text,
    last_refreshed_at   text,
    last_failure_reason text,
    last_failure_at     text,
    -- No refresh before this (cooldown after a failure); null when none runs.
    retry_not_before    text,
    revoked_at          text,
    revoke_cause        text,
    created_at          text    not null,
    updated_at          text    not null,
    -- Sequence of the last event folded in: every write is guarded by it, so replays are
    -- no-ops.
    version             integer not null,
    last_position       integer not null
) strict;

-- The refresh scheduler looks for live connections whose token expires soonest.
create index jobber_connections_expiring on jobber_connections (status, access_expires_at);
