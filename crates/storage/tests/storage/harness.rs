//! Fresh databases for the tests, on both backends.
//!
//! SQLite: a new database file in a temporary directory, removed when the test ends.
//!
//! PostgreSQL: the server at `WASTATUS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates its own database,
//! `wastatus_t_<random>` (with a locale-aware ICU collation, PostgreSQL 15 or later), migrates
//! it, and drops it when the test ends, whether it passed or panicked. If the server cannot be
//! reached, the PostgreSQL tests fail: they never skip.

use std::future::Future;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;
use wastatus_domain::ports::{
    ApiKeyRepository, IdempotencyRepository, SessionRepository, StatusRepository, TenantRepository, UserRepository,
};
use wastatus_domain::{Event, Timestamp};
use wastatus_storage::Storage;

/// The PostgreSQL server used when `WASTATUS_TEST_POSTGRES_URL` is not set.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Generates, for each named `async fn(TestDb)` of the calling module, a test on SQLite and a
/// test on PostgreSQL.
macro_rules! storage_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::harness::on_sqlite(super::$name).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::harness::on_postgres(super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use storage_tests;

/// A migrated, empty database and the storage connected to it.
pub struct TestDb {
    pub storage: Storage,
    /// Where the database is, for opening a second connection.
    pub url: String,
}

impl TestDb {
    /// Connects to the empty database at `url` and migrates it.
    pub async fn open(url: String) -> TestDb {
        let storage = Storage::connect(&url).await.expect("connect the storage");
        storage.migrate().await.expect("migrate a fresh database");
        TestDb { storage, url }
    }

    pub fn tenants(&self) -> &dyn TenantRepository {
        &self.storage
    }

    pub fn keys(&self) -> &dyn ApiKeyRepository {
        &self.storage
    }

    pub fn users(&self) -> &dyn UserRepository {
        &self.storage
    }

    pub fn sessions(&self) -> &dyn SessionRepository {
        &self.storage
    }

    pub fn statuses(&self) -> &dyn StatusRepository {
        &self.storage
    }

    pub fn idempotency(&self) -> &dyn IdempotencyRepository {
        &self.storage
    }

    /// A second storage on the same database, with pools of its own: what another process
    /// running wastatus on this database would be.
    pub async fn another_process(&self) -> Storage {
        Storage::connect(&self.url).await.expect("connect a second storage")
    }

    /// Every row of `outbox_events`, in the order the events happened (then by id), read on a
    /// separate connection.
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        let conn = self.raw_connection().await;
        let sql = "SELECT id, tenant_id, session_id, kind, payload, occurred_at, dispatched_at FROM outbox_events \
                   ORDER BY occurred_at, id";
        let rows = conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await.expect("outbox");
        let rows = rows
            .iter()
            .map(|row| {
                let payload: String = row.try_get("", "payload").expect("payload");
                OutboxRow {
                    id: row.try_get("", "id").expect("id"),
                    tenant: row.try_get("", "tenant_id").expect("tenant_id"),
                    session: row.try_get("", "session_id").expect("session_id"),
                    kind: row.try_get("", "kind").expect("kind"),
                    event: serde_json::from_str(&payload).expect("the payload is an event"),
                    occurred_at: row.try_get("", "occurred_at").expect("occurred_at"),
                    dispatched_at: row.try_get("", "dispatched_at").expect("dispatched_at"),
                }
            })
            .collect();
        conn.close().await.expect("close the raw connection");
        rows
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// `id` as an SQL literal that compares equal to a stored id: a BLOB on SQLite, a `uuid` on
    /// PostgreSQL.
    pub fn uuid_literal(&self, id: &uuid::Uuid) -> String {
        if self.is_sqlite() { format!("X'{}'", id.simple()) } else { format!("'{id}'") }
    }

    /// Runs SQL on a separate connection, to make states that the ports cannot make.
    pub async fn raw(&self, sql: &str) {
        let conn = self.raw_connection().await;
        conn.execute_unprepared(sql).await.unwrap_or_else(|err| panic!("raw SQL {sql:?} failed: {err}"));
        conn.close().await.expect("close the raw connection");
    }

    /// Reads the text column `column` of the first row that `sql` returns, on a separate
    /// connection.
    pub async fn raw_text(&self, sql: &str, column: &str) -> String {
        let conn = self.raw_connection().await;
        let statement = Statement::from_string(conn.get_database_backend(), sql);
        let row = conn.query_one_raw(statement).await.expect("raw query").expect("a row");
        let value = row.try_get::<String>("", column).expect("a text column");
        conn.close().await.expect("close the raw connection");
        value
    }

    async fn raw_connection(&self) -> DatabaseConnection {
        Database::connect(quiet(&self.url)).await.expect("open a raw connection")
    }
}

/// A row of `outbox_events`, its payload read back as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: uuid::Uuid,
    pub tenant: uuid::Uuid,
    pub session: String,
    pub kind: String,
    pub event: Event,
    pub occurred_at: Timestamp,
    pub dispatched_at: Option<Timestamp>,
}

