//! `kazashi-kiosk collect`: the phone presents its certificate, the kiosk verifies it (the
//! `read` flow), renders it as a PDF and, with `--print`, sends it to the printer with CUPS's
//! `lp`. Nothing is written or printed for a claim that does not verify.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kazashi_se::{CardTransport, PcscReader};
use p256::ecdsa::SigningKey;
use serde_json::{Value as Json, json};

use crate::certificate::{self, Certificate, JapaneseFont, Verification};
use crate::error::KioskError;
use crate::read::{self, ReadOptions};
use crate::{Args, files};

/// How to print.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    /// `lp -d NAME`; the system default destination (`lpstat -d`) when absent.
    pub(crate) name: Option<String>,
}

/// What `collect` does with a verified certificate.
pub(crate) struct CollectOptions {
    /// The session (doc type and items are the certificate's).
    pub(crate) read: ReadOptions,
    /// Where the PDF goes.
    pub(crate) out: PathBuf,
    /// Print it too.
    pub(crate) print: Option<Printer>,
    /// The font.
    pub(crate) font: JapaneseFont,
    /// The terminal's name, printed on the certificate.
    pub(crate) terminal: String,
}

/// A collected certificate.
pub(crate) struct Collected {
    /// What it says.
    pub(crate) certificate: Certificate,
    /// What was checked.
    pub(crate) facts: Verification,
    /// The PDF.
    pub(crate) pdf: PathBuf,
    /// `(printer, what lp said)` when printed.
    pub(crate) printed: Option<(String, String)>,
}

impl Collected {
    /// The JSON `collect` prints.
    pub(crate) fn json(&self) -> Json {
        let c = &self.certificate;
        let f = &self.facts;
        json!({
            "doc_type": certificate::DOCTYPE,
            "pdf": self.pdf.display().to_string(),
            "certificate": {
                "certificate_type": c.certificate_type,
                "family_name": c.family_name,
                "given_name": c.given_name,
                "address": c.address,
                "issue_date": c.issue_date,
                "issuing_office": c.issuing_office,
                "birth_date": c.birth_date,
                "certificate_number": c.certificate_number,
            },
            "verification": {
                "signer": f.signer,
                "signer_issuer": f.signer_issuer,
                "signer_sha256": f.signer_fingerprint,
                "device_auth": f.device_auth,
                "verified_at": f.verified_at,
                "terminal": f.terminal,
            },
            "printed": self.printed.as_ref().map(|(printer, lp)| json!({
                "printer": printer,
                "lp": lp,
            })),
        })
    }
}

/// Reads and verifies the certificate on `transport`, writes the PDF, prints it if asked.
/// The PDF appears at `out` only once complete (written beside it, then renamed); a print
/// failure (`Print`, exit 11) keeps it.
pub(crate) fn collect<T: CardTransport>(
    transport: &mut T,
    options: &CollectOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Collected, KioskError> {
    let result = read::read(transport, &options.read, progress)?;
    let certificate = Certificate::from_verified(&result.document)?;
    let facts = Verification::new(&result.document, options.read.now, &options.terminal);
    progress("Rendering the certificate");
    let pdf = certificate::render(&certificate, &facts, &options.font)?;
    write_atomically(&options.out, &pdf)?;
    progress(&format!("Saved {}", options.out.display()));
    let printed = match &options.print {
        Some(printer) => {
            progress("Printing");
            Some(print(&options.out, printer)?)
        }
        None => None,
    };
    Ok(Collected {
        certificate,
        facts,
        pdf: options.out.clone(),
        printed,
    })
}

/// Writes `bytes` to a hidden file beside `path` (owner-only: personal data), then renames.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KioskError> {
    let name = path
        .file_name()
        .ok_or_else(|| KioskError::Usage(format!("--out {}: not a file name", path.display())))?;
    let mut partial = OsString::from(".");
    partial.push(name);
    partial.push(".partial");
    let tmp = path.with_file_name(partial);
    let error = |p: &Path, e: std::io::Error| KioskError::File(format!("{}: {e}", p.display()));
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let written = open.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        error(path, e)
    })
}

/// Whether `program` is on the PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(program);
            std::fs::metadata(&candidate).is_ok_and(|m| m.is_file())
        })
    })
}

/// The system default destination, from `lpstat -d`.
fn default_printer() -> Result<String, String> {
    if !on_path("lpstat") {
        return Err("`lpstat` is not installed".into());
    }
    let output = Command::new("lpstat")
        .arg("-d")
        .output()
        .map_err(|e| format!("lpstat -d: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("system default destination:"))
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            let said = format!("{}{}", text, String::from_utf8_lossy(&output.stderr));
            format!("lpstat -d: {}", said.trim())
        })
}

