//! NFC data retrieval framing (18013-5 §8.3.3.1.2), sans-IO, for both sides.
//!
//! The reader SELECTs the mdoc application (`A0 00 00 02 48 04 00`), then sends each session
//! message in a BER-TLV data object with tag `53`, split across ENVELOPE commands (INS `C3`,
//! CLA `10` while more follow, `00` for the last). The mdoc answers the last ENVELOPE with the
//! start of its own DO 53; `61XX` says XX bytes remain (`6100`: more than 255), which the
//! reader fetches with GET RESPONSE (INS `C0`). Extended-length APDUs are used when both
//! sides allow them: the mdoc through its NFC options, the reader through its own capability.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::apdu::{Command, Response, StatusWord};
use crate::tlv::{Tag, Tlv};

use super::engagement::NfcOptions;
use super::error::OfflineError;
use super::ndef_tag::NdefTag;
use super::session::MAX_MESSAGE_LEN;

/// The mdoc NFC data retrieval application (§8.3.3.1.2).
pub const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x48, 0x04, 0x00];
/// ENVELOPE.
pub const INS_ENVELOPE: u8 = 0xC3;
/// GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// The class byte of an ENVELOPE that more ENVELOPEs follow (command chaining).
pub const CLA_CHAINING: u8 = 0x10;
/// The data object that carries a session message.
pub const DO_TAG: u8 = 0x53;

/// Largest DO 53 (a session message and its header).
const MAX_ENCAPSULATED: usize = MAX_MESSAGE_LEN + 5;

/// The data field sizes both sides accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest command data field (1..=65,535).
    pub max_command: usize,
    /// Largest response data field (`Ne`, 1..=65,536).
    pub max_response: usize,
}

impl Limits {
    /// Short APDUs only: 255-byte commands, 256-byte responses.
    pub const SHORT: Limits = Limits {
        max_command: 255,
        max_response: 256,
    };

    /// What both sides allow: the mdoc's NFC options, capped by the reader's support of
    /// extended-length APDUs.
    pub fn negotiate(mdoc: NfcOptions, reader_extended: bool) -> Result<Self, OfflineError> {
        let (command_cap, response_cap) = if reader_extended {
            (65_535, 65_536)
        } else {
            (255, 256)
        };
        let max_command = (mdoc.max_command_len as usize).min(command_cap);
        let max_response = (mdoc.max_response_len as usize).min(response_cap);
        if max_command == 0 || max_response == 0 {
            return Err(OfflineError::NoRetrievalMethod);
        }
        Ok(Self {
            max_command,
            max_response,
        })
    }

    /// Whether extended-length APDUs are in use.
    pub fn extended(&self) -> bool {
        self.max_command > 255 || self.max_response > 256
    }
}

/// SELECT of the mdoc application (`00 A4 04 0C 07 A0000002480400`).
pub fn select_command() -> Command {
    Command::new(0x00, INS_SELECT, 0x04, 0x0C).with_data(AID.to_vec())
}

/// A session message in DO 53.
pub fn encapsulate(message: &[u8]) -> Vec<u8> {
    Tlv::primitive(Tag::from_u8(DO_TAG), message.to_vec()).to_bytes()
}

/// The session message inside a DO 53.
pub fn decapsulate(data: &[u8]) -> Result<Vec<u8>, OfflineError> {
    let tlv = Tlv::parse(data).map_err(|_| OfflineError::InvalidEnvelope)?;
    if tlv.tag() != Tag::from_u8(DO_TAG) {
        return Err(OfflineError::InvalidEnvelope);
    }
    tlv.primitive_value()
        .map(<[u8]>::to_vec)
        .ok_or(OfflineError::InvalidEnvelope)
}

/// What to do after a response.
#[derive(Debug)]
pub enum Next {
    /// Send this command.
    Command(Command),
    /// The exchange is over: the mdoc's message, or `None` if it answered without one.
    Message(Option<Vec<u8>>),
}

