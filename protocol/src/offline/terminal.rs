//! The reader's whole NFC flow as one sans-IO state machine — the terminal role shared by
//! `kazashi-kiosk read` and the npm package's `OfflineReader`: engagement by NFC static
//! handover (reading the phone's NDEF tag) or by QR text, SELECT of the mdoc application, the
//! session (request, optionally signed; response), the session's end, and verification.
//!
//! APDU in, APDU out: [`TerminalRole::start`] gives the first command, each response goes to
//! [`handle_response`](TerminalRole::handle_response), which gives the next command or the
//! phone's [`DeviceResponse`]; [`verify`](TerminalRole::verify) checks the requested document.
//!
//! Its first part, the engagement and SELECT, is [`TerminalEngagement`] on its own, for other
//! flows on the same session (writing at the counter, [`super::provision`]).
//!
//! Its session part, in whole `SessionEstablishment` / `SessionData` messages, is
//! [`TerminalSession`]: the request (signed when the reader authenticates), the reply, the
//! abort or the termination the phone is owed, and the choice and verification of the
//! document. [`TerminalRole`] carries its messages in APDUs; transports that carry whole
//! messages (BLE, [`super::ble`]) use it directly.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::CryptoRngCore;

use crate::apdu::{Command, Response, StatusWord};

use super::engagement::DeviceEngagement;
use super::error::OfflineError;
use super::ndef::HandoverSelect;
use super::ndef_tag::{NdefTagReader, TagNext};
use super::nfc::{self, Limits, Next, ReaderExchange};
use super::pki::TrustList;
use super::reader::{Reader, ReaderEvent};
use super::request::{DeviceRequest, DocRequest, ItemsRequest};
use super::response::DeviceResponse;
use super::transcript::Handover;
use super::verify::VerifiedDocument;

/// What the terminal asks for, and how.
pub struct TerminalRequest {
    /// The document type.
    pub doc_type: String,
    /// `(namespace, element)` pairs.
    pub items: Vec<(String, String)>,
    /// Reader authentication: the reader's key and certificate chain (leaf first, DER).
    pub reader_auth: Option<(SigningKey, Vec<Vec<u8>>)>,
    /// Whether the transport takes extended-length APDUs.
    pub extended: bool,
}

impl fmt::Debug for TerminalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalRequest")
            .field("doc_type", &self.doc_type)
            .field("items", &self.items)
            .field("reader_auth", &self.reader_auth.is_some())
            .field("extended", &self.extended)
            .finish()
    }
}

/// Why a read failed, by stage (the kiosk maps each to an exit code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalError {
    /// The engagement (NFC handover or QR text) could not be read or used.
    Engagement(OfflineError),
    /// The session failed: decryption, decoding, a status from the phone.
    Session(OfflineError),
    /// The document did not verify: trust, signatures, digests, validity.
    Verification(OfflineError),
    /// The phone returned no document of the requested type.
    NoDocument {
        /// The document type asked for.
        doc_type: String,
        /// The response's status.
        status: u64,
        /// How many document errors it reported.
        errors: usize,
    },
}

impl TerminalError {
    /// A stable snake_case code: the [`OfflineError`]'s, or `no_document`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Engagement(e) | Self::Session(e) | Self::Verification(e) => e.code(),
            Self::NoDocument { .. } => "no_document",
        }
    }
}

impl fmt::Display for TerminalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Engagement(e) => write!(f, "engagement failed: {e}"),
            Self::Session(e) => write!(f, "session failed: {e}"),
            Self::Verification(e) => write!(f, "the document did not verify: {e}"),
            Self::NoDocument {
                doc_type,
                status,
                errors,
            } => write!(
                f,
                "the phone returned no {doc_type} (status {status}, {errors} document error(s))"
            ),
        }
    }
}

impl core::error::Error for TerminalError {}

/// Where the flow is (for progress lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalPhase {
    /// Reading the phone's NDEF tag (NFC static handover).
    Handover,
    /// Selecting the mdoc application.
    Select,
    /// The request is out; waiting for the response.
    Request,
    /// The response is in; ending the session.
    Closing,
    /// Over: the response was returned (or the read failed).
    Done,
}

