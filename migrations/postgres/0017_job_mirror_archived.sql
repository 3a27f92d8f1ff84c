-- JobNimbus `is_archived`: an archived job stays listed but is done with (risk rules skip it).
alter table job_mirror add column is_archived boolean not null default false;
