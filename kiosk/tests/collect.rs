//! Collecting a certificate at the kiosk, through the real PC/SC stack (a private `pcscd`
//! with vsmartcard's vpcd, `kazashi-kiosk phone` as the phone): `kazashi-kiosk collect`
//! verifies the certificate, renders the PDF — read back with poppler's `pdftotext` (the
//! Japanese text) and rendered with `pdftoppm` (a page with ink on it) — and prints it with a
//! recording `lp` put first on the PATH. Then the failures: an untrusted issuer (no PDF, no
//! `lp`), no printer configured (a clear error, the PDF kept), no Japanese font. Then the
//! kiosk screen's line mode (`kiosk --plain`) against the same phone: a success, the phone
//! taken away, a phone whose certificate does not verify.
//!
//! `harness = false`: it starts its own processes. Missing pcscd or vpcd fails the test unless
//! `KAZASHI_SKIP_PCSC=1`; missing poppler or the IPA font fails it. `cargo xtask test`
//! installs them all.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic, missing_docs)]

#[path = "common/rig.rs"]
#[allow(dead_code, unreachable_pub)]
mod rig;

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rig::procs::{self, Guard, READER};
use rig::{Rig, assert_fails, text};

const NAME: &str = "kiosk_collects_and_prints_a_certificate";
const DOCTYPE: &str = "jp.kazashi.certificate.1";
const IPA_GOTHIC: &str = "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf";

fn main() -> ExitCode {
    let needs = || {
        (!procs::have("pdftotext") || !procs::have("pdftoppm") || !Path::new(IPA_GOTHIC).exists())
            .then(|| {
                "poppler-utils and fonts-ipafont-gothic are needed. Run `cargo xtask test` (it \
                 installs them)."
                    .to_string()
            })
    };
    rig::main(NAME, needs, scenario)
}

struct Setup(Rig);

