-- When the job's work started and was completed (JobNimbus date_start / date_end): the QC
-- photo rule places photos against them, and the job API shows them. Null when unset.
alter table job_mirror add column started_at timestamptz;
alter table job_mirror add column completed_at timestamptz;

-- Read model: the files (photos and documents) each job's CRM lists, one row per file, with
-- the QC category recorded for photos. Rebuilt from Job events. A file the CRM stops listing
-- keeps its row with removed_at set, so every write is a version-guarded upsert or update
-- and a replayed batch changes nothing.
create table job_files
(
    job_id        text        not null,
    -- The file's id in its CRM (the JobNimbus jnid).
    file_id       text        not null,
    -- photo | document
    kind          text        not null,
    filename      text        not null,
    content_type  text,
    size_bytes    bigint,
    description   text,
    -- JSON array of strings.
    tags          text        not null,
    file_type     text,
    is_private    boolean     not null,
    created_at    timestamptz,
    captured_at   timestamptz,
    -- BEFORE | DURING | AFTER | UNCLASSIFIED for photos, null for documents.
    qc_category   text,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null,
    removed_at    timestamptz,
    -- Sequence of the last Job event folded into the row: writes are guarded by it.
    version       bigint      not null,
    last_position bigint      not null,
    primary key (job_id, file_id)
);

-- The job API lists one job's photos or documents, oldest upload first.
create index job_files_by_job_kind on job_files (job_id, kind, created_at, file_id)
    where removed_at is null;
-- QC counts photos per category across jobs.
create index job_files_by_category on job_files (qc_category, job_id)
    where removed_at is null and kind = 'photo';
