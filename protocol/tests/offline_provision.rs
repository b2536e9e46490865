//! Writing at the counter (`offline::provision`, our extension): the terminal's and the
//! phone's state machines against each other, then a terminal that is not trusted or does not
//! authenticate, a phone that answers like a plain wallet, and a terminal that tampers: a
//! document not bound to the new key, another document type, a modified item, a replayed or
//! out-of-order store message, a proof of possession from another session.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use kazashi_protocol::offline::crypto::{self, Role, SessionCipher};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::pki::{TrustList, Usage};
use kazashi_protocol::offline::provision::{
    self, AwaitingKey, AwaitingStore, HolderWrite, KeyRequested, TerminalWrite, WriteRefusal,
};
use kazashi_protocol::offline::session::{SessionData, SessionStatus};
use kazashi_protocol::offline::verify::verify_issuer_auth;
use kazashi_protocol::offline::*;
use mdoc::*;
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const NFC: NfcOptions = NfcOptions {
    max_command_len: 255,
    max_response_len: 256,
};

struct World {
    issuer: Party,
    terminal: Party,
}

impl World {
    fn new() -> Self {
        Self {
            issuer: Party::new("Test Issuer", Usage::DocumentSigner),
            terminal: Party::new("Test Counter", Usage::ReaderAuth),
        }
    }

    /// The terminal's signed write request on `reader`'s session.
    fn start_write(&self, reader: Reader) -> (AwaitingKey, Vec<u8>) {
        TerminalWrite::start(reader, MDL, &self.terminal.leaf_key, &self.terminal.chain()).unwrap()
    }

    /// A document from the issuer for `key`, valid now.
    fn issue(&self, key: &p256::PublicKey) -> IssuerSigned {
        issue(&self.issuer, key, validity(NOW - DAY, NOW + YEAR))
    }
}

/// A phone engaged by QR; a terminal that scanned it with a known ephemeral key, and a
/// shadow of the terminal's cipher (a tampering terminal that can encrypt what it likes).
struct Session {
    holder: Holder,
    reader: Reader,
    shadow: SessionCipher,
}

fn session() -> Session {
    let holder = Holder::new(vec![RetrievalMethod::Nfc(NFC)], &mut OsRng);
    let engagement = DeviceEngagement::from_qr(&holder.engagement().to_qr()).unwrap();
    let e_reader_key = SecretKey::random(&mut OsRng);
    let reader = Reader::with_key(&engagement, &Handover::Qr, e_reader_key.clone());
    let shared = crypto::shared_secret(&e_reader_key, engagement.e_device_key());
    let (sk_reader, sk_device) = crypto::session_keys(&shared, reader.transcript());
    Session {
        holder,
        reader,
        shadow: SessionCipher::new(Role::Reader, &sk_reader, &sk_device),
    }
}

fn data(raw: &[u8]) -> Vec<u8> {
    SessionData::parse(raw).unwrap().data.unwrap()
}

/// The phone's reading of the terminal's message: a request.
fn take_request(holder: &mut Holder, message: &[u8]) -> DeviceRequest {
    let HolderEvent::Request(request) = holder.handle_message(message).unwrap() else {
        panic!("expected a request");
    };
    request
}

/// A write up to the phone's authorisation (with `trust`) of the terminal's signed request.
struct Requested {
    terminal: AwaitingKey,
    establishment: Vec<u8>,
    requested: KeyRequested,
    /// In step with the terminal's cipher.
    shadow: SessionCipher,
}

fn requested(world: &World, trust: &TrustList) -> Requested {
    let Session {
        mut holder,
        reader,
        mut shadow,
    } = session();
    let (terminal, establishment) = world.start_write(reader);
    shadow.encrypt(b"establishment").unwrap();
    let request = take_request(&mut holder, &establishment);
    assert!(provision::is_write_request(&request));
    let requested = HolderWrite::authorize(holder, &request, Some(trust), NOW).unwrap();
    Requested {
        terminal,
        establishment,
        requested,
        shadow,
    }
}

/// Runs a write up to the phone's key answer: the terminal waits for it, the phone for the
/// document. The shadow cipher is kept in step with the terminal's.
fn to_key(
    world: &World,
    trust: &TrustList,
) -> (
    AwaitingKey,
    AwaitingStore,
    Vec<u8>,
    SessionCipher,
    SecretKey,
) {
    let Requested {
        terminal,
        requested,
        mut shadow,
        ..
    } = requested(world, trust);
    assert_eq!(requested.doc_type(), MDL);
    assert_eq!(
        requested.reader().subject(),
        world.terminal.leaf.subject(),
        "the phone knows who writes"
    );
    let key = SecretKey::random(&mut OsRng);
    let (awaiting_store, key_message) = requested.respond(&SigningKey::from(&key)).unwrap();
    shadow.decrypt(&data(&key_message)).unwrap();
    (terminal, awaiting_store, key_message, shadow, key)
}