impl Deref for Setup {
    type Target = Rig;

    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl Setup {
    fn pki(&self, set: &str, name: &str) -> PathBuf {
        self.dir.join(set).join(name)
    }

    /// A kiosk command, with `path` as its PATH when given.
    fn command(&self, args: &[&str], path: Option<&Path>) -> Command {
        let mut command = self.0.command(args);
        if let Some(path) = path {
            command.env("PATH", path);
        }
        command
    }

    fn kiosk(&self, args: &[&str], path: Option<&Path>) -> Output {
        self.command(args, path).output().unwrap()
    }

    /// Starts the phone and waits until vpcd has it.
    fn phone(&self, state: &Path) -> Guard {
        let log = self.dir.join(format!(
            "phone-{}.log",
            state.file_stem().unwrap().to_string_lossy()
        ));
        self.0.phone(state, &[], &log)
    }

    /// Issues the certificate (signed by the issuer of `set`, without the element `skip`)
    /// into a new phone state.
    fn issue(&self, set: &str, state: &Path, skip: Option<&str>) {
        let cert = self.pki(set, "issuer.pem");
        let key = self.pki(set, "issuer.key");
        let item = |name: &str, value: &str| format!("{DOCTYPE}:{name}={value}");
        let items = [
            item("certificate_type", "住民票の写し"),
            item("family_name", "山田"),
            item("given_name", "太郎"),
            item("birth_date", "1985-04-01"),
            item("address", "緑市中央一丁目2番3号 みどりハイツ101号室"),
            item("certificate_number", "R8-001234"),
            item("issue_date", "2026-11-30"),
            item("issuing_office", "緑市長 緑川 一郎"),
        ];
        let mut args = vec![
            "issue",
            "--state",
            state.to_str().unwrap(),
            "--issuer-cert",
            cert.to_str().unwrap(),
            "--issuer-key",
            key.to_str().unwrap(),
            "--doctype",
            DOCTYPE,
        ];
        for item in &items {
            if skip.is_some_and(|name| item.contains(&format!(":{name}="))) {
                continue;
            }
            args.push("--item");
            args.push(item);
        }
        let out = self.kiosk(&args, None);
        assert!(out.status.success(), "issue: {}", text(&out));
    }

    fn collect(&self, out: &Path, extra: &[&str], path: Option<&Path>) -> Output {
        let trust = self.pki("pki", "issuer-root.pem");
        let mut args = vec![
            "collect",
            "--reader",
            READER,
            "--issuer-trust",
            trust.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--terminal",
            "kiosk-7",
            "--timeout",
            "10",
        ];
        args.extend_from_slice(extra);
        self.kiosk(&args, path)
    }
}

/// A directory of fake CUPS programs: `lp` records its arguments and a copy of the file it
/// was given; `lpstat -d` names a default printer, or says there is none.
fn fake_cups(dir: &Path, default: Option<&str>, with_lp: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("lp.args");
    let copy = dir.join("lp.pdf");
    let write = |name: &str, body: String| {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    };
    if with_lp {
        write(
            "lp",
            format!(
                "printf '%s\\n' \"$@\" > '{}'\nfor last; do :; done\n/bin/cp \"$last\" '{}'\n\
                 echo \"request id is $2-42 (1 file(s))\"\n",
                log.display(),
                copy.display()
            ),
        );
    }
    write(
        "lpstat",
        match default {
            Some(name) => format!("echo 'system default destination: {name}'\n"),
            None => "echo 'no system default destination'\n".into(),
        },
    );
    dir.to_path_buf()
}

/// The PDF's text, by poppler.
fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Renders page 1 at 50 dpi in grey (PGM) and returns (width, height, non-white pixels).
fn render(pdf: &Path, dir: &Path) -> (usize, usize, usize) {
    let prefix = dir.join("page");
    let out = Command::new("pdftoppm")
        .args(["-r", "50", "-gray", "-f", "1", "-l", "1", "-singlefile"])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftoppm: {}", text(&out));
    let pgm = std::fs::read(prefix.with_extension("pgm")).unwrap();
    // P5\n<w> <h>\n<max>\n<bytes>
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &pgm[at + 1..];
    assert_eq!(pixels.len(), w * h);
    (w, h, pixels.iter().filter(|&&p| p < 200).count())
}

fn scenario() {
    let setup = Setup(Rig::start("collect"));
    for set in ["pki", "other"] {
        setup.make_pki(set);
    }
    let good = setup.dir.join("phone-good.json");
    let forged = setup.dir.join("phone-forged.json");
    setup.issue("pki", &good, None);
    // The same certificate, signed by an issuer the kiosk does not trust.
    setup.issue("other", &forged, None);
    // A certificate without an address.
    let partial = setup.dir.join("phone-partial.json");
    setup.issue("pki", &partial, Some("address"));

    // 1. Collect and print: the PDF says what the certificate says, in Japanese.
    let mut phone = setup.phone(&good);
    let cups = fake_cups(&setup.dir.join("cups-ok"), Some("front-desk"), true);
    let pdf = setup.dir.join("certificate.pdf");
    let out = setup.collect(&pdf, &["--print"], Some(&cups));
    assert!(out.status.success(), "collect: {}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["doc_type"], DOCTYPE, "{json}");
    assert_eq!(json["certificate"]["family_name"], "山田", "{json}");
    assert_eq!(json["printed"]["printer"], "front-desk", "{json}");
    assert_eq!(
        json["printed"]["lp"], "request id is front-desk-42 (1 file(s))",
        "{json}"
    );
    assert_eq!(
        json["verification"]["signer"], "CN=kazashi test issuer,C=JP",
        "{json}"
    );
    let words = pdf_text(&pdf);
    for needle in [
        "住民票の写し",
        "山田 太郎",
        "緑市中央一丁目2番3号",
        "緑市長 緑川 一郎",
        "1985-04-01",
        "R8-001234",
        "上記のとおり証明します。",
        "CN=kazashi test issuer,C=JP",
        "kiosk-7",
    ] {
        assert!(
            words.contains(needle),
            "{needle:?} not in the PDF:\n{words}"
        );
    }
    let (w, h, ink) = render(&pdf, &setup.dir);
    assert!(
        (410..=415).contains(&w) && (583..=587).contains(&h),
        "A4 at 50 dpi: {w}x{h}"
    );
    assert!(
        ink > 2_000,
        "a page with text and a frame on it: {ink} dark pixels"
    );
    assert!(ink < w * h / 4, "not a black page: {ink} dark pixels");
    // lp got the PDF, for the default printer.
    let args = std::fs::read_to_string(cups.join("lp.args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..2], ["-d", "front-desk"], "{args:?}");
    assert_eq!(args.last(), Some(&pdf.to_str().unwrap()), "{args:?}");
    assert_eq!(
        std::fs::read(cups.join("lp.pdf")).unwrap(),
        std::fs::read(&pdf).unwrap()
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&pdf).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "personal data: owner-only");
    println!("collect: verified, PDF with the Japanese text rendered, printed with lp: ok");

    // 2. With --printer NAME, and a named font (a Noto CJK collection, when present).
    let pdf2 = setup.dir.join("named.pdf");
    let noto = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
    let mut extra = vec!["--printer", "annex"];
    if Path::new(noto).exists() {
        extra.extend_from_slice(&["--font", noto]);
    }
    let out = setup.collect(&pdf2, &extra, Some(&cups));
    assert!(out.status.success(), "collect: {}", text(&out));
    let args = std::fs::read_to_string(cups.join("lp.args")).unwrap();
    assert!(args.starts_with("-d\nannex\n"), "{args}");
    assert!(pdf_text(&pdf2).contains("山田 太郎"));
    println!("collect --printer NAME (font {:?}): ok", extra.get(3));

    // 3. No printer configured: a clear error, exit 11, the PDF kept.
    let none = fake_cups(&setup.dir.join("cups-none"), None, true);
    let pdf3 = setup.dir.join("kept.pdf");
    let out = setup.collect(&pdf3, &["--print"], Some(&none));
    assert_fails(&out, 11, "print");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no default printer configured"), "{stderr}");
    assert!(
        stderr.contains(pdf3.to_str().unwrap()),
        "says where: {stderr}"
    );
    assert!(pdf_text(&pdf3).contains("山田 太郎"));
    assert!(!none.join("lp.args").exists(), "lp was not called");
    // ... nor lp at all.
    let bare = fake_cups(&setup.dir.join("cups-bare"), Some("x"), false);
    let pdf4 = setup.dir.join("bare.pdf");
    let out = setup.collect(&pdf4, &["--print"], Some(&bare));
    assert_fails(&out, 11, "print");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`lp` (CUPS) is not installed"));
    assert!(pdf4.exists());
    println!("no printer configured: exit 11, PDF kept: ok");

    // 4. A font without Japanese glyphs is refused before anyone taps: exit 10.
    let latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let pdf5 = setup.dir.join("latin.pdf");
    if Path::new(latin).exists() {
        let out = setup.collect(&pdf5, &["--font", latin], None);
        assert_fails(&out, 10, "no_font");
        assert!(String::from_utf8_lossy(&out.stderr).contains("has no glyph"));
        assert!(!pdf5.exists());
    }
    let out = setup.collect(&pdf5, &["--font", "/nonexistent.ttf"], None);
    assert_fails(&out, 10, "no_font");
    assert!(!pdf5.exists());
    println!("no Japanese font: exit 10: ok");

    phone.terminate(Duration::from_secs(3));

    // 5. An untrusted issuer: exit 8, no PDF (not even a partial one), lp not called.
    let mut phone = setup.phone(&forged);
    let cups = fake_cups(&setup.dir.join("cups-forged"), Some("front-desk"), true);
    let pdf6 = setup.dir.join("forged.pdf");
    let out = setup.collect(&pdf6, &["--print"], Some(&cups));
    assert_fails(&out, 8, "not_trusted");
    assert!(!pdf6.exists(), "no PDF for a claim that did not verify");
    assert!(!setup.dir.join(".forged.pdf.partial").exists());
    assert!(!cups.join("lp.args").exists(), "lp was not called");
    phone.terminate(Duration::from_secs(3));
    println!("untrusted issuer: exit 8, no PDF, nothing printed: ok");

    // 6. A verified certificate without a required element: exit 9, nothing written.
    let mut phone = setup.phone(&partial);
    let pdf7 = setup.dir.join("partial.pdf");
    let out = setup.collect(&pdf7, &["--print"], Some(&cups));
    assert_fails(&out, 9, "no_document");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no address"));
    assert!(!pdf7.exists());
    assert!(!cups.join("lp.args").exists(), "lp was not called");
    phone.terminate(Duration::from_secs(3));
    println!("certificate without an address: exit 9, no PDF: ok");

    if std::env::var_os("NO_SCREEN").is_none() {
        screen(&setup, &good, &forged);
    }

    setup.0.remove();
}

/// The kiosk screen's line mode: a success, the phone taken away, then a failure.
fn screen(setup: &Setup, good: &Path, forged: &Path) {
    let trust = setup.pki("pki", "issuer-root.pem");
    let out = setup.dir.join("screen.pdf");
    let cups = fake_cups(&setup.dir.join("cups-screen"), Some("front-desk"), true);
    let mut phone = setup.phone(good);
    let mut child = setup
        .command(
            &[
                "kiosk",
                "--plain",
                "--mode",
                "collect",
                "--lang",
                "en",
                "--reader",
                READER,
                "--issuer-trust",
                trust.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--print",
                "--hold",
                "1",
                "--taps",
                "2",
            ],
            Some(&cups),
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(setup.dir.join("screen.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let log = setup.dir.join("screen.log");
    let wait_for = |needle: &str, lines: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} from the screen; saw:\n{}\n--- stderr\n{}",
                    lines.join("\n"),
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        }
    };
    wait_for("ready: Hold your phone to the reader", &mut lines);
    wait_for("success: Your certificate is printing", &mut lines);
    assert!(
        lines.iter().any(|l| l.starts_with("progress: Verifying")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("山田 太郎")), "{lines:?}");
    assert!(cups.join("lp.args").exists(), "printed");
    assert!(pdf_text(&out).contains("山田 太郎"));
    std::fs::remove_file(&out).unwrap();
    // Taken away: back to the prompt; then a phone whose certificate is not trusted.
    phone.terminate(Duration::from_secs(3));
    wait_for("ready: Hold your phone to the reader", &mut lines);
    let mut phone = setup.phone(forged);
    wait_for("failure: ", &mut lines);
    let failure = lines.last().unwrap().clone();
    assert!(
        failure.contains("could not be verified") && failure.contains("[8 not_trusted]"),
        "{failure}"
    );
    assert!(
        !out.exists(),
        "nothing written for a claim that did not verify"
    );
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the screen ends after --taps 2: {status:?}"
    );
    phone.terminate(Duration::from_secs(3));
    println!("kiosk screen (line mode): success, phone removed, not verified: ok");

    // Read mode, in Japanese: the facts of the verified document, then it stops (--taps 1).
    let mut phone = setup.phone(good);
    let items = format!("{DOCTYPE}:family_name,{DOCTYPE}:given_name");
    let out = setup.kiosk(
        &[
            "kiosk",
            "--plain",
            "--mode",
            "read",
            "--reader",
            READER,
            "--issuer-trust",
            trust.to_str().unwrap(),
            "--doctype",
            DOCTYPE,
            "--items",
            &items,
            "--hold",
            "0",
            "--taps",
            "1",
        ],
        None,
    );
    phone.terminate(Duration::from_secs(3));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"ready: スマートフォンをかざしてください"),
        "{stdout}"
    );
    assert_eq!(
        lines.last(),
        Some(
            &"success: 確認できました (jp.kazashi.certificate.1, 山田 太郎, CN=kazashi test issuer,C=JP)"
        ),
        "{stdout}"
    );
    assert!(lines.contains(&"progress: 確認しています…"), "{stdout}");
    println!("kiosk screen (line mode, read, ja): ok");
}