/// The phone's engagement, and the mdoc application selected.
#[derive(Clone, Debug)]
pub struct Engaged {
    /// The device engagement.
    pub engagement: DeviceEngagement,
    /// How it was received (the transcript's handover).
    pub handover: Handover,
    /// The APDU limits both sides accept.
    pub limits: Limits,
}

/// What to do after a response during the engagement.
#[derive(Debug)]
pub enum EngageNext {
    /// Send this command.
    Command(Command),
    /// Engaged and selected: the session can start.
    Engaged(Engaged),
}

enum EngageState {
    Handover(NdefTagReader),
    Select {
        engagement: DeviceEngagement,
        handover: Handover,
    },
    Done,
}

/// The engagement (NFC static handover, or QR text) and SELECT of the mdoc application, sans
/// IO: the start of every terminal flow.
pub struct TerminalEngagement {
    state: EngageState,
    extended: bool,
    qr: bool,
    limits: Option<Limits>,
}

impl fmt::Debug for TerminalEngagement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalEngagement")
            .field("qr", &self.qr)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TerminalEngagement {
    /// Starts: by QR when `qr_engagement` (`mdoc:…`) is given (the first command is then
    /// SELECT), by NFC static handover otherwise. `extended`: whether the transport takes
    /// extended-length APDUs.
    pub fn start(
        qr_engagement: Option<&str>,
        extended: bool,
    ) -> Result<(Self, Command), TerminalError> {
        match qr_engagement {
            Some(qr) => {
                let engagement =
                    DeviceEngagement::from_qr(qr).map_err(TerminalError::Engagement)?;
                let nfc = engagement
                    .nfc()
                    .ok_or(TerminalError::Engagement(OfflineError::NoRetrievalMethod))?;
                let limits = Limits::negotiate(nfc, extended).map_err(TerminalError::Engagement)?;
                Ok((
                    Self {
                        state: EngageState::Select {
                            engagement,
                            handover: Handover::Qr,
                        },
                        extended,
                        qr: true,
                        limits: Some(limits),
                    },
                    nfc::select_command(),
                ))
            }
            None => {
                let (tag, command) = NdefTagReader::start();
                Ok((
                    Self {
                        state: EngageState::Handover(tag),
                        extended,
                        qr: false,
                        limits: None,
                    },
                    command,
                ))
            }
        }
    }

    /// Whether the phone's NDEF tag is being read (else SELECT is out).
    pub fn in_handover(&self) -> bool {
        matches!(self.state, EngageState::Handover(_))
    }

    /// `"nfc"` or `"qr"`: how the engagement came.
    pub fn kind(&self) -> &'static str {
        if self.qr { "qr" } else { "nfc" }
    }

    /// The negotiated data field limits, once the engagement is known.
    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// The response to the last command: the next command, or the engagement once the
    /// application is selected.
    pub fn handle_response(&mut self, response: &Response) -> Result<EngageNext, TerminalError> {
        match core::mem::replace(&mut self.state, EngageState::Done) {
            EngageState::Handover(mut tag) => {
                match tag
                    .handle_response(response)
                    .map_err(TerminalError::Engagement)?
                {
                    TagNext::Command(next) => {
                        self.state = EngageState::Handover(tag);
                        Ok(EngageNext::Command(next))
                    }
                    TagNext::Message(message) => {
                        let select =
                            HandoverSelect::parse(&message).map_err(TerminalError::Engagement)?;
                        let nfc = select
                            .nfc()
                            .ok_or(TerminalError::Engagement(OfflineError::NoRetrievalMethod))?;
                        self.limits = Some(
                            Limits::negotiate(nfc, self.extended)
                                .map_err(TerminalError::Engagement)?,
                        );
                        self.state = EngageState::Select {
                            engagement: select.engagement().clone(),
                            handover: Handover::NfcStatic {
                                select: select.as_bytes().to_vec(),
                            },
                        };
                        Ok(EngageNext::Command(nfc::select_command()))
                    }
                }
            }
            EngageState::Select {
                engagement,
                handover,
            } => {
                if response.sw != StatusWord::Ok {
                    return Err(TerminalError::Session(OfflineError::UnexpectedStatusWord(
                        response.sw,
                    )));
                }
                let limits = self
                    .limits
                    .ok_or(TerminalError::Engagement(OfflineError::NoRetrievalMethod))?;
                Ok(EngageNext::Engaged(Engaged {
                    engagement,
                    handover,
                    limits,
                }))
            }
            EngageState::Done => Err(TerminalError::Session(OfflineError::UnexpectedMessage)),
        }
    }
}

