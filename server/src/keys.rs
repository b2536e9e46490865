//! The server's keys, in files under `DATA_DIR/keys/` (directory 0700, files 0600):
//!
//! - `signing/NNNN.jwk`: P-256 private JWKs that sign results; the highest number is current.
//! - `encryption/NNNN.jwk`: P-256 private JWKs that open sealed commands (chosen by `kid`).
//! - `chip-master.key`: the chip master key, 32 bytes as 64 hex digits.
//!
//! All are created on first start; [`rotate`] adds a new signing and encryption key, older
//! ones stay (published in the JWKS, usable to open commands sealed to them). Key material is
//! never logged; `Debug` is redacted.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kazashi_protocol::jose::{Jwk, JwkSet, PrivateKey, PublicKey};
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Key file errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file does not hold a valid key.
    #[error("{0}: not a valid key file")]
    Invalid(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The chip master key (32 bytes): SCP03 keys of every chip derive from it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ChipMasterKey([u8; 32]);

impl ChipMasterKey {
    /// The bytes. Keep the borrow short and never log it.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ChipMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChipMasterKey(redacted)")
    }
}

/// One server key and its id (the RFC 7638 thumbprint of its public part).
#[derive(Debug)]
pub struct NamedKey {
    /// The thumbprint.
    pub kid: String,
    /// The key (redacted `Debug`).
    pub key: PrivateKey,
}

/// Every key of the server, oldest first.
#[derive(Debug)]
pub struct KeyRing {
    signing: Vec<NamedKey>,
    encryption: Vec<NamedKey>,
    master: ChipMasterKey,
}

impl KeyRing {
    /// Loads the keys from `data_dir`, creating whatever is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let dir = data_dir.join("keys");
        for sub in [dir.clone(), dir.join("signing"), dir.join("encryption")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&sub)
                .map_err(io(&sub))?;
        }
        let mut signing = load_dir(&dir.join("signing"))?;
        if signing.is_empty() {
            signing.push(create_key(&dir.join("signing"), 1)?);
        }
        let mut encryption = load_dir(&dir.join("encryption"))?;
        if encryption.is_empty() {
            encryption.push(create_key(&dir.join("encryption"), 1)?);
        }
        let master = load_or_create_master(&dir.join("chip-master.key"))?;
        Ok(Self {
            signing,
            encryption,
            master,
        })
    }

    /// The current signing key.
    pub fn signing(&self) -> &NamedKey {
        // Never empty: load_or_create makes one.
        &self.signing[self.signing.len() - 1]
    }

    /// The current encryption key (commands should be sealed to it).
    pub fn encryption(&self) -> &NamedKey {
        &self.encryption[self.encryption.len() - 1]
    }

    /// The encryption key (current or older) named `kid`.
    pub fn decryption_key(&self, kid: &str) -> Option<&PrivateKey> {
        self.encryption
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| &k.key)
    }

    /// The chip master key.
    pub fn chip_master(&self) -> &ChipMasterKey {
        &self.master
    }

    /// The public JWKS: every signing key (`use: sig`, `alg: ES256`) and every encryption
    /// key (`use: enc`, `alg: ECDH-ES+A256KW`), current first.
    pub fn jwks(&self) -> JwkSet {
        let public = |k: &NamedKey, use_: &str, alg: &str| Jwk {
            kid: Some(k.kid.clone()),
            use_: Some(use_.into()),
            alg: Some(alg.into()),
            ..k.key.public_key().to_jwk()
        };
        let mut keys = Vec::new();
        keys.extend(self.signing.iter().rev().map(|k| public(k, "sig", "ES256")));
        keys.extend(
            self.encryption
                .iter()
                .rev()
                .map(|k| public(k, "enc", "ECDH-ES+A256KW")),
        );
        JwkSet { keys }
    }

    /// The current encryption key's public half.
    pub fn encryption_public(&self) -> PublicKey {
        self.encryption().key.public_key()
    }
}

/// Adds a new signing and a new encryption key; returns their kids.
pub fn rotate(data_dir: &Path) -> Result<(String, String), KeyError> {
    let ring = KeyRing::load_or_create(data_dir)?;
    let dir = data_dir.join("keys");
    let next_sig = next_number(&dir.join("signing"))?;
    let next_enc = next_number(&dir.join("encryption"))?;
    let sig = create_key(&dir.join("signing"), next_sig)?;
    let enc = create_key(&dir.join("encryption"), next_enc)?;
    drop(ring);
    Ok((sig.kid, enc.kid))
}

fn numbered(dir: &Path) -> Result<Vec<(u32, PathBuf)>, KeyError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let number = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jwk"))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = number {
            files.push((number, path));
        }
    }
    files.sort();
    Ok(files)
}

fn next_number(dir: &Path) -> Result<u32, KeyError> {
    Ok(numbered(dir)?.last().map_or(1, |(n, _)| n + 1))
}

fn load_dir(dir: &Path) -> Result<Vec<NamedKey>, KeyError> {
    numbered(dir)?
        .into_iter()
        .map(|(_, path)| {
            let text = Zeroizing::new(fs::read(&path).map_err(io(&path))?);
            let key = Jwk::from_json(&text)
                .and_then(|jwk| PrivateKey::from_jwk(&jwk))
                .map_err(|_| KeyError::Invalid(path.clone()))?;
            Ok(NamedKey {
                kid: key.public_key().thumbprint(),
                key,
            })
        })
        .collect()
}

fn create_key(dir: &Path, number: u32) -> Result<NamedKey, KeyError> {
    let key = PrivateKey::generate(&mut OsRng);
    let text = Zeroizing::new(key.to_jwk().to_json());
    write_secret(&dir.join(format!("{number:04}.jwk")), text.as_bytes())?;
    Ok(NamedKey {
        kid: key.public_key().thumbprint(),
        key,
    })
}

fn load_or_create_master(path: &Path) -> Result<ChipMasterKey, KeyError> {
    match fs::read(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let trimmed = std::str::from_utf8(&text)
                .map_err(|_| KeyError::Invalid(path.to_owned()))?
                .trim();
            let mut key = ChipMasterKey([0; 32]);
            hex::decode_to_slice(trimmed, &mut key.0)
                .map_err(|_| KeyError::Invalid(path.to_owned()))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = ChipMasterKey([0; 32]);
            OsRng.fill_bytes(&mut key.0);
            let mut text = Zeroizing::new(hex::encode_upper(key.0));
            text.push('\n');
            match write_secret(path, text.as_bytes()) {
                Ok(()) => Ok(key),
                // Another process created it first: use theirs.
                Err(KeyError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    load_or_create_master(path)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes a new file readable by the owner only; never replaces an existing one.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    Ok(())
}
