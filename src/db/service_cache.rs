//! Service credentials as last read from the database, and the calls
//! counted since the last write, in memory: an introspection costs no
//! database round trip for its client check, and its count is written with
//! the others every few seconds.
//!
//! A revoked service (by `wxlogin service revoke`, another process) is
//! refused once its entry here is [`SERVICE_TTL`] old.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::{services, DbError, DbPool};

/// How long a read of a service's credentials is trusted.
pub const SERVICE_TTL: Duration = Duration::from_secs(5);
/// How often the counted calls are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Most client ids remembered, known or not; past it, all are forgotten.
const CAPACITY: usize = 10_000;

/// A live service, as the client check needs it.
#[derive(Clone, Copy)]
pub struct KnownService {
    pub id: i64,
    pub secret_hash: [u8; 32],
}

#[derive(Default)]
pub struct ServiceCache {
    /// `None`: no live service has this client id.
    entries: Mutex<HashMap<String, (Option<KnownService>, Instant)>>,
    /// Per service id: calls since the last write, and the last one's time.
    calls: Mutex<HashMap<i64, (i64, NaiveDateTime)>>,
}

impl ServiceCache {
    /// The cached answer for `client_id`, if it is fresh: `Some(None)` for
    /// a client id known to belong to no live service.
    pub fn get(&self, client_id: &str) -> Option<Option<KnownService>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(client_id)
            .filter(|(_, at)| at.elapsed() < SERVICE_TTL)
            .map(|(known, _)| *known)
    }

    pub fn store(&self, client_id: &str, known: Option<KnownService>, read_at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(client_id.to_owned(), (known, read_at));
    }

    /// Counts one call of the service.
    pub fn count_call(&self, id: i64, now: NaiveDateTime) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let entry = calls.entry(id).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
    }

    /// Calls of the service counted here and not yet written.
    pub fn pending(&self, id: i64) -> i64 {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(&id).map_or(0, |(n, _)| *n)
    }

    /// Writes the counted calls. Those that could not be written are kept
    /// for the next time.
    pub fn flush(&self, pool: &DbPool) -> Result<(), DbError> {
        let counted: Vec<(i64, i64, NaiveDateTime)> = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            calls.drain().map(|(id, (n, at))| (id, n, at)).collect()
        };
        if counted.is_empty() {
            return Ok(());
        }
        let written = pool
            .get()
            .map_err(DbError::from)
            .and_then(|mut conn| services::add_calls(&mut conn, &counted));
        if written.is_err() {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            for (id, n, at) in counted {
                let entry = calls.entry(id).or_insert((0, at));
                entry.0 += n;
                entry.1 = entry.1.max(at);
            }
        }
        written
    }
}