/// How a [`TerminalSession`] ended after the phone's reply.
#[derive(Debug)]
pub struct SessionEnd {
    /// A last message the phone is owed, to send best effort: the termination (status 20)
    /// after a response that did not end the session, or the status of the error that ended
    /// it. `None` when the phone already ended the session, or sent nothing to answer.
    pub goodbye: Option<Vec<u8>>,
    /// The phone's response (to [`TerminalSession::verify`]), or why the session failed.
    pub outcome: Result<DeviceResponse, TerminalError>,
}

/// The terminal's session once the engagement is known, in whole session messages: one
/// request out, one reply in. The session part of [`TerminalRole`], shared by transports
/// that carry whole messages (BLE) and by the APDU framing of NFC.
pub struct TerminalSession {
    reader: Reader,
    doc_type: String,
    reader_auth: bool,
    replied: bool,
}

impl fmt::Debug for TerminalSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalSession")
            .field("doc_type", &self.doc_type)
            .field("reader_auth", &self.reader_auth)
            .field("replied", &self.replied)
            .finish_non_exhaustive()
    }
}

impl TerminalSession {
    /// Starts the session with a fresh `EReaderKey`: returns it and the
    /// `SessionEstablishment` that carries `request` (signed with its reader key and chain,
    /// when it has them).
    pub fn start(
        engagement: &DeviceEngagement,
        handover: &Handover,
        request: &TerminalRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, Vec<u8>), TerminalError> {
        Self::with_key(engagement, handover, request, SecretKey::random(rng))
    }

    /// [`start`](Self::start) with a given `EReaderKey`.
    pub fn with_key(
        engagement: &DeviceEngagement,
        handover: &Handover,
        request: &TerminalRequest,
        e_reader_key: SecretKey,
    ) -> Result<(Self, Vec<u8>), TerminalError> {
        let mut reader = Reader::with_key(engagement, handover, e_reader_key);
        let mut items = ItemsRequest::new(&request.doc_type);
        for (ns, name) in &request.items {
            items = items.with(ns, name, false);
        }
        let doc_request = match &request.reader_auth {
            Some((key, chain)) => DocRequest::signed(items, reader.transcript(), key, chain),
            None => DocRequest::new(items),
        };
        let establishment = reader
            .request(&DeviceRequest::new(alloc::vec![doc_request]))
            .map_err(TerminalError::Session)?;
        let session = Self {
            reader,
            doc_type: request.doc_type.clone(),
            reader_auth: request.reader_auth.is_some(),
            replied: false,
        };
        Ok((session, establishment))
    }

    /// Whether the request is signed.
    pub fn reader_auth(&self) -> bool {
        self.reader_auth
    }

    /// The document type asked for.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// The phone's reply to the request (`None`: the transport brought no message): the
    /// response, and the last message the phone is owed. Only one reply is taken.
    pub fn handle_reply(&mut self, reply: Option<&[u8]>) -> SessionEnd {
        let end = |goodbye, outcome| SessionEnd { goodbye, outcome };
        if core::mem::replace(&mut self.replied, true) {
            return end(
                None,
                Err(TerminalError::Session(OfflineError::UnexpectedMessage)),
            );
        }
        let Some(reply) = reply else {
            return end(
                None,
                Err(TerminalError::Session(OfflineError::MissingField("data"))),
            );
        };
        match self.reader.handle_message(reply) {
            // Tell the phone why, if it is still there; the error is what matters.
            Err(error) => end(
                Some(self.reader.abort(&error)),
                Err(TerminalError::Session(error)),
            ),
            Ok(ReaderEvent::Response { response, ended }) => {
                end((!ended).then(|| self.reader.terminate()), Ok(response))
            }
            Ok(ReaderEvent::Terminated) => end(
                None,
                Err(TerminalError::Session(OfflineError::SessionTerminated)),
            ),
        }
    }