/// Sends the PDF to `lp`. Returns the printer and `lp`'s answer (the request id).
fn print(pdf: &Path, printer: &Printer) -> Result<(String, String), KioskError> {
    let kept = || format!("the certificate is saved at {}", pdf.display());
    if !on_path("lp") {
        return Err(KioskError::Print(format!(
            "no printer configured: `lp` (CUPS) is not installed; {}",
            kept()
        )));
    }
    let name = match &printer.name {
        Some(name) => name.clone(),
        None => default_printer().map_err(|why| {
            KioskError::Print(format!(
                "no default printer configured ({why}); give --printer NAME; {}",
                kept()
            ))
        })?,
    };
    let output = Command::new("lp")
        .args(["-d", &name, "-t", "kazashi certificate", "--"])
        .arg(pdf)
        .output()
        .map_err(|e| KioskError::Print(format!("lp: {e}; {}", kept())))?;
    if !output.status.success() {
        return Err(KioskError::Print(format!(
            "lp -d {name} failed ({}): {}; {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            kept()
        )));
    }
    Ok((
        name,
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    ))
}

/// A reader authentication key and its certificate chain (leaf first, DER).
pub(crate) type ReaderAuth = (SigningKey, Vec<Vec<u8>>);

/// `--reader-key` and `--reader-cert`, both or neither.
pub(crate) fn reader_auth(args: &Args) -> Result<Option<ReaderAuth>, KioskError> {
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

/// The terminal's name: `--terminal`, else the host name.
pub(crate) fn terminal_name(args: &Args) -> String {
    args.value("--terminal")
        .map(str::to_string)
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "kazashi-kiosk".into())
}

/// The options `collect` and the screen's collect mode share.
pub(crate) const OPTIONS: [&str; 10] = [
    "--reader",
    "--issuer-trust",
    "--engagement",
    "--reader-key",
    "--reader-cert",
    "--timeout",
    "--out",
    "--font",
    "--printer",
    "--terminal",
];

/// Builds the collect options from the command line (the font is loaded and checked first,
/// so nobody taps for a certificate that cannot be rendered).
pub(crate) fn options(args: &Args, out: PathBuf) -> Result<CollectOptions, KioskError> {
    let font = JapaneseFont::find(args.value("--font").map(Path::new))?;
    let print = (args.flag("--print") || args.value("--printer").is_some()).then(|| Printer {
        name: args.value("--printer").map(str::to_string),
    });
    Ok(CollectOptions {
        read: ReadOptions {
            engagement: args.value("--engagement").map(str::to_string),
            doc_type: certificate::DOCTYPE.to_string(),
            items: certificate::request_items(),
            trust: files::read_trust(Path::new(args.required("--issuer-trust")?))?,
            reader_auth: reader_auth(args)?,
            extended: !args.flag("--short"),
            now: files::now(),
        },
        out,
        print,
        font,
        terminal: terminal_name(args),
    })
}

/// Waits for a phone on `reader` and runs `f` on it, trying again while a phone just
/// presented does not answer yet (as `read` does).
pub(crate) fn with_phone<R>(
    reader: &str,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
    mut f: impl FnMut(&mut PcscReader, &mut dyn FnMut(&str)) -> Result<R, KioskError>,
) -> Result<R, KioskError> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut card = crate::connect(reader, deadline.saturating_duration_since(Instant::now()))?;
        progress("Phone detected");
        match f(&mut card, progress) {
            Err(KioskError::NotReady(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// `kazashi-kiosk collect`.
pub(crate) fn command(args: &[String]) -> Result<(), KioskError> {
    let args = Args::parse(args, &OPTIONS, &["--short", "--print"])?;
    let out = PathBuf::from(args.required("--out")?);
    let options = options(&args, out)?;
    let reader = args.required("--reader")?;
    let timeout = Duration::from_secs(args.number("--timeout", 30)?);
    eprintln!("Font: {}", options.font.path().display());
    eprintln!("Hold your phone to the reader…");
    let mut progress = |line: &str| eprintln!("{line}");
    let collected = with_phone(reader, timeout, &mut progress, |card, progress| {
        collect(card, &options, progress)
    })?;
    eprintln!(
        "Done: {} for {}",
        collected.certificate.certificate_type,
        collected.certificate.name()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&collected.json())
            .map_err(|e| KioskError::File(e.to_string()))?
    );
    Ok(())
}
