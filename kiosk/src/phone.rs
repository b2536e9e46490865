//! `kazashi-kiosk phone`: the holder side, as a card attached to pcscd through vpcd. It serves
//! the NDEF tag (NFC static handover) or shows a QR engagement, then answers requests with
//! the documents of its state file, authenticated by its device key (in software, or signing
//! on its virtual chip). A power-on (a new tap) starts a new NFC engagement.

use std::path::PathBuf;

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::nfc::{AppletAction, PhoneCard};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::present::DocumentBuilder;
use kazashi_protocol::offline::{
    DeviceRequest, DeviceResponse, Holder, HolderEvent, IssuerSigned, RetrievalMethod,
};
use kazashi_se::vpcd::{VpcdCard, atr_with_history};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use crate::chip::Chip;
use crate::error::KioskError;
use crate::files::{self, DeviceKey, PhoneState};

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
}

/// The phone as a vpcd card.
pub(crate) struct Phone {
    documents: Vec<(String, IssuerSigned)>,
    software_key: Option<SecretKey>,
    chip: Option<Chip>,
    options: PhoneOptions,
    holder: Holder,
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
        let chip = match &state.device_key {
            DeviceKey::Chip { state } => Some(Chip::open(state)?),
            DeviceKey::Software(_) => None,
        };
        let software_key = state.software_key()?;
        if options.auth == Auth::Mac && software_key.is_none() {
            return Err(KioskError::Usage(
                "--auth mac needs a software device key (the chip's applet does no ECDH)".into(),
            ));
        }
        let (holder, card) = Self::session(&options)?;
        Ok(Self {
            documents: state.documents()?,
            software_key,
            chip,
            options,
            holder,
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
                self.holder = holder;
                self.card = card;
                self.used = false;
            }
            Err(e) => log(&format!("cannot start a session: {e}")),
        }
    }

    fn respond(&mut self, request: &DeviceRequest) -> Result<DeviceResponse, KioskError> {
        let transcript = self
            .holder
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
            let Some((doc_type, stored)) =
                self.documents.iter().find(|(t, _)| *t == wanted.doc_type)
            else {
                response.document_errors.push((wanted.doc_type.clone(), 0));
                continue;
            };
            let selected = stored.select(|ns, e| wanted.requests(ns, e));
            let builder = DocumentBuilder::new(doc_type, selected);
            let document = match (self.options.auth, &self.software_key, &mut self.chip) {
                (Auth::Mac, Some(key), _) => {
                    let e_reader_key = *self
                        .holder
                        .e_reader_key()
                        .ok_or_else(|| KioskError::Usage("no session".into()))?;
                    builder.mac(&transcript, key, &e_reader_key)
                }
                (Auth::Signature, Some(key), _) => {
                    builder.sign(&transcript, &SigningKey::from(key))
                }
                (Auth::Signature, None, Some(chip)) => {
                    let digest: [u8; 32] = Sha256::digest(builder.to_be_signed(&transcript)).into();
                    let signature = chip.sign_digest(digest)?;
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
        match self.holder.handle_message(message) {
            Ok(HolderEvent::Request(request)) => match self.respond(&request) {
                Ok(response) => match self.holder.respond(&response) {
                    Ok(reply) => Some(reply),
                    Err(e) => Some(self.holder.abort(&e)),
                },
                Err(e) => {
                    log(&format!("cannot answer: {e}"));
                    Some(self.holder.terminate())
                }
            },
            Ok(HolderEvent::Terminated) => {
                log("the reader ended the session");
                None
            }
            Err(e) => {
                log(&format!("refused a message: {} ({})", e, e.code()));
                Some(self.holder.abort(&e))
            }
        }
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
                if self.holder.is_ended() {
                    // The next tap (or QR) starts over.
                    self.used = true;
                }
                self.card.reply(reply.as_deref())
            }
        };
        response.to_bytes()
    }
}
