//! The ID-store applet's command set (`docs/applet.md`).
//!
//! Both sides use these types: the host (server, kiosk) builds [`Request`]s into command APDUs
//! and reads [`Reply`]s from responses; the card (the virtual secure element) parses command
//! APDUs into [`Request`]s, executes them on its state, and encodes the [`Reply`]. Every field
//! of the command data is a BER-TLV with a one-byte context tag ([`tag`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::apdu::{Command, Response, StatusWord};
use crate::tlv::{self, Tag, Tlv};

/// The applet's AID: category F (proprietary, ISO/IEC 7816-5) ‖ "kazashi" ‖ version 01.
pub const AID: [u8; 9] = [0xF0, b'k', b'a', b'z', b'a', b's', b'h', b'i', 0x01];

/// The class byte of the applet's commands (proprietary); `0x84` once wrapped by SCP03.
pub const CLA: u8 = 0x80;

/// Instruction bytes.
pub mod ins {
    /// PUT RECORD: write (create or replace) a record.
    pub const PUT_RECORD: u8 = 0xD0;
    /// GET RECORD: read a record.
    pub const GET_RECORD: u8 = 0xD2;
    /// DELETE RECORD.
    pub const DELETE_RECORD: u8 = 0xD4;
    /// COUNTER: P1 `00` add, `01` subtract; answers the new value.
    pub const COUNTER: u8 = 0xD6;
    /// GENERATE KEY: a P-256 key pair generated on the chip; answers the public key.
    pub const GENERATE_KEY: u8 = 0xD8;
    /// SIGN: ECDSA P-256 over a SHA-256 digest with a key generated on the chip.
    pub const SIGN: u8 = 0xDA;
    /// GET PUBLIC KEY: the public half of a key generated on the chip.
    pub const GET_PUBLIC_KEY: u8 = 0xDC;
    /// LIST: the names in a namespace.
    pub const LIST: u8 = 0xDE;
}

/// The context tags of the command and response data.
pub mod tag {
    /// Namespace (the provider's id), 1 to 64 bytes.
    pub const NAMESPACE: u8 = 0x80;
    /// Record, counter or key name, 1 to 32 bytes.
    pub const NAME: u8 = 0x81;
    /// Record value, 0 to 4,096 bytes.
    pub const VALUE: u8 = 0x82;
    /// Counter amount or value: 8 bytes, big-endian.
    pub const AMOUNT: u8 = 0x83;
    /// SHA-256 digest to sign: 32 bytes.
    pub const DIGEST: u8 = 0x84;
    /// Uncompressed P-256 public key (SEC 1 §2.3.3): 65 bytes.
    pub const PUBLIC_KEY: u8 = 0x85;
    /// ECDSA signature R ‖ S: 64 bytes.
    pub const SIGNATURE: u8 = 0x86;
    /// Which kind of object a listed name is: 1 record, 2 counter, 3 key.
    pub const KIND: u8 = 0x87;
    /// One entry of a LIST answer (constructed: NAME, KIND).
    pub const ENTRY: u8 = 0xA0;
}

/// Longest namespace, bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest name, bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Largest record value, bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// A namespace and a name inside it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// The namespace (a provider's id).
    pub namespace: Vec<u8>,
    /// The name within the namespace.
    pub name: Vec<u8>,
}

impl Slot {
    /// A slot from text.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.as_bytes().to_vec(),
            name: name.as_bytes().to_vec(),
        }
    }
}

/// Which kind of object a name holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A record.
    Record = 1,
    /// A counter.
    Counter = 2,
    /// A key pair.
    Key = 3,
}

