//! Our reader against our holder: QR and NFC handover, device signature and MAC, reader
//! authentication on and off; then every kind of bad input, each ending with a typed error
//! and the session status the peer is sent (10, 11, 20).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use ciborium::value::Value;
use kazashi_protocol::offline::crypto::{self, Role, SessionCipher};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::pki::{TrustList, Usage};
use kazashi_protocol::offline::present::DocumentBuilder;
use kazashi_protocol::offline::response::{DeviceAuth, IssuerSignedItem};
use kazashi_protocol::offline::session::{SessionData, SessionEstablishment, SessionStatus};
use kazashi_protocol::offline::*;
use mdoc::*;
use p256::SecretKey;
use rand_core::OsRng;

const NFC: NfcOptions = NfcOptions {
    max_command_len: 255,
    max_response_len: 256,
};

struct Fixture {
    issuer: Party,
    reader_party: Party,
    device_key: SecretKey,
    stored: IssuerSigned,
}

impl Fixture {
    fn new() -> Self {
        let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
        let (device_key, stored) = issue_now(&issuer);
        Self {
            issuer,
            reader_party: Party::new("Test Reader", Usage::ReaderAuth),
            device_key,
            stored,
        }
    }
}

/// A holder engaged by QR and a reader that scanned it.
fn qr_pair() -> (Holder, Reader) {
    let holder = Holder::new(vec![RetrievalMethod::Nfc(NFC)], &mut OsRng);
    let engagement = DeviceEngagement::from_qr(&holder.engagement().to_qr()).unwrap();
    let reader = Reader::new(&engagement, &Handover::Qr, &mut OsRng);
    (holder, reader)
}

/// A holder engaged by NFC static handover and a reader that read its Handover Select.
fn nfc_pair() -> (Holder, Reader) {
    let (holder, select) = Holder::with_nfc_handover(NFC, &mut OsRng);
    let read = HandoverSelect::parse(select.as_bytes()).unwrap();
    assert_eq!(read.nfc(), Some(NFC));
    let handover = Handover::NfcStatic {
        select: read.as_bytes().to_vec(),
    };
    let reader = Reader::new(read.engagement(), &handover, &mut OsRng);
    (holder, reader)
}

fn full_session(pair: (Holder, Reader), auth: Auth, reader_auth: bool) {
    let f = Fixture::new();
    let (mut holder, mut reader) = pair;
    let doc_request = if reader_auth {
        DocRequest::signed(
            request_items(),
            reader.transcript(),
            &f.reader_party.leaf_key,
            &f.reader_party.chain(),
        )
    } else {
        DocRequest::new(request_items())
    };
    let establishment = reader
        .request(&DeviceRequest::new(vec![doc_request]))
        .unwrap();

    let HolderEvent::Request(request) = holder.handle_message(&establishment).unwrap() else {
        panic!("expected a request");
    };
    assert_eq!(holder.transcript(), Some(reader.transcript()));
    let reader_cert = request.doc_requests[0]
        .verify_reader_auth(holder.transcript().unwrap(), &f.reader_party.trust(), NOW)
        .unwrap();
    assert_eq!(reader_cert.is_some(), reader_auth);
    if let Some(cert) = reader_cert {
        assert_eq!(cert.subject(), "CN=Test Reader,C=JP");
    }
    let response = answer(&holder, &request, &f.stored, &f.device_key, auth);
    let reply = holder.respond(&response).unwrap();

    let ReaderEvent::Response { response, ended } = reader.handle_message(&reply).unwrap() else {
        panic!("expected a response");
    };
    assert!(!ended);
    let results = reader.verify(&response, &f.issuer.trust(), NOW);
    let doc = results[0].as_ref().unwrap();
    assert_eq!(doc.doc_type(), MDL);
    assert_eq!(
        doc.device_auth(),
        match auth {
            Auth::Signature => DeviceAuthKind::Signature,
            Auth::Mac => DeviceAuthKind::Mac,
        }
    );
    assert_eq!(
        doc.item(MDL_NS, "family_name"),
        Some(&Value::Text("Yamada".into()))
    );
    assert_eq!(doc.item(MDL_NS, "age_over_18"), Some(&Value::Bool(true)));
    // Selective disclosure: what was not asked for is not sent.
    assert_eq!(doc.item(MDL_NS, "portrait"), None);
    assert_eq!(doc.items()[0].1.len(), 2);

    // A second request in the same session, then termination by the reader.
    let again = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(
            ItemsRequest::new(MDL).with(MDL_NS, "given_name", true),
        )]))
        .unwrap();
    let HolderEvent::Request(request) = holder.handle_message(&again).unwrap() else {
        panic!("expected a request");
    };
    let response = answer(&holder, &request, &f.stored, &f.device_key, auth);
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&response).unwrap())
        .unwrap()
    else {
        panic!("expected a response");
    };
    let doc = reader
        .verify(&response, &f.issuer.trust(), NOW)
        .remove(0)
        .unwrap();
    assert_eq!(
        doc.item(MDL_NS, "given_name"),
        Some(&Value::Text("Hanako".into()))
    );
    let end = reader.terminate();
    assert!(matches!(
        holder.handle_message(&end),
        Ok(HolderEvent::Terminated)
    ));
    assert!(holder.is_ended() && reader.is_ended());
}

