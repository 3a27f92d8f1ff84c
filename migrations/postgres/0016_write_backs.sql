-- Write-backs to JobNimbus, exactly once (docs/adr/0008-write-backs-exactly-once.md).

-- Idempotency-Key → the write-back it started. Not event-sourced: a key is a lookup that
-- expires, not a fact. The key itself is never stored, only its SHA-256, so the table holds
-- nothing a caller could replay from. Same key + same request hash → that write-back; same
-- key + another hash → refused. Kept until expires_at (at least 24 h after first use).
create table write_back_idempotency
(
    key_hash      text        primary key,
    -- SHA-256 of the request (endpoint, job, body): what "the same request" means.
    request_hash  text        not null,
    write_back_id text        not null,
    created_at    timestamptz not null,
    expires_at    timestamptz not null
);

-- The purge of expired keys.
create index write_back_idempotency_expiry on write_back_idempotency (expires_at);

-- An attachment's bytes until its write-back settles: the event holds only their size and
-- hash (events are forever and small), and a retry must be able to upload them again.
create table write_back_uploads
(
    write_back_id text        primary key,
    bytes         bytea       not null,
    created_at    timestamptz not null
);

-- Read model: one row per write-back, rebuilt from WriteBack events.
create table write_backs
(
    write_back_id    text        primary key,
    job_id           text        not null,
    -- note | task | status | attachment
    kind             text        not null,
    -- pending | succeeded | failed
    state            text        not null,
    -- The request as recorded (JSON of the payload: text, title, status_name, filename…).
    payload          text        not null,
    marker           text        not null,
    remote_id        text,
    attempts         integer     not null,
    last_error       text,
    -- Failed rows: whether the failure was transient (attempts ran out) or a refusal.
    retryable        boolean,
    next_attempt_at  timestamptz,
    confirmed_by_read_back boolean not null,
    requested_at     timestamptz not null,
    settled_at       timestamptz,
    -- Who asked (the caller in the intent's metadata).
    requested_by     text,
    version          bigint      not null,
    last_position    bigint      not null
);

-- GET /jobs/{id}/notes|tasks|status|attachments, oldest first; and the job's history.
create index write_backs_by_job on write_backs (job_id, kind, requested_at, write_back_id);
-- The retry worker: pending write-backs by due time.
create index write_backs_due on write_backs (next_attempt_at) where state = 'pending';