/// A command to the ID-store applet.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// Create or replace a record.
    PutRecord {
        /// Where.
        slot: Slot,
        /// The value.
        value: Vec<u8>,
    },
    /// Read a record.
    GetRecord(Slot),
    /// Delete a record.
    DeleteRecord(Slot),
    /// Add to a counter (created at zero if absent); fails rather than overflow.
    Add {
        /// Which counter.
        slot: Slot,
        /// How much.
        amount: u64,
    },
    /// Subtract from a counter; fails rather than go below zero.
    Sub {
        /// Which counter.
        slot: Slot,
        /// How much.
        amount: u64,
    },
    /// Generate a key pair; fails if the name is taken.
    GenerateKey(Slot),
    /// Sign a digest with a key generated on the chip.
    Sign {
        /// Which key.
        slot: Slot,
        /// SHA-256 digest.
        digest: [u8; 32],
    },
    /// Read a public key.
    GetPublicKey(Slot),
    /// List the names of a namespace.
    List {
        /// The namespace.
        namespace: Vec<u8>,
    },
}

impl core::fmt::Debug for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Values may be personal data: lengths only.
        match self {
            Self::PutRecord { slot, value } => {
                write!(f, "PutRecord({slot:?}, {} bytes)", value.len())
            }
            Self::GetRecord(slot) => write!(f, "GetRecord({slot:?})"),
            Self::DeleteRecord(slot) => write!(f, "DeleteRecord({slot:?})"),
            Self::Add { slot, amount } => write!(f, "Add({slot:?}, {amount})"),
            Self::Sub { slot, amount } => write!(f, "Sub({slot:?}, {amount})"),
            Self::GenerateKey(slot) => write!(f, "GenerateKey({slot:?})"),
            Self::Sign { slot, .. } => write!(f, "Sign({slot:?})"),
            Self::GetPublicKey(slot) => write!(f, "GetPublicKey({slot:?})"),
            Self::List { namespace } => write!(f, "List({namespace:?})"),
        }
    }
}

/// What the applet answers.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done, no data.
    Done,
    /// A record value.
    Value(Vec<u8>),
    /// A counter's new value.
    Counter(u64),
    /// An uncompressed P-256 public key.
    PublicKey([u8; 65]),
    /// An ECDSA signature R ‖ S.
    Signature([u8; 64]),
    /// The names of a namespace, with their kinds.
    Names(Vec<(Vec<u8>, Kind)>),
}

impl core::fmt::Debug for Reply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Done => f.write_str("Done"),
            Self::Value(v) => write!(f, "Value({} bytes)", v.len()),
            Self::Counter(c) => write!(f, "Counter({c})"),
            Self::PublicKey(_) => f.write_str("PublicKey"),
            Self::Signature(_) => f.write_str("Signature"),
            Self::Names(n) => write!(f, "Names({} entries)", n.len()),
        }
    }
}

/// Why a reply could not be read (host side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// The applet refused the command with this status word.
    Status(StatusWord),
    /// The response data does not have the shape the command calls for.
    Malformed,
}

impl core::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Status(sw) => write!(f, "ID-store applet answered {sw}"),
            Self::Malformed => f.write_str("malformed ID-store applet response"),
        }
    }
}

impl core::error::Error for ReplyError {}

impl Request {
    /// The command APDU (unwrapped; SCP03 wraps it).
    pub fn to_command(&self) -> Command {
        let (ins, p1, fields, le): (u8, u8, Vec<Tlv>, bool) = match self {
            Self::PutRecord { slot, value } => (
                ins::PUT_RECORD,
                0,
                with_slot(slot, [field(tag::VALUE, value)]),
                false,
            ),
            Self::GetRecord(slot) => (ins::GET_RECORD, 0, with_slot(slot, []), true),
            Self::DeleteRecord(slot) => (ins::DELETE_RECORD, 0, with_slot(slot, []), false),
            Self::Add { slot, amount } | Self::Sub { slot, amount } => (
                ins::COUNTER,
                u8::from(matches!(self, Self::Sub { .. })),
                with_slot(slot, [field(tag::AMOUNT, &amount.to_be_bytes())]),
                true,
            ),
            Self::GenerateKey(slot) => (ins::GENERATE_KEY, 0, with_slot(slot, []), true),
            Self::Sign { slot, digest } => (
                ins::SIGN,
                0,
                with_slot(slot, [field(tag::DIGEST, digest)]),
                true,
            ),
            Self::GetPublicKey(slot) => (ins::GET_PUBLIC_KEY, 0, with_slot(slot, []), true),
            Self::List { namespace } => (
                ins::LIST,
                0,
                alloc::vec![field(tag::NAMESPACE, namespace)],
                true,
            ),
        };
        let mut data = Vec::new();
        for f in &fields {
            data.extend_from_slice(&f.to_bytes());
        }
        let command = Command::new(CLA, ins, p1, 0).with_data(data);
        if le {
            // Ne = the most the applet may answer: a 4,096-byte record and its status.
            command.with_le(if self.expects_long_reply() {
                65_536
            } else {
                256
            })
        } else {
            command
        }
    }

