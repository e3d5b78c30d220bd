//! The database layer: one binary, SQLite or PostgreSQL chosen at run time.
//!
//! [`DbConnection`] is an enum over both connection types. The pool's
//! [`ConnectionManager`] picks the variant from the parsed `DATABASE_URL`, so
//! diesel never has to guess the backend. Queries that use backend-specific
//! SQL (upserts, `RETURNING`) are written once and compiled for each backend
//! with [`on_backend!`](crate::on_backend).

pub mod admins;
pub mod checkpointer;
pub mod clock;
pub mod group_commit;
pub mod health;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod sign_in_throttle;
pub mod token_cache;
pub mod user_list;
pub mod users;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2;
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

/// The connection pool, with the gate that closes it cleanly and what is
/// known of the database's health. Cheap to clone; it derefs to r2d2's pool.
#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<ConnectionManager>,
    gate: Arc<ConnectGate>,
    health: Arc<health::DbHealth>,
}

impl std::ops::Deref for DbPool {
    type Target = r2d2::Pool<ConnectionManager>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

type Pooled = r2d2::PooledConnection<ConnectionManager>;

impl DbPool {
    /// What is known of the database's health.
    pub fn health(&self) -> &health::DbHealth {
        &self.health
    }

    /// A connection, waiting at most the pool's connect timeout.
    pub fn get(&self) -> Result<Pooled, r2d2::PoolError> {
        self.get_timeout(self.pool.connection_timeout())
    }

    /// A connection, waiting at most `timeout`. Whether one was had is
    /// recorded in [`DbPool::health`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<Pooled, r2d2::PoolError> {
        let got = self.pool.get_timeout(timeout);
        match &got {
            Ok(_) => self.health.reachable(),
            // Every connection busy is a full pool; none at all, a
            // database that cannot be reached.
            Err(_) if self.pool.state().connections == 0 => self.health.unreachable(),
            Err(_) => {}
        }
        got
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
        "users.nickname ILIKE "
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
        "users.nickname LIKE "
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
    /// The database cannot write: its disk is full, or writing failed.
    #[error("the database cannot write (disk full or I/O error)")]
    StorageFailing(#[source] DieselError),
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

/// Counts the connections being opened, and once closed refuses new ones.
///
/// r2d2 opens connections on its own threads, and libpq sets up TLS while
/// it connects. A process that exits while such a thread is inside libpq
/// races OpenSSL's clean-up at exit, and crashes. So every command closes its
/// pool before it exits: no new connection starts, and the ones under way
/// are waited for.
#[derive(Debug, Default)]
struct ConnectGate {
    closed: AtomicBool,
    opening: Mutex<usize>,
    done: Condvar,
}

impl ConnectGate {
    fn enter(&self) -> Option<OpeningGuard<'_>> {
        let mut opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        *opening += 1;
        Some(OpeningGuard(self))
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Refuses new connections and waits, at most `wait`, for those under way.
    fn close(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        while *opening > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            opening = self
                .done
                .wait_timeout(opening, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

struct OpeningGuard<'a>(&'a ConnectGate);

impl Drop for OpeningGuard<'_> {
    fn drop(&mut self) {
        let mut opening = self.0.opening.lock().unwrap_or_else(|e| e.into_inner());
        *opening -= 1;
        self.0.done.notify_all();
    }
}

/// Opens connections of the backend named by the URL.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    gate: Arc<ConnectGate>,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let Some(_opening) = self.gate.enter() else {
            return Err(r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection("the pool is closed".into()),
            ));
        };
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
        // Once the pool is closed, a returned connection is closed at once
        // rather than kept idle.
        self.gate.is_closed() || on_backend!(conn, |c| r2d2::R2D2Connection::is_broken(c))
    }
}

/// Logs the errors of r2d2's own connection attempts, but not the refusals
/// of a closed pool.
#[derive(Debug)]
struct ConnectErrorLog(Arc<ConnectGate>);

impl r2d2::HandleError<r2d2::Error> for ConnectErrorLog {
    fn handle_error(&self, error: r2d2::Error) {
        if !self.0.is_closed() {
            tracing::warn!(error = %error, "cannot open a database connection");
        }
    }
}

/// What a pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolUse {
    /// `serve`: keeps an idle connection ready and recycles old ones.
    Server,
    /// A command that does its work and exits: opens connections only when
    /// asked, and runs no background thread that could still be connecting
    /// when the process exits.
    OneShot,
}

/// Builds the pool. Fails if no connection can be opened within the timeout.
pub fn connect(settings: &DbSettings, purpose: PoolUse) -> Result<DbPool, DbError> {
    let gate = Arc::new(ConnectGate::default());
    let manager = ConnectionManager {
        url: settings.url.clone(),
        gate: gate.clone(),
    };
    let builder = r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .connection_timeout(settings.connect_timeout)
        .error_handler(Box::new(ConnectErrorLog(gate.clone())));
    let builder = match purpose {
        PoolUse::Server => builder.min_idle(Some(1)),
        // No idle connection to refill, and no reaper thread.
        PoolUse::OneShot => builder
            .min_idle(Some(0))
            .idle_timeout(None)
            .max_lifetime(None),
    };
    let pool = match builder.build(manager) {
        Ok(pool) => pool,
        Err(e) => {
            // r2d2 may still be trying: let no attempt outlive this call.
            gate.close(settings.connect_timeout + Duration::from_secs(1));
            return Err(DbError::Unavailable(Box::new(e)));
        }
    };
    Ok(DbPool {
        pool,
        gate,
        health: Arc::default(),
    })
}

/// Closes the pool: no connection is opened any more, those being opened are
/// waited for (at most the connect timeout), and idle ones are closed. Call
/// it once nothing uses the pool, before the process exits.
pub fn close(pool: &DbPool) {
    let finished = pool
        .gate
        .close(pool.connection_timeout() + Duration::from_secs(1));
    if !finished {
        tracing::warn!("a database connection was still being opened at exit");
    }
    // Each one is dropped as it comes back, as the gate is closed.
    while let Some(conn) = pool.try_get() {
        drop(conn);
    }
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
        let result = f(&mut conn);
        if let Err(DbError::StorageFailing(_)) = &result {
            pool.health().write_failed();
        }
        result
    })
    .await
    .map_err(|e| DbError::Unavailable(Box::new(e)))?
}
