//! `kazashi-kiosk phone`: the holder side, as a card attached to pcscd through vpcd. Every
//! protocol decision — the NDEF tag (NFC static handover) or the QR engagement, the session,
//! the reader-authentication policy, device authentication — is
//! `kazashi_protocol::offline::phone::PhoneRole`'s (shared with the npm package's
//! `OfflineHolder`); this shell holds the chip that signs for a chip-bound device key, writes
//! the QR text, and logs. A power-on (a new tap) starts a new NFC engagement.
//!
//! It also accepts writes at the counter (`offline::provision`, driven by the role): from a
//! terminal whose certificate chains to `--reader-trust`, it makes a fresh device key (on the
//! chip when it has one, else in software) and stores the document bound to it by replacing
//! its state file atomically. The state file names the new key only once it is renamed into
//! place, so a phone removed mid-write keeps the old state or the new one; a key made on the
//! chip for a write that did not finish is left unused there (an orphan, harmless): the
//! ID-store applet cannot delete keys (DELETE RECORD refuses one), so it is not cleaned up.

use std::path::{Path, PathBuf};

use kazashi_protocol::offline::IssuerSigned;
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::phone::{
    DeviceAuthMode, DeviceKey as RoleKey, NewDeviceKey, PhoneDocument, PhoneEngagement, PhoneEvent,
    PhoneHooks, PhoneOptions as RoleOptions, PhoneRole,
};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_se::vpcd::{VpcdCard, atr_with_history};
use p256::SecretKey;
use p256::ecdsa::Signature;
use rand_core::OsRng;

use crate::chip::{self, Chip};
use crate::error::KioskError;
use crate::files::{self, DeviceKey, PhoneState, PhoneStateFile, StoredDocument};

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

/// The phone as a vpcd card.
pub(crate) struct Phone {
    role: PhoneRole,
    hooks: Hooks,
    qr_out: Option<Option<PathBuf>>,
    leave_after: Option<usize>,
    apdus: usize,
}

fn log(line: &str) {
    eprintln!("kazashi-kiosk phone: {line}");
}

/// The kiosk's side of the role: the chip signs and makes keys, the state file stores
/// written documents, events are logged.
struct Hooks {
    /// The chip and its state file.
    chip: Option<(PathBuf, Chip)>,
    /// The phone's state file.
    state: PathBuf,
}

impl PhoneHooks for Hooks {
    fn sign_digest(&mut self, key: &str, digest: [u8; 32]) -> Option<Signature> {
        match self.chip.as_mut()?.1.sign_digest(key, digest) {
            Ok(signature) => Some(signature),
            Err(e) => {
                log(&format!("the chip did not sign: {e}"));
                None
            }
        }
    }

    fn new_device_key(&mut self, _doc_type: &str) -> Option<NewDeviceKey> {
        match &mut self.chip {
            Some((_, chip)) => {
                let mut name = [0u8; 8];
                rand_core::RngCore::fill_bytes(&mut OsRng, &mut name);
                let name = format!("dk-{}", hex::encode(name));
                match chip.generate(&name) {
                    Ok(public) => {
                        files::test_crash_point("after-keygen");
                        Some(NewDeviceKey {
                            key: RoleKey::External(name),
                            public,
                        })
                    }
                    Err(e) => {
                        log(&format!("cannot make a device key: {e}"));
                        None
                    }
                }
            }
            None => {
                let key = SecretKey::random(&mut OsRng);
                Some(NewDeviceKey {
                    public: key.public_key(),
                    key: RoleKey::Software(key),
                })
            }
        }
    }

    fn store(&mut self, doc_type: &str, issuer_signed: &IssuerSigned, key: &RoleKey) -> bool {
        let device_key = match (key, &self.chip) {
            (RoleKey::Software(secret), _) => DeviceKey::from_software(secret),
            (RoleKey::External(name), Some((path, _))) => DeviceKey::Chip {
                state: path.to_string_lossy().into_owned(),
                slot: Some(name.clone()),
            },
            (RoleKey::External(_), None) => return false,
        };
        let document = StoredDocument::new(doc_type, issuer_signed, Some(device_key));
        // The file as it is now (it is the truth), the document added, replaced atomically.
        let stored = PhoneState::load(&self.state).and_then(|mut state| {
            state.store(document);
            state.save(&self.state)
        });
        match stored {
            Ok(()) => true,
            Err(e) => {
                log(&format!("cannot store the document: {e}"));
                false
            }
        }
    }