    fn expects_long_reply(&self) -> bool {
        matches!(self, Self::GetRecord(_) | Self::List { .. })
    }

    /// Parses a command APDU addressed to the applet (card side). The error is the status
    /// word to answer: `6E00` wrong class, `6D00` unknown instruction, `6A86` wrong P1/P2,
    /// `6A80` wrong data.
    pub fn parse(command: &Command) -> Result<Self, StatusWord> {
        // The class's channel and secure-messaging bits are the caller's business.
        if command.cla & 0xF0 != CLA {
            return Err(StatusWord::ClaNotSupported);
        }
        let p1_ok = match command.ins {
            ins::COUNTER => command.p1 <= 1,
            _ => command.p1 == 0,
        };
        let known = matches!(
            command.ins,
            ins::PUT_RECORD
                | ins::GET_RECORD
                | ins::DELETE_RECORD
                | ins::COUNTER
                | ins::GENERATE_KEY
                | ins::SIGN
                | ins::GET_PUBLIC_KEY
                | ins::LIST
        );
        if !known {
            return Err(StatusWord::InsNotSupported);
        }
        if !p1_ok || command.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let fields = Fields::parse(&command.data)?;
        let request = match command.ins {
            ins::PUT_RECORD => Self::PutRecord {
                slot: fields.slot()?,
                value: fields.bytes(tag::VALUE, 0, MAX_VALUE_LEN)?.to_vec(),
            },
            ins::GET_RECORD => Self::GetRecord(fields.slot()?),
            ins::DELETE_RECORD => Self::DeleteRecord(fields.slot()?),
            ins::COUNTER => {
                let slot = fields.slot()?;
                let amount = u64::from_be_bytes(fields.array(tag::AMOUNT)?);
                if command.p1 == 0 {
                    Self::Add { slot, amount }
                } else {
                    Self::Sub { slot, amount }
                }
            }
            ins::GENERATE_KEY => Self::GenerateKey(fields.slot()?),
            ins::SIGN => Self::Sign {
                slot: fields.slot()?,
                digest: fields.array(tag::DIGEST)?,
            },
            ins::GET_PUBLIC_KEY => Self::GetPublicKey(fields.slot()?),
            _ => Self::List {
                namespace: fields.bytes(tag::NAMESPACE, 1, MAX_NAMESPACE_LEN)?.to_vec(),
            },
        };
        fields.expect_count(request.field_count())?;
        Ok(request)
    }

    fn field_count(&self) -> usize {
        match self {
            Self::List { .. } => 1,
            Self::GetRecord(_)
            | Self::DeleteRecord(_)
            | Self::GenerateKey(_)
            | Self::GetPublicKey(_) => 2,
            _ => 3,
        }
    }

    /// Whether the applet accepts this command outside a secure channel: only reads of public
    /// keys (`docs/applet.md`).
    pub fn allowed_without_secure_channel(&self) -> bool {
        matches!(self, Self::GetPublicKey(_))
    }

