//! The holder's whole NFC side as one sans-IO card — the phone role shared by `kazashi-kiosk
//! phone` and the npm package's `OfflineHolder`: the NDEF tag (NFC static handover) or a QR
//! engagement, the mdoc application, the session, the reader-authentication policy, selective
//! disclosure and device authentication (signature or MAC).
//!
//! It also accepts writes at the counter ([`super::provision`], our extension): a write request
//! from a terminal whose reader authentication verifies against the reader roots gets a fresh
//! device key (made by the shell, [`PhoneHooks::new_device_key`]) with its proof of possession;
//! the document then offered is checked and handed to the shell to store atomically
//! ([`PhoneHooks::store`]) before the phone confirms it.
//!
//! One command APDU in, one response APDU out ([`PhoneRole::transmit`]). What the shell must
//! decide or do — sign with a key it keeps elsewhere (a chip), make and store keys, ask the
//! person's consent, log — goes through [`PhoneHooks`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use p256::ecdsa::{Signature, SigningKey};
use p256::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::apdu::{Command, Response, StatusWord};

use super::engagement::{NfcOptions, RetrievalMethod};
use super::error::OfflineError;
use super::holder::{Holder, HolderEvent};
use super::nfc::{AppletAction, PhoneCard};
use super::pki::{Certificate, TrustList};
use super::present::DocumentBuilder;
use super::provision::{self, AwaitingStore, HolderWrite, WriteRefusal};
use super::request::DeviceRequest;
use super::response::{DeviceResponse, IssuerSigned};

/// How the phone engages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneEngagement {
    /// NFC static handover through its NDEF tag: a new engagement at every tap.
    Nfc,
    /// A QR code ([`PhoneRole::engagement_qr`]): it stays until a session used it.
    Qr,
}

/// How the phone authenticates its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAuthMode {
    /// `deviceSignature`.
    Signature,
    /// `deviceMac` (needs the device key itself: [`DeviceKey::Software`]).
    Mac,
}

/// A device key a document is bound to.
#[derive(Clone)]
pub enum DeviceKey {
    /// In memory: signature and MAC.
    Software(SecretKey),
    /// Kept elsewhere (a chip) under this name: [`PhoneHooks::sign_digest`] signs; signature
    /// only.
    External(String),
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Software(_) => f.write_str("DeviceKey::Software(..)"),
            Self::External(name) => f.debug_tuple("DeviceKey::External").field(name).finish(),
        }
    }
}

/// A document the phone holds, with the key it is bound to.
#[derive(Clone, Debug)]
pub struct PhoneDocument {
    /// The document type.
    pub doc_type: String,
    /// The document.
    pub issuer_signed: IssuerSigned,
    /// Its device key.
    pub key: DeviceKey,
}

/// A fresh device key made for a write ([`PhoneHooks::new_device_key`]).
#[derive(Clone, Debug)]
pub struct NewDeviceKey {
    /// The key (an external one proves possession through [`PhoneHooks::sign_digest`]).
    pub key: DeviceKey,
    /// Its public key.
    pub public: PublicKey,
}

/// The phone's policy and settings.
#[derive(Clone, Debug)]
pub struct PhoneOptions {
    /// Engagement.
    pub engagement: PhoneEngagement,
    /// Device authentication.
    pub auth: DeviceAuthMode,
    /// Reader roots: when set, a signed request must verify against them.
    pub reader_trust: Option<TrustList>,
    /// Refuse requests without reader authentication.
    pub require_reader_auth: bool,
    /// The NFC limits announced.
    pub nfc: NfcOptions,
}

