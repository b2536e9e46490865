//! `GET /.well-known/kazashi` and `GET /.well-known/jwks.json`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// The discovery document.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// The server's id: commands' `aud`, results' `iss`.
    pub issuer: String,
    /// Where the server's keys are published.
    pub jwks_uri: String,
    /// Where providers register commands.
    pub transactions_endpoint: String,
    /// The URL prefix of the relay endpoints the common app uses.
    pub relay_endpoint: String,
}

/// `GET /.well-known/kazashi`.
pub async fn metadata(State(state): State<AppState>) -> Json<Metadata> {
    let base = &state.config.public_url;
    Json(Metadata {
        issuer: state.config.id.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        transactions_endpoint: format!("{base}/v1/transactions"),
        relay_endpoint: format!("{base}{}", super::RELAY_PREFIX),
    })
}

/// `GET /.well-known/jwks.json`: every signing and encryption key, current and older. The
/// key files are re-read, so a `keys rotate` shows without a restart.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state
        .reload_keys()
        .map_err(|e| ApiError::Internal(format!("keys: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        keys.jwks().to_json(),
    )
        .into_response())
}
