-- Timestamps are RFC 3339 UTC text, which sorts chronologically.
-- Read model: each job's latest QC photo check and risk assessment, with what the QC and
-- risk endpoints filter, sort and show (docs/adr/0011-evaluation-read-models-and-triggers.md).
-- Rebuilt from Job events (the job's name, status and deep-link inputs), JobEvaluation events
-- (the outcomes) and EvaluationRun events (when a job was last checked, even when its outcome
-- did not change). A row exists for every mirrored job; the outcome columns stay null until
-- the job is first evaluated.
create table job_evaluations
(
    job_id            text primary key,
    -- Deep-link inputs: `{JOBNIMBUS_APP_BASE_URL}/job/{external_id}` for source jobnimbus.
    source            text        not null,
    external_id       text        not null,
    job_name          text        not null,
    job_number        text,
    customer_name     text,
    job_status        text,
    -- PASS | FAIL | NOT_CHECKED; null until the first QC check.
    qc_status         text,
    qc_before         integer,
    qc_during         integer,
    qc_after          integer,
    qc_unclassified   integer,
    qc_total          integer,
    -- JSON array of {category, required, current, missing}.
    qc_missing        text,
    -- When the QC outcome held now was recorded (it changed then).
    qc_evaluated_at   text,
    -- LOW | MEDIUM | HIGH; null until the first risk assessment.
    risk_level        text,
    -- 0, 1, 2 for LOW, MEDIUM, HIGH: what "sort by level" orders by.
    risk_rank         integer,
    -- JSON array of {rule, severity, message}.
    risk_reasons      text,
    -- The rules that fired, each between commas (`,STALE_JOB,STUCK_IN_STATUS,`), so a rule
    -- filter is one `like` on the row instead of a join; rows are few enough per level that
    -- the level and status indexes narrow a scan first.
    risk_rules        text,
    risk_evaluated_at text,
    -- The latest instant an evaluation of this job alone (or its outcome changing) looked
    -- at it; passes over every job are in job_evaluation_passes, and the API shows the later.
    checked_at        text,
    -- Global positions of the last Job, QC and risk event folded into the row: each part is
    -- written by its own guarded upsert, so a replayed batch changes nothing.
    job_position      integer      not null default 0,
    qc_position       integer      not null default 0,
    risk_position     integer      not null default 0
);

-- The risk list: by level (highest first), filtered by level and job status.
create index job_evaluations_risk on job_evaluations (risk_rank, job_id)
    where risk_level is not null;
-- The QC overview filtered by verdict; both lists by name or by the job's CRM status.
create index job_evaluations_qc on job_evaluations (qc_status, job_id)
    where qc_status is not null;
create index job_evaluations_name on job_evaluations (job_name, job_id);
create index job_evaluations_job_status on job_evaluations (job_status, job_id);

-- When the latest pass over every job evaluated them (one row, scope 'all'). Kept apart from
-- the rows: such a pass checks every job, and updating 50,000 rows' checked_at for it cost
-- seconds of index writes, while "the later of the two" costs nothing to read.
create table job_evaluation_passes
(
    scope      text primary key,
    checked_at text not null
);
