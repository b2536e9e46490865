//! The database: one code path over SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Queries use `$1`-style placeholders (both backends accept them), portable SQL and only
//! `BIGINT` and `TEXT` columns. The schema is in `server/migrations/`, embedded in the binary.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, SqlSafeStr};

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL mode).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// Database errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres://`.
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    /// The driver failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A connection pool and its backend.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The backend.
    pub backend: Backend,
    /// SQLite: this instance's writers take turns here (see [`Db::writer`]).
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// A connection for writing: on SQLite it holds this instance's write turn.
#[derive(Debug)]
pub struct Writer {
    /// The connection.
    pub conn: PoolConnection<Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// The migrations, embedded.
pub fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("../migrations/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("relay"),
            MigrationType::Simple,
            include_str!("../migrations/0002_relay.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("pending_by_chip"),
            MigrationType::Simple,
            include_str!("../migrations/0003_pending_by_chip.sql").into_sql_str(),
            false,
        ),
    ])
}

impl Db {
    /// Connects (creating an SQLite file if needed) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = Backend::of_url(url)?;
        let options = AnyPoolOptions::new()
            // SQLite runs one writer at a time: two connections (one can read while the other
            // writes) keep every request's statements flowing with the fewest threads and
            // the fewest page caches emptied by another connection's commit; more make
            // writers wait in SQLite's sleeping busy handler instead of the pool's queue
            // (docs/performance.md).
            .max_connections(if backend == Backend::Sqlite { 2 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            // A pinged SQLite connection is a local file handle that cannot go stale; the ping
            // is a round trip to the connection's thread on every acquire.
            .test_before_acquire(backend != Backend::Sqlite);
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: readers never block the writer; busy_timeout: writers queue.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // `serve` checkpoints four times a second (`Db::checkpoint`); this is the
                    // backstop. SQLite's default (1,000 pages) would make nearly every commit
                    // under load try a checkpoint of its own, two fsyncs each.
                    conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        migrator().run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            write_turn: (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(()))),
        })
    }

    /// A connection to write with. SQLite has one writer at a time, and a connection that
    /// finds the database locked sleeps (1, 2, 5, 10… ms) before it tries again: this
    /// instance's writers therefore take turns in a fair queue first, which costs nothing
    /// while they wait. The turn is taken before the connection, and nobody waits for a turn
    /// while holding a connection, so the two cannot deadlock: **drop any connection you
    /// hold before calling this**. Other processes on the same file (the admin CLI) still meet
    /// SQLite's own lock and wait for it.
    pub async fn writer(&self) -> Result<Writer, sqlx::Error> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        Ok(Writer {
            conn: self.pool.acquire().await?,
            _turn: turn,
        })
    }

    /// Adds `n` to a counter kept in the database (shared by every instance).
    pub async fn add_to_counter(&self, name: &str, n: i64) -> Result<(), sqlx::Error> {
        let mut writer = self.writer().await?;
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + $2",
        )
        .bind(name)
        .bind(n)
        .execute(&mut *writer.conn)
        .await?;
        Ok(())
    }
}

impl Db {
    /// SQLite: copies the write-ahead log into the database file. `restart` also starts the
    /// log over (`PRAGMA wal_checkpoint(RESTART)`, in this instance's write turn: writers
    /// wait the few milliseconds it takes); without it the copy runs beside the writers
    /// (`PASSIVE`). Under constant writes the log could otherwise never start over and would
    /// grow without end. Nothing on PostgreSQL.
    pub async fn checkpoint(&self, restart: bool) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        if restart {
            let mut writer = self.writer().await?;
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .fetch_all(&mut *writer.conn)
                .await?;
        } else {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_all(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
