//! The claims of command and result envelopes (`docs/envelopes.md`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::EnvelopeError;
use crate::jose::json::{Object, Value, write_string};
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
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Write a record in the provider's namespace.
    Put {
        /// Record name.
        record: String,
        /// Record value, base64url on the wire.
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
        aid: Vec<u8>,
        /// The command APDU, hex on the wire.
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub nbf: Option<u64>,
    /// The chip this command is for, when the provider knows it.
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every operation succeeded.
    Ok,
    /// At least one operation failed, or the secure channel could not be used.
    Failed,
}

/// Outcome of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpStatus {
    /// Done; the typed data, if any, is present.
    Ok,
    /// The chip refused it (`sw` tells why).
    Failed,
    /// Not run, because an earlier operation failed.
    Skipped,
}

/// The result of one operation.
#[derive(Clone, PartialEq, Eq)]
pub struct OpResult {
    /// The outcome.
    pub status: OpStatus,
    /// `get`: the record value, base64url on the wire.
    pub data: Option<Vec<u8>>,
    /// `add`/`sub`: the counter's new value.
    pub value: Option<u64>,
    /// `keygen`: the public key generated on the chip.
    pub jwk: Option<Jwk>,
    /// `apdu`: the response APDU, hex on the wire.
    pub rapdu: Option<Vec<u8>>,
    /// The chip's status word when the operation failed, as 4 hex digits.
    pub sw: Option<String>,
    /// A stable error code when the operation failed.
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

// ---------------------------------------------------------------------------------------------
// The wire form (`docs/envelopes.md`), read and written by hand over `jose::json`: members in
// the order below, optional members left out when absent, `null` read as absent, unknown
// members ignored except inside an operation, which refuses them.

/// Why the claims do not match the schema.
const SCHEMA: EnvelopeError =
    EnvelopeError::InvalidClaims("claims do not match the envelope schema");

/// The members of an object, taken out one by one; what is left is unknown.
struct Members(Object);

impl Members {
    fn take(&mut self, name: &str) -> Option<Value> {
        match self.0.remove(name) {
            None | Some(Value::Null) => None,
            some => some,
        }
    }

    fn string(&mut self, name: &str) -> Result<String, EnvelopeError> {
        self.optional_string(name)?.ok_or(SCHEMA)
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, EnvelopeError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(SCHEMA),
        }
    }

    fn integer(&mut self, name: &str) -> Result<u64, EnvelopeError> {
        self.optional_integer(name)?.ok_or(SCHEMA)
    }

    fn optional_integer(&mut self, name: &str) -> Result<Option<u64>, EnvelopeError> {
        self.take(name)
            .map(|v| v.as_u64().ok_or(SCHEMA))
            .transpose()
    }

    fn array(&mut self, name: &str) -> Result<Vec<Value>, EnvelopeError> {
        match self.take(name) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(SCHEMA),
        }
    }

    fn audience(&mut self, name: &str) -> Result<Audience, EnvelopeError> {
        match self.take(name) {
            Some(Value::String(one)) => Ok(Audience::One(one)),
            Some(Value::Array(many)) => many
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(SCHEMA),
                })
                .collect::<Result<_, _>>()
                .map(Audience::Many),
            _ => Err(SCHEMA),
        }
    }

    fn base64(&mut self, name: &str) -> Result<Option<Vec<u8>>, EnvelopeError> {
        self.optional_string(name)?
            .map(|text| crate::jose::b64::decode(&text).map_err(|_| SCHEMA))
            .transpose()
    }

    fn hex(&mut self, name: &str) -> Result<Option<Vec<u8>>, EnvelopeError> {
        self.optional_string(name)?
            .map(|text| crate::hex::decode(&text).ok_or(SCHEMA))
            .transpose()
    }

    /// Refuses members nobody took (operations are strict: a misspelt member is an error).
    fn deny_unknown(self) -> Result<(), EnvelopeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SCHEMA)
        }
    }
}

fn members(value: Value) -> Result<Members, EnvelopeError> {
    match value {
        Value::Object(object) => Ok(Members(object)),
        _ => Err(SCHEMA),
    }
}

/// A JSON writer for one object, members in the order written.
struct Writer {
    out: String,
    first: bool,
}

