//! The relay exchanges (docs/relay.md), the server's side: drive
//! `kazashi_protocol::online::Transaction` for a transaction and keep its progress in the
//! database, so that any instance can take the next exchange.
//!
//! Every exchange is applied exactly once: the stored `step` is a compare-and-set guard, and a
//! script is answered only after the state that checks its answers is committed.

use kazashi_protocol::envelope::{self, Audience, CommandClaims, ResultClaims, Status};
use kazashi_protocol::online::{self, ChipTarget, RelayScript, Transaction, TransactionState};
use kazashi_protocol::scp03::{
    Aid, Challenge, ChallengeMode, KeyLength, ResponseProtection, SMode, ScpOptions, ScriptTarget,
    SequenceCounter, StaticKeys, diversify_static_keys,
};
use sqlx::{AnyConnection, Row};

use crate::error::ApiError;
use crate::keys::KeyRing;
use crate::registry::Chip;

/// A transaction as the relay endpoint needs it.
#[derive(Debug)]
pub struct Stored {
    /// Its id.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// The chip, once known.
    pub chip: Option<String>,
    /// The verified command.
    pub claims: CommandClaims,
    /// `pending`, `completed` or `failed`.
    pub state: String,
    /// The progress, once the first script was built.
    pub relay_state: Option<TransactionState>,
    /// The script the relay was last given.
    pub outstanding: Option<RelayScript>,
    /// That script's step (0 before the first).
    pub step: i64,
    /// SHA-256 (hex) of the last report applied.
    pub last_report: Option<String>,
}

fn internal(what: &str) -> impl Fn(serde_json::Error) -> ApiError + '_ {
    move |e| ApiError::Internal(format!("{what}: {e}"))
}

/// A transaction found by its launch token, with what the relay endpoint checks.
#[derive(Debug)]
pub struct Launched {
    /// The transaction.
    pub stored: Stored,
    /// When the launch token expires.
    pub expires_at: i64,
    /// The result token, once done.
    pub result: Option<String>,
    /// The chip the transaction runs on (its own, else the one the relay named), when
    /// registered.
    pub chip: Option<Chip>,
}

