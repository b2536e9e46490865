//! `SessionTranscript` (18013-5 §9.1.5.1):
//! `[DeviceEngagementBytes, EReaderKeyBytes, Handover]`.
//!
//! It is assembled from the bytes each side received — never from a re-encoding — because
//! both sides hash it: `DeviceEngagementBytes` wraps the engagement exactly as read from the QR
//! code or the NFC handover, `EReaderKeyBytes` is the `#6.24` item exactly as it came in the
//! session establishment, and the NFC handover messages are the NDEF bytes as read.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use super::cbor;
use super::error::OfflineError;

/// How the device engagement reached the reader (§9.1.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handover {
    /// QR code: `null`.
    Qr,
    /// NFC static handover: `[Handover Select message, null]`.
    NfcStatic {
        /// The Handover Select NDEF message, as read.
        select: Vec<u8>,
    },
    /// NFC negotiated handover: `[Handover Select message, Handover Request message]`.
    NfcNegotiated {
        /// The Handover Select NDEF message.
        select: Vec<u8>,
        /// The Handover Request NDEF message.
        request: Vec<u8>,
    },
}

impl Handover {
    /// The `Handover` CBOR item.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Handover::Qr => out.push(0xF6),
            Handover::NfcStatic { select } => {
                out.push(0x82);
                cbor::push_head(&mut out, 2, select.len() as u64);
                out.extend_from_slice(select);
                out.push(0xF6);
            }
            Handover::NfcNegotiated { select, request } => {
                out.push(0x82);
                cbor::push_head(&mut out, 2, select.len() as u64);
                out.extend_from_slice(select);
                cbor::push_head(&mut out, 2, request.len() as u64);
                out.extend_from_slice(request);
            }
        }
        out
    }
}

/// The session transcript, as the encoded array both sides hash and sign.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionTranscript {
    /// The encoded `SessionTranscript` array (not wrapped in `#6.24`).
    bytes: Vec<u8>,
}

impl core::fmt::Debug for SessionTranscript {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionTranscript")
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl SessionTranscript {
    /// The transcript from the device engagement as received (not wrapped), the
    /// `EReaderKeyBytes` item as sent in the session establishment (`#6.24`, wrapped), and
    /// the handover.
    pub fn new(device_engagement: &[u8], e_reader_key_bytes: &[u8], handover: &Handover) -> Self {
        let handover = handover.to_cbor();
        let engagement = cbor::wrap_tag24(device_engagement);
        let mut bytes =
            Vec::with_capacity(1 + engagement.len() + e_reader_key_bytes.len() + handover.len());
        bytes.push(0x83);
        bytes.extend_from_slice(&engagement);
        bytes.extend_from_slice(e_reader_key_bytes);
        bytes.extend_from_slice(&handover);
        Self { bytes }
    }

    /// A transcript from its encoding (`SessionTranscript`, or `SessionTranscriptBytes` when
    /// `#6.24`-wrapped), as other implementations and test vectors publish it.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, OfflineError> {
        let inner = match cbor::tag24(raw, "SessionTranscriptBytes") {
            Ok(inner) => inner,
            Err(_) => raw,
        };
        let items = cbor::array(inner, "SessionTranscript")?;
        if items.len() != 3 {
            return Err(OfflineError::InvalidField("SessionTranscript"));
        }
        Ok(Self {
            bytes: inner.to_vec(),
        })
    }

    /// The encoded array.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `SessionTranscriptBytes`: `#6.24(bstr .cbor SessionTranscript)`.
    pub fn tagged_bytes(&self) -> Vec<u8> {
        cbor::wrap_tag24(&self.bytes)
    }

    /// The HKDF salt of the session keys and the EMacKey: SHA-256(`SessionTranscriptBytes`).
    pub fn salt(&self) -> [u8; 32] {
        Sha256::digest(self.tagged_bytes()).into()
    }
}
