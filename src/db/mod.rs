//! The database layer: one binary, SQLite or PostgreSQL chosen at run time.
//!
//! [`DbConnection`] is an enum over both connection types. The pool's
//! [`ConnectionManager`] picks the variant from the parsed `DATABASE_URL`, so
//! diesel never has to guess the backend. Queries that use backend-specific
//! SQL (upserts, `RETURNING`) are written once and compiled for each backend
//! with [`on_backend!`](crate::on_backend).

pub mod access_tokens;
pub mod accounts;
pub mod activity;
pub mod admin_sessions;
pub mod admins;
pub mod bulk;
pub mod checkpointer;
pub mod clock;
pub mod code_claims;
pub mod content_checks;
pub mod group_commit;
pub mod health;
pub mod identities;
pub mod links;
pub mod login_codes;
pub mod logins;
pub mod outbox;
pub mod phone_ledger;
mod pool;
pub mod retention;
pub mod revocations;
pub mod schema;
pub mod sealed_values;
pub mod service_cache;
pub mod services;
pub mod sessions;
pub mod sign_in_throttle;
pub mod token_cache;
pub mod user_list;
pub mod users;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use checkpointer::{Checkpointer, CommitNotice, WAL_AUTOCHECKPOINT_PAGES};
pub use pool::{close, connect, ConnectionManager, DbPool, PoolUse};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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

/// Where the two backends' SQL differs.
pub(crate) trait Dialect {
    /// How a backend writes its `n`-th bind parameter in raw SQL. A query
    /// may name the same parameter several times.
    fn placeholder(&self, n: usize) -> String;
    /// `nickname LIKE <pattern>`, ignoring case.
    fn nickname_contains(&self) -> &'static str;
}

impl Dialect for diesel::PgConnection {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }
    fn nickname_contains(&self) -> &'static str {
        "accounts.nickname ILIKE "
    }
}

impl Dialect for diesel::SqliteConnection {
    /// Numbered, so that one bound value can be used more than once.
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    /// SQLite's LIKE already ignores the case of ASCII letters, as its
    /// `lower()` is ASCII-only too.
    fn nickname_contains(&self) -> &'static str {
        "accounts.nickname LIKE "
    }
}

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
    /// Something the code relies on did not hold: a bug, never the caller's
    /// fault. The text says what.
    #[error("broken invariant: {0}")]
    Invariant(&'static str),
    /// The database cannot write: its disk is full, or writing failed.
    #[error("the database cannot write (disk full or I/O error)")]
    StorageFailing(#[source] DieselError),
    #[error("database query failed")]
    Query(#[source] DieselError),
    #[error("database migration failed: {0}")]
    Migration(String),
}

impl DbError {
    /// PostgreSQL aborted the transaction because another one crossed it (a
    /// deadlock, or a serialization failure): the same work done again
    /// succeeds.
    pub fn is_transient_conflict(&self) -> bool {
        match self {
            Self::Query(DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => {
                true
            }
            Self::Query(DieselError::DatabaseError(_, info)) => {
                info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict,
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
            // SQLITE_FULL, SQLITE_IOERR, and PostgreSQL's ENOSPC.
            DieselError::DatabaseError(_, ref info)
                if [
                    "database or disk is full",
                    "disk I/O error",
                    "No space left on device",
                ]
                .iter()
                .any(|m| info.message().contains(m)) =>
            {
                Self::StorageFailing(e)
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

/// Applies pending migrations and returns the names of those applied.
///
/// Processes that start together (the nodes of a fleet, or a command beside
/// the server) would otherwise each see the same pending migrations, and all
/// but one fail half-way. So one migrates while the others wait, then find
/// nothing left to do.
pub fn migrate(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    fn names(
        applied: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>,
    ) -> Result<Vec<String>, DbError> {
        applied
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| DbError::Migration(e.to_string()))
    }
    match conn {
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = names(c.run_pending_migrations(POSTGRES_MIGRATIONS));
            // Closing the connection would release the lock too, but a pooled
            // one lives on.
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied
        }
        // On SQLite, an immediate transaction takes the write lock first,
        // so a second process waits (up to the busy timeout) rather than
        // reading the same pending list.
        DbConnection::Sqlite(c) => {
            c.immediate_transaction(|c| names(c.run_pending_migrations(SQLITE_MIGRATIONS)))
        }
    }
}

/// The PostgreSQL advisory lock key that serialises migrations: "wxlogin"
/// in ASCII, so that it is unlikely to meet another application's key.
const MIGRATION_LOCK: i64 = 0x77_78_6c_6f_67_69_6e;

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

/// Checks that the database answers, waiting at most `timeout` for a
/// connection. While writes are known to fail, it also tries a write, and
/// answers [`DbError::StorageFailing`] until one succeeds.
pub fn ping(pool: &DbPool, timeout: Duration) -> Result<(), DbError> {
    let mut conn = pool.get_timeout(timeout)?;
    on_backend!(&mut *conn, |c| c.batch_execute("SELECT 1"))?;
    if pool.health().clock_skewed() {
        return Err(DbError::Unavailable(
            "this node's clock differs from the database's".into(),
        ));
    }
    if pool.health().writes_failing() {
        match health_probe_write(&mut conn) {
            Ok(()) => pool.health().write_succeeded(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How much the readiness probe writes: more than a batch of logins does.
const PROBE_BYTES: usize = 256 * 1024;

/// Writes a quarter MiB into `readiness_probe`, then clears it, each in its
/// own transaction: it succeeds only if the database can grow again.
fn health_probe_write(conn: &mut DbConnection) -> Result<(), DbError> {
    use schema::readiness_probe as probe;
    let now = crate::clock::now();
    let padding = vec![0u8; PROBE_BYTES];
    on_backend!(conn, |c| diesel::insert_into(probe::table)
        .values((
            probe::id.eq(1),
            probe::written_at.eq(now),
            probe::padding.eq(&padding)
        ))
        .on_conflict(probe::id)
        .do_update()
        .set((probe::written_at.eq(now), probe::padding.eq(&padding)))
        .execute(c))?;
    on_backend!(conn, |c| diesel::update(probe::table.find(1))
        .set(probe::padding.eq(None::<Vec<u8>>))
        .execute(c))?;
    Ok(())
}

/// Runs `f` in a write transaction (see [`WriteTransaction`]) on the
/// backend-neutral connection, so that its steps can be functions of their
/// own rather than one body compiled per backend.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    // The connection enum's transaction manager hands every call to the
    // backend's own, so a transaction begun on the backend is committed or
    // rolled back through the enum as any other.
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::warn!(error = %rollback, "a rollback failed");
            }
            Err(e)
        }
    }
}

/// Runs `f` in a transaction: everything it writes, or nothing.
pub fn transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    conn.transaction(f)
}

/// Runs blocking database work on the blocking thread pool, never on an
/// async worker.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
{
    run_with(pool, false, f).await
}

/// [`run`], but while the database is known to be down it waits only a
/// short probe for a connection, as the login writer does: for the steps of
/// a login, which must fail fast in an outage.
pub async fn run_probing<T, F>(pool: &DbPool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
{
    run_with(pool, true, f).await
}

async fn run_with<T, F>(pool: &DbPool, probing: bool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = if probing {
            pool.get_probing()?
        } else {
            pool.get()?
        };
        let result = f(&mut conn);
        if let Err(DbError::StorageFailing(_)) = &result {
            pool.health().write_failed();
        }
        result
    })
    .await
    .map_err(|e| DbError::Unavailable(Box::new(e)))?
}
