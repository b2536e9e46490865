//! Writing at the counter: our extension to ISO/IEC 18013-5 (not part of the standard). An
//! authenticated counter terminal has the phone generate a fresh device key, issues a
//! document bound to it, and the phone stores it. It runs on the session keys and counters of
//! an ordinary 18013-5 session (`SessionEstablishment`, then `SessionData`), so the messages
//! are encrypted and bound to the transcript like a read.
//!
//! ```text
//! terminal                                              phone (holder)
//! SessionEstablishment{DeviceRequest: itemsRequest
//!   {docType D, nameSpaces {"kz.write": {"keyRequest": false}}} + readerAuth}  ──▶
//!                        reader authentication against the phone's trust list, then a
//!                        fresh device key (on the chip) and its proof of possession
//!          ◀── SessionData{"kz.write": "key", docType, deviceKey, proof}
//! issues an MSO bound to deviceKey
//! SessionData{"kz.write": "store", docType, issuerSigned}  ──▶
//!                        checks docType, issuer signature, digests, MSO device key = the
//!                        new key; stores atomically
//!          ◀── SessionData{"kz.write": "stored", digest, status 20}
//! ```
//!
//! - The key request is the reader-authenticated `ItemsRequest` itself: the reader's
//!   signature covers the transcript, the document type and the `kz.write` namespace, so an
//!   authorisation is for writing that document type in this session only.
//! - The proof of possession is an ES256 `COSE_Sign1` with a detached payload,
//!   `KeyProofBytes = #6.24(bstr .cbor ["kz.KeyProof", SessionTranscript, DocType,
//!   DeviceKeyBytes])`, made with the new key (a chip signs the SHA-256 of its
//!   `Sig_structure`, as for `deviceSignature`).
//! - `digest` is the SHA-256 of the `IssuerSigned` bytes as the phone received them.
//! - A refusal is `SessionData{"kz.write": "refused", "reason": tstr}` with status 20; a
//!   message that does not decrypt or decode ends the session with status 10 or 11 alone.
//! - A real 18013-5 wallet that does not know the extension answers the key request with an
//!   ordinary `DeviceResponse` (no such document): the terminal reports
//!   [`OfflineError::WriteUnsupported`] and ends the session.
//!
//! Typestate. Phone: [`HolderWrite::authorize`] (consumes the [`Holder`] after the request,
//! verifies reader authentication) → [`KeyRequested`] → [`AwaitingStore`] → [`StoreReady`].
//! The only way to a state that accepts a document is through `authorize`, which needs a
//! reader certificate that chains to the phone's trust list. Terminal: [`TerminalWrite::start`]
//! (consumes a fresh [`Reader`]) → [`AwaitingKey`] → [`KeyReceived`] → [`AwaitingStored`] →
//! [`Written`]. Every state consumes itself; an error ends the session.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use p256::PublicKey;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cbor;
use super::cose;
use super::crypto::SessionCipher;
use super::error::OfflineError;
use super::holder::Holder;
use super::mso::MobileSecurityObject;
use super::pki::{Certificate, TrustList};
use super::reader::Reader;
use super::request::{DeviceRequest, DocRequest, ItemsRequest};
use super::response::{DeviceResponse, IssuerSigned};
use super::session::{SessionData, SessionStatus};
use super::transcript::SessionTranscript;
use super::verify::check_digests;

/// The namespace of a write request, and the key of every extension message.
pub const WRITE_NAMESPACE: &str = "kz.write";
/// The element of a write request's namespace.
pub const KEY_REQUEST: &str = "keyRequest";
/// The context string of the proof of possession.
pub const KEY_PROOF_CONTEXT: &str = "kz.KeyProof";

