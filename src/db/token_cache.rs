//! An in-process cache of checked session tokens, so that `/api/me` and
//! every other Bearer request do not each cost a database round trip.
//!
//! - Entries live the cache's ttl at most (5 s by default). A token
//!   revoked on another node (or straight in the database) keeps working
//!   on this node until its entry is that old: that is the longest another
//!   node may take to see a revoke.
//! - On the node where it happens, a revoke is instant: logout, the admin's
//!   revoke and revoke-all remove the entries before they answer, and a look-up
//!   that raced with them never puts its stale answer back (see `AgedMap`).
//! - Accounts and identities are cached apart from tokens, by id, so that a
//!   change to one (a login, a profile update) drops one entry however many
//!   tokens point at it.
//! - A session's `last_seen_at` is written at most once a minute
//!   ([`LAST_SEEN_GRANULARITY`]), and never by the request that finds it due:
//!   the request queues the session, and the [`Refresher`] writes all queued
//!   sessions in one statement every [`REFRESH_EVERY`]. An entry whose
//!   `last_seen_at` is due counts as a miss.
//! - Busy tokens never miss: the [`Refresher`] also reads again every entry
//!   used since its last read that would age out within [`REFRESH_AHEAD`], a
//!   few hundred tokens per query. A refreshed entry is as old as that read,
//!   so the bound above holds.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::db::accounts::Account;
use crate::db::identities::Identity;
use crate::db::revocations::Revocation;
use crate::db::sessions::{self, Session, LAST_SEEN_GRANULARITY};
use crate::db::users::User;
use crate::db::{DbError, DbPool};
use crate::domain::token::TokenHash;

mod aged_map;

use aged_map::{Absent, AgedMap};

/// How long a checked token is trusted without asking the database.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
/// Most tokens (and accounts, and identities) kept; past it, the oldest half is dropped.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How long before an entry would age out the [`Refresher`] reads it again.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(2);
/// How often the [`Refresher`] looks for entries to read again.
pub const REFRESH_EVERY: Duration = Duration::from_millis(500);
/// Tokens read by one query of the [`Refresher`].
const REFRESH_CHUNK: usize = 500;

/// Why a token check missed the cache, for `wxlogin_token_cache_lookups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The cache is off (a zero ttl).
    Off,
    /// The token is not cached.
    Absent,
    /// The token's entry was older than the ttl.
    Aged,
    /// The session's `last_seen_at` is due for a write.
    LastSeenDue,
    /// The session expired, or was revoked.
    Ended,
    /// The token's identity or account is not cached.
    UserAbsent,
    /// The token's identity or account was older than the ttl.
    UserAged,
}

impl Miss {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Absent => "absent",
            Self::Aged => "aged",
            Self::LastSeenDue => "last_seen_due",
            Self::Ended => "ended",
            Self::UserAbsent => "user_absent",
            Self::UserAged => "user_aged",
        }
    }
}

/// Where a look-up stood when it went to the database; hand it back to
/// [`TokenCache::store`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    tokens: u64,
    accounts: u64,
    identities: u64,
}

/// See the module documentation.
pub struct TokenCache {
    tokens: AgedMap<TokenHash, Arc<Session>>,
    accounts: AgedMap<i64, Arc<Account>>,
    identities: AgedMap<i64, Arc<Identity>>,
    ttl: Duration,
    /// Sessions whose `last_seen_at` is to be written.
    touches: Mutex<Vec<i64>>,
    announcer: OnceLock<mpsc::Sender<Revocation>>,
}

/// Where a token goes: its hash is random, so any of its bytes will do.
fn token_shard(hash: &TokenHash) -> usize {
    u16::from_le_bytes([hash.0[0], hash.0[1]]) as usize
}

