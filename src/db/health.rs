//! What the process knows of its database's health, learnt from its own
//! queries: whether the server answers, and whether writes are failing
//! (SQLite on a full disk). `/readyz` reports it, and the login writer uses it
//! to answer at once while the database is known to be down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// While the database is known to be down, a writer waits at most this long
/// for a connection before answering "unavailable": long enough to notice
/// that the server is back, short enough that nobody waits a whole timeout.
pub const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct DbHealth {
    /// Since when no connection could be had, if that is the last news.
    down_since: Mutex<Option<Instant>>,
    /// A write failed for lack of space or an I/O error, and none has
    /// succeeded since.
    writes_failing: AtomicBool,
    /// The node's clock is too far from the database's.
    clock_skewed: AtomicBool,
}

impl DbHealth {
    /// A connection was had: the server answers.
    pub fn reachable(&self) {
        let mut down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if down.take().is_some() {
            tracing::info!("the database answers again");
        }
    }

    /// No connection could be had within the timeout.
    pub fn unreachable(&self) {
        let mut down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_none() {
            tracing::warn!("the database is unreachable");
            *down = Some(Instant::now());
        }
    }

    /// Whether the last attempt to get a connection failed.
    pub fn is_down(&self) -> bool {
        self.down_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// A write failed with a full disk or an I/O error.
    pub fn write_failed(&self) {
        if !self.writes_failing.swap(true, Ordering::SeqCst) {
            tracing::error!("database writes are failing (disk full or I/O error); not ready until one succeeds");
        }
    }

    /// A write was committed.
    pub fn write_succeeded(&self) {
        if self.writes_failing.swap(false, Ordering::SeqCst) {
            tracing::info!("database writes succeed again");
        }
    }

    /// The result of a clock comparison: how far the database's clock is
    /// ahead of the node's, and whether that is too far.
    pub fn clock_checked(&self, skew: chrono::Duration, too_far: bool) {
        let seconds = skew.num_milliseconds() as f64 / 1000.0;
        if too_far {
            tracing::error!(
                database_ahead_by_s = seconds,
                "this node's clock differs from the database's by more than 30 s; \
                 nodes need synchronised clocks (NTP). Not ready until it is fixed"
            );
        } else if self.clock_skewed.load(Ordering::SeqCst) {
            tracing::info!(
                database_ahead_by_s = seconds,
                "this node's clock agrees with the database's again"
            );
        }
        self.clock_skewed.store(too_far, Ordering::SeqCst);
    }

    pub fn clock_skewed(&self) -> bool {
        self.clock_skewed.load(Ordering::SeqCst)
    }

    pub fn writes_failing(&self) -> bool {
        self.writes_failing.load(Ordering::SeqCst)
    }

    /// How long to wait for a connection, at most `wanted`: a short probe
    /// while the database is known to be down.
    pub fn wait_for_connection(&self, wanted: Duration) -> Duration {
        if self.is_down() {
            wanted.min(PROBE_WHILE_DOWN)
        } else {
            wanted
        }
    }
}