    /// Whether the command changes the chip's state.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::PutRecord { .. }
                | Self::DeleteRecord(_)
                | Self::Add { .. }
                | Self::Sub { .. }
                | Self::GenerateKey(_)
        )
    }

    /// Reads the applet's response to this request (host side).
    pub fn parse_reply(&self, response: &Response) -> Result<Reply, ReplyError> {
        if response.sw != StatusWord::Ok {
            return Err(ReplyError::Status(response.sw));
        }
        let data = &response.data;
        let malformed = |_| ReplyError::Malformed;
        Ok(match self {
            Self::PutRecord { .. } | Self::DeleteRecord(_) if data.is_empty() => Reply::Done,
            Self::GetRecord(_) => {
                let fields = Fields::parse(data).map_err(malformed)?;
                let value = fields
                    .bytes(tag::VALUE, 0, MAX_VALUE_LEN)
                    .map_err(malformed)?
                    .to_vec();
                fields.expect_count(1).map_err(malformed)?;
                Reply::Value(value)
            }
            Self::Add { .. } | Self::Sub { .. } => {
                let fields = Fields::parse(data).map_err(malformed)?;
                let value = u64::from_be_bytes(fields.array(tag::AMOUNT).map_err(malformed)?);
                fields.expect_count(1).map_err(malformed)?;
                Reply::Counter(value)
            }
            Self::GenerateKey(_) | Self::GetPublicKey(_) => {
                let fields = Fields::parse(data).map_err(malformed)?;
                let key: [u8; 65] = fields.array(tag::PUBLIC_KEY).map_err(malformed)?;
                fields.expect_count(1).map_err(malformed)?;
                if key[0] != 0x04 {
                    return Err(ReplyError::Malformed);
                }
                Reply::PublicKey(key)
            }
            Self::Sign { .. } => {
                let fields = Fields::parse(data).map_err(malformed)?;
                let signature = fields.array(tag::SIGNATURE).map_err(malformed)?;
                fields.expect_count(1).map_err(malformed)?;
                Reply::Signature(signature)
            }
            Self::List { .. } => {
                let mut names = Vec::new();
                for entry in tlv::parse_all(data).map_err(|_| ReplyError::Malformed)? {
                    if entry.tag() != Tag::from_u8(tag::ENTRY) {
                        return Err(ReplyError::Malformed);
                    }
                    let inner = Fields::from_children(&entry).map_err(malformed)?;
                    let name = inner
                        .bytes(tag::NAME, 1, MAX_NAME_LEN)
                        .map_err(malformed)?
                        .to_vec();
                    let [kind] = inner.array(tag::KIND).map_err(malformed)?;
                    inner.expect_count(2).map_err(malformed)?;
                    let kind = match kind {
                        1 => Kind::Record,
                        2 => Kind::Counter,
                        3 => Kind::Key,
                        _ => return Err(ReplyError::Malformed),
                    };
                    names.push((name, kind));
                }
                Reply::Names(names)
            }
            _ => return Err(ReplyError::Malformed),
        })
    }
}

impl Reply {
    /// The response data for this reply (card side); the status word is `9000`.
    pub fn to_data(&self) -> Vec<u8> {
        match self {
            Self::Done => Vec::new(),
            Self::Value(v) => field(tag::VALUE, v).to_bytes(),
            Self::Counter(c) => field(tag::AMOUNT, &c.to_be_bytes()).to_bytes(),
            Self::PublicKey(k) => field(tag::PUBLIC_KEY, k).to_bytes(),
            Self::Signature(s) => field(tag::SIGNATURE, s).to_bytes(),
            Self::Names(names) => {
                let mut out = Vec::new();
                for (name, kind) in names {
                    let entry = Tlv::constructed(
                        Tag::from_u8(tag::ENTRY),
                        alloc::vec![field(tag::NAME, name), field(tag::KIND, &[*kind as u8])],
                    );
                    out.extend_from_slice(&entry.to_bytes());
                }
                out
            }
        }
    }

    /// The response APDU for this reply.
    pub fn to_response(&self) -> Response {
        Response::new(self.to_data(), StatusWord::Ok)
    }
}

/// A name as text, when it is UTF-8.
pub fn name_text(name: &[u8]) -> Option<String> {
    core::str::from_utf8(name).ok().map(Into::into)
}

