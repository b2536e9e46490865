//! BLE data retrieval framing (18013-5 §8.3.3.1.1), sans-IO, for both sides, in mdoc
//! peripheral server mode: the mdoc (the phone) is the GATT server and advertises the service
//! UUID of its device engagement; the mdoc reader (the kiosk) is the GATT central.
//!
//! ```text
//! reader (central)                                   mdoc (peripheral, GATT server)
//!   scan for the engagement's service UUID, connect, subscribe to State and Server2Client
//!   State         write  01                    ──▶   BlePeripheral::on_write → Started
//!   Client2Server write  01‖chunk … 00‖chunk   ──▶   … → Message(SessionEstablishment)
//!   BleCentral::on_notification … → Message    ◀──   Server2Client notify 01‖chunk … 00‖chunk
//!   …more SessionData both ways…
//!   State         write  02  (or notified by the mdoc)   either side ends the session
//! ```
//!
//! - Characteristics (§8.3.3.1.1.4, Table 11): `0000000N-a123-48ce-896b-4c76973373e6` with N
//!   = 1 State, 2 Client2Server, 3 Server2Client in peripheral server mode (5, 6, 7 and Ident 8
//!   are central client mode's, which we do not implement: `btleplug` is central-only).
//! - Chunks (§8.3.3.1.1.6): a message is sent in characteristic values of at most
//!   `ATT_MTU − 3` bytes (and at most 512, the longest attribute value, Bluetooth Core
//!   Vol 3 Part F §3.2.9); the first byte of each is `0x01` when more of the message follows,
//!   `0x00` on the last one. Like multipaz (`BlePeripheralManagerAndroid.handleIncomingData`),
//!   a shorter non-last chunk is accepted: the sender may not know the negotiated MTU.
//! - State (§8.3.3.1.1.5, Table 13): the reader writes `0x01` (start) before any data; either
//!   side writes or notifies `0x02` (end) to end the session, which is the session termination
//!   of §9.1.1.4 (keys destroyed, no further message).
//!
//! BLE has no sequence numbers: chunks lost, repeated or reordered are caught where the
//! framing can see them (a chunk when no message is due, a message that is not exactly one
//! CBOR data item — every 18013-5 session message is one) and otherwise by the session layer
//! (AES-GCM fails on any change to the ciphertext).

use alloc::vec::Vec;

use super::cbor;
use super::engagement::{BleOptions, DeviceEngagement, RetrievalMethod};
use super::error::OfflineError;
use super::session::MAX_MESSAGE_LEN;

/// The UUID of characteristic `n` (§8.3.3.1.1.4): `0000000n-a123-48ce-896b-4c76973373e6`.
pub const fn characteristic_uuid(n: u8) -> [u8; 16] {
    [
        0x00, 0x00, 0x00, n, 0xa1, 0x23, 0x48, 0xce, 0x89, 0x6b, 0x4c, 0x76, 0x97, 0x33, 0x73, 0xe6,
    ]
}

/// Peripheral server mode State characteristic (notify, write without response).
pub const STATE_UUID: [u8; 16] = characteristic_uuid(0x01);
/// Peripheral server mode Client2Server characteristic (write without response).
pub const CLIENT2SERVER_UUID: [u8; 16] = characteristic_uuid(0x02);
/// Peripheral server mode Server2Client characteristic (notify).
pub const SERVER2CLIENT_UUID: [u8; 16] = characteristic_uuid(0x03);

/// State value written by the reader before it sends data (Table 13).
pub const STATE_START: u8 = 0x01;
/// State value either side sends to end the session (Table 13).
pub const STATE_END: u8 = 0x02;
/// First byte of a chunk that more of the message follows.
pub const CHUNK_MORE: u8 = 0x01;
/// First byte of the last chunk of a message.
pub const CHUNK_LAST: u8 = 0x00;

/// The smallest ATT_MTU (Bluetooth Core Vol 3 Part G §5.2.1), used when none was negotiated.
pub const DEFAULT_MTU: u16 = 23;
/// The longest attribute value (Bluetooth Core Vol 3 Part F §3.2.9).
pub const MAX_CHARACTERISTIC_LEN: usize = 512;

/// The longest characteristic value (prefix byte included) for an ATT_MTU: `MTU − 3`, at most
/// 512. An MTU below the minimum of 23 counts as 23.
pub fn characteristic_len(mtu: u16) -> usize {
    (usize::from(mtu.max(DEFAULT_MTU)) - 3).min(MAX_CHARACTERISTIC_LEN)
}

