//! The terminal's message-level session (`offline::terminal::TerminalSession`, what BLE and the
//! APDU framing of `TerminalRole` share) against a `Holder` over whole `SessionEstablishment`
//! / `SessionData` messages: the request (plain and reader-authenticated), the termination the
//! phone is owed, the abort after a reply that fails, a phone that terminates, a missing reply,
//! a missing document type, a document that does not verify.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use kazashi_protocol::offline::engagement::BleOptions;
use kazashi_protocol::offline::pki::Usage;
use kazashi_protocol::offline::request::DeviceRequest;
use kazashi_protocol::offline::terminal::{
    SessionEnd, TerminalError, TerminalRequest, TerminalSession,
};
use kazashi_protocol::offline::*;
use mdoc::*;
use p256::SecretKey;
use rand_core::OsRng;

const SERVICE: [u8; 16] = *b"kazashi-terminal";

/// A phone in mdoc peripheral server mode (a QR engagement offering BLE) with one mDL.
struct Phone {
    holder: Holder,
    issuer: Party,
    stored: IssuerSigned,
    device_key: SecretKey,
}

impl Phone {
    fn new() -> Self {
        let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
        let (device_key, stored) = issue_now(&issuer);
        let holder = Holder::new(
            vec![RetrievalMethod::Ble(BleOptions::peripheral_server(SERVICE))],
            &mut OsRng,
        );
        Self {
            holder,
            issuer,
            stored,
            device_key,
        }
    }

    /// The terminal's session, started from the phone's engagement as the QR code carries it.
    fn engage(&self, request: &TerminalRequest) -> (TerminalSession, Vec<u8>) {
        let engagement = DeviceEngagement::from_qr(&self.holder.engagement().to_qr()).unwrap();
        TerminalSession::start(&engagement, &Handover::Qr, request, &mut OsRng).unwrap()
    }

    /// The request as the phone decrypted it.
    fn take_request(&mut self, establishment: &[u8]) -> DeviceRequest {
        match self.holder.handle_message(establishment).unwrap() {
            HolderEvent::Request(request) => request,
            HolderEvent::Terminated => panic!("the reader ended the session instead"),
        }
    }

    /// The phone's reply to the request: what was asked and is held, device-authenticated.
    fn reply(&mut self, establishment: &[u8], auth: Auth) -> Vec<u8> {
        let request = self.take_request(establishment);
        let response = answer(&self.holder, &request, &self.stored, &self.device_key, auth);
        self.holder.respond(&response).unwrap()
    }
}

fn request(doc_type: &str, reader_auth: Option<&Party>) -> TerminalRequest {
    TerminalRequest {
        doc_type: doc_type.into(),
        items: vec![
            (MDL_NS.into(), "family_name".into()),
            (MDL_NS.into(), "age_over_18".into()),
        ],
        reader_auth: reader_auth.map(|p| (p.leaf_key.clone(), p.chain())),
        // Not used by a message-level session.
        extended: false,
    }
}

#[test]
fn a_whole_session_in_messages_with_the_termination_the_phone_is_owed() {
    let reader = Party::new("Test Reader", Usage::ReaderAuth);
    for (auth, kind, reader_auth) in [
        (Auth::Signature, DeviceAuthKind::Signature, None),
        (Auth::Mac, DeviceAuthKind::Mac, Some(&reader)),
    ] {
        let mut phone = Phone::new();
        let (mut session, establishment) = phone.engage(&request(MDL, reader_auth));
        assert_eq!(session.reader_auth(), reader_auth.is_some());
        assert_eq!(session.doc_type(), MDL);

        let request = phone.take_request(&establishment);
        assert_eq!(request.doc_requests.len(), 1);
        let doc_request = &request.doc_requests[0];
        assert_eq!(doc_request.items_request().doc_type, MDL);
        assert!(doc_request.items_request().requests(MDL_NS, "family_name"));
        assert!(doc_request.items_request().requests(MDL_NS, "age_over_18"));
        assert!(!doc_request.items_request().requests(MDL_NS, "portrait"));
        // Signed exactly when the reader has a key, and the signature verifies.
        let transcript = phone.holder.transcript().unwrap();
        match reader_auth {
            Some(party) => {
                let leaf = doc_request
                    .verify_reader_auth(transcript, &party.trust(), NOW)
                    .unwrap()
                    .unwrap();
                assert_eq!(leaf.subject(), "CN=Test Reader,C=JP");
                assert!(doc_request.has_reader_auth());
            }
            None => {
                assert!(!doc_request.has_reader_auth());
                assert!(
                    doc_request
                        .verify_reader_auth(transcript, &reader.trust(), NOW)
                        .unwrap()
                        .is_none()
                );
            }
        }
        let response = answer(
            &phone.holder,
            &request,
            &phone.stored,
            &phone.device_key,
            auth,
        );
        let reply = phone.holder.respond(&response).unwrap();

        let SessionEnd { goodbye, outcome } = session.handle_reply(Some(&reply));
        let response = outcome.unwrap();
        // The phone did not end the session: it is owed the termination (status 20).
        let goodbye = goodbye.expect("a termination for the phone");
        assert!(matches!(
            phone.holder.handle_message(&goodbye),
            Ok(HolderEvent::Terminated)
        ));
        assert!(phone.holder.is_ended());

        let document = session
            .verify(&response, &phone.issuer.trust(), NOW)
            .unwrap();
        assert_eq!(document.doc_type(), MDL);
        assert_eq!(
            document.item(MDL_NS, "family_name"),
            Some(&ciborium::Value::Text("Yamada".into()))
        );
        assert_eq!(
            document.item(MDL_NS, "age_over_18"),
            Some(&ciborium::Value::Bool(true))
        );
        assert_eq!(document.item(MDL_NS, "portrait"), None, "not requested");
        assert_eq!(document.device_auth(), kind);

        // One reply per session: a second one is refused, and owes the phone nothing.
        let SessionEnd { goodbye, outcome } = session.handle_reply(Some(&reply));
        assert_eq!(goodbye, None);
        assert_eq!(
            outcome.unwrap_err(),
            TerminalError::Session(OfflineError::UnexpectedMessage)
        );
    }
}