#[test]
fn a_trusted_terminal_writes_a_document_bound_to_a_fresh_key() {
    let world = World::new();
    let (terminal, awaiting_store, key_message, _, key) = to_key(&world, &world.terminal.trust());
    let received = terminal.handle(&key_message).unwrap();
    assert_eq!(received.device_key(), &key.public_key());
    let document = world.issue(received.device_key());
    let (awaiting_stored, store_message) = received.store(&document).unwrap();
    let ready = awaiting_store.handle(&store_message, NOW).unwrap();
    assert_eq!(ready.doc_type(), MDL);
    assert_eq!(ready.issuer_signed(), &document);
    assert_eq!(ready.device_key(), &key.public_key());
    let digest = ready.digest();
    let stored = ready.stored();
    let ended = SessionData::parse(&stored).unwrap();
    assert_eq!(
        ended.status,
        Some(SessionStatus::Terminated),
        "one message ends it"
    );
    let written = awaiting_stored.handle(&stored).unwrap();
    assert_eq!(written.digest(), digest);
    // What was stored verifies for a reader that trusts the issuer, with the new key.
    let verified = verify_issuer_auth(&document, &world.issuer.trust(), NOW).unwrap();
    assert_eq!(verified.mso().device_key, key.public_key());
}

#[test]
fn a_chip_can_make_the_proof_from_the_sig_structure() {
    let world = World::new();
    let Requested {
        terminal,
        requested,
        ..
    } = requested(&world, &world.terminal.trust());
    let key = SigningKey::random(&mut OsRng);
    let public = p256::PublicKey::from(key.verifying_key());
    // What a chip does: ECDSA over the SHA-256 of the Sig_structure.
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(&key, &requested.to_be_signed(&public));
    let (_, message) = requested.respond_signed(&public, &signature).unwrap();
    assert_eq!(terminal.handle(&message).unwrap().device_key(), &public);
}

/// Starts a write and lets the phone decide with `trust`; returns the phone's error and the
/// terminal's reading of the message the phone sent.
fn refused(
    world: &World,
    trust: Option<&TrustList>,
    signed: bool,
) -> (OfflineError, OfflineError, SessionData) {
    let Session {
        mut holder, reader, ..
    } = session();
    let (terminal, establishment) = if signed {
        world.start_write(reader)
    } else {
        // A terminal that asks to write without authenticating: the same request, unsigned.
        let mut reader = reader;
        let items = ItemsRequest::new(MDL).with(provision::WRITE_NAMESPACE, "keyRequest", false);
        let establishment = reader
            .request(&DeviceRequest::new(vec![DocRequest::new(items)]))
            .unwrap();
        // The terminal state of another session stands in to read the refusal's shape only.
        let (terminal, _) = world.start_write(session().reader);
        (terminal, establishment)
    };
    let request = take_request(&mut holder, &establishment);
    assert!(provision::is_write_request(&request));
    let error = HolderWrite::authorize(holder, &request, trust, NOW).unwrap_err();
    let message = SessionData::parse(&error.message).unwrap();
    let seen = terminal.handle(&error.message).unwrap_err();
    (error.error, seen, message)
}

#[test]
fn a_terminal_not_in_the_trust_list_is_refused() {
    let world = World::new();
    let other = Party::new("Another Root", Usage::ReaderAuth);
    let (phone, terminal, message) = refused(&world, Some(&other.trust()), true);
    assert_eq!(phone, OfflineError::NotTrusted);
    assert_eq!(message.status, Some(SessionStatus::Terminated));
    assert!(message.data.is_some(), "the refusal carries its reason");
    assert_eq!(
        terminal,
        OfflineError::WriteRefused(WriteRefusal::NotAuthorized)
    );
    assert_eq!(terminal.code(), "write_refused");
}

#[test]
fn a_phone_without_a_trust_list_lets_no_one_write() {
    let world = World::new();
    let (phone, terminal, _) = refused(&world, None, true);
    assert_eq!(
        phone,
        OfflineError::WriteRefused(WriteRefusal::NotAuthorized)
    );
    assert_eq!(
        terminal,
        OfflineError::WriteRefused(WriteRefusal::NotAuthorized)
    );
}

#[test]
fn an_unauthenticated_write_request_is_refused() {
    let world = World::new();
    let (phone, _, message) = refused(&world, Some(&world.terminal.trust()), false);
    assert_eq!(
        phone,
        OfflineError::WriteRefused(WriteRefusal::NotAuthorized)
    );
    assert_eq!(message.status, Some(SessionStatus::Terminated));
}

