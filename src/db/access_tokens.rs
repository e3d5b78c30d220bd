//! The `wechat_access_tokens` table: one WeChat access_token per app, shared
//! by every node, with the lease that lets one node at a time fetch it.
//!
//! A lease is taken by one conditional `UPDATE`, which the database applies
//! to the row atomically: of several nodes that try at once, one gets it. It
//! holds no transaction open while WeChat answers, so it pins no connection.
//! Only the lease holder writes the token and the forced-refresh budget.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::wechat_access_tokens as t;
use super::{DbConnection, DbError};
use crate::on_backend;

/// An app's row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct StoredAccessToken {
    /// The sealed token (see `domain::sealed`); never shown.
    pub sealed_token: Option<Vec<u8>>,
    pub expires_at: Option<NaiveDateTime>,
    pub refreshed_at: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub forced_at: Option<NaiveDateTime>,
    /// The day (see `wechat::access_token`) that `forced_count` counts.
    pub forced_day: i64,
    pub forced_count: i32,
}

/// The app's row, if any node ever stored one.
pub fn find(conn: &mut DbConnection, appid: &str) -> Result<Option<StoredAccessToken>, DbError> {
    Ok(on_backend!(conn, |c| t::table
        .find(appid)
        .select(StoredAccessToken::as_select())
        .first(c)
        .optional())?)
}

/// Takes the app's lease for `holder` until `until`, if no other node holds
/// one that is still running at `now`. True if taken.
pub fn take_lease(
    conn: &mut DbConnection,
    appid: &str,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool, DbError> {
    on_backend!(conn, |c| diesel::insert_into(t::table)
        .values(t::appid.eq(appid))
        .on_conflict_do_nothing()
        .execute(c))?;
    let taken = on_backend!(conn, |c| diesel::update(
        t::table
            .find(appid)
            .filter(t::lease_until.is_null().or(t::lease_until.le(now)))
    )
    .set((t::lease_holder.eq(holder), t::lease_until.eq(until)))
    .execute(c))?;
    Ok(taken == 1)
}

/// Stores a token fetched under `holder`'s lease, and ends the lease. False
/// if the lease was lost (it ran out and another node took it): then
/// nothing is written.
pub fn store(
    conn: &mut DbConnection,
    appid: &str,
    holder: &str,
    sealed_token: &[u8],
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let stored = on_backend!(conn, |c| diesel::update(
        t::table.find(appid).filter(t::lease_holder.eq(holder))
    )
    .set((
        t::sealed_token.eq(sealed_token),
        t::expires_at.eq(expires_at),
        t::refreshed_at.eq(now),
        t::lease_holder.eq(None::<String>),
        t::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(c))?;
    Ok(stored == 1)
}

/// Counts a forced refresh, under `holder`'s lease: `count` of `day`.
pub fn record_forced(
    conn: &mut DbConnection,
    appid: &str,
    holder: &str,
    now: NaiveDateTime,
    day: i64,
    count: i32,
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(
        t::table.find(appid).filter(t::lease_holder.eq(holder))
    )
    .set((
        t::forced_at.eq(now),
        t::forced_day.eq(day),
        t::forced_count.eq(count),
    ))
    .execute(c))?;
    Ok(())
}

/// Ends `holder`'s lease without a new token (the fetch failed).
pub fn release(conn: &mut DbConnection, appid: &str, holder: &str) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(
        t::table.find(appid).filter(t::lease_holder.eq(holder))
    )
    .set((
        t::lease_holder.eq(None::<String>),
        t::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(c))?;
    Ok(())
}
