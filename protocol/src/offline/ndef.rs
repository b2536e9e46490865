//! NDEF messages (NFC Forum NDEF 1.0) and the NFC static handover of 18013-5 §8.2.2.1: a
//! Handover Select message (NFC Forum Connection Handover 1.5) with alternative carrier
//! records, carrier configuration records and the device engagement record.

use alloc::vec;
use alloc::vec::Vec;

use super::engagement::{DeviceEngagement, NfcOptions};
use super::error::OfflineError;

/// Longest NDEF message accepted, in bytes.
pub const MAX_NDEF_LEN: usize = 8192;

/// The record type of the device engagement record (external, §8.2.2.1).
pub const TYPE_DEVICE_ENGAGEMENT: &[u8] = b"iso.org:18013:deviceengagement";
/// The record type of the NFC carrier configuration record (external, §8.2.2.2).
pub const TYPE_NFC_CARRIER: &[u8] = b"iso.org:18013:nfc";
/// The record type of the BLE carrier configuration record (media type).
pub const TYPE_BLE_CARRIER: &[u8] = b"application/vnd.bluetooth.le.oob";
/// Handover Select record type (well-known).
pub const TYPE_HANDOVER_SELECT: &[u8] = b"Hs";
/// Alternative carrier record type (well-known).
pub const TYPE_ALTERNATIVE_CARRIER: &[u8] = b"ac";
/// Connection Handover version 1.5.
pub const HANDOVER_VERSION: u8 = 0x15;

const MB: u8 = 0x80;
const ME: u8 = 0x40;
const CF: u8 = 0x20;
const SR: u8 = 0x10;
const IL: u8 = 0x08;

/// Type name format (NDEF 1.0 §3.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tnf {
    /// 0: empty record.
    Empty = 0,
    /// 1: NFC Forum well-known type.
    WellKnown = 1,
    /// 2: media type (RFC 2046).
    Media = 2,
    /// 3: absolute URI.
    AbsoluteUri = 3,
    /// 4: NFC Forum external type.
    External = 4,
    /// 5: unknown.
    Unknown = 5,
}

impl Tnf {
    fn from_bits(bits: u8) -> Result<Self, OfflineError> {
        Ok(match bits {
            0 => Tnf::Empty,
            1 => Tnf::WellKnown,
            2 => Tnf::Media,
            3 => Tnf::AbsoluteUri,
            4 => Tnf::External,
            5 => Tnf::Unknown,
            // 6 "unchanged" only appears in chunked records (refused), 7 is reserved.
            _ => return Err(OfflineError::InvalidNdef),
        })
    }
}

/// One NDEF record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Type name format.
    pub tnf: Tnf,
    /// Record type.
    pub record_type: Vec<u8>,
    /// Record identifier (empty when absent).
    pub id: Vec<u8>,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Record {
    /// A record.
    pub fn new(tnf: Tnf, record_type: &[u8], id: &[u8], payload: Vec<u8>) -> Self {
        Self {
            tnf,
            record_type: record_type.to_vec(),
            id: id.to_vec(),
            payload,
        }
    }

    fn is(&self, tnf: Tnf, record_type: &[u8]) -> bool {
        self.tnf == tnf && self.record_type == record_type
    }
}

/// Parses an NDEF message. Chunked records are refused (18013-5 does not use them).
pub fn parse_message(bytes: &[u8]) -> Result<Vec<Record>, OfflineError> {
    const BAD: OfflineError = OfflineError::InvalidNdef;
    if bytes.len() > MAX_NDEF_LEN {
        return Err(OfflineError::MessageTooLarge);
    }
    let mut records = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], OfflineError> {
        let slice = bytes.get(*at..*at + n).ok_or(BAD)?;
        *at += n;
        Ok(slice)
    };
    loop {
        let flags = take(&mut at, 1)?[0];
        let first = records.is_empty();
        if (flags & MB != 0) != first || flags & CF != 0 {
            return Err(BAD);
        }
        let tnf = Tnf::from_bits(flags & 0x07)?;
        let type_len = usize::from(take(&mut at, 1)?[0]);
        let payload_len = if flags & SR != 0 {
            usize::from(take(&mut at, 1)?[0])
        } else {
            let b = take(&mut at, 4)?;
            usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).map_err(|_| BAD)?
        };
        let id_len = if flags & IL != 0 {
            usize::from(take(&mut at, 1)?[0])
        } else {
            0
        };
        if tnf == Tnf::Empty && (type_len | payload_len | id_len) != 0 {
            return Err(BAD);
        }
        if matches!(tnf, Tnf::Unknown) && type_len != 0 {
            return Err(BAD);
        }
        let record_type = take(&mut at, type_len)?.to_vec();
        let id = take(&mut at, id_len)?.to_vec();
        let payload = take(&mut at, payload_len)?.to_vec();
        records.push(Record {
            tnf,
            record_type,
            id,
            payload,
        });
        if flags & ME != 0 {
            break;
        }
    }
    if at != bytes.len() {
        return Err(BAD);
    }
    Ok(records)
}

