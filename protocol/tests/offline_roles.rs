//! The terminal and phone roles (`offline::terminal`, `offline::phone`) against each other over
//! encoded APDUs: NFC static handover and QR, short and extended APDUs, device signature (in
//! software and by an external signer) and MAC, reader-authentication policy, consent, the
//! phone state format, and the failure paths by stage.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::phone::{
    DeviceAuthMode, DeviceKey, NoHooks, PhoneEngagement, PhoneEvent, PhoneHooks, PhoneOptions,
    PhoneRole,
};
use kazashi_protocol::offline::pki::{Certificate, TrustList, Usage};
use kazashi_protocol::offline::state::{PhoneState, StateError, StoredDeviceKey, StoredDocument};
use kazashi_protocol::offline::terminal::{
    TerminalError, TerminalNext, TerminalPhase, TerminalRequest, TerminalRole,
};
use kazashi_protocol::offline::*;
use mdoc::*;
use p256::SecretKey;
use p256::ecdsa::{Signature, SigningKey, signature::hazmat::PrehashSigner};
use rand_core::OsRng;

const FULL: NfcOptions = NfcOptions {
    max_command_len: 65_535,
    max_response_len: 65_536,
};

fn options(engagement: PhoneEngagement, auth: DeviceAuthMode) -> PhoneOptions {
    PhoneOptions {
        engagement,
        auth,
        reader_trust: None,
        require_reader_auth: false,
        nfc: FULL,
    }
}

fn request(reader_auth: Option<&Party>, extended: bool) -> TerminalRequest {
    TerminalRequest {
        doc_type: MDL.into(),
        items: vec![
            (MDL_NS.into(), "family_name".into()),
            (MDL_NS.into(), "age_over_18".into()),
            (MDL_NS.into(), "portrait".into()),
        ],
        reader_auth: reader_auth.map(|p| (p.leaf_key.clone(), p.chain())),
        extended,
    }
}

/// Runs a read to its end; returns the outcome and the APDUs exchanged.
fn run(
    phone: &mut PhoneRole,
    hooks: &mut dyn PhoneHooks,
    qr: Option<&str>,
    request: TerminalRequest,
    trust: &TrustList,
) -> (Result<VerifiedDocument, TerminalError>, usize) {
    let (mut role, mut command) = match TerminalRole::start(qr, request, &mut OsRng) {
        Ok(started) => started,
        Err(e) => return (Err(e), 0),
    };
    let mut apdus = 0;
    loop {
        apdus += 1;
        let answer = phone.transmit(&command.to_bytes().unwrap(), NOW, hooks);
        match role.handle_response(&Response::parse(&answer).unwrap()) {
            Ok(TerminalNext::Command(next)) => command = next,
            Ok(TerminalNext::Done(response)) => {
                assert_eq!(role.phase(), TerminalPhase::Done);
                return (role.verify(&response, trust, NOW), apdus);
            }
            Err(e) => return (Err(e), apdus),
        }
    }
}

struct Setup {
    issuer: Party,
    device_key: SecretKey,
    documents: Vec<(String, IssuerSigned)>,
}

fn setup() -> Setup {
    let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
    let device_key = SecretKey::random(&mut OsRng);
    let stored = issue(
        &issuer,
        &device_key.public_key(),
        validity(NOW - DAY, NOW + YEAR),
    );
    Setup {
        issuer,
        device_key,
        documents: vec![(MDL.into(), stored)],
    }
}

fn assert_document(doc: &VerifiedDocument, auth: DeviceAuthKind) {
    assert_eq!(doc.doc_type(), MDL);
    assert_eq!(
        doc.item(MDL_NS, "family_name"),
        Some(&ciborium::Value::Text("Yamada".into()))
    );
    assert_eq!(
        doc.item(MDL_NS, "age_over_18"),
        Some(&ciborium::Value::Bool(true))
    );
    assert!(doc.item(MDL_NS, "portrait").is_some());
    assert_eq!(doc.item(MDL_NS, "given_name"), None, "not requested");
    assert_eq!(doc.device_auth(), auth);
}

/// What consent was asked: the doc type, the reader, the items.
type Asked = (String, Option<String>, Vec<(String, String)>);

