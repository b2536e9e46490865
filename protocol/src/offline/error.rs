//! The one error type of the offline (ISO/IEC 18013-5) layer.

use core::fmt;

use crate::apdu::{ApduError, StatusWord};

use super::provision::WriteRefusal;
use super::session::SessionStatus;

/// Why an 18013-5 message, key, certificate or document was refused.
///
/// Every variant has a stable snake_case [`code`](OfflineError::code) for logs, the kiosk's
/// JSON output and API answers, and maps to the session status a peer is sent when the error
/// ends a session ([`session_status`](OfflineError::session_status), ISO/IEC 18013-5 §9.1.1.4
/// Table 20). Variants carry no attacker-controlled data beyond small numbers and static names,
/// so they can be logged as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineError {
    // --- CBOR and structure (session status 11) ---
    /// Not well-formed CBOR (RFC 8949 §5.3.1): truncated, reserved values, trailing bytes, or
    /// nested deeper than [`MAX_DEPTH`](super::cbor::MAX_DEPTH).
    MalformedCbor,
    /// A map names the same key twice (RFC 8949 §5.6: not valid).
    DuplicateKey,
    /// A required member is absent; the value names it as in the spec's CDDL.
    MissingField(&'static str),
    /// A member has the wrong CBOR type or a value outside its CDDL (or 18013-5) range.
    InvalidField(&'static str),
    /// A structure's `version` is not one this implementation understands (major version 1).
    UnsupportedVersion,

    // --- Keys and algorithms ---
    /// A COSE_Key that is not an EC2 P-256 public key with both coordinates (RFC 9053 §7.1.1),
    /// or a point not on the curve.
    InvalidKey,
    /// A COSE algorithm other than ES256 (signatures) or HMAC 256/256 (MACs), a digest other
    /// than SHA-256, or a cipher suite other than 1 (18013-5 §9.1.5.2).
    UnsupportedAlgorithm,

    // --- Engagement and handover ---
    /// The QR code text is not `mdoc:` followed by unpadded base64url (18013-5 §8.2.2.3).
    InvalidEngagementUri,
    /// An NDEF message that breaks NFC Forum NDEF 1.0 (flags, lengths, chunked records).
    InvalidNdef,
    /// A Handover Select message without a device engagement record
    /// (`iso.org:18013:deviceengagement`, 18013-5 §8.2.2.1).
    NoDeviceEngagement,
    /// The device engagement offers no retrieval method the caller can use.
    NoRetrievalMethod,

    // --- Session (18013-5 §9.1.1) ---
    /// AES-256-GCM authentication failed: wrong key, wrong or replayed counter, or modified
    /// ciphertext (session status 10).
    DecryptionFailed,
    /// A message counter reached 2³²−1; the session must end (§9.1.1.5).
    CounterExhausted,
    /// The peer ended the session with status 20.
    SessionTerminated,
    /// The peer ended the session with an error status (10 or 11).
    PeerError(SessionStatus),
    /// A message arrived that the session's state does not expect (for example data after
    /// the session ended, or a second session establishment).
    UnexpectedMessage,

    // --- Certificates and trust ---
    /// A certificate that is not DER X.509 v3 with a P-256 key and an ECDSA-SHA256 signature.
    InvalidCertificate,
    /// No path from the presented certificate chain to a trust anchor.
    NotTrusted,
    /// A certificate of the path is past its `notAfter`.
    CertificateExpired,
    /// A certificate of the path is before its `notBefore`.
    CertificateNotYetValid,
    /// The leaf certificate's extended key usage excludes the role (18013-5 Annex B: document
    /// signer 1.0.18013.5.1.2, reader authentication 1.0.18013.5.1.6).
    WrongKeyUsage,

    // --- Issuer data (18013-5 §9.3.1) ---
    /// The issuer's signature over the MSO does not verify.
    InvalidIssuerSignature,
    /// The MSO's `validUntil` is in the past.
    MsoExpired,
    /// The MSO's `validFrom` is in the future.
    MsoNotYetValid,
    /// The MSO was signed outside the document signer certificate's validity.
    MsoSignedOutsideCertificate,
    /// The MSO's `docType` is not the document's.
    DocTypeMismatch,
    /// A disclosed item's digest is not the one the MSO holds for its digest ID.
    DigestMismatch,
    /// The MSO has no digest for a disclosed item's namespace and digest ID.
    DigestMissing,

    // --- Device and reader authentication (18013-5 §9.1.3, §9.1.4) ---
    /// The `deviceSignature` does not verify with the MSO's device key.
    InvalidDeviceSignature,
    /// The `deviceMac` does not verify with the EMacKey.
    InvalidDeviceMac,
    /// The `readerAuth` signature does not verify with the reader certificate's key.
    InvalidReaderSignature,

    // --- NFC transport (18013-5 §8.3.3.1.2) ---
    /// A malformed APDU.
    Apdu(ApduError),
    /// The peer answered with a status word the exchange does not allow.
    UnexpectedStatusWord(StatusWord),
    /// A message or a DO 53 wrapper longer than the transport allows.
    MessageTooLarge,
    /// ENVELOPE data that is not one BER-TLV data object with tag 53.
    InvalidEnvelope,
    /// An NFC command the applet does not expect in its state (SELECT missing, GET RESPONSE
    /// with nothing pending, wrong class byte).
    UnexpectedCommand,

    // --- Writing at the counter (our extension, `offline::provision`) ---
    /// The phone refused the write, for the reason it gave.
    WriteRefused(WriteRefusal),
    /// The phone answered the write request like a plain 18013-5 wallet: it does not support
    /// writing.
    WriteUnsupported,
    /// The document's MSO is not bound to the device key made for this write.
    KeyNotBound,
    /// The new device key's proof of possession does not verify for this session.
    InvalidKeyProof,
    // --- BLE transport (18013-5 §8.3.3.1.1) ---
    /// A BLE characteristic value with no bytes (every chunk has its `0x00`/`0x01` prefix).
    BleEmptyChunk,
    /// A BLE chunk whose first byte is neither `0x01` (more follows) nor `0x00` (last).
    BleInvalidPrefix,
    /// A BLE chunk longer than the link's characteristic value (`ATT_MTU − 3`, at most 512).
    BleChunkTooLong,
    /// The chunks of a BLE message do not make exactly one CBOR data item: a chunk was lost,
    /// repeated or reordered, or the message was cut short.
    BleIncompleteMessage,
    /// A BLE chunk arrived when no message was due (after the last chunk of one message and
    /// before the next request or answer).
    BleUnexpectedChunk,
    /// BLE data arrived before the reader wrote State start (`0x01`).
    BleNotStarted,
    /// State end (`0x02`) arrived in the middle of a message.
    BleTransferCut,
    /// A State value other than start (`0x01`) and end (`0x02`), or a second start.
    BleInvalidState,
}

impl OfflineError {
    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedCbor => "malformed_cbor",
            Self::DuplicateKey => "duplicate_key",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidKey => "invalid_key",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::InvalidEngagementUri => "invalid_engagement_uri",
            Self::InvalidNdef => "invalid_ndef",
            Self::NoDeviceEngagement => "no_device_engagement",
            Self::NoRetrievalMethod => "no_retrieval_method",
            Self::DecryptionFailed => "decryption_failed",
            Self::CounterExhausted => "counter_exhausted",
            Self::SessionTerminated => "session_terminated",
            Self::PeerError(_) => "peer_error",
            Self::UnexpectedMessage => "unexpected_message",
            Self::InvalidCertificate => "invalid_certificate",
            Self::NotTrusted => "not_trusted",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateNotYetValid => "certificate_not_yet_valid",
            Self::WrongKeyUsage => "wrong_key_usage",
            Self::InvalidIssuerSignature => "invalid_issuer_signature",
            Self::MsoExpired => "mso_expired",
            Self::MsoNotYetValid => "mso_not_yet_valid",
            Self::MsoSignedOutsideCertificate => "mso_signed_outside_certificate",
            Self::DocTypeMismatch => "doc_type_mismatch",
            Self::DigestMismatch => "digest_mismatch",
            Self::DigestMissing => "digest_missing",
            Self::InvalidDeviceSignature => "invalid_device_signature",
            Self::InvalidDeviceMac => "invalid_device_mac",
            Self::InvalidReaderSignature => "invalid_reader_signature",
            Self::Apdu(_) => "invalid_apdu",
            Self::UnexpectedStatusWord(_) => "unexpected_status_word",
            Self::MessageTooLarge => "message_too_large",
            Self::InvalidEnvelope => "invalid_envelope",
            Self::UnexpectedCommand => "unexpected_command",
            Self::WriteRefused(_) => "write_refused",
            Self::WriteUnsupported => "write_unsupported",
            Self::KeyNotBound => "key_not_bound",
            Self::InvalidKeyProof => "invalid_key_proof",
            Self::BleEmptyChunk => "ble_empty_chunk",
            Self::BleInvalidPrefix => "ble_invalid_prefix",
            Self::BleChunkTooLong => "ble_chunk_too_long",
            Self::BleIncompleteMessage => "ble_incomplete_message",
            Self::BleUnexpectedChunk => "ble_unexpected_chunk",
            Self::BleNotStarted => "ble_not_started",
            Self::BleTransferCut => "ble_transfer_cut",
            Self::BleInvalidState => "ble_invalid_state",
        }
    }

    /// The session status a peer is sent when this error ends a session (18013-5 §9.1.1.4,
    /// Table 20): 10 for a message that does not decrypt, 11 for one that decrypts but does
    /// not decode, 20 (plain termination) for everything else.
    pub fn session_status(&self) -> SessionStatus {
        match self {
            Self::DecryptionFailed => SessionStatus::EncryptionError,
            Self::MalformedCbor
            | Self::DuplicateKey
            | Self::MissingField(_)
            | Self::InvalidField(_)
            | Self::UnsupportedVersion
            | Self::InvalidKey => SessionStatus::DecodingError,
            _ => SessionStatus::Terminated,
        }
    }
}

