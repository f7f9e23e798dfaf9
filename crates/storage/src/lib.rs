//! The storage adapter of wastatus: the repository ports of `wastatus-domain`, on SQLite or
//! PostgreSQL, through sea-orm.
//!
//! [`Storage`] is the whole public surface: it connects, applies the schema migrations, answers
//! the readiness probe, and implements [`TenantRepository`], [`ApiKeyRepository`],
//! [`UserRepository`], [`SessionRepository`], [`StatusRepository`] and
//! [`IdempotencyRepository`] itself.
//!
//! Every query that reads or changes a tenant's data is scoped by the tenant id the port is
//! given, so no call returns or touches another tenant's rows. Database errors never leave this
//! crate as such: they become [`InsertError::AlreadyExists`] (unique-key violations on insert),
//! [`InsertError::ParentMissing`] (foreign-key violations on insert, and a session whose owner
//! is not a user of its tenant) or a [`StorageError`] that keeps the cause for the logs.
//!
//! How values are stored (see the migrations for the schema): ids are native `uuid` on
//! PostgreSQL and 16-byte BLOBs on SQLite; timestamps are `timestamptz` on PostgreSQL and
//! fixed-width UTC text on SQLite (`2026-01-31T09:05:00.000000Z`, which sorts chronologically);
//! an API key's hash and a user's token hash are 64 lowercase hex digits; scopes are their names,
//! space-separated; enums are their domain names (`as_str`); an unknown stored scope or enum name
//! is a [`StorageError`]. Unsigned domain numbers live in signed columns
//! (a text status's colour and a media size in `bigint`, media dimensions and durations in
//! `integer`): a value too large for its column is refused on insert with a [`StorageError`],
//! and a stored value outside the domain's range is a [`StorageError`] when read.
//!
//! Changes that go together are one transaction on the writer: a status and its prepared media
//! (`status_media`, kept until the status is settled); a status's or a session's state change
//! and the events it causes (`outbox_events`, each event as its JSON, for the webhook
//! dispatcher). Statuses are jobs that workers claim with a lease; see
//! `repo/statuses.rs` for how claims stay exclusive on each backend.
//!
//! [`TenantRepository`]: wastatus_domain::ports::TenantRepository
//! [`ApiKeyRepository`]: wastatus_domain::ports::ApiKeyRepository
//! [`UserRepository`]: wastatus_domain::ports::UserRepository
//! [`SessionRepository`]: wastatus_domain::ports::SessionRepository
//! [`StatusRepository`]: wastatus_domain::ports::StatusRepository
//! [`IdempotencyRepository`]: wastatus_domain::ports::IdempotencyRepository
//! [`InsertError::AlreadyExists`]: wastatus_domain::ports::InsertError::AlreadyExists
//! [`InsertError::ParentMissing`]: wastatus_domain::ports::InsertError::ParentMissing

use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use wastatus_domain::ports::StorageError;

mod db;
mod entity;
mod error;
mod migration;
mod repo;
mod time;

/// How many connections a SQLite reader pool opens at most. In WAL mode readers do not block
/// the writer nor each other.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// How long a SQLite connection waits for another connection's write to finish before failing
/// with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a query waits for a pooled connection, or for a new one to open, before failing.
/// It also bounds how long [`Storage::connect`] retries an unreachable server.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The database behind a [`Storage`]: a pool of connections, cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    /// Runs reads (and, on PostgreSQL, everything).
    db: DatabaseConnection,
    /// Runs writes. On SQLite, a pool of exactly one connection: SQLite admits one writer at a
    /// time, and writers queueing here for the connection wait in order, without the sleeps and
    /// retries of SQLite's busy handler that concurrent writer connections would go through.
    /// On PostgreSQL, the same pool as `db`.
    writer: DatabaseConnection,
    backend: Backend,
}

/// The database systems this crate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, from its scheme.
    ///
    /// The URL is checked here, before sea-orm sees it, because sea-orm's error for an
    /// unparsable URL quotes the URL, password included.
    fn of_url(url: &str) -> anyhow::Result<Self> {
        let Ok(parsed) = url::Url::parse(url) else {
            bail!("the database URL is not a valid URL (expected sqlite://… or postgres://…)");
        };
        match parsed.scheme() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => bail!("unsupported database URL scheme {other:?} (expected sqlite:// or postgres://)"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl Storage {
    /// Opens a connection pool to the database at `url` (`sqlite://wastatus.db?mode=rwc`,
    /// `sqlite::memory:`, `postgres://user@host/db`).
    ///
    /// Every SQLite connection runs in WAL mode, enforces foreign keys (which the cascading
    /// deletes rely on) and waits up to ten seconds for a concurrent writer instead of failing.
    /// An in-memory SQLite database lives only as long as a connection to it, so its pool keeps
    /// exactly one connection open, forever.
    pub async fn connect(url: &str) -> anyhow::Result<Storage> {
        let backend = Backend::of_url(url)?;
        let connect = |role: Role| async move {
            let mut options = ConnectOptions::new(url);
            // Statements are traced by sea-orm's own spans; sqlx's per-statement log is noise.
            options.sqlx_logging(false).acquire_timeout(ACQUIRE_TIMEOUT);
            if backend == Backend::Sqlite {
                configure_sqlite(&mut options, is_in_memory(url), role);
            }
            Database::connect(options)
                .await
                .with_context(|| format!("could not connect to the {} database", backend.name()))
        };
        let db = connect(Role::Read).await?;
        let writer = match backend {
            // An in-memory database is private to its one connection: reads and writes share it.
            Backend::Sqlite if !is_in_memory(url) => connect(Role::Write).await?,
            _ => db.clone(),
        };
        Ok(Storage { db, writer, backend })
    }

    /// Applies the migrations that the database has not seen yet. Running it again is harmless.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migration::Migrator::up(&self.writer, None).await.context("could not apply the database migrations")
    }

    /// Checks that the database answers, for the readiness probe.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.db.ping().await.map_err(error::failed("checking the database connection"))
    }

    /// The kind of database: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }
}

/// What a SQLite pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Read,
    Write,
}

/// Sets the per-connection options and the pool size of a SQLite pool.
///
/// `synchronous = NORMAL` is the usual setting with WAL: a committed transaction survives a
/// crash of the process; only a power loss may roll back the last moments.
fn configure_sqlite(options: &mut ConnectOptions, in_memory: bool, role: Role) {
    options.map_sqlx_sqlite_opts(|sqlite: SqliteConnectOptions| {
        sqlite
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    if role == Role::Write {
        options.max_connections(1).min_connections(1);
    } else if in_memory {
        // sqlx shares an in-memory database between the connections of one pool, but the
        // database disappears when its last connection closes, as idle or old pooled
        // connections do. One connection, never closed, keeps it for the life of the pool.
        options.max_connections(1).min_connections(1).idle_timeout(None::<Duration>).max_lifetime(None::<Duration>);
    } else {
        options.max_connections(SQLITE_MAX_CONNECTIONS);
    }
}

/// Tells whether a SQLite URL names an in-memory database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}
