-- The event store. The first seven columns are exactly sqlite-es 0.5's table (it names its
-- insert and select columns, so the columns after them are safe to add).
create table events
(
    aggregate_type  text                          not null,
    aggregate_id    text                          not null,
    sequence        integer check (sequence >= 0) not null,
    event_type      text                          not null,
    event_version   text                          not null,
    payload         text                          not null,
    metadata        text                          not null,
    -- Global order across aggregates, set by the trigger below. SQLite runs one writer at a
    -- time, so numbers are handed out in commit order and a tailing reader cannot skip one.
    -- (Not the implicit rowid: VACUUM may renumber rowids.)
    global_position integer,
    -- Time of the write, RFC 3339 UTC.
    committed_at    text,
    primary key (aggregate_type, aggregate_id, sequence)
) strict;

create unique index events_global_position on events (global_position);

create trigger events_assign_global_position
    after insert on events
begin
    update events
    set global_position = (select ifnull(max(global_position), 0) + 1 from events),
        committed_at    = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    where rowid = new.rowid;
end;

-- Only needed if cqrs-es snapshotting is switched on for an aggregate; kept so it can be.
create table snapshots
(
    aggregate_type   text                                  not null,
    aggregate_id     text                                  not null,
    last_sequence    integer check (last_sequence >= 0)    not null,
    current_snapshot integer check (current_snapshot >= 0) not null,
    payload          text                                  not null,
    primary key (aggregate_type, aggregate_id, last_sequence)
) strict;
