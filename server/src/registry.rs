//! The provider and chip registries, in the database. The admin CLI and the server share
//! these functions, so a running server sees every change at its next request.

use kazashi_protocol::envelope::MAX_ID_LEN;
use kazashi_protocol::hex as phex;
use kazashi_protocol::jose::{JwkSet, PublicKey};
use sqlx::{AnyConnection, Row};

use crate::db::{Db, is_unique_violation};

/// Registry errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The id is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// No such provider or chip.
    #[error("{0} not found")]
    NotFound(String),
    /// A value is invalid.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The change is not allowed from the current status.
    #[error("{0}")]
    Status(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A provider's status.
pub const ACTIVE: &str = "active";
/// A removed provider: its commands are refused; its history stays.
pub const REMOVED: &str = "removed";

/// A registered provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// Its id (the commands' `iss`, its namespace on chips).
    pub id: String,
    /// `active` or `removed`.
    pub status: String,
    /// AIDs its raw `apdu` operations may address.
    pub allowed_aids: Vec<Vec<u8>>,
    /// Its signature keys' ids.
    pub kids: Vec<String>,
    /// Its JWKS as registered (signature and encryption keys).
    pub jwks: String,
}

/// A provider signature key found by `kid`.
#[derive(Clone, Debug)]
pub struct ProviderKeyRecord {
    /// The provider.
    pub provider: String,
    /// The provider's status.
    pub status: String,
    /// The provider's allowed AIDs.
    pub allowed_aids: Vec<Vec<u8>>,
    /// The key.
    pub key: PublicKey,
}

fn check_id(id: &str) -> Result<(), RegistryError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(RegistryError::Invalid(
            "an id is 1 to 128 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(())
}

fn aids_to_text(aids: &[Vec<u8>]) -> String {
    aids.iter()
        .map(|a| phex::encode_upper(a))
        .collect::<Vec<_>>()
        .join(",")
}

fn aids_from_text(text: &str) -> Vec<Vec<u8>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(phex::decode)
        .collect()
}

/// Registers a provider with its JWKS: every P-256 key whose `use` is absent or `sig`
/// becomes a signature key, named by its RFC 7638 thumbprint (a `kid` in the file must be
/// that thumbprint).
pub async fn add_provider(
    db: &Db,
    id: &str,
    jwks_json: &[u8],
    allowed_aids: &[Vec<u8>],
    now: u64,
) -> Result<Vec<String>, RegistryError> {
    check_id(id)?;
    if id.len() > kazashi_protocol::policy::MAX_NAMESPACE_LEN {
        return Err(RegistryError::Invalid(
            "a provider id is at most 64 bytes (its namespace on chips)".into(),
        ));
    }
    for aid in allowed_aids {
        if !(5..=16).contains(&aid.len()) {
            return Err(RegistryError::Invalid("an AID is 5 to 16 bytes".into()));
        }
    }
    let jwks =
        JwkSet::from_json(jwks_json).map_err(|e| RegistryError::Invalid(format!("JWKS: {e}")))?;
    let mut keys = Vec::new();
    for jwk in &jwks.keys {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let key = PublicKey::from_jwk(jwk)
            .map_err(|e| RegistryError::Invalid(format!("JWKS key: {e}")))?;
        let kid = key.thumbprint();
        if jwk.kid.as_deref().is_some_and(|k| k != kid) {
            return Err(RegistryError::Invalid(format!(
                "key kid must be its RFC 7638 thumbprint ({kid})"
            )));
        }
        keys.push((kid, key.to_jwk().to_json()));
    }
    if keys.is_empty() {
        return Err(RegistryError::Invalid(
            "the JWKS has no signature key".into(),
        ));
    }
    let public_jwks = JwkSet {
        keys: jwks.keys.iter().map(|k| k.to_public()).collect(),
    }
    .to_json();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO providers (id, jwks, allowed_aids, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(&public_jwks)
    .bind(aids_to_text(allowed_aids))
    .bind(ACTIVE)
    .bind(now as i64)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            RegistryError::Exists(format!("provider {id}"))
        } else {
            e.into()
        }
    })?;
    for (kid, jwk) in &keys {
        sqlx::query("INSERT INTO provider_keys (kid, provider_id, jwk) VALUES ($1, $2, $3)")
            .bind(kid)
            .bind(id)
            .bind(jwk)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    RegistryError::Exists(format!("key {kid}"))
                } else {
                    e.into()
                }
            })?;
    }
    tx.commit().await?;
    Ok(keys.into_iter().map(|(kid, _)| kid).collect())
}

