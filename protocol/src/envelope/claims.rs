//! The claims of command and result envelopes (`docs/envelopes.md`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::EnvelopeError;
use crate::jose::jwk::Jwk;

/// Most operations one command may carry.
pub const MAX_OPS: usize = 64;
/// Longest record, counter or key name, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Largest record value in a `put`, in bytes.
pub const MAX_RECORD_LEN: usize = 4096;
/// Longest `jti`, `iss`, `aud` or `sub`, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Largest `amount` of an `add` or `sub`.
pub const MAX_AMOUNT: u64 = u32::MAX as u64;

/// One operation on the chip.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Op {
    /// Write a record in the provider's namespace.
    Put {
        /// Record name.
        record: String,
        /// Record value, base64url on the wire.
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// Read a record.
    Get {
        /// Record name.
        record: String,
    },
    /// Delete a record.
    Delete {
        /// Record name.
        record: String,
    },
    /// Add to a counter.
    Add {
        /// Counter name.
        counter: String,
        /// Amount added.
        amount: u64,
    },
    /// Subtract from a counter; refused by the chip if the counter would go below zero.
    Sub {
        /// Counter name.
        counter: String,
        /// Amount subtracted.
        amount: u64,
    },
    /// Generate a P-256 key pair on the chip; the result carries the public JWK.
    Keygen {
        /// Key name.
        key: String,
    },
    /// A raw APDU to an applet the provider is allowed to use.
    Apdu {
        /// The applet's AID, hex on the wire.
        #[serde(with = "crate::hex::serde")]
        aid: Vec<u8>,
        /// The command APDU, hex on the wire.
        #[serde(with = "crate::hex::serde")]
        capdu: Vec<u8>,
    },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Record values and raw APDUs may be personal data: lengths only.
        match self {
            Self::Put { record, data } => write!(f, "Put({record:?}, {} bytes)", data.len()),
            Self::Get { record } => write!(f, "Get({record:?})"),
            Self::Delete { record } => write!(f, "Delete({record:?})"),
            Self::Add { counter, amount } => write!(f, "Add({counter:?}, {amount})"),
            Self::Sub { counter, amount } => write!(f, "Sub({counter:?}, {amount})"),
            Self::Keygen { key } => write!(f, "Keygen({key:?})"),
            Self::Apdu { aid, capdu } => {
                write!(f, "Apdu(aid {} bytes, {} bytes)", aid.len(), capdu.len())
            }
        }
    }
}

impl Op {
    /// Checks names, sizes and amounts against the limits of `docs/envelopes.md`.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        match self {
            Self::Put { record, data } => {
                check_name(record)?;
                if data.len() > MAX_RECORD_LEN {
                    return Err(EnvelopeError::InvalidClaims("record data too large"));
                }
            }
            Self::Get { record } | Self::Delete { record } => check_name(record)?,
            Self::Add { counter, amount } | Self::Sub { counter, amount } => {
                check_name(counter)?;
                if *amount == 0 || *amount > MAX_AMOUNT {
                    return Err(EnvelopeError::InvalidClaims("amount out of range"));
                }
            }
            Self::Keygen { key } => check_name(key)?,
            Self::Apdu { aid, capdu } => {
                // ISO/IEC 7816-4 §8.2.1.2: an AID is 5 to 16 bytes.
                if !(5..=16).contains(&aid.len()) {
                    return Err(EnvelopeError::InvalidClaims("aid must be 5 to 16 bytes"));
                }
                crate::apdu::Command::parse(capdu)
                    .map_err(|_| EnvelopeError::InvalidClaims("capdu is not a valid APDU"))?;
            }
        }
        Ok(())
    }
}

/// The claims of a command envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandClaims {
    /// The provider's id.
    pub iss: String,
    /// The server's id (a single string, or an array that contains it, as RFC 7519 §4.1.3 allows).
    pub aud: Audience,
    /// A unique id for this command; the server refuses a `jti` it has seen.
    pub jti: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The chip this command is for, when the provider knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The operations, run in order.
    pub ops: Vec<Op>,
}

impl CommandClaims {
    /// Checks the shape of the claims (ids, operations), not time or audience.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        check_id(&self.iss, "iss")?;
        check_id(&self.jti, "jti")?;
        self.aud.validate()?;
        if let Some(sub) = &self.sub {
            check_id(sub, "sub")?;
        }
        if self.exp <= self.iat {
            return Err(EnvelopeError::InvalidClaims("exp must be after iat"));
        }
        if self.ops.is_empty() || self.ops.len() > MAX_OPS {
            return Err(EnvelopeError::InvalidClaims(
                "ops must hold 1 to 64 operations",
            ));
        }
        self.ops.iter().try_for_each(Op::validate)
    }
}

