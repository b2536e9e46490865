//! The one error type of the JOSE layer.

use core::fmt;

/// Why a JOSE object or key was refused.
///
/// Every variant has a stable snake_case [`code`](JoseError::code) that the server and the npm
/// package expose to callers; the `Display` text is a short English message for logs.
/// Variants carry no attacker-controlled data, so they can be logged as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoseError {
    /// The token is longer than [`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN) bytes.
    TokenTooLarge,
    /// The compact serialization does not have the right number of `.`-separated parts
    /// (3 for a JWS, RFC 7515 §7.1; 5 for a JWE, RFC 7516 §7.1).
    InvalidCompact,
    /// A part is not strict unpadded base64url (RFC 7515 §2): padding, characters outside the
    /// alphabet, an impossible length or non-zero trailing bits.
    InvalidBase64,
    /// A header or claims set is not UTF-8 (RFC 7515 §5.2 step 3).
    InvalidUtf8,
    /// A header or claims set is not valid JSON (RFC 8259).
    InvalidJson,
    /// A JSON object is valid JSON but not an object where one is required.
    NotAnObject,
    /// A JSON object, at any depth, names the same member twice (RFC 7515 §5.2 step 4).
    DuplicateMember,
    /// A required header parameter is absent.
    MissingHeader(&'static str),
    /// A header parameter has the wrong JSON type or an invalid value.
    InvalidHeader(&'static str),
    /// `alg` is not on the allow-list (RFC 8725 §3.1): `none`, HMAC, RSA, other curves…
    UnsupportedAlgorithm,
    /// `enc` is not `A256GCM`.
    UnsupportedEncryption,
    /// `zip` is present; compression before encryption is refused (RFC 8725 §3.6).
    ZipNotSupported,
    /// `crit` names an extension; this profile understands none (RFC 7515 §4.1.11).
    UnknownCritical,
    /// `b64: false` (RFC 7797): unencoded payloads are refused.
    UnencodedPayload,
    /// A JWS signature is not exactly 64 bytes `R‖S` (RFC 7518 §3.4); DER is refused.
    InvalidSignatureLength,
    /// The signature does not verify with the given key.
    InvalidSignature,
    /// A JWK is not a valid P-256 EC key (RFC 7518 §6.2): wrong `kty`/`crv`, coordinates not
    /// 32 bytes, point not on the curve, scalar out of range.
    InvalidKey,
    /// A private JWK's `d` does not belong to its `x`/`y`.
    KeyMismatch,
    /// The JWE `epk` is not a valid P-256 public key (RFC 7518 §4.6.1.1, RFC 8725 §3.4).
    InvalidEpk,
    /// The JWE encrypted key has the wrong length for `alg` (empty for `ECDH-ES`, 40 bytes for
    /// `ECDH-ES+A256KW`).
    InvalidEncryptedKey,
    /// The JWE initialization vector is not 12 bytes (RFC 7518 §5.3).
    InvalidIv,
    /// The JWE authentication tag is not 16 bytes (RFC 7518 §5.3).
    InvalidTag,
    /// Key unwrapping or authenticated decryption failed: wrong key or modified token.
    DecryptionFailed,
}

impl JoseError {
    /// A stable snake_case code for this error, exposed by the server and the npm package.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TokenTooLarge => "token_too_large",
            Self::InvalidCompact => "invalid_compact",
            Self::InvalidBase64 => "invalid_base64",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::DuplicateMember => "duplicate_member",
            Self::MissingHeader(_) => "missing_header",
            Self::InvalidHeader(_) => "invalid_header",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnsupportedEncryption => "unsupported_encryption",
            Self::ZipNotSupported => "zip_not_supported",
            Self::UnknownCritical => "unknown_critical",
            Self::UnencodedPayload => "unencoded_payload",
            Self::InvalidSignatureLength => "invalid_signature_length",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidKey => "invalid_key",
            Self::KeyMismatch => "key_mismatch",
            Self::InvalidEpk => "invalid_epk",
            Self::InvalidEncryptedKey => "invalid_encrypted_key",
            Self::InvalidIv => "invalid_iv",
            Self::InvalidTag => "invalid_tag",
            Self::DecryptionFailed => "decryption_failed",
        }
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TokenTooLarge => f.write_str("token too large"),
            Self::InvalidCompact => f.write_str("wrong number of parts in compact serialization"),
            Self::InvalidBase64 => f.write_str("invalid base64url"),
            Self::InvalidUtf8 => f.write_str("JSON text is not UTF-8"),
            Self::InvalidJson => f.write_str("invalid JSON"),
            Self::NotAnObject => f.write_str("JSON value is not an object"),
            Self::DuplicateMember => f.write_str("duplicate JSON member name"),
            Self::MissingHeader(name) => write!(f, "missing header parameter \"{name}\""),
            Self::InvalidHeader(name) => write!(f, "invalid header parameter \"{name}\""),
            Self::UnsupportedAlgorithm => f.write_str("unsupported \"alg\""),
            Self::UnsupportedEncryption => f.write_str("unsupported \"enc\""),
            Self::ZipNotSupported => f.write_str("compressed (\"zip\") content is not supported"),
            Self::UnknownCritical => f.write_str("unknown critical header parameter"),
            Self::UnencodedPayload => f.write_str("unencoded payload (\"b64\": false) refused"),
            Self::InvalidSignatureLength => f.write_str("ES256 signature is not 64 bytes"),
            Self::InvalidSignature => f.write_str("invalid signature"),
            Self::InvalidKey => f.write_str("invalid P-256 JWK"),
            Self::KeyMismatch => f.write_str("private key does not match public key"),
            Self::InvalidEpk => f.write_str("invalid ephemeral public key (\"epk\")"),
            Self::InvalidEncryptedKey => f.write_str("encrypted key has the wrong length"),
            Self::InvalidIv => f.write_str("initialization vector is not 12 bytes"),
            Self::InvalidTag => f.write_str("authentication tag is not 16 bytes"),
            Self::DecryptionFailed => f.write_str("decryption failed"),
        }
    }
}

impl core::error::Error for JoseError {}
