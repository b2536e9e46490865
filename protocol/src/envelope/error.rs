//! Envelope errors.

use core::fmt;

use crate::jose::JoseError;

/// Why an envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The JOSE layer refused the token.
    Jose(JoseError),
    /// A command must arrive sealed (JWE) to the server.
    NotSealed,
    /// The result is sealed, and no provider key was given to open it.
    SealedNeedsKey,
    /// The JWE's `cty` is not `JWT`.
    WrongContentType,
    /// The JWS `typ` is missing.
    MissingType,
    /// The JWS `typ` is not the one expected (a result presented as a command, or the reverse).
    WrongType,
    /// The header names no `kid`.
    MissingKeyId,
    /// No known key has that `kid`.
    UnknownKey,
    /// `iss` is not the expected issuer (or not the owner of the signing key).
    WrongIssuer,
    /// `aud` does not name us.
    WrongAudience,
    /// Past `exp` (or the result's maximum age) beyond the leeway.
    Expired,
    /// `iat` is in the future beyond the leeway.
    IssuedInFuture,
    /// `nbf` is in the future beyond the leeway.
    NotYetValid,
    /// `exp - iat` exceeds the policy's maximum lifetime.
    LifetimeTooLong,
    /// The result answers another command.
    CommandMismatch,
    /// The claims do not follow the schema of `docs/envelopes.md`.
    InvalidClaims(&'static str),
}

impl EnvelopeError {
    /// A stable, snake_case code for clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Jose(e) => e.code(),
            Self::NotSealed => "not_sealed",
            Self::SealedNeedsKey => "sealed_needs_key",
            Self::WrongContentType => "wrong_content_type",
            Self::MissingType => "missing_typ",
            Self::WrongType => "wrong_typ",
            Self::MissingKeyId => "missing_kid",
            Self::UnknownKey => "unknown_key",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::IssuedInFuture => "issued_in_future",
            Self::NotYetValid => "not_yet_valid",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::CommandMismatch => "command_mismatch",
            Self::InvalidClaims(_) => "invalid_claims",
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jose(e) => write!(f, "{e}"),
            Self::InvalidClaims(why) => write!(f, "invalid claims: {why}"),
            other => f.write_str(match other {
                Self::NotSealed => "command is not sealed to the server",
                Self::SealedNeedsKey => "result is sealed and no provider key was given",
                Self::WrongContentType => "sealed content is not a JWT (cty)",
                Self::MissingType => "typ header missing",
                Self::WrongType => "typ header is not the expected envelope type",
                Self::MissingKeyId => "kid header missing",
                Self::UnknownKey => "no known key has this kid",
                Self::WrongIssuer => "unexpected issuer",
                Self::WrongAudience => "not addressed to this audience",
                Self::Expired => "expired",
                Self::IssuedInFuture => "issued in the future",
                Self::NotYetValid => "not yet valid",
                Self::LifetimeTooLong => "lifetime longer than policy allows",
                Self::CommandMismatch => "result answers another command",
                _ => "envelope refused",
            }),
        }
    }
}

impl core::error::Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Jose(e) => Some(e),
            _ => None,
        }
    }
}

impl From<JoseError> for EnvelopeError {
    fn from(e: JoseError) -> Self {
        Self::Jose(e)
    }
}