    /// Verifies the requested document of `response` (§9.3.1) against the issuer `trust`
    /// anchors at `now` (seconds since the Unix epoch): the first of the requested type.
    pub fn verify(
        &self,
        response: &DeviceResponse,
        trust: &TrustList,
        now: u64,
    ) -> Result<VerifiedDocument, TerminalError> {
        let no_document = || TerminalError::NoDocument {
            doc_type: self.doc_type.clone(),
            status: response.status,
            errors: response.document_errors.len(),
        };
        let index = response
            .documents
            .iter()
            .position(|d| d.doc_type == self.doc_type)
            .ok_or_else(no_document)?;
        self.reader
            .verify(response, trust, now)
            .into_iter()
            .nth(index)
            .ok_or_else(no_document)?
            .map_err(TerminalError::Verification)
    }
}

enum State {
    Engaging(TerminalEngagement),
    Request(ReaderExchange),
    Closing {
        exchange: ReaderExchange,
        outcome: Result<DeviceResponse, TerminalError>,
    },
    Done,
}

/// The terminal (mdoc reader) side of one read over an ISO-DEP card (NFC or PC/SC).
pub struct TerminalRole {
    request: TerminalRequest,
    e_reader_key: Option<SecretKey>,
    nfc_options: Option<Limits>,
    qr: bool,
    session: Option<TerminalSession>,
    state: State,
    commands: usize,
}

impl fmt::Debug for TerminalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalRole")
            .field("request", &self.request)
            .field("phase", &self.phase())
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

impl TerminalRole {
    /// Starts a read: by QR when `qr_engagement` (`mdoc:…`) is given, by NFC static handover
    /// otherwise. Returns the role and the first command to send.
    pub fn start(
        qr_engagement: Option<&str>,
        request: TerminalRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, Command), TerminalError> {
        let e_reader_key = Some(SecretKey::random(rng));
        let (engaging, command) = TerminalEngagement::start(qr_engagement, request.extended)?;
        let role = Self {
            request,
            e_reader_key,
            nfc_options: engaging.limits(),
            qr: engaging.qr,
            session: None,
            state: State::Engaging(engaging),
            commands: 1,
        };
        Ok((role, command))
    }

    /// Where the flow is.
    pub fn phase(&self) -> TerminalPhase {
        match self.state {
            State::Engaging(ref engaging) if engaging.in_handover() => TerminalPhase::Handover,
            State::Engaging(_) => TerminalPhase::Select,
            State::Request(_) => TerminalPhase::Request,
            State::Closing { .. } => TerminalPhase::Closing,
            State::Done => TerminalPhase::Done,
        }
    }

