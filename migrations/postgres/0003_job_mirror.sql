-- Read model: the local mirror of CRM jobs, one row per Job aggregate. Rebuilt from events.
create table job_mirror
(
    job_id              text primary key,
    source              text        not null,
    external_id         text        not null,
    number              text,
    name                text        not null,
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
    remote_created_at   timestamptz,
    remote_updated_at   timestamptz,
    status_changed_at   timestamptz,
    is_active           boolean     not null,
    first_seen_at       timestamptz not null,
    last_seen_at        timestamptz not null,
    -- Sequence of the last event folded in: upserts are guarded by it, so replays are no-ops.
    version             bigint      not null,
    last_position       bigint      not null
);

-- The mirror API filters by status and sorts/filters by CRM update time.
create index job_mirror_status on job_mirror (status, job_id);
create index job_mirror_remote_updated on job_mirror (remote_updated_at, job_id);
create index job_mirror_external on job_mirror (source, external_id);
