//! An in-process cache of checked session tokens, so that `/api/me` and
//! every other Bearer request do not each cost a database round trip.
//!
//! - Entries live [`TokenCache::ttl`] at most (5 s by default). A token
//!   revoked on another node (or straight in the database) keeps working
//!   on this node until its entry is that old: that is the longest another
//!   node may take to see a revoke.
//! - On the node where it happens, a revoke is instant: logout, the admin's
//!   revoke and revoke-all remove the entries before they answer, and a look-up
//!   that raced with them never puts its stale answer back (see `epoch`).
//! - Users are cached apart from tokens, by id, so that a change to a user
//!   (a login, a profile update) drops one entry however many tokens they have.
//! - Expiry is checked on every hit, and an entry whose `last_seen_at` is due
//!   for its once-a-minute write counts as a miss, so the database still
//!   learns when a session was last used.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::db::sessions::{Session, LAST_SEEN_GRANULARITY};
use crate::db::users::User;
use crate::token::TokenHash;

/// How long a checked token is trusted without asking the database.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
/// Most tokens (and users) kept; past it, the oldest half is dropped.
pub const DEFAULT_CAPACITY: usize = 100_000;
const SHARDS: usize = 16;

struct Entry<T> {
    value: T,
    at: Instant,
}

struct Shard<K, T> {
    map: Mutex<HashMap<K, Entry<T>>>,
}

/// A map split over [`SHARDS`] locks, with entries that age out.
struct AgedMap<K, T> {
    shards: Vec<Shard<K, T>>,
    /// Bumped by every invalidation. A value read from the database is only
    /// stored if no invalidation happened since the read began.
    epoch: AtomicU64,
    capacity_per_shard: usize,
}

impl<K: std::hash::Hash + Eq + Copy, T: Clone> AgedMap<K, T> {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    map: Mutex::new(HashMap::new()),
                })
                .collect(),
            epoch: AtomicU64::new(0),
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

    fn get(&self, index: usize, key: &K, ttl: Duration) -> Option<T> {
        let mut map = self.shard(index);
        match map.get(key) {
            Some(e) if e.at.elapsed() < ttl => Some(e.value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, index: usize, key: K, value: T, epoch: u64) {
        let mut map = self.shard(index);
        // Checked under the shard lock: an invalidation bumps the epoch
        // before it takes this lock, so either it sees this entry and removes
        // it, or this sees its bump and stores nothing.
        if self.epoch.load(Ordering::SeqCst) != epoch {
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
                at: Instant::now(),
            },
        );
    }

    fn remove(&self, index: usize, key: &K) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.shard(index).remove(key);
    }

    fn retain(&self, keep: impl Fn(&T) -> bool) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for i in 0..SHARDS {
            self.shard(i).retain(|_, e| keep(&e.value));
        }
    }
}

/// Where a look-up stood when it went to the database; hand it back to
/// [`TokenCache::store`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    tokens: u64,
    users: u64,
}

/// See the module documentation.
pub struct TokenCache {
    tokens: AgedMap<TokenHash, Session>,
    users: AgedMap<i64, Arc<User>>,
    ttl: Duration,
}

fn token_shard(hash: &TokenHash) -> usize {
    hash.0[0] as usize
}