impl Writer {
    fn new() -> Self {
        Self {
            out: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_string(&mut self.out, name);
        self.out.push(':');
        &mut self.out
    }

    fn string(&mut self, name: &str, value: &str) {
        write_string(self.key(name), value);
    }

    fn integer(&mut self, name: &str, value: u64) {
        use core::fmt::Write;
        let _ = write!(self.key(name), "{value}");
    }

    fn audience(&mut self, name: &str, aud: &Audience) {
        match aud {
            Audience::One(one) => self.string(name, one),
            Audience::Many(many) => {
                let out = self.key(name);
                out.push('[');
                for (i, a) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, a);
                }
                out.push(']');
            }
        }
    }

    fn list<T>(&mut self, name: &str, items: &[T], write: impl Fn(&T, &mut String)) {
        let out = self.key(name);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write(item, out);
        }
        out.push(']');
    }

    fn finish(mut self, out: &mut String) {
        self.out.push('}');
        out.push_str(&self.out);
    }
}

impl Op {
    fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let mut m = members(value)?;
        let op = match m.take("op") {
            Some(Value::String(op)) => op,
            _ => return Err(SCHEMA),
        };
        let op = match op.as_str() {
            "put" => Self::Put {
                record: m.string("record")?,
                data: m.base64("data")?.ok_or(SCHEMA)?,
            },
            "get" => Self::Get {
                record: m.string("record")?,
            },
            "delete" => Self::Delete {
                record: m.string("record")?,
            },
            "add" => Self::Add {
                counter: m.string("counter")?,
                amount: m.integer("amount")?,
            },
            "sub" => Self::Sub {
                counter: m.string("counter")?,
                amount: m.integer("amount")?,
            },
            "keygen" => Self::Keygen {
                key: m.string("key")?,
            },
            "apdu" => Self::Apdu {
                aid: m.hex("aid")?.ok_or(SCHEMA)?,
                capdu: m.hex("capdu")?.ok_or(SCHEMA)?,
            },
            _ => return Err(SCHEMA),
        };
        m.deny_unknown()?;
        Ok(op)
    }

    fn write(&self, out: &mut String) {
        let mut w = Writer::new();
        match self {
            Self::Put { record, data } => {
                w.string("op", "put");
                w.string("record", record);
                w.string("data", &crate::jose::b64::encode(data));
            }
            Self::Get { record } => {
                w.string("op", "get");
                w.string("record", record);
            }
            Self::Delete { record } => {
                w.string("op", "delete");
                w.string("record", record);
            }
            Self::Add { counter, amount } => {
                w.string("op", "add");
                w.string("counter", counter);
                w.integer("amount", *amount);
            }
            Self::Sub { counter, amount } => {
                w.string("op", "sub");
                w.string("counter", counter);
                w.integer("amount", *amount);
            }
            Self::Keygen { key } => {
                w.string("op", "keygen");
                w.string("key", key);
            }
            Self::Apdu { aid, capdu } => {
                w.string("op", "apdu");
                w.string("aid", &crate::hex::encode_upper(aid));
                w.string("capdu", &crate::hex::encode_upper(capdu));
            }
        }
        w.finish(out);
    }
}

impl CommandClaims {
    /// Reads command claims from a parsed JSON object (schema only, not [`validate`]d).
    ///
    /// [`validate`]: CommandClaims::validate
    pub fn from_object(object: Object) -> Result<Self, EnvelopeError> {
        let mut m = Members(object);
        Ok(Self {
            iss: m.string("iss")?,
            aud: m.audience("aud")?,
            jti: m.string("jti")?,
            iat: m.integer("iat")?,
            exp: m.integer("exp")?,
            nbf: m.optional_integer("nbf")?,
            sub: m.optional_string("sub")?,
            ops: m
                .array("ops")?
                .into_iter()
                .map(Op::from_value)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Compact JSON text of the claims, members in the order of `docs/envelopes.md`.
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.string("iss", &self.iss);
        w.audience("aud", &self.aud);
        w.string("jti", &self.jti);
        w.integer("iat", self.iat);
        w.integer("exp", self.exp);
        if let Some(nbf) = self.nbf {
            w.integer("nbf", nbf);
        }
        if let Some(sub) = &self.sub {
            w.string("sub", sub);
        }
        w.list("ops", &self.ops, Op::write);
        let mut out = String::new();
        w.finish(&mut out);
        out
    }
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
        }
    }
}

