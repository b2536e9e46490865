//! The server's configuration: typed, read once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default lifetime of a launch URL, seconds (never beyond the command's `exp`).
pub const DEFAULT_LAUNCH_TTL: u64 = 120;

/// Everything the server is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory: key files, and the SQLite database by default.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The database: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The server's id: `issuer` in discovery, the `aud` commands must name, `iss` of results.
    pub id: String,
    /// The public base URL (no trailing `/`) used in discovery and launch URLs.
    pub public_url: String,
    /// Lifetime of a launch URL, seconds.
    pub launch_ttl: u64,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// Clock leeway for envelope times and replay bookkeeping, seconds.
    pub leeway: u64,
}

impl Config {
    /// A configuration with the defaults for everything but the data directory and address:
    /// SQLite in the data directory, public URL `http://{listen}`, id = public URL.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        let data_dir = data_dir.into();
        let public_url = format!("http://{listen}");
        Self {
            database_url: sqlite_url(&data_dir),
            id: public_url.clone(),
            public_url,
            data_dir,
            listen,
            launch_ttl: DEFAULT_LAUNCH_TTL,
            body_limit: kazashi_protocol::jose::MAX_TOKEN_LEN,
            leeway: kazashi_protocol::envelope::DEFAULT_LEEWAY,
        }
    }
}

/// The default database: `kazashi.db` in the data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    let path = data_dir.join("kazashi.db");
    let absolute = std::path::absolute(&path).unwrap_or(path);
    format!("sqlite://{}?mode=rwc", absolute.display())
}