#[test]
fn a_read_request_is_not_a_write_request() {
    let Session {
        mut holder,
        mut reader,
        ..
    } = session();
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let request = take_request(&mut holder, &establishment);
    assert!(!provision::is_write_request(&request));
    let error = HolderWrite::authorize(holder, &request, None, NOW).unwrap_err();
    assert_eq!(error.error, OfflineError::InvalidField("itemsRequest"));
}

#[test]
fn a_plain_wallet_answers_like_a_wallet_and_the_terminal_says_unsupported() {
    let world = World::new();
    let Session {
        mut holder, reader, ..
    } = session();
    let (terminal, establishment) = world.start_write(reader);
    take_request(&mut holder, &establishment);
    let mut response = DeviceResponse::new(Vec::new());
    response.document_errors.push((MDL.into(), 0));
    let reply = holder.respond(&response).unwrap();
    assert_eq!(
        terminal.handle(&reply).unwrap_err(),
        OfflineError::WriteUnsupported
    );
}

/// The phone's answer to a store message the tampering terminal encrypts itself.
fn tampered_store(world: &World, build: impl FnOnce(&p256::PublicKey) -> Vec<u8>) -> OfflineError {
    let (_, awaiting_store, _, mut shadow, key) = to_key(world, &world.terminal.trust());
    let plaintext = build(&key.public_key());
    let message = SessionData::data(shadow.encrypt(&plaintext).unwrap()).to_bytes();
    let error = awaiting_store.handle(&message, NOW).unwrap_err();
    let answer = SessionData::parse(&error.message).unwrap();
    assert_eq!(answer.status, Some(error.error.session_status()));
    error.error
}

#[test]
fn a_document_not_bound_to_the_new_key_is_refused() {
    let world = World::new();
    let error = tampered_store(&world, |_| {
        let other = SecretKey::random(&mut OsRng).public_key();
        let document = world.issue(&other);
        provision::store_message(MDL, &document.to_bytes())
    });
    assert_eq!(error, OfflineError::KeyNotBound);
    assert_eq!(WriteRefusal::for_error(&error), WriteRefusal::KeyNotBound);
}

#[test]
fn the_terminal_itself_refuses_to_send_a_document_for_another_key() {
    let world = World::new();
    let (terminal, _, key_message, _, _) = to_key(&world, &world.terminal.trust());
    let received = terminal.handle(&key_message).unwrap();
    let other = SecretKey::random(&mut OsRng).public_key();
    let document = world.issue(&other);
    assert_eq!(
        received.store(&document).unwrap_err(),
        OfflineError::KeyNotBound
    );
}

#[test]
fn another_document_type_is_refused() {
    let world = World::new();
    // The store message names another type than the authorised one.
    let error = tampered_store(&world, |key| {
        let document = world.issue(key);
        provision::store_message("org.example.other", &document.to_bytes())
    });
    assert_eq!(error, OfflineError::DocTypeMismatch);
    // The MSO is of another type than the one authorised.
    let error = tampered_store(&world, |key| {
        let document = kazashi_protocol::offline::present::issue(
            "org.example.other",
            &mdl_elements(),
            key,
            validity(NOW - DAY, NOW + YEAR),
            &world.issuer.leaf_key,
            &world.issuer.chain(),
            &mut OsRng,
        );
        provision::store_message(MDL, &document.to_bytes())
    });
    assert_eq!(error, OfflineError::DocTypeMismatch);
}

#[test]
fn a_modified_item_or_a_forged_issuer_signature_is_refused() {
    let world = World::new();
    let error = tampered_store(&world, |key| {
        let mut document = world.issue(key);
        let other = world.issue(key);
        // An item from another issuance: well formed, issuer-signed, not this MSO's.
        document.name_spaces[0].1[0] = other.name_spaces[0].1[0].clone();
        provision::store_message(MDL, &document.to_bytes())
    });
    assert!(
        matches!(
            error,
            OfflineError::DigestMismatch | OfflineError::DigestMissing
        ),
        "{error:?}"
    );
    let error = tampered_store(&world, |key| {
        let mut document = world.issue(key);
        let forged = issue(&world.terminal, key, validity(NOW - DAY, NOW + YEAR));
        // Another signer's signature over this MSO: the x5chain names the issuer.
        let last = document.issuer_auth.len() - 64;
        let forged_sig = &forged.issuer_auth[forged.issuer_auth.len() - 64..];
        document.issuer_auth[last..].copy_from_slice(forged_sig);
        provision::store_message(MDL, &document.to_bytes())
    });
    assert_eq!(error, OfflineError::InvalidIssuerSignature);
    let error = tampered_store(&world, |key| {
        let document = issue(&world.issuer, key, validity(NOW - 3 * DAY, NOW - DAY));
        provision::store_message(MDL, &document.to_bytes())
    });
    assert_eq!(error, OfflineError::MsoExpired);
}

