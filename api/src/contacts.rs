//! The contact mirror: what we hold of each CRM contact, with deep links back into the CRM.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::contact_mirror::query::{self, After, ContactQuery, ContactRow, ContactSort};

use crate::auth::InternalApiKey;
use crate::{cursor, ApiError, AppState};

#[derive(Tags)]
enum ContactTags {
    /// The local mirror of CRM contacts
    Contacts,
}

pub struct ContactsApi;

/// A contact as the CRM last showed it.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct MirroredContact {
    /// Our id: `jobnimbus:<jnid>` or `jobber:<account>:<id>`.
    id: String,
    /// The CRM: `jobnimbus` or `jobber`.
    source: String,
    /// The record's id in its CRM (the JobNimbus jnid).
    external_id: String,
    number: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// The name the CRM shows for the contact.
    display_name: String,
    company: Option<String>,
    email: Option<String>,
    home_phone: Option<String>,
    mobile_phone: Option<String>,
    work_phone: Option<String>,
    address: ContactAddress,
    status: Option<String>,
    /// Workflow (JobNimbus record type, e.g. "Customer") the status belongs to.
    workflow: Option<String>,
    /// Where the lead came from (JobNimbus `source_name`).
    source_name: Option<String>,
    sales_rep_name: Option<String>,
    /// Creation time in the CRM.
    created_at: Option<DateTime<Utc>>,
    /// Last update time in the CRM.
    updated_at: Option<DateTime<Utc>>,
    /// False once the CRM soft-deleted the contact.
    is_active: bool,
    /// Set when a complete scan of the CRM no longer listed the contact; cleared when it
    /// is listed again.
    vanished_at: Option<DateTime<Utc>>,
    /// When a sync first saw the contact.
    first_seen_at: DateTime<Utc>,
    /// When a sync last saw a change to the contact.
    last_seen_at: DateTime<Utc>,
    /// Number of changes recorded for this contact (its event stream's length).
    version: i64,
    /// The contact in JobNimbus's web app (JobNimbus contacts only).
    job_nimbus_url: Option<String>,
}

#[derive(Object, Debug)]
pub struct ContactAddress {
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country: Option<String>,
}

/// A page of mirrored contacts.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct ContactList {
    items: Vec<MirroredContact>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Sort orders of `GET /api/v1/contacts`; `-` means descending. `name` is the display
/// name.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactSortParam {
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

impl From<ContactSortParam> for ContactSort {
    fn from(sort: ContactSortParam) -> Self {
        match sort {
            ContactSortParam::UpdatedDesc => ContactSort::UpdatedDesc,
            ContactSortParam::UpdatedAsc => ContactSort::UpdatedAsc,
            ContactSortParam::NameAsc => ContactSort::NameAsc,
            ContactSortParam::NameDesc => ContactSort::NameDesc,
        }
    }
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<ContactList>),
}

