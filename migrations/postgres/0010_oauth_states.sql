-- Pending OAuth authorisations: the `state` we sent to Jobber, bound to the user who started
-- the flow. Not event-sourced on purpose: a state is a short-lived one-time secret with no
-- history worth keeping. Only its SHA-256 is stored, so a database reader cannot complete
-- someone else's pending flow.
create table oauth_states
(
    state_hash text primary key,
    provider   text        not null,
    user_id    text        not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    -- Set when a callback redeems it; kept a while so a replayed callback is told "already
    -- used" rather than "unknown".
    used_at    timestamptz
);

-- Housekeeping deletes by age.
create index oauth_states_created on oauth_states (created_at);
