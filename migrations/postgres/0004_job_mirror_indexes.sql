-- The mirror's default order is coalesce(remote_updated_at, first_seen_at), which a plain
-- index on remote_updated_at cannot serve; and (source, external_id) repeats what the
-- primary key already gives, since job_id is `<source>:<external id>`. Every index is paid
-- for on each projected event, so keep only the ones queries use.
drop index job_mirror_external;
drop index job_mirror_remote_updated;
create index job_mirror_updated_order on job_mirror (coalesce(remote_updated_at, first_seen_at), job_id);
