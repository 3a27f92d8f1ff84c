//! JobNimbus automation webhooks (reference §1.8): unsigned, so authenticated by a secret
//! `token` in the URL; answered as soon as the delivery is in the durable inbox. No call to
//! JobNimbus happens here: the inbox processor refetches the record in the background.

use adapters::jobnimbus::webhook_inbox::{self, InboxAction, Receipt};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, Enum, Object, OpenApi};

use crate::jobber_webhook::WebhookTags;
use crate::{ApiError, AppState};

pub struct JobNimbusWebhookApi;

/// The flat record JSON the automation sends, taken as raw bytes so that every malformed body
/// gets the same 400 `invalid_payload`.
#[derive(ApiRequest)]
enum JobNimbusWebhookBody {
    /// The flat record as the automation sends it (often slim): `jnid` and `type` at least.
    #[oai(content_type = "application/json")]
    Json(Binary<Vec<u8>>),
}

/// What will become of a delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum InboxActionDto {
    /// The job will be refetched and the mirror updated if it changed.
    RefetchJob,
    /// The contact will be refetched and the mirror updated if it changed.
    RefetchContact,
    /// No `type` was sent: whichever of job or contact has this jnid will be refetched.
    RefetchJobOrContact,
    /// A file changed: the file listings of the jobs it is linked to will be resynced.
    RefreshFileJobs,
    /// A kind of record we do not mirror (task, activity…): kept for audits only.
    Ignore,
}

impl From<InboxAction> for InboxActionDto {
    fn from(action: InboxAction) -> Self {
        match action {
            InboxAction::RefetchJob => InboxActionDto::RefetchJob,
            InboxAction::RefetchContact => InboxActionDto::RefetchContact,
            InboxAction::RefetchJobOrContact => InboxActionDto::RefetchJobOrContact,
            InboxAction::RefreshFileJobs => InboxActionDto::RefreshFileJobs,
            InboxAction::Ignore => InboxActionDto::Ignore,
        }
    }
}

/// The acknowledgement.
#[derive(Object, Debug)]
pub struct JobNimbusWebhookReceipt {
    /// Always true: the delivery is safe in the inbox (or already was).
    received: bool,
    /// This change was already in the inbox (a repeated delivery); nothing was added.
    duplicate: bool,
    /// The record's kind as read from `type` (`unknown` when absent).
    kind: String,
    jnid: String,
    action: InboxActionDto,
}

#[derive(ApiResponse)]
enum AcceptedResponse {
    /// Stored for processing (or already stored): the sender must not retry it.
    #[oai(status = 202)]
    Accepted(Json<JobNimbusWebhookReceipt>),
}

#[OpenApi(prefix_path = "/api/v1/webhooks", tag = "WebhookTags::Webhooks")]
impl JobNimbusWebhookApi {
    /// Receive a JobNimbus automation webhook.
    ///
    /// Point an automation's "Webhook POST" at this URL with `?token=<JOBNIMBUS_WEBHOOK_SECRET>`.
    /// 401 `invalid_webhook_token` unless the token matches; 503 `webhook_not_configured`
    /// without the secret (or without JobNimbus); 400 `invalid_payload` for a body that is not
    /// a record with a `jnid`. 202 once the change is in the inbox, also for a repeated
    /// delivery (which adds nothing). Not rate limited: JobNimbus sends bursts.
    #[oai(
        path = "/jobnimbus",
        method = "post",
        operation_id = "jobnimbus_webhook"
    )]
    async fn receive(
        &self,
        state: Data<&AppState>,
        /// The shared secret (JobNimbus cannot sign its webhooks).
        token: Query<Option<String>>,
        body: JobNimbusWebhookBody,
    ) -> Result<AcceptedResponse, ApiError> {
        let Some(receiver) = &state.jobnimbus_webhooks else {
            return Err(ApiError::unavailable(
                "webhook_not_configured",
                "JobNimbus webhooks are off: set JOBNIMBUS_WEBHOOK_SECRET (and JOBNIMBUS_API_KEY)",
            ));
        };
        if !receiver.token.matches(token.0.as_deref()) {
            return Err(ApiError::unauthorized(
                "invalid_webhook_token",
                "the `token` query parameter is missing or wrong",
            ));
        }
        let JobNimbusWebhookBody::Json(Binary(body)) = body;
        let delivery = webhook_inbox::parse(&body)
            .map_err(|error| ApiError::bad_request("invalid_payload", error.to_string()))?;
        let receipt = receiver
            .inbox
            .record(&delivery, chrono::Utc::now())
            .await
            .map_err(|error| {
                tracing::error!(error.message = %error, "a JobNimbus webhook could not be stored");
                ApiError::unavailable(
                    "store_unavailable",
                    "the delivery could not be stored; JobNimbus will deliver it again",
                )
            })?;
        let duplicate = receipt == Receipt::Duplicate;
        let outcome = match receipt {
            Receipt::Duplicate => {
                tracing::debug!(kind = delivery.kind.as_str(), jnid = %delivery.jnid, "duplicate JobNimbus webhook");
                "duplicate"
            }
            Receipt::Stored { id, .. } => {
                tracing::debug!(inbox_id = id, kind = delivery.kind.as_str(), jnid = %delivery.jnid, "JobNimbus webhook stored");
                match delivery.action() {
                    InboxAction::Ignore => "ignored",
                    _ => "stored",
                }
            }
        };
        metrics::counter!("jobnimbus_webhooks_received_total", "outcome" => outcome).increment(1);
        Ok(AcceptedResponse::Accepted(Json(JobNimbusWebhookReceipt {
            received: true,
            duplicate,
            kind: delivery.kind.as_str().to_string(),
            action: delivery.action().into(),
            jnid: delivery.jnid,
        })))
    }
}
