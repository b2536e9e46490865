//! PostgreSQL for the server's tests: Debian's server binaries (`initdb`, `pg_ctl`), which the
//! test suite runs itself on a free port (`server/tests/common/mod.rs`).

use std::path::PathBuf;

use crate::util::{root, run, run_env, step};

/// The newest `/usr/lib/postgresql/*/bin` that has `initdb` and `pg_ctl`.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Installs Debian's `postgresql` when its server binaries are missing.
pub(crate) fn ensure() -> Result<(), String> {
    if std::env::var("KAZASHI_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    if bin_dir().is_some() {
        return Ok(());
    }
    step("installing postgresql (initdb, pg_ctl for the server's tests)");
    run(&root(), "apt-get", &["update", "-qq"])?;
    run_env(
        &root(),
        "apt-get",
        &[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "postgresql",
        ],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .map_err(|e| {
        format!(
            "{e}\ninstall the Debian package postgresql (as root), or set KAZASHI_SKIP_POSTGRES=1"
        )
    })?;
    bin_dir().map(|_| ()).ok_or_else(|| {
        "installed postgresql but /usr/lib/postgresql/*/bin/initdb is missing".into()
    })
}