/// Every provider, by id.
pub async fn list_providers(db: &Db) -> Result<Vec<Provider>, RegistryError> {
    let rows = sqlx::query("SELECT id, status, allowed_aids, jwks FROM providers ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    let mut providers = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        let kids = sqlx::query("SELECT kid FROM provider_keys WHERE provider_id = $1 ORDER BY kid")
            .bind(&id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("kid"))
            .collect::<Result<_, _>>()?;
        providers.push(Provider {
            status: row.try_get("status")?,
            allowed_aids: aids_from_text(&row.try_get::<String, _>("allowed_aids")?),
            jwks: row.try_get("jwks")?,
            kids,
            id,
        });
    }
    Ok(providers)
}

/// Removes a provider: its commands are refused from now on; its keys and transactions stay
/// for the audit trail, and its id cannot be registered again.
pub async fn remove_provider(db: &Db, id: &str, now: u64) -> Result<(), RegistryError> {
    let done = sqlx::query(
        "UPDATE providers SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(REMOVED)
    .bind(now as i64)
    .bind(id)
    .bind(ACTIVE)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(RegistryError::NotFound(format!("active provider {id}")));
    }
    Ok(())
}

/// The provider key named `kid`, with its provider's status and grant.
pub async fn provider_key(db: &Db, kid: &str) -> Result<Option<ProviderKeyRecord>, RegistryError> {
    let row = sqlx::query(
        "SELECT k.jwk, p.id, p.status, p.allowed_aids FROM provider_keys k \
         JOIN providers p ON p.id = k.provider_id WHERE k.kid = $1",
    )
    .bind(kid)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let jwk: String = row.try_get("jwk")?;
    let key = kazashi_protocol::jose::Jwk::from_json(jwk.as_bytes())
        .and_then(|j| PublicKey::from_jwk(&j))
        .map_err(|e| RegistryError::Invalid(format!("stored key {kid}: {e}")))?;
    Ok(Some(ProviderKeyRecord {
        provider: row.try_get("id")?,
        status: row.try_get("status")?,
        allowed_aids: aids_from_text(&row.try_get::<String, _>("allowed_aids")?),
        key,
    }))
}

/// What a registration checks, read in one query: the grant of the provider whose key signed
/// the command, and the chip the command names.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The provider the key belongs to.
    pub provider: String,
    /// The provider's status.
    pub status: String,
    /// The provider's allowed AIDs.
    pub allowed_aids: Vec<Vec<u8>>,
    /// The chip, when one was asked for and it is registered.
    pub chip: Option<Chip>,
}

/// The grant of the provider key `kid` and, when `chip` is given, that chip (the
/// authoritative reads of a registration, in one round trip).
pub async fn grant(
    conn: &mut AnyConnection,
    kid: &str,
    chip: Option<&str>,
) -> Result<Option<Grant>, RegistryError> {
    let row = sqlx::query(
        "SELECT p.id AS provider, p.status AS provider_status, p.allowed_aids, c.id, c.kdd, \
         c.kvn, c.isd_aid, c.key_length, c.s16, c.random_challenge, c.sequence_counter, \
         c.status FROM provider_keys k JOIN providers p ON p.id = k.provider_id \
         LEFT JOIN chips c ON c.id = $2 WHERE k.kid = $1",
    )
    .bind(kid)
    .bind(chip)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let chip = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some(chip_from_row(&row)?),
        None => None,
    };
    Ok(Some(Grant {
        provider: row.try_get("provider")?,
        status: row.try_get("provider_status")?,
        allowed_aids: aids_from_text(&row.try_get::<String, _>("allowed_aids")?),
        chip,
    }))
}

/// A chip's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipStatus {
    /// In service.
    Active,
    /// Temporarily refused (a lost phone); can be resumed.
    Suspended,
    /// Out of service for good.
    Retired,
}

impl ChipStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A registered chip. Its SCP03 keys are not stored: they derive from the chip master key
/// and `kdd` (`kazashi_protocol::scp03::diversify_static_keys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chip {
    /// Its id: the card image number (GET DATA `0045`) in upper-case hex.
    pub id: String,
    /// Key diversification data (10 bytes).
    pub kdd: [u8; 10],
    /// Key version number.
    pub kvn: u8,
    /// The issuer security domain's AID.
    pub isd_aid: Vec<u8>,
    /// Key length in bytes (16, 24 or 32).
    pub key_length: u8,
    /// S16 mode.
    pub s16: bool,
    /// Random (rather than pseudo-random) card challenges.
    pub random_challenge: bool,
    /// The sequence counter the chip's next INITIALIZE UPDATE is expected to report.
    pub sequence_counter: u32,
    /// Its status.
    pub status: ChipStatus,
}