/// Why the phone refused a write (sent as `reason`, a stable snake_case code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteRefusal {
    /// The request had no reader authentication, or it did not verify against the phone's
    /// trust list (`not_authorized`).
    NotAuthorized,
    /// The document type is not the one authorised (`doc_type`).
    DocType,
    /// The MSO's device key is not the key generated for this write (`key_not_bound`).
    KeyNotBound,
    /// The document is malformed or its issuer signature or digests do not verify
    /// (`invalid_document`).
    InvalidDocument,
    /// The phone could not make a device key (`key_generation`).
    KeyGeneration,
    /// The phone could not store the document (`storage_failed`).
    Storage,
    /// Any other reason, or one this version does not know (`other`).
    Other,
}

impl WriteRefusal {
    /// The reason's code on the wire.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NotAuthorized => "not_authorized",
            Self::DocType => "doc_type",
            Self::KeyNotBound => "key_not_bound",
            Self::InvalidDocument => "invalid_document",
            Self::KeyGeneration => "key_generation",
            Self::Storage => "storage_failed",
            Self::Other => "other",
        }
    }

    /// The reason for a code; unknown codes are [`Other`](Self::Other).
    pub fn from_code(code: &str) -> Self {
        match code {
            "not_authorized" => Self::NotAuthorized,
            "doc_type" => Self::DocType,
            "key_not_bound" => Self::KeyNotBound,
            "invalid_document" => Self::InvalidDocument,
            "key_generation" => Self::KeyGeneration,
            "storage_failed" => Self::Storage,
            _ => Self::Other,
        }
    }

    /// The refusal the phone sends for an error while handling a write.
    pub fn for_error(error: &OfflineError) -> Self {
        match error {
            OfflineError::NotTrusted
            | OfflineError::InvalidReaderSignature
            | OfflineError::WrongKeyUsage
            | OfflineError::CertificateExpired
            | OfflineError::CertificateNotYetValid
            | OfflineError::InvalidCertificate => Self::NotAuthorized,
            OfflineError::WriteRefused(reason) => *reason,
            OfflineError::DocTypeMismatch => Self::DocType,
            OfflineError::KeyNotBound => Self::KeyNotBound,
            OfflineError::InvalidIssuerSignature
            | OfflineError::DigestMismatch
            | OfflineError::DigestMissing
            | OfflineError::MsoExpired
            | OfflineError::MsoNotYetValid
            | OfflineError::MissingField(_)
            | OfflineError::InvalidField(_)
            | OfflineError::InvalidKey
            | OfflineError::UnsupportedAlgorithm
            | OfflineError::MalformedCbor => Self::InvalidDocument,
            _ => Self::Other,
        }
    }
}

/// Whether a device request is a write request (one document request whose only namespace
/// is `kz.write`). A phone hands such a request to [`HolderWrite::authorize`].
pub fn is_write_request(request: &DeviceRequest) -> bool {
    write_doc_request(request).is_some()
}

fn write_doc_request(request: &DeviceRequest) -> Option<&DocRequest> {
    match request.doc_requests.as_slice() {
        [one] => {
            let items = one.items_request();
            (items.name_spaces.len() == 1
                && items.name_spaces[0].0 == WRITE_NAMESPACE
                && items.requests(WRITE_NAMESPACE, KEY_REQUEST))
            .then_some(one)
        }
        _ => None,
    }
}

/// The signed device request that starts a write of `doc_type`.
pub fn write_request(
    doc_type: &str,
    transcript: &SessionTranscript,
    reader_key: &SigningKey,
    chain: &[Vec<u8>],
) -> DeviceRequest {
    let items = ItemsRequest::new(doc_type).with(WRITE_NAMESPACE, KEY_REQUEST, false);
    DeviceRequest::new(vec![DocRequest::signed(
        items, transcript, reader_key, chain,
    )])
}

/// `KeyProofBytes` for a new device key.
pub fn key_proof_bytes(
    transcript: &SessionTranscript,
    doc_type: &str,
    device_key: &PublicKey,
) -> Vec<u8> {
    let mut array = vec![0x84];
    array.extend(cbor::encode(&cbor::tstr(KEY_PROOF_CONTEXT)));
    array.extend_from_slice(transcript.as_bytes());
    array.extend(cbor::encode(&cbor::tstr(doc_type)));
    let key = cose::encode_key(device_key);
    cbor::push_head(&mut array, 2, key.len() as u64);
    array.extend_from_slice(&key);
    cbor::wrap_tag24(&array)
}