fn field(t: u8, value: &[u8]) -> Tlv {
    Tlv::primitive(Tag::from_u8(t), value.to_vec())
}

fn with_slot<const N: usize>(slot: &Slot, rest: [Tlv; N]) -> Vec<Tlv> {
    let mut fields = alloc::vec![
        field(tag::NAMESPACE, &slot.namespace),
        field(tag::NAME, &slot.name)
    ];
    fields.extend(rest);
    fields
}

/// The primitive fields of a command's data, each tag at most once.
struct Fields(Vec<(u8, Vec<u8>)>);

impl Fields {
    fn parse(data: &[u8]) -> Result<Self, StatusWord> {
        let tlvs = tlv::parse_all(data).map_err(|_| StatusWord::IncorrectData)?;
        Self::collect(&tlvs)
    }

    fn from_children(parent: &Tlv) -> Result<Self, StatusWord> {
        Self::collect(parent.children().ok_or(StatusWord::IncorrectData)?)
    }

    fn collect(tlvs: &[Tlv]) -> Result<Self, StatusWord> {
        let mut fields: Vec<(u8, Vec<u8>)> = Vec::with_capacity(tlvs.len());
        for t in tlvs {
            let tag = t.tag().as_u8().ok_or(StatusWord::IncorrectData)?;
            let value = t.primitive_value().ok_or(StatusWord::IncorrectData)?;
            if fields.iter().any(|(seen, _)| *seen == tag) {
                return Err(StatusWord::IncorrectData);
            }
            fields.push((tag, value.to_vec()));
        }
        Ok(Self(fields))
    }

