-- Read model: the sync log, one row per SyncRun aggregate. Rebuilt from events.
-- A running run's tallies grow page by page, so a dashboard sees progress while it runs.
create table sync_runs
(
    run_id        text primary key,
    source        text        not null,
    resource      text        not null,
    mode          text        not null,
    -- Who asked for the run; not named `trigger`, a keyword in both dialects.
    triggered_by  text        not null,
    -- RUNNING until the run ends, then SUCCESS, PARTIAL or FAILED.
    status        text        not null,
    updated_since timestamptz,
    started_at    timestamptz not null,
    finished_at   timestamptz,
    pages         bigint      not null,
    fetched       bigint      not null,
    created       bigint      not null,
    updated       bigint      not null,
    unchanged     bigint      not null,
    failed        bigint      not null,
    vanished      bigint      not null,
    -- Why a failed run stopped.
    error_message text,
    -- Failure events seen so far: the next one's ordinal in sync_run_errors, which keeps
    -- only the first few of them.
    errors_seen   bigint      not null,
    -- Sequence of the last event folded in: every write is guarded by it, so replays are
    -- no-ops.
    version       bigint      not null,
    last_position bigint      not null
);

-- The log lists newest started first (run_id breaks ties so offsets are stable), and the
-- summary takes the newest run, of all resources or of one.
create index sync_runs_newest on sync_runs (started_at desc, run_id desc);
create index sync_runs_resource_newest on sync_runs (resource, started_at desc, run_id desc);

-- The first failure reasons of each run, in the order they were recorded. The projection
-- caps them per run: a run that fails every record must not flood the log.
create table sync_run_errors
(
    run_id      text   not null,
    -- 1-based, in the run's event order.
    ordinal     bigint not null,
    -- The record's id in its CRM, when it had a usable one.
    external_id text,
    reason      text   not null,
    primary key (run_id, ordinal)
);