/// An encrypted session: the cipher and transcript taken from a [`Holder`] or a [`Reader`].
struct Channel {
    cipher: SessionCipher,
    transcript: SessionTranscript,
}

impl Channel {
    /// `SessionData` with the encrypted message, and status 20 when `end`.
    fn send(&mut self, plaintext: &[u8], end: bool) -> Result<Vec<u8>, OfflineError> {
        let data = self.cipher.encrypt(plaintext)?;
        Ok(SessionData {
            data: Some(data),
            status: end.then_some(SessionStatus::Terminated),
        }
        .to_bytes())
    }

    /// The plaintext of a `SessionData` and whether the peer ended the session with it.
    fn receive(&mut self, raw: &[u8]) -> Result<(Vec<u8>, bool), OfflineError> {
        let message = SessionData::parse(raw)?;
        match (message.data, message.status) {
            (_, Some(status @ (SessionStatus::EncryptionError | SessionStatus::DecodingError))) => {
                Err(OfflineError::PeerError(status))
            }
            (None, _) => Err(OfflineError::SessionTerminated),
            (Some(data), status) => Ok((
                self.cipher.decrypt(&data)?,
                status == Some(SessionStatus::Terminated),
            )),
        }
    }

    /// A refusal with status 20.
    fn refusal(&mut self, reason: WriteRefusal) -> Vec<u8> {
        let message = cbor::encode(&Value::Map(vec![
            (cbor::tstr(WRITE_NAMESPACE), cbor::tstr("refused")),
            (cbor::tstr("reason"), cbor::tstr(reason.code())),
        ]));
        self.send(&message, true)
            .unwrap_or_else(|error| abort(&error))
    }
}

/// The `SessionData` that ends a session because of `error` (status 10, 11 or 20), for a
/// side that cannot or need not encrypt a reason.
pub fn abort(error: &OfflineError) -> Vec<u8> {
    SessionData::status(error.session_status()).to_bytes()
}

/// A phone-side failure: the error, and the message that tells the terminal (a refusal, or a
/// bare status when the terminal's message did not decrypt or decode).
#[derive(Debug)]
pub struct HolderWriteError {
    /// What went wrong.
    pub error: OfflineError,
    /// The `SessionData` to send before leaving.
    pub message: Vec<u8>,
}

impl HolderWriteError {
    fn new(channel: &mut Channel, error: OfflineError) -> Self {
        let message = match error.session_status() {
            SessionStatus::Terminated => channel.refusal(WriteRefusal::for_error(&error)),
            _ => abort(&error),
        };
        Self { error, message }
    }
}

/// The extension message of `raw` (a map with `kz.write`), its kind and the map.
fn extension<'a>(raw: &'a [u8]) -> Result<(String, cbor::RawMap<'a>), OfflineError> {
    let map = cbor::map(raw, "kz.write")?;
    let kind = cbor::text(map.required(WRITE_NAMESPACE)?, WRITE_NAMESPACE)?;
    Ok((kind, map))
}

/// The phone's side of a write.
#[derive(Debug)]
pub struct HolderWrite;

