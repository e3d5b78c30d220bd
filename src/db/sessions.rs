//! The `sessions` table: API session tokens, stored as SHA-256 hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::accounts::Account;
use super::identities::Identity;
use super::schema::{accounts, identities, sessions};
use super::users::User;
use super::{DbConnection, DbError};
use crate::domain::token::TokenHash;
use crate::on_backend;

/// `last_seen_at` is written at most this often per session, so that reads
/// of a busy token do not each cost a write.
pub const LAST_SEEN_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    pub account_id: i64,
    pub identity_id: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The live session with this token hash and its user: not revoked, not expired.
pub fn find_active(
    conn: &mut DbConnection,
    hash: &TokenHash,
    now: NaiveDateTime,
) -> Result<Option<(Session, User)>, DbError> {
    let found = on_backend!(conn, |c| sessions::table
        .inner_join(identities::table.inner_join(accounts::table))
        .filter(sessions::token_hash.eq(&hash.0[..]))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select((
            Session::as_select(),
            Identity::as_select(),
            Account::as_select()
        ))
        // `token_hash` is unique, so no LIMIT is needed. A bound LIMIT would
        // make SQLite re-prepare the statement on every execution.
        .get_result(c)
        .optional())?;
    Ok(found.map(|(session, identity, account)| (session, User::new(account, identity))))
}

/// Whether a session was ever made with this token, live or not.
pub fn exists(conn: &mut DbConnection, hash: &TokenHash) -> Result<bool, DbError> {
    let found: Option<i64> = on_backend!(conn, |c| sessions::table
        .filter(sessions::token_hash.eq(&hash.0[..]))
        .select(sessions::id)
        .get_result(c)
        .optional())?;
    Ok(found.is_some())
}

/// The live sessions among these token hashes, with their users, for the
/// token cache's refresh. Hashes that are unknown, revoked or expired are
/// left out of the answer.
pub fn find_active_many(
    conn: &mut DbConnection,
    hashes: &[TokenHash],
    now: NaiveDateTime,
) -> Result<Vec<(TokenHash, Session, User)>, DbError> {
    let keys: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
    let rows: Vec<(Vec<u8>, Session, Identity, Account)> = on_backend!(conn, |c| sessions::table
        .inner_join(identities::table.inner_join(accounts::table))
        .filter(sessions::token_hash.eq_any(&keys))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select((
            sessions::token_hash,
            Session::as_select(),
            Identity::as_select(),
            Account::as_select()
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(hash, session, identity, account)| {
            Some((
                TokenHash(hash.try_into().ok()?),
                session,
                User::new(account, identity),
            ))
        })
        .collect())
}

/// Sets `last_seen_at` of these sessions to `now`.
pub fn touch_many(conn: &mut DbConnection, ids: &[i64], now: NaiveDateTime) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    on_backend!(conn, |c| diesel::update(
        sessions::table.filter(sessions::id.eq_any(ids))
    )
    .set(sessions::last_seen_at.eq(now))
    .execute(c))?;
    Ok(())
}

/// Revokes the live session with this token hash. Returns its id and its
/// account's, if there was one.
pub fn revoke_by_hash(
    conn: &mut DbConnection,
    hash: &TokenHash,
    now: NaiveDateTime,
) -> Result<Option<(i64, i64)>, DbError> {
    Ok(on_backend!(conn, |c| diesel::update(
        sessions::table
            .filter(sessions::token_hash.eq(&hash.0[..]))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
    )
    .set(sessions::revoked_at.eq(now))
    .returning((sessions::id, sessions::account_id))
    .get_result(c)
    .optional())?)
}

/// An account's sessions, in every app, newest first, each with its appid.
pub fn list_for_account(
    conn: &mut DbConnection,
    account_id: i64,
    limit: i64,
) -> Result<Vec<(Session, String)>, DbError> {
    Ok(on_backend!(conn, |c| sessions::table
        .inner_join(identities::table)
        .filter(sessions::account_id.eq(account_id))
        .order(sessions::id.desc())
        .limit(limit)
        .select((Session::as_select(), identities::appid))
        .load(c))?)
}

/// The live sessions of an account (not revoked, not expired), newest
/// first, each with its appid.
pub fn list_live_for_account(
    conn: &mut DbConnection,
    account_id: i64,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(Session, String)>, DbError> {
    Ok(on_backend!(conn, |c| sessions::table
        .inner_join(identities::table)
        .filter(sessions::account_id.eq(account_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::id.desc())
        .limit(limit)
        .select((Session::as_select(), identities::appid))
        .load(c))?)
}

pub fn count_for_account(conn: &mut DbConnection, account_id: i64) -> Result<i64, DbError> {
    Ok(on_backend!(conn, |c| sessions::table
        .filter(sessions::account_id.eq(account_id))
        .count()
        .get_result(c))?)
}

/// Revokes one live session of an account. Returns whether there was one.
pub fn revoke(
    conn: &mut DbConnection,
    account_id: i64,
    session_id: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::account_id.eq(account_id))
            .filter(sessions::revoked_at.is_null())
    )
    .set(sessions::revoked_at.eq(now))
    .execute(c))?;
    Ok(n > 0)
}

/// Revokes every live session of an account. Returns their ids.
pub fn revoke_all(
    conn: &mut DbConnection,
    account_id: i64,
    now: NaiveDateTime,
) -> Result<Vec<i64>, DbError> {
    let mut ids: Vec<i64> = on_backend!(conn, |c| diesel::update(
        sessions::table
            .filter(sessions::account_id.eq(account_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
    )
    .set(sessions::revoked_at.eq(now))
    .returning(sessions::id)
    .get_results(c))?;
    ids.sort_unstable();
    Ok(ids)
}

/// Live sessions, counted up to `cap`; `None` past it.
pub fn count_active_up_to(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    cap: i64,
) -> Result<Option<i64>, DbError> {
    let ids: Vec<i64> = on_backend!(conn, |c| sessions::table
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(sessions::id)
        .limit(cap + 1)
        .load(c))?;
    let n = ids.len() as i64;
    Ok((n <= cap).then_some(n))
}

/// Deletes up to `batch` sessions that expired, or were revoked, before
/// `before`. Returns how many were deleted.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    let expired = on_backend!(conn, |c| {
        let old: Vec<i64> = sessions::table
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.lt(before))
            .select(sessions::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(sessions::table.filter(sessions::id.eq_any(old))).execute(c)
    })?;
    let revoked = on_backend!(conn, |c| {
        let old: Vec<i64> = sessions::table
            .filter(sessions::revoked_at.lt(before))
            .select(sessions::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(sessions::table.filter(sessions::id.eq_any(old))).execute(c)
    })?;
    Ok(expired + revoked)
}
