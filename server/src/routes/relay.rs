//! `POST /launch/{token}`: the common app's exchanges (docs/relay.md).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kazashi_protocol::online::{
    ChipHello, OnlineError, Progress, RelayAnswer, RelayError, RelayReport,
};

use crate::error::ApiError;
use crate::registry::{self, ChipStatus};
use crate::relay::{self, Launched, Stored};
use crate::state::AppState;
use crate::transactions::{PENDING, hash_token};

/// Handles one relay message: a chip hello or a report.
pub async fn launch(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    match exchange(&state, &token, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn exchange(state: &AppState, token: &str, body: Body) -> Result<RelayAnswer, ApiError> {
    let bytes = axum::body::to_bytes(body, state.config.body_limit)
        .await
        .map_err(|_| ApiError::BodyTooLarge)?;
    let now = crate::now();
    let report = serde_json::from_slice::<RelayReport>(&bytes).ok();
    let hello = match report {
        Some(_) => None,
        None => serde_json::from_slice::<ChipHello>(&bytes).ok(),
    };
    let claimed = match (&report, &hello) {
        (Some(report), _) => report.chip.as_deref(),
        (None, Some(hello)) => Some(hello.chip.as_str()),
        (None, None) => None,
    };
    let token_hash = hash_token(token);
    let Launched {
        stored,
        expires_at,
        result,
        chip,
    } = {
        let mut conn = state.db.pool.acquire().await?;
        relay::load(&mut conn, &token_hash, claimed).await?
    }
    .ok_or(ApiError::LaunchUnknown)?;
    let report_hash = hash_token(&String::from_utf8_lossy(&bytes));
    // The very report the server applied last, sent again because its answer was lost.
    let repeated = stored.last_report.as_deref() == Some(report_hash.as_str());
    if stored.state != PENDING {
        // The relay did not get our last answer (a lost connection, a restarted instance) and
        // sends its last report again: the answer was the result. Anything else is refused.
        if report.is_some() && repeated {
            if let Some(result) = result {
                return Ok(RelayAnswer::Result(result));
            }
        }
        return Err(ApiError::LaunchUsed);
    }
    if now as i64 > expires_at {
        return Err(ApiError::LaunchExpired);
    }
    state.counters.add(if report.is_some() {
        "relay.report"
    } else {
        "relay.hello"
    });
    let exchange = Exchange {
        state,
        stored,
        chip,
        now,
    };
    if let Some(report) = report {
        return report_answer(exchange, report, &report_hash, &token_hash, repeated).await;
    }
    let hello = hello.ok_or(ApiError::RelayMalformed)?;
    hello_answer(exchange, &hello.chip).await
}

/// One exchange's transaction and its chip as loaded. What the exchange decides is worked
/// out first and written after, in one turn of writing (`Db::writer`).
struct Exchange<'a> {
    state: &'a AppState,
    stored: Stored,
    chip: Option<registry::Chip>,
    now: u64,
}

/// The chip the relay holds must be the command's, known and active.
fn active_chip(
    stored: &Stored,
    loaded: Option<registry::Chip>,
    chip: &str,
) -> Result<registry::Chip, ApiError> {
    if stored.chip.as_deref().is_some_and(|c| c != chip) {
        return Err(ApiError::WrongChip);
    }
    let chip = loaded
        .filter(|c| c.id == chip)
        .ok_or(ApiError::UnknownChip)?;
    match chip.status {
        ChipStatus::Active => Ok(chip),
        ChipStatus::Suspended => Err(ApiError::ChipSuspended),
        ChipStatus::Retired => Err(ApiError::ChipRetired),
    }
}

async fn hello_answer(x: Exchange<'_>, chip_id: &str) -> Result<RelayAnswer, ApiError> {
    let Exchange {
        state,
        stored,
        chip,
        now,
    } = x;
    let chip = active_chip(&stored, chip, chip_id)?;
    // A relay that asks again (it lost our answer) gets the same script.
    if let Some(script) = stored.outstanding {
        return Ok(RelayAnswer::Script(script));
    }
    let keys = state.keys();
    let (static_keys, target) = relay::chip_view(&keys, &chip)?;
    let (transaction, script) =
        relay::first_script(&stored.claims, &stored.provider, &static_keys, &target)?;
    let script = script.ok_or_else(|| ApiError::Internal("a command without operations".into()))?;
    let mut writer = state.db.writer().await?;
    if relay::chip_busy(&mut writer.conn, &chip.id, &stored.id, true, now).await? {
        return Err(ApiError::ChipBusy);
    }
    if !relay::save(
        &mut writer.conn,
        &stored.id,
        &chip.id,
        stored.step,
        &transaction,
        Some(&script),
        None,
        now,
    )
    .await?
    {
        return Err(ApiError::RelayWrongStep);
    }
    Ok(RelayAnswer::Script(script))
}

async fn report_answer(
    x: Exchange<'_>,
    report: RelayReport,
    report_hash: &str,
    token_hash: &str,
    repeated: bool,
) -> Result<RelayAnswer, ApiError> {
    let Exchange {
        state,
        stored,
        chip,
        now,
    } = x;
    let (Some(script), Some(progress)) = (stored.outstanding.clone(), stored.relay_state.clone())
    else {
        return Err(ApiError::RelayWrongStep);
    };
    if i64::from(report.step) != stored.step {
        // The report of the script before the outstanding one, sent again because our answer
        // was lost: it was applied; answer the same way. The chip never runs a script twice.
        if repeated && i64::from(report.step) + 1 == stored.step {
            return Ok(RelayAnswer::Script(script));
        }
        return Err(ApiError::RelayWrongStep);
    }
    // The chip the transaction runs on; a relay that says it holds another is refused.
    let chip_id = stored
        .chip
        .clone()
        .or_else(|| report.chip.clone())
        .ok_or(ApiError::RelayMalformed)?;
    if report.chip.as_ref().is_some_and(|told| *told != chip_id) {
        return Err(ApiError::WrongChip);
    }
    let chip = active_chip(&stored, chip, &chip_id)?;
    let keys = state.keys();
    let (static_keys, mut target) = relay::chip_view(&keys, &chip)?;
    let mut transaction = relay::resume(&stored, progress)?;
    let progress = transaction
        .handle_report(&static_keys, &target, &script, &report)
        .map_err(|e| match e {
            OnlineError::Relay(RelayError::WrongStep) => ApiError::RelayWrongStep,
            OnlineError::Relay(_) => ApiError::RelayMalformed,
            other => ApiError::Internal(format!("relay report: {other}")),
        })?;
    let reason = progress.reason();
    let (counter, next) = match progress {
        Progress::Continue { counter } => {
            if let Some(counter) = counter {
                target.counter = counter;
            }
            let next = transaction
                .next_script(&static_keys, &target, relay::host_challenge(&target))
                .map_err(|e| ApiError::Internal(format!("script: {e}")))?;
            (counter, next)
        }
        Progress::Script(next) => (None, Some(next)),
        _ => (None, None),
    };
    match next {
        Some(script) => {
            let mut writer = state.db.writer().await?;
            if let Some(counter) = counter {
                relay::record_counter(&mut writer.conn, &chip.id, counter).await?;
            }
            if !relay::save(
                &mut writer.conn,
                &stored.id,
                &chip.id,
                stored.step,
                &transaction,
                Some(&script),
                Some(report_hash),
                now,
            )
            .await?
            {
                return Err(ApiError::RelayWrongStep);
            }
            Ok(RelayAnswer::Script(script))
        }
        None => {
            // The stored state stays at this step until the result is committed (finishing is
            // guarded by the transaction's state): the same report sent again after a crash
            // here is checked again and finishes the transaction then.
            let (token, final_state) = relay::sign_result(
                &keys,
                &state.config.id,
                &stored,
                &chip.id,
                transaction,
                reason,
                now,
            )?;
            let mut writer = state.db.writer().await?;
            if let Some(counter) = counter {
                relay::record_counter(&mut writer.conn, &chip.id, counter).await?;
            }
            relay::store_result(
                &mut writer.conn,
                &stored.id,
                final_state,
                &token,
                reason,
                report_hash,
                token_hash,
                now,
            )
            .await?;
            drop(writer);
            tracing::info!(transaction = %stored.id, chip = %chip.id, reason = reason.unwrap_or("-"), "transaction finished");
            Ok(RelayAnswer::Result(token))
        }
    }
}
