//! ISO/IEC 18013-5 Annex D worked examples (`tests/vectors/iso18013-5/`, sources in its
//! README): engagement, handover, transcript, session keys, session establishment and data
//! both ways, reader authentication, issuer authentication, digests and the device MAC.
//! Every decrypt/verify vector also has a one-byte-modified case that must fail.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use ciborium::value::Value;
use kazashi_protocol::offline::crypto::{self, Role, SessionCipher};
use kazashi_protocol::offline::engagement::{BleOptions, RetrievalMethod};
use kazashi_protocol::offline::ndef::{Carrier, HandoverSelect};
use kazashi_protocol::offline::pki::{Certificate, TrustList};
use kazashi_protocol::offline::present::DocumentBuilder;
use kazashi_protocol::offline::response::DeviceAuth;
use kazashi_protocol::offline::session::{SessionData, SessionEstablishment, SessionStatus};
use kazashi_protocol::offline::verify::{self, DeviceAuthKind};
use kazashi_protocol::offline::*;
use p256::{PublicKey, SecretKey};

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/vectors/iso18013-5/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap()
}

fn secret(name: &str) -> SecretKey {
    SecretKey::from_slice(&vector(&format!("{name}_d"))).unwrap()
}

fn public(name: &str) -> PublicKey {
    let point = p256::EncodedPoint::from_affine_coordinates(
        vector(&format!("{name}_x")).as_slice().into(),
        vector(&format!("{name}_y")).as_slice().into(),
        false,
    );
    PublicKey::from_sec1_bytes(point.as_bytes()).unwrap()
}

/// 2020-10-01T14:00:00Z: inside the DS certificate (2020-10-01 – 2021-10-01), the MSO
/// (2020-10-01T13:30:02Z – 2021-10-01T13:30:02Z) and the reader certificate (– 2023-12-31).
const NOW: u64 = 1_601_560_800;

const MDL: &str = "org.iso.18013.5.1.mDL";
const MDL_NS: &str = "org.iso.18013.5.1";

/// The handover of the Annex D transcript (NFC negotiated: Hs and Hr).
fn handover() -> (HandoverSelect, Handover) {
    let Value::Tag(24, inner) =
        ciborium::from_reader(&vector("session_transcript_bytes")[..]).unwrap()
    else {
        panic!("not tag 24");
    };
    let Value::Bytes(array) = *inner else {
        panic!()
    };
    let Value::Array(items) = ciborium::from_reader::<Value, _>(&array[..]).unwrap() else {
        panic!()
    };
    let Value::Array(hand) = &items[2] else {
        panic!()
    };
    let (Value::Bytes(hs), Value::Bytes(hr)) = (&hand[0], &hand[1]) else {
        panic!()
    };
    let select = HandoverSelect::parse(hs).unwrap();
    let handover = Handover::NfcNegotiated {
        select: hs.clone(),
        request: hr.clone(),
    };
    (select, handover)
}

fn transcript() -> SessionTranscript {
    SessionTranscript::from_bytes(&vector("session_transcript_bytes")).unwrap()
}

#[test]
fn qr_device_engagement_parses_and_reencodes_byte_for_byte() {
    let raw = vector("device_engagement_qr");
    let engagement = DeviceEngagement::parse(&raw).unwrap();
    assert_eq!(engagement.version(), "1.0");
    assert_eq!(*engagement.e_device_key(), public("e_device_key"));
    let ble = BleOptions {
        peripheral_server: false,
        central_client: true,
        peripheral_server_uuid: None,
        central_client_uuid: Some(
            hex::decode("45efef742b2c4837a9a3b0e1d05a6917")
                .unwrap()
                .try_into()
                .unwrap(),
        ),
        address: None,
    };
    assert_eq!(
        engagement.retrieval_methods(),
        [RetrievalMethod::Ble(ble.clone())]
    );
    // `EDeviceKeyBytes` is the Annex D value, inside the engagement as received.
    let key_bytes = vector("e_device_key_bytes");
    assert!(raw.windows(key_bytes.len()).any(|w| w == key_bytes));
    // Our encoder produces the same bytes from the same key and options.
    let ours = DeviceEngagement::new(&public("e_device_key"), vec![RetrievalMethod::Ble(ble)]);
    assert_eq!(ours.as_bytes(), raw);
    // QR text round trip (unpadded base64url).
    let qr = engagement.to_qr();
    assert!(qr.starts_with("mdoc:") && !qr.contains('='));
    assert_eq!(DeviceEngagement::from_qr(&qr).unwrap().as_bytes(), raw);
}