    fn get(&self, tag: u8) -> Result<&[u8], StatusWord> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
            .ok_or(StatusWord::IncorrectData)
    }

    fn bytes(&self, tag: u8, min: usize, max: usize) -> Result<&[u8], StatusWord> {
        let value = self.get(tag)?;
        if (min..=max).contains(&value.len()) {
            Ok(value)
        } else {
            Err(StatusWord::IncorrectData)
        }
    }

    fn array<const N: usize>(&self, tag: u8) -> Result<[u8; N], StatusWord> {
        self.get(tag)?
            .try_into()
            .map_err(|_| StatusWord::IncorrectData)
    }

    fn slot(&self) -> Result<Slot, StatusWord> {
        Ok(Slot {
            namespace: self.bytes(tag::NAMESPACE, 1, MAX_NAMESPACE_LEN)?.to_vec(),
            name: self.bytes(tag::NAME, 1, MAX_NAME_LEN)?.to_vec(),
        })
    }

    /// No fields beyond the ones the command uses.
    fn expect_count(&self, count: usize) -> Result<(), StatusWord> {
        if self.0.len() == count {
            Ok(())
        } else {
            Err(StatusWord::IncorrectData)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn all_requests() -> Vec<Request> {
        let slot = Slot::new("city-hall", "resident-id");
        vec![
            Request::PutRecord {
                slot: slot.clone(),
                value: vec![0x42; 4096],
            },
            Request::PutRecord {
                slot: slot.clone(),
                value: vec![],
            },
            Request::GetRecord(slot.clone()),
            Request::DeleteRecord(slot.clone()),
            Request::Add {
                slot: slot.clone(),
                amount: 120,
            },
            Request::Sub {
                slot: slot.clone(),
                amount: u64::MAX,
            },
            Request::GenerateKey(slot.clone()),
            Request::Sign {
                slot: slot.clone(),
                digest: [7; 32],
            },
            Request::GetPublicKey(slot),
            Request::List {
                namespace: b"city-hall".to_vec(),
            },
        ]
    }

    #[test]
    fn every_request_round_trips_through_its_apdu() {
        for request in all_requests() {
            let command = request.to_command();
            let bytes = command.to_bytes().unwrap();
            let parsed = Request::parse(&Command::parse(&bytes).unwrap()).unwrap();
            assert_eq!(parsed, request);
        }
    }

    // The encoding documented in docs/applet.md.
    #[test]
    fn documented_encoding() {
        let request = Request::Add {
            slot: Slot::new("shop", "points"),
            amount: 5,
        };
        assert_eq!(
            ::hex::encode_upper(request.to_command().to_bytes().unwrap()),
            "80D6000018800473686F708106706F696E7473830800000000000000050 0".replace(" ", "")
        );
    }

    #[test]
    fn replies_round_trip() {
        let cases = [
            (
                Request::GetRecord(Slot::new("a", "b")),
                Reply::Value(vec![1, 2, 3]),
            ),
            (
                Request::Add {
                    slot: Slot::new("a", "b"),
                    amount: 1,
                },
                Reply::Counter(7),
            ),
            (
                Request::GenerateKey(Slot::new("a", "b")),
                Reply::PublicKey([4; 65]),
            ),
            (
                Request::Sign {
                    slot: Slot::new("a", "b"),
                    digest: [0; 32],
                },
                Reply::Signature([9; 64]),
            ),
            (
                Request::List {
                    namespace: b"a".to_vec(),
                },
                Reply::Names(vec![
                    (b"b".to_vec(), Kind::Record),
                    (b"c".to_vec(), Kind::Key),
                ]),
            ),
            (Request::DeleteRecord(Slot::new("a", "b")), Reply::Done),
        ];
        for (request, reply) in cases {
            assert_eq!(request.parse_reply(&reply.to_response()).unwrap(), reply);
        }
    }

    #[test]
    fn card_side_refusals() {
        let good = Request::GetRecord(Slot::new("a", "b")).to_command();
        let mut wrong_cla = good.clone();
        wrong_cla.cla = 0x00;
        assert_eq!(Request::parse(&wrong_cla), Err(StatusWord::ClaNotSupported));
        let mut wrong_ins = good.clone();
        wrong_ins.ins = 0x01;
        assert_eq!(Request::parse(&wrong_ins), Err(StatusWord::InsNotSupported));
        let mut wrong_p1 = good.clone();
        wrong_p1.p1 = 1;
        assert_eq!(Request::parse(&wrong_p1), Err(StatusWord::IncorrectP1P2));
        let mut wrong_p2 = good.clone();
        wrong_p2.p2 = 1;
        assert_eq!(Request::parse(&wrong_p2), Err(StatusWord::IncorrectP1P2));
        // Missing name, duplicate tag, extra tag, truncated TLV, empty namespace.
        for data in [
            "800161",
            "80016181016281016",
            "8001618101628201FF",
            "800561",
            "80008101 62",
        ] {
            let mut bad = good.clone();
            bad.data = ::hex::decode(data.replace(' ', "")).unwrap_or_else(|_| vec![0x80, 0x05]);
            assert_eq!(
                Request::parse(&bad),
                Err(StatusWord::IncorrectData),
                "{data}"
            );
        }
        // A digest of the wrong size.
        let mut short = Request::Sign {
            slot: Slot::new("a", "b"),
            digest: [0; 32],
        }
        .to_command();
        short.data.truncate(short.data.len() - 1);
        let len = short.data.len();
        short.data[len - 32] = 31;
        assert_eq!(Request::parse(&short), Err(StatusWord::IncorrectData));
    }

    #[test]
    fn host_side_refusals() {
        let request = Request::GetRecord(Slot::new("a", "b"));
        let not_found = Response::status(StatusWord::ReferencedDataNotFound);
        assert_eq!(
            request.parse_reply(&not_found),
            Err(ReplyError::Status(StatusWord::ReferencedDataNotFound))
        );
        let wrong_shape = Reply::Counter(1).to_response();
        assert_eq!(
            request.parse_reply(&wrong_shape),
            Err(ReplyError::Malformed)
        );
        let put = Request::PutRecord {
            slot: Slot::new("a", "b"),
            value: vec![],
        };
        assert_eq!(
            put.parse_reply(&Reply::Value(vec![]).to_response()),
            Err(ReplyError::Malformed)
        );
    }
}