fn id_shard(id: i64) -> usize {
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
            accounts: AgedMap::new(capacity),
            identities: AgedMap::new(capacity),
            ttl,
            touches: Mutex::new(Vec::new()),
            announcer: OnceLock::new(),
        }
    }

    /// The live session of this token and its user, if all are cached,
    /// the session has not expired and its `last_seen_at` is not due.
    pub fn get(&self, hash: &TokenHash, now: NaiveDateTime) -> Result<(Arc<Session>, User), Miss> {
        if self.ttl.is_zero() {
            return Err(Miss::Off);
        }
        let user_miss = |absent| match absent {
            Absent::Never => Miss::UserAbsent,
            Absent::Aged => Miss::UserAged,
        };
        let session = self
            .tokens
            .get(token_shard(hash), hash, self.ttl)
            .map_err(|absent| match absent {
                Absent::Never => Miss::Absent,
                Absent::Aged => Miss::Aged,
            })?;
        if session.expires_at <= now || session.revoked_at.is_some() {
            return Err(Miss::Ended);
        }
        if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
            return Err(Miss::LastSeenDue);
        }
        let identity = self
            .identities
            .get(
                id_shard(session.identity_id),
                &session.identity_id,
                self.ttl,
            )
            .map_err(user_miss)?;
        let account = self
            .accounts
            .get(
                id_shard(identity.account_id),
                &identity.account_id,
                self.ttl,
            )
            .map_err(user_miss)?;
        Ok((session, User { account, identity }))
    }

    /// Call before reading a token from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            tokens: self.tokens.epoch.load(Ordering::SeqCst),
            accounts: self.accounts.epoch.load(Ordering::SeqCst),
            identities: self.identities.epoch.load(Ordering::SeqCst),
        }
    }

    /// Keeps what the database said about a token, unless something was
    /// invalidated since `ticket` was taken.
    pub fn store(&self, ticket: Ticket, hash: TokenHash, session: &Session, user: &User) {
        self.store_read_at(ticket, hash, session, user, Instant::now());
    }

    fn store_read_at(
        &self,
        ticket: Ticket,
        hash: TokenHash,
        session: &Session,
        user: &User,
        at: Instant,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        self.accounts.insert(
            id_shard(user.account.id),
            user.account.id,
            user.account.clone(),
            ticket.accounts,
            at,
        );
        self.identities.insert(
            id_shard(user.identity.id),
            user.identity.id,
            user.identity.clone(),
            ticket.identities,
            at,
        );
        self.tokens.insert(
            token_shard(&hash),
            hash,
            Arc::new(session.clone()),
            ticket.tokens,
            at,
        );
    }

    /// Queues the session for a `last_seen_at` write by the [`Refresher`].
    pub fn touch_later(&self, session_id: i64) {
        self.touches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(session_id);
    }

    /// One round of the [`Refresher`]: reads again, a few hundred per query,
    /// every token used since it was last read that would age out within
    /// [`REFRESH_AHEAD`], and drops those no longer live; then writes the
    /// `last_seen_at` of every session queued since the last round.
    pub fn refresh(&self, pool: &DbPool) -> Result<(), DbError> {
        let older_than = self.ttl.saturating_sub(REFRESH_AHEAD).max(self.ttl / 2);
        let due = if self.ttl.is_zero() {
            Vec::new()
        } else {
            self.tokens.take_due(older_than)
        };
        let pending = !self
            .touches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if due.is_empty() && !pending {
            return Ok(());
        }
        let mut conn = pool.get()?;
        for chunk in due.chunks(REFRESH_CHUNK) {
            let ticket = self.ticket();
            let read_at = Instant::now();
            let now = crate::clock::now();
            let found = sessions::find_active_many(&mut conn, chunk, now)?;
            let mut live = HashSet::with_capacity(found.len());
            for (hash, mut session, user) in found {
                if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
                    self.touch_later(session.id);
                    session.last_seen_at = now;
                }
                self.store_read_at(ticket, hash, &session, &user, read_at);
                live.insert(hash);
            }
            for hash in chunk.iter().filter(|h| !live.contains(*h)) {
                self.tokens.drop_entry(token_shard(hash), hash);
            }
        }
        let mut touches =
            std::mem::take(&mut *self.touches.lock().unwrap_or_else(|e| e.into_inner()));
        touches.sort_unstable();
        touches.dedup();
        let now = crate::clock::now();
        for (i, chunk) in touches.chunks(REFRESH_CHUNK).enumerate() {
            if let Err(e) = sessions::touch_many(&mut conn, chunk, now) {
                // Keep what was not written for the next round.
                let rest = touches[i * REFRESH_CHUNK..].iter().copied();
                self.touches
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(rest);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Other nodes hear of this node's revocations through `announcer`
    /// (see [`revocations`](super::revocations)); set once, at start-up.
    pub fn announce_to(&self, announcer: mpsc::Sender<Revocation>) {
        let _ = self.announcer.set(announcer);
    }

    /// Drops what `revocation` names here, and tells the other nodes.
    fn revoke(&self, revocation: Revocation) {
        self.apply(&revocation);
        if let Some(announcer) = self.announcer.get() {
            let _ = announcer.send(revocation);
        }
    }

    /// Drops what `revocation` names, on this node only: another node's
    /// revocation.
    pub fn apply(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Token(hash) => self.tokens.remove(token_shard(hash), hash),
            Revocation::Session(id) => self.tokens.retain(|s| s.id != *id),
            Revocation::SessionsOf(account_id) => {
                self.tokens.retain(|s| s.account_id != *account_id);
                self.accounts.remove(id_shard(*account_id), account_id);
            }
            Revocation::Account(id) => self.accounts.remove(id_shard(*id), id),
            Revocation::Identity(id) => self.identities.remove(id_shard(*id), id),
        }
    }

    /// Drops everything: the revocations sent while this node could not
    /// hear them are unknown.
    pub fn clear(&self) {
        self.tokens.retain(|_| false);
        self.accounts.retain(|_| false);
        self.identities.retain(|_| false);
    }

    /// The token was revoked (logout).
    pub fn forget_token(&self, hash: &TokenHash) {
        self.revoke(Revocation::Token(*hash));
    }

    /// One session was revoked by id (the admin's revoke).
    pub fn forget_session(&self, session_id: i64) {
        self.revoke(Revocation::Session(session_id));
    }

    /// Every session of an account was revoked (the admin's revoke-all), or
    /// moved to another account (a merge).
    pub fn forget_sessions_of(&self, account_id: i64) {
        self.revoke(Revocation::SessionsOf(account_id));
    }

    /// The account changed (a profile update, a merge): read it afresh.
    pub fn forget_account(&self, account_id: i64) {
        self.revoke(Revocation::Account(account_id));
    }

    /// The identity changed (a move to another account): read it afresh.
    pub fn forget_identity(&self, identity_id: i64) {
        self.revoke(Revocation::Identity(identity_id));
    }

    /// A login wrote the identity (a new session_key) and counted it on
    /// its account. Only this node's copies are dropped: telling the fleet
    /// of every login would cost a notification per login, and other nodes'
    /// copies age out within the TTL; no token's validity changed.
    pub fn forget_after_login(&self, identity_id: i64, account_id: i64) {
        self.apply(&Revocation::Identity(identity_id));
        self.apply(&Revocation::Account(account_id));
    }
}

