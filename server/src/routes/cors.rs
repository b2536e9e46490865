//! Cross-origin access for the endpoints a web page calls directly: discovery and keys (a page
//! verifying a result itself) and the relay endpoint (a common app running in a web page, as
//! the npm package's `Relay` does). `Access-Control-Allow-Origin: *` with no credentials: these
//! endpoints use no cookies or ambient authority — a launch URL's token and the sealed
//! envelopes are the only authority, so any origin may call them. Registration and result
//! retrieval (`/v1/…`) stay same-origin: providers call them from their backends.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a browser may cache a preflight answer (seconds).
const MAX_AGE: &str = "600";

/// Whether `path` is one of the endpoints open to every origin.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/.well-known/") || path.starts_with(super::RELAY_PREFIX)
}

/// Answers preflights and adds the CORS headers on the open endpoints.
pub async fn layer(request: Request, next: Next) -> Response {
    let open = is_open(request.uri().path());
    if open && request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        return response;
    }
    let mut response = next.run(request).await;
    if open {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}