/// One of the three peripheral server mode characteristics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Characteristic {
    /// State (`…01`): start and end.
    State,
    /// Client2Server (`…02`): the reader's chunks.
    Client2Server,
    /// Server2Client (`…03`): the mdoc's chunks, as notifications.
    Server2Client,
}

impl Characteristic {
    /// Its UUID.
    pub fn uuid(self) -> [u8; 16] {
        match self {
            Self::State => STATE_UUID,
            Self::Client2Server => CLIENT2SERVER_UUID,
            Self::Server2Client => SERVER2CLIENT_UUID,
        }
    }

    /// The characteristic with this UUID, if it is one of the three.
    pub fn from_uuid(uuid: &[u8; 16]) -> Option<Self> {
        [Self::State, Self::Client2Server, Self::Server2Client]
            .into_iter()
            .find(|c| c.uuid() == *uuid)
    }
}

impl BleOptions {
    /// Options offering mdoc peripheral server mode with `service_uuid` only.
    pub fn peripheral_server(service_uuid: [u8; 16]) -> Self {
        Self {
            peripheral_server: true,
            central_client: false,
            peripheral_server_uuid: Some(service_uuid),
            central_client_uuid: None,
            address: None,
        }
    }
}

impl DeviceEngagement {
    /// The BLE retrieval options, if BLE is offered.
    pub fn ble(&self) -> Option<&BleOptions> {
        self.retrieval_methods().iter().find_map(|m| match m {
            RetrievalMethod::Ble(ble) => Some(ble),
            _ => None,
        })
    }
}

/// The service UUID to scan for: the engagement's BLE option in mdoc peripheral server mode
/// (§8.2.1.1, Table 6: key 0 true and key 10 the UUID). `NoRetrievalMethod` otherwise
/// (no BLE, or central client mode only).
pub fn peripheral_server_uuid(engagement: &DeviceEngagement) -> Result<[u8; 16], OfflineError> {
    engagement
        .retrieval_methods()
        .iter()
        .find_map(|m| match m {
            RetrievalMethod::Ble(BleOptions {
                peripheral_server: true,
                peripheral_server_uuid: Some(uuid),
                ..
            }) => Some(*uuid),
            _ => None,
        })
        .ok_or(OfflineError::NoRetrievalMethod)
}

/// Splits a session message into characteristic values of at most
/// [`characteristic_len(mtu)`](characteristic_len) bytes, each `0x01` (more) or `0x00`
/// (last) then a part of the message. An empty message is one chunk `00`.
pub fn split(message: &[u8], mtu: u16) -> Result<Vec<Vec<u8>>, OfflineError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(OfflineError::MessageTooLarge);
    }
    let payload = characteristic_len(mtu) - 1;
    let count = message.len().div_ceil(payload).max(1);
    let mut chunks = Vec::with_capacity(count);
    let mut parts = message.chunks(payload).peekable();
    if parts.peek().is_none() {
        chunks.push(alloc::vec![CHUNK_LAST]);
    }
    while let Some(part) = parts.next() {
        let mut chunk = Vec::with_capacity(part.len() + 1);
        chunk.push(if parts.peek().is_some() {
            CHUNK_MORE
        } else {
            CHUNK_LAST
        });
        chunk.extend_from_slice(part);
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// Reassembles one direction's chunks into messages.
#[derive(Debug)]
pub struct Reassembler {
    buffer: Vec<u8>,
    max_chunk: usize,
    max_message: usize,
    in_progress: bool,
}

impl Reassembler {
    /// Accepts chunks of at most `max_chunk` bytes (prefix included) and messages of at most
    /// `max_message` bytes.
    pub fn new(max_chunk: usize, max_message: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_chunk,
            max_message,
            in_progress: false,
        }
    }

    /// Whether part of a message is in.
    pub fn in_progress(&self) -> bool {
        self.in_progress
    }

    /// Takes one chunk: the whole message after its last chunk, `None` before. An error
    /// discards the partial message.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, OfflineError> {
        let result = self.take(chunk);
        if result.is_err() {
            self.buffer = Vec::new();
            self.in_progress = false;
        }
        result
    }

    fn take(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, OfflineError> {
        let (&prefix, payload) = chunk.split_first().ok_or(OfflineError::BleEmptyChunk)?;
        if chunk.len() > self.max_chunk {
            return Err(OfflineError::BleChunkTooLong);
        }
        if prefix != CHUNK_MORE && prefix != CHUNK_LAST {
            return Err(OfflineError::BleInvalidPrefix);
        }
        if self.buffer.len() + payload.len() > self.max_message {
            return Err(OfflineError::MessageTooLarge);
        }
        self.buffer.extend_from_slice(payload);
        self.in_progress = true;
        if prefix == CHUNK_MORE {
            return Ok(None);
        }
        let message = core::mem::take(&mut self.buffer);
        self.in_progress = false;
        // Every session message is one CBOR data item: a lost, repeated or reordered chunk
        // usually breaks that (a ciphertext chunk swapped is caught by AES-GCM instead).
        cbor::check_one(&message).map_err(|_| OfflineError::BleIncompleteMessage)?;
        Ok(Some(message))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Connected; State start not yet written.
    Idle,
    /// State start written; messages may flow.
    Started,
    /// State end sent or received, or an error: nothing more.
    Ended,
}

/// What a notification meant to the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum CentralEvent {
    /// A chunk of a message that is not complete yet.
    Partial,
    /// The mdoc's whole message.
    Message(Vec<u8>),
    /// The mdoc ended the session (State `0x02`) between messages.
    Ended,
}

