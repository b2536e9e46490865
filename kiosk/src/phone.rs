//! `kazashi-kiosk phone`: the holder side, as a card attached to pcscd through vpcd. It serves
//! the NDEF tag (NFC static handover) or shows a QR engagement, then answers requests with
//! the documents of its state file, authenticated by its device key (in software, or signing
//! on its virtual chip). A power-on (a new tap) starts a new NFC engagement.
//!
//! It also accepts writes at the counter (`offline::provision`): from a terminal whose
//! certificate chains to `--reader-trust`, it makes a fresh device key (on the chip when it
//! has one), and stores the document bound to it by replacing its state file atomically. The
//! state file names the new key only once it is renamed into place, so a phone removed
//! mid-write keeps the old state or the new one; a key made on the chip for a write that did
//! not finish is left unused there (an orphan, harmless).

use std::path::{Path, PathBuf};

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::nfc::{AppletAction, PhoneCard};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::present::DocumentBuilder;
use kazashi_protocol::offline::provision::{self, AwaitingStore, HolderWrite, WriteRefusal};
use kazashi_protocol::offline::{
    DeviceRequest, DeviceResponse, Holder, HolderEvent, OfflineError, RetrievalMethod,
};
use kazashi_se::vpcd::{VpcdCard, atr_with_history};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use crate::chip::{self, Chip};
use crate::error::KioskError;
use crate::files::{self, DeviceKey, HeldDocument, PhoneState, StoredDocument};

/// How the phone engages.
#[derive(Clone, Debug)]
pub(crate) enum Engagement {
    /// NFC static handover through its NDEF tag.
    Nfc,
    /// A QR code: the `mdoc:` text is written to this file (and stderr) for each session.
    Qr(Option<PathBuf>),
}

/// How the phone authenticates its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `deviceSignature`.
    Signature,
    /// `deviceMac` (needs a software device key).
    Mac,
}

/// The phone's settings.
pub(crate) struct PhoneOptions {
    /// Engagement.
    pub(crate) engagement: Engagement,
    /// Device authentication.
    pub(crate) auth: Auth,
    /// Reader roots: when set, a signed request must verify against them.
    pub(crate) reader_trust: Option<TrustList>,
    /// Refuse requests without reader authentication.
    pub(crate) require_reader_auth: bool,
    /// The NFC limits announced.
    pub(crate) nfc: NfcOptions,
    /// Test hook: leave the field (exit the process without answering) at this APDU.
    pub(crate) leave_after: Option<usize>,
    /// The state file (written documents are stored there).
    pub(crate) state: PathBuf,
    /// The virtual chip for keys made by writes (else the state's chip, else software).
    pub(crate) chip: Option<PathBuf>,
}

/// The key made for a write in progress.
enum NewKey {
    Software(SecretKey),
    Chip(String),
}

/// The session on the card.
enum Session {
    /// An 18013-5 session (reads, and the start of a write).
    Read(Box<Holder>),
    /// A write: the key was sent, the document is due.
    Write(Box<AwaitingStore>, NewKey),
    /// The session is over.
    Done,
}

/// The phone as a vpcd card.
pub(crate) struct Phone {
    documents: Vec<HeldDocument>,
    chip: Option<(PathBuf, Chip)>,
    options: PhoneOptions,
    session: Session,
    card: PhoneCard,
    used: bool,
    apdus: usize,
}

fn log(line: &str) {
    eprintln!("kazashi-kiosk phone: {line}");
}

impl Phone {
    /// A phone with the documents and device key of `state`.
    pub(crate) fn new(state: &PhoneState, options: PhoneOptions) -> Result<Self, KioskError> {
        let documents = state.documents()?;
        let state_chip = match &state.device_key {
            DeviceKey::Chip { state, .. } => Some(state.clone()),
            DeviceKey::Software(_) => None,
        };
        let chip_path = options.chip.clone().or(state_chip);
        for document in &documents {
            if let DeviceKey::Chip { state, .. } = &document.key {
                if Some(state) != chip_path.as_ref() {
                    return Err(KioskError::Usage(format!(
                        "{} is bound to a key on {}, not this phone's chip",
                        document.doc_type,
                        state.display()
                    )));
                }
            }
        }
        let chip = chip_path
            .map(|path| Chip::open(&path).map(|chip| (path, chip)))
            .transpose()?;
        if options.auth == Auth::Mac
            && documents
                .iter()
                .any(|d| matches!(d.key, DeviceKey::Chip { .. }))
        {
            return Err(KioskError::Usage(
                "--auth mac needs a software device key (the chip's applet does no ECDH)".into(),
            ));
        }
        let (holder, card) = Self::session(&options)?;
        Ok(Self {
            documents,
            chip,
            options,
            session: Session::Read(Box::new(holder)),
            card,
            used: false,
            apdus: 0,
        })
    }

