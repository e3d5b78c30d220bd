//! Signed-in admin sessions, by the SHA-256 of their cookie id.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{admin_sessions, admins};
use super::{DbConnection, DbError};
use crate::on_backend;

/// A session about to be written.
#[derive(Debug)]
pub struct NewAdminSession<'a> {
    pub admin_id: i64,
    pub token_hash: &'a str,
    pub csrf: &'a str,
    pub second_factor_pending: bool,
    pub now: NaiveDateTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A session with what a request needs of its admin.
#[derive(Debug, Clone, Queryable)]
pub struct LiveAdminSession {
    pub id: i64,
    pub admin_id: i64,
    pub username: String,
    pub role: String,
    pub locale: Option<String>,
    pub csrf: String,
    pub second_factor_pending: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    /// When the admin turned the second factor on, if they did.
    pub second_factor_since: Option<NaiveDateTime>,
}

/// A session as listed.
#[derive(Debug, Clone, Queryable)]
pub struct ListedAdminSession {
    pub id: i64,
    pub admin_id: i64,
    pub username: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Sessions listed at most, newest first.
pub const LIST_LIMIT: i64 = 500;

pub fn insert(conn: &mut DbConnection, new: &NewAdminSession<'_>) -> Result<i64, DbError> {
    Ok(on_backend!(conn, |c| diesel::insert_into(
        admin_sessions::table
    )
    .values((
        admin_sessions::admin_id.eq(new.admin_id),
        admin_sessions::token_hash.eq(new.token_hash),
        admin_sessions::csrf.eq(new.csrf),
        admin_sessions::second_factor_pending.eq(new.second_factor_pending),
        admin_sessions::created_at.eq(new.now),
        admin_sessions::last_seen_at.eq(new.now),
        admin_sessions::ip.eq(new.ip),
        admin_sessions::user_agent.eq(new.user_agent),
    ))
    .returning(admin_sessions::id)
    .get_result(c))?)
}

pub fn find(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<LiveAdminSession>, DbError> {
    Ok(on_backend!(conn, |c| admin_sessions::table
        .inner_join(admins::table)
        .filter(admin_sessions::token_hash.eq(token_hash))
        .select((
            admin_sessions::id,
            admin_sessions::admin_id,
            admins::username,
            admins::role,
            admins::locale,
            admin_sessions::csrf,
            admin_sessions::second_factor_pending,
            admin_sessions::created_at,
            admin_sessions::last_seen_at,
            admins::totp_enabled_at,
        ))
        .get_result(c)
        .optional())?)
}

pub fn touch(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(admin_sessions::table.find(id))
        .set(admin_sessions::last_seen_at.eq(now))
        .execute(c))?;
    Ok(())
}

/// The second factor checked: the session is signed in.
pub fn complete(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(admin_sessions::table.find(id))
        .set((
            admin_sessions::second_factor_pending.eq(false),
            admin_sessions::last_seen_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Whose session this is, if it exists.
pub fn admin_of(conn: &mut DbConnection, id: i64) -> Result<Option<i64>, DbError> {
    Ok(on_backend!(conn, |c| admin_sessions::table
        .find(id)
        .select(admin_sessions::admin_id)
        .get_result(c)
        .optional())?)
}

/// Ends one session; returns whose it was, if it existed.
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<Option<i64>, DbError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        admin_sessions::table.find(id)
    )
    .returning(admin_sessions::admin_id)
    .get_result(c)
    .optional())?)
}

/// Ends every session of an admin; returns how many.
pub fn delete_for_admin(conn: &mut DbConnection, admin_id: i64) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        admin_sessions::table.filter(admin_sessions::admin_id.eq(admin_id))
    )
    .execute(c))?)
}

/// Signed-in sessions (not those half-way through the second factor),
/// most recently used first: one admin's, or everyone's.
pub fn list(
    conn: &mut DbConnection,
    admin_id: Option<i64>,
) -> Result<Vec<ListedAdminSession>, DbError> {
    Ok(on_backend!(conn, |c| {
        let mut q = admin_sessions::table
            .inner_join(admins::table)
            .filter(admin_sessions::second_factor_pending.eq(false))
            .select((
                admin_sessions::id,
                admin_sessions::admin_id,
                admins::username,
                admin_sessions::created_at,
                admin_sessions::last_seen_at,
                admin_sessions::ip,
                admin_sessions::user_agent,
            ))
            .into_boxed();
        if let Some(id) = admin_id {
            q = q.filter(admin_sessions::admin_id.eq(id));
        }
        q.order((
            admin_sessions::last_seen_at.desc(),
            admin_sessions::id.desc(),
        ))
        .limit(LIST_LIMIT)
        .load(c)
    })?)
}

/// Deletes up to `batch` sessions unused since `idle_before` or made before
/// `created_before`. Returns how many.
pub fn prune(
    conn: &mut DbConnection,
    idle_before: NaiveDateTime,
    created_before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| {
        let ended: Vec<i64> = admin_sessions::table
            .filter(
                admin_sessions::last_seen_at
                    .lt(idle_before)
                    .or(admin_sessions::created_at.lt(created_before)),
            )
            .select(admin_sessions::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(admin_sessions::table.filter(admin_sessions::id.eq_any(ended))).execute(c)
    })?)
}
