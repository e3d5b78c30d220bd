//! The fleet's store of WeChat access tokens: `wechat::access_token`'s
//! [`TokenStore`] on the database, with each token sealed under the data
//! key (encryption at rest, with the key's id in the value).

use async_trait::async_trait;
use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use crate::db::{self, access_tokens, DbPool};
use crate::domain::data_keys::{DataKeys, Purpose};
use crate::wechat::access_token::{StoreError, StoredToken, TokenStore};

pub struct DbTokenStore {
    pool: DbPool,
    keys: DataKeys,
}

impl DbTokenStore {
    /// Seals under the data keys, which every node of a fleet shares.
    pub fn new(pool: DbPool, keys: DataKeys) -> Self {
        Self { pool, keys }
    }
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn read(&self, appid: &str) -> Result<StoredToken, StoreError> {
        let owned = appid.to_owned();
        let row = db::run(&self.pool, move |c| access_tokens::find(c, &owned)).await?;
        let Some(row) = row else {
            return Ok(StoredToken::default());
        };
        let token = row.sealed_token.as_deref().and_then(|sealed| {
            let opened = std::str::from_utf8(sealed)
                .ok()
                .and_then(|text| self.keys.open(Purpose::AccessToken, text).ok());
            if opened.is_none() {
                // Sealed under a key this node lacks (or before encryption
                // at rest): fetched again and overwritten.
                tracing::warn!(app = %appid, "the stored access token cannot be opened with this node's data keys");
            }
            opened
        });
        Ok(StoredToken {
            token,
            expires_at: row.expires_at,
            refreshed_at: row.refreshed_at,
            lease_until: row.lease_until,
            forced_at: row.forced_at,
            forced_day: row.forced_day,
            forced_count: row.forced_count,
        })
    }

    async fn take_lease(
        &self,
        appid: &str,
        holder: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let (appid, holder) = (appid.to_owned(), holder.to_owned());
        Ok(db::run(&self.pool, move |c| {
            access_tokens::take_lease(c, &appid, &holder, now, until)
        })
        .await?)
    }

    async fn store(
        &self,
        appid: &str,
        holder: &str,
        token: &SecretString,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let sealed = self
            .keys
            .seal(Purpose::AccessToken, token.expose_secret())
            .into_bytes();
        let (appid, holder) = (appid.to_owned(), holder.to_owned());
        let stored = db::run(&self.pool, move |c| {
            access_tokens::store(c, &appid, &holder, &sealed, expires_at, now)
        })
        .await?;
        if !stored {
            tracing::warn!("an access token lease ran out before its fetch was stored");
        }
        Ok(())
    }

    async fn record_forced(
        &self,
        appid: &str,
        holder: &str,
        now: NaiveDateTime,
        day: i64,
        count: i32,
    ) -> Result<(), StoreError> {
        let (appid, holder) = (appid.to_owned(), holder.to_owned());
        Ok(db::run(&self.pool, move |c| {
            access_tokens::record_forced(c, &appid, &holder, now, day, count)
        })
        .await?)
    }

    async fn release(&self, appid: &str, holder: &str) -> Result<(), StoreError> {
        let (appid, holder) = (appid.to_owned(), holder.to_owned());
        Ok(db::run(&self.pool, move |c| {
            access_tokens::release(c, &appid, &holder)
        })
        .await?)
    }
}
