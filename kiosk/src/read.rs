//! `kazashi-kiosk read`: the reader's flow over any card transport (PC/SC in production).
//! Engagement by NFC static handover (the phone's NDEF tag) or by QR text, then NFC data
//! retrieval on the same card. All protocol decisions are `kazashi_protocol::offline`'s
//! (`terminal::TerminalRole`, shared with the npm package's `OfflineReader`).

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::terminal::{
    SessionEnd, TerminalError, TerminalNext, TerminalPhase, TerminalRequest, TerminalRole,
    TerminalSession,
};
use kazashi_protocol::offline::{DeviceEngagement, Handover, OfflineError, VerifiedDocument};
use kazashi_se::CardTransport;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

use crate::error::KioskError;

/// What to read and how.
pub(crate) struct ReadOptions {
    /// QR text (`mdoc:…`); NFC static handover when absent.
    pub(crate) engagement: Option<String>,
    /// The document type.
    pub(crate) doc_type: String,
    /// `(namespace, element)` pairs.
    pub(crate) items: Vec<(String, String)>,
    /// Issuer trust anchors.
    pub(crate) trust: TrustList,
    /// Reader authentication key and chain (leaf first, DER).
    pub(crate) reader_auth: Option<(SigningKey, Vec<Vec<u8>>)>,
    /// Whether the PC/SC reader takes extended-length APDUs.
    pub(crate) extended: bool,
    /// Verification time (seconds since the Unix epoch).
    pub(crate) now: u64,
}

impl ReadOptions {
    /// What the protocol's terminal asks for.
    fn request(&self) -> TerminalRequest {
        TerminalRequest {
            doc_type: self.doc_type.clone(),
            items: self.items.clone(),
            reader_auth: self.reader_auth.clone(),
            extended: self.extended,
        }
    }
}

/// A successful read.
pub(crate) struct ReadResult {
    /// The verified document.
    pub(crate) document: VerifiedDocument,
    /// `"nfc"` or `"qr"`.
    pub(crate) engagement: &'static str,
    /// Whether the request was signed.
    pub(crate) reader_auth: bool,
    /// Transport units exchanged (APDUs, BLE values) and their name.
    pub(crate) units: (usize, &'static str),
}

/// What carries whole session messages to the phone and back when the transport is not APDUs
/// (BLE, `crate::ble`): the messages of the protocol's `TerminalSession`. NFC goes through
/// `TerminalRole`, which frames the same session in APDUs.
pub(crate) trait SessionLink {
    /// One session message out, the phone's answer back (`None`: it answered without one).
    fn exchange(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, KioskError>;
    /// Ends the session with a last message (status 20, or the status of an error), best
    /// effort: the error or the result already decided is what matters.
    fn end(&mut self, message: &[u8]);
    /// How many transport units were exchanged so far, and their name.
    fn count(&self) -> (usize, &'static str);
}

/// Sends one command on the transport: the first failing means the phone is not ready yet,
/// a later one that it left.
pub(crate) fn send<T: CardTransport>(
    transport: &mut T,
    command: &Command,
    first: bool,
) -> Result<Response, KioskError> {
    let bytes = command
        .to_bytes()
        .map_err(|e| KioskError::Session(OfflineError::Apdu(e)))?;
    let answer = transport.transmit(&bytes).map_err(|e| {
        if first {
            KioskError::NotReady(e)
        } else {
            KioskError::Interrupted(e)
        }
    })?;
    Response::parse(&answer).map_err(|e| KioskError::Session(OfflineError::Apdu(e)))
}

pub(crate) fn terminal_error(error: TerminalError) -> KioskError {
    match error {
        TerminalError::Engagement(e) => KioskError::Engagement(e),
        TerminalError::Session(e) => KioskError::Session(e),
        TerminalError::Verification(e) => KioskError::Verification(e),
        no_document @ TerminalError::NoDocument { .. } => {
            KioskError::NoDocument(no_document.to_string())
        }
    }
}

/// Reads and verifies one document: `kazashi_protocol::offline::terminal::TerminalRole`'s
/// flow over `transport`. `progress` gets a line per step, for a person.
pub(crate) fn read<T: CardTransport>(
    transport: &mut T,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReadResult, KioskError> {
    let request = options.request();
    progress(if options.engagement.is_some() {
        "Engagement from the QR code"
    } else {
        "Reading the phone's NFC handover…"
    });
    let (mut role, mut command) =
        TerminalRole::start(options.engagement.as_deref(), request, &mut OsRng)
            .map_err(terminal_error)?;
    let announce = |role: &TerminalRole, progress: &mut dyn FnMut(&str)| match role.phase() {
        TerminalPhase::Select => progress(&format!(
            "Opening the session ({} APDUs)",
            match role.limits() {
                Some(limits) if limits.extended() => "extended",
                _ => "short",
            }
        )),
        TerminalPhase::Request => asking(options, role.reader_auth(), progress),
        _ => {}
    };
    let mut phase = role.phase();
    announce(&role, progress);
    let response = loop {
        let answer = match send(transport, &command, role.commands() == 1) {
            Ok(answer) => answer,
            Err(error) => match role.transport_lost() {
                // The phone left during the goodbye: the response is in.
                Some(outcome) => break outcome.map_err(terminal_error)?,
                None => return Err(error),
            },
        };
        let next = role.handle_response(&answer).map_err(terminal_error)?;
        if role.phase() != phase {
            phase = role.phase();
            announce(&role, progress);
        }
        match next {
            TerminalNext::Command(next) => command = next,
            TerminalNext::Done(response) => break response,
        }
    };
    progress("Response received; verifying");
    let document = role
        .verify(&response, &options.trust, options.now)
        .map_err(terminal_error)?;
    verified(&document, progress);
    Ok(ReadResult {
        document,
        engagement: role.engagement_kind(),
        reader_auth: role.reader_auth(),
        units: (role.commands(), "APDUs"),
    })
}

/// The session once the engagement is known and the link is up, over a [`SessionLink`]
/// (BLE): the protocol's `TerminalSession` (request, response, the session's end,
/// verification); here only the bytes moved and the progress lines.
pub(crate) fn session(
    link: &mut dyn SessionLink,
    engagement: &DeviceEngagement,
    handover: &Handover,
    how: &'static str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReadResult, KioskError> {
    let (mut session, establishment) =
        TerminalSession::start(engagement, handover, &options.request(), &mut OsRng)
            .map_err(terminal_error)?;
    asking(options, session.reader_auth(), progress);
    let reply = link.exchange(&establishment)?;
    let SessionEnd { goodbye, outcome } = session.handle_reply(reply.as_deref());
    if let Some(goodbye) = goodbye {
        link.end(&goodbye);
    }
    let response = outcome.map_err(terminal_error)?;
    progress("Response received; verifying");
    let document = session
        .verify(&response, &options.trust, options.now)
        .map_err(terminal_error)?;
    verified(&document, progress);
    Ok(ReadResult {
        document,
        engagement: how,
        reader_auth: session.reader_auth(),
        units: link.count(),
    })
}

fn asking(options: &ReadOptions, reader_auth: bool, progress: &mut dyn FnMut(&str)) {
    progress(&format!(
        "Asking for {} item(s){}",
        options.items.len(),
        if reader_auth {
            ", reader authenticated"
        } else {
            ""
        }
    ));
}

fn verified(document: &VerifiedDocument, progress: &mut dyn FnMut(&str)) {
    progress(&format!(
        "Verified: issued by {}, device {}",
        document.issuer().subject(),
        document.device_auth().as_str()
    ));
}