    fn session(options: &PhoneOptions) -> Result<(Holder, PhoneCard), KioskError> {
        let bad = |e| KioskError::File(format!("engagement: {e}"));
        match &options.engagement {
            Engagement::Nfc => {
                let (holder, select) = Holder::with_nfc_handover(options.nfc, &mut OsRng);
                let card = PhoneCard::new(Some(select.as_bytes())).map_err(bad)?;
                Ok((holder, card))
            }
            Engagement::Qr(out) => {
                let holder = Holder::new(vec![RetrievalMethod::Nfc(options.nfc)], &mut OsRng);
                let qr = holder.engagement().to_qr();
                log(&format!("show this QR code: {qr}"));
                if let Some(path) = out {
                    files::write_public(path, format!("{qr}\n").as_bytes())?;
                }
                Ok((holder, PhoneCard::new(None).map_err(bad)?))
            }
        }
    }

    fn restart(&mut self) {
        match Self::session(&self.options) {
            Ok((holder, card)) => {
                self.session = Session::Read(Box::new(holder));
                self.card = card;
                self.used = false;
            }
            Err(e) => log(&format!("cannot start a session: {e}")),
        }
    }

    fn respond(
        &mut self,
        holder: &Holder,
        request: &DeviceRequest,
    ) -> Result<DeviceResponse, KioskError> {
        let transcript = holder
            .transcript()
            .cloned()
            .ok_or_else(|| KioskError::Usage("no session".into()))?;
        let mut response = DeviceResponse::new(Vec::new());
        for doc_request in &request.doc_requests {
            let wanted = doc_request.items_request();
            let reader = match &self.options.reader_trust {
                Some(trust) => doc_request.verify_reader_auth(&transcript, trust, files::now()),
                None => Ok(None),
            };
            match reader {
                Ok(Some(cert)) => log(&format!("reader authenticated: {}", cert.subject())),
                Ok(None) if self.options.require_reader_auth => {
                    log("refused: the reader did not authenticate");
                    response.document_errors.push((wanted.doc_type.clone(), 0));
                    continue;
                }
                Ok(None) => log("reader not authenticated"),
                Err(e) => {
                    log(&format!(
                        "refused: reader authentication failed ({})",
                        e.code()
                    ));
                    response.document_errors.push((wanted.doc_type.clone(), 0));
                    continue;
                }
            }
            let Some(held) = self
                .documents
                .iter()
                .find(|d| d.doc_type == wanted.doc_type)
            else {
                response.document_errors.push((wanted.doc_type.clone(), 0));
                continue;
            };
            let doc_type = &held.doc_type;
            let selected = held.issuer_signed.select(|ns, e| wanted.requests(ns, e));
            let builder = DocumentBuilder::new(doc_type, selected);
            let document = match (self.options.auth, &held.key, &mut self.chip) {
                (Auth::Mac, DeviceKey::Software(_), _) => {
                    let key = files::software_key(&held.key)?;
                    let e_reader_key = *holder
                        .e_reader_key()
                        .ok_or_else(|| KioskError::Usage("no session".into()))?;
                    builder.mac(&transcript, &key, &e_reader_key)
                }
                (Auth::Signature, DeviceKey::Software(_), _) => {
                    let key = files::software_key(&held.key)?;
                    builder.sign(&transcript, &SigningKey::from(&key))
                }
                (Auth::Signature, DeviceKey::Chip { slot, .. }, Some((_, chip))) => {
                    let digest: [u8; 32] = Sha256::digest(builder.to_be_signed(&transcript)).into();
                    let signature =
                        chip.sign_digest(slot.as_deref().unwrap_or(chip::DEFAULT_SLOT), digest)?;
                    builder.with_signature(&signature)
                }
                _ => return Err(KioskError::Usage("no usable device key".into())),
            };
            log(&format!(
                "releasing {} item(s) of {doc_type}",
                document
                    .issuer_signed
                    .name_spaces
                    .iter()
                    .map(|(_, items)| items.len())
                    .sum::<usize>()
            ));
            response.documents.push(document);
        }
        Ok(response)
    }

    fn answer(&mut self, message: &[u8]) -> Option<Vec<u8>> {
        self.used = true;
        match std::mem::replace(&mut self.session, Session::Done) {
            Session::Read(holder) => self.answer_read(*holder, message),
            Session::Write(awaiting, key) => Some(self.store(*awaiting, key, message)),
            Session::Done => Some(provision::abort(&OfflineError::UnexpectedMessage)),
        }
    }

    fn answer_read(&mut self, mut holder: Holder, message: &[u8]) -> Option<Vec<u8>> {
        let reply = match holder.handle_message(message) {
            Ok(HolderEvent::Request(request)) if provision::is_write_request(&request) => {
                return Some(self.start_write(holder, &request));
            }
            Ok(HolderEvent::Request(request)) => match self.respond(&holder, &request) {
                Ok(response) => match holder.respond(&response) {
                    Ok(reply) => Some(reply),
                    Err(e) => Some(holder.abort(&e)),
                },
                Err(e) => {
                    log(&format!("cannot answer: {e}"));
                    Some(holder.terminate())
                }
            },
            Ok(HolderEvent::Terminated) => {
                log("the reader ended the session");
                None
            }
            Err(e) => {
                log(&format!("refused a message: {} ({})", e, e.code()));
                Some(holder.abort(&e))
            }
        };
        if !holder.is_ended() {
            self.session = Session::Read(Box::new(holder));
        }
        reply
    }