#[test]
fn handover_select_of_the_transcript_parses() {
    let (select, _) = handover();
    assert_eq!(*select.engagement().e_device_key(), public("e_device_key"));
    assert!(select.engagement().retrieval_methods().is_empty());
    assert!(matches!(select.carriers(), [Carrier::Ble(_)]));
    assert_eq!(select.nfc(), None);
}

#[test]
fn transcript_is_rebuilt_from_the_received_parts() {
    let (select, handover) = handover();
    let establishment = SessionEstablishment::parse(&vector("session_establishment")).unwrap();
    assert_eq!(*establishment.e_reader_key(), public("e_reader_key"));
    let ours = SessionTranscript::new(
        select.engagement().as_bytes(),
        establishment.e_reader_key_bytes(),
        &handover,
    );
    assert_eq!(ours.tagged_bytes(), vector("session_transcript_bytes"));
    assert_eq!(ours, transcript());
}

#[test]
fn session_keys_match_annex_d() {
    let shared = crypto::shared_secret(&secret("e_device_key"), &public("e_reader_key"));
    assert_eq!(
        shared.raw_secret_bytes().as_slice(),
        vector("shared_secret")
    );
    let other_side = crypto::shared_secret(&secret("e_reader_key"), &public("e_device_key"));
    assert_eq!(other_side.raw_secret_bytes(), shared.raw_secret_bytes());
    let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript());
    assert_eq!(sk_reader.as_bytes().as_slice(), vector("sk_reader"));
    assert_eq!(sk_device.as_bytes().as_slice(), vector("sk_device"));
}

#[test]
fn emac_key_and_device_mac_match_annex_d() {
    let transcript = transcript();
    // The mdoc: SDeviceKey private, EReaderKey public.
    let shared = crypto::shared_secret(&secret("s_device_key"), &public("e_reader_key"));
    assert_eq!(
        crypto::emac_key(&shared, &transcript).as_bytes().as_slice(),
        vector("emac_key")
    );
    // The reader: EReaderKey private, SDeviceKey public.
    let shared = crypto::shared_secret(&secret("e_reader_key"), &public("s_device_key"));
    assert_eq!(
        crypto::emac_key(&shared, &transcript).as_bytes().as_slice(),
        vector("emac_key")
    );
    // Our holder computes the Annex D deviceMac byte for byte.
    let response = DeviceResponse::parse(&vector("device_response")).unwrap();
    let doc = &response.documents[0];
    let ours = DocumentBuilder::new(MDL, doc.issuer_signed.clone()).mac(
        &transcript,
        &secret("s_device_key"),
        &public("e_reader_key"),
    );
    assert_eq!(
        ours.device_signed.device_auth,
        DeviceAuth::Mac(vector("device_mac"))
    );
    assert_eq!(ours.device_signed, doc.device_signed);
}

#[test]
fn holder_decrypts_the_session_establishment_to_the_device_request() {
    let (select, handover) = handover();
    let mut holder = Holder::with_engagement(
        secret("e_device_key"),
        select.engagement().clone(),
        handover,
    );
    let HolderEvent::Request(request) = holder
        .handle_message(&vector("session_establishment"))
        .unwrap()
    else {
        panic!("expected a request");
    };
    assert_eq!(holder.transcript(), Some(&transcript()));
    assert_eq!(holder.e_reader_key(), Some(&public("e_reader_key")));
    assert_eq!(request.to_bytes(), vector("device_request"));
    assert_eq!(
        request,
        DeviceRequest::parse(&vector("device_request")).unwrap()
    );
    let doc = &request.doc_requests[0];
    assert_eq!(doc.items_request_bytes()[4..], vector("items_request"));
    let items = doc.items_request();
    assert_eq!(items.doc_type, MDL);
    assert!(items.requests(MDL_NS, "family_name") && items.requests(MDL_NS, "portrait"));
    assert_eq!(items.name_spaces[0].1.len(), 6);
    assert_eq!(
        items.name_spaces[0].1.iter().find(|(e, _)| e == "portrait"),
        Some(&("portrait".to_string(), false))
    );
}