#[test]
fn a_reply_that_fails_ends_with_an_abort_for_the_phone() {
    // A reply whose ciphertext was changed in transit: decryption fails, and the phone is told
    // (status 10) instead of being left waiting.
    let mut phone = Phone::new();
    let (mut session, establishment) = phone.engage(&request(MDL, None));
    let mut reply = phone.reply(&establishment, Auth::Signature);
    let last = reply.len() - 1;
    reply[last] ^= 0x01;
    let SessionEnd { goodbye, outcome } = session.handle_reply(Some(&reply));
    let error = outcome.unwrap_err();
    assert_eq!(
        error,
        TerminalError::Session(OfflineError::DecryptionFailed)
    );
    assert_eq!(error.code(), "decryption_failed");
    let goodbye = goodbye.expect("an abort for the phone");
    assert_eq!(
        phone.holder.handle_message(&goodbye).unwrap_err(),
        OfflineError::PeerError(SessionStatus::EncryptionError)
    );
    assert!(phone.holder.is_ended());

    // A reply that is not a session message at all: a decoding error, status 11.
    let mut phone = Phone::new();
    let (mut session, establishment) = phone.engage(&request(MDL, None));
    phone.reply(&establishment, Auth::Signature);
    let SessionEnd { goodbye, outcome } = session.handle_reply(Some(b"\xff not CBOR"));
    let error = outcome.unwrap_err();
    assert!(matches!(error, TerminalError::Session(_)), "{error:?}");
    assert_eq!(
        phone
            .holder
            .handle_message(&goodbye.expect("an abort for the phone"))
            .unwrap_err(),
        OfflineError::PeerError(SessionStatus::DecodingError)
    );
}

#[test]
fn a_phone_that_terminates_ends_the_session_without_a_goodbye() {
    let mut phone = Phone::new();
    let (mut session, establishment) = phone.engage(&request(MDL, None));
    phone.take_request(&establishment);
    let reply = phone.holder.terminate();
    let SessionEnd { goodbye, outcome } = session.handle_reply(Some(&reply));
    assert_eq!(goodbye, None, "the phone already ended the session");
    let error = outcome.unwrap_err();
    assert_eq!(
        error,
        TerminalError::Session(OfflineError::SessionTerminated)
    );
    assert_eq!(error.code(), "session_terminated");
}

#[test]
fn no_reply_is_a_missing_field() {
    let phone = Phone::new();
    let (mut session, _establishment) = phone.engage(&request(MDL, None));
    let SessionEnd { goodbye, outcome } = session.handle_reply(None);
    assert_eq!(goodbye, None);
    let error = outcome.unwrap_err();
    assert_eq!(
        error,
        TerminalError::Session(OfflineError::MissingField("data"))
    );
    assert_eq!(error.code(), "missing_field");
}

#[test]
fn a_response_without_the_document_type_is_no_document() {
    // The phone holds only an mDL; the terminal asks for another type and gets no document.
    const OTHER: &str = "org.example.other";
    let mut phone = Phone::new();
    let (mut session, establishment) = phone.engage(&request(OTHER, None));
    let reply = phone.reply(&establishment, Auth::Signature);
    let SessionEnd { goodbye, outcome } = session.handle_reply(Some(&reply));
    assert!(goodbye.is_some(), "the phone is still owed the termination");
    let response = outcome.unwrap();
    assert!(response.documents.is_empty());
    let error = session
        .verify(&response, &phone.issuer.trust(), NOW)
        .unwrap_err();
    assert_eq!(
        error,
        TerminalError::NoDocument {
            doc_type: OTHER.into(),
            status: 0,
            errors: 0,
        }
    );
    assert_eq!(error.code(), "no_document");
    assert_eq!(
        error.to_string(),
        "the phone returned no org.example.other (status 0, 0 document error(s))"
    );
}

#[test]
fn a_document_from_an_untrusted_issuer_does_not_verify() {
    let mut phone = Phone::new();
    let (mut session, establishment) = phone.engage(&request(MDL, None));
    let reply = phone.reply(&establishment, Auth::Signature);
    let response = session.handle_reply(Some(&reply)).outcome.unwrap();
    let other = Party::new("Other Issuer", Usage::DocumentSigner);
    let error = session.verify(&response, &other.trust(), NOW).unwrap_err();
    assert!(matches!(error, TerminalError::Verification(_)), "{error:?}");
    // The same response verifies against the right anchor.
    assert!(
        session
            .verify(&response, &phone.issuer.trust(), NOW)
            .is_ok()
    );
}
