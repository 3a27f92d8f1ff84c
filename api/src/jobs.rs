//! The job mirror: what we hold of each CRM job, with deep links back into the CRM.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::job_mirror::query::{self, After, JobQuery, JobRow, JobSort};

use crate::auth::InternalApiKey;
use crate::{cursor, ApiError, AppState};

#[derive(Tags)]
enum JobTags {
    /// The local mirror of CRM jobs
    Jobs,
}

pub struct JobsApi;

/// A job as the CRM last showed it.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct MirroredJob {
    /// Our id: `jobnimbus:<jnid>` or `jobber:<account>:<id>`.
    id: String,
    /// The CRM: `jobnimbus` or `jobber`.
    source: String,
    /// The record's id in its CRM (the JobNimbus jnid).
    external_id: String,
    number: Option<String>,
    name: String,
    description: Option<String>,
    status: Option<String>,
    /// Workflow (JobNimbus record type) the status belongs to.
    workflow: Option<String>,
    customer_name: Option<String>,
    /// CRM id of the job's primary contact.
    contact_external_id: Option<String>,
    address: JobAddress,
    sales_rep_name: Option<String>,
    /// Creation time in the CRM.
    created_at: Option<DateTime<Utc>>,
    /// Last update time in the CRM.
    updated_at: Option<DateTime<Utc>>,
    status_changed_at: Option<DateTime<Utc>>,
    /// When the work started (JobNimbus `date_start`); QC places photos against it.
    started_at: Option<DateTime<Utc>>,
    /// When the work was completed (JobNimbus `date_end`).
    completed_at: Option<DateTime<Utc>>,
    /// False once the CRM soft-deleted the job.
    is_active: bool,
    /// True while the CRM has the job archived (JobNimbus `is_archived`): still listed, no
    /// longer worked on, never flagged by the risk rules.
    is_archived: bool,
    /// Set when a complete scan of the CRM no longer listed the job; cleared when it is
    /// listed again.
    vanished_at: Option<DateTime<Utc>>,
    /// When a sync first saw the job.
    first_seen_at: DateTime<Utc>,
    /// When a sync last saw a change to the job.
    last_seen_at: DateTime<Utc>,
    /// Number of changes recorded for this job (its event stream's length).
    version: i64,
    /// The job in JobNimbus's web app (JobNimbus jobs only).
    job_nimbus_url: Option<String>,
}

#[derive(Object, Debug)]
pub struct JobAddress {
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country: Option<String>,
}

/// A page of mirrored jobs.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobList {
    items: Vec<MirroredJob>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Sort orders of `GET /api/v1/jobs`; `-` means descending.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobSortParam {
    #[default]
    #[oai(rename = "-updatedAt")]
    UpdatedDesc,
    #[oai(rename = "updatedAt")]
    UpdatedAsc,
    #[oai(rename = "name")]
    NameAsc,
    #[oai(rename = "-name")]
    NameDesc,
}

impl From<JobSortParam> for JobSort {
    fn from(sort: JobSortParam) -> Self {
        match sort {
            JobSortParam::UpdatedDesc => JobSort::UpdatedDesc,
            JobSortParam::UpdatedAsc => JobSort::UpdatedAsc,
            JobSortParam::NameAsc => JobSort::NameAsc,
            JobSortParam::NameDesc => JobSort::NameDesc,
        }
    }
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<JobList>),
}

#[derive(ApiResponse)]
enum GetResponse {
    #[oai(status = 200)]
    Ok(Json<MirroredJob>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "JobTags::Jobs")]
