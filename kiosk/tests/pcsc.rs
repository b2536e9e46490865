//! The kiosk through the real PC/SC stack: a private `pcscd` with vsmartcard's vpcd driver,
//! `kazashi-kiosk phone` attached to it as the phone, and `kazashi-kiosk read` reading it
//! through the `pcsc` crate. Engagement by NFC static handover and by QR text; reader
//! authentication on and off; device signature (on the phone's virtual chip) and device MAC;
//! then the failures: an issuer not trusted, a phone that refuses an unauthenticated reader,
//! the phone leaving mid-transfer, no phone at all. Each failure must exit with its documented
//! code and print nothing on stdout.
//!
//! `harness = false`: it starts its own processes. Missing pcscd or vpcd fails the test unless
//! `KAZASHI_SKIP_PCSC=1`; `cargo xtask test` installs them.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic, missing_docs)]

#[path = "common/rig.rs"]
#[allow(dead_code, unreachable_pub)]
mod rig;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Output};
use std::time::Duration;

use rig::procs::{Guard, READER};
use rig::{Rig, assert_fails, text};

const NAME: &str = "kiosk_reads_phone_through_pcscd_and_vpcd";
const MDL: &str = "org.iso.18013.5.1.mDL";
const NS: &str = "org.iso.18013.5.1";

fn main() -> ExitCode {
    rig::main(NAME, || None, scenario)
}

struct Setup(Rig);

impl Deref for Setup {
    type Target = Rig;

    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl Setup {
    fn pki(&self, name: &str) -> PathBuf {
        self.dir.join("pki").join(name)
    }

    /// Starts the phone and waits until vpcd has it.
    fn phone(&self, state: &Path, extra: &[&str]) -> (Guard, PathBuf) {
        let log = self
            .dir
            .join(format!("phone-{}.log", extra.join("_").replace('/', "")));
        (self.0.phone(state, extra, &log), log)
    }

    /// `read` of the three items, trusting the test issuer.
    fn read(&self, extra: &[&str]) -> Output {
        self.read_trusting(
            &self.pki("issuer-root.pem"),
            "org.iso.18013.5.1:family_name,org.iso.18013.5.1:age_over_18,org.iso.18013.5.1:portrait",
            extra,
        )
    }

    fn read_trusting(&self, trust: &Path, items: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "read",
            "--reader",
            READER,
            "--doctype",
            MDL,
            "--items",
            items,
            "--issuer-trust",
            trust.to_str().unwrap(),
            "--timeout",
            "10",
        ];
        args.extend_from_slice(extra);
        self.kiosk(&args)
    }
}