#[test]
fn raw_decryption_of_the_session_establishment() {
    let establishment = SessionEstablishment::parse(&vector("session_establishment")).unwrap();
    let shared = crypto::shared_secret(&secret("e_device_key"), &public("e_reader_key"));
    let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript());
    let mut device = SessionCipher::new(Role::Device, &sk_reader, &sk_device);
    assert_eq!(
        device.decrypt(&establishment.data).unwrap(),
        vector("device_request")
    );
    assert_eq!(device.counters(), (1, 2));
    // Modified: one byte of the ciphertext, then the tag.
    for at in [0, establishment.data.len() - 1] {
        let mut data = establishment.data.clone();
        data[at] ^= 0x01;
        let mut device = SessionCipher::new(Role::Device, &sk_reader, &sk_device);
        assert_eq!(device.decrypt(&data), Err(OfflineError::DecryptionFailed));
    }
}

#[test]
fn reader_reproduces_the_session_establishment_and_decrypts_the_session_data() {
    let (select, handover) = handover();
    let mut reader = Reader::with_key(select.engagement(), &handover, secret("e_reader_key"));
    assert_eq!(*reader.transcript(), transcript());
    let request = DeviceRequest::parse(&vector("device_request")).unwrap();
    // AES-GCM is deterministic for a key, IV and plaintext: the first message is Annex D's.
    assert_eq!(
        reader.request(&request).unwrap(),
        vector("session_establishment")
    );
    let ReaderEvent::Response { response, ended } =
        reader.handle_message(&vector("session_data")).unwrap()
    else {
        panic!("expected a response");
    };
    assert!(!ended);
    assert_eq!(response.to_bytes(), vector("device_response"));
    assert_eq!(
        response,
        DeviceResponse::parse(&vector("device_response")).unwrap()
    );

    // §9.3.1 on the Annex D document, trusting its document signer certificate.
    let trust = TrustList::new(vec![Certificate::from_der(&vector("ds_cert")).unwrap()]);
    let results = reader.verify(&response, &trust, NOW);
    let doc = results[0].as_ref().unwrap();
    assert_eq!(doc.doc_type(), MDL);
    assert_eq!(doc.device_auth(), DeviceAuthKind::Mac);
    assert_eq!(doc.issuer().subject(), "C=US,CN=utopia ds");
    assert_eq!(doc.validity().valid_from, 1_601_559_002);
    assert_eq!(doc.validity().valid_until, 1_633_095_002);
    assert_eq!(
        doc.item(MDL_NS, "family_name"),
        Some(&Value::Text("Doe".into()))
    );
    assert_eq!(
        doc.item(MDL_NS, "document_number"),
        Some(&Value::Text("123456789".into()))
    );
    assert_eq!(
        doc.item(MDL_NS, "portrait"),
        Some(&Value::Bytes(vector("portrait")))
    );
    assert_eq!(
        doc.item(MDL_NS, "issue_date"),
        Some(&Value::Tag(
            1004,
            Box::new(Value::Text("2019-10-20".into()))
        ))
    );
    assert_eq!(doc.items()[0].1.len(), 6);

    // The termination message of Annex D ends the session.
    assert_eq!(reader.terminate(), vector("session_termination"));
    assert!(reader.is_ended());
}

#[test]
fn tampered_session_data_fails_with_status_10() {
    let (select, handover) = handover();
    let mut data = SessionData::parse(&vector("session_data")).unwrap();
    let payload = data.data.as_mut().unwrap();
    payload[100] ^= 0x80;
    let mut reader = Reader::with_key(select.engagement(), &handover, secret("e_reader_key"));
    reader
        .request(&DeviceRequest::parse(&vector("device_request")).unwrap())
        .unwrap();
    let error = reader.handle_message(&data.to_bytes()).unwrap_err();
    assert_eq!(error, OfflineError::DecryptionFailed);
    assert_eq!(error.session_status(), SessionStatus::EncryptionError);
    assert!(reader.is_ended());
    assert_eq!(
        reader.abort(&error),
        SessionData::status(SessionStatus::EncryptionError).to_bytes()
    );
}