impl HolderWrite {
    /// Takes over `holder`'s session after it delivered `request` (a write request, see
    /// [`is_write_request`]): the request must carry reader authentication that verifies
    /// against `trust` at `now`. No trust list means no terminal may write.
    pub fn authorize(
        holder: Holder,
        request: &DeviceRequest,
        trust: Option<&TrustList>,
        now: u64,
    ) -> Result<KeyRequested, HolderWriteError> {
        let (cipher, transcript) = holder.into_session().map_err(|error| HolderWriteError {
            error,
            message: abort(&error),
        })?;
        let mut channel = Channel { cipher, transcript };
        let Some(doc_request) = write_doc_request(request) else {
            return Err(HolderWriteError::new(
                &mut channel,
                OfflineError::InvalidField("itemsRequest"),
            ));
        };
        let verified = match trust {
            Some(trust) => doc_request.verify_reader_auth(&channel.transcript, trust, now),
            None => Err(OfflineError::WriteRefused(WriteRefusal::NotAuthorized)),
        };
        let reader = match verified {
            Ok(Some(reader)) => reader,
            Ok(None) => {
                return Err(HolderWriteError::new(
                    &mut channel,
                    OfflineError::WriteRefused(WriteRefusal::NotAuthorized),
                ));
            }
            Err(error) => return Err(HolderWriteError::new(&mut channel, error)),
        };
        Ok(KeyRequested {
            channel,
            doc_type: doc_request.items_request().doc_type.clone(),
            reader,
        })
    }
}

/// An authenticated terminal asked for a device key for `doc_type`.
pub struct KeyRequested {
    channel: Channel,
    doc_type: String,
    reader: Certificate,
}

impl core::fmt::Debug for KeyRequested {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyRequested")
            .field("doc_type", &self.doc_type)
            .finish_non_exhaustive()
    }
}

impl KeyRequested {
    /// The document type to be written.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// The terminal's certificate (verified against the trust list).
    pub fn reader(&self) -> &Certificate {
        &self.reader
    }

    /// The `Sig_structure` a key outside this crate (the chip) signs with ECDSA P-256 /
    /// SHA-256 to prove possession of `device_key`.
    pub fn to_be_signed(&self, device_key: &PublicKey) -> Vec<u8> {
        cose::sign1_detached_tbs(&key_proof_bytes(
            &self.channel.transcript,
            &self.doc_type,
            device_key,
        ))
    }

    /// Sends the new key with its proof (a signature over [`to_be_signed`](Self::to_be_signed)).
    pub fn respond_signed(
        mut self,
        device_key: &PublicKey,
        signature: &Signature,
    ) -> Result<(AwaitingStore, Vec<u8>), HolderWriteError> {
        let proof = cose::encode(cose::sign1_from_signature(signature));
        let message = cbor::encode(&Value::Map(vec![
            (cbor::tstr(WRITE_NAMESPACE), cbor::tstr("key")),
            (cbor::tstr("docType"), cbor::tstr(&self.doc_type)),
            (
                cbor::tstr("deviceKey"),
                Value::Bytes(cose::encode_key(device_key)),
            ),
            (cbor::tstr("proof"), Value::Bytes(proof)),
        ]));
        match self.channel.send(&message, false) {
            Ok(bytes) => Ok((
                AwaitingStore {
                    channel: self.channel,
                    doc_type: self.doc_type,
                    device_key: *device_key,
                },
                bytes,
            )),
            Err(error) => Err(HolderWriteError::new(&mut self.channel, error)),
        }
    }

    /// As [`respond_signed`](Self::respond_signed) with a key held in memory.
    pub fn respond(
        self,
        device_key: &SigningKey,
    ) -> Result<(AwaitingStore, Vec<u8>), HolderWriteError> {
        let public = PublicKey::from(device_key.verifying_key());
        let signature: Signature =
            p256::ecdsa::signature::Signer::sign(device_key, &self.to_be_signed(&public));
        self.respond_signed(&public, &signature)
    }

    /// Refuses (for example, no key could be made): the refusal with status 20.
    pub fn refuse(mut self, reason: WriteRefusal) -> Vec<u8> {
        self.channel.refusal(reason)
    }
}

/// The key was sent; the document is due.
pub struct AwaitingStore {
    channel: Channel,
    doc_type: String,
    device_key: PublicKey,
}

impl core::fmt::Debug for AwaitingStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingStore")
            .field("doc_type", &self.doc_type)
            .finish_non_exhaustive()
    }
}

