//! The connection pool: a manager that opens the backend the URL names,
//! a gate that closes the pool cleanly before the process exits, and the
//! health that its check-outs teach.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2;

use super::{health, DbConnection, DbError, WAL_AUTOCHECKPOINT_PAGES};
use crate::config::{DatabaseUrl, DbSettings};
use crate::on_backend;

/// How long SQLite waits for another writer before giving up, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

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

    /// A connection, waiting the pool's timeout, or only a short probe
    /// while the database is known to be down: for the steps of a login,
    /// which must fail fast in an outage.
    pub fn get_probing(&self) -> Result<Pooled, r2d2::PoolError> {
        let wanted = self.pool.connection_timeout();
        self.get_timeout(self.health.wait_for_connection(wanted))
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
