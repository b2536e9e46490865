//! The phone's document state: its device key and the documents issued to it, as JSON — the
//! format of `kazashi-kiosk phone --state FILE` (written by `kazashi-kiosk issue`) and of the
//! npm package's `OfflineHolder.create({ state })`.
//!
//! ```json
//! { "device_key": { "software": "<P-256 scalar, hex>" },
//!   "documents": [ { "doc_type": "org.iso.18013.5.1.mDL", "issuer_signed": "<IssuerSigned CBOR, hex>" } ] }
//! ```
//!
//! The device key may instead live on a virtual chip: `{ "chip": { "state": "<path>" } }`
//! (only the kiosk can use it), optionally under a named slot (`"slot": "dk-…"`; the chip's
//! `device-key` when absent). A document written at a counter (`offline::provision`) is bound
//! to a fresh key of its own, recorded with it (`"device_key"` in the document, in the same
//! form); documents without one use the state's. State files without per-document keys load
//! as before.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use p256::SecretKey;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::error::OfflineError;
use super::response::IssuerSigned;

/// Where the phone's device key lives.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredDeviceKey {
    /// In the state (hex scalar): allows device MAC and signature.
    Software(String),
    /// Generated on a virtual chip (a `kazashi-se` state file) in the ID-store applet; the
    /// chip signs. Device signature only (the applet does no ECDH).
    Chip {
        /// The chip's state file.
        state: String,
        /// The key's name in the applet's `mdoc` namespace (the chip's `device-key` when
        /// absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<String>,
    },
}

impl StoredDeviceKey {
    /// A software key as the state keeps it (its scalar in hex).
    pub fn from_software(key: &SecretKey) -> Self {
        let scalar = Zeroizing::new(key.to_bytes());
        Self::Software(crate::hex::encode_lower(scalar.as_slice()))
    }

    /// The key itself when it is in software (`None` when it lives on a chip).
    pub fn software(&self) -> Result<Option<SecretKey>, StateError> {
        match self {
            Self::Software(hex_key) => {
                let bytes =
                    Zeroizing::new(crate::hex::decode(hex_key).ok_or(StateError::DeviceKey)?);
                SecretKey::from_slice(&bytes)
                    .map(Some)
                    .map_err(|_| StateError::DeviceKey)
            }
            Self::Chip { .. } => Ok(None),
        }
    }
}

impl fmt::Debug for StoredDeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Software(_) => f.write_str("Software(..)"),
            Self::Chip { state, slot } => f
                .debug_struct("Chip")
                .field("state", state)
                .field("slot", slot)
                .finish(),
        }
    }
}

impl Drop for StoredDeviceKey {
    fn drop(&mut self) {
        if let Self::Software(key) = self {
            key.zeroize();
        }
    }
}

/// One stored document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredDocument {
    /// The document type.
    pub doc_type: String,
    /// `IssuerSigned`, hex.
    pub issuer_signed: String,
    /// The key this document is bound to, when not the state's (a document written at a
    /// counter gets a fresh key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<StoredDeviceKey>,
}

impl StoredDocument {
    /// A document as the state keeps it (`IssuerSigned` in hex), bound to `device_key` when
    /// not to the state's key.
    pub fn new(
        doc_type: &str,
        issuer_signed: &IssuerSigned,
        device_key: Option<StoredDeviceKey>,
    ) -> Self {
        Self {
            doc_type: doc_type.into(),
            issuer_signed: crate::hex::encode_lower(&issuer_signed.to_bytes()),
            device_key,
        }
    }
}

/// A stored document, parsed, with the key it is bound to.
#[derive(Clone, Debug)]
pub struct HeldDocument {
    /// The document type.
    pub doc_type: String,
    /// The document.
    pub issuer_signed: IssuerSigned,
    /// Its device key (its own, or the state's).
    pub key: StoredDeviceKey,
}

/// The phone's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhoneState {
    /// The device key every document is bound to.
    pub device_key: StoredDeviceKey,
    /// The documents.
    pub documents: Vec<StoredDocument>,
}

/// Why a phone state was refused. Its [`code`](StateError::code) is `invalid_state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not JSON of this format (line and column of the first problem; no content is quoted,
    /// since the text holds a private key).
    Json {
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
    },
    /// The software device key is not a P-256 scalar in hex.
    DeviceKey,
    /// A document's `issuer_signed` is not hex, or not `IssuerSigned`.
    Document {
        /// Its index in `documents`.
        index: usize,
        /// Why, when it is not hex-level.
        error: Option<OfflineError>,
    },
}

impl StateError {
    /// `invalid_state`.
    pub fn code(&self) -> &'static str {
        "invalid_state"
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json { line, column } => {
                write!(
                    f,
                    "phone state: not the state format (line {line}, column {column})"
                )
            }
            Self::DeviceKey => f.write_str("phone state: device key is not a P-256 scalar in hex"),
            Self::Document { index, error: None } => {
                write!(f, "phone state: document {index}: invalid hex")
            }
            Self::Document {
                index,
                error: Some(e),
            } => write!(f, "phone state: document {index}: {e}"),
        }
    }
}

impl core::error::Error for StateError {}

impl PhoneState {
    /// Parses the JSON text.
    pub fn parse(json: &str) -> Result<Self, StateError> {
        serde_json::from_str(json).map_err(|e| StateError::Json {
            line: e.line(),
            column: e.column(),
        })
    }

    /// The JSON text, pretty-printed (it holds the device key: keep it private).
    pub fn to_json(&self) -> Zeroizing<String> {
        // Serializing strings and a Vec into a String cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(self).unwrap_or_default())
    }

    /// The software device key (`None` when it lives on a chip).
    pub fn software_key(&self) -> Result<Option<SecretKey>, StateError> {
        self.device_key.software()
    }

    /// The stored documents, parsed.
    pub fn documents(&self) -> Result<Vec<(String, IssuerSigned)>, StateError> {
        self.documents
            .iter()
            .enumerate()
            .map(|(index, d)| {
                let bytes = crate::hex::decode(&d.issuer_signed)
                    .ok_or(StateError::Document { index, error: None })?;
                let signed = IssuerSigned::parse(&bytes).map_err(|e| StateError::Document {
                    index,
                    error: Some(e),
                })?;
                Ok((d.doc_type.clone(), signed))
            })
            .collect()
    }

    /// The stored documents, parsed, each with the key it is bound to; every software key
    /// (the state's too) is checked to be a P-256 scalar.
    pub fn held_documents(&self) -> Result<Vec<HeldDocument>, StateError> {
        self.device_key.software()?;
        self.documents()?
            .into_iter()
            .zip(&self.documents)
            .map(|((doc_type, issuer_signed), stored)| {
                let key = stored
                    .device_key
                    .clone()
                    .unwrap_or_else(|| self.device_key.clone());
                key.software()?;
                Ok(HeldDocument {
                    doc_type,
                    issuer_signed,
                    key,
                })
            })
            .collect()
    }

    /// Adds `document`, replacing one of the same type.
    pub fn store(&mut self, document: StoredDocument) {
        self.documents.retain(|d| d.doc_type != document.doc_type);
        self.documents.push(document);
    }
}
