//! What the PC/SC system tests (`se/tests/pcsc.rs`) need: pcscd with vsmartcard's vpcd driver,
//! pcsc-tools, libpcsclite (the `pcsc` crate links it), libdbus and dbus-daemon (the kiosk's
//! BLE support links libdbus; its no-radio test runs a private bus), and a Python venv with yubikit
//! (PyPI `yubikey-manager`, over pyscard) as an independent SCP03 host.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, ensure_debian, have, root, run, step};

/// The venv the tests look for (`se/tests/pcsc.rs` reads `target/yubikit-venv/bin/python`).
fn venv() -> PathBuf {
    root().join("target/yubikit-venv")
}

/// The pinned Python packages.
fn requirements() -> PathBuf {
    root().join("se/tests/yubikit/requirements.txt")
}

/// Installs the Debian packages and creates the yubikit venv when missing.
pub(crate) fn ensure() -> Result<(), String> {
    ensure_pcscd()?;
    ensure_yubikit()
}

/// Installs the Debian packages only (pcscd, vpcd, libpcsclite): what a test that runs its
/// own pcscd needs (the npm package's offline tests).
pub(crate) fn ensure_pcscd() -> Result<(), String> {
    let probes: [(&str, bool); 8] = [
        ("pcscd", have("pcscd")),
        ("vsmartcard-vpcd", Path::new(VPCD_DRIVER).exists()),
        ("pcsc-tools", have("scriptor")),
        ("pkg-config", have("pkg-config")),
        // The `pcsc` crate links libpcsclite (found through pkg-config).
        ("libpcsclite-dev", pkg_config_has("libpcsclite")),
        // The kiosk's BLE support (btleplug) links libdbus through pkg-config.
        ("libdbus-1-dev", pkg_config_has("dbus-1")),
        // `kiosk/tests/ble_no_radio.rs` starts a private D-Bus system bus.
        ("dbus-daemon", have("dbus-daemon")),
        ("python3-venv", python_has_venv()),
    ];
    let missing: Vec<&str> = probes
        .iter()
        .filter(|(_, present)| !present)
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    Ok(())
}

/// Where Debian's vsmartcard-vpcd puts the driver (and where the tests look for it).
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

fn apt_install(packages: &[&str]) -> Result<(), String> {
    util::apt_install(
        packages,
        "PC/SC system tests; set KAZASHI_SKIP_PCSC=1 to skip them",
    )
}

/// What building the workspace needs: the `pcsc` crate links libpcsclite, and the kiosk's
/// BLE support (`btleplug`, BlueZ over D-Bus) links libdbus, both found through pkg-config.
pub(crate) fn ensure_build_dependencies() -> Result<(), String> {
    let mut missing = Vec::new();
    if !have("pkg-config") {
        missing.push("pkg-config");
    }
    if !pkg_config_has("libpcsclite") {
        missing.push("libpcsclite-dev");
    }
    if !pkg_config_has("dbus-1") {
        missing.push("libdbus-1-dev");
    }
    if missing.is_empty() {
        return Ok(());
    }
    util::apt_install(
        &missing,
        "the PC/SC reader support links libpcsclite, the kiosk's BLE support libdbus",
    )
}

fn python_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn pkg_config_has(library: &str) -> bool {
    Command::new("pkg-config")
        .args(["--exists", library])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn yubikit_ready(python: &Path) -> bool {
    python.exists()
        && Command::new(python)
            .args(["-c", "import ykman, yubikit, smartcard"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

fn ensure_yubikit() -> Result<(), String> {
    let venv = venv();
    let python = venv.join("bin/python");
    if yubikit_ready(&python) {
        return Ok(());
    }
    step("creating the yubikit venv (PyPI yubikey-manager, pyscard) in target/yubikit-venv");
    let _ = std::fs::remove_dir_all(&venv);
    run(&root(), "python3", &["-m", "venv", &venv.to_string_lossy()])?;
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    let requirements = requirements().to_string_lossy().into_owned();
    let install = [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        requirements.as_str(),
    ];
    if run(&root(), &pip, &install).is_err() {
        // No pyscard wheel for this Python: it builds from source with SWIG and a compiler.
        ensure_debian("swig", &["swig", "python3-dev", "gcc", "libpcsclite-dev"])?;
        run(&root(), &pip, &install)?;
    }
    if yubikit_ready(&python) {
        Ok(())
    } else {
        Err(format!(
            "{} cannot import ykman and smartcard after installing {}",
            python.display(),
            requirements
        ))
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test -p xtask -- --ignored`: installs what the PC/SC tests need, like
    /// `cargo xtask test` does before the Rust tests.
    #[test]
    #[ignore = "installs packages and a venv"]
    fn ensure_installs_everything() {
        super::ensure().unwrap();
        assert!(super::yubikit_ready(&super::venv().join("bin/python")));
    }
}
