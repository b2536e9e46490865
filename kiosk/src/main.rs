//! `kazashi-kiosk`: the offline terminal (ISO/IEC 18013-5 over NFC through PC/SC) and, for
//! tests and demos, the phone it reads (over vsmartcard-vpcd). See `docs/offline.md`.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ble;
mod certificate;
mod chip;
mod collect;
mod error;
mod files;
mod json;
mod phone;
mod read;
mod screen;
mod write;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_se::{PcscReader, TransportError};
use p256::ecdsa::SigningKey;

use crate::error::KioskError;
use crate::files::PhoneStateFile;
use crate::phone::{Auth, Engagement, Phone, PhoneOptions};
use crate::read::ReadOptions;

const USAGE: &str = "usage:
  kazashi-kiosk read --reader NAME --doctype DOCTYPE --items NS:NAME[,NS:NAME…]
                     --issuer-trust PEM [--engagement mdoc:…] [--reader-key PEM --reader-cert PEM]
                     [--short] [--timeout SECONDS]
      Reads one document from the phone on the PC/SC reader NAME: engagement by NFC static
      handover, or by the QR text given with --engagement; NFC data retrieval (extended-length
      APDUs unless --short). Prints the verified document as JSON on stdout, progress on stderr.
  kazashi-kiosk write --reader NAME --issuer-key PEM --issuer-cert PEM --doctype DOCTYPE
                      --data FILE --reader-key PEM --reader-cert PEM [--engagement mdoc:…]
                      [--valid-days N] [--short] [--timeout SECONDS]
      Writes a document into the phone at the counter (our extension to 18013-5): the
      terminal authenticates with --reader-key/--reader-cert, the phone makes a fresh device
      key, the document is issued for it with the issuer key and stored by the phone. FILE is
      JSON: {\"NAMESPACE\": {\"ELEMENT\": VALUE, …}, …}; VALUE is a string, true/false, an
      integer, or {\"bytes\": \"BASE64URL\"}. Prints {doc_type, digest, valid_until, engagement}.
  kazashi-kiosk read --ble --engagement mdoc:… --doctype … --items … --issuer-trust PEM
                     [--reader-key PEM --reader-cert PEM] [--ble-mtu N] [--timeout SECONDS]
      The same over Bluetooth LE: the phone's QR engagement offers BLE in mdoc peripheral
      server mode; the kiosk scans for its service UUID and connects (BlueZ on Linux). Writes
      are sized for ATT_MTU N (default 23, the minimum: btleplug cannot tell the negotiated one).
  kazashi-kiosk phone --vpcd HOST:PORT --state FILE [--engagement nfc|qr] [--qr-out FILE]
                      [--auth signature|mac] [--reader-trust PEM] [--require-reader-auth]
                      [--chip SE_STATE]
      Plays the phone: serves the documents of FILE through vsmartcard-vpcd, and stores
      documents written by terminals that chain to --reader-trust (no trust list: no writes);
      their keys are made on the virtual chip SE_STATE (or the state's chip), else in software.
  kazashi-kiosk pki --out DIR [--country CC]
      A test issuer and a test reader: issuer-root.pem, issuer.pem, issuer.key, reader-root.pem,
      reader.pem, reader.key (18013-5 Annex B profile). For tests and demos only.
  kazashi-kiosk issue --state FILE --issuer-cert PEM --issuer-key PEM --doctype DOCTYPE
                      --item NS:NAME=VALUE [--item …] [--valid-days N] [--chip SE_STATE]
      Issues a test document into the phone's state FILE (created on first use, with a device
      key in software, or generated on the virtual chip SE_STATE). VALUE: true, false, an
      integer, hex:…, @FILE (bytes), or text.
  kazashi-kiosk collect --reader NAME --issuer-trust PEM --out FILE.pdf [--print]
                        [--printer NAME] [--font FILE] [--terminal NAME] [--engagement mdoc:…]
                        [--reader-key PEM --reader-cert PEM] [--short] [--timeout SECONDS]
      Collects a certificate (jp.kazashi.certificate.1): reads and verifies it like read,
      renders it as an A4 PDF (Japanese font: --font, else IPA Gothic or Noto CJK), and with
      --print (or --printer) sends it to the printer with lp. Nothing is written or printed
      unless it verified.
  kazashi-kiosk kiosk --reader NAME --issuer-trust PEM [--mode read|collect] [--lang ja|en]
                      [--plain] [--hold SECONDS] [--taps N] (read: --doctype D --items I)
                      (collect: --out FILE.pdf [--print] [--printer NAME] [--font FILE] …)
      The kiosk's screen, full-screen: a tap prompt, progress, the result or a plain-language
      failure, then the prompt again once the phone is taken away; q or Esc quits. --plain
      (or no terminal) prints each new state as a line. --taps N: stop after N taps.

exit codes: 0 ok, 2 usage, 3 file, 4 no reader or no phone, 5 phone removed during the
transfer, 6 engagement failed, 7 session failed, 8 document not verified, 9 no such document,
10 no Japanese font, 11 printing failed (the PDF is kept)";

/// A small parser: `--name value` options (repeatable), `--flag`s.
struct Args {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(args: &[String], options: &[&str], flags: &[&str]) -> Result<Self, KioskError> {
        let mut pairs = Vec::new();
        let mut found = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            if flags.contains(&arg) {
                found.push(arg.to_string());
                i += 1;
            } else if options.contains(&arg) {
                let value = args
                    .get(i + 1)
                    .ok_or_else(|| KioskError::Usage(format!("{arg} needs a value")))?;
                pairs.push((arg.to_string(), value.clone()));
                i += 2;
            } else {
                return Err(KioskError::Usage(format!("unknown argument {arg}")));
            }
        }
        Ok(Self {
            pairs,
            flags: found,
        })
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn required(&self, name: &str) -> Result<&str, KioskError> {
        self.value(name)
            .ok_or_else(|| KioskError::Usage(format!("{name} is required")))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, KioskError> {
        self.value(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| KioskError::Usage(format!("{name}: expected a number")))
        })
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("read") => read(&args[1..]),
        Some("phone") => phone(&args[1..]),
        Some("write") => write(&args[1..]),
        Some("pki") => pki(&args[1..]),
        Some("issue") => issue(&args[1..]),
        Some("collect") => collect::command(&args[1..]),
        Some("kiosk") => screen::command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(KioskError::Usage("unknown or missing command".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kazashi-kiosk: {error} [{}]", error.code());
            if matches!(error, KioskError::Usage(_)) {
                eprintln!("\n{USAGE}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn parse_items(list: &str) -> Result<Vec<(String, String)>, KioskError> {
    list.split(',')
        .map(|item| {
            item.trim()
                .rsplit_once(':')
                .filter(|(ns, name)| !ns.is_empty() && !name.is_empty())
                .map(|(ns, name)| (ns.to_string(), name.to_string()))
                .ok_or_else(|| KioskError::Usage(format!("--items: {item} is not NS:NAME")))
        })
        .collect()
}

/// Waits for a phone on the reader (PC/SC reports no card until one is presented).
fn connect(reader: &str, timeout: Duration) -> Result<PcscReader, KioskError> {
    let deadline = Instant::now() + timeout;
    loop {
        match PcscReader::connect(reader) {
            Ok(card) => return Ok(card),
            Err(TransportError::NoCard) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TransportError::NoCard) => {
                return Err(KioskError::NoPhone(format!(
                    "no phone on {reader} within {} s",
                    timeout.as_secs()
                )));
            }
            Err(e) => return Err(KioskError::NoPhone(format!("reader {reader}: {e}"))),
        }
    }
}

/// A signing key and its certificate chain (DER, leaf first).
type KeyAndChain = (SigningKey, Vec<Vec<u8>>);

fn reader_auth(args: &Args) -> Result<Option<KeyAndChain>, KioskError> {
    match (args.value("--reader-key"), args.value("--reader-cert")) {
        (Some(key), Some(cert)) => {
            let key = SigningKey::from(files::read_key(Path::new(key))?);
            let chain = files::read_certificates(Path::new(cert))?
                .iter()
                .map(|c| c.der().to_vec())
                .collect();
            Ok(Some((key, chain)))
        }
        (None, None) => Ok(None),
        _ => Err(KioskError::Usage(
            "give both --reader-key and --reader-cert, or neither".into(),
        )),
    }
}

/// Runs `run` on the phone presented on `reader` within `timeout`, retrying while a phone
/// just presented does not answer yet.
fn with_phone<R>(
    reader: &str,
    timeout: Duration,
    mut run: impl FnMut(&mut PcscReader) -> Result<R, KioskError>,
) -> Result<R, KioskError> {
    let deadline = Instant::now() + timeout;
    eprintln!("Hold your phone to the reader…");
    loop {
        let mut card = connect(reader, deadline.saturating_duration_since(Instant::now()))?;
        eprintln!("Phone detected");
        match run(&mut card) {
            Err(KioskError::NotReady(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn write(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(
        args,
        &[
            "--reader",
            "--issuer-key",
            "--issuer-cert",
            "--doctype",
            "--data",
            "--reader-key",
            "--reader-cert",
            "--engagement",
            "--valid-days",
            "--timeout",
        ],
        &["--short"],
    )?;
    let (reader_key, reader_chain) = reader_auth(&args)?.ok_or_else(|| {
        KioskError::Usage(
            "write needs --reader-key and --reader-cert (the phone checks them)".into(),
        )
    })?;
    let issuer_chain = files::read_certificates(Path::new(args.required("--issuer-cert")?))?
        .iter()
        .map(|c| c.der().to_vec())
        .collect();
    let options = write::WriteOptions {
        engagement: args.value("--engagement").map(str::to_string),
        doc_type: args.required("--doctype")?.to_string(),
        name_spaces: write::read_data(Path::new(args.required("--data")?))?,
        issuer_key: SigningKey::from(files::read_key(Path::new(args.required("--issuer-key")?))?),
        issuer_chain,
        reader_key,
        reader_chain,
        valid_days: args.number("--valid-days", 365)?,
        extended: !args.flag("--short"),
        now: files::now(),
    };
    let timeout = Duration::from_secs(args.number("--timeout", 30)?);
    let result = with_phone(args.required("--reader")?, timeout, |card| {
        write::write(card, &options, &mut |line| eprintln!("{line}"))
    })?;
    eprintln!("Done ({} APDUs)", result.apdus);
    println!(
        "{}",
        serde_json::to_string_pretty(&result.to_json(&options.doc_type))
            .map_err(|e| KioskError::File(e.to_string()))?
    );
    Ok(())
}

fn read(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(
        args,
        &[
            "--reader",
            "--doctype",
            "--items",
            "--issuer-trust",
            "--engagement",
            "--reader-key",
            "--reader-cert",
            "--timeout",
            "--ble-mtu",
        ],
        &["--short", "--ble"],
    )?;
    let reader_auth = match (args.value("--reader-key"), args.value("--reader-cert")) {
        (Some(key), Some(cert)) => {
            let key = SigningKey::from(files::read_key(Path::new(key))?);
            let chain = files::read_certificates(Path::new(cert))?
                .iter()
                .map(|c| c.der().to_vec())
                .collect();
            Some((key, chain))
        }
        (None, None) => None,
        _ => {
            return Err(KioskError::Usage(
                "give both --reader-key and --reader-cert, or neither".into(),
            ));
        }
    };
    let options = ReadOptions {
        engagement: args.value("--engagement").map(str::to_string),
        doc_type: args.required("--doctype")?.to_string(),
        items: parse_items(args.required("--items")?)?,
        trust: files::read_trust(Path::new(args.required("--issuer-trust")?))?,
        reader_auth,
        extended: !args.flag("--short"),
        now: files::now(),
    };
    let timeout = Duration::from_secs(args.number("--timeout", 30)?);
    let deadline = Instant::now() + timeout;
    let result = if args.flag("--ble") {
        if args.value("--reader").is_some() {
            return Err(KioskError::Usage(
                "--ble and --reader: one or the other".into(),
            ));
        }
        let mtu = u16::try_from(args.number("--ble-mtu", 23)?)
            .ok()
            .filter(|mtu| *mtu >= 23)
            .ok_or_else(|| KioskError::Usage("--ble-mtu: 23 to 65535".into()))?;
        eprintln!("Show the phone's QR code, then keep the phone near the kiosk…");
        ble::read(&options, mtu, timeout, &mut |line| eprintln!("{line}"))?
    } else {
        read_nfc(args.required("--reader")?, &options, deadline)?
    };
    let output = json::document(&result.document, result.engagement, result.reader_auth);
    eprintln!("Done ({} {})", result.units.0, result.units.1);
    println!(
        "{}",
        serde_json::to_string_pretty(&output).map_err(|e| KioskError::File(e.to_string()))?
    );
    Ok(())
}

fn read_nfc(
    reader: &str,
    options: &ReadOptions,
    deadline: Instant,
) -> Result<read::ReadResult, KioskError> {
    eprintln!("Hold your phone to the reader…");
    loop {
        let mut card = connect(reader, deadline.saturating_duration_since(Instant::now()))?;
        eprintln!("Phone detected");
        match read::read(&mut card, options, &mut |line| eprintln!("{line}")) {
            // A phone just presented may not answer yet (the field settles, the reader
            // resets it): try again while the timeout lasts.
            Err(KioskError::NotReady(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn phone(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(
        args,
        &[
            "--vpcd",
            "--state",
            "--engagement",
            "--qr-out",
            "--auth",
            "--reader-trust",
            "--leave-after",
            "--max-command",
            "--max-response",
            "--chip",
        ],
        &["--require-reader-auth"],
    )?;
    let state_path = Path::new(args.required("--state")?);
    let state = files::PhoneState::load(state_path)?;
    let engagement = match args.value("--engagement").unwrap_or("nfc") {
        "nfc" => Engagement::Nfc,
        "qr" => Engagement::Qr(args.value("--qr-out").map(Into::into)),
        other => {
            return Err(KioskError::Usage(format!(
                "--engagement {other}: nfc or qr"
            )));
        }
    };
    let auth = match args.value("--auth").unwrap_or("signature") {
        "signature" => Auth::Signature,
        "mac" => Auth::Mac,
        other => {
            return Err(KioskError::Usage(format!(
                "--auth {other}: signature or mac"
            )));
        }
    };
    let limit = |name, default| -> Result<u32, KioskError> {
        u32::try_from(args.number(name, default)?)
            .map_err(|_| KioskError::Usage(format!("{name}: too large")))
    };
    let options = PhoneOptions {
        engagement,
        auth,
        reader_trust: args
            .value("--reader-trust")
            .map(|p| files::read_trust(Path::new(p)))
            .transpose()?,
        require_reader_auth: args.flag("--require-reader-auth"),
        nfc: NfcOptions {
            max_command_len: limit("--max-command", 65_535)?,
            max_response_len: limit("--max-response", 65_536)?,
        },
        leave_after: args
            .value("--leave-after")
            .map(|v| v.parse())
            .transpose()
            .map_err(|_| KioskError::Usage("--leave-after: expected a number".into()))?,
        state: state_path.to_path_buf(),
        chip: args.value("--chip").map(Into::into),
    };
    let mut phone = Phone::new(&state, options)?;
    let addr = args.value("--vpcd").unwrap_or("127.0.0.1:35963");
    eprintln!(
        "kazashi-kiosk phone: {} document(s); serving through vpcd at {addr}",
        state.documents.len()
    );
    let stop = Arc::new(AtomicBool::new(false));
    kazashi_se::vpcd::serve(&mut phone, addr, &stop).map_err(|e| KioskError::NoPhone(e.to_string()))
}

fn pki(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(args, &["--out", "--country"], &[])?;
    let written = files::make_pki(
        Path::new(args.required("--out")?),
        args.value("--country").unwrap_or("JP"),
    )?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

fn issue(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(
        args,
        &[
            "--state",
            "--issuer-cert",
            "--issuer-key",
            "--doctype",
            "--item",
            "--valid-days",
            "--chip",
        ],
        &[],
    )?;
    let count = files::Issue {
        state: Path::new(args.required("--state")?),
        issuer_cert: Path::new(args.required("--issuer-cert")?),
        issuer_key: Path::new(args.required("--issuer-key")?),
        doc_type: args.required("--doctype")?,
        items: args.values("--item"),
        valid_days: args.number("--valid-days", 365)?,
        chip: args.value("--chip").map(Path::new),
    }
    .run()?;
    eprintln!("kazashi-kiosk: the phone now holds {count} document(s)");
    Ok(())
}