    /// A write request: reader authentication against the trust list, then a fresh key and
    /// its proof of possession.
    fn start_write(&mut self, holder: Holder, request: &DeviceRequest) -> Vec<u8> {
        let requested = match HolderWrite::authorize(
            holder,
            request,
            self.options.reader_trust.as_ref(),
            files::now(),
        ) {
            Ok(requested) => requested,
            Err(refusal) => {
                log(&format!("refused a write: {}", refusal.error.code()));
                return refusal.message;
            }
        };
        log(&format!(
            "write of {} by {}",
            requested.doc_type(),
            requested.reader().subject()
        ));
        let made = match &mut self.chip {
            Some((_, chip)) => {
                let mut name = [0u8; 8];
                rand_core::RngCore::fill_bytes(&mut OsRng, &mut name);
                let name = format!("dk-{}", hex::encode(name));
                chip.generate(&name).and_then(|public| {
                    files::test_crash_point("after-keygen");
                    let digest: [u8; 32] = Sha256::digest(requested.to_be_signed(&public)).into();
                    let signature = chip.sign_digest(&name, digest)?;
                    Ok((public, signature, NewKey::Chip(name)))
                })
            }
            None => {
                let key = SecretKey::random(&mut OsRng);
                let public = key.public_key();
                let signature = p256::ecdsa::signature::Signer::sign(
                    &SigningKey::from(&key),
                    &requested.to_be_signed(&public),
                );
                Ok((public, signature, NewKey::Software(key)))
            }
        };
        let (public, signature, key) = match made {
            Ok(made) => made,
            Err(e) => {
                log(&format!("cannot make a device key: {e}"));
                return requested.refuse(WriteRefusal::KeyGeneration);
            }
        };
        match requested.respond_signed(&public, &signature) {
            Ok((awaiting, reply)) => {
                log("new device key sent");
                self.session = Session::Write(Box::new(awaiting), key);
                reply
            }
            Err(refusal) => refusal.message,
        }
    }

    /// The document: checked against the new key, stored atomically, confirmed.
    fn store(&mut self, awaiting: AwaitingStore, key: NewKey, message: &[u8]) -> Vec<u8> {
        let ready = match awaiting.handle(message, files::now()) {
            Ok(ready) => ready,
            Err(refusal) => {
                log(&format!("refused the document: {}", refusal.error.code()));
                return refusal.message;
            }
        };
        let device_key = match (&key, &self.chip) {
            (NewKey::Software(secret), _) => DeviceKey::Software(hex::encode(secret.to_bytes())),
            (NewKey::Chip(name), Some((path, _))) => DeviceKey::Chip {
                state: path.clone(),
                slot: Some(name.clone()),
            },
            (NewKey::Chip(_), None) => return ready.failed(),
        };
        let stored = StoredDocument {
            doc_type: ready.doc_type().to_string(),
            issuer_signed: hex::encode(ready.issuer_signed().to_bytes()),
            device_key: Some(device_key),
        };
        let path = self.options.state.clone();
        match Self::save(&path, stored) {
            Ok(documents) => {
                log(&format!(
                    "stored {} ({} document(s) now)",
                    ready.doc_type(),
                    documents.len()
                ));
                self.documents = documents;
                ready.stored()
            }
            Err(e) => {
                log(&format!("cannot store the document: {e}"));
                ready.failed()
            }
        }
    }

    fn save(path: &Path, document: StoredDocument) -> Result<Vec<HeldDocument>, KioskError> {
        let mut state = PhoneState::load(path)?;
        state.store(path, document)?;
        state.documents()
    }
}

impl VpcdCard for Phone {
    fn atr(&self) -> Vec<u8> {
        atr_with_history(b"kazashi-mdoc")
    }

    fn reset(&mut self) {
        // A new tap. NFC: a new engagement each time; QR: the one shown stays until used.
        if matches!(self.options.engagement, Engagement::Nfc) || self.used {
            self.restart();
        }
    }

    fn power_off(&mut self) {}

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.apdus += 1;
        if self.options.leave_after.is_some_and(|n| self.apdus >= n) {
            log("leaving the field (test hook)");
            std::process::exit(0);
        }
        let Ok(command) = Command::parse(apdu) else {
            return Response::status(StatusWord::WrongLength).to_bytes();
        };
        let response = match self.card.process(&command) {
            AppletAction::Respond(response) => response,
            AppletAction::Message(message) => {
                let reply = self.answer(&message);
                if matches!(self.session, Session::Done) {
                    // The next tap (or QR) starts over.
                    self.used = true;
                }
                self.card.reply(reply.as_deref())
            }
        };
        response.to_bytes()
    }
}