/// Registers a chip.
pub async fn add_chip(db: &Db, chip: &Chip, now: u64) -> Result<(), RegistryError> {
    if chip.id.is_empty() || chip.id.len() > 32 || phex::decode(&chip.id).is_none() {
        return Err(RegistryError::Invalid(
            "a chip id is 1 to 16 bytes of hex".into(),
        ));
    }
    if !matches!(chip.key_length, 16 | 24 | 32) {
        return Err(RegistryError::Invalid("key length is 16, 24 or 32".into()));
    }
    if !(5..=16).contains(&chip.isd_aid.len()) {
        return Err(RegistryError::Invalid("an AID is 5 to 16 bytes".into()));
    }
    if chip.sequence_counter > 0x00FF_FFFF {
        return Err(RegistryError::Invalid(
            "the sequence counter has 24 bits".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO chips (id, kdd, kvn, isd_aid, key_length, s16, random_challenge, \
         sequence_counter, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&chip.id)
    .bind(phex::encode_upper(&chip.kdd))
    .bind(i64::from(chip.kvn))
    .bind(phex::encode_upper(&chip.isd_aid))
    .bind(i64::from(chip.key_length))
    .bind(i64::from(chip.s16))
    .bind(i64::from(chip.random_challenge))
    .bind(i64::from(chip.sequence_counter))
    .bind(chip.status.as_str())
    .bind(now as i64)
    .execute(&db.pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            RegistryError::Exists(format!("chip {}", chip.id))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// A chip from a row with the columns of the `chips` table under their own names.
pub fn chip_from_row(row: &sqlx::any::AnyRow) -> Result<Chip, RegistryError> {
    let bad = |what: &str| RegistryError::Invalid(format!("stored chip: {what}"));
    let kdd = phex::decode(&row.try_get::<String, _>("kdd")?)
        .and_then(|v| <[u8; 10]>::try_from(v).ok())
        .ok_or_else(|| bad("kdd"))?;
    Ok(Chip {
        id: row.try_get("id")?,
        kdd,
        kvn: u8::try_from(row.try_get::<i64, _>("kvn")?).map_err(|_| bad("kvn"))?,
        isd_aid: phex::decode(&row.try_get::<String, _>("isd_aid")?).ok_or_else(|| bad("aid"))?,
        key_length: u8::try_from(row.try_get::<i64, _>("key_length")?)
            .map_err(|_| bad("key length"))?,
        s16: row.try_get::<i64, _>("s16")? != 0,
        random_challenge: row.try_get::<i64, _>("random_challenge")? != 0,
        sequence_counter: u32::try_from(row.try_get::<i64, _>("sequence_counter")?)
            .map_err(|_| bad("counter"))?,
        status: ChipStatus::parse(&row.try_get::<String, _>("status")?)
            .ok_or_else(|| bad("status"))?,
    })
}

const CHIP_COLUMNS: &str = "SELECT id, kdd, kvn, isd_aid, key_length, s16, random_challenge, \
                            sequence_counter, status FROM chips";

/// The chip `id`.
pub async fn chip(db: &Db, id: &str) -> Result<Option<Chip>, RegistryError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CHIP_COLUMNS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(chip_from_row).transpose()
}

/// Every chip, by id.
pub async fn list_chips(db: &Db) -> Result<Vec<Chip>, RegistryError> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{CHIP_COLUMNS} ORDER BY id")))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(chip_from_row)
        .collect()
}

/// Changes a chip's status: suspend (from active), resume (from suspended), retire (from
/// active or suspended; final).
pub async fn set_chip_status(
    db: &Db,
    id: &str,
    to: ChipStatus,
    now: u64,
) -> Result<(), RegistryError> {
    let from: &[ChipStatus] = match to {
        ChipStatus::Suspended => &[ChipStatus::Active],
        ChipStatus::Active => &[ChipStatus::Suspended],
        ChipStatus::Retired => &[ChipStatus::Active, ChipStatus::Suspended],
    };
    let current = chip(db, id)
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("chip {id}")))?;
    if !from.contains(&current.status) {
        return Err(RegistryError::Status(format!(
            "chip {id} is {}",
            current.status.as_str()
        )));
    }
    let done =
        sqlx::query("UPDATE chips SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(to.as_str())
            .bind(now as i64)
            .bind(id)
            .bind(current.status.as_str())
            .execute(&db.pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(RegistryError::Status(format!(
            "chip {id} changed meanwhile"
        )));
    }
    Ok(())
}