#[derive(Default)]
struct Recorder {
    events: Vec<PhoneEvent>,
    allow: Option<Vec<(String, String)>>,
    signer: Option<SigningKey>,
    asked: Vec<Asked>,
}

impl PhoneHooks for Recorder {
    fn sign_digest(&mut self, key: &str, digest: [u8; 32]) -> Option<Signature> {
        assert_eq!(key, "device-key");
        self.signer.as_ref()?.sign_prehash(&digest).ok()
    }

    fn consent(
        &mut self,
        doc_type: &str,
        reader: Option<&Certificate>,
        requested: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        self.asked.push((
            doc_type.into(),
            reader.map(Certificate::subject),
            requested.clone(),
        ));
        self.allow.clone().unwrap_or(requested)
    }

    fn event(&mut self, event: PhoneEvent) {
        self.events.push(event);
    }
}

#[test]
fn nfc_handover_signature_short_and_extended() {
    let s = setup();
    let mut phone = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        options(PhoneEngagement::Nfc, DeviceAuthMode::Signature),
        &mut OsRng,
    )
    .unwrap();
    let mut counts = Vec::new();
    for extended in [true, false] {
        assert!(phone.tap(&mut OsRng).unwrap(), "NFC engages anew");
        let mut hooks = Recorder::default();
        let (doc, apdus) = run(
            &mut phone,
            &mut hooks,
            None,
            request(None, extended),
            &s.issuer.trust(),
        );
        assert_document(&doc.unwrap(), DeviceAuthKind::Signature);
        assert_eq!(
            hooks.events,
            vec![
                PhoneEvent::ReaderNotAuthenticated,
                PhoneEvent::Released {
                    doc_type: MDL.into(),
                    items: 3
                },
                PhoneEvent::SessionEnded,
            ]
        );
        assert!(phone.is_ended());
        counts.push(apdus);
    }
    // Handover (6) + SELECT + request + goodbye with extended APDUs; more chunks without.
    assert_eq!(counts[0], 9);
    assert!(counts[1] > counts[0], "{counts:?}");
}

#[test]
fn qr_engagement_mac_and_external_signer() {
    let s = setup();
    let mut phone = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        options(PhoneEngagement::Qr, DeviceAuthMode::Mac),
        &mut OsRng,
    )
    .unwrap();
    let qr = phone.engagement_qr();
    assert!(!phone.tap(&mut OsRng).unwrap(), "an unused QR stays");
    assert_eq!(phone.engagement_qr(), qr);
    let (doc, apdus) = run(
        &mut phone,
        &mut NoHooks,
        Some(&qr),
        request(None, true),
        &s.issuer.trust(),
    );
    assert_document(&doc.unwrap(), DeviceAuthKind::Mac);
    assert_eq!(apdus, 3);
    // The QR of a finished session opens no other.
    assert!(phone.tap(&mut OsRng).unwrap());
    let (stale, _) = run(
        &mut phone,
        &mut NoHooks,
        Some(&qr),
        request(None, true),
        &s.issuer.trust(),
    );
    assert!(matches!(stale, Err(TerminalError::Session(_))), "{stale:?}");

    // A device key held elsewhere: the hook signs.
    let mut external = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::External("device-key".into()),
        options(PhoneEngagement::Nfc, DeviceAuthMode::Signature),
        &mut OsRng,
    )
    .unwrap();
    let mut hooks = Recorder {
        signer: Some(SigningKey::from(&s.device_key)),
        ..Recorder::default()
    };
    let (doc, _) = run(
        &mut external,
        &mut hooks,
        None,
        request(None, true),
        &s.issuer.trust(),
    );
    assert_document(&doc.unwrap(), DeviceAuthKind::Signature);
    // A signer that cannot sign: the phone ends the session.
    external.tap(&mut OsRng).unwrap();
    let mut failing = Recorder::default();
    let (failed, _) = run(
        &mut external,
        &mut failing,
        None,
        request(None, true),
        &s.issuer.trust(),
    );
    assert_eq!(
        failed.unwrap_err(),
        TerminalError::Session(OfflineError::SessionTerminated)
    );
    assert!(
        failing
            .events
            .contains(&PhoneEvent::CannotAnswer("signing_failed"))
    );
    // MAC needs the key itself.
    assert_eq!(
        PhoneRole::new(
            s.documents,
            DeviceKey::External("device-key".into()),
            options(PhoneEngagement::Nfc, DeviceAuthMode::Mac),
            &mut OsRng,
        )
        .unwrap_err(),
        OfflineError::UnsupportedAlgorithm
    );
}