    /// `"nfc"` or `"qr"`: how the engagement came.
    pub fn engagement_kind(&self) -> &'static str {
        if self.qr { "qr" } else { "nfc" }
    }

    /// The negotiated data field limits, once the engagement is known.
    pub fn limits(&self) -> Option<Limits> {
        self.nfc_options
    }

    /// Commands handed out so far.
    pub fn commands(&self) -> usize {
        self.commands
    }

    /// Whether the request is signed.
    pub fn reader_auth(&self) -> bool {
        self.request.reader_auth.is_some()
    }

    /// The request.
    pub fn request(&self) -> &TerminalRequest {
        &self.request
    }

    /// The response to the last command: the next command, or the phone's response once the
    /// session is over. An error ends the read (after telling the phone, when possible).
    pub fn handle_response(&mut self, response: &Response) -> Result<TerminalNext, TerminalError> {
        let next = self.step(response);
        match &next {
            Ok(TerminalNext::Command(_)) => self.commands += 1,
            _ => self.state = State::Done,
        }
        next
    }

    fn step(&mut self, response: &Response) -> Result<TerminalNext, TerminalError> {
        match core::mem::replace(&mut self.state, State::Done) {
            State::Engaging(mut engaging) => {
                let next = engaging.handle_response(response);
                self.nfc_options = engaging.limits();
                let Engaged {
                    engagement,
                    handover,
                    ..
                } = match next? {
                    EngageNext::Command(next) => {
                        self.state = State::Engaging(engaging);
                        return Ok(TerminalNext::Command(next));
                    }
                    EngageNext::Engaged(engaged) => engaged,
                };
                let key = self
                    .e_reader_key
                    .take()
                    .ok_or(TerminalError::Session(OfflineError::UnexpectedMessage))?;
                let (session, establishment) =
                    TerminalSession::with_key(&engagement, &handover, &self.request, key)?;
                self.session = Some(session);
                let (exchange, command) = ReaderExchange::start(&establishment, self.limits_or()?)
                    .map_err(TerminalError::Session)?;
                self.state = State::Request(exchange);
                Ok(TerminalNext::Command(command))
            }
            State::Request(mut exchange) => {
                let reply = match exchange
                    .handle_response(response)
                    .map_err(TerminalError::Session)?
                {
                    Next::Command(next) => {
                        self.state = State::Request(exchange);
                        return Ok(TerminalNext::Command(next));
                    }
                    Next::Message(reply) => reply,
                };
                let session = self
                    .session
                    .as_mut()
                    .ok_or(TerminalError::Session(OfflineError::UnexpectedMessage))?;
                match session.handle_reply(reply.as_deref()) {
                    SessionEnd {
                        goodbye: Some(goodbye),
                        outcome,
                    } => self.close(&goodbye, outcome),
                    SessionEnd {
                        goodbye: None,
                        outcome,
                    } => outcome.map(TerminalNext::Done),
                }
            }
            State::Closing {
                mut exchange,
                outcome,
            } => match exchange.handle_response(response) {
                Ok(Next::Command(next)) => {
                    self.state = State::Closing { exchange, outcome };
                    Ok(TerminalNext::Command(next))
                }
                // Whatever the phone says to the end, the outcome stands.
                Ok(Next::Message(_)) | Err(_) => outcome.map(TerminalNext::Done),
            },
            State::Done => Err(TerminalError::Session(OfflineError::UnexpectedMessage)),
        }
    }

    fn limits_or(&self) -> Result<Limits, TerminalError> {
        self.nfc_options
            .ok_or(TerminalError::Engagement(OfflineError::NoRetrievalMethod))
    }

    fn close(
        &mut self,
        goodbye: &[u8],
        outcome: Result<DeviceResponse, TerminalError>,
    ) -> Result<TerminalNext, TerminalError> {
        let limits = self.limits_or()?;
        match ReaderExchange::start(goodbye, limits) {
            Ok((exchange, command)) => {
                self.state = State::Closing { exchange, outcome };
                Ok(TerminalNext::Command(command))
            }
            Err(_) => outcome.map(TerminalNext::Done),
        }
    }

    /// The end of the session after a transport failure while closing: the outcome, if the
    /// session had one. A read whose response is in does not fail because the phone left
    /// before the goodbye.
    pub fn transport_lost(&mut self) -> Option<Result<DeviceResponse, TerminalError>> {
        match core::mem::replace(&mut self.state, State::Done) {
            State::Closing { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// Verifies the requested document of `response` (§9.3.1) against the issuer `trust`
    /// anchors at `now` (seconds since the Unix epoch).
    pub fn verify(
        &self,
        response: &DeviceResponse,
        trust: &TrustList,
        now: u64,
    ) -> Result<VerifiedDocument, TerminalError> {
        self.session
            .as_ref()
            .ok_or(TerminalError::Session(OfflineError::UnexpectedMessage))?
            .verify(response, trust, now)
    }
}

/// What to do after a response.
#[derive(Debug)]
pub enum TerminalNext {
    /// Send this command.
    Command(Command),
    /// The session is over: the phone's response, to [`verify`](TerminalRole::verify).
    Done(DeviceResponse),
}