/// What happened, for the shell's log or its user interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneEvent {
    /// A signed request verified against the reader roots: the reader certificate's subject.
    ReaderAuthenticated(String),
    /// The request was not signed (or no reader roots are set).
    ReaderNotAuthenticated,
    /// A document request was refused: its doc type and why (`reader_auth_required`, a
    /// reader-authentication [`OfflineError::code`], `not_held`, `declined`).
    Refused {
        /// The document type.
        doc_type: String,
        /// Why.
        reason: &'static str,
    },
    /// Items of a document were released.
    Released {
        /// The document type.
        doc_type: String,
        /// How many items.
        items: usize,
    },
    /// The reader ended the session.
    SessionEnded,
    /// A reader message was refused; the session ended with its status.
    MessageRefused(OfflineError),
    /// The request could not be answered (no usable device key, signing failed).
    CannotAnswer(&'static str),
    /// A write was refused: a [`WriteRefusal`] or [`OfflineError`] code.
    WriteRefused(&'static str),
    /// An authenticated terminal asks to write a document: its type and the terminal
    /// certificate's subject.
    WriteAuthorized {
        /// The document type.
        doc_type: String,
        /// The terminal's certificate subject.
        reader: String,
    },
    /// The fresh key and its proof were sent.
    NewKeySent,
    /// The document offered was refused: the code.
    DocumentRefused(&'static str),
    /// The written document was stored; the phone now holds `documents`.
    Stored {
        /// The document type.
        doc_type: String,
        /// How many documents the phone holds now.
        documents: usize,
    },
}

/// What the shell decides or does for the role.
pub trait PhoneHooks {
    /// Signs a SHA-256 digest (of `DeviceAuthentication`'s ToBeSigned, or of a write's proof
    /// of possession) with the external device key `key`; `None` if it cannot. Only called for
    /// [`DeviceKey::External`].
    fn sign_digest(&mut self, _key: &str, _digest: [u8; 32]) -> Option<Signature> {
        None
    }

    /// A write of `doc_type` by an authenticated terminal: make a fresh device key (in
    /// software or elsewhere); `None` if it cannot (the write is refused). No writes by
    /// default.
    fn new_device_key(&mut self, _doc_type: &str) -> Option<NewDeviceKey> {
        None
    }

    /// Stores the verified written document `issuer_signed` of `doc_type`, bound to `key`,
    /// durably and atomically (replacing one of the same type); `true` once stored. The phone
    /// confirms the write only then.
    fn store(&mut self, _doc_type: &str, _issuer_signed: &IssuerSigned, _key: &DeviceKey) -> bool {
        false
    }

    /// The person's consent: of the items `requested` (`(namespace, element)`) of
    /// `doc_type` the phone holds, the ones to release (an empty list declines). `reader` is
    /// the authenticated reader's certificate, if any. All of them by default.
    fn consent(
        &mut self,
        _doc_type: &str,
        _reader: Option<&Certificate>,
        requested: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        requested
    }

    /// An event.
    fn event(&mut self, _event: PhoneEvent) {}
}

/// Hooks that release everything asked for and log nothing.
#[derive(Debug, Default)]
pub struct NoHooks;

impl PhoneHooks for NoHooks {}

/// The session on the card.
enum Session {
    /// An 18013-5 session (reads, and the start of a write).
    Read(Holder),
    /// A write: the key was sent, the document is due.
    Write(AwaitingStore, DeviceKey),
    /// Over.
    Done,
}

/// The phone as one ISO-DEP card.
pub struct PhoneRole {
    documents: Vec<PhoneDocument>,
    options: PhoneOptions,
    session: Session,
    qr: String,
    card: PhoneCard,
    used: bool,
}

impl fmt::Debug for PhoneRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneRole")
            .field("documents", &self.documents.len())
            .field("options", &self.options)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl PhoneRole {
    /// A phone holding `documents` (doc type, issuer-signed data) all bound to `key`, with a
    /// first engagement.
    pub fn new(
        documents: Vec<(String, IssuerSigned)>,
        key: DeviceKey,
        options: PhoneOptions,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, OfflineError> {
        if options.auth == DeviceAuthMode::Mac && matches!(key, DeviceKey::External(_)) {
            return Err(OfflineError::UnsupportedAlgorithm);
        }
        let documents = documents
            .into_iter()
            .map(|(doc_type, issuer_signed)| PhoneDocument {
                doc_type,
                issuer_signed,
                key: key.clone(),
            })
            .collect();
        Self::with_documents(documents, options, rng)
    }

    /// A phone holding `documents`, each bound to its own key, with a first engagement.
    pub fn with_documents(
        documents: Vec<PhoneDocument>,
        options: PhoneOptions,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, OfflineError> {
        if options.auth == DeviceAuthMode::Mac
            && documents
                .iter()
                .any(|d| matches!(d.key, DeviceKey::External(_)))
        {
            return Err(OfflineError::UnsupportedAlgorithm);
        }
        let (holder, card) = Self::session(&options, rng)?;
        Ok(Self {
            documents,
            options,
            qr: holder.engagement().to_qr(),
            session: Session::Read(holder),
            card,
            used: false,
        })
    }

    fn session(
        options: &PhoneOptions,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Holder, PhoneCard), OfflineError> {
        match options.engagement {
            PhoneEngagement::Nfc => {
                let (holder, select) = Holder::with_nfc_handover(options.nfc, rng);
                let card = PhoneCard::new(Some(select.as_bytes()))?;
                Ok((holder, card))
            }
            PhoneEngagement::Qr => {
                let holder = Holder::new(alloc::vec![RetrievalMethod::Nfc(options.nfc)], rng);
                Ok((holder, PhoneCard::new(None)?))
            }
        }
    }

    /// The current engagement as QR text (`mdoc:…`).
    pub fn engagement_qr(&self) -> String {
        self.qr.clone()
    }

    /// The settings.
    pub fn options(&self) -> &PhoneOptions {
        &self.options
    }

    /// How many documents the phone holds.
    pub fn document_count(&self) -> usize {
        self.documents.len()
    }

    /// The documents the phone holds (with those written since it started).
    pub fn documents(&self) -> &[PhoneDocument] {
        &self.documents
    }

    /// A new tap (power on, reset): NFC engages anew every time; a QR engagement stays until a
    /// session used it. Returns whether a new engagement was made.
    pub fn tap(&mut self, rng: &mut impl CryptoRngCore) -> Result<bool, OfflineError> {
        if self.options.engagement == PhoneEngagement::Nfc || self.used {
            let (holder, card) = Self::session(&self.options, rng)?;
            self.qr = holder.engagement().to_qr();
            self.session = Session::Read(holder);
            self.card = card;
            self.used = false;
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the current session is over (the next tap starts a new one).
    pub fn is_ended(&self) -> bool {
        match &self.session {
            Session::Read(holder) => holder.is_ended(),
            Session::Write(..) => false,
            Session::Done => true,
        }
    }

    /// One command APDU in, its response APDU out. `now` (seconds since the Unix epoch) checks
    /// reader certificates.
    pub fn transmit(&mut self, apdu: &[u8], now: u64, hooks: &mut dyn PhoneHooks) -> Vec<u8> {
        let Ok(command) = Command::parse(apdu) else {
            return Response::status(StatusWord::WrongLength).to_bytes();
        };
        let response = match self.card.process(&command) {
            AppletAction::Respond(response) => response,
            AppletAction::Message(message) => {
                let reply = self.answer(&message, now, hooks);
                if self.is_ended() {
                    // The next tap (or QR) starts over.
                    self.used = true;
                }
                self.card.reply(reply.as_deref())
            }
        };
        response.to_bytes()
    }

    fn answer(&mut self, message: &[u8], now: u64, hooks: &mut dyn PhoneHooks) -> Option<Vec<u8>> {
        self.used = true;
        match core::mem::replace(&mut self.session, Session::Done) {
            Session::Read(holder) => self.answer_read(holder, message, now, hooks),
            Session::Write(awaiting, key) => Some(self.store(awaiting, key, message, now, hooks)),
            Session::Done => Some(provision::abort(&OfflineError::UnexpectedMessage)),
        }
    }

    fn answer_read(
        &mut self,
        mut holder: Holder,
        message: &[u8],
        now: u64,
        hooks: &mut dyn PhoneHooks,
    ) -> Option<Vec<u8>> {
        let reply = match holder.handle_message(message) {
            Ok(HolderEvent::Request(request)) if provision::is_write_request(&request) => {
                return Some(self.start_write(holder, &request, now, hooks));
            }
            Ok(HolderEvent::Request(request)) => {
                match self.respond(&holder, &request, now, hooks) {
                    Ok(response) => match holder.respond(&response) {
                        Ok(reply) => Some(reply),
                        Err(e) => Some(holder.abort(&e)),
                    },
                    Err(reason) => {
                        hooks.event(PhoneEvent::CannotAnswer(reason));
                        Some(holder.terminate())
                    }
                }
            }
            Ok(HolderEvent::Terminated) => {
                hooks.event(PhoneEvent::SessionEnded);
                None
            }
            Err(e) => {
                hooks.event(PhoneEvent::MessageRefused(e));
                Some(holder.abort(&e))
            }
        };
        if !holder.is_ended() {
            self.session = Session::Read(holder);
        }
        reply
    }

    /// A write request: reader authentication against the reader roots (none: no terminal
    /// may write), then a fresh key from the shell and its proof of possession.
    fn start_write(
        &mut self,
        holder: Holder,
        request: &DeviceRequest,
        now: u64,
        hooks: &mut dyn PhoneHooks,
    ) -> Vec<u8> {
        let requested = match HolderWrite::authorize(
            holder,
            request,
            self.options.reader_trust.as_ref(),
            now,
        ) {
            Ok(requested) => requested,
            Err(refusal) => {
                hooks.event(PhoneEvent::WriteRefused(refusal.error.code()));
                return refusal.message;
            }
        };
        hooks.event(PhoneEvent::WriteAuthorized {
            doc_type: requested.doc_type().into(),
            reader: requested.reader().subject(),
        });
        let Some(NewDeviceKey { key, public }) = hooks.new_device_key(requested.doc_type()) else {
            hooks.event(PhoneEvent::WriteRefused(WriteRefusal::KeyGeneration.code()));
            return requested.refuse(WriteRefusal::KeyGeneration);
        };
        let signature = match &key {
            DeviceKey::Software(secret) => {
                if secret.public_key() != public {
                    None
                } else {
                    Some(p256::ecdsa::signature::Signer::sign(
                        &SigningKey::from(secret),
                        &requested.to_be_signed(&public),
                    ))
                }
            }
            DeviceKey::External(name) => {
                let digest: [u8; 32] = Sha256::digest(requested.to_be_signed(&public)).into();
                hooks.sign_digest(name, digest)
            }
        };
        let Some(signature) = signature else {
            hooks.event(PhoneEvent::WriteRefused(WriteRefusal::KeyGeneration.code()));
            return requested.refuse(WriteRefusal::KeyGeneration);
        };
        match requested.respond_signed(&public, &signature) {
            Ok((awaiting, reply)) => {
                hooks.event(PhoneEvent::NewKeySent);
                self.session = Session::Write(awaiting, key);
                reply
            }
            Err(refusal) => {
                hooks.event(PhoneEvent::WriteRefused(refusal.error.code()));
                refusal.message
            }
        }
    }

    /// The document: checked against the new key, stored by the shell, confirmed.
    fn store(
        &mut self,
        awaiting: AwaitingStore,
        key: DeviceKey,
        message: &[u8],
        now: u64,
        hooks: &mut dyn PhoneHooks,
    ) -> Vec<u8> {
        let ready = match awaiting.handle(message, now) {
            Ok(ready) => ready,
            Err(refusal) => {
                hooks.event(PhoneEvent::DocumentRefused(refusal.error.code()));
                return refusal.message;
            }
        };
        if !hooks.store(ready.doc_type(), ready.issuer_signed(), &key) {
            return ready.failed();
        }
        let doc_type = String::from(ready.doc_type());
        self.documents.retain(|d| d.doc_type != doc_type);
        self.documents.push(PhoneDocument {
            doc_type: doc_type.clone(),
            issuer_signed: ready.issuer_signed().clone(),
            key,
        });
        hooks.event(PhoneEvent::Stored {
            doc_type,
            documents: self.documents.len(),
        });
        ready.stored()
    }

    /// The response to a request: per document, the reader policy, consent, selective
    /// disclosure and device authentication. `Err` (a reason) when it cannot be answered.
    fn respond(
        &self,
        holder: &Holder,
        request: &DeviceRequest,
        now: u64,
        hooks: &mut dyn PhoneHooks,
    ) -> Result<DeviceResponse, &'static str> {
        let transcript = holder.transcript().cloned().ok_or("no_session")?;
        let mut response = DeviceResponse::new(Vec::new());
        for doc_request in &request.doc_requests {
            let wanted = doc_request.items_request();
            let refuse = |reason: &'static str,
                          response: &mut DeviceResponse,
                          hooks: &mut dyn PhoneHooks| {
                hooks.event(PhoneEvent::Refused {
                    doc_type: wanted.doc_type.clone(),
                    reason,
                });
                response.document_errors.push((wanted.doc_type.clone(), 0));
            };
            let reader = match &self.options.reader_trust {
                Some(trust) => doc_request.verify_reader_auth(&transcript, trust, now),
                None => Ok(None),
            };
            let reader = match reader {
                Ok(Some(cert)) => {
                    hooks.event(PhoneEvent::ReaderAuthenticated(cert.subject()));
                    Some(cert)
                }
                Ok(None) if self.options.require_reader_auth => {
                    refuse("reader_auth_required", &mut response, hooks);
                    continue;
                }
                Ok(None) => {
                    hooks.event(PhoneEvent::ReaderNotAuthenticated);
                    None
                }
                Err(e) => {
                    refuse(e.code(), &mut response, hooks);
                    continue;
                }
            };
            let Some(PhoneDocument {
                doc_type,
                issuer_signed: stored,
                key,
            }) = self
                .documents
                .iter()
                .find(|d| d.doc_type == wanted.doc_type)
            else {
                refuse("not_held", &mut response, hooks);
                continue;
            };
            // Of what is asked, what the phone holds; then what the person allows.
            let mut held = Vec::new();
            for (ns, items) in &stored.name_spaces {
                for item in items {
                    if wanted.requests(ns, &item.element_identifier) {
                        held.push((ns.clone(), item.element_identifier.clone()));
                    }
                }
            }
            let allowed = hooks.consent(doc_type, reader.as_ref(), held.clone());
            let allowed: Vec<_> = allowed.into_iter().filter(|i| held.contains(i)).collect();
            if allowed.is_empty() {
                refuse("declined", &mut response, hooks);
                continue;
            }
            let selected =
                stored.select(|ns, e| allowed.iter().any(|(n, name)| n == ns && name == e));
            let builder = DocumentBuilder::new(doc_type, selected);
            let document = match (self.options.auth, key) {
                (DeviceAuthMode::Mac, DeviceKey::Software(key)) => {
                    let e_reader_key = *holder.e_reader_key().ok_or("no_session")?;
                    builder.mac(&transcript, key, &e_reader_key)
                }
                (DeviceAuthMode::Signature, DeviceKey::Software(key)) => {
                    builder.sign(&transcript, &SigningKey::from(key))
                }
                (DeviceAuthMode::Signature, DeviceKey::External(name)) => {
                    let digest: [u8; 32] = Sha256::digest(builder.to_be_signed(&transcript)).into();
                    let signature = hooks.sign_digest(name, digest).ok_or("signing_failed")?;
                    builder.with_signature(&signature)
                }
                (DeviceAuthMode::Mac, DeviceKey::External(_)) => {
                    return Err("no_usable_device_key");
                }
            };
            hooks.event(PhoneEvent::Released {
                doc_type: doc_type.clone(),
                items: allowed.len(),
            });
            response.documents.push(document);
        }
        Ok(response)
    }
}