/// Loads the transaction of a launch token (by the token's hash) and its chip — the
/// transaction's, or `claimed` (the chip the relay says it holds) while it has none — in one
/// query.
pub async fn load(
    conn: &mut AnyConnection,
    token_hash: &str,
    claimed: Option<&str>,
) -> Result<Option<Launched>, ApiError> {
    let Some(row) = sqlx::query(
        "SELECT l.expires_at AS launch_expires_at, t.id AS transaction_id, t.provider_id, \
         t.chip_id, t.claims, t.state AS transaction_state, t.result, t.relay_state, \
         t.outstanding, t.step, t.last_report, c.id, c.kdd, c.kvn, c.isd_aid, c.key_length, \
         c.s16, c.random_challenge, c.sequence_counter, c.status \
         FROM launch_tokens l JOIN transactions t ON t.id = l.transaction_id \
         LEFT JOIN chips c ON c.id = COALESCE(t.chip_id, $2) WHERE l.token_hash = $1",
    )
    .bind(token_hash)
    .bind(claimed)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let claims: String = row.try_get("claims")?;
    let relay_state: Option<String> = row.try_get("relay_state")?;
    let outstanding: Option<String> = row.try_get("outstanding")?;
    let chip = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some(
            crate::registry::chip_from_row(&row).map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    Ok(Some(Launched {
        stored: Stored {
            id: row.try_get("transaction_id")?,
            provider: row.try_get("provider_id")?,
            chip: row.try_get("chip_id")?,
            claims: serde_json::from_str(&claims).map_err(internal("stored claims"))?,
            state: row.try_get("transaction_state")?,
            relay_state: relay_state
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(internal("stored relay state"))?,
            outstanding: outstanding
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(internal("stored script"))?,
            step: row.try_get("step")?,
            last_report: row.try_get("last_report")?,
        },
        expires_at: row.try_get("launch_expires_at")?,
        result: row.try_get("result")?,
        chip,
    }))
}

/// The columns [`save`] and [`offer_first_script`] store.
struct Progress {
    state: String,
    script: Option<String>,
    step: i64,
}

fn progress(
    transaction: &Transaction,
    outstanding: Option<&RelayScript>,
    old_step: i64,
) -> Result<Progress, ApiError> {
    Ok(Progress {
        state: serde_json::to_string(transaction.state()).map_err(internal("relay state"))?,
        script: outstanding
            .map(serde_json::to_string)
            .transpose()
            .map_err(internal("script"))?,
        step: outstanding.map_or(old_step, |s| i64::from(s.step)),
    })
}

/// Stores the progress if nobody else moved it since `old_step`; `false` when somebody did.
#[allow(clippy::too_many_arguments, reason = "one row's columns")]
pub async fn save(
    conn: &mut AnyConnection,
    id: &str,
    chip: &str,
    old_step: i64,
    transaction: &Transaction,
    outstanding: Option<&RelayScript>,
    report: Option<&str>,
    now: u64,
) -> Result<bool, ApiError> {
    let new = progress(transaction, outstanding, old_step)?;
    let done = sqlx::query(
        "UPDATE transactions SET relay_state = $1, outstanding = $2, step = $3, chip_id = $4, \
         updated_at = $5, last_report = $8 WHERE id = $6 AND step = $7 AND state = 'pending'",
    )
    .bind(new.state)
    .bind(new.script)
    .bind(new.step)
    .bind(chip)
    .bind(now as i64)
    .bind(id)
    .bind(old_step)
    .bind(report)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the first script of a transaction just registered for `chip`, unless another
/// pending, unexpired transaction holds the chip ([`chip_busy`] and [`save`] from step 0, in
/// one statement); `false` when it does (the relay will then ask with a chip hello).
pub async fn offer_first_script(
    conn: &mut AnyConnection,
    id: &str,
    chip: &str,
    transaction: &Transaction,
    script: &RelayScript,
    now: u64,
) -> Result<bool, ApiError> {
    let new = progress(transaction, Some(script), 0)?;
    let done = sqlx::query(
        "UPDATE transactions SET relay_state = $1, outstanding = $2, step = $3, updated_at = $4 \
         WHERE id = $5 AND chip_id = $6 AND step = 0 AND state = 'pending' AND NOT EXISTS \
         (SELECT 1 FROM transactions o WHERE o.chip_id = $6 AND o.id <> $5 \
         AND o.state = 'pending' AND o.expires_at >= $4)",
    )
    .bind(new.state)
    .bind(new.script)
    .bind(new.step)
    .bind(now as i64)
    .bind(id)
    .bind(chip)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether another pending, unexpired transaction for `chip` holds it: one that was given a
/// script (`in_flight`), or any at all. Two transactions for one chip are serialized: a
/// second one gets its first script only when the first has ended or expired.
pub async fn chip_busy(
    conn: &mut AnyConnection,
    chip: &str,
    except: &str,
    in_flight: bool,
    now: u64,
) -> Result<bool, ApiError> {
    let sql = if in_flight {
        "SELECT COUNT(*) AS n FROM transactions WHERE chip_id = $1 AND id <> $2 \
         AND state = 'pending' AND expires_at >= $3 AND step > 0"
    } else {
        "SELECT COUNT(*) AS n FROM transactions WHERE chip_id = $1 AND id <> $2 \
         AND state = 'pending' AND expires_at >= $3"
    };
    let row = sqlx::query(sql)
        .bind(chip)
        .bind(except)
        .bind(now as i64)
        .fetch_one(&mut *conn)
        .await?;
    let n: i64 = row.try_get("n")?;
    Ok(n > 0)
}

/// Records the sequence counter a chip's card reported (its genuine INITIALIZE UPDATE
/// answer): the next one it will report is one more.
pub async fn record_counter(
    conn: &mut AnyConnection,
    chip: &str,
    counter: SequenceCounter,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE chips SET sequence_counter = $1 WHERE id = $2")
        .bind(i64::from(counter.value()) + 1)
        .bind(chip)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What the server knows of a chip: its keys (diversified from the master key, never stored)
/// and its SCP03 target with the last counter seen.
pub fn chip_view(keys: &KeyRing, chip: &Chip) -> Result<(StaticKeys, ChipTarget), ApiError> {
    let length = match chip.key_length {
        16 => KeyLength::Aes128,
        24 => KeyLength::Aes192,
        32 => KeyLength::Aes256,
        _ => return Err(ApiError::Internal("chip key length".into())),
    };
    let static_keys = diversify_static_keys(keys.chip_master().expose_secret(), &chip.kdd, length);
    let target = ScriptTarget {
        aid: Aid::new(&chip.isd_aid).map_err(|e| ApiError::Internal(format!("chip AID: {e}")))?,
        kvn: chip.kvn,
        options: ScpOptions {
            s_mode: if chip.s16 { SMode::S16 } else { SMode::S8 },
            challenge: if chip.random_challenge {
                ChallengeMode::Random
            } else {
                ChallengeMode::PseudoRandom
            },
            response: ResponseProtection::RMacREnc,
        },
        key_diversification_data: Some(chip.kdd),
    };
    let counter = SequenceCounter::new(chip.sequence_counter.saturating_sub(1))
        .ok_or_else(|| ApiError::Internal("chip sequence counter".into()))?;
    Ok((static_keys, ChipTarget { target, counter }))
}

/// A fresh host challenge of the chip's mode (it keeps session keys unique).
pub fn host_challenge(chip: &ChipTarget) -> Challenge {
    Challenge::random(chip.target.options.s_mode, &mut rand_core::OsRng)
}

/// Plans the command and builds its first script.
pub fn first_script(
    claims: &CommandClaims,
    provider: &str,
    static_keys: &StaticKeys,
    chip: &ChipTarget,
) -> Result<(Transaction, Option<RelayScript>), ApiError> {
    let segments =
        online::plan(claims, provider).map_err(|e| ApiError::Internal(format!("plan: {e}")))?;
    let mut transaction = Transaction::new(segments, claims.ops.len());
    let script = transaction
        .next_script(static_keys, chip, host_challenge(chip))
        .map_err(|e| ApiError::Internal(format!("script: {e}")))?;
    Ok((transaction, script))
}

/// Resumes a stored transaction (planning its command again).
pub fn resume(stored: &Stored, state: TransactionState) -> Result<Transaction, ApiError> {
    let segments = online::plan(&stored.claims, &stored.provider)
        .map_err(|e| ApiError::Internal(format!("plan: {e}")))?;
    Ok(Transaction::resume(segments, state))
}

/// Signs the result of a finished transaction; returns the token and the transaction's final
/// state.
pub fn sign_result(
    keys: &KeyRing,
    server_id: &str,
    stored: &Stored,
    chip: &str,
    transaction: Transaction,
    reason: Option<&str>,
    now: u64,
) -> Result<(String, &'static str), ApiError> {
    let (status, results) = transaction.finish();
    let claims = ResultClaims {
        iss: server_id.into(),
        aud: Audience::from(stored.provider.as_str()),
        jti: stored.id.clone(),
        cmd: stored.claims.jti.clone(),
        iat: now,
        chip: chip.into(),
        status,
        reason: reason.map(Into::into),
        results,
    };
    let token = envelope::sign_result(&claims, &keys.signing().key)?;
    let state = match status {
        Status::Ok => crate::transactions::COMPLETED,
        Status::Failed => crate::transactions::FAILED,
    };
    Ok((token, state))
}

/// Stores a signed result with the SHA-256 of the report that finished the transaction
/// (so that the same report sent again gets this result) and marks its launch token used;
/// [`ApiError::RelayWrongStep`] when the transaction was no longer pending.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one finished transaction"
)]
pub async fn store_result(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    token: &str,
    reason: Option<&str>,
    report_hash: &str,
    token_hash: &str,
    now: u64,
) -> Result<(), ApiError> {
    if !crate::transactions::finish_on(conn, id, state, token, reason, Some(report_hash), now)
        .await?
    {
        return Err(ApiError::RelayWrongStep);
    }
    sqlx::query("UPDATE launch_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(now as i64)
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