#[test]
fn qr_signature_with_reader_auth() {
    full_session(qr_pair(), Auth::Signature, true);
}

#[test]
fn qr_mac_without_reader_auth() {
    full_session(qr_pair(), Auth::Mac, false);
}

#[test]
fn nfc_mac_with_reader_auth() {
    full_session(nfc_pair(), Auth::Mac, true);
}

#[test]
fn nfc_signature_without_reader_auth() {
    full_session(nfc_pair(), Auth::Signature, false);
}

#[test]
fn device_signature_from_an_external_signer() {
    // The chip signs SHA-256 of the Sig_structure; the builder takes the signature.
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use sha2::{Digest, Sha256};
    let f = Fixture::new();
    let (mut holder, mut reader) = qr_pair();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let HolderEvent::Request(request) = holder.handle_message(&establishment).unwrap() else {
        panic!()
    };
    let selected = f
        .stored
        .select(|ns, e| request.doc_requests[0].items_request().requests(ns, e));
    let builder = DocumentBuilder::new(MDL, selected);
    let digest = Sha256::digest(builder.to_be_signed(holder.transcript().unwrap()));
    let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(&f.device_key)
        .sign_prehash(&digest)
        .unwrap();
    let response = DeviceResponse::new(vec![builder.with_signature(&signature)]);
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&response).unwrap())
        .unwrap()
    else {
        panic!()
    };
    let doc = reader
        .verify(&response, &f.issuer.trust(), NOW)
        .remove(0)
        .unwrap();
    assert_eq!(doc.device_auth(), DeviceAuthKind::Signature);
}

// --- Bad input -------------------------------------------------------------------------

/// Runs a session up to the holder's encrypted response.
fn up_to_response(f: &Fixture) -> (Holder, Reader, Vec<u8>) {
    let (mut holder, mut reader) = qr_pair();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let HolderEvent::Request(request) = holder.handle_message(&establishment).unwrap() else {
        panic!()
    };
    let response = answer(&holder, &request, &f.stored, &f.device_key, Auth::Signature);
    let reply = holder.respond(&response).unwrap();
    (holder, reader, reply)
}

fn assert_holder_refuses(message: &[u8], error: OfflineError, status: SessionStatus) {
    let (mut holder, _) = qr_pair();
    assert_eq!(holder.handle_message(message).unwrap_err(), error);
    assert!(holder.is_ended());
    assert_eq!(error.session_status(), status);
    assert_eq!(holder.abort(&error), SessionData::status(status).to_bytes());
}

#[test]
fn malformed_cbor_ends_the_session_with_status_11() {
    for garbage in [&b""[..], b"\xA2\x01", b"\xFF", b"\x9F\x01", b"hello"] {
        assert_holder_refuses(
            garbage,
            OfflineError::MalformedCbor,
            SessionStatus::DecodingError,
        );
    }
    // Well-formed, but not a session establishment.
    assert_holder_refuses(
        b"\xA1\x64data\x41\x00",
        OfflineError::MissingField("eReaderKey"),
        SessionStatus::DecodingError,
    );
    assert_holder_refuses(
        b"\x80",
        OfflineError::InvalidField("SessionEstablishment"),
        SessionStatus::DecodingError,
    );
    // A duplicated member.
    assert_holder_refuses(
        b"\xA2\x64data\x41\x00\x64data\x41\x00",
        OfflineError::DuplicateKey,
        SessionStatus::DecodingError,
    );
    // The reader side: a response that is not CBOR.
    let f = Fixture::new();
    let (_, mut reader, _) = up_to_response(&f);
    let error = reader.handle_message(b"\xA1\x64data").unwrap_err();
    assert_eq!(error, OfflineError::MalformedCbor);
    assert_eq!(
        reader.abort(&error),
        SessionData::status(SessionStatus::DecodingError).to_bytes()
    );
}