/// The mdoc reader's (GATT central's) side: what to write, and what notifications mean.
///
/// Half-duplex like the session: a message from the mdoc is due only after the reader sent
/// one and until it is complete. Any error ends the session (write [`end`](Self::end)).
#[derive(Debug)]
pub struct BleCentral {
    mtu: u16,
    incoming: Reassembler,
    phase: Phase,
    awaiting: bool,
}

impl BleCentral {
    /// A central on a link with ATT_MTU `mtu`: it writes values of at most
    /// [`characteristic_len(mtu)`](characteristic_len) bytes and accepts notifications as long.
    pub fn new(mtu: u16) -> Self {
        Self {
            mtu,
            incoming: Reassembler::new(characteristic_len(mtu), MAX_MESSAGE_LEN),
            phase: Phase::Idle,
            awaiting: false,
        }
    }

    /// Accepts notifications up to `max_chunk` bytes, whatever the MTU used for writing: for
    /// a central that cannot learn the negotiated MTU (the mdoc may use a larger one).
    pub fn accept_chunks_up_to(mut self, max_chunk: usize) -> Self {
        self.incoming.max_chunk = max_chunk;
        self
    }

    /// The value to write to State to start: `01`. `BleInvalidState` if already started.
    pub fn start(&mut self) -> Result<[u8; 1], OfflineError> {
        if self.phase != Phase::Idle {
            self.phase = Phase::Ended;
            return Err(OfflineError::BleInvalidState);
        }
        self.phase = Phase::Started;
        Ok([STATE_START])
    }

    /// The writes to Client2Server (without response) that carry `message`, in order.
    pub fn send(&mut self, message: &[u8]) -> Result<Vec<Vec<u8>>, OfflineError> {
        match self.phase {
            Phase::Idle => return Err(OfflineError::BleNotStarted),
            Phase::Ended => return Err(OfflineError::UnexpectedMessage),
            Phase::Started if self.awaiting => return Err(OfflineError::UnexpectedMessage),
            Phase::Started => {}
        }
        let chunks = split(message, self.mtu)?;
        self.awaiting = true;
        Ok(chunks)
    }

