//! Transactions in the database: registration (with replay protection and a launch token),
//! results, launch tokens, and the purge of expired bookkeeping.

use base64ct::{Base64UrlUnpadded, Encoding};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection, Row};

use crate::db::{Db, is_unique_violation};
use crate::error::ApiError;

/// A transaction waiting for the common app.
pub const PENDING: &str = "pending";
/// A transaction whose result is signed.
pub const COMPLETED: &str = "completed";
/// A transaction that failed as a whole (its result says why).
pub const FAILED: &str = "failed";

/// What is stored for a verified, policy-checked command.
#[derive(Debug)]
pub struct NewTransaction<'a> {
    /// The provider (`iss`).
    pub provider: &'a str,
    /// The command's `jti`.
    pub jti: &'a str,
    /// The chip (`sub`), when given.
    pub chip: Option<&'a str>,
    /// The verified claims, as JSON.
    pub claims_json: String,
    /// The command's `exp`.
    pub exp: u64,
    /// Now.
    pub now: u64,
    /// Launch URL lifetime, seconds.
    pub launch_ttl: u64,
    /// Clock leeway: the `jti` is kept until `exp + leeway`.
    pub leeway: u64,
}

/// A registered transaction.
#[derive(Debug)]
pub struct Registered {
    /// The transaction id.
    pub id: String,
    /// The launch token (only its SHA-256 is stored).
    pub launch_token: String,
    /// When the launch token expires.
    pub expires_at: u64,
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    Base64UrlUnpadded::encode_string(&bytes)
}

/// The stored form of a launch token: SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a transaction, refusing a `jti` this provider used before (kept until its
/// `exp` + leeway, so a replay is refused for as long as the command itself is valid).
pub async fn register(
    conn: &mut AnyConnection,
    new: NewTransaction<'_>,
) -> Result<Registered, ApiError> {
    let id = random_b64(16);
    let launch_token = random_b64(32);
    let expires_at = new.now.saturating_add(new.launch_ttl).min(new.exp);
    let mut tx = conn.begin().await?;
    let seen =
        sqlx::query("INSERT INTO seen_commands (provider_id, jti, keep_until) VALUES ($1, $2, $3)")
            .bind(new.provider)
            .bind(new.jti)
            .bind(new.exp.saturating_add(new.leeway) as i64)
            .execute(&mut *tx)
            .await;
    match seen {
        Err(e) if is_unique_violation(&e) => return Err(ApiError::Replayed),
        other => other?,
    };
    sqlx::query(
        "INSERT INTO transactions (id, provider_id, command_jti, chip_id, claims, state, \
         created_at, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)",
    )
    .bind(&id)
    .bind(new.provider)
    .bind(new.jti)
    .bind(new.chip)
    .bind(&new.claims_json)
    .bind(PENDING)
    .bind(new.now as i64)
    .bind(new.exp as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO launch_tokens (token_hash, transaction_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash_token(&launch_token))
    .bind(&id)
    .bind(expires_at as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Registered {
        id,
        launch_token,
        expires_at,
    })
}

/// A transaction's state and, once done, its result token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `pending`, `completed` or `failed`.
    pub state: String,
    /// The result token.
    pub result: Option<String>,
}

/// The state of transaction `id`.
pub async fn outcome(db: &Db, id: &str) -> Result<Option<Outcome>, ApiError> {
    let row = sqlx::query("SELECT state, result FROM transactions WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(Outcome {
            state: row.try_get("state")?,
            result: row.try_get("result")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// Records a transaction's final result and the SHA-256 of the report that finished it (in
/// one statement, so that the relay sending that report again gets this result).
pub async fn finish(
    db: &Db,
    id: &str,
    state: &str,
    result: &str,
    reason: Option<&str>,
    last_report: Option<&str>,
    now: u64,
) -> Result<bool, ApiError> {
    let mut writer = db.writer().await?;
    finish_on(
        &mut writer.conn,
        id,
        state,
        result,
        reason,
        last_report,
        now,
    )
    .await
}

/// [`finish`] on a connection.
pub async fn finish_on(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    result: &str,
    reason: Option<&str>,
    last_report: Option<&str>,
    now: u64,
) -> Result<bool, ApiError> {
    let done = sqlx::query(
        "UPDATE transactions SET state = $1, result = $2, reason = $3, updated_at = $4, \
         last_report = $7 WHERE id = $5 AND state = $6",
    )
    .bind(state)
    .bind(result)
    .bind(reason)
    .bind(now as i64)
    .bind(id)
    .bind(PENDING)
    .bind(last_report)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a launch token: the first use before its expiry returns the transaction id; any
/// other use returns `None` (single use, checked atomically in the database).
pub async fn consume_launch(db: &Db, token: &str, now: u64) -> Result<Option<String>, ApiError> {
    let hash = hash_token(token);
    let mut writer = db.writer().await?;
    let done = sqlx::query(
        "UPDATE launch_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at >= $1",
    )
    .bind(now as i64)
    .bind(&hash)
    .execute(&mut *writer.conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT transaction_id FROM launch_tokens WHERE token_hash = $1")
        .bind(&hash)
        .fetch_one(&mut *writer.conn)
        .await?;
    Ok(Some(row.try_get("transaction_id")?))
}

/// Forgets replay bookkeeping past its keep-until time. Safe from any instance.
pub async fn purge(db: &Db, now: u64) -> Result<u64, ApiError> {
    let mut writer = db.writer().await?;
    let done = sqlx::query("DELETE FROM seen_commands WHERE keep_until < $1")
        .bind(now as i64)
        .execute(&mut *writer.conn)
        .await?;
    Ok(done.rows_affected())
}

/// Transactions by state.
pub async fn count_by_state(db: &Db) -> Result<Vec<(String, i64)>, ApiError> {
    let rows =
        sqlx::query("SELECT state, COUNT(*) AS n FROM transactions GROUP BY state ORDER BY state")
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The database counters whose name starts with `prefix`.
pub async fn counters(db: &Db, prefix: &str) -> Result<Vec<(String, i64)>, ApiError> {
    let rows = sqlx::query("SELECT name, value FROM counters ORDER BY name")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.try_get("name")?;
        if let Some(rest) = name.strip_prefix(prefix) {
            out.push((rest.to_owned(), row.try_get("value")?));
        }
    }
    Ok(out)
}