#[test]
fn decrypted_garbage_ends_the_session_with_status_11() {
    // A reader that encrypts a plaintext that is not a DeviceRequest, with the right keys.
    let (mut holder, _) = qr_pair();
    let e_reader_key = SecretKey::random(&mut OsRng);
    let establishment = SessionEstablishment::new(&e_reader_key.public_key(), Vec::new());
    let transcript = SessionTranscript::new(
        holder.engagement().as_bytes(),
        establishment.e_reader_key_bytes(),
        &Handover::Qr,
    );
    let shared = crypto::shared_secret(&e_reader_key, holder.engagement().e_device_key());
    let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript);
    let mut cipher = SessionCipher::new(Role::Reader, &sk_reader, &sk_device);
    let mut message = establishment.clone();
    message.data = cipher.encrypt(b"\xA1\x67version\x63\x32\x2E\x30").unwrap();
    let error = holder.handle_message(&message.to_bytes()).unwrap_err();
    assert_eq!(error, OfflineError::UnsupportedVersion);
    assert_eq!(error.session_status(), SessionStatus::DecodingError);
    let mut message = establishment;
    let mut cipher = SessionCipher::new(Role::Reader, &sk_reader, &sk_device);
    message.data = cipher.encrypt(b"\x01\x02").unwrap();
    let (mut holder2, _) = qr_pair();
    // Another holder has another key: this one cannot even decrypt.
    assert_eq!(
        holder2.handle_message(&message.to_bytes()).unwrap_err(),
        OfflineError::DecryptionFailed
    );
    assert_eq!(
        holder.abort(&error),
        SessionData::status(SessionStatus::DecodingError).to_bytes()
    );
}

#[test]
fn tampered_ciphertext_ends_the_session_with_status_10() {
    let f = Fixture::new();
    // Reader → holder.
    let (mut holder, mut reader) = qr_pair();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let mut message = SessionEstablishment::parse(&establishment).unwrap();
    message.data[3] ^= 0x04;
    assert_eq!(
        holder.handle_message(&message.to_bytes()).unwrap_err(),
        OfflineError::DecryptionFailed
    );
    assert_eq!(
        holder.abort(&OfflineError::DecryptionFailed),
        SessionData::status(SessionStatus::EncryptionError).to_bytes()
    );
    // Holder → reader.
    let (_, mut reader, reply) = up_to_response(&f);
    let mut message = SessionData::parse(&reply).unwrap();
    let data = message.data.as_mut().unwrap();
    let last = data.len() - 1;
    data[last] ^= 0x01;
    assert_eq!(
        reader.handle_message(&message.to_bytes()).unwrap_err(),
        OfflineError::DecryptionFailed
    );
    assert!(reader.is_ended());
}

fn response_for(holder: &Holder, f: &Fixture) -> DeviceResponse {
    let request = DeviceRequest::new(vec![DocRequest::new(request_items())]);
    answer(holder, &request, &f.stored, &f.device_key, Auth::Mac)
}

fn second_request() -> DeviceRequest {
    DeviceRequest::new(vec![DocRequest::new(ItemsRequest::new(MDL).with(
        MDL_NS,
        "given_name",
        false,
    ))])
}

#[test]
fn replayed_messages_fail_to_decrypt_with_status_10() {
    let f = Fixture::new();
    // The holder's first response replayed where its second is expected.
    let (mut holder, mut reader) = qr_pair();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&establishment).unwrap();
    let reply1 = holder.respond(&response_for(&holder, &f)).unwrap();
    reader.handle_message(&reply1).unwrap();
    let second = reader.request(&second_request()).unwrap();
    holder.handle_message(&second).unwrap();
    let error = reader.handle_message(&reply1).unwrap_err();
    assert_eq!(error, OfflineError::DecryptionFailed);
    assert_eq!(
        reader.abort(&error),
        SessionData::status(SessionStatus::EncryptionError).to_bytes()
    );

    // The reader's second request replayed to the holder after it answered it.
    let reply2 = holder.respond(&response_for(&holder, &f)).unwrap();
    assert!(!reply2.is_empty());
    let error = holder.handle_message(&second).unwrap_err();
    assert_eq!(error, OfflineError::DecryptionFailed);
    assert!(holder.is_ended());

    // The session establishment replayed to a holder that already has a session.
    let (mut holder, mut reader) = qr_pair();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&establishment).unwrap();
    holder.respond(&response_for(&holder, &f)).unwrap();
    assert!(holder.handle_message(&establishment).is_err());
    assert!(holder.is_ended());
}