/// Encodes records as one NDEF message (short records where the payload fits).
pub fn encode_message(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let last = records.len().saturating_sub(1);
    for (i, record) in records.iter().enumerate() {
        let short = record.payload.len() <= 0xFF;
        let mut flags = record.tnf as u8;
        if i == 0 {
            flags |= MB;
        }
        if i == last {
            flags |= ME;
        }
        if short {
            flags |= SR;
        }
        if !record.id.is_empty() {
            flags |= IL;
        }
        out.push(flags);
        out.push(record.record_type.len() as u8);
        if short {
            out.push(record.payload.len() as u8);
        } else {
            out.extend_from_slice(&(record.payload.len() as u32).to_be_bytes());
        }
        if !record.id.is_empty() {
            out.push(record.id.len() as u8);
        }
        out.extend_from_slice(&record.record_type);
        out.extend_from_slice(&record.id);
        out.extend_from_slice(&record.payload);
    }
    out
}

/// An alternative carrier record (Connection Handover 1.5 §6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlternativeCarrier {
    /// Carrier power state (0 inactive, 1 active, 2 activating, 3 unknown).
    pub power_state: u8,
    /// The `id` of the carrier configuration record.
    pub carrier_reference: Vec<u8>,
    /// The `id`s of auxiliary records (the device engagement record: `mdoc`).
    pub auxiliary_references: Vec<Vec<u8>>,
}

impl AlternativeCarrier {
    fn parse(payload: &[u8]) -> Result<Self, OfflineError> {
        const BAD: OfflineError = OfflineError::InvalidNdef;
        let (&cps, rest) = payload.split_first().ok_or(BAD)?;
        let (reference, mut rest) = split_counted(rest)?;
        let (&count, tail) = rest.split_first().ok_or(BAD)?;
        rest = tail;
        let mut auxiliary_references = Vec::new();
        for _ in 0..count {
            let (aux, tail) = split_counted(rest)?;
            auxiliary_references.push(aux.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(BAD);
        }
        Ok(Self {
            power_state: cps & 0x03,
            carrier_reference: reference.to_vec(),
            auxiliary_references,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.power_state, self.carrier_reference.len() as u8];
        out.extend_from_slice(&self.carrier_reference);
        out.push(self.auxiliary_references.len() as u8);
        for aux in &self.auxiliary_references {
            out.push(aux.len() as u8);
            out.extend_from_slice(aux);
        }
        out
    }
}

fn split_counted(bytes: &[u8]) -> Result<(&[u8], &[u8]), OfflineError> {
    let (&len, rest) = bytes.split_first().ok_or(OfflineError::InvalidNdef)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(OfflineError::InvalidNdef);
    }
    Ok(rest.split_at(len))
}

/// The NFC carrier configuration payload (§8.2.2.2): version 1, then `[length, type, value]`
/// for the maximum command (type 1) and response (type 2) data field lengths.
fn encode_nfc_carrier(nfc: &NfcOptions) -> Vec<u8> {
    let mut out = vec![0x01];
    for (kind, value) in [(0x01, nfc.max_command_len), (0x02, nfc.max_response_len)] {
        let bytes = value.to_be_bytes();
        let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
        out.push((4 - skip + 1) as u8);
        out.push(kind);
        out.extend_from_slice(&bytes[skip..]);
    }
    out
}

fn parse_nfc_carrier(payload: &[u8]) -> Result<NfcOptions, OfflineError> {
    const BAD: OfflineError = OfflineError::InvalidNdef;
    let (&version, mut rest) = payload.split_first().ok_or(BAD)?;
    if version != 0x01 {
        return Err(OfflineError::UnsupportedVersion);
    }
    let mut command = None;
    let mut response = None;
    while !rest.is_empty() {
        let (field, tail) = split_counted(rest)?;
        rest = tail;
        let (&kind, value) = field.split_first().ok_or(BAD)?;
        if value.is_empty() || value.len() > 4 {
            return Err(BAD);
        }
        let value = value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        match kind {
            0x01 => command = Some(value),
            0x02 => response = Some(value),
            _ => {}
        }
    }
    Ok(NfcOptions {
        max_command_len: command.ok_or(BAD)?,
        max_response_len: response.ok_or(BAD)?,
    })
}

/// A carrier the Handover Select message offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// NFC data retrieval with its limits.
    Nfc(NfcOptions),
    /// BLE (the configuration record is kept as is).
    Ble(Vec<u8>),
    /// Any other carrier: its record type.
    Other(Vec<u8>),
}

