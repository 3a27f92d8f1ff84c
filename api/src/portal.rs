//! The customer portal preview: `GET /api/v1/portal/internal/jobs/{jobId}` and the model the
//! `/embed/portal` page renders — customer-safe fields only. No internal notes or
//! descriptions, no risk or QC outcome, no staff (sales rep) and no private files.

use chrono::{DateTime, Utc};
use domain::{FileKind, JobId, QcCategory};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use projections::job_files::query as files;
use projections::job_mirror::query::{self as mirror, JobRow};

use crate::auth::InternalApiKey;
use crate::embed::views::{
    optional_day, photo_date, stage_name, stage_of, PortalPhotoText, PortalStage, PortalText,
};
use crate::{ApiError, AppState};

#[derive(Tags)]
enum PortalTags {
    /// What the customer portal shows of a job
    Portal,
}

pub struct PortalApi;

/// A job as its customer sees it.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase")]
pub struct PortalJobView {
    job_id: String,
    job_number: Option<String>,
    job_name: String,
    /// Where the job is, in the customer's words: Being planned, Scheduled, In progress,
    /// Completed.
    stage: String,
    /// The job's status as the CRM names it.
    status: Option<String>,
    customer_name: Option<String>,
    address: PortalAddress,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    photo_counts: PortalPhotoCounts,
    /// The photos shared with the customer (not private), oldest first.
    photos: Vec<PortalPhoto>,
}

#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase")]
pub struct PortalAddress {
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
}

#[derive(Object, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[oai(rename_all = "camelCase")]
pub struct PortalPhotoCounts {
    before: u32,
    during: u32,
    after: u32,
}

#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase")]
pub struct PortalPhoto {
    id: String,
    filename: String,
    /// BEFORE, DURING, AFTER or UNCLASSIFIED.
    stage: String,
    taken_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
enum PortalResponse {
    #[oai(status = 200)]
    Ok(Json<PortalJobView>),
}

#[OpenApi(prefix_path = "/api/v1/portal/internal", tag = "PortalTags::Portal")]
impl PortalApi {
    /// What the customer portal shows of a mirrored job (the same model `/embed/portal`
    /// renders).
    #[oai(
        path = "/jobs/:job_id",
        method = "get",
        operation_id = "get_portal_job"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        job_id: Path<String>,
    ) -> Result<PortalResponse, ApiError> {
        let job_id: JobId = job_id.0.parse().map_err(|e: domain::ParseIdError| {
            ApiError::bad_request("invalid_job_id", e.to_string())
        })?;
        let view = portal_view(&state, &job_id, Utc::now())
            .await?
            .ok_or_else(|| {
                ApiError::not_found("job_not_found", format!("no active mirrored job {job_id}"))
            })?;
        Ok(PortalResponse::Ok(Json(view)))
    }
}

/// The portal view of `job_id` at `now`; `None` when it is not an active mirrored job.
pub(crate) async fn portal_view(
    state: &AppState,
    job_id: &JobId,
    now: DateTime<Utc>,
) -> Result<Option<PortalJobView>, ApiError> {
    let Some(job) = mirror::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .filter(|job| job.is_active && job.vanished_at.is_none())
    else {
        return Ok(None);
    };
    let photos = files::list(&state.db, job_id.as_str(), FileKind::Photo)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut counts = PortalPhotoCounts::default();
    let mut shared = Vec::new();
    for photo in photos.into_iter().filter(|photo| !photo.is_private) {
        let category = photo.qc_category.unwrap_or(QcCategory::Unclassified);
        match category {
            QcCategory::Before => counts.before += 1,
            QcCategory::During => counts.during += 1,
            QcCategory::After => counts.after += 1,
            QcCategory::Unclassified => {}
        }
        shared.push(PortalPhoto {
            id: photo.file_id,
            filename: photo.filename,
            stage: category.as_str().to_string(),
            taken_at: photo.captured_at.or(photo.created_at),
        });
    }
    Ok(Some(view_of(job, counts, shared, now)))
}

fn view_of(
    job: JobRow,
    photo_counts: PortalPhotoCounts,
    photos: Vec<PortalPhoto>,
    now: DateTime<Utc>,
) -> PortalJobView {
    PortalJobView {
        job_id: job.job_id,
        job_number: job.number,
        job_name: job.name,
        stage: stage_of(job.started_at, job.completed_at, now).to_string(),
        status: job.status,
        customer_name: job.customer_name,
        address: PortalAddress {
            line1: job.address_line1,
            line2: job.address_line2,
            city: job.city,
            state: job.state,
            zip: job.zip,
        },
        started_at: job.started_at,
        completed_at: job.completed_at,
        photo_counts,
        photos,
    }
}

impl PortalJobView {
    /// The page's words for this view.
    pub(crate) fn text(&self, now: DateTime<Utc>) -> PortalText {
        let address = [
            self.address.line1.as_deref(),
            self.address.line2.as_deref(),
            self.address.city.as_deref(),
            self.address.state.as_deref(),
            self.address.zip.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|part| !part.trim().is_empty())
        .collect::<Vec<_>>()
        .join(", ");
        PortalText {
            job_name: self.job_name.clone(),
            job_number: self.job_number.clone(),
            stage: stage_of(self.started_at, self.completed_at, now),
            status_text: self.status.clone().unwrap_or_else(|| "—".to_string()),
            customer_name: self.customer_name.clone(),
            address_text: (!address.is_empty()).then_some(address),
            started_text: optional_day(self.started_at, "Not scheduled yet"),
            completed_text: optional_day(self.completed_at, "Not yet"),
            photo_stages: [
                (QcCategory::Before, self.photo_counts.before),
                (QcCategory::During, self.photo_counts.during),
                (QcCategory::After, self.photo_counts.after),
            ]
            .into_iter()
            .map(|(category, count)| PortalStage {
                label: stage_name(category),
                count,
            })
            .collect(),
            photos: self
                .photos
                .iter()
                .map(|photo| PortalPhotoText {
                    stage: photo
                        .stage
                        .parse::<QcCategory>()
                        .map(stage_name)
                        .unwrap_or("Unsorted"),
                    filename: photo.filename.clone(),
                    date: photo_date(photo.taken_at),
                })
                .collect(),
        }
    }
}
