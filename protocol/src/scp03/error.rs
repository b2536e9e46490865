//! The one error type of the SCP03 layer, for both the host and the card side.

use core::fmt;

use super::params::SequenceCounter;
use crate::apdu::{ApduError, StatusWord};

/// Everything that can go wrong in SCP03, on either side.
///
/// Variants fall in three groups:
/// - the caller's mistakes (bad key length, a command that cannot be wrapped);
/// - the card misbehaving, seen by the host (wrong card cryptogram, R-MAC mismatch, counter out
///   of step, a missing or reordered response);
/// - the host misbehaving, seen by the card (wrong host cryptogram, C-MAC mismatch, missing
///   secure messaging). These map to the status word the card answers with through
///   `From<&Scp03Error> for StatusWord`, and every one of them closes the card's session
///   (GPC Amendment D §5.6).
///
/// [`Scp03Error::code`] is a stable, machine-readable name for logs and API answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scp03Error {
    /// A static key that is not 16, 24 or 32 bytes long (Amendment D §6.1).
    InvalidKeyLength {
        /// The length given.
        len: usize,
    },
    /// Key-ENC, Key-MAC and Key-DEK of one key set do not have the same length (§6.1).
    KeyLengthMismatch,
    /// A security domain AID outside 5..=16 bytes (§6.2.2.1).
    InvalidAidLength {
        /// The length given.
        len: usize,
    },
    /// A challenge or cryptogram that is neither 8 (S8) nor 16 (S16) bytes, or not of the
    /// session's length (§6.2.2).
    InvalidChallengeLength {
        /// The length given.
        len: usize,
    },
    /// A sequence counter above `FFFFFF` (§6.2.2.1: three bytes).
    InvalidSequenceCounter,
    /// A security level P1 that is not one of `01`, `03`, `11`, `13`, `33` (§7.1.2.3).
    InvalidSecurityLevel {
        /// The P1 value.
        level: u8,
    },
    /// An "i" parameter with RFU bits set or R-ENC without R-MAC (§5.1, Table 5-1).
    InvalidIParameter {
        /// The value.
        i: u8,
    },
    /// The security level needs R-MAC or R-ENC, which the card's "i" parameter does not
    /// offer (§5.1); on the card, a level below the configured minimum. Card answers `6A86`.
    LevelNotSupported {
        /// The requested level (P1).
        level: u8,
    },
    /// A class byte that cannot carry GlobalPlatform secure messaging, or that already
    /// indicates secure messaging in a plain command (§6.2.4, GPCS §11.1.4).
    UnsupportedClass {
        /// The class byte.
        cla: u8,
    },
    /// The wrapped command (padding and MAC added) does not fit in an extended APDU.
    DataTooLong,
    /// A malformed APDU. A card answers `6700`.
    Apdu(ApduError),
    /// The encryption counter reached its end; open a new session.
    EncryptionCounterExhausted,

    // --- The card, seen by the host. ---
    /// The card answered INITIALIZE UPDATE or EXTERNAL AUTHENTICATE with an unexpected
    /// status word (§7.1.1.7, §7.1.2.7).
    UnexpectedStatus {
        /// The status word received.
        sw: StatusWord,
    },
    /// The INITIALIZE UPDATE response does not have one of the lengths of Table 7-3
    /// (29, 32, 45 or 48 bytes) consistent with its "i" parameter and the host challenge.
    MalformedInitializeUpdateResponse {
        /// The response data length.
        len: usize,
    },
    /// The key information names another protocol than SCP03 (§7.1.1.6).
    WrongProtocol {
        /// The protocol identifier received.
        scp: u8,
    },
    /// The key version number in the response is not the one asked for (§7.1.1.3).
    KeyVersionMismatch {
        /// KVN asked for.
        expected: u8,
        /// KVN the card used.
        actual: u8,
    },
    /// The card's "i" parameter is not the one the host was configured for (§5.1).
    IParameterMismatch {
        /// Expected "i".
        expected: u8,
        /// Received "i".
        actual: u8,
    },
    /// The key diversification data is not the chip's (§7.1.1.6).
    KeyDiversificationDataMismatch,
    /// The pseudo-random card challenge does not follow from the sequence counter and the AID
    /// (§6.2.2.1): the card has other keys, or the response was forged.
    CardChallengeMismatch,
    /// The card cryptogram does not verify (§6.2.2.2): the card has other keys, or the
    /// response was forged.
    CardCryptogramMismatch,
    /// The card's sequence counter is not the one the script was built for (§6.2.2.1). The
    /// card cryptogram and challenge were verified for `actual_counter`, so the value is
    /// authentic: build the next script for `actual_counter.next()`. A counter lower than one
    /// already seen means the card's state was rolled back.
    CounterOutOfStep {
        /// The counter the script predicted.
        expected: SequenceCounter,
        /// The counter the card used.
        actual_counter: SequenceCounter,
    },
    /// The card refused the host cryptogram with `6300` (§7.1.2.7).
    HostCryptogramRejected,
    /// A protected response shorter than its R-MAC (§6.2.5).
    MissingRMac,
    /// The R-MAC does not verify (§6.2.5): the response was altered, or belongs to another
    /// command.
    RMacMismatch,
    /// Decrypted data does not end in `80 00..` padding (GPCS §B.2.3), or is not a whole
    /// number of blocks. On the card: answers `6988`.
    BadPadding,
    /// An error status word that carries data although R-MAC is on (§6.2.5: only the status
    /// word is returned).
    UnexpectedErrorData,
    /// A script cannot predict the card challenge: the card uses random challenges
    /// (§6.2.2.1); use two round trips ([`super::Script::after_initialize_update`]).
    ChallengeNotPredictable,
    /// A script response is missing (the relay stopped early or dropped one).
    ResponseMissing,
    /// A script response verifies for another position: responses were reordered or dropped.
    ResponseOutOfOrder {
        /// The position (0-based, among the wrapped commands) the response belongs to.
        belongs_to: usize,
    },
    /// More responses than commands in the script.
    TooManyResponses {
        /// How many extra responses.
        extra: usize,
    },

    // --- The host, seen by the card. ---
    /// The host cryptogram does not verify (§6.2.2.3). Card answers `6300`.
    HostCryptogramMismatch,
    /// The C-MAC does not verify (§6.2.4): altered, replayed or reordered command. Card
    /// answers `6982`.
    CMacMismatch,
    /// A command without the secure messaging the session's level requires (§5.6). Card
    /// answers `6982`.
    SecureMessagingMissing,
    /// Secure messaging while no session is open, or a command after the session was aborted
    /// (§5.6). Card answers `6982`.
    NoSession,
    /// EXTERNAL AUTHENTICATE without a preceding INITIALIZE UPDATE. Card answers `6985`.
    ExternalAuthenticateUnexpected,
    /// Wrong P1/P2 (§7.1.1.4, §7.1.2.4). Card answers `6A86`.
    IncorrectP1P2,
    /// Wrong Lc for INITIALIZE UPDATE or EXTERNAL AUTHENTICATE (§7.1.1.5, §7.1.2.5). Card
    /// answers `6700`.
    WrongLength,
    /// No key set with this version (§7.1.1.3). Card answers `6A88`.
    KeyNotFound {
        /// The KVN asked for.
        kvn: u8,
    },
    /// The sequence counter reached `FFFFFF` (§6.2.2.1). Card answers `6985`.
    SequenceCounterExhausted,
    /// A class byte the card does not accept for this instruction. Card answers `6E00`.
    ClassNotSupported,
}

