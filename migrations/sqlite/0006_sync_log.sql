-- Read model: the sync log, one row per SyncRun aggregate. Rebuilt from events.
-- A running run's tallies grow page by page, so a dashboard sees progress while it runs.
-- Timestamps are RFC 3339 UTC text, which sorts chronologically.
create table sync_runs
(
    run_id        text primary key,
    source        text    not null,
    resource      text    not null,
    mode          text    not null,
    -- Who asked for the run; not named `trigger`, a keyword in both dialects.
    triggered_by  text    not null,
    -- RUNNING until the run ends, then SUCCESS, PARTIAL or FAILED.
    status        text    not null,
    updated_since text,
    started_at    text    not null,
    finished_at   text,
    pages         integer not null,
    fetched       integer not null,
    created       integer not null,
    updated       integer not null,
    unchanged     integer not null,
    failed        integer not null,
    vanished      integer not null,
    -- Why a failed run stopped.
    error_message text,
    -- Failure events seen so far: the next one's ordinal in sync_run_errors, which keeps
    -- only the first few of them.
    errors_seen   integer not null,
    -- Sequence of the last event folded in: every write is guarded by it, so replays are
    -- no-ops.
    version       integer not null,
    last_position integer not null
) strict;

-- The log lists newest started first (run_id breaks ties so offsets are stable), and the
-- summary takes the newest run, of all resources or of one.
create index sync_runs_newest on sync_runs (started_at desc, run_id desc);
create index sync_runs_resource_newest on sync_runs (resource, started_at desc, run_id desc);

-- The first failure reasons of each run, in the order they were recorded. The projection
-- caps them per run: a run that fails every record must not flood the log.
create table sync_run_errors
(
    run_id      text    not null,
    -- 1-based, in the run's event order.
    ordinal     integer not null,
    -- The record's id in its CRM, when it had a usable one.
    external_id text,
    reason      text    not null,
    primary key (run_id, ordinal)
) strict;
