//! ISO/IEC 18013-5 (mdoc) offline presentation: the session layer a kiosk (the mdoc reader)
//! and a phone (the mdoc, the holder) share.
//!
//! - [`engagement`]: device engagement and its QR text (`mdoc:`…);
//!   [`ndef`]: NFC static handover (Handover Select with the engagement record);
//!   [`ndef_tag`]: reading and serving it as an NFC Forum Type 4 Tag.
//! - [`transcript`]: `SessionTranscript` from the bytes as received;
//!   [`crypto`]: `SKReader`/`SKDevice`, AES-256-GCM with per-direction counters, `EMacKey`.
//! - [`session`]: `SessionEstablishment`, `SessionData` and the session status (10, 11, 20).
//! - [`request`]: device request, reader authentication; [`response`]: device response,
//!   issuer-signed and device-signed data; [`mso`]: the mobile security object.
//! - [`verify`]: the reader's checks (§9.3.1); [`present`]: the holder's documents (device
//!   signature or MAC) and test issuance; [`pki`]: X.509 trust lists and a certificate
//!   builder; [`cose`]: the COSE profile.
//! - [`reader`] and [`holder`]: the two sessions as sans-IO state machines.
//! - [`terminal`] and [`phone`]: the reader's and the phone's whole NFC flows (handover,
//!   session, policy, device authentication) as sans-IO roles, APDU in, APDU out, shared by
//!   the kiosk and the npm package; [`state`]: the phone's document state (JSON).
//! - [`provision`]: writing at the counter, our extension on the same session (key
//!   generation, an issuer-signed document bound to it, atomic store).
//! - [`nfc`]: ISO-DEP framing for data retrieval (ENVELOPE with chaining, GET RESPONSE,
//!   extended length); [`ble`]: BLE framing in mdoc peripheral server mode (chunks by MTU,
//!   the State characteristic).
//!
//! CBOR is [`ciborium`], COSE [`coset`], X.509 [`x509_cert`]; everything that is hashed or
//! signed is kept as the bytes received ([`cbor`]). P-256, ES256, HMAC 256/256 and SHA-256
//! only (cipher suite 1). Errors are [`OfflineError`], each with a stable code and the session
//! status it ends a session with.

pub mod ble;
pub mod cbor;
pub mod cose;
pub mod crypto;
pub mod engagement;
pub mod error;
pub mod holder;
pub mod mso;
pub mod ndef;
pub mod ndef_tag;
pub mod nfc;
pub mod phone;
pub mod pki;
pub mod present;
pub mod provision;
pub mod reader;
pub mod request;
pub mod response;
pub mod session;
pub mod state;
pub mod terminal;
pub mod transcript;
pub mod verify;

pub use engagement::{DeviceEngagement, NfcOptions, RetrievalMethod};
pub use error::OfflineError;
pub use holder::{Holder, HolderEvent};
pub use reader::{Reader, ReaderEvent};
pub use request::{DeviceRequest, DocRequest, ItemsRequest};
pub use response::{DeviceResponse, Document, IssuerSigned};
pub use session::SessionStatus;
pub use transcript::{Handover, SessionTranscript};
pub use verify::{DeviceAuthKind, VerifiedDocument};
