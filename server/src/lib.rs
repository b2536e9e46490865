//! `kazashi-server`: kazashi's mobile access server (`docs/server.md`).
//!
//! Providers register sealed command envelopes (`POST /v1/transactions`); the server checks
//! them (seal, signature, claims, replay, policy), stores them and hands back a single-use
//! launch URL; results are fetched signed (`GET /v1/transactions/{id}/result`).
//!
//! - [`config`]: the typed configuration, read once.
//! - [`db`]: one code path over SQLite and PostgreSQL (sqlx `Any`), migrations.
//! - [`keys`]: the server's key files in the data directory, and rotation.
//! - [`registry`]: providers and chips (the admin CLI and the server share it).
//! - [`transactions`]: storing transactions, replay protection, launch tokens.
//! - [`routes`]: [`build_router`] and the handlers, one module per resource.
//! - [`cli`]: the `kazashi-server` command line.
//!
//! Instances keep nothing in memory that another instance needs: every decision reads the
//! database; the in-memory caches hold only immutable data (provider keys by thumbprint, the
//! server's key files), and the latency histogram is per instance.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod registry;
pub mod relay;
pub mod routes;
pub mod state;
pub mod transactions;

pub use config::Config;
pub use routes::build_router;
pub use state::AppState;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