#[derive(ApiResponse)]
enum GetResponse {
    #[oai(status = 200)]
    Ok(Json<MirroredContact>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ContactTags::Contacts")]
impl ContactsApi {
    /// List mirrored contacts: filter by status, CRM update time and free text; sort; page
    /// with `cursor`. Contacts the CRM soft-deleted or no longer lists are left out unless
    /// `includeInactive=true`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/contacts", method = "get", operation_id = "list_contacts")]
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
        /// Case-insensitive text in the display, first or last name, company, email, street
        /// or city.
        q: Query<Option<String>>,
        /// Also list contacts the CRM soft-deleted or no longer lists.
        #[oai(name = "includeInactive", default)]
        include_inactive: Query<bool>,
        #[oai(default)] sort: Query<ContactSortParam>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ListResponse, ApiError> {
        let sort = ContactSort::from(sort.0);
        let after = cursor
            .0
            .as_deref()
            .map(|c| cursor::decode(c, sort))
            .transpose()?
            .map(|(key, contact_id)| After { key, contact_id });
        let page = query::list(
            &state.db,
            &ContactQuery {
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
        Ok(ListResponse::Ok(Json(ContactList {
            items: page
                .rows
                .into_iter()
                .map(|row| to_dto(row, &state.jobnimbus_app_base_url))
                .collect(),
            next_cursor: page
                .next
                .map(|after| cursor::encode(&after.key, &after.contact_id, sort)),
        })))
    }

    /// One mirrored contact by id (`jobnimbus:<jnid>` or `jobber:<account>:<id>`), whether
    /// or not the CRM still lists it.
    #[oai(path = "/contacts/:id", method = "get", operation_id = "get_contact")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<GetResponse, ApiError> {
        let contact_id: domain::ContactId = id.0.parse().map_err(|e: domain::ParseIdError| {
            ApiError::bad_request("invalid_contact_id", e.to_string())
        })?;
        let row = query::get(&state.db, contact_id.as_str())
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::not_found(
                    "contact_not_found",
                    format!("no mirrored contact {contact_id}"),
                )
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

fn to_dto(row: ContactRow, jobnimbus_base: &str) -> MirroredContact {
    let job_nimbus_url = (row.source == "jobnimbus")
        .then(|| format!("{jobnimbus_base}/contact/{}", row.external_id));
    MirroredContact {
        id: row.contact_id,
        source: row.source,
        external_id: row.external_id,
        number: row.number,
        first_name: row.first_name,
        last_name: row.last_name,
        display_name: row.display_name,
        company: row.company,
        email: row.email,
        home_phone: row.home_phone,
        mobile_phone: row.mobile_phone,
        work_phone: row.work_phone,
        address: ContactAddress {
            line1: row.address_line1,
            line2: row.address_line2,
            city: row.city,
            state: row.state,
            zip: row.zip,
            country: row.country,
        },
        status: row.status,
        workflow: row.workflow,
        source_name: row.source_name,
        sales_rep_name: row.sales_rep_name,
        created_at: row.remote_created_at,
        updated_at: row.remote_updated_at,
        is_active: row.is_active,
        vanished_at: row.vanished_at,
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
        version: row.version,
        job_nimbus_url,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use projections::SortKey;

    use super::*;

    #[test]
    fn a_contact_cursor_round_trips_under_its_own_sort_only() {
        let key = SortKey::Text("Maria Hernandez".to_string());
        let encoded = cursor::encode(&key, "jobnimbus:3pg", ContactSort::NameAsc);
        assert_eq!(
            cursor::decode(&encoded, ContactSort::NameAsc).unwrap(),
            (key, "jobnimbus:3pg".to_string())
        );
        assert!(cursor::decode(&encoded, ContactSort::NameDesc).is_err());
        assert!(cursor::decode(&encoded, ContactSort::UpdatedDesc).is_err());
    }

    #[test]
    fn jobnimbus_contacts_link_to_the_contact_page_and_others_link_nowhere() {
        let row = |source: &str, external_id: &str| ContactRow {
            contact_id: format!("{source}:{external_id}"),
            source: source.to_string(),
            external_id: external_id.to_string(),
            number: None,
            first_name: None,
            last_name: None,
            display_name: "Maria Hernandez".to_string(),
            company: None,
            email: None,
            home_phone: None,
            mobile_phone: None,
            work_phone: None,
            address_line1: None,
            address_line2: None,
            city: None,
            state: None,
            zip: None,
            country: None,
            status: None,
            workflow: None,
            source_name: None,
            sales_rep_name: None,
            remote_created_at: None,
            remote_updated_at: None,
            is_active: true,
            vanished_at: None,
            first_seen_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            last_seen_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            version: 1,
        };
        let base = "https://app.jobnimbus.com";
        assert_eq!(
            to_dto(row("jobnimbus", "3pg"), base)
                .job_nimbus_url
                .as_deref(),
            Some("https://app.jobnimbus.com/contact/3pg")
        );
        assert_eq!(to_dto(row("jobber", "Z2lk"), base).job_nimbus_url, None);
    }
}