#[test]
fn a_store_message_out_of_order_or_replayed_does_not_decrypt() {
    let world = World::new();
    // Wrong counter: the terminal skipped a message.
    let (_, awaiting_store, _, mut shadow, key) = to_key(&world, &world.terminal.trust());
    let document = world.issue(&key.public_key());
    shadow.encrypt(b"skipped").unwrap();
    let message = SessionData::data(
        shadow
            .encrypt(&provision::store_message(MDL, &document.to_bytes()))
            .unwrap(),
    )
    .to_bytes();
    let error = awaiting_store.handle(&message, NOW).unwrap_err();
    assert_eq!(error.error, OfflineError::DecryptionFailed);
    assert_eq!(
        SessionData::parse(&error.message).unwrap(),
        SessionData::status(SessionStatus::EncryptionError)
    );

    // Replay: a store message that worked in one session, sent again in another.
    let (terminal, awaiting_store, key_message, _, _) = to_key(&world, &world.terminal.trust());
    let received = terminal.handle(&key_message).unwrap();
    let document = world.issue(received.device_key());
    let (_, store_message) = received.store(&document).unwrap();
    awaiting_store.handle(&store_message, NOW).unwrap();
    let (_, next_phone, _, _, _) = to_key(&world, &world.terminal.trust());
    let error = next_phone.handle(&store_message, NOW).unwrap_err();
    assert_eq!(error.error, OfflineError::DecryptionFailed);

    // The key request replayed to the store step of its own session: counter 1 again.
    let Requested {
        establishment,
        requested,
        ..
    } = requested(&world, &world.terminal.trust());
    let (awaiting_store, _) = requested.respond(&SigningKey::random(&mut OsRng)).unwrap();
    let first = kazashi_protocol::offline::session::SessionEstablishment::parse(&establishment)
        .unwrap()
        .data;
    let error = awaiting_store
        .handle(&SessionData::data(first).to_bytes(), NOW)
        .unwrap_err();
    assert_eq!(error.error, OfflineError::DecryptionFailed);
}

#[test]
fn a_proof_of_possession_from_another_session_or_key_is_refused() {
    let world = World::new();
    // The proof of session A, sent in session B.
    let requested_a = requested(&world, &world.terminal.trust()).requested;
    let key = SigningKey::random(&mut OsRng);
    let public = p256::PublicKey::from(key.verifying_key());
    let proof_a: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(&key, &requested_a.to_be_signed(&public));

    let Requested {
        terminal: terminal_b,
        requested: requested_b,
        ..
    } = requested(&world, &world.terminal.trust());
    let (_, message) = requested_b.respond_signed(&public, &proof_a).unwrap();
    assert_eq!(
        terminal_b.handle(&message).unwrap_err(),
        OfflineError::InvalidKeyProof
    );
}

#[test]
fn a_storage_failure_reaches_the_terminal_as_a_refusal() {
    let world = World::new();
    let (terminal, awaiting_store, key_message, _, _) = to_key(&world, &world.terminal.trust());
    let received = terminal.handle(&key_message).unwrap();
    let document = world.issue(received.device_key());
    let (awaiting_stored, store_message) = received.store(&document).unwrap();
    let ready = awaiting_store.handle(&store_message, NOW).unwrap();
    let failed = ready.failed();
    assert_eq!(
        awaiting_stored.handle(&failed).unwrap_err(),
        OfflineError::WriteRefused(WriteRefusal::Storage)
    );
}

#[test]
fn refusal_codes_round_trip() {
    for reason in [
        WriteRefusal::NotAuthorized,
        WriteRefusal::DocType,
        WriteRefusal::KeyNotBound,
        WriteRefusal::InvalidDocument,
        WriteRefusal::KeyGeneration,
        WriteRefusal::Storage,
        WriteRefusal::Other,
    ] {
        assert_eq!(WriteRefusal::from_code(reason.code()), reason);
    }
    assert_eq!(
        WriteRefusal::from_code("from_the_future"),
        WriteRefusal::Other
    );
}

#[test]
fn write_error_codes_are_stable_and_end_the_session_with_20() {
    for (error, code) in [
        (
            OfflineError::WriteRefused(WriteRefusal::Storage),
            "write_refused",
        ),
        (OfflineError::WriteUnsupported, "write_unsupported"),
        (OfflineError::KeyNotBound, "key_not_bound"),
        (OfflineError::InvalidKeyProof, "invalid_key_proof"),
    ] {
        assert_eq!(error.code(), code);
        assert_eq!(error.session_status(), SessionStatus::Terminated);
        assert!(!error.to_string().is_empty());
    }
    assert!(
        OfflineError::WriteRefused(WriteRefusal::KeyNotBound)
            .to_string()
            .contains("key_not_bound")
    );
}
