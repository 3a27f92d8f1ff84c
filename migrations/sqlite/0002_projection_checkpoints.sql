-- Where each projection has read up to, written in the same transaction as its rows so a
-- crash can neither lose nor repeat an event. tx_id is always 0 on SQLite (one writer).
create table projection_checkpoints
(
    projection     text primary key,
    tx_id          integer not null default 0,
    position       integer not null default 0,
    -- Total events handed to the projection since its last rebuild (exactly-once proof).
    events_applied integer not null default 0,
    updated_at     text    not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) strict;
