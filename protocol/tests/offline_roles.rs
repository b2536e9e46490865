//! The terminal and phone roles (`offline::terminal`, `offline::phone`) against each other over
//! encoded APDUs: NFC static handover and QR, short and extended APDUs, device signature (in
//! software and by an external signer) and MAC, reader-authentication policy, consent, the
//! phone state format, and the failure paths by stage.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::phone::{
    DeviceAuthMode, DeviceKey, NewDeviceKey, NoHooks, PhoneEngagement, PhoneEvent, PhoneHooks,
    PhoneOptions, PhoneRole,
};
use kazashi_protocol::offline::pki::{Certificate, TrustList, Usage};
use kazashi_protocol::offline::provision;
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
    let (device_key, stored) = issue_now(&issuer);
    Setup {
        issuer,
        device_key,
        documents: vec![(MDL.into(), stored)],
    }
}

impl Setup {
    /// A phone holding the mDL, its device key in software.
    fn phone(&self, options: PhoneOptions) -> PhoneRole {
        PhoneRole::new(
            self.documents.clone(),
            DeviceKey::Software(self.device_key.clone()),
            options,
            &mut OsRng,
        )
        .unwrap()
    }

    /// A read by NFC handover with extended APDUs, no reader authentication, trusting the
    /// issuer.
    fn read(
        &self,
        phone: &mut PhoneRole,
        hooks: &mut dyn PhoneHooks,
    ) -> (Result<VerifiedDocument, TerminalError>, usize) {
        run(
            phone,
            hooks,
            None,
            request(None, true),
            &self.issuer.trust(),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let mut phone = s.phone(options(PhoneEngagement::Nfc, DeviceAuthMode::Signature));
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
    let mut phone = s.phone(options(PhoneEngagement::Qr, DeviceAuthMode::Mac));
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
    let (doc, _) = s.read(&mut external, &mut hooks);
    assert_document(&doc.unwrap(), DeviceAuthKind::Signature);
    // A signer that cannot sign: the phone ends the session.
    external.tap(&mut OsRng).unwrap();
    let mut failing = Recorder::default();
    let (failed, _) = s.read(&mut external, &mut failing);
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
    let mut phone = s.phone(opts);
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

    // A signed read by a phone whose holder allows `allow`.
    let mut consented = |allow: Vec<(String, String)>| {
        phone.tap(&mut OsRng).unwrap();
        let mut hooks = Recorder {
            allow: Some(allow),
            ..Recorder::default()
        };
        run(
            &mut phone,
            &mut hooks,
            None,
            request(Some(&reader), true),
            &trust,
        )
        .0
    };
    // Consent: only the family name (and an item not asked for is not added).
    let doc = consented(vec![
        (MDL_NS.into(), "family_name".into()),
        (MDL_NS.into(), "document_number".into()),
    ])
    .unwrap();
    assert_eq!(doc.items()[0].1.len(), 1);
    assert!(doc.item(MDL_NS, "family_name").is_some());
    assert_eq!(doc.item(MDL_NS, "document_number"), None);
    // Declined.
    let declined = consented(Vec::new());
    assert_eq!(declined.unwrap_err().code(), "no_document");
}

#[test]
fn failures_by_stage() {
    let s = setup();
    let mut phone = s.phone(options(PhoneEngagement::Nfc, DeviceAuthMode::Signature));
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
    let mut qr_only = s.phone(options(PhoneEngagement::Qr, DeviceAuthMode::Signature));
    let (no_tag, apdus) = s.read(&mut qr_only, &mut NoHooks);
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
    let mut phone = s.phone(options(PhoneEngagement::Nfc, DeviceAuthMode::Signature));
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
        device_key: StoredDeviceKey::Software(hex(&s.device_key.to_bytes())),
        documents: vec![StoredDocument {
            doc_type: MDL.into(),
            issuer_signed: hex(&s.documents[0].1.to_bytes()),
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

/// The terminal side of a write at the counter (engagement by `TerminalEngagement`, then
/// `provision::TerminalWrite`) against `phone`: the document issued by `issuer` to the key the
/// phone makes. The phone's confirmation, or the first error.
fn write_over(
    phone: &mut PhoneRole,
    hooks: &mut dyn PhoneHooks,
    writer: &Party,
    issuer: &Party,
) -> Result<provision::Written, OfflineError> {
    use kazashi_protocol::offline::nfc::{Limits, Next, ReaderExchange};
    use kazashi_protocol::offline::terminal::{EngageNext, Engaged, TerminalEngagement};
    fn exchange(
        phone: &mut PhoneRole,
        hooks: &mut dyn PhoneHooks,
        message: &[u8],
        limits: Limits,
    ) -> Result<Vec<u8>, OfflineError> {
        let (mut exchange, mut command) = ReaderExchange::start(message, limits)?;
        loop {
            let answer = phone.transmit(&command.to_bytes().unwrap(), NOW, hooks);
            match exchange.handle_response(&Response::parse(&answer).unwrap())? {
                Next::Command(next) => command = next,
                Next::Message(reply) => return reply.ok_or(OfflineError::MissingField("data")),
            }
        }
    }
    let (mut engaging, mut command) = TerminalEngagement::start(None, true).unwrap();
    let Engaged {
        engagement,
        handover,
        limits,
    } = loop {
        let answer = phone.transmit(&command.to_bytes().unwrap(), NOW, hooks);
        match engaging
            .handle_response(&Response::parse(&answer).unwrap())
            .unwrap()
        {
            EngageNext::Command(next) => command = next,
            EngageNext::Engaged(engaged) => break engaged,
        }
    };
    assert_eq!(engaging.kind(), "nfc");
    let reader = Reader::new(&engagement, &handover, &mut OsRng);
    let (awaiting_key, establishment) =
        provision::TerminalWrite::start(reader, MDL, &writer.leaf_key, &writer.chain())?;
    let reply = exchange(phone, hooks, &establishment, limits)?;
    let received = awaiting_key.handle(&reply)?;
    let document = issue(
        issuer,
        received.device_key(),
        validity(NOW - DAY, NOW + YEAR),
    );
    let (awaiting_stored, store) = received.store(&document)?;
    let reply = exchange(phone, hooks, &store, limits)?;
    awaiting_stored.handle(&reply)
}

/// Hooks of a phone that accepts writes: keys in software or "on a chip" (an external signer
/// keyed by name), a store that can be made to fail.
#[derive(Default)]
struct Writer {
    external: bool,
    keys: Vec<(String, SigningKey)>,
    fail_store: bool,
    stored: Vec<(String, IssuerSigned)>,
    events: Vec<PhoneEvent>,
}

impl PhoneHooks for Writer {
    fn sign_digest(&mut self, key: &str, digest: [u8; 32]) -> Option<Signature> {
        let (_, signer) = self.keys.iter().find(|(name, _)| name == key)?;
        signer.sign_prehash(&digest).ok()
    }

    fn new_device_key(&mut self, doc_type: &str) -> Option<NewDeviceKey> {
        assert_eq!(doc_type, MDL);
        let secret = SecretKey::random(&mut OsRng);
        let public = secret.public_key();
        if self.external {
            let name = format!("dk-{}", self.keys.len());
            self.keys.push((name.clone(), SigningKey::from(&secret)));
            Some(NewDeviceKey {
                key: DeviceKey::External(name),
                public,
            })
        } else {
            Some(NewDeviceKey {
                key: DeviceKey::Software(secret),
                public,
            })
        }
    }

    fn store(&mut self, doc_type: &str, issuer_signed: &IssuerSigned, _key: &DeviceKey) -> bool {
        if self.fail_store {
            return false;
        }
        self.stored.push((doc_type.into(), issuer_signed.clone()));
        true
    }

    fn event(&mut self, event: PhoneEvent) {
        self.events.push(event);
    }
}

#[test]
fn the_phone_accepts_a_write_then_presents_the_written_document() {
    let s = setup();
    let writer = Party::new("Counter", Usage::ReaderAuth);
    for external in [false, true] {
        let mut phone = PhoneRole::new(
            Vec::new(),
            DeviceKey::Software(s.device_key.clone()),
            PhoneOptions {
                reader_trust: Some(writer.trust()),
                ..options(PhoneEngagement::Nfc, DeviceAuthMode::Signature)
            },
            &mut OsRng,
        )
        .unwrap();
        let mut hooks = Writer {
            external,
            ..Writer::default()
        };
        let written = write_over(&mut phone, &mut hooks, &writer, &s.issuer).unwrap();
        assert_eq!(hooks.stored.len(), 1);
        assert_eq!(
            written.digest(),
            <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(
                hooks.stored[0].1.to_bytes()
            ))
        );
        assert_eq!(
            hooks.events,
            vec![
                PhoneEvent::WriteAuthorized {
                    doc_type: MDL.into(),
                    reader: writer.leaf.subject(),
                },
                PhoneEvent::NewKeySent,
                PhoneEvent::Stored {
                    doc_type: MDL.into(),
                    documents: 1,
                },
            ]
        );
        assert_eq!(phone.document_count(), 1);
        assert_eq!(
            matches!(phone.documents()[0].key, DeviceKey::External(ref n) if n == "dk-0"),
            external
        );
        // The new document is presented with its own key (the phone's other key would not
        // verify against its MSO).
        assert!(phone.tap(&mut OsRng).unwrap());
        let (doc, _) = s.read(&mut phone, &mut hooks);
        assert_document(&doc.unwrap(), DeviceAuthKind::Signature);
    }
}

#[test]
fn the_phone_refuses_writes_it_cannot_or_may_not_take() {
    let s = setup();
    let writer = Party::new("Counter", Usage::ReaderAuth);
    let stranger = Party::new("Stranger", Usage::ReaderAuth);
    let phone = |trust: Option<TrustList>| {
        s.phone(PhoneOptions {
            reader_trust: trust,
            ..options(PhoneEngagement::Nfc, DeviceAuthMode::Signature)
        })
    };
    // A write by `by` into a phone trusting `trust`: its refusal.
    let refused = |trust: Option<TrustList>, by: &Party, hooks: &mut dyn PhoneHooks| {
        write_over(&mut phone(trust), hooks, by, &s.issuer).unwrap_err()
    };
    let not_authorized = OfflineError::WriteRefused(provision::WriteRefusal::NotAuthorized);
    // No reader roots: no terminal may write.
    let mut hooks = Writer::default();
    assert_eq!(refused(None, &writer, &mut hooks), not_authorized);
    assert_eq!(hooks.events.len(), 1);
    assert!(matches!(hooks.events[0], PhoneEvent::WriteRefused(_)));
    assert!(hooks.stored.is_empty());
    // A terminal that does not chain to the roots.
    let mut hooks = Writer::default();
    assert_eq!(
        refused(Some(writer.trust()), &stranger, &mut hooks),
        not_authorized
    );
    assert!(hooks.stored.is_empty());
    // A shell that makes no keys (the default hooks, as the npm package's holder).
    let mut hooks = Recorder::default();
    assert_eq!(
        refused(Some(writer.trust()), &writer, &mut hooks),
        OfflineError::WriteRefused(provision::WriteRefusal::KeyGeneration)
    );
    assert_eq!(
        hooks.events.last(),
        Some(&PhoneEvent::WriteRefused("key_generation"))
    );
    // A store that fails: refused, and the phone does not hold the document.
    let mut hooks = Writer {
        fail_store: true,
        ..Writer::default()
    };
    let mut failing = phone(Some(writer.trust()));
    let error = write_over(&mut failing, &mut hooks, &writer, &s.issuer).unwrap_err();
    assert_eq!(
        error,
        OfflineError::WriteRefused(provision::WriteRefusal::Storage)
    );
    assert_eq!(failing.document_count(), 1, "the old document only");
    assert!(
        !hooks
            .events
            .iter()
            .any(|e| matches!(e, PhoneEvent::Stored { .. }))
    );
}

#[test]
fn the_phone_state_with_per_document_keys() {
    let s = setup();
    let (written_key, written) = issue_now(&s.issuer);
    let mut state = PhoneState {
        device_key: StoredDeviceKey::Software(hex(&s.device_key.to_bytes())),
        documents: vec![StoredDocument {
            doc_type: MDL.into(),
            issuer_signed: hex(&s.documents[0].1.to_bytes()),
            device_key: None,
        }],
    };
    state.store(StoredDocument {
        doc_type: "org.example.written".into(),
        issuer_signed: hex(&written.to_bytes()),
        device_key: Some(StoredDeviceKey::Software(hex(&written_key.to_bytes()))),
    });
    let json = state.to_json();
    let parsed = PhoneState::parse(&json).unwrap();
    let held = parsed.held_documents().unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].key.software().unwrap().unwrap(), s.device_key);
    assert_eq!(held[1].key.software().unwrap().unwrap(), written_key);
    assert_eq!(held[1].issuer_signed, written);
    // Replacing a document of the same type.
    state.store(StoredDocument {
        doc_type: MDL.into(),
        issuer_signed: hex(&written.to_bytes()),
        device_key: None,
    });
    assert_eq!(state.documents.len(), 2);
    assert_eq!(state.documents[1].doc_type, MDL);
    // A file of the old format (no per-document keys, no chip slot) loads as before.
    let old = PhoneState::parse(&format!(
        r#"{{"device_key":{{"chip":{{"state":"/x"}}}},"documents":[{{"doc_type":"{MDL}","issuer_signed":"{}"}}]}}"#,
        hex(&s.documents[0].1.to_bytes())
    ))
    .unwrap();
    let held = old.held_documents().unwrap();
    assert!(matches!(
        &held[0].key,
        StoredDeviceKey::Chip { state, slot: None } if state == "/x"
    ));
    assert!(!old.to_json().contains("slot"), "absent fields stay absent");
    assert!(!old.to_json().contains("\"device_key\": null"));
    // A document's key on a chip slot; a bad per-document software key is refused.
    let chip = PhoneState::parse(&format!(
        r#"{{"device_key":{{"software":"{}"}},"documents":[{{"doc_type":"x","issuer_signed":"{}","device_key":{{"chip":{{"state":"/c","slot":"dk-1"}}}}}}]}}"#,
        hex(&s.device_key.to_bytes()),
        hex(&written.to_bytes())
    ))
    .unwrap();
    assert!(matches!(
        &chip.held_documents().unwrap()[0].key,
        StoredDeviceKey::Chip { slot: Some(slot), .. } if slot == "dk-1"
    ));
    let bad = PhoneState::parse(&format!(
        r#"{{"device_key":{{"software":"{}"}},"documents":[{{"doc_type":"x","issuer_signed":"{}","device_key":{{"software":"00"}}}}]}}"#,
        hex(&s.device_key.to_bytes()),
        hex(&written.to_bytes())
    ))
    .unwrap();
    assert_eq!(bad.held_documents().unwrap_err(), StateError::DeviceKey);
    // The state's own key is checked even when no document uses it.
    let bad_state_key =
        PhoneState::parse(r#"{"device_key":{"software":"zz"},"documents":[]}"#).unwrap();
    assert_eq!(
        bad_state_key.held_documents().unwrap_err(),
        StateError::DeviceKey
    );
}