#[test]
fn counters_refuse_replay_skip_and_reflection() {
    let e_reader_key = SecretKey::random(&mut OsRng);
    let e_device_key = SecretKey::random(&mut OsRng);
    let engagement = DeviceEngagement::new(&e_device_key.public_key(), vec![]);
    let establishment = SessionEstablishment::new(&e_reader_key.public_key(), Vec::new());
    let transcript = SessionTranscript::new(
        engagement.as_bytes(),
        establishment.e_reader_key_bytes(),
        &Handover::Qr,
    );
    let shared = crypto::shared_secret(&e_reader_key, &e_device_key.public_key());
    let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript);
    let mut reader = SessionCipher::new(Role::Reader, &sk_reader, &sk_device);
    let mut device = SessionCipher::new(Role::Device, &sk_reader, &sk_device);
    let m1 = reader.encrypt(b"one").unwrap();
    let m2 = reader.encrypt(b"two").unwrap();
    let m3 = reader.encrypt(b"three").unwrap();
    assert_eq!(device.decrypt(&m1).unwrap(), b"one");
    // Replayed (counter 1 again) and skipped (counter 3 before 2).
    assert_eq!(device.decrypt(&m1), Err(OfflineError::DecryptionFailed));
    assert_eq!(device.decrypt(&m3), Err(OfflineError::DecryptionFailed));
    // Failures do not move the expected counter.
    assert_eq!(device.decrypt(&m2).unwrap(), b"two");
    assert_eq!(device.decrypt(&m3).unwrap(), b"three");
    // Reflection: the device's own message does not decrypt as the reader's.
    let d1 = device.encrypt(b"reply").unwrap();
    assert_eq!(device.decrypt(&d1), Err(OfflineError::DecryptionFailed));
    assert_eq!(reader.decrypt(&d1).unwrap(), b"reply");
    assert_eq!(reader.counters(), (4, 2));
    assert_eq!(device.counters(), (2, 4));
}

#[test]
fn issuer_not_in_the_trust_list() {
    let f = Fixture::new();
    let (_, mut reader, reply) = up_to_response(&f);
    let ReaderEvent::Response { response, .. } = reader.handle_message(&reply).unwrap() else {
        panic!()
    };
    let other = Party::new("Other Issuer", Usage::DocumentSigner);
    for trust in [other.trust(), TrustList::default(), f.reader_party.trust()] {
        assert_eq!(
            reader.verify(&response, &trust, NOW)[0].as_ref().err(),
            Some(&OfflineError::NotTrusted)
        );
    }
    // Trusting the document signer itself (no root) is accepted.
    let leaf_only = TrustList::new(vec![f.issuer.leaf.clone()]);
    assert!(reader.verify(&response, &leaf_only, NOW)[0].is_ok());
    // Outside the certificates' validity.
    assert_eq!(
        reader.verify(&response, &f.issuer.trust(), NOW + 2 * YEAR)[0]
            .as_ref()
            .err(),
        Some(&OfflineError::CertificateExpired)
    );
    assert_eq!(
        reader.verify(&response, &f.issuer.trust(), NOW - 2 * YEAR)[0]
            .as_ref()
            .err(),
        Some(&OfflineError::CertificateNotYetValid)
    );
}