    /// Handles a notification (State or Server2Client). Errors end the session.
    pub fn on_notification(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<CentralEvent, OfflineError> {
        let result = self.notified(characteristic, value);
        if !matches!(result, Ok(CentralEvent::Partial | CentralEvent::Message(_))) {
            self.phase = Phase::Ended;
        }
        result
    }

    fn notified(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<CentralEvent, OfflineError> {
        match characteristic {
            Characteristic::State => match value {
                [STATE_END] if self.incoming.in_progress() => Err(OfflineError::BleTransferCut),
                [STATE_END] => Ok(CentralEvent::Ended),
                _ => Err(OfflineError::BleInvalidState),
            },
            Characteristic::Client2Server => Err(OfflineError::UnexpectedMessage),
            Characteristic::Server2Client => {
                match self.phase {
                    Phase::Idle => return Err(OfflineError::BleNotStarted),
                    Phase::Ended => return Err(OfflineError::UnexpectedMessage),
                    Phase::Started if !self.awaiting => {
                        return Err(OfflineError::BleUnexpectedChunk);
                    }
                    Phase::Started => {}
                }
                Ok(match self.incoming.push(value)? {
                    Some(message) => {
                        self.awaiting = false;
                        CentralEvent::Message(message)
                    }
                    None => CentralEvent::Partial,
                })
            }
        }
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The value to write to State to end the session: `02`.
    pub fn end(&mut self) -> [u8; 1] {
        self.phase = Phase::Ended;
        [STATE_END]
    }
}

/// What a write meant to the mdoc.
#[derive(Debug, PartialEq, Eq)]
pub enum PeripheralEvent {
    /// The reader wrote State start.
    Started,
    /// A chunk of a message that is not complete yet.
    Partial,
    /// The reader's whole message: answer it with [`BlePeripheral::send`].
    Message(Vec<u8>),
    /// The reader ended the session (State `0x02`) between messages.
    Ended,
}

/// The mdoc's (GATT server's) side: what writes mean, and what to notify.
#[derive(Debug)]
pub struct BlePeripheral {
    mtu: u16,
    incoming: Reassembler,
    phase: Phase,
    responding: bool,
}

impl BlePeripheral {
    /// A peripheral on a link with ATT_MTU `mtu`.
    pub fn new(mtu: u16) -> Self {
        Self {
            mtu,
            incoming: Reassembler::new(characteristic_len(mtu), MAX_MESSAGE_LEN),
            phase: Phase::Idle,
            responding: false,
        }
    }

    /// Handles a write from the reader (State or Client2Server). Errors end the session.
    pub fn on_write(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<PeripheralEvent, OfflineError> {
        let result = self.written(characteristic, value);
        if !matches!(
            result,
            Ok(PeripheralEvent::Started | PeripheralEvent::Partial | PeripheralEvent::Message(_))
        ) {
            self.phase = Phase::Ended;
        }
        result
    }

    fn written(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<PeripheralEvent, OfflineError> {
        match characteristic {
            Characteristic::State => match (value, self.phase) {
                ([STATE_START], Phase::Idle) => {
                    self.phase = Phase::Started;
                    Ok(PeripheralEvent::Started)
                }
                ([STATE_END], _) if self.incoming.in_progress() => {
                    Err(OfflineError::BleTransferCut)
                }
                ([STATE_END], _) => Ok(PeripheralEvent::Ended),
                _ => Err(OfflineError::BleInvalidState),
            },
            Characteristic::Server2Client => Err(OfflineError::UnexpectedMessage),
            Characteristic::Client2Server => {
                match self.phase {
                    Phase::Idle => return Err(OfflineError::BleNotStarted),
                    Phase::Ended => return Err(OfflineError::UnexpectedMessage),
                    Phase::Started if self.responding => {
                        return Err(OfflineError::BleUnexpectedChunk);
                    }
                    Phase::Started => {}
                }
                Ok(match self.incoming.push(value)? {
                    Some(message) => {
                        self.responding = true;
                        PeripheralEvent::Message(message)
                    }
                    None => PeripheralEvent::Partial,
                })
            }
        }
    }

    /// The Server2Client notifications that carry the answer to the reader's message.
    pub fn send(&mut self, message: &[u8]) -> Result<Vec<Vec<u8>>, OfflineError> {
        if self.phase != Phase::Started || !self.responding {
            return Err(OfflineError::UnexpectedMessage);
        }
        let chunks = split(message, self.mtu)?;
        self.responding = false;
        Ok(chunks)
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The value to notify on State to end the session: `02`.
    pub fn end(&mut self) -> [u8; 1] {
        self.phase = Phase::Ended;
        [STATE_END]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characteristic_uuids_are_the_clause_s() {
        // 00000001-a123-48ce-896b-4c76973373e6
        assert_eq!(
            STATE_UUID,
            [
                0, 0, 0, 1, 0xa1, 0x23, 0x48, 0xce, 0x89, 0x6b, 0x4c, 0x76, 0x97, 0x33, 0x73, 0xe6
            ]
        );
        assert_eq!(CLIENT2SERVER_UUID[3], 2);
        assert_eq!(SERVER2CLIENT_UUID[3], 3);
        assert_eq!(
            Characteristic::from_uuid(&SERVER2CLIENT_UUID),
            Some(Characteristic::Server2Client)
        );
        assert_eq!(Characteristic::from_uuid(&characteristic_uuid(5)), None);
    }

    #[test]
    fn characteristic_len_is_mtu_minus_3_capped_at_512() {
        assert_eq!(characteristic_len(23), 20);
        assert_eq!(characteristic_len(185), 182);
        assert_eq!(characteristic_len(514), 511);
        assert_eq!(characteristic_len(515), 512);
        assert_eq!(characteristic_len(517), 512);
        assert_eq!(characteristic_len(0), 20);
    }
}
