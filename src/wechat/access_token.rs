//! One WeChat access_token per app for the whole fleet.
//!
//! Each `stable_token` fetch that forces a refresh invalidates the token
//! every other node holds, so nodes that each fetch their own keep breaking
//! each other (WeChat's 40001). Here the token lives in a [`TokenStore`]
//! shared by every node (the database), and:
//!
//! - a node uses its own copy until [`REFRESH_AHEAD`] before the token
//!   expires, then reads the store;
//! - one node at a time fetches, under a lease; the others keep using the
//!   current token meanwhile, or, when there is none, wait for the fetch;
//! - a token WeChat refuses (40001, 40014, 42001) is replaced by one forced
//!   refresh across the fleet, at most once per [`FORCE_SPACING`] and
//!   [`FORCES_PER_DAY`] a day (WeChat's own limits); nodes refused the same
//!   token meanwhile take the new one from the store.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::WechatError;
use crate::clock;

/// A token is refreshed this long before WeChat says it expires.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// Least time between two forced refreshes of one app (WeChat's limit).
pub const FORCE_SPACING: Duration = Duration::from_secs(30);
/// Most forced refreshes of one app in a day (WeChat's limit).
pub const FORCES_PER_DAY: i32 = 20;
/// How often a node that waits for another's fetch looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);
/// A token refreshed ahead is not fetched again for this long, in case
/// WeChat answers with the same, nearly expired, token.
const REFETCH_SPACING: Duration = Duration::from_secs(30);

/// An app's token as the store holds it.
#[derive(Debug, Default)]
pub struct StoredToken {
    /// `None` if there is none, or it cannot be opened (the server key
    /// changed): then it is fetched again.
    pub token: Option<SecretString>,
    pub expires_at: Option<NaiveDateTime>,
    pub refreshed_at: Option<NaiveDateTime>,
    /// Until when a node's fetch is under way.
    pub lease_until: Option<NaiveDateTime>,
    pub forced_at: Option<NaiveDateTime>,
    /// The day [`StoredToken::forced_count`] counts (see [`force_day`]).
    pub forced_day: i64,
    pub forced_count: i32,
}

/// A store failed; the call that needed it cannot go on.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where the fleet keeps its tokens: the database (`db::access_tokens`).
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn read(&self, appid: &str) -> Result<StoredToken, StoreError>;
    /// Takes the app's lease for `holder` until `until`, unless another
    /// holder's is still running. True if taken.
    async fn take_lease(
        &self,
        appid: &str,
        holder: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<bool, StoreError>;
    /// Stores a token and ends `holder`'s lease; does nothing if the lease
    /// was lost.
    async fn store(
        &self,
        appid: &str,
        holder: &str,
        token: &SecretString,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<(), StoreError>;
    /// Counts a forced refresh under `holder`'s lease.
    async fn record_forced(
        &self,
        appid: &str,
        holder: &str,
        now: NaiveDateTime,
        day: i64,
        count: i32,
    ) -> Result<(), StoreError>;
    async fn release(&self, appid: &str, holder: &str) -> Result<(), StoreError>;
}

/// A token from `stable_token`, and how long WeChat says it lives.
pub struct FetchedToken {
    pub token: SecretString,
    pub expires_in: Duration,
}

/// What fetches a token from WeChat: the app's HTTP client.
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn fetch(&self, force_refresh: bool) -> Result<FetchedToken, WechatError>;
}

/// WeChat's day, for its daily limits: the calendar day in China (UTC+8),
/// as days since 1970-01-01.
pub fn force_day(at: NaiveDateTime) -> i64 {
    (at + TimeDelta::hours(8))
        .and_utc()
        .timestamp()
        .div_euclid(86_400)
}

/// This node's copy of a token.
struct Copy {
    token: SecretString,
    /// When to read the store again.
    use_until: NaiveDateTime,
}

/// One app's token, kept with the fleet through a [`TokenStore`]. Without a
/// store (a one-shot command, a unit test) the token is this process's own.
pub struct SharedAccessToken {
    appid: String,
    store: Option<std::sync::Arc<dyn TokenStore>>,
    /// Names this process in the store's lease.
    holder: String,
    /// How long a fetch may take; a lease lasts a little longer.
    timeout: Duration,
    /// Held while this node reads the store or fetches, so that its
    /// concurrent callers wait for that one answer.
    copy: Mutex<Option<Copy>>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn store_failed(e: StoreError) -> WechatError {
    WechatError::TokenStore(e)
}

impl SharedAccessToken {
    pub fn new(
        appid: String,
        store: Option<std::sync::Arc<dyn TokenStore>>,
        holder: String,
        timeout: Duration,
    ) -> Self {
        Self {
            appid,
            store,
            holder,
            timeout,
            copy: Mutex::new(None),
        }
    }

    fn lease_length(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }

