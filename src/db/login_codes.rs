//! The `login_codes` table: a login code within its retry window, by keyed
//! hash. One request holds a code while its login is under way; the others
//! with the same code, on any node, wait for its token. All of it is short
//! statements: no transaction stays open while WeChat answers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_codes as t;
use super::{DbConnection, DbError};
use crate::on_backend;

/// What a request finds for its code.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The code is this request's to exchange, until the given time.
    Mine,
    /// Another request is exchanging it.
    UnderWay,
    /// A login with this code is done: its sealed token.
    Done(Vec<u8>),
}

/// Claims `code_hash` until `until`, unless a live row holds it. A row past
/// its time (a finished window, or a holder that died) is taken over.
pub fn claim(
    conn: &mut DbConnection,
    code_hash: &[u8],
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Claim, DbError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(t::table)
        .values((t::code_hash.eq(code_hash), t::expires_at.eq(until)))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 1 {
        return Ok(Claim::Mine);
    }
    let taken_over = on_backend!(conn, |c| diesel::update(
        t::table.find(code_hash).filter(t::expires_at.le(now))
    )
    .set((t::sealed_token.eq(None::<Vec<u8>>), t::expires_at.eq(until)))
    .execute(c))?;
    if taken_over == 1 {
        return Ok(Claim::Mine);
    }
    let sealed: Option<Option<Vec<u8>>> = on_backend!(conn, |c| t::table
        .find(code_hash)
        .select(t::sealed_token)
        .first(c)
        .optional())?;
    Ok(match sealed {
        Some(Some(sealed)) => Claim::Done(sealed),
        // Under way, or deleted in between by a failed login: wait and look again.
        Some(None) | None => Claim::UnderWay,
    })
}

/// The login with the code is done: its sealed token, kept until `until`.
pub fn complete(
    conn: &mut DbConnection,
    code_hash: &[u8],
    sealed_token: &[u8],
    until: NaiveDateTime,
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(t::table.find(code_hash))
        .set((t::sealed_token.eq(sealed_token), t::expires_at.eq(until)))
        .execute(c))?;
    Ok(())
}

/// The login with the code failed: the code is free again, so that a retry
/// asks WeChat (which knows whether the code was used).
pub fn release(conn: &mut DbConnection, code_hash: &[u8]) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::delete(
        t::table.find(code_hash).filter(t::sealed_token.is_null())
    )
    .execute(c))?;
    Ok(())
}

/// Deletes up to `limit` rows past their time. Returns how many.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| {
        let old: Vec<Vec<u8>> = t::table
            .filter(t::expires_at.le(now))
            .select(t::code_hash)
            .limit(limit)
            .load(c)?;
        diesel::delete(
            t::table
                .filter(t::code_hash.eq_any(old))
                .filter(t::expires_at.le(now)),
        )
        .execute(c)
    })?)
}