impl OpStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl OpResult {
    fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let mut m = members(value)?;
        let status = match m.string("status")?.as_str() {
            "ok" => OpStatus::Ok,
            "failed" => OpStatus::Failed,
            "skipped" => OpStatus::Skipped,
            _ => return Err(SCHEMA),
        };
        Ok(Self {
            status,
            data: m.base64("data")?,
            value: m.optional_integer("value")?,
            jwk: match m.take("jwk") {
                None => None,
                Some(Value::Object(jwk)) => Some(Jwk::from_object(jwk).map_err(|_| SCHEMA)?),
                Some(_) => return Err(SCHEMA),
            },
            rapdu: m.hex("rapdu")?,
            sw: m.optional_string("sw")?,
            error: m.optional_string("error")?,
        })
    }

    fn write(&self, out: &mut String) {
        let mut w = Writer::new();
        w.string("status", self.status.as_str());
        if let Some(data) = &self.data {
            w.string("data", &crate::jose::b64::encode(data));
        }
        if let Some(value) = self.value {
            w.integer("value", value);
        }
        if let Some(jwk) = &self.jwk {
            w.key("jwk").push_str(&jwk.to_json());
        }
        if let Some(rapdu) = &self.rapdu {
            w.string("rapdu", &crate::hex::encode_upper(rapdu));
        }
        if let Some(sw) = &self.sw {
            w.string("sw", sw);
        }
        if let Some(error) = &self.error {
            w.string("error", error);
        }
        w.finish(out);
    }
}

impl ResultClaims {
    /// Reads result claims from a parsed JSON object (schema only, not [`validate`]d).
    ///
    /// [`validate`]: ResultClaims::validate
    pub fn from_object(object: Object) -> Result<Self, EnvelopeError> {
        let mut m = Members(object);
        Ok(Self {
            iss: m.string("iss")?,
            aud: m.audience("aud")?,
            jti: m.string("jti")?,
            cmd: m.string("cmd")?,
            iat: m.integer("iat")?,
            chip: m.string("chip")?,
            status: match m.string("status")?.as_str() {
                "ok" => Status::Ok,
                "failed" => Status::Failed,
                _ => return Err(SCHEMA),
            },
            reason: m.optional_string("reason")?,
            results: m
                .array("results")?
                .into_iter()
                .map(OpResult::from_value)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Compact JSON text of the claims, members in the order of `docs/envelopes.md`.
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.string("iss", &self.iss);
        w.audience("aud", &self.aud);
        w.string("jti", &self.jti);
        w.string("cmd", &self.cmd);
        w.integer("iat", self.iat);
        w.string("chip", &self.chip);
        w.string("status", self.status.as_str());
        if let Some(reason) = &self.reason {
            w.string("reason", reason);
        }
        w.list("results", &self.results, OpResult::write);
        let mut out = String::new();
        w.finish(&mut out);
        out
    }
}

fn object_of(value: Value) -> Result<Object, EnvelopeError> {
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(SCHEMA),
    }
}

fn written(write: impl Fn(&mut String)) -> String {
    let mut out = String::new();
    write(&mut out);
    out
}

crate::jose::json::serde_via_json!(CommandClaims, CommandClaims::to_json, |v| {
    object_of(v).and_then(CommandClaims::from_object)
});
crate::jose::json::serde_via_json!(ResultClaims, ResultClaims::to_json, |v| {
    object_of(v).and_then(ResultClaims::from_object)
});
crate::jose::json::serde_via_json!(
    OpResult,
    |r: &OpResult| written(|out| r.write(out)),
    OpResult::from_value
);
crate::jose::json::serde_via_json!(Op, |op: &Op| written(|out| op.write(out)), Op::from_value);

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn command() -> CommandClaims {
        CommandClaims {
            iss: "midori-city".into(),
            aud: Audience::Many(vec!["kazashi".into(), "other".into()]),
            jti: "cmd-1".into(),
            iat: 1_700_000_000,
            exp: 1_700_000_300,
            nbf: Some(1_700_000_000),
            sub: Some("chip-\"1\"".into()),
            ops: vec![
                Op::Put {
                    record: "name".into(),
                    data: b"\x00\xffyamada".to_vec(),
                },
                Op::Get {
                    record: "name".into(),
                },
                Op::Delete { record: "x".into() },
                Op::Add {
                    counter: "points".into(),
                    amount: 5,
                },
                Op::Sub {
                    counter: "points".into(),
                    amount: u64::from(u32::MAX),
                },
                Op::Keygen { key: "k1".into() },
                Op::Apdu {
                    aid: vec![0xA0, 0, 0, 0, 0x62],
                    capdu: vec![0x00, 0xA4, 0x04, 0x00],
                },
            ],
        }
    }