impl OutboxRow {
    /// The row that stores `event`, undispatched.
    pub fn of(event: &Event) -> OutboxRow {
        OutboxRow {
            id: *event.id.as_uuid(),
            tenant: *event.tenant.as_uuid(),
            session: event.session.as_str().to_owned(),
            kind: event.kind.as_str().to_owned(),
            event: event.clone(),
            occurred_at: event.occurred_at,
            dispatched_at: None,
        }
    }
}

/// Runs `test` on a fresh SQLite database file.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("wastatus.db").display());
    test(TestDb::open(url).await).await;
    // `dir` is removed here, or while unwinding from a failed test.
}

/// Runs `test` on a fresh PostgreSQL database, and drops the database afterwards.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let scratch = ScratchDatabase::create().await;
    let url = scratch.url.clone();
    // In a task of its own, so that a panic is caught and the database still dropped.
    let outcome = tokio::spawn(async move { test(TestDb::open(url).await).await }).await;
    scratch.drop().await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test task did not finish: {err}"),
        }
    }
}

/// Whether the PostgreSQL server answered when the first test asked. When it is down, every
/// PostgreSQL test fails at once with the same message, instead of each waiting for its own
/// connection time-out.
static SERVER_CHECK: OnceCell<Result<(), String>> = OnceCell::const_new();

/// Connects to the PostgreSQL server once, and explains what is wrong if that fails.
async fn check_server(admin_url: &str) -> Result<(), String> {
    match Database::connect(admin_options(admin_url)).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(err) => Err(format!(
            "the PostgreSQL tests need a server, and none answers at {} ({err}). Start PostgreSQL, or set \
             WASTATUS_TEST_POSTGRES_URL to the URL of one (its user must be allowed to create databases).",
            redacted(admin_url)
        )),
    }
}

/// Options for the connection that creates and drops test databases.
fn admin_options(admin_url: &str) -> ConnectOptions {
    let mut options = quiet(admin_url);
    options.max_connections(1).acquire_timeout(Duration::from_secs(5));
    options
}

/// A PostgreSQL database made for one test.
struct ScratchDatabase {
    /// A connection to the server's maintenance database, which creates and drops this one.
    admin: DatabaseConnection,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create() -> ScratchDatabase {
        let admin_url = postgres_url();
        if let Err(message) = SERVER_CHECK.get_or_init(|| check_server(&admin_url)).await {
            panic!("{message}");
        }
        let admin = Database::connect(admin_options(&admin_url)).await.expect("connect to the PostgreSQL server");
        let name = format!("wastatus_t_{}", uuid::Uuid::new_v4().simple());
        // An ICU collation that does not sort bytewise (`a-b` after `a_b`, `b` before `B`), so
        // that no query relies on the server's default collation happening to be `C`.
        let create = format!("CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
        admin
            .execute_unprepared(&create)
            .await
            .unwrap_or_else(|err| panic!("could not create the test database {name}: {err}"));
        let mut url = url::Url::parse(&admin_url).expect("WASTATUS_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        ScratchDatabase { admin, name, url: url.into() }
    }

    /// Drops the database, closing any connection the test left open.
    async fn drop(self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        self.admin.execute_unprepared(&sql).await.unwrap_or_else(|err| panic!("could not drop {}: {err}", self.name));
        self.admin.close().await.expect("close the admin connection");
    }
}

/// The URL of the PostgreSQL server's maintenance database, from which test databases are made.
pub fn postgres_url() -> String {
    std::env::var("WASTATUS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Connection options without sqlx's statement log.
fn quiet(url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false);
    options
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.into()
        }
        Err(_) => "(an invalid URL)".to_owned(),
    }
}
