//! Cross-origin requests (the Fetch standard's CORS protocol) on the public endpoints, so that
//! a page — a web common app running the npm package's `Relay`, a provider's page verifying a
//! result with the server's keys — may call the server from another origin.
//!
//! Every answer of these endpoints carries `Access-Control-Allow-Origin: *`, and a preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) is answered `204` with the methods and
//! request headers they take. `*` is safe here because nothing on this server relies on
//! ambient credentials: no cookies, no HTTP authentication, and browsers never send
//! credentials to a `*` origin. Whoever can call these endpoints from a page can call them from
//! anywhere: a launch URL is a bearer capability, a command is signed by its provider.
//! `/metrics` and `/healthz` are for operators and stay same-origin.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE: &str = "600";

/// The middleware: answers preflights, marks every other answer shareable.
pub async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
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
            HeaderValue::from_static("content-type, accept"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        return response;
    }
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
