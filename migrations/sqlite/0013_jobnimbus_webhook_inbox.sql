-- Durable inbox of JobNimbus automation webhooks (docs/adr/0009-jobnimbus-webhook-inbox.md).
-- The endpoint only inserts here and answers 202, so a delivery is acknowledged as soon as it
-- is safe on disk; a background processor refetches the record later. Not event-sourced: a
-- row is a unit of work with retries and leases, and the facts it leads to (a changed job or
-- contact) are recorded as events on those aggregates. No secret is stored: the token lives
-- in the URL, and only the body is kept. Timestamps are RFC 3339 UTC text, which sorts
-- chronologically.
create table jobnimbus_webhook_inbox
(
    id                integer primary key autoincrement,
    -- kind:jnid:date_updated (or kind:jnid:sha256 of the body when it has no date_updated):
    -- a repeated delivery of one change maps to the row already there and inserts nothing.
    dedupe_key        text    not null unique,
    -- The record's `type` as sent (job, contact, task, activity, file…, `unknown` when absent).
    kind              text    not null,
    jnid              text    not null,
    -- The payload's `date_updated` (unix seconds), when it had one.
    remote_updated_at integer,
    -- What the processor does with the row: refetch_job, refetch_contact,
    -- refetch_job_or_contact, or ignore (kinds we do not mirror, kept for auditors).
    action            text    not null,
    -- pending → done | dead; ignored rows are never pending.
    state             text    not null,
    attempts          integer not null default 0,
    next_attempt_at   text    not null,
    -- Which processor holds the row, until when: a crashed instance's rows come back when
    -- its lease runs out.
    lease_owner       text,
    lease_until       text,
    last_error        text,
    -- Why a row ended as it did (not found in JobNimbus, unchanged, ignored kind…).
    note              text,
    -- The body as received (the slim flat record), for audits.
    payload           text    not null,
    received_at       text    not null,
    processed_at      text
);

-- The processor's claim: due pending rows, oldest first; partial, so finished rows (the vast
-- majority) cost the index nothing.
create index jobnimbus_webhook_inbox_due on jobnimbus_webhook_inbox (next_attempt_at, id)
    where state = 'pending';
-- Rows of one record: the claim serialises work per record and takes all its pending rows.
create index jobnimbus_webhook_inbox_record on jobnimbus_webhook_inbox (kind, jnid)
    where state = 'pending';
