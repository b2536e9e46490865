//! Why a kiosk command failed, and its exit code (`docs/offline.md`, "The kiosk").

use std::fmt;

use kazashi_protocol::offline::OfflineError;
use kazashi_se::TransportError;

/// A failed command. Each maps to a documented exit code.
#[derive(Debug)]
pub(crate) enum KioskError {
    /// Bad command line (exit 2).
    Usage(String),
    /// A file could not be read or written, or holds something invalid (exit 3).
    File(String),
    /// No reader, or no phone presented within the timeout (exit 4).
    NoPhone(String),
    /// The card did not answer its first command: not ready yet, or already gone (exit 4 if
    /// it stays so until the timeout).
    NotReady(TransportError),
    /// The phone left the field, or the reader went away, during the exchange (exit 5).
    Interrupted(TransportError),
    /// The BLE link to the phone went away, or the phone stopped answering, during the
    /// exchange (exit 5).
    Disconnected(String),
    /// The engagement (NFC handover or QR text) could not be read or used (exit 6).
    Engagement(OfflineError),
    /// The session failed: decryption, decoding, a status from the phone (exit 7).
    Session(OfflineError),
    /// The document did not verify: trust, signatures, digests, validity (exit 8).
    Verification(OfflineError),
    /// The phone returned no document of the requested type (exit 9).
    NoDocument(String),
    /// No font that can render the certificate's Japanese text (exit 10).
    Font(String),
    /// The certificate could not be printed: no `lp`, no printer configured, `lp` failed
    /// (exit 11; the PDF is kept).
    Print(String),
}

impl KioskError {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            KioskError::Usage(_) => 2,
            KioskError::File(_) => 3,
            KioskError::NoPhone(_) | KioskError::NotReady(_) => 4,
            KioskError::Interrupted(_) | KioskError::Disconnected(_) => 5,
            KioskError::Engagement(_) => 6,
            KioskError::Session(_) => 7,
            KioskError::Verification(_) => 8,
            KioskError::NoDocument(_) => 9,
            KioskError::Font(_) => 10,
            KioskError::Print(_) => 11,
        }
    }

    /// A stable code for the JSON error report.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            KioskError::Usage(_) => "usage",
            KioskError::File(_) => "file",
            KioskError::NoPhone(_) | KioskError::NotReady(_) => "no_phone",
            KioskError::Interrupted(_) | KioskError::Disconnected(_) => "interrupted",
            KioskError::Engagement(e) | KioskError::Session(e) | KioskError::Verification(e) => {
                e.code()
            }
            KioskError::NoDocument(_) => "no_document",
            KioskError::Font(_) => "no_font",
            KioskError::Print(_) => "print",
        }
    }
}

impl fmt::Display for KioskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KioskError::Usage(m) | KioskError::File(m) | KioskError::NoPhone(m) => f.write_str(m),
            KioskError::NotReady(e) => write!(f, "the phone did not answer ({e})"),
            KioskError::Interrupted(e) => {
                write!(f, "the phone was removed during the transfer ({e})")
            }
            KioskError::Disconnected(m) => write!(f, "the BLE transfer was interrupted: {m}"),
            KioskError::Engagement(e) => write!(f, "engagement failed: {e}"),
            KioskError::Session(e) => write!(f, "session failed: {e}"),
            KioskError::Verification(e) => write!(f, "the document did not verify: {e}"),
            KioskError::NoDocument(m) | KioskError::Font(m) => f.write_str(m),
            KioskError::Print(m) => write!(f, "printing failed: {m}"),
        }
    }
}

impl std::error::Error for KioskError {}
