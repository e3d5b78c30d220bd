//! SQLite's WAL checkpoints, moved off the path of requests.
//!
//! A commit appends the pages it changed to the write-ahead log; a
//! checkpoint copies them back into the database file, with two fsyncs.
//! SQLite runs a checkpoint inside whichever commit takes the WAL past
//! [`WAL_AUTOCHECKPOINT_PAGES`], and that commit (a batch of logins, say)
//! waits for the copy and the fsyncs.
//!
//! So this thread runs a passive checkpoint soon after every commit of the
//! login writer (it sends a [`CommitNotice`]), at most once per
//! [`MIN_GAP`], and every [`IDLE_INTERVAL`] for the other writers. A passive
//! checkpoint never blocks readers or writers. The commit's own checkpoint
//! then finds most of the WAL already copied and synced.
//!
//! The commit's own checkpoint stays on: only a checkpoint right after a
//! commit can catch up with the WAL's end, which lets the next writer start
//! the WAL from its beginning again. Without it, a busy database's WAL would
//! grow without bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use super::{DbConnection, DbError, DbPool};

/// `PRAGMA wal_autocheckpoint`: the WAL size, in pages, at which a commit
/// checkpoints by itself. With 4 KiB pages, 16 MiB. SQLite's default of
/// 1,000 pages is reached every 60 ms under a login load, faster than the
/// background thread can copy, so commits paid for most checkpoints.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;

/// The shortest time between two background checkpoints: each costs two
/// fsyncs, so notices that arrive meanwhile are served by one round.
pub const MIN_GAP: Duration = Duration::from_millis(10);

/// How often the background checkpoint runs without a notice.
pub const IDLE_INTERVAL: Duration = Duration::from_millis(100);

/// The checkpoint thread. It stops when asked, or when this and every
/// [`CommitNotice`] are dropped.
pub struct Checkpointer {
    notice: CommitNotice,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Tells the checkpoint thread that a commit has grown the WAL. Cheap and
/// never blocks: notices sent while one is pending are merged into it.
#[derive(Clone)]
pub struct CommitNotice(SyncSender<()>);

impl CommitNotice {
    pub fn committed(&self) {
        // Full: a notice is already pending. Disconnected: the thread has
        // stopped, and SQLite's own checkpoint still runs at commit.
        let _ = self.0.try_send(());
    }
}

impl Checkpointer {
    /// Starts the thread. Only for SQLite: see `AppState`.
    pub fn start(pool: DbPool) -> std::io::Result<Self> {
        let (notice, notices) = mpsc::sync_channel::<()>(1);
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || loop {
                match notices.recv_timeout(IDLE_INTERVAL) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let started = Instant::now();
                if let Err(e) = checkpoint(&pool) {
                    tracing::warn!(error = %e, "background WAL checkpoint failed");
                }
                if let Some(rest) = MIN_GAP.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            })?;
        Ok(Self {
            notice: CommitNotice(notice),
            stopping,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes it if it waits; a full channel already will.
        self.notice.committed();
        crate::background::join(&self.thread);
    }

    /// A handle for a writer to send its commits' notices with.
    pub fn notice(&self) -> CommitNotice {
        self.notice.clone()
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