fn user_shard(id: i64) -> usize {
    id as usize
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// A cache whose entries live `ttl`; a zero `ttl` turns it off.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            tokens: AgedMap::new(capacity),
            users: AgedMap::new(capacity),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The live session of this token and its user, if both are cached,
    /// the session has not expired and its `last_seen_at` is not due.
    pub fn get(&self, hash: &TokenHash, now: NaiveDateTime) -> Option<(Session, Arc<User>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let session = self.tokens.get(token_shard(hash), hash, self.ttl)?;
        if session.expires_at <= now
            || session.revoked_at.is_some()
            || now - session.last_seen_at >= LAST_SEEN_GRANULARITY
        {
            return None;
        }
        let user = self
            .users
            .get(user_shard(session.user_id), &session.user_id, self.ttl)?;
        Some((session, user))
    }

    /// Call before reading a token from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            tokens: self.tokens.epoch.load(Ordering::SeqCst),
            users: self.users.epoch.load(Ordering::SeqCst),
        }
    }

    /// Keeps what the database said about a token, unless something was
    /// invalidated since `ticket` was taken.
    pub fn store(&self, ticket: Ticket, hash: TokenHash, session: &Session, user: &User) {
        if self.ttl.is_zero() {
            return;
        }
        self.users.insert(
            user_shard(user.id),
            user.id,
            Arc::new(user.clone()),
            ticket.users,
        );
        self.tokens
            .insert(token_shard(&hash), hash, session.clone(), ticket.tokens);
    }

    /// The token was revoked (logout).
    pub fn forget_token(&self, hash: &TokenHash) {
        self.tokens.remove(token_shard(hash), hash);
    }

    /// One session was revoked by id (the admin's revoke).
    pub fn forget_session(&self, session_id: i64) {
        self.tokens.retain(|s| s.id != session_id);
    }

    /// Every session of a user was revoked (the admin's revoke-all).
    pub fn forget_sessions_of(&self, user_id: i64) {
        self.tokens.retain(|s| s.user_id != user_id);
        self.forget_user(user_id);
    }

    /// The user changed (a login, a profile update): read them afresh.
    pub fn forget_user(&self, user_id: i64) {
        self.users.remove(user_shard(user_id), &user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::users::SessionKey;

    fn user(id: i64) -> User {
        let t = crate::db::now();
        User {
            id,
            appid: "wx".into(),
            openid: format!("o{id}"),
            unionid: None,
            session_key: SessionKey::new("k".into()),
            nickname: String::new(),
            avatar_url: String::new(),
            gender: 0,
            country: String::new(),
            province: String::new(),
            city: String::new(),
            language: String::new(),
            created_at: t,
            updated_at: t,
            last_login_at: t,
            login_count: 1,
            phone_number: None,
            phone_country_code: None,
        }
    }

    fn session(id: i64, user_id: i64) -> Session {
        let t = crate::db::now();
        Session {
            id,
            user_id,
            created_at: t,
            expires_at: t + chrono::Duration::hours(1),
            last_seen_at: t,
            revoked_at: None,
            client_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn hits_until_forgotten() {
        let cache = TokenCache::default();
        let h = TokenHash([1; 32]);
        let now = crate::db::now();
        assert!(cache.get(&h, now).is_none());
        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        assert_eq!(cache.get(&h, now).unwrap().0.id, 10);
        cache.forget_token(&h);
        assert!(cache.get(&h, now).is_none());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_session(10);
        assert!(cache.get(&h, now).is_none());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_sessions_of(1);
        assert!(cache.get(&h, now).is_none());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_user(1);
        assert!(cache.get(&h, now).is_none(), "the user must be read again");
    }

    #[test]
    fn a_lookup_that_raced_with_a_revoke_stores_nothing() {
        let cache = TokenCache::default();
        let h = TokenHash([2; 32]);
        let ticket = cache.ticket();
        // The database answered "live", then the token was revoked.
        cache.forget_token(&h);
        cache.store(ticket, h, &session(11, 2), &user(2));
        assert!(cache.get(&h, crate::db::now()).is_none());
    }

    #[test]
    fn expired_due_and_aged_entries_miss() {
        let cache = TokenCache::new(Duration::from_millis(30), 100);
        let h = TokenHash([3; 32]);
        let now = crate::db::now();
        let mut s = session(12, 3);
        s.expires_at = now;
        cache.store(cache.ticket(), h, &s, &user(3));
        assert!(cache.get(&h, now).is_none(), "expired");
        let mut s = session(12, 3);
        s.last_seen_at = now - chrono::Duration::seconds(61);
        cache.store(cache.ticket(), h, &s, &user(3));
        assert!(cache.get(&h, now).is_none(), "last_seen_at is due");
        cache.store(cache.ticket(), h, &session(12, 3), &user(3));
        assert!(cache.get(&h, now).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&h, now).is_none(), "older than the ttl");
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = TokenCache::new(DEFAULT_TTL, 64);
        for i in 0..1_000u32 {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            cache.store(
                cache.ticket(),
                TokenHash(b),
                &session(i.into(), 1),
                &user(1),
            );
        }
        let held: usize = (0..SHARDS).map(|i| cache.tokens.shard(i).len()).sum();
        assert!(held <= 64 + SHARDS, "{held}");
    }
}