    #[test]
    fn command_claims_have_a_fixed_wire_form_and_round_trip() {
        let claims = command();
        let text = claims.to_json();
        assert_eq!(
            text,
            concat!(
                r#"{"iss":"midori-city","aud":["kazashi","other"],"jti":"cmd-1","#,
                r#""iat":1700000000,"exp":1700000300,"nbf":1700000000,"sub":"chip-\"1\"","#,
                r#""ops":[{"op":"put","record":"name","data":"AP95YW1hZGE"},"#,
                r#"{"op":"get","record":"name"},{"op":"delete","record":"x"},"#,
                r#"{"op":"add","counter":"points","amount":5},"#,
                r#"{"op":"sub","counter":"points","amount":4294967295},"#,
                r#"{"op":"keygen","key":"k1"},"#,
                r#"{"op":"apdu","aid":"A000000062","capdu":"00A40400"}]}"#
            )
        );
        assert_eq!(
            CommandClaims::from_json(text.as_bytes()),
            Ok(claims.clone())
        );
        // serde goes through the same mapping.
        let via_serde: CommandClaims = serde_json::from_str(&text).unwrap();
        assert_eq!(via_serde, claims);
        assert_eq!(serde_json::to_string(&claims).unwrap(), text);
    }

    #[test]
    fn absent_and_null_optionals_are_the_same_and_unknown_top_level_members_are_ignored() {
        let base = r#""iss":"p","aud":"kazashi","jti":"j","iat":1,"exp":2,"ops":[{"op":"get","record":"r"}]"#;
        let plain = CommandClaims::from_json(alloc::format!("{{{base}}}").as_bytes()).unwrap();
        assert_eq!(plain.aud, Audience::One("kazashi".into()));
        assert_eq!((plain.nbf, plain.sub.as_deref()), (None, None));
        let nulls = alloc::format!(r#"{{{base},"nbf":null,"sub":null,"extra":{{"a":[1]}}}}"#);
        assert_eq!(CommandClaims::from_json(nulls.as_bytes()), Ok(plain));
    }

    #[test]
    fn schema_violations_are_invalid_claims() {
        let base = |extra: &str, ops: &str| {
            alloc::format!(
                r#"{{"iss":"p","aud":"kazashi","jti":"j","iat":1,"exp":2{extra},"ops":[{ops}]}}"#
            )
        };
        let cases = [
            base("", r#"{"op":"get","record":"r","extra":1}"#),
            base("", r#"{"op":"get","record":"r","extra":null}"#),
            base("", r#"{"op":"fly","record":"r"}"#),
            base("", r#"{"record":"r"}"#),
            base("", r#"{"op":"GET","record":"r"}"#),
            base("", r#"{"op":"get","record":7}"#),
            base("", r#"{"op":"get","record":null}"#),
            base("", r#"{"op":"put","record":"r","data":"!!"}"#),
            base("", r#"{"op":"put","record":"r"}"#),
            base("", r#"{"op":"add","counter":"c","amount":-1}"#),
            base("", r#"{"op":"add","counter":"c","amount":1.0}"#),
            base("", r#"{"op":"add","counter":"c","amount":1e3}"#),
            base("", r#"{"op":"add","counter":"c","amount":"1"}"#),
            base("", r#"{"op":"apdu","aid":"A0000000G2","capdu":"00A40400"}"#),
            base("", r#"{"op":"apdu","aid":"A00","capdu":"00A40400"}"#),
            base("", r#""get""#),
            base(r#","nbf":"1""#, r#"{"op":"get","record":"r"}"#),
            base(r#","sub":1"#, r#"{"op":"get","record":"r"}"#),
            r#"{"iss":"p","aud":["a",1],"jti":"j","iat":1,"exp":2,"ops":[]}"#.into(),
            r#"{"iss":"p","aud":"a","jti":"j","iat":1,"exp":2,"ops":{}}"#.into(),
            r#"{"iss":"p","aud":"a","jti":"j","iat":1,"exp":2}"#.into(),
            r#"{"iss":"p","aud":"a","jti":"j","iat":18446744073709551616,"exp":2,"ops":[]}"#.into(),
            r#"{"aud":"a","jti":"j","iat":1,"exp":2,"ops":[]}"#.into(),
        ];
        for text in cases {
            assert!(
                matches!(
                    CommandClaims::from_json(text.as_bytes()),
                    Err(EnvelopeError::InvalidClaims(_))
                ),
                "{text}"
            );
            assert!(
                serde_json::from_str::<CommandClaims>(&text).is_err(),
                "{text}"
            );
        }
        for text in ["[]", "{", r#"{"iss":"a","iss":"b"}"#, "\"x\""] {
            assert_eq!(
                CommandClaims::from_json(text.as_bytes()),
                Err(EnvelopeError::InvalidClaims("claims are not a JSON object")),
                "{text}"
            );
        }
    }

    #[test]
    fn result_claims_round_trip_with_every_member() {
        let jwk = crate::jose::jwk::Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("AAAA".into()),
            y: Some("BBBB".into()),
            kid: Some("k".into()),
            ..Default::default()
        };
        let claims = ResultClaims {
            iss: "kazashi".into(),
            aud: Audience::One("midori-city".into()),
            jti: "tx-1".into(),
            cmd: "cmd-1".into(),
            iat: 1_700_000_001,
            chip: "chip-1".into(),
            status: Status::Failed,
            reason: Some("op_failed".into()),
            results: vec![
                OpResult {
                    data: Some(b"hi".to_vec()),
                    ..OpResult::ok()
                },
                OpResult {
                    value: Some(12),
                    ..OpResult::ok()
                },
                OpResult {
                    jwk: Some(jwk),
                    ..OpResult::ok()
                },
                OpResult {
                    rapdu: Some(vec![0x90, 0x00]),
                    ..OpResult::ok()
                },
                OpResult {
                    sw: Some("6A82".into()),
                    error: Some("not_found".into()),
                    ..OpResult::with_status(OpStatus::Failed)
                },
                OpResult::with_status(OpStatus::Skipped),
            ],
        };
        let text = claims.to_json();
        assert_eq!(
            text,
            concat!(
                r#"{"iss":"kazashi","aud":"midori-city","jti":"tx-1","cmd":"cmd-1","#,
                r#""iat":1700000001,"chip":"chip-1","status":"failed","reason":"op_failed","#,
                r#""results":[{"status":"ok","data":"aGk"},{"status":"ok","value":12},"#,
                r#"{"status":"ok","jwk":{"kty":"EC","crv":"P-256","x":"AAAA","y":"BBBB","kid":"k"}},"#,
                r#"{"status":"ok","rapdu":"9000"},"#,
                r#"{"status":"failed","sw":"6A82","error":"not_found"},{"status":"skipped"}]}"#
            )
        );
        assert_eq!(ResultClaims::from_json(text.as_bytes()), Ok(claims.clone()));
        assert_eq!(serde_json::from_str::<ResultClaims>(&text).unwrap(), claims);
        for bad in [
            text.replace(
                r#""status":"failed","reason""#,
                r#""status":"FAILED","reason""#,
            ),
            text.replace(r#"{"status":"skipped"}"#, r#"{"status":"later"}"#),
            text.replace(r#""jwk":{"kty":"EC""#, r#""jwk":{"kty":1"#),
            text.replace(r#""rapdu":"9000""#, r#""rapdu":"90 00""#),
            text.replace(r#""value":12"#, r#""value":-12"#),
        ] {
            assert!(ResultClaims::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
