-- Read model: the local mirror of CRM jobs, one row per Job aggregate. Rebuilt from events.
-- Timestamps are RFC 3339 UTC text, which sorts chronologically.
create table job_mirror
(
    job_id              text primary key,
    source              text    not null,
    external_id         text    not null,
    number              text,
    name                text    not null,
    description         text,
    status              text,
    workflow            text,
    customer_name       text,
    contact_external_id text,
    address_line1       text,
    address_line2       text,
    city                text,
    state               text,
    zip                 text,
    country             text,
    sales_rep_name      text,
    remote_created_at   text,
    remote_updated_at   text,
    status_changed_at   text,
    is_active           integer not null,
    first_seen_at       text    not null,
    last_seen_at        text    not null,
    -- Sequence of the last event folded in: upserts are guarded by it, so replays are no-ops.
    version             integer not null,
    last_position       integer not null
) strict;

create index job_mirror_status on job_mirror (status, job_id);
create index job_mirror_remote_updated on job_mirror (remote_updated_at, job_id);
create index job_mirror_external on job_mirror (source, external_id);