impl JobsApi {
    /// List mirrored jobs: filter by status, CRM update time and free text; sort; page with
    /// `cursor`. Soft-deleted jobs are left out unless `includeInactive=true`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/jobs", method = "get", operation_id = "list_jobs")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Any of these statuses (repeat the parameter for several).
        status: Query<Vec<String>>,
        /// Updated in the CRM at or after this time (RFC 3339).
        #[oai(name = "updatedFrom")]
        updated_from: Query<Option<DateTime<Utc>>>,
        /// Updated in the CRM before this time (RFC 3339).
        #[oai(name = "updatedTo")]
        updated_to: Query<Option<DateTime<Utc>>>,
        /// Case-insensitive text in the job name, customer name, street or city.
        q: Query<Option<String>>,
        /// Also list jobs the CRM soft-deleted or no longer lists (hidden by default).
        #[oai(name = "includeInactive", default)]
        include_inactive: Query<bool>,
        #[oai(default)] sort: Query<JobSortParam>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ListResponse, ApiError> {
        let sort = JobSort::from(sort.0);
        let after = cursor
            .0
            .as_deref()
            .map(|c| decode_cursor(c, sort))
            .transpose()?;
        let page = query::list(
            &state.db,
            &JobQuery {
                statuses: status.0,
                updated_from: updated_from.0,
                updated_to: updated_to.0,
                text: q.0,
                include_inactive: include_inactive.0,
                sort,
                limit: limit.0,
                after,
            },
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
        Ok(ListResponse::Ok(Json(JobList {
            items: page
                .rows
                .into_iter()
                .map(|row| to_dto(row, &state.jobnimbus_app_base_url))
                .collect(),
            next_cursor: page.next.map(|after| encode_cursor(&after, sort)),
        })))
    }

    /// One mirrored job by id (`jobnimbus:<jnid>` or `jobber:<account>:<id>`).
    #[oai(path = "/jobs/:id", method = "get", operation_id = "get_job")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<GetResponse, ApiError> {
        let job_id: domain::JobId = id.0.parse().map_err(|e: domain::ParseIdError| {
            ApiError::bad_request("invalid_job_id", e.to_string())
        })?;
        let row = query::get(&state.db, job_id.as_str())
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::not_found("job_not_found", format!("no mirrored job {job_id}"))
            })?;
        Ok(GetResponse::Ok(Json(to_dto(
            row,
            &state.jobnimbus_app_base_url,
        ))))
    }
}

fn default_limit() -> u32 {
    50
}

fn to_dto(row: JobRow, jobnimbus_base: &str) -> MirroredJob {
    let job_nimbus_url =
        (row.source == "jobnimbus").then(|| format!("{jobnimbus_base}/job/{}", row.external_id));
    MirroredJob {
        id: row.job_id,
        source: row.source,
        external_id: row.external_id,
        number: row.number,
        name: row.name,
        description: row.description,
        status: row.status,
        workflow: row.workflow,
        customer_name: row.customer_name,
        contact_external_id: row.contact_external_id,
        address: JobAddress {
            line1: row.address_line1,
            line2: row.address_line2,
            city: row.city,
            state: row.state,
            zip: row.zip,
            country: row.country,
        },
        sales_rep_name: row.sales_rep_name,
        created_at: row.remote_created_at,
        updated_at: row.remote_updated_at,
        status_changed_at: row.status_changed_at,
        started_at: row.started_at,
        completed_at: row.completed_at,
        is_active: row.is_active,
        is_archived: row.is_archived,
        vanished_at: row.vanished_at,
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
        version: row.version,
        job_nimbus_url,
    }
}

fn encode_cursor(after: &After, sort: JobSort) -> String {
    cursor::encode(&after.key, &after.job_id, sort)
}

fn decode_cursor(cursor: &str, sort: JobSort) -> Result<After, ApiError> {
    let (key, job_id) = cursor::decode(cursor, sort)?;
    Ok(After { key, job_id })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use projections::SortKey;

    use super::*;

    #[test]
    fn a_cursor_round_trips_under_its_own_sort_only() {
        let after = After {
            key: SortKey::Time(Utc.timestamp_opt(1_700_000_000, 5).unwrap()),
            job_id: "jobnimbus:abc".to_string(),
        };
        let cursor = encode_cursor(&after, JobSort::UpdatedDesc);
        assert_eq!(decode_cursor(&cursor, JobSort::UpdatedDesc).unwrap(), after);
        assert!(decode_cursor(&cursor, JobSort::NameAsc).is_err());
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for bad in ["", "z", "zz", "abc", "00", &"ab".repeat(2000)] {
            assert!(decode_cursor(bad, JobSort::UpdatedDesc).is_err(), "{bad:?}");
        }
    }
}
