//! `kazashi-kiosk read`: the reader's flow over any card transport (PC/SC in production).
//! Engagement by NFC static handover (the phone's NDEF tag) or by QR text, then NFC data
//! retrieval on the same card. All protocol decisions are `kazashi_protocol::offline`'s.

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::ndef_tag::{NdefTagReader, TagNext};
use kazashi_protocol::offline::nfc::{self, Limits, Next, ReaderExchange};
use kazashi_protocol::offline::pki::TrustList;
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

/// What carries whole session messages to the phone and back: NFC (ENVELOPE / GET RESPONSE
/// on a card transport) or BLE (`crate::ble`). The session above it is the same.
pub(crate) trait SessionLink {
    /// One session message out, the phone's answer back (`None`: it answered without one).
    fn exchange(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, KioskError>;
    /// Ends the session with a last message (status 20, or the status of an error), best
    /// effort: the error or the result already decided is what matters.
    fn end(&mut self, message: &[u8]);
    /// How many transport units were exchanged so far, and their name (`APDUs`).
    fn count(&self) -> (usize, &'static str);
}

struct Link<'a, T: CardTransport> {
    transport: &'a mut T,
    apdus: usize,
}

impl<T: CardTransport> Link<'_, T> {
    fn send(&mut self, command: &Command) -> Result<Response, KioskError> {
        let bytes = command
            .to_bytes()
            .map_err(|e| KioskError::Session(OfflineError::Apdu(e)))?;
        self.apdus += 1;
        let answer = self.transport.transmit(&bytes).map_err(|e| {
            if self.apdus == 1 {
                KioskError::NotReady(e)
            } else {
                KioskError::Interrupted(e)
            }
        })?;
        Response::parse(&answer).map_err(|e| KioskError::Session(OfflineError::Apdu(e)))
    }

    /// One session message out, the phone's answer back.
    fn exchange(&mut self, message: &[u8], limits: Limits) -> Result<Option<Vec<u8>>, KioskError> {
        let (mut exchange, mut command) =
            ReaderExchange::start(message, limits).map_err(KioskError::Session)?;
        loop {
            let response = self.send(&command)?;
            match exchange
                .handle_response(&response)
                .map_err(KioskError::Session)?
            {
                Next::Command(next) => command = next,
                Next::Message(reply) => return Ok(reply),
            }
        }
    }
}

/// NFC data retrieval on a card once SELECTed, with the negotiated APDU sizes.
struct NfcLink<'a, 'b, T: CardTransport> {
    link: &'a mut Link<'b, T>,
    limits: Limits,
}

impl<T: CardTransport> SessionLink for NfcLink<'_, '_, T> {
    fn exchange(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, KioskError> {
        self.link.exchange(message, self.limits)
    }

    fn end(&mut self, message: &[u8]) {
        let _ = self.link.exchange(message, self.limits);
    }

    fn count(&self) -> (usize, &'static str) {
        (self.link.apdus, "APDUs")
    }
}

/// Reads and verifies one document. `progress` gets a line per step, for a person.
pub(crate) fn read<T: CardTransport>(
    transport: &mut T,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReadResult, KioskError> {
    let mut link = Link {
        transport,
        apdus: 0,
    };
    let (engagement, handover, nfc_options, how) = match &options.engagement {
        Some(qr) => {
            progress("Engagement from the QR code");
            let engagement = DeviceEngagement::from_qr(qr).map_err(KioskError::Engagement)?;
            let nfc = engagement
                .nfc()
                .ok_or(KioskError::Engagement(OfflineError::NoRetrievalMethod))?;
            (engagement, Handover::Qr, nfc, "qr")
        }
        None => {
            progress("Reading the phone's NFC handover…");
            let (mut tag, mut command) = NdefTagReader::start();
            let message = loop {
                let response = link.send(&command)?;
                match tag
                    .handle_response(&response)
                    .map_err(KioskError::Engagement)?
                {
                    TagNext::Command(next) => command = next,
                    TagNext::Message(message) => break message,
                }
            };
            let select = HandoverSelect::parse(&message).map_err(KioskError::Engagement)?;
            let nfc = select
                .nfc()
                .ok_or(KioskError::Engagement(OfflineError::NoRetrievalMethod))?;
            let handover = Handover::NfcStatic {
                select: select.as_bytes().to_vec(),
            };
            (select.engagement().clone(), handover, nfc, "nfc")
        }
    };
    let limits =
        Limits::negotiate(nfc_options, options.extended).map_err(KioskError::Engagement)?;
    progress(&format!(
        "Opening the session ({} APDUs)",
        if limits.extended() {
            "extended"
        } else {
            "short"
        }
    ));
    let selected = link.send(&nfc::select_command())?;
    if selected.sw != kazashi_protocol::apdu::StatusWord::Ok {
        return Err(KioskError::Session(OfflineError::UnexpectedStatusWord(
            selected.sw,
        )));
    }
    let mut nfc = NfcLink {
        link: &mut link,
        limits,
    };
    session(&mut nfc, &engagement, &handover, how, options, progress)
}

/// The session once the engagement is known and the link is up: request, response,
/// termination, verification. Shared by NFC and BLE.
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