    /// Makes a call that needs the token. When WeChat refuses the token
    /// (40001, 40014, 42001), it is replaced once, as the fleet's limits
    /// allow, and the call made again with the new one.
    pub async fn call<T, F, Fut>(&self, source: &dyn TokenSource, call: F) -> Result<T, WechatError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, WechatError>>,
    {
        let token = self.get(source).await?;
        match call(token.clone()).await {
            Err(refused @ WechatError::Api { errcode: n, .. })
                if super::errcode::TOKEN_ERRORS.contains(&n) =>
            {
                tracing::info!(errcode = n, "WeChat refused the access token; replacing it");
                match self.replace(source, &token).await? {
                    Some(fresh) => call(fresh).await,
                    None => Err(refused),
                }
            }
            other => other,
        }
    }

    /// A token to call WeChat with.
    pub async fn get(&self, source: &dyn TokenSource) -> Result<SecretString, WechatError> {
        let mut copy = self.copy.lock().await;
        let now = clock::now();
        if let Some(c) = copy.as_ref().filter(|c| now < c.use_until) {
            return Ok(c.token.clone());
        }
        let Some(store) = &self.store else {
            let fetched = source.fetch(false).await?;
            *copy = keep(&fetched, now);
            return Ok(fetched.token);
        };
        let deadline = now + delta(self.lease_length() + self.timeout);
        loop {
            let now = clock::now();
            let stored = store.read(&self.appid).await.map_err(store_failed)?;
            if let Some(fresh) = fresh_copy(&stored, now) {
                let token = fresh.token.clone();
                *copy = Some(fresh);
                return Ok(token);
            }
            let usable = stored
                .token
                .clone()
                .filter(|_| stored.expires_at.is_some_and(|at| now < at));
            if let Some(token) = &usable {
                let refetched_lately = stored
                    .refreshed_at
                    .is_some_and(|at| now - at < delta(REFETCH_SPACING));
                if refetched_lately {
                    return Ok(token.clone());
                }
            }
            // Missing, expired, or due for a refresh: one node fetches.
            if let Some(stored) = self.lease(store.as_ref(), now).await? {
                if let Some(fresh) = fresh_copy(&stored, clock::now()) {
                    store
                        .release(&self.appid, &self.holder)
                        .await
                        .map_err(store_failed)?;
                    let token = fresh.token.clone();
                    *copy = Some(fresh);
                    return Ok(token);
                }
                let fetched = self.fetch_and_store(store.as_ref(), source, false).await?;
                *copy = keep(&fetched, clock::now());
                return Ok(fetched.token);
            }
            // Another node is fetching: the current token still works.
            if let Some(token) = usable {
                return Ok(token);
            }
            if clock::now() >= deadline {
                return Err(WechatError::Timeout);
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// WeChat refused `bad`: a token that replaces it, from the store if
    /// another node already replaced it, else from one forced refresh.
    /// `None` when WeChat's limits allow no forced refresh now: the caller
    /// answers with WeChat's refusal.
    pub async fn replace(
        &self,
        source: &dyn TokenSource,
        bad: &SecretString,
    ) -> Result<Option<SecretString>, WechatError> {
        let mut copy = self.copy.lock().await;
        if copy
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() != bad.expose_secret())
        {
            // Replaced while this caller's call was under way.
            return Ok(copy.as_ref().map(|c| c.token.clone()));
        }
        *copy = None;
        let Some(store) = &self.store else {
            let fetched = source.fetch(true).await?;
            *copy = keep(&fetched, clock::now());
            return Ok(Some(fetched.token));
        };
        let deadline = clock::now() + delta(self.lease_length() + self.timeout);
        loop {
            let now = clock::now();
            let stored = store.read(&self.appid).await.map_err(store_failed)?;
            if let Some(token) = stored
                .token
                .as_ref()
                .filter(|t| t.expose_secret() != bad.expose_secret())
                .filter(|_| stored.expires_at.is_some_and(|at| now < at))
            {
                *copy = Some(Copy {
                    token: token.clone(),
                    use_until: stored.expires_at.unwrap_or(now) - delta(REFRESH_AHEAD),
                });
                return Ok(Some(token.clone()));
            }
            let fetching = stored.lease_until.is_some_and(|at| now < at);
            if !fetching && !may_force(&stored, now) {
                refused_force(&self.appid, &stored);
                return Ok(None);
            }
            if let Some(stored) = self.lease(store.as_ref(), now).await? {
                let replaced = stored
                    .token
                    .as_ref()
                    .is_some_and(|t| t.expose_secret() != bad.expose_secret());
                if replaced || !may_force(&stored, now) {
                    store
                        .release(&self.appid, &self.holder)
                        .await
                        .map_err(store_failed)?;
                    continue;
                }
                let today = force_day(now);
                let count = if stored.forced_day == today {
                    stored.forced_count + 1
                } else {
                    1
                };
                // Counted before the call: a call that fails may still have
                // used up one of WeChat's forced refreshes.
                store
                    .record_forced(&self.appid, &self.holder, now, today, count)
                    .await
                    .map_err(store_failed)?;
                tracing::info!(app = %self.appid, forced_today = count, "forcing a new WeChat access token for the fleet");
                let fetched = self.fetch_and_store(store.as_ref(), source, true).await?;
                *copy = keep(&fetched, clock::now());
                return Ok(Some(fetched.token));
            }
            // Another node is fetching: wait for its token.
            if clock::now() >= deadline {
                return Err(WechatError::Timeout);
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Takes the app's lease, and reads the row again under it: another
    /// node may have stored a token between the caller's read and the lease.
    /// `None` if another node holds the lease.
    async fn lease(
        &self,
        store: &dyn TokenStore,
        now: NaiveDateTime,
    ) -> Result<Option<StoredToken>, WechatError> {
        let until = now + delta(self.lease_length());
        let leased = store
            .take_lease(&self.appid, &self.holder, now, until)
            .await
            .map_err(store_failed)?;
        if !leased {
            return Ok(None);
        }
        store
            .read(&self.appid)
            .await
            .map(Some)
            .map_err(store_failed)
    }

    /// Fetches under the lease, stores the token, and ends the lease.
    async fn fetch_and_store(
        &self,
        store: &dyn TokenStore,
        source: &dyn TokenSource,
        force: bool,
    ) -> Result<FetchedToken, WechatError> {
        count_fetch(&self.appid, if force { "forced" } else { "refresh" });
        let fetched = match source.fetch(force).await {
            Ok(fetched) => fetched,
            Err(e) => {
                if let Err(release) = store.release(&self.appid, &self.holder).await {
                    tracing::warn!(error = %release, "could not release the access token lease; it runs out by itself");
                }
                return Err(e);
            }
        };
        let now = clock::now();
        store
            .store(
                &self.appid,
                &self.holder,
                &fetched.token,
                now + delta(fetched.expires_in),
                now,
            )
            .await
            .map_err(store_failed)?;
        Ok(fetched)
    }
}

/// This node's copy of a fetched token, unless it expires within
/// [`REFRESH_AHEAD`]: such a token is used once and not kept.
fn keep(fetched: &FetchedToken, now: NaiveDateTime) -> Option<Copy> {
    fetched
        .expires_in
        .checked_sub(REFRESH_AHEAD)
        .filter(|d| !d.is_zero())
        .map(|d| Copy {
            token: fetched.token.clone(),
            use_until: now + delta(d),
        })
}

/// A copy of the stored token, if it is not yet due for a refresh.
fn fresh_copy(stored: &StoredToken, now: NaiveDateTime) -> Option<Copy> {
    let ahead = stored.expires_at? - delta(REFRESH_AHEAD);
    let token = stored.token.as_ref().filter(|_| now < ahead)?;
    Some(Copy {
        token: token.clone(),
        use_until: ahead,
    })
}

/// Whether WeChat's limits allow a forced refresh now.
fn may_force(stored: &StoredToken, now: NaiveDateTime) -> bool {
    let spaced = stored
        .forced_at
        .is_none_or(|at| now - at >= delta(FORCE_SPACING));
    let budget_left = stored.forced_day != force_day(now) || stored.forced_count < FORCES_PER_DAY;
    spaced && budget_left
}

fn refused_force(appid: &str, stored: &StoredToken) {
    tracing::warn!(
        app = %appid,
        forced_today = stored.forced_count,
        "WeChat refused the access token, and its limits allow no forced refresh now (one per 30 s, 20 a day)"
    );
    count_fetch(appid, "force_refused");
}

fn count_fetch(appid: &str, kind: &'static str) {
    if crate::telemetry::prometheus::is_installed() {
        metrics::counter!("wxlogin_wechat_token_refreshes_total", "app" => appid.to_owned(), "kind" => kind)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_day_is_china_s() {
        let at = |h, m| {
            NaiveDate::from_ymd_opt(2026, 12, 3)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        // 15:59 UTC is 23:59 in Beijing; 16:00 UTC is the next day there.
        assert_eq!(force_day(at(15, 59)) + 1, force_day(at(16, 0)));
        assert_eq!(force_day(at(0, 0)), force_day(at(15, 59)));
    }

    #[test]
    fn forced_refreshes_are_spaced_and_budgeted() {
        let now = clock::now();
        let mut stored = StoredToken::default();
        assert!(may_force(&stored, now));
        stored.forced_at = Some(now - TimeDelta::seconds(29));
        assert!(!may_force(&stored, now), "30 s apart");
        stored.forced_at = Some(now - TimeDelta::seconds(30));
        assert!(may_force(&stored, now));
        stored.forced_day = force_day(now);
        stored.forced_count = FORCES_PER_DAY;
        assert!(!may_force(&stored, now), "20 a day");
        stored.forced_day -= 1;
        assert!(may_force(&stored, now), "a new day");
    }
}