#[test]
fn a_reader_certificate_cannot_sign_documents_and_the_reverse() {
    let f = Fixture::new();
    // An "issuer" whose leaf is a reader certificate.
    let wrong = Party::new("Reader As Issuer", Usage::ReaderAuth);
    let (device_key, stored) = issue_now(&wrong);
    let doc = DocumentBuilder::new(MDL, stored);
    let (mut holder, mut reader) = qr_pair();
    let est = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&est).unwrap();
    let doc = doc.sign(
        holder.transcript().unwrap(),
        &p256::ecdsa::SigningKey::from(&device_key),
    );
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&DeviceResponse::new(vec![doc])).unwrap())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        reader.verify(&response, &wrong.trust(), NOW)[0]
            .as_ref()
            .err(),
        Some(&OfflineError::WrongKeyUsage)
    );
    // A document signer used for reader authentication.
    let (_, reader) = qr_pair();
    let signed = DocRequest::signed(
        request_items(),
        reader.transcript(),
        &f.issuer.leaf_key,
        &f.issuer.chain(),
    );
    assert_eq!(
        signed.verify_reader_auth(reader.transcript(), &f.issuer.trust(), NOW),
        Err(OfflineError::WrongKeyUsage)
    );
}

fn verify_stored(
    f: &Fixture,
    stored: IssuerSigned,
    device_key: &SecretKey,
) -> Result<VerifiedDocument, OfflineError> {
    let (mut holder, mut reader) = qr_pair();
    let est = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&est).unwrap();
    let doc = DocumentBuilder::new(MDL, stored).sign(
        holder.transcript().unwrap(),
        &p256::ecdsa::SigningKey::from(device_key),
    );
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&DeviceResponse::new(vec![doc])).unwrap())
        .unwrap()
    else {
        panic!()
    };
    reader.verify(&response, &f.issuer.trust(), NOW).remove(0)
}

#[test]
fn expired_and_not_yet_valid_mso() {
    let f = Fixture::new();
    let key = &f.device_key;
    let expired = issue(
        &f.issuer,
        &key.public_key(),
        validity(NOW - 30 * DAY, NOW - DAY),
    );
    assert_eq!(
        verify_stored(&f, expired, key).err(),
        Some(OfflineError::MsoExpired)
    );
    let future = issue(
        &f.issuer,
        &key.public_key(),
        validity(NOW + DAY, NOW + 30 * DAY),
    );
    assert_eq!(
        verify_stored(&f, future, key).err(),
        Some(OfflineError::MsoNotYetValid)
    );
    // Signed before the document signer certificate existed.
    let mut early = validity(NOW - DAY, NOW + DAY);
    early.signed = NOW - 3 * YEAR;
    let early = issue(&f.issuer, &key.public_key(), early);
    assert_eq!(
        verify_stored(&f, early, key).err(),
        Some(OfflineError::MsoSignedOutsideCertificate)
    );
    // Boundaries are inclusive.
    let edge = issue(&f.issuer, &key.public_key(), validity(NOW, NOW));
    assert!(verify_stored(&f, edge, key).is_ok());
}

#[test]
fn digest_mismatch_and_missing_digest() {
    let f = Fixture::new();
    let key = &f.device_key;
    // A changed value under the same digest ID and salt.
    let mut changed = f.stored.clone();
    let item = &changed.name_spaces[0].1[0];
    changed.name_spaces[0].1[0] = IssuerSignedItem::new(
        item.digest_id,
        item.random.clone(),
        &item.element_identifier,
        Value::Text("Suzuki".into()),
    );
    assert_eq!(
        verify_stored(&f, changed, key).err(),
        Some(OfflineError::DigestMismatch)
    );
    // An item from another issuance (its digest ID exists, its digest does not match).
    let other = issue(
        &f.issuer,
        &key.public_key(),
        validity(NOW - DAY, NOW + YEAR),
    );
    let mut mixed = f.stored.clone();
    mixed.name_spaces[0].1[0] = other.name_spaces[0].1[0].clone();
    assert_eq!(
        verify_stored(&f, mixed, key).err(),
        Some(OfflineError::DigestMismatch)
    );
    // A digest ID the MSO does not have; an unknown namespace.
    let mut unknown_id = f.stored.clone();
    unknown_id.name_spaces[0].1[0] =
        IssuerSignedItem::new(999, vec![0; 32], "family_name", Value::Text("X".into()));
    assert_eq!(
        verify_stored(&f, unknown_id, key).err(),
        Some(OfflineError::DigestMissing)
    );
    let mut unknown_ns = f.stored.clone();
    unknown_ns.name_spaces[0].0 = "org.example.other".into();
    assert_eq!(
        verify_stored(&f, unknown_ns, key).err(),
        Some(OfflineError::DigestMissing)
    );
}