#[test]
fn reader_authentication_verifies_and_fails_when_modified() {
    let request = DeviceRequest::parse(&vector("device_request")).unwrap();
    let doc = &request.doc_requests[0];
    assert!(doc.has_reader_auth());
    let reader_cert = Certificate::from_der(&vector("reader_cert")).unwrap();
    assert_eq!(reader_cert.subject(), "CN=reader");
    let trust = TrustList::new(vec![reader_cert.clone()]);
    let verified = doc.verify_reader_auth(&transcript(), &trust, NOW).unwrap();
    assert_eq!(verified, Some(reader_cert));

    // Another session's transcript: the signature no longer covers it.
    let mut other = vector("session_transcript_bytes");
    let last = other.len() - 1;
    other[last] ^= 0x01;
    let other = SessionTranscript::from_bytes(&other).unwrap();
    assert_eq!(
        doc.verify_reader_auth(&other, &trust, NOW),
        Err(OfflineError::InvalidReaderSignature)
    );

    // A modified signature.
    let raw = vector("device_request");
    let auth = vector("reader_auth");
    let at = raw.windows(auth.len()).position(|w| w == auth).unwrap() + auth.len() - 1;
    let mut modified = raw.clone();
    modified[at] ^= 0x01;
    let modified = DeviceRequest::parse(&modified).unwrap();
    assert_eq!(
        modified.doc_requests[0].verify_reader_auth(&transcript(), &trust, NOW),
        Err(OfflineError::InvalidReaderSignature)
    );

    // Untrusted reader; expired reader certificate (after 2023-12-31).
    let ds = TrustList::new(vec![Certificate::from_der(&vector("ds_cert")).unwrap()]);
    assert_eq!(
        doc.verify_reader_auth(&transcript(), &ds, NOW),
        Err(OfflineError::NotTrusted)
    );
    assert_eq!(
        doc.verify_reader_auth(&transcript(), &trust, 1_704_067_200),
        Err(OfflineError::CertificateExpired)
    );
}

#[test]
fn issuer_auth_and_digests_of_annex_d() {
    let response = DeviceResponse::parse(&vector("device_response")).unwrap();
    let issuer_signed = &response.documents[0].issuer_signed;
    let trust = TrustList::new(vec![Certificate::from_der(&vector("ds_cert")).unwrap()]);
    let verified = verify::verify_issuer_auth(issuer_signed, &trust, NOW).unwrap();
    let mso = verified.mso();
    assert_eq!(mso.doc_type, MDL);
    assert_eq!(mso.device_key, public("s_device_key"));
    assert_eq!(mso.value_digests.len(), 2);
    verify::check_digests(issuer_signed, mso).unwrap();

    // "Doe" → "Foe" in the first item (multipaz's malformed-item case): digest mismatch.
    let mut raw = vector("device_response");
    assert_eq!(raw[200], 0x44);
    raw[200] = 0x46;
    let modified = DeviceResponse::parse(&raw).unwrap();
    assert_eq!(
        verify::check_digests(&modified.documents[0].issuer_signed, mso),
        Err(OfflineError::DigestMismatch)
    );

    // One byte of the issuer signature.
    let mut raw = vector("device_response");
    let sig_end = raw
        .windows(13)
        .position(|w| w == b"\x6cdeviceSigned")
        .unwrap();
    raw[sig_end - 1] ^= 0x01;
    let modified = DeviceResponse::parse(&raw).unwrap();
    assert_eq!(
        verify::verify_issuer_auth(&modified.documents[0].issuer_signed, &trust, NOW).err(),
        Some(OfflineError::InvalidIssuerSignature)
    );
}

#[test]
fn device_mac_fails_when_modified() {
    let (select, handover) = handover();
    let response = DeviceResponse::parse(&vector("device_response")).unwrap();
    let trust = TrustList::new(vec![Certificate::from_der(&vector("ds_cert")).unwrap()]);
    let mut doc = response.documents[0].clone();
    let DeviceAuth::Mac(mac) = &mut doc.device_signed.device_auth else {
        panic!()
    };
    let last = mac.len() - 1;
    mac[last] ^= 0x01;
    let reader = Reader::with_key(select.engagement(), &handover, secret("e_reader_key"));
    let modified = DeviceResponse::new(vec![doc]);
    assert_eq!(
        reader.verify(&modified, &trust, NOW)[0].as_ref().err(),
        Some(&OfflineError::InvalidDeviceMac)
    );
    // The right MAC with another reader key (another session) fails too.
    let other = Reader::with_key(select.engagement(), &handover, secret("e_device_key"));
    assert_eq!(
        other.verify(&response, &trust, NOW)[0].as_ref().err(),
        Some(&OfflineError::InvalidDeviceMac)
    );
}

#[test]
fn session_termination_parses() {
    let termination = SessionData::parse(&vector("session_termination")).unwrap();
    assert_eq!(termination, SessionData::status(SessionStatus::Terminated));
}
