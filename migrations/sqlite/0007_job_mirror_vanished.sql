-- When a complete reconciliation scan of the CRM last failed to list the job (null while the
-- CRM lists it). Kept apart from is_active: a soft delete is the CRM's own flag, a vanished
-- record is one the CRM no longer shows us at all.
alter table job_mirror add column vanished_at text;
