//! The HTTP API (`docs/server.md`, "Endpoints"): [`build_router`] and one module per resource.

pub mod cors;
pub mod discovery;
pub mod health;
pub mod relay;
pub mod transactions;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// The path prefix of the relay endpoint: launch URLs are `{public_url}/launch/{token}` (`docs/relay.md`).
pub const RELAY_PREFIX: &str = "/launch";

/// The router of one server instance. The public endpoints answer cross-origin requests
/// ([`cors`]); the operators' ones do not.
pub fn build_router(state: AppState) -> Router {
    let public = Router::new()
        .route("/.well-known/kazashi", get(discovery::metadata))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/v1/transactions", post(transactions::create))
        .route("/v1/transactions/{id}/result", get(transactions::result))
        .route("/launch/{token}", post(relay::launch))
        .layer(middleware::from_fn(cors::cors));
    Router::new()
        .merge(public)
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}