/// The reader's side of one message exchange: ENVELOPEs out, GET RESPONSEs until the mdoc's
/// whole DO 53 is in.
#[derive(Debug)]
pub struct ReaderExchange {
    limits: Limits,
    chunks: VecDeque<Vec<u8>>,
    received: Vec<u8>,
    /// Whether the ENVELOPEs are all sent.
    sending: bool,
    commands: usize,
}

impl ReaderExchange {
    /// Starts sending `message`; returns the exchange and its first command.
    pub fn start(message: &[u8], limits: Limits) -> Result<(Self, Command), OfflineError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(OfflineError::MessageTooLarge);
        }
        let encapsulated = encapsulate(message);
        let chunks: VecDeque<Vec<u8>> = encapsulated
            .chunks(limits.max_command.max(1))
            .map(<[u8]>::to_vec)
            .collect();
        let mut exchange = Self {
            limits,
            chunks,
            received: Vec::new(),
            sending: true,
            commands: 0,
        };
        let first = exchange.next_envelope();
        Ok((exchange, first))
    }

    fn next_envelope(&mut self) -> Command {
        self.commands += 1;
        let chunk = self.chunks.pop_front().unwrap_or_default();
        if self.chunks.is_empty() {
            self.sending = false;
            // The last ENVELOPE asks for as much as both sides allow.
            Command::new(0x00, INS_ENVELOPE, 0, 0)
                .with_data(chunk)
                .with_le(self.limits.max_response as u32)
        } else {
            Command::new(CLA_CHAINING, INS_ENVELOPE, 0, 0).with_data(chunk)
        }
    }

    /// How many commands this exchange sent so far.
    pub fn commands_sent(&self) -> usize {
        self.commands
    }

    /// Handles the response to the last command.
    pub fn handle_response(&mut self, response: &Response) -> Result<Next, OfflineError> {
        if self.sending {
            if response.sw != StatusWord::Ok || !response.data.is_empty() {
                return Err(OfflineError::UnexpectedStatusWord(response.sw));
            }
            return Ok(Next::Command(self.next_envelope()));
        }
        if self.received.len() + response.data.len() > MAX_ENCAPSULATED {
            return Err(OfflineError::MessageTooLarge);
        }
        self.received.extend_from_slice(&response.data);
        match response.sw {
            StatusWord::Ok if self.received.is_empty() => Ok(Next::Message(None)),
            StatusWord::Ok => Ok(Next::Message(Some(decapsulate(&self.received)?))),
            StatusWord::BytesRemaining(remaining) => {
                let le = match remaining {
                    0 => self.limits.max_response,
                    n => usize::from(n).min(self.limits.max_response),
                };
                self.commands += 1;
                Ok(Next::Command(
                    Command::new(0x00, INS_GET_RESPONSE, 0, 0).with_le(le as u32),
                ))
            }
            sw => Err(OfflineError::UnexpectedStatusWord(sw)),
        }
    }
}

/// What the mdoc's applet does with a command.
#[derive(Debug)]
pub enum AppletAction {
    /// Answer with this response.
    Respond(Response),
    /// A whole session message from the reader arrived: hand it to the holder session, then
    /// answer with [`HolderApplet::reply`].
    Message(Vec<u8>),
}

/// The mdoc's side of NFC data retrieval: reassembles ENVELOPE chains and serves its reply
/// in chunks of the reader's `Le`.
#[derive(Debug, Default)]
pub struct HolderApplet {
    selected: bool,
    incoming: Vec<u8>,
    outgoing: VecDeque<u8>,
    /// `Ne` of the last ENVELOPE of the chain.
    le: usize,
}

impl HolderApplet {
    /// An applet waiting for SELECT.
    pub fn new() -> Self {
        Self::default()
    }