/// A static Handover Select message (§8.2.2.1), as read from the mdoc's NDEF tag.
#[derive(Clone, Debug)]
pub struct HandoverSelect {
    raw: Vec<u8>,
    engagement: DeviceEngagement,
    carriers: Vec<Carrier>,
}

impl HandoverSelect {
    /// A static Handover Select message offering NFC data retrieval.
    pub fn build_nfc(engagement: &DeviceEngagement, nfc: NfcOptions) -> Self {
        let ac = AlternativeCarrier {
            power_state: 0x01,
            carrier_reference: b"nfc".to_vec(),
            auxiliary_references: vec![b"mdoc".to_vec()],
        };
        let mut hs_payload = vec![HANDOVER_VERSION];
        hs_payload.extend(encode_message(&[Record::new(
            Tnf::WellKnown,
            TYPE_ALTERNATIVE_CARRIER,
            b"",
            ac.encode(),
        )]));
        let raw = encode_message(&[
            Record::new(Tnf::WellKnown, TYPE_HANDOVER_SELECT, b"", hs_payload),
            Record::new(
                Tnf::External,
                TYPE_NFC_CARRIER,
                b"nfc",
                encode_nfc_carrier(&nfc),
            ),
            Record::new(
                Tnf::External,
                TYPE_DEVICE_ENGAGEMENT,
                b"mdoc",
                engagement.as_bytes().to_vec(),
            ),
        ]);
        Self {
            raw,
            engagement: engagement.clone(),
            carriers: vec![Carrier::Nfc(nfc)],
        }
    }

    /// Parses a Handover Select message: the `Hs` record first, its alternative carriers,
    /// their configuration records, and the device engagement record.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let records = parse_message(raw)?;
        let hs = records
            .first()
            .filter(|r| r.is(Tnf::WellKnown, TYPE_HANDOVER_SELECT))
            .ok_or(OfflineError::InvalidNdef)?;
        let (&version, embedded) = hs.payload.split_first().ok_or(OfflineError::InvalidNdef)?;
        if version >> 4 != 1 {
            return Err(OfflineError::UnsupportedVersion);
        }
        let alternatives: Vec<AlternativeCarrier> = if embedded.is_empty() {
            Vec::new()
        } else {
            parse_message(embedded)?
                .iter()
                .filter(|r| r.is(Tnf::WellKnown, TYPE_ALTERNATIVE_CARRIER))
                .map(|r| AlternativeCarrier::parse(&r.payload))
                .collect::<Result<_, _>>()?
        };
        let engagement_record = records
            .iter()
            .skip(1)
            .find(|r| r.is(Tnf::External, TYPE_DEVICE_ENGAGEMENT))
            .ok_or(OfflineError::NoDeviceEngagement)?;
        let engagement = DeviceEngagement::parse(&engagement_record.payload)?;
        let mut carriers = Vec::new();
        for ac in &alternatives {
            let Some(config) = records
                .iter()
                .skip(1)
                .find(|r| r.id == ac.carrier_reference && !r.id.is_empty())
            else {
                continue;
            };
            carriers.push(if config.is(Tnf::External, TYPE_NFC_CARRIER) {
                Carrier::Nfc(parse_nfc_carrier(&config.payload)?)
            } else if config.is(Tnf::Media, TYPE_BLE_CARRIER) {
                Carrier::Ble(config.payload.clone())
            } else {
                Carrier::Other(config.record_type.clone())
            });
        }
        Ok(Self {
            raw: raw.to_vec(),
            engagement,
            carriers,
        })
    }

    /// The message as read (what the transcript's `Handover` holds).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The device engagement it carries.
    pub fn engagement(&self) -> &DeviceEngagement {
        &self.engagement
    }

    /// The carriers offered, in the order of the alternative carrier records.
    pub fn carriers(&self) -> &[Carrier] {
        &self.carriers
    }

    /// The NFC data retrieval limits, if NFC is offered.
    pub fn nfc(&self) -> Option<NfcOptions> {
        self.carriers.iter().find_map(|c| match c {
            Carrier::Nfc(nfc) => Some(*nfc),
            _ => None,
        })
    }
}
