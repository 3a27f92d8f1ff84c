-- Read model: the local mirror of CRM contacts, one row per Contact aggregate. Rebuilt from
-- events, so every column is a value an event carried; nothing here is the source of truth.
create table contact_mirror
(
    contact_id        text primary key,
    source            text        not null,
    external_id       text        not null,
    number            text,
    first_name        text,
    last_name         text,
    display_name      text        not null,
    company           text,
    email             text,
    home_phone        text,
    mobile_phone      text,
    work_phone        text,
    -- The address is split into columns, as in job_mirror, so city and street can be
    -- searched and shown without parsing a blob.
    address_line1     text,
    address_line2     text,
    city              text,
    state             text,
    zip               text,
    country           text,
    status            text,
    workflow          text,
    -- The lead source (JobNimbus `source_name`); `source` above is the CRM.
    source_name       text,
    sales_rep_name    text,
    remote_created_at timestamptz,
    remote_updated_at timestamptz,
    -- The CRM's soft-delete flag.
    is_active         boolean     not null,
    -- When a complete reconciliation scan last failed to list the contact (null while the
    -- CRM lists it). Kept apart from is_active: a soft delete is the CRM's own flag, a
    -- vanished record is one the CRM no longer shows us at all.
    vanished_at       timestamptz,
    first_seen_at     timestamptz not null,
    last_seen_at      timestamptz not null,
    -- Sequence of the last event folded in: upserts are guarded by it, so replays are no-ops.
    version           bigint      not null,
    last_position     bigint      not null
);

-- The contacts API filters by status, and orders (and keyset-pages) by the CRM update time,
-- falling back to when we first saw the contact, or by display name; each order ends with
-- contact_id so it is total. Free-text search is a substring match, which no btree index
-- serves; the other indexes are only the ones queries use, since each is paid for on every
-- projected event.
create index contact_mirror_status on contact_mirror (status, contact_id);
create index contact_mirror_updated_order
    on contact_mirror (coalesce(remote_updated_at, first_seen_at), contact_id);
create index contact_mirror_name_order on contact_mirror (display_name, contact_id);