impl Scp03Error {
    /// A stable, machine-readable name, such as `"card_cryptogram_mismatch"`.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidKeyLength { .. } => "invalid_key_length",
            Self::KeyLengthMismatch => "key_length_mismatch",
            Self::InvalidAidLength { .. } => "invalid_aid_length",
            Self::InvalidChallengeLength { .. } => "invalid_challenge_length",
            Self::InvalidSequenceCounter => "invalid_sequence_counter",
            Self::InvalidSecurityLevel { .. } => "invalid_security_level",
            Self::InvalidIParameter { .. } => "invalid_i_parameter",
            Self::LevelNotSupported { .. } => "level_not_supported",
            Self::UnsupportedClass { .. } => "unsupported_class",
            Self::DataTooLong => "data_too_long",
            Self::Apdu(_) => "malformed_apdu",
            Self::EncryptionCounterExhausted => "encryption_counter_exhausted",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::MalformedInitializeUpdateResponse { .. } => {
                "malformed_initialize_update_response"
            }
            Self::WrongProtocol { .. } => "wrong_protocol",
            Self::KeyVersionMismatch { .. } => "key_version_mismatch",
            Self::IParameterMismatch { .. } => "i_parameter_mismatch",
            Self::KeyDiversificationDataMismatch => "key_diversification_data_mismatch",
            Self::CardChallengeMismatch => "card_challenge_mismatch",
            Self::CardCryptogramMismatch => "card_cryptogram_mismatch",
            Self::CounterOutOfStep { .. } => "counter_out_of_step",
            Self::HostCryptogramRejected => "host_cryptogram_rejected",
            Self::MissingRMac => "missing_r_mac",
            Self::RMacMismatch => "r_mac_mismatch",
            Self::BadPadding => "bad_padding",
            Self::UnexpectedErrorData => "unexpected_error_data",
            Self::ChallengeNotPredictable => "challenge_not_predictable",
            Self::ResponseMissing => "response_missing",
            Self::ResponseOutOfOrder { .. } => "response_out_of_order",
            Self::TooManyResponses { .. } => "too_many_responses",
            Self::HostCryptogramMismatch => "host_cryptogram_mismatch",
            Self::CMacMismatch => "c_mac_mismatch",
            Self::SecureMessagingMissing => "secure_messaging_missing",
            Self::NoSession => "no_session",
            Self::ExternalAuthenticateUnexpected => "external_authenticate_unexpected",
            Self::IncorrectP1P2 => "incorrect_p1p2",
            Self::WrongLength => "wrong_length",
            Self::KeyNotFound { .. } => "key_not_found",
            Self::SequenceCounterExhausted => "sequence_counter_exhausted",
            Self::ClassNotSupported => "class_not_supported",
        }
    }
}

