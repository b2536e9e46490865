//! `GET /healthz` and `GET /metrics`.

use std::fmt::Write;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;
use crate::transactions;

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.db.pool).await {
        Ok(_) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "unavailable", "message": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`, Prometheus text format 0.0.4.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // This instance's own counts first, so that it reports what it counted itself.
    if let Err(e) = state.counters.flush(&state.db).await {
        tracing::warn!(error = %e, "adding to the database counters failed");
    }
    let mut out = String::new();
    out.push_str("# HELP kazashi_transactions Transactions by state (all instances).\n");
    out.push_str("# TYPE kazashi_transactions gauge\n");
    let counts = transactions::count_by_state(&state.db).await?;
    for state_name in [
        transactions::PENDING,
        transactions::COMPLETED,
        transactions::FAILED,
    ] {
        let n = counts
            .iter()
            .find(|(s, _)| s == state_name)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "kazashi_transactions{{state=\"{state_name}\"}} {n}");
    }
    out.push_str(
        "# HELP kazashi_registrations_refused_total Refused registrations by error code (all instances).\n",
    );
    out.push_str("# TYPE kazashi_registrations_refused_total counter\n");
    for (code, n) in transactions::counters(&state.db, "refused.").await? {
        let _ = writeln!(
            out,
            "kazashi_registrations_refused_total{{code=\"{code}\"}} {n}"
        );
    }
    out.push_str("# HELP kazashi_relay_exchanges_total Relay exchanges by kind (all instances).\n");
    out.push_str("# TYPE kazashi_relay_exchanges_total counter\n");
    for (kind, n) in transactions::counters(&state.db, "relay.").await? {
        let _ = writeln!(out, "kazashi_relay_exchanges_total{{kind=\"{kind}\"}} {n}");
    }
    state.metrics.render(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
