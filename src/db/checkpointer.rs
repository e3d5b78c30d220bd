//! SQLite's WAL checkpoints, mostly moved off the path of requests.
//!
//! SQLite folds the write-ahead log back into the database file inside
//! whichever commit takes the WAL past 1,000 pages: that commit (a batch of
//! logins, say) then waits for the copy and its fsyncs. The server runs a
//! passive checkpoint from this thread every [`INTERVAL`] as well, so that
//! by the time a commit checkpoints, most of the WAL is already copied and
//! synced, and the commit only finishes the rest. A passive checkpoint never
//! blocks readers or writers.
//!
//! The commit's own checkpoint stays on: only a checkpoint right after a
//! commit can catch up with the WAL's end, which lets the next writer start
//! the WAL from its beginning again. Without it, a busy database's WAL would
//! grow without bound.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{DbConnection, DbError, DbPool};

/// How often the background checkpoint runs.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// The checkpoint thread; it stops when this is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts the thread. It does nothing on PostgreSQL.
    pub fn start(pool: DbPool) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(e) = checkpoint(&pool) {
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                    }
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

fn checkpoint(pool: &DbPool) -> Result<(), DbError> {
    // Only an idle connection: under load this round is skipped rather than
    // taking a connection that a request is waiting for.
    let Some(mut conn) = pool.try_get() else {
        return Ok(());
    };
    if let DbConnection::Sqlite(c) = &mut *conn {
        c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
    }
    Ok(())
}
