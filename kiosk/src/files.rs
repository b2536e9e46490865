//! The kiosk's files: PEM keys and certificates, the test PKI, the phone's state (its
//! documents and device key), and test document issuance.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ciborium::Value;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, TrustList, Usage};
use kazashi_protocol::offline::present;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;

use crate::chip::{self, Chip};
use crate::error::KioskError;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> KioskError {
    KioskError::File(format!("{}: {e}", path.display()))
}

/// Reads a text file.
pub(crate) fn read_text(path: &Path) -> Result<String, KioskError> {
    fs::read_to_string(path).map_err(|e| file_error(path, e))
}

/// Writes a file readable by its owner only (it may hold a private key or personal data).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), KioskError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let tmp = path.with_extension("tmp");
    let mut file = options.open(&tmp).map_err(|e| file_error(&tmp, e))?;
    file.write_all(contents).map_err(|e| file_error(&tmp, e))?;
    file.sync_all().map_err(|e| file_error(&tmp, e))?;
    test_crash_point("before-rename");
    fs::rename(&tmp, path).map_err(|e| file_error(path, e))?;
    // The rename must reach the disk before anyone is told the file is written.
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| file_error(dir, e))?;
    }
    test_crash_point("after-rename");
    Ok(())
}

/// Test hook: `KAZASHI_PHONE_CRASH=POINT` aborts the process at that point (the system test
/// kills the phone mid-write at each step that matters for atomicity).
pub(crate) fn test_crash_point(point: &str) {
    if std::env::var("KAZASHI_PHONE_CRASH").is_ok_and(|p| p == point) {
        eprintln!("kazashi-kiosk: crashing at {point} (test hook)");
        std::process::abort();
    }
}

/// Writes a public file (certificates).
pub(crate) fn write_public(path: &Path, contents: &[u8]) -> Result<(), KioskError> {
    fs::write(path, contents).map_err(|e| file_error(path, e))
}

/// Every certificate of a PEM file.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<Certificate>, KioskError> {
    Certificate::from_pem_chain(&read_text(path)?).map_err(|e| file_error(path, e))
}

/// A trust list from a PEM file of anchors.
pub(crate) fn read_trust(path: &Path) -> Result<TrustList, KioskError> {
    Ok(TrustList::new(read_certificates(path)?))
}

/// A P-256 private key from PEM (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
pub(crate) fn read_key(path: &Path) -> Result<SecretKey, KioskError> {
    let text = zeroize::Zeroizing::new(read_text(path)?);
    SecretKey::from_sec1_pem(&text)
        .or_else(|_| SecretKey::from_pkcs8_pem(&text))
        .map_err(|_| file_error(path, "not a P-256 private key in PEM"))
}

fn write_key(path: &Path, key: &SecretKey) -> Result<(), KioskError> {
    let pem = key
        .to_sec1_pem(Default::default())
        .map_err(|e| file_error(path, e))?;
    write_private(path, pem.as_bytes())
}

const YEAR: u64 = 365 * 86_400;

