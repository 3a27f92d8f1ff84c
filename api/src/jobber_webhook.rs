//! Jobber's webhooks (reference §2.8): authenticated by `X-Jobber-Hmac-SHA256` over the raw
//! body, answered fast. `APP_DISCONNECT` revokes the account's connections; other topics are
//! acknowledged (the record syncs that would use them are not built yet) so Jobber does not
//! count them as failures and disable the app's webhooks.

use std::collections::HashMap;

use adapters::jobber::webhook;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, Enum, Object, OpenApi, Tags};
use projections::connection_status;

use crate::{ApiError, AppState};

#[derive(Tags)]
pub(crate) enum WebhookTags {
    /// Events pushed by the CRMs
    Webhooks,
}

pub struct JobberWebhookApi;

/// The raw JSON body: the signature covers these exact bytes, so it is not parsed first.
#[derive(ApiRequest)]
enum JobberWebhookBody {
    /// `{"data":{"webHookEvent":{topic, appId, accountId, itemId, occurredAt}}}`
    #[oai(content_type = "application/json")]
    Json(Binary<Vec<u8>>),
}

/// What became of a delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum WebhookAction {
    /// `APP_DISCONNECT`: the account's live connections were revoked and their tokens shredded.
    Revoked,
    /// A repeated `APP_DISCONNECT`, or one for an account we hold no live connection to.
    AlreadyRevoked,
    /// A topic this service does not act on (yet); acknowledged so Jobber keeps delivering.
    Ignored,
}

/// The acknowledgement.
#[derive(Object, Debug)]
pub struct WebhookReceipt {
    received: bool,
    topic: String,
    action: WebhookAction,
}

#[derive(ApiResponse)]
enum ReceiptResponse {
    #[oai(status = 200)]
    Ok(Json<WebhookReceipt>),
}

#[OpenApi(prefix_path = "/api/v1/webhooks", tag = "WebhookTags::Webhooks")]
impl JobberWebhookApi {
    /// Receive a Jobber webhook.
    ///
    /// 401 `invalid_signature` unless `X-Jobber-Hmac-SHA256` is base64(HMAC-SHA256(our client
    /// secret, raw body)); 400 `invalid_payload` for a body that is not a Jobber event; 503
    /// `jobber_not_configured`. Deliveries are at least once: a repeated one changes nothing.
    #[oai(path = "/jobber", method = "post", operation_id = "jobber_webhook")]
    async fn receive(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Jobber-Hmac-SHA256")] signature: Header<Option<String>>,
        body: JobberWebhookBody,
    ) -> Result<ReceiptResponse, ApiError> {
        let Some(jobber) = &state.jobber else {
            return Err(ApiError::unavailable(
                "jobber_not_configured",
                "Jobber is not configured: set JOBBER_CLIENT_ID, JOBBER_CLIENT_SECRET and JOBBER_REDIRECT_URI",
            ));
        };
        let JobberWebhookBody::Json(Binary(body)) = body;
        let signed = signature
            .0
            .as_deref()
            .is_some_and(|signature| jobber.webhook_signature_is_valid(&body, signature));
        if !signed {
            return Err(ApiError::unauthorized(
                "invalid_signature",
                format!(
                    "{} is missing or is not the HMAC of the body under our client secret",
                    webhook::SIGNATURE_HEADER
                ),
            ));
        }
        let event = webhook::parse(&body)
            .map_err(|error| ApiError::bad_request("invalid_payload", error.to_string()))?;
        let action = if event.topic == "APP_DISCONNECT" {
            let metadata = HashMap::from([
                ("actor".to_string(), "jobber_webhook".to_string()),
                ("topic".to_string(), event.topic.clone()),
            ]);
            let revoked = revoke_account(&state, jobber, &event, metadata)
                .await
                .map_err(|error| {
                    tracing::error!(error.message = %error, "APP_DISCONNECT could not be applied");
                    ApiError::unavailable(
                        "store_unavailable",
                        "the disconnect could not be recorded; Jobber will deliver it again",
                    )
                })?;
            if revoked > 0 {
                WebhookAction::Revoked
            } else {
                WebhookAction::AlreadyRevoked
            }
        } else {
            tracing::debug!(topic = %event.topic, "Jobber webhook topic not acted on");
            WebhookAction::Ignored
        };
        Ok(ReceiptResponse::Ok(Json(WebhookReceipt {
            received: true,
            topic: event.topic,
            action,
        })))
    }
}

/// Revokes the account's connections that the read model lists. A grant committed
/// moments before the webhook and not yet projected is missed here; its next refresh then
/// fails at Jobber and marks it `needs_reauth`, so it never passes for a live connection.
async fn revoke_account(
    state: &AppState,
    jobber: &adapters::jobber::JobberConnections,
    event: &webhook::WebhookEvent,
    metadata: HashMap<String, String>,
) -> Result<usize, String> {
    let candidates = connection_status::query::live_of_account(&state.db, &event.account_id)
        .await
        .map_err(|error| error.to_string())?
        .into_iter()
        .map(|row| row.user_id);
    jobber
        .app_disconnected(&event.account_id, candidates, event.occurred_at, metadata)
        .await
        .map_err(|error| error.to_string())
}