/// Checks a document offered for storage: the issuer's signature over the MSO with the
/// `x5chain` leaf (the phone holds no issuer trust list; the terminal's authority was checked
/// by reader authentication), the MSO's document type and device key, its validity at `now`,
/// and every item's digest.
fn check_document(
    issuer_signed: &IssuerSigned,
    doc_type: &str,
    device_key: &PublicKey,
    now: u64,
) -> Result<MobileSecurityObject, OfflineError> {
    let sign1 = cose::parse_sign1(&issuer_signed.issuer_auth, "issuerAuth")?;
    cose::check_es256(&sign1)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(OfflineError::MissingField("MobileSecurityObjectBytes"))?;
    let chain = cose::x5chain(&sign1)?;
    let signer =
        Certificate::from_der(chain.first().ok_or(OfflineError::MissingField("x5chain"))?)?;
    if !cose::verify_es256(signer.public_key(), &sign1.tbs_data(&[]), &sign1.signature) {
        return Err(OfflineError::InvalidIssuerSignature);
    }
    let mso = MobileSecurityObject::parse(cbor::tag24(payload, "MobileSecurityObjectBytes")?)?;
    if mso.doc_type != doc_type {
        return Err(OfflineError::DocTypeMismatch);
    }
    if mso.device_key != *device_key {
        return Err(OfflineError::KeyNotBound);
    }
    mso.validity.check(now)?;
    check_digests(issuer_signed, &mso)?;
    if issuer_signed.name_spaces.is_empty() {
        return Err(OfflineError::InvalidField("nameSpaces"));
    }
    Ok(mso)
}

impl AwaitingStore {
    /// The key this write is bound to.
    pub fn device_key(&self) -> &PublicKey {
        &self.device_key
    }

    /// Handles the terminal's store message: the document type is the one authorised, the
    /// MSO is signed by its `x5chain` leaf, bound to the new key and valid at `now`, and every
    /// item matches its digest. Then the caller stores it and answers with
    /// [`StoreReady::stored`].
    pub fn handle(mut self, raw: &[u8], now: u64) -> Result<StoreReady, HolderWriteError> {
        match self.parse_store(raw, now) {
            Ok((issuer_signed, digest)) => Ok(StoreReady {
                channel: self.channel,
                doc_type: self.doc_type,
                device_key: self.device_key,
                issuer_signed,
                digest,
            }),
            Err(error) => Err(HolderWriteError::new(&mut self.channel, error)),
        }
    }

    fn parse_store(
        &mut self,
        raw: &[u8],
        now: u64,
    ) -> Result<(IssuerSigned, [u8; 32]), OfflineError> {
        let (plaintext, ended) = self.channel.receive(raw)?;
        if ended {
            return Err(OfflineError::SessionTerminated);
        }
        let (kind, map) = extension(&plaintext)?;
        if kind != "store" {
            return Err(OfflineError::UnexpectedMessage);
        }
        if cbor::text(map.required("docType")?, "docType")? != self.doc_type {
            return Err(OfflineError::DocTypeMismatch);
        }
        let raw_signed = map.required("issuerSigned")?;
        let issuer_signed = IssuerSigned::parse(raw_signed)?;
        check_document(&issuer_signed, &self.doc_type, &self.device_key, now)?;
        Ok((issuer_signed, Sha256::digest(raw_signed).into()))
    }
}

/// A verified document, ready to be stored.
pub struct StoreReady {
    channel: Channel,
    doc_type: String,
    device_key: PublicKey,
    issuer_signed: IssuerSigned,
    digest: [u8; 32],
}

impl core::fmt::Debug for StoreReady {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreReady")
            .field("doc_type", &self.doc_type)
            .finish_non_exhaustive()
    }
}

impl StoreReady {
    /// The document type.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// The document (its MSO is bound to [`device_key`](Self::device_key)).
    pub fn issuer_signed(&self) -> &IssuerSigned {
        &self.issuer_signed
    }

