//! Session messages (18013-5 §9.1.1.4).
//!
//! ```cddl
//! SessionEstablishment = { "eReaderKey": EReaderKeyBytes, "data": bstr }
//! SessionData = { ? "data": bstr, ? "status": uint }
//! ```

use alloc::vec::Vec;

use ciborium::value::Value;
use p256::PublicKey;

use super::cbor;
use super::cose;
use super::error::OfflineError;

/// Largest session message accepted, in bytes (a document with a portrait fits many times).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// The status of a `SessionData` message (Table 20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// 10: error, session encryption (a message did not decrypt).
    EncryptionError,
    /// 11: error, CBOR decoding (a decrypted message did not decode).
    DecodingError,
    /// 20: session termination.
    Terminated,
}

impl SessionStatus {
    /// The status code on the wire.
    pub const fn code(self) -> u64 {
        match self {
            SessionStatus::EncryptionError => 10,
            SessionStatus::DecodingError => 11,
            SessionStatus::Terminated => 20,
        }
    }

    /// The status for a code; other codes are not defined by 18013-5.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            10 => Some(SessionStatus::EncryptionError),
            11 => Some(SessionStatus::DecodingError),
            20 => Some(SessionStatus::Terminated),
            _ => None,
        }
    }
}

/// The reader's first message: its ephemeral key and the encrypted device request.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionEstablishment {
    /// `EReaderKeyBytes` as received or sent (`#6.24(bstr .cbor COSE_Key)`).
    e_reader_key_bytes: Vec<u8>,
    e_reader_key: PublicKey,
    /// The encrypted `DeviceRequest`.
    pub data: Vec<u8>,
}

impl core::fmt::Debug for SessionEstablishment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionEstablishment")
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl SessionEstablishment {
    /// A session establishment for the reader's ephemeral key and the encrypted request.
    pub fn new(e_reader_key: &PublicKey, data: Vec<u8>) -> Self {
        Self {
            e_reader_key_bytes: cbor::wrap_tag24(&cose::encode_key(e_reader_key)),
            e_reader_key: *e_reader_key,
            data,
        }
    }

    /// Parses a session establishment, keeping `EReaderKeyBytes` as received.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        if raw.len() > MAX_MESSAGE_LEN {
            return Err(OfflineError::MessageTooLarge);
        }
        let map = cbor::map(raw, "SessionEstablishment")?;
        let key_bytes = map.required("eReaderKey")?;
        let e_reader_key = cose::decode_key(cbor::tag24(key_bytes, "eReaderKey")?)?;
        let data = cbor::bytes(map.required("data")?, "data")?.to_vec();
        Ok(Self {
            e_reader_key_bytes: key_bytes.to_vec(),
            e_reader_key,
            data,
        })
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.e_reader_key_bytes.len() + self.data.len() + 24);
        out.push(0xA2);
        out.extend(cbor::encode(&cbor::tstr("eReaderKey")));
        out.extend_from_slice(&self.e_reader_key_bytes);
        out.extend(cbor::encode(&cbor::tstr("data")));
        cbor::push_head(&mut out, 2, self.data.len() as u64);
        out.extend_from_slice(&self.data);
        out
    }

    /// `EReaderKeyBytes`, as the transcript holds it.
    pub fn e_reader_key_bytes(&self) -> &[u8] {
        &self.e_reader_key_bytes
    }

    /// The reader's ephemeral public key.
    pub fn e_reader_key(&self) -> &PublicKey {
        &self.e_reader_key
    }
}

/// A message after the establishment: encrypted data, a status, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionData {
    /// The encrypted `DeviceRequest` or `DeviceResponse`.
    pub data: Option<Vec<u8>>,
    /// The status, when the session ends.
    pub status: Option<SessionStatus>,
}

impl SessionData {
    /// Encrypted data only.
    pub fn data(data: Vec<u8>) -> Self {
        Self {
            data: Some(data),
            status: None,
        }
    }

    /// A status only.
    pub fn status(status: SessionStatus) -> Self {
        Self {
            data: None,
            status: Some(status),
        }
    }

    /// Parses a session data message; at least one of `data` and `status` must be present
    /// and the status must be one of Table 20.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        if raw.len() > MAX_MESSAGE_LEN {
            return Err(OfflineError::MessageTooLarge);
        }
        let map = cbor::map(raw, "SessionData")?;
        let data = map
            .text("data")
            .map(|d| cbor::bytes(d, "data").map(<[u8]>::to_vec))
            .transpose()?;
        let status = map
            .text("status")
            .map(|s| {
                SessionStatus::from_code(cbor::uint(s, "status")?)
                    .ok_or(OfflineError::InvalidField("status"))
            })
            .transpose()?;
        if data.is_none() && status.is_none() {
            return Err(OfflineError::MissingField("data"));
        }
        Ok(Self { data, status })
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut members = Vec::new();
        if let Some(data) = &self.data {
            members.push((cbor::tstr("data"), Value::Bytes(data.clone())));
        }
        if let Some(status) = self.status {
            members.push((cbor::tstr("status"), cbor::uint_value(status.code())));
        }
        cbor::encode(&Value::Map(members))
    }
}
