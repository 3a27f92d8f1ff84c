-- Where each projection has read up to, written in the same transaction as its rows so a
-- crash can neither lose nor repeat an event.
create table projection_checkpoints
(
    projection     text primary key,
    -- (tx_id, global_position) of the last event applied: the reading order of events.
    tx_id          bigint      not null default 0,
    position       bigint      not null default 0,
    -- Total events handed to the projection since its last rebuild; equals the number of
    -- events in the log once caught up, which lets tests prove exactly-once delivery.
    events_applied bigint      not null default 0,
    updated_at     timestamptz not null default now()
);