#[test]
fn reader_authentication_policy_and_consent() {
    let s = setup();
    let reader = Party::new("Test Reader", Usage::ReaderAuth);
    let mut opts = options(PhoneEngagement::Nfc, DeviceAuthMode::Signature);
    opts.reader_trust = Some(reader.trust());
    opts.require_reader_auth = true;
    let mut phone = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        opts,
        &mut OsRng,
    )
    .unwrap();
    let trust = s.issuer.trust();

    let mut hooks = Recorder::default();
    let (doc, _) = run(
        &mut phone,
        &mut hooks,
        None,
        request(Some(&reader), true),
        &trust,
    );
    assert_document(&doc.unwrap(), DeviceAuthKind::Signature);
    assert_eq!(
        hooks.events[0],
        PhoneEvent::ReaderAuthenticated("CN=Test Reader,C=JP".into())
    );
    assert_eq!(
        hooks.asked[0].1.as_deref(),
        Some("CN=Test Reader,C=JP"),
        "consent sees the reader"
    );

    let stranger = Party::new("Other Reader", Usage::ReaderAuth);
    for (signer, reason) in [
        (None, "reader_auth_required"),
        // A reader certificate of another root.
        (Some(&stranger), "not_trusted"),
        // The issuer's key signs a request: not a reader certificate.
        (Some(&s.issuer), "wrong_key_usage"),
    ] {
        phone.tap(&mut OsRng).unwrap();
        let mut hooks = Recorder::default();
        let (refused, _) = run(&mut phone, &mut hooks, None, request(signer, true), &trust);
        assert!(
            matches!(refused, Err(TerminalError::NoDocument { ref doc_type, errors: 1, .. }) if doc_type == MDL),
            "{refused:?}"
        );
        assert_eq!(refused.unwrap_err().code(), "no_document");
        assert!(
            hooks.events.contains(&PhoneEvent::Refused {
                doc_type: MDL.into(),
                reason
            }),
            "{:?}",
            hooks.events
        );
        assert!(
            hooks.asked.is_empty(),
            "no consent asked for a refused reader"
        );
    }

    // Consent: only the family name (and an item not asked for is not added).
    phone.tap(&mut OsRng).unwrap();
    let mut hooks = Recorder {
        allow: Some(vec![
            (MDL_NS.into(), "family_name".into()),
            (MDL_NS.into(), "document_number".into()),
        ]),
        ..Recorder::default()
    };
    let (doc, _) = run(
        &mut phone,
        &mut hooks,
        None,
        request(Some(&reader), true),
        &trust,
    );
    let doc = doc.unwrap();
    assert_eq!(doc.items()[0].1.len(), 1);
    assert!(doc.item(MDL_NS, "family_name").is_some());
    assert_eq!(doc.item(MDL_NS, "document_number"), None);
    // Declined.
    phone.tap(&mut OsRng).unwrap();
    let mut hooks = Recorder {
        allow: Some(Vec::new()),
        ..Recorder::default()
    };
    let (declined, _) = run(
        &mut phone,
        &mut hooks,
        None,
        request(Some(&reader), true),
        &trust,
    );
    assert_eq!(declined.unwrap_err().code(), "no_document");
}

