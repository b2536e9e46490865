//! `kazashi-kiosk read`: the reader's flow over any card transport (PC/SC in production).
//! Engagement by NFC static handover (the phone's NDEF tag) or by QR text, then NFC data
//! retrieval on the same card. All protocol decisions are `kazashi_protocol::offline`'s
//! (`terminal::TerminalRole`, shared with the npm package's `OfflineReader`).

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::terminal::{
    TerminalError, TerminalNext, TerminalPhase, TerminalRequest, TerminalRole,
};
use kazashi_protocol::offline::{
    DeviceEngagement, DeviceRequest, DocRequest, Handover, ItemsRequest, OfflineError, Reader,
    ReaderEvent, VerifiedDocument,
};
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
/// (BLE, `crate::ble`). NFC goes through `TerminalRole`, which frames the same session in
/// APDUs.
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
    let request = TerminalRequest {
        doc_type: options.doc_type.clone(),
        items: options.items.clone(),
        reader_auth: options.reader_auth.clone(),
        extended: options.extended,
    };
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
        TerminalPhase::Request => progress(&format!(
            "Asking for {} item(s){}",
            options.items.len(),
            if role.reader_auth() {
                ", reader authenticated"
            } else {
                ""
            }
        )),
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
    progress(&format!(
        "Verified: issued by {}, device {}",
        document.issuer().subject(),
        document.device_auth().as_str()
    ));
    Ok(ReadResult {
        document,
        engagement: role.engagement_kind(),
        reader_auth: role.reader_auth(),
        units: (role.commands(), "APDUs"),
    })
}

/// The session once the engagement is known and the link is up: request, response,
/// termination, verification, over a [`SessionLink`] (BLE).
pub(crate) fn session(
    link: &mut dyn SessionLink,
    engagement: &DeviceEngagement,
    handover: &Handover,
    how: &'static str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReadResult, KioskError> {
    let mut reader = Reader::new(engagement, handover, &mut OsRng);
    let mut items = ItemsRequest::new(&options.doc_type);
    for (ns, name) in &options.items {
        items = items.with(ns, name, false);
    }
    let doc_request = match &options.reader_auth {
        Some((key, chain)) => DocRequest::signed(items, reader.transcript(), key, chain),
        None => DocRequest::new(items),
    };
    let establishment = reader
        .request(&DeviceRequest::new(vec![doc_request]))
        .map_err(KioskError::Session)?;
    progress(&format!(
        "Asking for {} item(s){}",
        options.items.len(),
        if options.reader_auth.is_some() {
            ", reader authenticated"
        } else {
            ""
        }
    ));
    let reply = link
        .exchange(&establishment)?
        .ok_or(KioskError::Session(OfflineError::MissingField("data")))?;
    let event = match reader.handle_message(&reply) {
        Ok(event) => event,
        Err(error) => {
            // Tell the phone why, if it is still there; the error is what matters.
            link.end(&reader.abort(&error));
            return Err(KioskError::Session(error));
        }
    };
    let response = match event {
        ReaderEvent::Response { response, ended } => {
            if !ended {
                link.end(&reader.terminate());
            }
            response
        }
        ReaderEvent::Terminated => {
            return Err(KioskError::Session(OfflineError::SessionTerminated));
        }
    };
    progress("Response received; verifying");
    let index = response
        .documents
        .iter()
        .position(|d| d.doc_type == options.doc_type)
        .ok_or_else(|| {
            KioskError::NoDocument(format!(
                "the phone returned no {} (status {}, {} document error(s))",
                options.doc_type,
                response.status,
                response.document_errors.len()
            ))
        })?;
    let document = reader
        .verify(&response, &options.trust, options.now)
        .into_iter()
        .nth(index)
        .ok_or_else(|| KioskError::NoDocument(options.doc_type.clone()))?
        .map_err(KioskError::Verification)?;
    progress(&format!(
        "Verified: issued by {}, device {}",
        document.issuer().subject(),
        document.device_auth().as_str()
    ));
    Ok(ReadResult {
        document,
        engagement: how,
        reader_auth: options.reader_auth.is_some(),
        units: link.count(),
    })
}