/// The `aud` claim: one id or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `id` is among the audiences.
    pub fn contains(&self, id: &str) -> bool {
        match self {
            Self::One(one) => one == id,
            Self::Many(many) => many.iter().any(|a| a == id),
        }
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        match self {
            Self::One(one) => check_id(one, "aud"),
            Self::Many(many) if many.is_empty() || many.len() > 8 => {
                Err(EnvelopeError::InvalidClaims("aud must hold 1 to 8 ids"))
            }
            Self::Many(many) => many.iter().try_for_each(|a| check_id(a, "aud")),
        }
    }
}

impl From<&str> for Audience {
    fn from(id: &str) -> Self {
        Self::One(id.into())
    }
}

/// Outcome of a whole transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every operation succeeded.
    Ok,
    /// At least one operation failed, or the secure channel could not be used.
    Failed,
}

/// Outcome of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Done; the typed data, if any, is present.
    Ok,
    /// The chip refused it (`sw` tells why).
    Failed,
    /// Not run, because an earlier operation failed.
    Skipped,
}

/// The result of one operation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// The outcome.
    pub status: OpStatus,
    /// `get`: the record value, base64url on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64opt")]
    pub data: Option<Vec<u8>>,
    /// `add`/`sub`: the counter's new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
    /// `keygen`: the public key generated on the chip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// `apdu`: the response APDU, hex on the wire.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hex::serde_option"
    )]
    pub rapdu: Option<Vec<u8>>,
    /// The chip's status word when the operation failed, as 4 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    /// A stable error code when the operation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Debug for OpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpResult")
            .field("status", &self.status)
            .field("data", &self.data.as_ref().map(Vec::len))
            .field("value", &self.value)
            .field("jwk", &self.jwk.is_some())
            .field("rapdu", &self.rapdu.as_ref().map(Vec::len))
            .field("sw", &self.sw)
            .field("error", &self.error)
            .finish()
    }
}

impl OpResult {
    /// A successful result with no data.
    pub fn ok() -> Self {
        Self {
            status: OpStatus::Ok,
            data: None,
            value: None,
            jwk: None,
            rapdu: None,
            sw: None,
            error: None,
        }
    }

    /// A result with the given status and nothing else.
    pub fn with_status(status: OpStatus) -> Self {
        Self {
            status,
            ..Self::ok()
        }
    }
}

/// The claims of a result envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultClaims {
    /// The server's id.
    pub iss: String,
    /// The provider's id.
    pub aud: Audience,
    /// The transaction id.
    pub jti: String,
    /// The command's `jti`.
    pub cmd: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// The chip's id.
    pub chip: String,
    /// The outcome of the whole transaction.
    pub status: Status,
    /// Why the transaction failed, as a stable code, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One result per operation of the command, in order.
    pub results: Vec<OpResult>,
}

impl ResultClaims {
    /// Checks the shape of the claims, not time or audience.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        check_id(&self.iss, "iss")?;
        check_id(&self.jti, "jti")?;
        check_id(&self.cmd, "cmd")?;
        check_id(&self.chip, "chip")?;
        self.aud.validate()?;
        if self.results.len() > MAX_OPS {
            return Err(EnvelopeError::InvalidClaims("too many results"));
        }
        Ok(())
    }
}

/// Names: 1 to 32 bytes of `A-Z a-z 0-9 . _ -`.
fn check_name(name: &str) -> Result<(), EnvelopeError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidClaims(
            "names are 1 to 32 characters of A-Z a-z 0-9 . _ -",
        ))
    }
}

/// Ids: 1 to 128 bytes of printable ASCII without spaces.
fn check_id(id: &str, _claim: &'static str) -> Result<(), EnvelopeError> {
    if !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidClaims(
            "ids are 1 to 128 printable ASCII characters",
        ))
    }
}

mod b64 {
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::jose::b64::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        crate::jose::b64::decode(&text).map_err(|_| D::Error::custom("invalid base64url"))
    }
}

mod b64opt {
    use alloc::vec::Vec;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        super::b64::deserialize(d).map(Some)
    }
}