#[test]
fn failures_by_stage() {
    let s = setup();
    let mut phone = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        options(PhoneEngagement::Nfc, DeviceAuthMode::Signature),
        &mut OsRng,
    )
    .unwrap();
    // Untrusted issuer: the session succeeds, verification fails.
    let other = Party::new("Other Issuer", Usage::DocumentSigner);
    let (untrusted, _) = run(
        &mut phone,
        &mut NoHooks,
        None,
        request(None, true),
        &other.trust(),
    );
    assert_eq!(
        untrusted.unwrap_err(),
        TerminalError::Verification(OfflineError::NotTrusted)
    );
    // A bad QR text.
    let bad = TerminalRole::start(Some("mdoc:!!"), request(None, true), &mut OsRng);
    assert_eq!(
        bad.unwrap_err(),
        TerminalError::Engagement(OfflineError::InvalidEngagementUri)
    );
    // No NDEF tag (a QR-only phone read by handover): the engagement fails.
    let mut qr_only = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        options(PhoneEngagement::Qr, DeviceAuthMode::Signature),
        &mut OsRng,
    )
    .unwrap();
    let (no_tag, apdus) = run(
        &mut qr_only,
        &mut NoHooks,
        None,
        request(None, true),
        &s.issuer.trust(),
    );
    assert!(
        matches!(no_tag, Err(TerminalError::Engagement(_))),
        "{no_tag:?}"
    );
    assert_eq!(apdus, 1);
    // A response after the end, and a transport lost outside the goodbye.
    let (mut role, _) = TerminalRole::start(None, request(None, true), &mut OsRng).unwrap();
    assert!(role.transport_lost().is_none());
    let ok = Response::parse(&[0x90, 0x00]).unwrap();
    assert!(role.handle_response(&ok).is_err());
    // The phone answers garbage APDUs with a status word.
    assert_eq!(phone.transmit(&[0x00], NOW, &mut NoHooks).len(), 2);
    let select_nothing = Command::new(0x00, 0xA4, 0x04, 0x00).with_data(vec![1, 2, 3]);
    assert_eq!(
        phone
            .transmit(&select_nothing.to_bytes().unwrap(), NOW, &mut NoHooks)
            .len(),
        2
    );
}

#[test]
fn the_goodbye_may_be_lost() {
    let s = setup();
    let mut phone = PhoneRole::new(
        s.documents.clone(),
        DeviceKey::Software(s.device_key.clone()),
        options(PhoneEngagement::Nfc, DeviceAuthMode::Signature),
        &mut OsRng,
    )
    .unwrap();
    let (mut role, mut command) =
        TerminalRole::start(None, request(None, true), &mut OsRng).unwrap();
    loop {
        let answer = phone.transmit(&command.to_bytes().unwrap(), NOW, &mut NoHooks);
        match role
            .handle_response(&Response::parse(&answer).unwrap())
            .unwrap()
        {
            TerminalNext::Command(next) => command = next,
            TerminalNext::Done(_) => panic!("the goodbye was to be lost"),
        }
        if role.phase() == TerminalPhase::Closing {
            break;
        }
    }
    // The phone left before the goodbye: the response stands.
    let response = role.transport_lost().unwrap().unwrap();
    assert_document(
        &role.verify(&response, &s.issuer.trust(), NOW).unwrap(),
        DeviceAuthKind::Signature,
    );
}

#[test]
fn the_phone_state_format() {
    let s = setup();
    let state = PhoneState {
        device_key: StoredDeviceKey::Software(
            s.device_key
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        ),
        documents: vec![StoredDocument {
            doc_type: MDL.into(),
            issuer_signed: s.documents[0]
                .1
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            device_key: None,
        }],
    };
    let json = state.to_json();
    assert!(json.contains("\"software\""), "{}", json.as_str());
    assert!(
        !format!("{state:?}").contains(&json[json.find("\"software\": \"").unwrap() + 13..][..16]),
        "Debug does not show the key"
    );
    let parsed = PhoneState::parse(&json).unwrap();
    assert_eq!(parsed.software_key().unwrap().unwrap(), s.device_key);
    assert_eq!(parsed.documents().unwrap(), s.documents);

    assert!(matches!(
        PhoneState::parse("{"),
        Err(StateError::Json { .. })
    ));
    let bad_key = PhoneState::parse(r#"{"device_key":{"software":"zz"},"documents":[]}"#).unwrap();
    assert_eq!(bad_key.software_key().unwrap_err(), StateError::DeviceKey);
    let chip =
        PhoneState::parse(r#"{"device_key":{"chip":{"state":"/x"}},"documents":[]}"#).unwrap();
    assert_eq!(chip.software_key().unwrap(), None);
    let bad_doc = PhoneState::parse(
        r#"{"device_key":{"chip":{"state":"/x"}},"documents":[{"doc_type":"x","issuer_signed":"a0"}]}"#,
    )
    .unwrap();
    let error = bad_doc.documents().unwrap_err();
    assert!(
        matches!(
            error,
            StateError::Document {
                index: 0,
                error: Some(_)
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.code(), "invalid_state");
}