    fn event(&mut self, event: PhoneEvent) {
        log(&match event {
            PhoneEvent::ReaderAuthenticated(subject) => format!("reader authenticated: {subject}"),
            PhoneEvent::ReaderNotAuthenticated => "reader not authenticated".into(),
            PhoneEvent::Refused { doc_type, reason } => {
                format!("refused {doc_type} ({reason})")
            }
            PhoneEvent::Released { doc_type, items } => {
                format!("releasing {items} item(s) of {doc_type}")
            }
            PhoneEvent::SessionEnded => "the reader ended the session".into(),
            PhoneEvent::MessageRefused(e) => format!("refused a message: {} ({})", e, e.code()),
            PhoneEvent::CannotAnswer(reason) => format!("cannot answer: {reason}"),
            PhoneEvent::WriteRefused(code) => format!("refused a write: {code}"),
            PhoneEvent::WriteAuthorized { doc_type, reader } => {
                format!("write of {doc_type} by {reader}")
            }
            PhoneEvent::NewKeySent => "new device key sent".into(),
            PhoneEvent::DocumentRefused(code) => format!("refused the document: {code}"),
            PhoneEvent::Stored {
                doc_type,
                documents,
            } => format!("stored {doc_type} ({documents} document(s) now)"),
        });
    }
}

impl Phone {
    /// A phone with the documents and device key of `state`.
    pub(crate) fn new(state: &PhoneState, options: PhoneOptions) -> Result<Self, KioskError> {
        let state_error =
            |e: kazashi_protocol::offline::state::StateError| KioskError::File(e.to_string());
        let state_chip = match &state.device_key {
            DeviceKey::Chip { state, .. } => Some(PathBuf::from(state)),
            DeviceKey::Software(_) => None,
        };
        let chip_path = options.chip.clone().or(state_chip);
        let mut documents = Vec::new();
        for held in state.held_documents().map_err(state_error)? {
            let key = match &held.key {
                DeviceKey::Chip { state, slot } => {
                    if Some(Path::new(state)) != chip_path.as_deref() {
                        return Err(KioskError::Usage(format!(
                            "{} is bound to a key on {state}, not this phone's chip",
                            held.doc_type
                        )));
                    }
                    RoleKey::External(slot.clone().unwrap_or_else(|| chip::DEFAULT_SLOT.into()))
                }
                DeviceKey::Software(_) => match held.key.software().map_err(state_error)? {
                    Some(key) => RoleKey::Software(key),
                    None => return Err(KioskError::File("device key".into())),
                },
            };
            documents.push(PhoneDocument {
                doc_type: held.doc_type,
                issuer_signed: held.issuer_signed,
                key,
            });
        }
        if options.auth == Auth::Mac
            && documents
                .iter()
                .any(|d| matches!(d.key, RoleKey::External(_)))
        {
            return Err(KioskError::Usage(
                "--auth mac needs a software device key (the chip's applet does no ECDH)".into(),
            ));
        }
        let chip = chip_path
            .map(|path| Chip::open(&path).map(|chip| (path, chip)))
            .transpose()?;
        let (engagement, qr_out) = match options.engagement {
            Engagement::Nfc => (PhoneEngagement::Nfc, None),
            Engagement::Qr(out) => (PhoneEngagement::Qr, Some(out)),
        };
        let role = PhoneRole::with_documents(
            documents,
            RoleOptions {
                engagement,
                auth: match options.auth {
                    Auth::Signature => DeviceAuthMode::Signature,
                    Auth::Mac => DeviceAuthMode::Mac,
                },
                reader_trust: options.reader_trust,
                require_reader_auth: options.require_reader_auth,
                nfc: options.nfc,
            },
            &mut OsRng,
        )
        .map_err(|e| KioskError::File(format!("engagement: {e}")))?;
        let phone = Self {
            role,
            hooks: Hooks {
                chip,
                state: options.state,
            },
            qr_out,
            leave_after: options.leave_after,
            apdus: 0,
        };
        phone.show_qr()?;
        Ok(phone)
    }

    /// QR engagement: shows the current QR text (stderr, and the `--qr-out` file).
    fn show_qr(&self) -> Result<(), KioskError> {
        if let Some(out) = &self.qr_out {
            let qr = self.role.engagement_qr();
            log(&format!("show this QR code: {qr}"));
            if let Some(path) = out {
                files::write_public(path, format!("{qr}\n").as_bytes())?;
            }
        }
        Ok(())
    }
}

impl VpcdCard for Phone {
    fn atr(&self) -> Vec<u8> {
        atr_with_history(b"kazashi-mdoc")
    }

    fn reset(&mut self) {
        // A new tap. NFC: a new engagement each time; QR: the one shown stays until used.
        match self.role.tap(&mut OsRng) {
            Ok(true) => {
                if let Err(e) = self.show_qr() {
                    log(&format!("cannot write the QR code: {e}"));
                }
            }
            Ok(false) => {}
            Err(e) => log(&format!("cannot start a session: {e}")),
        }
    }

    fn power_off(&mut self) {}

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.apdus += 1;
        if self.leave_after.is_some_and(|n| self.apdus >= n) {
            log("leaving the field (test hook)");
            std::process::exit(0);
        }
        self.role.transmit(apdu, files::now(), &mut self.hooks)
    }
}
