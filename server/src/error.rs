//! Errors answered to clients: a stable code, a short message and an HTTP status. Details go
//! to the log only (the approach of crates.io's `src/util/errors.rs`).
//!
//! Body: `{"error": "<code>", "message": "<short text>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kazashi_protocol::envelope::EnvelopeError;
use kazashi_protocol::jose::JoseError;
use kazashi_protocol::policy::Violation;

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is larger than the limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// The body is not of the media type the endpoint takes.
    #[error("unsupported content type (expected {0})")]
    UnsupportedMediaType(&'static str),
    /// The body cannot be read as a token at all.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The envelope was refused.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The provider exists but was removed.
    #[error("provider is not active")]
    ProviderInactive,
    /// The command's `jti` was already used by this provider.
    #[error("command already registered (jti replayed)")]
    Replayed,
    /// The command names a chip the server does not know.
    #[error("unknown chip")]
    UnknownChip,
    /// The chip is suspended (a lost phone, for instance).
    #[error("chip is suspended")]
    ChipSuspended,
    /// The chip is retired.
    #[error("chip is retired")]
    ChipRetired,
    /// The command breaks the provider's policy.
    #[error(transparent)]
    Policy(#[from] Violation),
    /// No such transaction.
    #[error("unknown transaction")]
    UnknownTransaction,
    /// The transaction has no result yet.
    #[error("transaction has no result yet")]
    Pending,
    /// No such endpoint.
    #[error("not found")]
    NotFound,
    /// No transaction has this launch token.
    #[error("unknown launch URL")]
    LaunchUnknown,
    /// The transaction is over: its launch URL cannot be used again.
    #[error("launch URL already used")]
    LaunchUsed,
    /// The launch URL expired.
    #[error("launch URL expired")]
    LaunchExpired,
    /// The relay holds another chip than the command names.
    #[error("the relay holds another chip than the command names")]
    WrongChip,
    /// The relay's report answers another script, or raced another report.
    #[error("report does not answer the outstanding script")]
    RelayWrongStep,
    /// Another transaction for this chip is under way: ask again shortly.
    #[error("another transaction for this chip is under way")]
    ChipBusy,
    /// The relay's message is neither a chip hello nor a report.
    #[error("malformed relay message")]
    RelayMalformed,
    /// Something failed on our side; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Malformed(_) => "malformed_request",
            Self::Envelope(e) => e.code(),
            Self::ProviderInactive => "provider_inactive",
            Self::Replayed => "replayed",
            Self::UnknownChip => "unknown_chip",
            Self::ChipSuspended => "chip_suspended",
            Self::ChipRetired => "chip_retired",
            Self::Policy(v) => v.reason.code(),
            Self::UnknownTransaction => "unknown_transaction",
            Self::Pending => "pending",
            Self::NotFound => "not_found",
            Self::LaunchUnknown => "launch_unknown",
            Self::LaunchUsed => "launch_used",
            Self::LaunchExpired => "launch_expired",
            Self::WrongChip => "wrong_chip",
            Self::RelayWrongStep => "relay_wrong_step",
            Self::RelayMalformed => "relay_malformed",
            Self::ChipBusy => "chip_busy",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Envelope(e) => envelope_status(e),
            Self::ProviderInactive => StatusCode::FORBIDDEN,
            Self::Replayed => StatusCode::CONFLICT,
            Self::UnknownChip => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ChipSuspended | Self::ChipRetired => StatusCode::FORBIDDEN,
            Self::Policy(_) => StatusCode::FORBIDDEN,
            Self::UnknownTransaction | Self::NotFound => StatusCode::NOT_FOUND,
            Self::Pending => StatusCode::ACCEPTED,
            Self::LaunchUnknown => StatusCode::NOT_FOUND,
            Self::LaunchUsed | Self::LaunchExpired => StatusCode::GONE,
            Self::WrongChip => StatusCode::FORBIDDEN,
            Self::RelayWrongStep => StatusCode::CONFLICT,
            Self::RelayMalformed => StatusCode::BAD_REQUEST,
            Self::ChipBusy => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short message sent to the client.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }
}

/// The HTTP status of a refused envelope: 400 for a token that is not a well-formed
/// envelope of our profile, 401 when it is well formed but not authentic or not valid for
/// us now (key, signature, decryption, issuer, audience, time).
pub fn envelope_status(e: &EnvelopeError) -> StatusCode {
    use EnvelopeError as E;
    match e {
        E::Jose(j) => match j {
            JoseError::TokenTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            JoseError::InvalidSignature | JoseError::DecryptionFailed => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        },
        E::UnknownKey
        | E::WrongIssuer
        | E::WrongAudience
        | E::Expired
        | E::IssuedInFuture
        | E::NotYetValid => StatusCode::UNAUTHORIZED,
        E::NotSealed
        | E::SealedNeedsKey
        | E::WrongContentType
        | E::MissingType
        | E::WrongType
        | E::MissingKeyId
        | E::LifetimeTooLong
        | E::CommandMismatch
        | E::InvalidClaims(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) => {
                tracing::error!(code = self.code(), %detail, "request failed")
            }
            Self::Pending => {}
            other => tracing::info!(code = other.code(), detail = %other, "request refused"),
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.message() });
        (status, Json(body)).into_response()
    }
}
