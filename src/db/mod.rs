//! The database layer: one binary, SQLite or PostgreSQL chosen at run time.
//!
//! [`DbConnection`] is an enum over both connection types. The pool's
//! [`ConnectionManager`] picks the variant from the parsed `DATABASE_URL`, so
//! diesel never has to guess the backend. Queries that use backend-specific
//! SQL (upserts, `RETURNING`) are written once and compiled for each backend
//! with [`on_backend!`](crate::on_backend).

pub mod admins;
pub mod checkpointer;
pub mod group_commit;
pub mod schema;
pub mod sessions;
pub mod user_list;
pub mod users;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{DatabaseUrl, DbSettings};
pub use checkpointer::{Checkpointer, CommitNotice, WAL_AUTOCHECKPOINT_PAGES};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long SQLite waits for another writer before giving up, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of whichever
/// backend is in use. The body is compiled once per backend, so it may use
/// any diesel feature that both backends support.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// A transaction that takes the write lock at its start.
///
/// On SQLite a deferred transaction that reads and then writes can fail at
/// once with "database is locked"; `BEGIN IMMEDIATE` waits for the busy
/// timeout instead. PostgreSQL's ordinary transaction is already right.
pub trait WriteTransaction: Connection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<DieselError>;
}

impl WriteTransaction for diesel::PgConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<DieselError>,
    {
        self.transaction(f)
    }
}

impl WriteTransaction for diesel::SqliteConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<DieselError>,
    {
        self.immediate_transaction(f)
    }
}

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledDb = PooledConnection<ConnectionManager>;

/// The database layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had: the server is down, or the pool is exhausted.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("record not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("the record already exists")]
    Conflict,
    #[error("database query failed")]
    Query(#[source] DieselError),
    #[error("database migration failed: {0}")]
    Migration(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => {
                Self::Unavailable(Box::new(e))
            }
            // SQLite's busy timeout ran out: another writer held the lock too long.
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("database is locked") =>
            {
                Self::Unavailable(Box::new(e))
            }
            e => Self::Query(e),
        }
    }
}

impl From<r2d2::PoolError> for DbError {
    fn from(e: r2d2::PoolError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Opens connections of the backend named by the URL.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                // temp_store: a batch of logins is one multi-row statement,
                // whose statement journal would otherwise spill to a temporary
                // file. Admin queries read in index order and sort little.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA temp_store = MEMORY;
                     PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        on_backend!(conn, |c| c.batch_execute("SELECT 1")).map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        on_backend!(conn, |c| r2d2::R2D2Connection::is_broken(c))
    }
}

/// Builds the pool. Fails if no connection can be opened within the timeout.
pub fn connect(settings: &DbSettings) -> Result<DbPool, DbError> {
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(1))
        .connection_timeout(settings.connect_timeout)
        .build(ConnectionManager::new(settings.url.clone()))
        .map_err(|e| DbError::Unavailable(Box::new(e)))
}

/// Applies pending migrations and returns the names of those applied.
pub fn migrate(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Folds SQLite's write-ahead log back into the database file and empties
/// it. A WAL left large (by a process that was killed, or by writes under
/// constant reads) slows every read until the next checkpoint, so the server
/// does this once at start-up. A no-op on PostgreSQL.
pub fn checkpoint(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    Ok(())
}

/// Checks that the database answers, waiting at most `timeout` for a connection.
pub fn ping(pool: &DbPool, timeout: Duration) -> Result<(), DbError> {
    let mut conn = pool.get_timeout(timeout)?;
    on_backend!(&mut *conn, |c| c.batch_execute("SELECT 1"))?;
    Ok(())
}

/// Runs blocking database work on the blocking thread pool, never on an
/// async worker.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Unavailable(Box::new(e)))?
}

/// The current time, in the form stored in the database (UTC, microseconds).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    // Both backends keep microseconds; truncating here keeps values read back
    // equal to the values written.
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}