fn issue(setup: &Setup, state: &Path, chip: Option<&Path>) {
    let cert = setup.pki("issuer.pem");
    let key = setup.pki("issuer.key");
    let mut args = vec![
        "issue".to_string(),
        "--state".into(),
        state.to_str().unwrap().into(),
        "--issuer-cert".into(),
        cert.to_str().unwrap().into(),
        "--issuer-key".into(),
        key.to_str().unwrap().into(),
        "--doctype".into(),
        MDL.into(),
        "--item".into(),
        format!("{NS}:family_name=Yamada"),
        "--item".into(),
        format!("{NS}:given_name=Hanako"),
        "--item".into(),
        format!("{NS}:age_over_18=true"),
        "--item".into(),
        format!("{NS}:portrait=hex:{}", "ab".repeat(2000)),
    ];
    if let Some(chip) = chip {
        args.push("--chip".into());
        args.push(chip.to_str().unwrap().into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = setup.kiosk(&args);
    assert!(out.status.success(), "issue: {}", text(&out));
}

fn assert_read(
    output: &Output,
    device_auth: &str,
    engagement: &str,
    reader_auth: bool,
    apdus: &str,
) {
    assert!(output.status.success(), "read: {}", text(output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["doc_type"], MDL, "{json}");
    assert_eq!(json["items"][NS]["family_name"], "Yamada", "{json}");
    assert_eq!(json["items"][NS]["age_over_18"], true, "{json}");
    assert_eq!(
        json["items"][NS]["portrait"]["bytes"]
            .as_str()
            .unwrap()
            .len(),
        2667
    );
    assert!(
        json["items"][NS].get("given_name").is_none(),
        "not requested: {json}"
    );
    assert_eq!(json["device_auth"], device_auth, "{json}");
    assert_eq!(json["engagement"], engagement, "{json}");
    assert_eq!(json["reader_auth"], reader_auth, "{json}");
    assert_eq!(
        json["issuer"]["subject"], "CN=kazashi test issuer,C=JP",
        "{json}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Hold your phone to the reader"), "{stderr}");
    assert!(stderr.contains(&format!("({apdus} APDUs)")), "{stderr}");
}

fn scenario() {
    let setup = Setup(Rig::start("kiosk"));
    setup.make_pki("pki");

    // Two phones: one with its device key in software, one with it on its virtual chip.
    let chip = setup.dir.join("chip.json");
    setup.new_chip(&chip);
    let software = setup.dir.join("phone-software.json");
    let on_chip = setup.dir.join("phone-chip.json");
    issue(&setup, &software, None);
    issue(&setup, &on_chip, Some(&chip));
    let reader_root = setup.pki("reader-root.pem");
    let reader_key = setup.pki("reader.key");
    let reader_cert = setup.pki("reader.pem");
    let signed = [
        "--reader-key",
        reader_key.to_str().unwrap(),
        "--reader-cert",
        reader_cert.to_str().unwrap(),
    ];

    // 1. NFC handover, device signature on the chip, reader authentication checked by the
    //    phone against the reader root.
    let (mut phone, log) = setup.phone(
        &on_chip,
        &[
            "--reader-trust",
            reader_root.to_str().unwrap(),
            "--require-reader-auth",
        ],
    );
    assert_read(&setup.read(&signed), "signature", "nfc", true, "extended");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("reader authenticated")
    );
    // 2. The same phone refuses a reader that does not authenticate.
    assert_fails(&setup.read(&[]), 9, "no_document");
    phone.terminate(Duration::from_secs(3));
    println!("NFC handover: device signature on the chip, reader authentication: ok");

    // 3. NFC handover, device MAC, no reader authentication, short APDUs only.
    let (mut phone, _) = setup.phone(&software, &["--auth", "mac"]);
    assert_read(&setup.read(&["--short"]), "mac", "nfc", false, "short");
    // 4. The issuer is not in the trust list (the reader root is not an issuer).
    let wrong = setup.pki("reader-root.pem");
    let out = setup.read_trusting(&wrong, "org.iso.18013.5.1:family_name", &[]);
    assert_fails(&out, 8, "not_trusted");
    phone.terminate(Duration::from_secs(3));
    println!("NFC handover: device MAC, short APDUs; untrusted issuer refused: ok");

    // 5. QR engagement, device MAC, reader authentication.
    let qr_file = setup.dir.join("qr.txt");
    let (mut phone, _) = setup.phone(
        &software,
        &[
            "--engagement",
            "qr",
            "--qr-out",
            qr_file.to_str().unwrap(),
            "--auth",
            "mac",
        ],
    );
    let qr = std::fs::read_to_string(&qr_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(qr.starts_with("mdoc:"), "{qr}");
    let mut args = vec!["--engagement", qr.as_str()];
    args.extend_from_slice(&signed);
    assert_read(&setup.read(&args), "mac", "qr", true, "extended");
    // The QR of a finished session cannot start another one.
    let out = setup.read(&["--engagement", qr.as_str()]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty());
    phone.terminate(Duration::from_secs(3));
    println!("QR engagement: device MAC, reader authentication: ok");

    // 6. QR engagement, device signature on the chip, no reader authentication.
    let (mut phone, _) = setup.phone(
        &on_chip,
        &["--engagement", "qr", "--qr-out", qr_file.to_str().unwrap()],
    );
    let qr = std::fs::read_to_string(&qr_file)
        .unwrap()
        .trim()
        .to_string();
    assert_read(
        &setup.read(&["--engagement", qr.as_str()]),
        "signature",
        "qr",
        false,
        "extended",
    );
    phone.terminate(Duration::from_secs(3));
    println!("QR engagement: device signature on the chip: ok");

    // 7. The phone leaves the field mid-transfer (after the handover, during the ENVELOPEs).
    let (mut phone, _) = setup.phone(&software, &["--leave-after", "9", "--max-command", "100"]);
    assert_fails(&setup.read(&[]), 5, "interrupted");
    phone.kill();
    println!("phone removed mid-transfer: exit 5, no output: ok");

    // 8. No phone at all.
    let out = setup.read(&["--timeout", "1"]);
    assert_fails(&out, 4, "no_phone");
    println!("no phone: exit 4: ok");

    setup.0.remove();
}
