//! `kazashi-kiosk phone`: the holder side, as a card attached to pcscd through vpcd. Every
//! protocol decision — the NDEF tag (NFC static handover) or the QR engagement, the session,
//! the reader-authentication policy, device authentication — is
//! `kazashi_protocol::offline::phone::PhoneRole`'s (shared with the npm package's
//! `OfflineHolder`); this shell holds the chip that signs for a chip-bound device key, writes
//! the QR text, and logs. A power-on (a new tap) starts a new NFC engagement.

use std::path::{Path, PathBuf};

use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::phone::{
    DeviceAuthMode, DeviceKey as RoleKey, PhoneEngagement, PhoneEvent, PhoneHooks,
    PhoneOptions as RoleOptions, PhoneRole,
};
use kazashi_protocol::offline::pki::TrustList;
use kazashi_se::vpcd::{VpcdCard, atr_with_history};
use p256::ecdsa::Signature;
use rand_core::OsRng;

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
    role: PhoneRole,
    hooks: Hooks,
    qr_out: Option<Option<PathBuf>>,
    leave_after: Option<usize>,
    apdus: usize,
}

fn log(line: &str) {
    eprintln!("kazashi-kiosk phone: {line}");
}

/// The kiosk's side of the role: the chip signs, events are logged.
struct Hooks {
    chip: Option<Chip>,
}

impl PhoneHooks for Hooks {
    fn sign_digest(&mut self, digest: [u8; 32]) -> Option<Signature> {
        match self.chip.as_mut()?.sign_digest(digest) {
            Ok(signature) => Some(signature),
            Err(e) => {
                log(&format!("the chip did not sign: {e}"));
                None
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
        });
    }
}

impl Phone {
    /// A phone with the documents and device key of `state`.
    pub(crate) fn new(state: &PhoneState, options: PhoneOptions) -> Result<Self, KioskError> {
        let state_error =
            |e: kazashi_protocol::offline::state::StateError| KioskError::File(e.to_string());
        let chip = match &state.device_key {
            DeviceKey::Chip { state } => Some(Chip::open(Path::new(state))?),
            DeviceKey::Software(_) => None,
        };
        let key = match state.software_key().map_err(state_error)? {
            Some(key) => RoleKey::Software(key),
            None => RoleKey::External,
        };
        if options.auth == Auth::Mac && matches!(key, RoleKey::External) {
            return Err(KioskError::Usage(
                "--auth mac needs a software device key (the chip's applet does no ECDH)".into(),
            ));
        }
        let (engagement, qr_out) = match options.engagement {
            Engagement::Nfc => (PhoneEngagement::Nfc, None),
            Engagement::Qr(out) => (PhoneEngagement::Qr, Some(out)),
        };
        let role = PhoneRole::new(
            state.documents().map_err(state_error)?,
            key,
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
            hooks: Hooks { chip },
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
