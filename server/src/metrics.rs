//! Metrics in the Prometheus text format (`/metrics`).
//!
//! Transactions by state and refused registrations by code are read from the database, so
//! every instance reports the same totals. The request latency histogram is **per instance**
//! (each instance is scraped on its own, as usual for Prometheus).
//!
//! The database counters (refusals, relay exchanges) are counted in memory and added to the
//! database about once a second ([`Counters`]): one write per counter and second instead of a
//! write per request, and no row every request of every instance updates.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::db::Db;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Histogram bucket upper bounds, seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// This instance's request latencies, by route and method.
#[derive(Debug, Default)]
pub struct Metrics {
    latency: Mutex<BTreeMap<String, BTreeMap<String, Histogram>>>,
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, method: &str, route: &str, seconds: f64) {
        let Ok(mut map) = self.latency.lock() else {
            return;
        };
        let by_method = match map.get_mut(route) {
            Some(m) => m,
            None => map.entry(route.to_owned()).or_default(),
        };
        let h = match by_method.get_mut(method) {
            Some(h) => h,
            None => by_method.entry(method.to_owned()).or_default(),
        };
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The histogram in the text format.
    pub fn render(&self, out: &mut String) {
        let map = match self.latency.lock() {
            Ok(map) => map.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        out.push_str(
            "# HELP kazashi_http_request_duration_seconds Request latency (this instance).\n",
        );
        out.push_str("# TYPE kazashi_http_request_duration_seconds histogram\n");
        for (route, by_method) in &map {
            for (method, h) in by_method {
                let labels = format!("route=\"{route}\",method=\"{method}\"");
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "kazashi_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "kazashi_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "kazashi_http_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "kazashi_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
    }
}

/// Middleware: times every request, logs it, records it by matched route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = start.elapsed().as_secs_f64();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.observe(method.as_str(), route, elapsed);
    tracing::debug!(%method, %route, status = response.status().as_u16(), elapsed, "request");
    response
}

/// Counts not yet added to the database counters: every instance adds its own, so the totals
/// in the database are the sum over all instances (at most a flush interval late).
#[derive(Debug, Default)]
pub struct Counters {
    pending: Mutex<HashMap<String, i64>>,
}

/// How often `kazashi-server serve` adds the counted values to the database.
pub const COUNTER_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Counters {
    /// Counts one `name`.
    pub fn add(&self, name: &str) {
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        match pending.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                pending.insert(name.to_owned(), 1);
            }
        }
    }

    /// Adds what was counted to the database; what could not be written is kept for the next
    /// time.
    pub async fn flush(&self, db: &Db) -> Result<(), sqlx::Error> {
        let taken: Vec<(String, i64)> = {
            let mut pending = match self.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            pending.drain().collect()
        };
        let mut failed = None;
        for (i, (name, n)) in taken.iter().enumerate() {
            if let Err(e) = db.add_to_counter(name, *n).await {
                let mut pending = match self.pending.lock() {
                    Ok(p) => p,
                    Err(poisoned) => poisoned.into_inner(),
                };
                for (name, n) in &taken[i..] {
                    *pending.entry(name.clone()).or_insert(0) += n;
                }
                failed = Some(e);
                break;
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