    /// Processes one command.
    pub fn process(&mut self, command: &Command) -> AppletAction {
        let status = |sw| AppletAction::Respond(Response::status(sw));
        if command.cla & 0xEF != 0x00 {
            return status(StatusWord::ClaNotSupported);
        }
        match command.ins {
            INS_SELECT if command.p1 == 0x04 => {
                if command.data == AID {
                    *self = Self {
                        selected: true,
                        ..Self::default()
                    };
                    status(StatusWord::Ok)
                } else {
                    self.selected = false;
                    status(StatusWord::FileNotFound)
                }
            }
            _ if !self.selected => status(StatusWord::ConditionsNotSatisfied),
            INS_ENVELOPE => {
                if command.p1 != 0 || command.p2 != 0 {
                    return status(StatusWord::IncorrectP1P2);
                }
                if self.incoming.len() + command.data.len() > MAX_ENCAPSULATED {
                    self.incoming.clear();
                    return status(StatusWord::WrongLength);
                }
                self.incoming.extend_from_slice(&command.data);
                if command.cla & CLA_CHAINING != 0 {
                    return status(StatusWord::Ok);
                }
                let encapsulated = core::mem::take(&mut self.incoming);
                self.le = command.le.map_or(256, |ne| ne as usize);
                self.outgoing.clear();
                match decapsulate(&encapsulated) {
                    Ok(message) => AppletAction::Message(message),
                    Err(_) => status(StatusWord::IncorrectData),
                }
            }
            INS_GET_RESPONSE => {
                if self.outgoing.is_empty() {
                    return status(StatusWord::ConditionsNotSatisfied);
                }
                let le = command.le.map_or(256, |ne| ne as usize);
                AppletAction::Respond(self.next_chunk(le))
            }
            _ => status(StatusWord::InsNotSupported),
        }
    }

    /// The response to the ENVELOPE that completed a message: the start of `message` in
    /// DO 53 (or `9000` alone when there is nothing to send).
    pub fn reply(&mut self, message: Option<&[u8]>) -> Response {
        self.outgoing = message.map(encapsulate).unwrap_or_default().into();
        let le = self.le;
        self.next_chunk(le)
    }

    fn next_chunk(&mut self, le: usize) -> Response {
        let n = le.min(self.outgoing.len());
        let chunk: Vec<u8> = self.outgoing.drain(..n).collect();
        let remaining = self.outgoing.len();
        let sw = match remaining {
            0 => StatusWord::Ok,
            1..=255 => StatusWord::BytesRemaining(remaining as u8),
            _ => StatusWord::BytesRemaining(0),
        };
        Response::new(chunk, sw)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Active {
    None,
    Tag,
    Mdoc,
}

/// The phone as one ISO-DEP card: the NDEF tag application serving the Handover Select
/// message (static handover; absent for QR engagement) and the mdoc application, switched by
/// SELECT.
#[derive(Debug)]
pub struct PhoneCard {
    tag: Option<NdefTag>,
    applet: HolderApplet,
    active: Active,
}

impl PhoneCard {
    /// A card serving `handover_select` (the NDEF message) when given, and the mdoc
    /// application.
    pub fn new(handover_select: Option<&[u8]>) -> Result<Self, OfflineError> {
        Ok(Self {
            tag: handover_select.map(NdefTag::new).transpose()?,
            applet: HolderApplet::new(),
            active: Active::None,
        })
    }

    /// Processes one command; [`AppletAction::Message`] asks for [`reply`](Self::reply).
    pub fn process(&mut self, command: &Command) -> AppletAction {
        if NdefTag::is_select(command) {
            return match &mut self.tag {
                Some(tag) => {
                    self.active = Active::Tag;
                    AppletAction::Respond(tag.process(command))
                }
                None => {
                    self.active = Active::None;
                    AppletAction::Respond(Response::status(StatusWord::FileNotFound))
                }
            };
        }
        if command.ins == INS_SELECT && command.p1 == 0x04 {
            let action = self.applet.process(command);
            self.active = match &action {
                AppletAction::Respond(r) if r.sw == StatusWord::Ok => Active::Mdoc,
                _ => Active::None,
            };
            return action;
        }
        match (self.active, &mut self.tag) {
            (Active::Tag, Some(tag)) => AppletAction::Respond(tag.process(command)),
            (Active::Mdoc, _) => self.applet.process(command),
            _ => AppletAction::Respond(Response::status(StatusWord::ConditionsNotSatisfied)),
        }
    }

    /// The response to the command that completed a reader message (see
    /// [`HolderApplet::reply`]).
    pub fn reply(&mut self, message: Option<&[u8]>) -> Response {
        self.applet.reply(message)
    }
}
