//! Running commands and installing what the project needs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Prints a step heading on stderr.
pub(crate) fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Runs a command in `dir`, failing with a readable message.
pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    run_env(dir, program, args, &[])
}

/// Runs a command in `dir` with extra environment variables.
pub(crate) fn run_env(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Whether `program` is on the PATH.
pub(crate) fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs Debian packages when a program is missing.
pub(crate) fn ensure_debian(program: &str, packages: &[&str]) -> Result<(), String> {
    if have(program) {
        return Ok(());
    }
    apt_install(packages, &format!("for `{program}`"))?;
    if have(program) {
        Ok(())
    } else {
        Err(format!(
            "installed {} but `{program}` is still missing",
            packages.join(" ")
        ))
    }
}

/// Installs Debian packages (`apt-get update` runs once per process), saying what for.
pub(crate) fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    step(&format!("installing {} ({why})", packages.join(" ")));
    if !have("apt-get") {
        return Err(format!(
            "apt-get is not available: install the Debian packages {} yourself ({why})",
            packages.join(" ")
        ));
    }
    static UPDATED: std::sync::Once = std::sync::Once::new();
    let mut update_result = Ok(());
    UPDATED.call_once(|| update_result = run(&root(), "apt-get", &["update", "-qq"]));
    update_result?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(packages);
    run_env(
        &root(),
        "apt-get",
        &args,
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .map_err(|e| {
        format!(
            "{e}\ninstall the Debian packages {} (as root) and retry",
            packages.join(" ")
        )
    })
}

/// Makes sure the wasm32 target is installed.
pub(crate) fn ensure_wasm_target() -> Result<(), String> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed for the wasm32 target: {e}"))?;
    if String::from_utf8_lossy(&output.stdout).contains("wasm32-unknown-unknown") {
        return Ok(());
    }
    step("installing the wasm32-unknown-unknown target");
    run(
        &root(),
        "rustup",
        &["target", "add", "wasm32-unknown-unknown"],
    )
}

/// Makes sure Node.js and npm are present.
pub(crate) fn ensure_node() -> Result<(), String> {
    ensure_debian("node", &["nodejs"])?;
    ensure_debian("npm", &["npm"])
}

/// Debian's Chromium, which the browser tests drive through `playwright-core` (a browser
/// download would fail on machines that reach only package registries).
pub(crate) fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    apt_install(
        &["chromium"],
        "the browser tests (Chromium through playwright-core)",
    )?;
    if Path::new(CHROMIUM).exists() {
        Ok(())
    } else {
        Err(format!("Debian's chromium installed no {CHROMIUM}"))
    }
}

/// What the kiosk's collect test needs: poppler's `pdftotext` and `pdftoppm` to read and
/// render the certificate PDF, and a Japanese TrueType font (IPA Gothic) to render it with.
pub(crate) fn ensure_pdf_tools() -> Result<(), String> {
    ensure_debian("pdftotext", &["poppler-utils"])?;
    if Path::new(IPA_GOTHIC).exists() {
        return Ok(());
    }
    apt_install(&["fonts-ipafont-gothic"], "the kiosk's certificate PDF")?;
    if Path::new(IPA_GOTHIC).exists() {
        Ok(())
    } else {
        Err(format!("fonts-ipafont-gothic installed no {IPA_GOTHIC}"))
    }
}

/// Where Debian's `fonts-ipafont-gothic` puts the font.
pub(crate) const IPA_GOTHIC: &str = "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf";

/// Where Debian's `chromium` package puts the browser.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// `npm ci` in `dir` unless its `node_modules` is newer than its lock file.
pub(crate) fn npm_install(dir: &Path) -> Result<(), String> {
    let lock = dir.join("package-lock.json");
    let marker = dir.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&marker)) {
        (Ok(l), Ok(m)) => match (l.modified(), m.modified()) {
            (Ok(l), Ok(m)) => m >= l,
            _ => false,
        },
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(dir, "npm", &["ci", "--no-audit", "--no-fund"])
}
