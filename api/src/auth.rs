//! `x-internal-api-key`: how internal callers (dashboards, operators) authenticate.

use poem::Request;
use poem_openapi::auth::ApiKey;
use poem_openapi::SecurityScheme;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The caller presented the service's internal API key.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "x-internal-api-key",
    key_in = "header",
    checker = "check_internal_key"
)]
pub struct InternalApiKey(());

async fn check_internal_key(req: &Request, presented: ApiKey) -> poem::Result<()> {
    let Some(state) = req.data::<AppState>() else {
        return Err(ApiError::internal(&MissingState).into());
    };
    let expected = state.internal_api_key.expose_secret().as_bytes();
    // Constant time: response timing must not reveal how much of a guess was right.
    if bool::from(presented.key.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "invalid_api_key",
            "the x-internal-api-key header does not match this server's INTERNAL_API_KEY",
        )
        .into())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("application state is not attached to the request")]
struct MissingState;