/// `kazashi-kiosk pki`: a test issuer (IACA root and document signer) and a test reader (root
/// and reader certificate), in the 18013-5 Annex B profile, valid from a day ago.
pub(crate) fn make_pki(dir: &Path, country: &str) -> Result<Vec<PathBuf>, KioskError> {
    fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let now = now();
    let mut written = Vec::new();
    for (role, usage) in [
        ("issuer", Usage::DocumentSigner),
        ("reader", Usage::ReaderAuth),
    ] {
        let root_key = SecretKey::random(&mut OsRng);
        let root_signer = SigningKey::from(&root_key);
        let crl = format!("https://{role}.kazashi.invalid/crl");
        let ian = format!("https://{role}.kazashi.invalid");
        let bad = |e| KioskError::File(format!("certificate: {e}"));
        let root = CertificateBuilder::new(
            &format!("CN=kazashi test {role} root,C={country}"),
            Profile::Root,
            now - 86_400,
            now + 10 * YEAR,
        )
        .crl_uri(&crl)
        .issuer_alt_name(&ian)
        .build(&root_key.public_key(), None, &root_signer)
        .map_err(bad)?;
        let leaf_key = SecretKey::random(&mut OsRng);
        let leaf = CertificateBuilder::new(
            &format!("CN=kazashi test {role},C={country}"),
            Profile::Leaf(usage),
            now - 86_400,
            now + 2 * YEAR,
        )
        .serial(&[2])
        .crl_uri(&crl)
        .issuer_alt_name(&ian)
        .build(&leaf_key.public_key(), Some(&root), &root_signer)
        .map_err(bad)?;
        for (name, cert) in [
            (format!("{role}-root.pem"), &root),
            (format!("{role}.pem"), &leaf),
        ] {
            let path = dir.join(name);
            write_public(&path, cert.to_pem().as_bytes())?;
            written.push(path);
        }
        for (name, key) in [
            (format!("{role}-root.key"), &root_key),
            (format!("{role}.key"), &leaf_key),
        ] {
            let path = dir.join(name);
            write_key(&path, key)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The phone's state file: `kazashi_protocol::offline::state`'s format (shared with the npm
/// package's `OfflineHolder`); this shell reads and writes the file and opens the chip.
pub(crate) use kazashi_protocol::offline::state::{
    PhoneState, StoredDeviceKey as DeviceKey, StoredDocument,
};

/// The state file's I/O, and what needs the kiosk's chip.
pub(crate) trait PhoneStateFile: Sized {
    /// Loads the state file.
    fn load(path: &Path) -> Result<Self, KioskError>;
    /// Saves the state file (owner-only) atomically: a temporary file beside it, fsync,
    /// rename, fsync of the directory. A reader of the file sees the old state or the new
    /// one, never a mixture.
    fn save(&self, path: &Path) -> Result<(), KioskError>;
    /// The device public key.
    fn device_public_key(&self) -> Result<PublicKey, KioskError>;
}

impl PhoneStateFile for PhoneState {
    fn load(path: &Path) -> Result<Self, KioskError> {
        PhoneState::parse(&zeroize::Zeroizing::new(read_text(path)?))
            .map_err(|e| file_error(path, e))
    }

    fn save(&self, path: &Path) -> Result<(), KioskError> {
        write_private(path, self.to_json().as_bytes())
    }

    fn device_public_key(&self) -> Result<PublicKey, KioskError> {
        match &self.device_key {
            DeviceKey::Software(_) => Ok(self
                .software_key()
                .map_err(|e| KioskError::File(e.to_string()))?
                .map(|k| k.public_key())
                .ok_or_else(|| KioskError::File("device key".into()))?),
            DeviceKey::Chip { state, slot } => Chip::open(Path::new(state))?
                .public_key(slot.as_deref().unwrap_or(chip::DEFAULT_SLOT)),
        }
    }
}

/// Parses `NS:NAME=VALUE`: `true`/`false`, an integer, `hex:…` bytes, `@FILE` bytes, or text.
pub(crate) fn parse_item(text: &str) -> Result<(String, String, Value), KioskError> {
    let usage = || KioskError::Usage(format!("--item {text}: expected NAMESPACE:NAME=VALUE"));
    let (path, value) = text.split_once('=').ok_or_else(usage)?;
    let (ns, name) = path.rsplit_once(':').ok_or_else(usage)?;
    if ns.is_empty() || name.is_empty() {
        return Err(usage());
    }
    let value = match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        v if v.parse::<i64>().is_ok() => Value::Integer(v.parse::<i64>().unwrap_or(0).into()),
        v if v.starts_with("hex:") => Value::Bytes(
            hex::decode(&v[4..])
                .map_err(|_| KioskError::Usage(format!("--item {text}: bad hex")))?,
        ),
        v if v.starts_with('@') => {
            let path = Path::new(&v[1..]);
            Value::Bytes(fs::read(path).map_err(|e| file_error(path, e))?)
        }
        v => Value::Text(v.into()),
    };
    Ok((ns.into(), name.into(), value))
}

/// `kazashi-kiosk issue`: issues a test document for the phone's device key (creating the
/// phone's state, and its device key, on first use) and adds it to the state.
pub(crate) struct Issue<'a> {
    /// The phone's state file.
    pub(crate) state: &'a Path,
    /// The document signer certificate chain (PEM, leaf first).
    pub(crate) issuer_cert: &'a Path,
    /// The document signer key.
    pub(crate) issuer_key: &'a Path,
    /// The document type.
    pub(crate) doc_type: &'a str,
    /// `NS:NAME=VALUE` items.
    pub(crate) items: Vec<String>,
    /// Days of validity from now.
    pub(crate) valid_days: u64,
    /// A `kazashi-se` state file: generate the device key on that chip (first use only).
    pub(crate) chip: Option<&'a Path>,
}

impl Issue<'_> {
    /// Issues and saves; returns how many documents the phone now holds.
    pub(crate) fn run(&self) -> Result<usize, KioskError> {
        let mut state = if self.state.exists() {
            PhoneState::load(self.state)?
        } else {
            let device_key = match self.chip {
                Some(chip) => {
                    Chip::open(chip)?.generate(chip::DEFAULT_SLOT)?;
                    DeviceKey::Chip {
                        state: chip.to_string_lossy().into_owned(),
                        slot: None,
                    }
                }
                None => DeviceKey::from_software(&SecretKey::random(&mut OsRng)),
            };
            PhoneState {
                device_key,
                documents: Vec::new(),
            }
        };
        let device_key = state.device_public_key()?;
        let chain: Vec<Vec<u8>> = read_certificates(self.issuer_cert)?
            .iter()
            .map(|c| c.der().to_vec())
            .collect();
        let issuer_key = SigningKey::from(read_key(self.issuer_key)?);
        let mut name_spaces: Vec<(String, Vec<(String, Value)>)> = Vec::new();
        for item in &self.items {
            let (ns, name, value) = parse_item(item)?;
            match name_spaces.iter_mut().find(|(n, _)| *n == ns) {
                Some((_, list)) => list.push((name, value)),
                None => name_spaces.push((ns, vec![(name, value)])),
            }
        }
        if name_spaces.is_empty() {
            return Err(KioskError::Usage("at least one --item is required".into()));
        }
        let now = now();
        let signed = present::issue(
            self.doc_type,
            &name_spaces,
            &device_key,
            ValidityInfo {
                signed: now,
                valid_from: now - 60,
                valid_until: now + self.valid_days * 86_400,
                expected_update: None,
            },
            &issuer_key,
            &chain,
            &mut OsRng,
        );
        state.documents.retain(|d| d.doc_type != self.doc_type);
        state
            .documents
            .push(StoredDocument::new(self.doc_type, &signed, None));
        state.save(self.state)?;
        Ok(state.documents.len())
    }
}