    /// The new device key.
    pub fn device_key(&self) -> &PublicKey {
        &self.device_key
    }

    /// The SHA-256 of the `IssuerSigned` bytes received.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The document is stored: `stored` with its digest, and status 20.
    pub fn stored(mut self) -> Vec<u8> {
        let message = cbor::encode(&Value::Map(vec![
            (cbor::tstr(WRITE_NAMESPACE), cbor::tstr("stored")),
            (cbor::tstr("digest"), Value::Bytes(self.digest.to_vec())),
        ]));
        self.channel
            .send(&message, true)
            .unwrap_or_else(|error| abort(&error))
    }

    /// Storing failed: the refusal (`storage_failed`) with status 20.
    pub fn failed(mut self) -> Vec<u8> {
        self.channel.refusal(WriteRefusal::Storage)
    }
}

// --- The terminal ---

/// The terminal's side of a write.
#[derive(Debug)]
pub struct TerminalWrite;

/// What the phone's message meant, for the terminal: its extension message (kind and map
/// bytes), or an error.
fn terminal_receive(channel: &mut Channel, raw: &[u8]) -> Result<(Vec<u8>, bool), OfflineError> {
    let (plaintext, ended) = channel.receive(raw)?;
    let (kind, map) = match extension(&plaintext) {
        Ok(found) => found,
        // A wallet that does not know the extension answers with a device response.
        Err(error) => {
            return Err(if DeviceResponse::parse(&plaintext).is_ok() {
                OfflineError::WriteUnsupported
            } else {
                error
            });
        }
    };
    if kind == "refused" {
        let reason = map
            .text("reason")
            .and_then(|r| cbor::text(r, "reason").ok())
            .map_or(WriteRefusal::Other, |r| WriteRefusal::from_code(&r));
        return Err(OfflineError::WriteRefused(reason));
    }
    Ok((plaintext, ended))
}

impl TerminalWrite {
    /// Starts a write of `doc_type` on a fresh session: the session establishment carrying the
    /// reader-authenticated key request.
    pub fn start(
        mut reader: Reader,
        doc_type: &str,
        reader_key: &SigningKey,
        chain: &[Vec<u8>],
    ) -> Result<(AwaitingKey, Vec<u8>), OfflineError> {
        let request = write_request(doc_type, reader.transcript(), reader_key, chain);
        let establishment = reader.request(&request)?;
        let (cipher, transcript) = reader.into_session()?;
        Ok((
            AwaitingKey {
                channel: Channel { cipher, transcript },
                doc_type: doc_type.into(),
            },
            establishment,
        ))
    }
}

/// The key request was sent.
pub struct AwaitingKey {
    channel: Channel,
    doc_type: String,
}

impl core::fmt::Debug for AwaitingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingKey")
            .field("doc_type", &self.doc_type)
            .finish_non_exhaustive()
    }
}

impl AwaitingKey {
    /// Handles the phone's answer: the new key, for this document type, with a proof of
    /// possession bound to this session.
    pub fn handle(mut self, raw: &[u8]) -> Result<KeyReceived, OfflineError> {
        let (plaintext, ended) = terminal_receive(&mut self.channel, raw)?;
        let (kind, map) = extension(&plaintext)?;
        if kind != "key" || ended {
            return Err(OfflineError::UnexpectedMessage);
        }
        if cbor::text(map.required("docType")?, "docType")? != self.doc_type {
            return Err(OfflineError::DocTypeMismatch);
        }
        let device_key = cose::decode_key(cbor::bytes(map.required("deviceKey")?, "deviceKey")?)?;
        let proof = cose::parse_sign1(cbor::bytes(map.required("proof")?, "proof")?, "proof")?;
        cose::check_es256(&proof)?;
        if proof.payload.is_some() {
            return Err(OfflineError::InvalidField("proof"));
        }
        let payload = key_proof_bytes(&self.channel.transcript, &self.doc_type, &device_key);
        let tbs = proof.tbs_detached_data(&payload, &[]);
        if !cose::verify_es256(&device_key, &tbs, &proof.signature) {
            return Err(OfflineError::InvalidKeyProof);
        }
        Ok(KeyReceived {
            channel: self.channel,
            doc_type: self.doc_type,
            device_key,
        })
    }
}