impl fmt::Display for OfflineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedCbor => f.write_str("malformed CBOR"),
            Self::DuplicateKey => f.write_str("duplicate CBOR map key"),
            Self::MissingField(name) => write!(f, "missing \"{name}\""),
            Self::InvalidField(name) => write!(f, "invalid \"{name}\""),
            Self::UnsupportedVersion => f.write_str("unsupported version"),
            Self::InvalidKey => f.write_str("invalid P-256 COSE key"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported algorithm"),
            Self::InvalidEngagementUri => f.write_str("invalid mdoc: engagement URI"),
            Self::InvalidNdef => f.write_str("invalid NDEF message"),
            Self::NoDeviceEngagement => f.write_str("no device engagement in handover"),
            Self::NoRetrievalMethod => f.write_str("no usable retrieval method"),
            Self::DecryptionFailed => f.write_str("session decryption failed"),
            Self::CounterExhausted => f.write_str("session message counter exhausted"),
            Self::SessionTerminated => f.write_str("session terminated by peer"),
            Self::PeerError(status) => {
                write!(f, "peer ended the session with status {}", status.code())
            }
            Self::UnexpectedMessage => f.write_str("unexpected session message"),
            Self::InvalidCertificate => f.write_str("invalid or unsupported certificate"),
            Self::NotTrusted => f.write_str("certificate chain not trusted"),
            Self::CertificateExpired => f.write_str("certificate expired"),
            Self::CertificateNotYetValid => f.write_str("certificate not yet valid"),
            Self::WrongKeyUsage => f.write_str("certificate not issued for this use"),
            Self::InvalidIssuerSignature => f.write_str("invalid issuer signature"),
            Self::MsoExpired => f.write_str("mobile security object expired"),
            Self::MsoNotYetValid => f.write_str("mobile security object not yet valid"),
            Self::MsoSignedOutsideCertificate => {
                f.write_str("mobile security object signed outside the certificate's validity")
            }
            Self::DocTypeMismatch => f.write_str("document type does not match the MSO"),
            Self::DigestMismatch => f.write_str("issuer-signed item digest mismatch"),
            Self::DigestMissing => f.write_str("issuer-signed item has no digest in the MSO"),
            Self::InvalidDeviceSignature => f.write_str("invalid device signature"),
            Self::InvalidDeviceMac => f.write_str("invalid device MAC"),
            Self::InvalidReaderSignature => f.write_str("invalid reader authentication signature"),
            Self::Apdu(error) => write!(f, "{error}"),
            Self::UnexpectedStatusWord(sw) => {
                write!(f, "unexpected status word {:04X}", sw.to_u16())
            }
            Self::MessageTooLarge => f.write_str("message too large"),
            Self::InvalidEnvelope => f.write_str("invalid ENVELOPE data object"),
            Self::UnexpectedCommand => f.write_str("unexpected NFC command"),
            Self::WriteRefused(reason) => {
                write!(f, "the phone refused the write ({})", reason.code())
            }
            Self::WriteUnsupported => f.write_str("the phone does not support writing"),
            Self::KeyNotBound => f.write_str("document not bound to the new device key"),
            Self::InvalidKeyProof => f.write_str("invalid proof of possession of the new key"),
            Self::BleEmptyChunk => f.write_str("empty BLE chunk"),
            Self::BleInvalidPrefix => f.write_str("BLE chunk prefix neither 0x00 nor 0x01"),
            Self::BleChunkTooLong => f.write_str("BLE chunk longer than the MTU allows"),
            Self::BleIncompleteMessage => {
                f.write_str("BLE chunks do not make one message (lost, repeated or reordered)")
            }
            Self::BleUnexpectedChunk => f.write_str("BLE chunk when no message was due"),
            Self::BleNotStarted => f.write_str("BLE data before State start"),
            Self::BleTransferCut => f.write_str("BLE State end in the middle of a message"),
            Self::BleInvalidState => f.write_str("unexpected BLE State value"),
        }
    }
}

impl core::error::Error for OfflineError {}

impl From<ApduError> for OfflineError {
    fn from(error: ApduError) -> Self {
        Self::Apdu(error)
    }
}
