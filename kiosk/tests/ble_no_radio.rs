//! `kazashi-kiosk read --ble` on a machine without a Bluetooth radio (CI, these build
//! machines): it must end with exit code 4 ("no reader or no phone") and a plain message
//! naming Bluetooth, not a panic, nothing on stdout. Where a controller and bluetoothd do
//! exist, no phone advertises the test's service UUID, so the scan times out: exit 4 too.
//! Also the command-line and engagement refusals of the BLE path.
//!
//! The BLE session itself (framing, State, the holder on the other side) is covered without
//! a radio by `kiosk/src/ble.rs`'s unit tests over an in-memory GATT link and by
//! `protocol/tests/offline_ble.rs`.

#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stdout, missing_docs)]

#[path = "common/bus.rs"]
#[allow(dead_code, unreachable_pub)]
mod bus;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kazashi_protocol::offline::engagement::{BleOptions, NfcOptions};
use kazashi_protocol::offline::{DeviceEngagement, RetrievalMethod};
use p256::SecretKey;
use rand_core::OsRng;

use bus::{Bus, Dir};

const KIOSK: &str = env!("CARGO_BIN_EXE_kazashi-kiosk");
const MDL: &str = "org.iso.18013.5.1.mDL";

fn pki(name: &str) -> Dir {
    let dir = Dir::new(&format!("ble-{name}"));
    let out = Command::new(KIOSK)
        .args(["pki", "--out"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    dir
}

fn qr(methods: Vec<RetrievalMethod>) -> String {
    DeviceEngagement::new(&SecretKey::random(&mut OsRng).public_key(), methods).to_qr()
}

fn ble_qr() -> String {
    qr(vec![RetrievalMethod::Ble(BleOptions::peripheral_server([
        0x6b, 0x61, 0x7a, 0x61, 0x73, 0x68, 0x69, 0x2d, 0x62, 0x6c, 0x65, 0x2d, 0x74, 0x65, 0x73,
        0x74,
    ]))])
}

fn read(dir: &Dir, extra: &[&str]) -> Output {
    read_on_bus(dir, extra, None)
}

/// `read`, with the system D-Bus at `bus` when given.
fn read_on_bus(dir: &Dir, extra: &[&str], bus: Option<&str>) -> Output {
    let trust = dir.0.join("issuer-root.pem");
    let mut command = Command::new(KIOSK);
    if let Some(bus) = bus {
        command.env("DBUS_SYSTEM_BUS_ADDRESS", bus);
    }
    command
        .args([
            "read",
            "--doctype",
            MDL,
            "--items",
            "org.iso.18013.5.1:family_name",
        ])
        .arg("--issuer-trust")
        .arg(trust)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn check(out: &Output, code: i32, error_code: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&format!("[{error_code}]")), "{stderr}");
    stderr
}

#[test]
fn read_ble_without_a_radio_exits_4_with_a_plain_message() {
    let dir = pki("radio");
    let started = Instant::now();
    // No system bus at all (a path that does not exist), whatever this machine has.
    let out = read_on_bus(
        &dir,
        &["--ble", "--engagement", &ble_qr(), "--timeout", "3"],
        Some(&format!("unix:path={}", dir.0.join("no-bus").display())),
    );
    let stderr = check(&out, 4, "no_phone");
    assert!(stderr.contains("no D-Bus connection"), "{stderr}");
    // And on this machine's own system bus, whatever is there.
    let out = read(
        &dir,
        &["--ble", "--engagement", &ble_qr(), "--timeout", "3"],
    );
    let stderr = check(&out, 4, "no_phone");
    println!("kazashi-kiosk said:\n{stderr}");
    // No D-Bus, no bluetoothd, no controller, or (with all three) no phone advertising.
    assert!(
        stderr.contains("Bluetooth") || stderr.contains("no phone advertising"),
        "{stderr}"
    );
    // It gives up within the timeout (and some slack for process start-up), never hangs.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn read_ble_with_d_bus_but_no_bluez_exits_4() {
    let dir = pki("nobluez");
    let bus = Bus::start(&dir);
    let out = read_on_bus(
        &dir,
        &["--ble", "--engagement", &ble_qr(), "--timeout", "3"],
        Some(&bus.address),
    );
    let stderr = check(&out, 4, "no_phone");
    assert!(stderr.contains("Bluetooth is not available"), "{stderr}");
    assert!(stderr.contains("org.bluez"), "{stderr}");
}

#[test]
fn read_ble_refuses_what_it_cannot_use() {
    let dir = pki("usage");
    // An engagement that offers NFC only: no BLE to use (exit 6).
    let nfc_only = qr(vec![RetrievalMethod::Nfc(NfcOptions {
        max_command_len: 255,
        max_response_len: 256,
    })]);
    let out = read(&dir, &["--ble", "--engagement", &nfc_only]);
    check(&out, 6, "no_retrieval_method");
    // BLE in central client mode only: we are a central too (exit 6).
    let central_only = qr(vec![RetrievalMethod::Ble(BleOptions {
        peripheral_server: false,
        central_client: true,
        peripheral_server_uuid: None,
        central_client_uuid: Some([1; 16]),
        address: None,
    })]);
    let out = read(&dir, &["--ble", "--engagement", &central_only]);
    check(&out, 6, "no_retrieval_method");
    // Not a QR text (exit 6).
    let out = read(&dir, &["--ble", "--engagement", "mdoc:!!"]);
    check(&out, 6, "invalid_engagement_uri");
    // Usage: no engagement, both transports, an MTU below the minimum (exit 2).
    check(&read(&dir, &["--ble"]), 2, "usage");
    check(
        &read(&dir, &["--ble", "--reader", "X", "--engagement", &ble_qr()]),
        2,
        "usage",
    );
    check(
        &read(
            &dir,
            &["--ble", "--ble-mtu", "22", "--engagement", &ble_qr()],
        ),
        2,
        "usage",
    );
}