/// The phone's new key arrived and proved itself.
pub struct KeyReceived {
    channel: Channel,
    doc_type: String,
    device_key: PublicKey,
}

impl core::fmt::Debug for KeyReceived {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyReceived")
            .field("doc_type", &self.doc_type)
            .finish_non_exhaustive()
    }
}

impl KeyReceived {
    /// The key to bind the document to (the MSO's `deviceKey`).
    pub fn device_key(&self) -> &PublicKey {
        &self.device_key
    }

    /// The document type.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// Sends the document. It must be bound to [`device_key`](Self::device_key) and be of
    /// this document type (checked here too, so a terminal bug does not reach the phone).
    pub fn store(
        mut self,
        issuer_signed: &IssuerSigned,
    ) -> Result<(AwaitingStored, Vec<u8>), OfflineError> {
        let sign1 = cose::parse_sign1(&issuer_signed.issuer_auth, "issuerAuth")?;
        let payload = sign1
            .payload
            .as_deref()
            .ok_or(OfflineError::MissingField("MobileSecurityObjectBytes"))?;
        let mso = MobileSecurityObject::parse(cbor::tag24(payload, "MobileSecurityObjectBytes")?)?;
        if mso.doc_type != self.doc_type {
            return Err(OfflineError::DocTypeMismatch);
        }
        if mso.device_key != self.device_key {
            return Err(OfflineError::KeyNotBound);
        }
        let signed = issuer_signed.to_bytes();
        let message = store_message(&self.doc_type, &signed);
        let bytes = self.channel.send(&message, false)?;
        Ok((
            AwaitingStored {
                channel: self.channel,
                digest: Sha256::digest(&signed).into(),
            },
            bytes,
        ))
    }
}

/// `{"kz.write": "store", "docType": …, "issuerSigned": …}` with the `IssuerSigned` bytes as
/// they are (the phone's digest covers them).
pub fn store_message(doc_type: &str, issuer_signed: &[u8]) -> Vec<u8> {
    let mut out = vec![0xA3];
    out.extend(cbor::encode(&cbor::tstr(WRITE_NAMESPACE)));
    out.extend(cbor::encode(&cbor::tstr("store")));
    out.extend(cbor::encode(&cbor::tstr("docType")));
    out.extend(cbor::encode(&cbor::tstr(doc_type)));
    out.extend(cbor::encode(&cbor::tstr("issuerSigned")));
    out.extend_from_slice(issuer_signed);
    out
}

/// The document was sent; the phone's confirmation is due.
pub struct AwaitingStored {
    channel: Channel,
    digest: [u8; 32],
}

impl core::fmt::Debug for AwaitingStored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingStored").finish_non_exhaustive()
    }
}

impl AwaitingStored {
    /// Handles the phone's confirmation: `stored` with the digest of what was sent.
    pub fn handle(mut self, raw: &[u8]) -> Result<Written, OfflineError> {
        let (plaintext, _ended) = terminal_receive(&mut self.channel, raw)?;
        let (kind, map) = extension(&plaintext)?;
        if kind != "stored" {
            return Err(OfflineError::UnexpectedMessage);
        }
        let digest = cbor::bytes(map.required("digest")?, "digest")?;
        if !bool::from(digest.ct_eq(&self.digest)) {
            return Err(OfflineError::DigestMismatch);
        }
        Ok(Written {
            digest: self.digest,
        })
    }
}

/// The phone confirmed the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    digest: [u8; 32],
}

impl Written {
    /// The SHA-256 of the `IssuerSigned` the phone stored.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
}