#[test]
fn wrong_device_key_and_wrong_doc_type() {
    let f = Fixture::new();
    let other_key = SecretKey::random(&mut OsRng);
    assert_eq!(
        verify_stored(&f, f.stored.clone(), &other_key).err(),
        Some(OfflineError::InvalidDeviceSignature)
    );
    // The document claims another doc type than its MSO.
    let (mut holder, mut reader) = qr_pair();
    let est = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&est).unwrap();
    let doc = DocumentBuilder::new("org.example.other", f.stored.clone()).sign(
        holder.transcript().unwrap(),
        &p256::ecdsa::SigningKey::from(&f.device_key),
    );
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&DeviceResponse::new(vec![doc])).unwrap())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        reader.verify(&response, &f.issuer.trust(), NOW)[0]
            .as_ref()
            .err(),
        Some(&OfflineError::DocTypeMismatch)
    );
    // A MAC made for another session's reader key.
    let (mut holder, mut reader) = qr_pair();
    let est = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&est).unwrap();
    let stranger = SecretKey::random(&mut OsRng).public_key();
    let doc = DocumentBuilder::new(MDL, f.stored.clone()).mac(
        holder.transcript().unwrap(),
        &f.device_key,
        &stranger,
    );
    let ReaderEvent::Response { response, .. } = reader
        .handle_message(&holder.respond(&DeviceResponse::new(vec![doc])).unwrap())
        .unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        response.documents[0].device_signed.device_auth,
        DeviceAuth::Mac(_)
    ));
    assert_eq!(
        reader.verify(&response, &f.issuer.trust(), NOW)[0]
            .as_ref()
            .err(),
        Some(&OfflineError::InvalidDeviceMac)
    );
}

#[test]
fn peer_status_messages() {
    let f = Fixture::new();
    // Termination (20) without data ends the session without error.
    let (_, mut reader, _) = up_to_response(&f);
    assert!(matches!(
        reader.handle_message(&SessionData::status(SessionStatus::Terminated).to_bytes()),
        Ok(ReaderEvent::Terminated)
    ));
    assert!(reader.is_ended());
    // Data and 20 together: the response, then the end.
    let (mut holder, mut reader) = qr_pair();
    let est = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    holder.handle_message(&est).unwrap();
    let mut reply =
        SessionData::parse(&holder.respond(&response_for(&holder, &f)).unwrap()).unwrap();
    reply.status = Some(SessionStatus::Terminated);
    assert!(matches!(
        reader.handle_message(&reply.to_bytes()),
        Ok(ReaderEvent::Response { ended: true, .. })
    ));
    assert!(reader.is_ended());
    // Errors 10 and 11 from the peer.
    for status in [SessionStatus::EncryptionError, SessionStatus::DecodingError] {
        let (_, mut reader, _) = up_to_response(&f);
        assert_eq!(
            reader
                .handle_message(&SessionData::status(status).to_bytes())
                .unwrap_err(),
            OfflineError::PeerError(status)
        );
    }
    // An undefined status.
    let (_, mut reader, _) = up_to_response(&f);
    let error = reader
        .handle_message(b"\xA1\x66status\x18\x63")
        .unwrap_err();
    assert_eq!(error, OfflineError::InvalidField("status"));
    assert_eq!(error.session_status(), SessionStatus::DecodingError);
    // Nothing more is accepted after the end.
    assert_eq!(
        reader
            .handle_message(&SessionData::status(SessionStatus::Terminated).to_bytes())
            .unwrap_err(),
        OfflineError::UnexpectedMessage
    );
}

#[test]
fn messages_out_of_order() {
    let f = Fixture::new();
    let (mut holder, mut reader) = qr_pair();
    // The holder cannot respond before a request.
    assert_eq!(
        holder.respond(&DeviceResponse::new(vec![])).unwrap_err(),
        OfflineError::UnexpectedMessage
    );
    let request = DeviceRequest::new(vec![DocRequest::new(request_items())]);
    let est = reader.request(&request).unwrap();
    // The reader cannot send a second request before the response.
    assert_eq!(
        reader.request(&request).unwrap_err(),
        OfflineError::UnexpectedMessage
    );
    holder.handle_message(&est).unwrap();
    // A second message while the holder owes a response.
    assert_eq!(
        holder.handle_message(&est).unwrap_err(),
        OfflineError::UnexpectedMessage
    );
    let _ = f;
}
