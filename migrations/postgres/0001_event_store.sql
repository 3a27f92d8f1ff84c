-- The event store. The first seven columns are exactly postgres-es 0.5's table (it names its
-- insert and select columns, so the defaulted columns after them are safe to add).
create table events
(
    aggregate_type  text                         not null,
    aggregate_id    text                         not null,
    sequence        bigint check (sequence >= 0) not null,
    event_type      text                         not null,
    event_version   text                         not null,
    payload         json                         not null,
    metadata        json                         not null,
    -- Global order across aggregates. Handed out at insert, not at commit, so on its own
    -- it is not safe to tail: see tx_id.
    global_position bigint generated always as identity,
    -- The writing transaction. Readers only read rows of transactions older than the oldest
    -- one still in flight (pg_snapshot_xmin), ordered by (tx_id, global_position), so an
    -- event whose transaction commits late can never be skipped.
    tx_id           xid8                         not null default pg_current_xact_id(),
    -- Time of the writing transaction; every event appended together shares it.
    committed_at    timestamptz                  not null default now(),
    primary key (aggregate_type, aggregate_id, sequence)
);

-- The tailing readers' order.
create index events_read_order on events (tx_id, global_position);
-- Head-of-log and by-position lookups (lag figures, auditors paging the history).
create unique index events_global_position on events (global_position);

-- Only needed if cqrs-es snapshotting is switched on for an aggregate; kept so it can be.
create table snapshots
(
    aggregate_type   text                                 not null,
    aggregate_id     text                                 not null,
    last_sequence    bigint check (last_sequence >= 0)    not null,
    current_snapshot bigint check (current_snapshot >= 0) not null,
    payload          json                                 not null,
    primary key (aggregate_type, aggregate_id, last_sequence)
);

-- Wake tailing readers in every instance when events commit (NOTIFY is delivered at commit,
-- once per transaction for identical payloads), so they never need to poll in a loop.
create function notify_events_appended() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('events_appended', '');
    return null;
end
$$;

create trigger events_appended
    after insert on events
    for each statement
execute function notify_events_appended();
