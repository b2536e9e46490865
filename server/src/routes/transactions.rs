//! `POST /v1/transactions` and `GET /v1/transactions/{id}/result`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kazashi_protocol::envelope::{
    CommandPolicy, DEFAULT_MAX_LIFETIME, EnvelopeError, ProviderKey, VerifiedCommand, open_command,
};
use kazashi_protocol::online::Launch;
use kazashi_protocol::policy::{Grant, check_command};
use serde::Serialize;

use crate::error::ApiError;
use crate::registry::{self, ACTIVE, ChipStatus};
use crate::state::AppState;
use crate::transactions::{self, NewTransaction};

/// The media type of a compact JOSE token (RFC 7515 §9.2.1).
pub const APPLICATION_JOSE: &str = "application/jose";

/// The answer to a registration.
#[derive(Debug, Serialize)]
pub struct Created {
    /// The transaction id.
    pub id: String,
    /// The single-use launch URL for the common app.
    pub launch_url: String,
    /// When the launch URL expires, seconds since the epoch.
    pub expires_at: u64,
}

/// `POST /v1/transactions`: body `application/jose`, a sealed command.
pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match register(&state, &headers, body).await {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => {
            if error.status().is_client_error() {
                state.counters.add(&format!("refused.{}", error.code()));
            }
            error.into_response()
        }
    }
}

async fn register(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Created, ApiError> {
    let config = &state.config;
    if !is_media_type(headers, APPLICATION_JOSE) {
        return Err(ApiError::UnsupportedMediaType(APPLICATION_JOSE));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > config.body_limit as u64) {
        return Err(ApiError::BodyTooLarge);
    }
    let bytes = axum::body::to_bytes(body, config.body_limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::BodyTooLarge
            } else {
                ApiError::Malformed("unreadable body")
            }
        })?;
    let token = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::Malformed("body is not a compact JOSE token"))?
        .trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::Malformed("body is not a compact JOSE token"));
    }

    let now = crate::now();
    let verified = open(state, token, now).await?;
    let claims = &verified.claims;

    // The authoritative registry read: the provider's status and grant now, and the chip.
    let record = {
        let mut conn = state.db.pool.acquire().await?;
        registry::grant(&mut conn, &verified.kid, claims.sub.as_deref())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    }
    .filter(|r| r.provider == claims.iss)
    .ok_or(ApiError::Envelope(EnvelopeError::UnknownKey))?;
    if record.status != ACTIVE {
        return Err(ApiError::ProviderInactive);
    }

    let chip = match &claims.sub {
        Some(_) => {
            let chip = record.chip.as_ref().ok_or(ApiError::UnknownChip)?;
            match chip.status {
                ChipStatus::Active => {}
                ChipStatus::Suspended => return Err(ApiError::ChipSuspended),
                ChipStatus::Retired => return Err(ApiError::ChipRetired),
            }
            Some(chip)
        }
        None => None,
    };

    let allowed: Vec<&[u8]> = record.allowed_aids.iter().map(Vec::as_slice).collect();
    let mut grant = Grant::new(&claims.iss, &allowed);
    if let Some(chip) = chip {
        grant = grant.with_isd_aid(&chip.isd_aid);
    }
    check_command(&grant, &claims.ops)?;

    // docs/relay.md: when the chip is named, the first script travels in the launch URL's
    // fragment (the whole transaction when its challenge is predictable, INITIALIZE UPDATE
    // when it is random), so the relay starts without asking — unless another transaction
    // holds the chip, when the relay asks with a chip hello and waits. Built before writing,
    // so that the writing is short.
    let first = match chip {
        Some(chip) => {
            let keys = state.keys();
            let (static_keys, target) = crate::relay::chip_view(&keys, chip)?;
            match crate::relay::first_script(claims, &claims.iss, &static_keys, &target)? {
                (transaction, Some(script)) => Some((chip, transaction, script)),
                (_, None) => None,
            }
        }
        None => None,
    };
    let claims_json =
        serde_json::to_string(claims).map_err(|e| ApiError::Internal(format!("claims: {e}")))?;
    let mut writer = state.db.writer().await?;
    let registered = transactions::register(
        &mut writer.conn,
        NewTransaction {
            provider: &claims.iss,
            jti: &claims.jti,
            chip: chip.map(|c| c.id.as_str()),
            claims_json,
            exp: claims.exp,
            now,
            launch_ttl: config.launch_ttl,
            leeway: config.leeway,
        },
    )
    .await?;
    let mut launch = Launch {
        url: format!("{}/launch/{}", config.public_url, registered.launch_token),
        script: None,
    };
    if let Some((chip, transaction, script)) = first {
        if crate::relay::offer_first_script(
            &mut writer.conn,
            &registered.id,
            &chip.id,
            &transaction,
            &script,
            now,
        )
        .await?
        {
            launch.script = Some(script);
        }
    }
    drop(writer);
    tracing::info!(
        transaction = %registered.id,
        provider = %claims.iss,
        ops = claims.ops.len(),
        "transaction registered"
    );
    Ok(Created {
        launch_url: launch.to_url(),
        id: registered.id,
        expires_at: registered.expires_at,
    })
}

/// Opens and verifies a sealed command. The provider key comes from the per-instance cache
/// or the registry; the server's encryption keys are re-read when a `kid` is unknown (a
/// rotation by another process).
async fn open(state: &AppState, token: &str, now: u64) -> Result<VerifiedCommand, ApiError> {
    let policy = CommandPolicy {
        audience: &state.config.id,
        now,
        leeway: state.config.leeway,
        max_lifetime: DEFAULT_MAX_LIFETIME,
    };
    let mut keys = state.keys();
    let mut reloaded = false;
    let mut from_db: Option<ProviderKey> = None;
    let mut db_checked = false;
    loop {
        let mut missing_enc = false;
        let mut wanted: Option<String> = None;
        let attempt = open_command(
            token,
            |kid| {
                let key = keys.decryption_key(kid);
                missing_enc = key.is_none();
                key
            },
            |kid| {
                wanted = Some(kid.to_owned());
                if let Some(found) = from_db.take() {
                    return Some(found);
                }
                state
                    .cached_provider_key(kid)
                    .map(|(provider, key)| ProviderKey { provider, key })
            },
            &policy,
        );
        match attempt {
            Err(EnvelopeError::UnknownKey) if missing_enc && !reloaded => {
                reloaded = true;
                keys = state
                    .reload_keys()
                    .map_err(|e| ApiError::Internal(format!("keys: {e}")))?;
            }
            Err(EnvelopeError::UnknownKey) if wanted.is_some() && !missing_enc && !db_checked => {
                db_checked = true;
                let kid = wanted.unwrap_or_default();
                let record = registry::provider_key(&state.db, &kid)
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .ok_or(ApiError::Envelope(EnvelopeError::UnknownKey))?;
                state.cache_provider_key(&kid, &record.provider, record.key);
                from_db = Some(ProviderKey {
                    provider: record.provider,
                    key: record.key,
                });
            }
            other => return other.map_err(ApiError::from),
        }
    }
}

fn is_media_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

/// `GET /v1/transactions/{id}/result`: the result token once the transaction is done
/// (`200`, `application/jose`), `202` while it runs, `404` for an unknown id.
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = transactions::outcome(&state.db, &id)
        .await?
        .ok_or(ApiError::UnknownTransaction)?;
    match outcome.result {
        Some(token) => Ok(([(header::CONTENT_TYPE, APPLICATION_JOSE)], token).into_response()),
        None => Err(ApiError::Pending),
    }
}
