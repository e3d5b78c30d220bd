//! The maps under the token cache: split over several locks, with entries
//! that age out, and invalidations that a concurrent read cannot undo.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) const SHARDS: usize = 16;
/// Slots of keys whose invalidations are told apart (see [`AgedMap`]).
const EPOCH_SLOTS: usize = 4096;

struct Entry<T> {
    value: T,
    /// When the database said so: the entry is trusted until `at + ttl`.
    at: Instant,
    /// Used since it was last read from the database.
    hit: bool,
}

struct Shard<K, T> {
    map: Mutex<HashMap<K, Entry<T>>>,
}

/// A map split over [`SHARDS`] locks, with entries that age out.
///
/// A value read from the database is only stored if no invalidation of its
/// key happened since the read began. Keys fall into [`EPOCH_SLOTS`] slots,
/// each remembering its last invalidation, so that the steady stream of
/// logins (each invalidating one identity and one account) does not keep
/// every other read out of the cache.
pub(super) struct AgedMap<K, T> {
    shards: Vec<Shard<K, T>>,
    /// Counts invalidations; a ticket is its value when a read began.
    pub(super) epoch: AtomicU64,
    /// Per slot, the epoch of the last invalidation of a key in it.
    invalidated: Box<[AtomicU64]>,
    /// The epoch of the last invalidation of every key at once.
    all_invalidated: AtomicU64,
    capacity_per_shard: usize,
}

impl<K: std::hash::Hash + Eq + Copy, T: Clone> AgedMap<K, T> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    map: Mutex::new(HashMap::new()),
                })
                .collect(),
            epoch: AtomicU64::new(0),
            invalidated: (0..EPOCH_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            all_invalidated: AtomicU64::new(0),
            capacity_per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, index: usize) -> std::sync::MutexGuard<'_, HashMap<K, Entry<T>>> {
        // A panic while holding the lock cannot leave a map half-changed.
        self.shards[index % SHARDS]
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The entry's value, or whether it was absent or aged out.
    /// How many entries are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.shard(i).len()).sum()
    }

    pub(super) fn get(&self, index: usize, key: &K, ttl: Duration) -> Result<T, Absent> {
        let mut map = self.shard(index);
        match map.get_mut(key) {
            Some(e) if e.at.elapsed() < ttl => {
                e.hit = true;
                Ok(e.value.clone())
            }
            Some(_) => {
                map.remove(key);
                Err(Absent::Aged)
            }
            None => Err(Absent::Never),
        }
    }

    /// Starts an invalidation of the keys of slot `index` (of every key if
    /// `None`); the caller then removes them, under their shard's lock.
    pub(super) fn invalidate(&self, index: Option<usize>) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let last = match index {
            Some(index) => &self.invalidated[index % EPOCH_SLOTS],
            None => &self.all_invalidated,
        };
        last.fetch_max(epoch, Ordering::SeqCst);
    }

    /// Stores what the database said at `at`, unless the key was invalidated
    /// since `epoch` was read.
    ///
    /// An invalidation that counted `epoch` or less began before the read,
    /// after its change was committed: the read saw the change. Checked
    /// under the shard lock: an invalidation marks its slot before it takes
    /// this lock, so either it sees this entry and removes it, or this sees
    /// its mark and stores nothing.
    pub(super) fn insert(&self, index: usize, key: K, value: T, epoch: u64, at: Instant) {
        let mut map = self.shard(index);
        if self.invalidated[index % EPOCH_SLOTS].load(Ordering::SeqCst) > epoch
            || self.all_invalidated.load(Ordering::SeqCst) > epoch
        {
            return;
        }
        if map.len() >= self.capacity_per_shard {
            let mut ages: Vec<Instant> = map.values().map(|e| e.at).collect();
            let mid = ages.len() / 2;
            let (_, cutoff, _) = ages.select_nth_unstable(mid);
            let cutoff = *cutoff;
            map.retain(|_, e| e.at > cutoff);
        }
        map.insert(
            key,
            Entry {
                value,
                at,
                hit: false,
            },
        );
    }

    /// Removes an entry without counting as an invalidation: taking an
    /// answer away can never leave a stale one behind.
    pub(super) fn drop_entry(&self, index: usize, key: &K) {
        self.shard(index).remove(key);
    }

    /// The keys of entries used since they were read and read longer ago
    /// than `older_than`; marks them unused.
    pub(super) fn take_due(&self, older_than: Duration) -> Vec<K> {
        let mut due = Vec::new();
        for i in 0..SHARDS {
            for (key, e) in self.shard(i).iter_mut() {
                if e.hit && e.at.elapsed() >= older_than {
                    e.hit = false;
                    due.push(*key);
                }
            }
        }
        due
    }

    pub(super) fn remove(&self, index: usize, key: &K) {
        self.invalidate(Some(index));
        self.shard(index).remove(key);
    }

    pub(super) fn retain(&self, keep: impl Fn(&T) -> bool) {
        self.invalidate(None);
        for i in 0..SHARDS {
            self.shard(i).retain(|_, e| keep(&e.value));
        }
    }
}

/// Why an [`AgedMap`] had no value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Absent {
    /// Not stored, or dropped (an invalidation, the capacity).
    Never,
    /// Stored longer ago than the ttl.
    Aged,
}
