//! Pruning of what is kept only for a while: audit entries past
//! `--audit-retention`, sessions expired or revoked longer ago than
//! `--session-retention`, and sign-in throttle counters whose window ended.
//!
//! A background thread deletes them in small batches, each its own short
//! statement, so that pruning a large backlog never holds a long lock.
//! Several nodes may prune at once: a row is deleted once either way.

use std::time::Duration;

use super::{admin_sessions, admins, outbox, sessions, sign_in_throttle, DbError, DbPool};
use crate::background::Periodic;

/// Rows deleted per statement.
pub const BATCH: i64 = 1_000;
/// Most batches per table in one round; the rest waits for the next round.
const MAX_BATCHES_PER_ROUND: usize = 100;
/// Pause between two batches, so that other writers get the lock.
const PAUSE: Duration = Duration::from_millis(20);

/// How long things are kept. `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub audit: Option<Duration>,
    pub sessions: Option<Duration>,
    /// Sign-in counters are kept this long after their window started.
    pub counters: chrono::Duration,
    /// Admin sessions end at their idle or absolute limit.
    pub admin_sessions: crate::config::AdminPolicy,
}

/// How long delivered and failed webhook events are kept.
pub const WEBHOOK_EVENTS_KEPT: chrono::Duration = chrono::Duration::days(7);

/// One round: prunes each table until nothing old is left, or the round's
/// budget is spent. Returns how many rows were deleted.
pub fn prune_once(pool: &DbPool, retention: Retention) -> Result<usize, DbError> {
    let now = crate::clock::now();
    let before =
        |keep: Duration| now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut deleted = 0;
    if let Some(keep) = retention.audit {
        deleted += in_batches(pool, |c| admins::prune_audit(c, before(keep), BATCH))?;
    }
    if let Some(keep) = retention.sessions {
        deleted += in_batches(pool, |c| sessions::prune(c, before(keep), BATCH))?;
    }
    let admin = retention.admin_sessions;
    deleted += in_batches(pool, |c| {
        admin_sessions::prune(
            c,
            before(admin.idle_timeout),
            before(admin.session_lifetime),
            BATCH,
        )
    })?;
    deleted += sign_in_throttle::prune(&mut *pool.get()?, now - retention.counters)?;
    // Delivered and failed webhook events are kept a week, for the admin
    // page; those still being retried stay.
    deleted += in_batches(pool, |c| outbox::prune(c, now - WEBHOOK_EVENTS_KEPT, BATCH))?;
    Ok(deleted)
}

fn in_batches(
    pool: &DbPool,
    mut batch: impl FnMut(&mut super::DbConnection) -> Result<usize, DbError>,
) -> Result<usize, DbError> {
    let mut deleted = 0;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let n = batch(&mut *pool.get()?)?;
        deleted += n;
        if n < BATCH as usize {
            break;
        }
        std::thread::sleep(PAUSE);
    }
    Ok(deleted)
}

/// How often login codes past their window are deleted: they come at the
/// rate of logins, and live a minute.
pub const LOGIN_CODES_EVERY: Duration = Duration::from_secs(10);

/// The thread that forgets login codes past their retry window.
pub fn start_login_code_sweeper(
    codes: std::sync::Arc<super::code_claims::CodeStore>,
) -> std::io::Result<Periodic> {
    Periodic::start(
        "login-codes",
        LOGIN_CODES_EVERY,
        move || {
            if let Err(e) = codes.prune(crate::clock::now()) {
                tracing::warn!(error = %e, "cannot delete old login codes yet; the next round tries again");
            }
        },
        || {},
    )
}

/// The pruning thread: a round every `every`.
pub fn start(pool: DbPool, retention: Retention, every: Duration) -> std::io::Result<Periodic> {
    Periodic::start(
        "retention",
        every,
        move || match prune_once(&pool, retention) {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned old audit entries, sessions and counters"),
            Err(e) => tracing::warn!(error = %e, "pruning failed; the next round tries again"),
        },
        || {},
    )
}