impl fmt::Display for Scp03Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKeyLength { len } => write!(f, "AES key of {len} bytes"),
            Self::InvalidAidLength { len } => write!(f, "AID of {len} bytes"),
            Self::InvalidChallengeLength { len } => write!(f, "challenge of {len} bytes"),
            Self::InvalidSecurityLevel { level } => write!(f, "security level {level:02X}"),
            Self::InvalidIParameter { i } => write!(f, "SCP03 i parameter {i:02X}"),
            Self::LevelNotSupported { level } => {
                write!(f, "security level {level:02X} not supported")
            }
            Self::UnsupportedClass { cla } => write!(f, "class byte {cla:02X} not supported"),
            Self::Apdu(e) => write!(f, "{e}"),
            Self::UnexpectedStatus { sw } => write!(f, "unexpected status word {sw}"),
            Self::MalformedInitializeUpdateResponse { len } => {
                write!(f, "INITIALIZE UPDATE response of {len} bytes")
            }
            Self::WrongProtocol { scp } => write!(f, "secure channel protocol {scp:02X}"),
            Self::KeyVersionMismatch { expected, actual } => {
                write!(f, "key version {actual:02X}, expected {expected:02X}")
            }
            Self::IParameterMismatch { expected, actual } => {
                write!(f, "i parameter {actual:02X}, expected {expected:02X}")
            }
            Self::CounterOutOfStep {
                expected,
                actual_counter,
            } => write!(
                f,
                "sequence counter {:06X}, expected {:06X}",
                actual_counter.value(),
                expected.value()
            ),
            Self::ResponseOutOfOrder { belongs_to } => {
                write!(f, "response belongs to command {belongs_to}")
            }
            Self::TooManyResponses { extra } => write!(f, "{extra} responses too many"),
            Self::KeyNotFound { kvn } => write!(f, "no key set with version {kvn:02X}"),
            other => f.write_str(other.code()),
        }
    }
}

impl core::error::Error for Scp03Error {}

impl From<ApduError> for Scp03Error {
    fn from(e: ApduError) -> Self {
        Self::Apdu(e)
    }
}

impl From<&Scp03Error> for StatusWord {
    /// The status word a card answers with (Amendment D §7.1.1.7, §7.1.2.7; GPCS §11.1.3
    /// general error conditions). Host-side variants, which a card never raises, map to
    /// `6F00`.
    fn from(e: &Scp03Error) -> Self {
        match e {
            Scp03Error::HostCryptogramMismatch => StatusWord::AuthenticationFailed,
            Scp03Error::CMacMismatch
            | Scp03Error::SecureMessagingMissing
            | Scp03Error::NoSession => StatusWord::SecurityStatusNotSatisfied,
            Scp03Error::BadPadding => StatusWord::SmDataObjectsIncorrect,
            Scp03Error::ExternalAuthenticateUnexpected
            | Scp03Error::SequenceCounterExhausted
            | Scp03Error::EncryptionCounterExhausted => StatusWord::ConditionsNotSatisfied,
            Scp03Error::IncorrectP1P2
            | Scp03Error::LevelNotSupported { .. }
            | Scp03Error::InvalidSecurityLevel { .. } => StatusWord::IncorrectP1P2,
            Scp03Error::WrongLength | Scp03Error::Apdu(_) => StatusWord::WrongLength,
            Scp03Error::KeyNotFound { .. } => StatusWord::ReferencedDataNotFound,
            Scp03Error::ClassNotSupported | Scp03Error::UnsupportedClass { .. } => {
                StatusWord::ClaNotSupported
            }
            _ => StatusWord::NoPreciseDiagnosis,
        }
    }
}

impl From<Scp03Error> for StatusWord {
    fn from(e: Scp03Error) -> Self {
        Self::from(&e)
    }
}