/// The thread that keeps busy tokens in the cache (see the module
/// documentation). When stopped, it writes the `last_seen_at` still queued.
pub struct Refresher {
    thread: crate::background::Periodic,
}

impl Refresher {
    pub fn start(cache: Arc<TokenCache>, pool: DbPool) -> std::io::Result<Self> {
        let round = {
            let (cache, pool) = (cache.clone(), pool.clone());
            move || {
                if let Err(e) = cache.refresh(&pool) {
                    // The entries age out as usual; requests read them.
                    tracing::warn!(error = %e, "the token cache could not refresh");
                }
            }
        };
        let last = move || {
            if let Err(e) = cache.refresh(&pool) {
                tracing::warn!(error = %e, "the last last_seen_at writes failed");
            }
        };
        Ok(Self {
            thread: crate::background::Periodic::start(
                "token-refresh",
                REFRESH_EVERY,
                round,
                last,
            )?,
        })
    }

    /// Stops the thread, after one last round.
    pub fn stop(&self) {
        self.thread.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::aged_map::SHARDS;
    use super::*;

    fn user(id: i64) -> User {
        let t = crate::clock::now();
        User::new(
            Account {
                id,
                unionid: None,
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
                phone_hash: None,
                phone_country_code: None,
                phone_verified_at: None,
                risk_rank: None,
                nickname_pending: None,
                avatar_pending: None,
            },
            Identity {
                id,
                account_id: id,
                appid: "wx".into(),
                openid: format!("o{id}"),
                unionid: None,
                session_key: crate::domain::data_keys::Stored::from("k".to_owned()),
                created_at: t,
                last_login_at: t,
                login_count: 1,
                session_key_issued_at: t,
                risk_rank: None,
            },
        )
    }

    fn session(id: i64, account_id: i64) -> Session {
        let t = crate::clock::now();
        Session {
            id,
            account_id,
            identity_id: account_id,
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
        let now = crate::clock::now();
        assert!(cache.get(&h, now).is_err());
        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        assert_eq!(cache.get(&h, now).unwrap().0.id, 10);
        cache.forget_token(&h);
        assert!(cache.get(&h, now).is_err());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_session(10);
        assert!(cache.get(&h, now).is_err());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_sessions_of(1);
        assert!(cache.get(&h, now).is_err());

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_account(1);
        assert!(
            cache.get(&h, now).is_err(),
            "the account must be read again"
        );

        cache.store(cache.ticket(), h, &session(10, 1), &user(1));
        cache.forget_identity(1);
        assert!(
            cache.get(&h, now).is_err(),
            "the identity must be read again"
        );
    }

    #[test]
    fn a_lookup_that_raced_with_a_revoke_stores_nothing() {
        let cache = TokenCache::default();
        let h = TokenHash([2; 32]);
        let ticket = cache.ticket();
        // The database answered "live", then the token was revoked.
        cache.forget_token(&h);
        cache.store(ticket, h, &session(11, 2), &user(2));
        assert!(cache.get(&h, crate::clock::now()).is_err());
    }

    #[test]
    fn a_lookup_stores_its_answer_despite_other_keys_invalidated() {
        let cache = TokenCache::default();
        let h = TokenHash([6; 32]);
        let ticket = cache.ticket();
        // Logins of other people while the database was read.
        for id in 100..110 {
            cache.forget_after_login(id, id);
        }
        cache.store(ticket, h, &session(15, 5), &user(5));
        assert!(cache.get(&h, crate::clock::now()).is_ok());

        // But a login of this identity, or a revoke of every session, does
        // keep the answer out.
        let ticket = cache.ticket();
        cache.forget_after_login(5, 5);
        cache.forget_token(&h);
        cache.store(ticket, h, &session(15, 5), &user(5));
        assert!(cache.get(&h, crate::clock::now()).is_err());
        let ticket = cache.ticket();
        cache.forget_session(99);
        cache.store(ticket, h, &session(15, 5), &user(5));
        assert!(cache.get(&h, crate::clock::now()).is_err());
    }

    #[test]
    fn expired_due_and_aged_entries_miss() {
        let cache = TokenCache::new(Duration::from_millis(30), 100);
        let h = TokenHash([3; 32]);
        let now = crate::clock::now();
        let mut s = session(12, 3);
        s.expires_at = now;
        cache.store(cache.ticket(), h, &s, &user(3));
        assert!(cache.get(&h, now).is_err(), "expired");
        let mut s = session(12, 3);
        s.last_seen_at = now - chrono::Duration::seconds(61);
        cache.store(cache.ticket(), h, &s, &user(3));
        assert!(cache.get(&h, now).is_err(), "last_seen_at is due");
        cache.store(cache.ticket(), h, &session(12, 3), &user(3));
        assert!(cache.get(&h, now).is_ok());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&h, now).is_err(), "older than the ttl");
    }

    #[test]
    fn used_entries_are_due_for_a_refresh_once() {
        let cache = TokenCache::default();
        let (used, unused) = (TokenHash([4; 32]), TokenHash([5; 32]));
        cache.store(cache.ticket(), used, &session(13, 4), &user(4));
        cache.store(cache.ticket(), unused, &session(14, 4), &user(4));
        assert!(cache.get(&used, crate::clock::now()).is_ok());
        assert_eq!(cache.tokens.take_due(Duration::ZERO), [used]);
        assert!(
            cache.tokens.take_due(Duration::ZERO).is_empty(),
            "until used again"
        );
        assert!(cache.get(&used, crate::clock::now()).is_ok());
        assert!(
            cache.tokens.take_due(DEFAULT_TTL).is_empty(),
            "not old enough"
        );
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
        let held = cache.tokens.len();
        assert!(held <= 64 + SHARDS, "{held}");
    }
}
