//! The `login_codes` table: a login code within its retry window, by keyed
//! hash. A login writes its code's row once, as it starts, with the sealed
//! token it is about to make (`db::code_claims` batches these inserts); the
//! login is done when that token's session exists. So a login costs this
//! table one insert, and nothing more: its answer is never written here.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_codes as t;
use super::{DbConnection, DbError};
use crate::on_backend;

/// A code's row, as another request finds it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct HeldCode {
    /// The token of the login that holds the code, sealed.
    pub sealed_token: Vec<u8>,
    pub claimed_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// What a request finds for its code.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The code is this request's: its row holds this request's token.
    Mine,
    /// Another login holds it, under way or done.
    Held(HeldCode),
    /// The row went as it was looked at (its login failed): claim again.
    Freed,
}

/// A new row for a code.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: Vec<u8>,
    pub sealed_token: Vec<u8>,
    pub claimed_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Inserts the codes that have no row yet, in one statement. Returns the
/// hashes inserted.
pub fn insert_new(conn: &mut DbConnection, codes: &[&NewCode]) -> Result<Vec<Vec<u8>>, DbError> {
    let values: Vec<_> = codes
        .iter()
        .map(|c| {
            (
                t::code_hash.eq(&c.code_hash[..]),
                t::sealed_token.eq(&c.sealed_token[..]),
                t::claimed_at.eq(c.claimed_at),
                t::expires_at.eq(c.expires_at),
            )
        })
        .collect();
    Ok(on_backend!(conn, |c| diesel::insert_into(t::table)
        .values(&values)
        .on_conflict_do_nothing()
        .returning(t::code_hash)
        .get_results(c))?)
}

/// The row of a code that [`insert_new`] found taken: taken over if its
/// window is over, else as it is.
pub fn claim_taken(conn: &mut DbConnection, code: &NewCode) -> Result<Claim, DbError> {
    let expired = on_backend!(conn, |c| diesel::update(
        t::table
            .find(&code.code_hash[..])
            .filter(t::expires_at.le(code.claimed_at))
    )
    .set(replace(code))
    .execute(c))?;
    if expired == 1 {
        return Ok(Claim::Mine);
    }
    let held: Option<HeldCode> = on_backend!(conn, |c| t::table
        .find(&code.code_hash[..])
        .select(HeldCode::as_select())
        .first(c)
        .optional())?;
    Ok(held.map_or(Claim::Freed, Claim::Held))
}

/// Takes over a code whose holder is gone (its login never finished), if
/// the row is still the one that was found. True if taken.
pub fn take_over(
    conn: &mut DbConnection,
    found: &HeldCode,
    code: &NewCode,
) -> Result<bool, DbError> {
    let taken = on_backend!(conn, |c| diesel::update(
        t::table
            .find(&code.code_hash[..])
            .filter(t::sealed_token.eq(&found.sealed_token[..]))
            .filter(t::claimed_at.eq(found.claimed_at))
    )
    .set(replace(code))
    .execute(c))?;
    Ok(taken == 1)
}

/// The columns a new holder of a code sets.
type Replacement<'a> = (
    diesel::dsl::Eq<t::sealed_token, &'a [u8]>,
    diesel::dsl::Eq<t::claimed_at, NaiveDateTime>,
    diesel::dsl::Eq<t::expires_at, NaiveDateTime>,
);

fn replace(code: &NewCode) -> Replacement<'_> {
    (
        t::sealed_token.eq(&code.sealed_token[..]),
        t::claimed_at.eq(code.claimed_at),
        t::expires_at.eq(code.expires_at),
    )
}

/// The login holding the code with this token failed: the code is free
/// again, so that a retry asks WeChat (which knows whether it was used).
pub fn release(
    conn: &mut DbConnection,
    code_hash: &[u8],
    sealed_token: &[u8],
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::delete(
        t::table
            .find(code_hash)
            .filter(t::sealed_token.eq(sealed_token))
    )
    .execute(c))?;
    Ok(())
}

/// Deletes the rows past their window, in one statement: the table has no
/// index on the time (it would cost every login), so each statement scans
/// it once. It holds about one window of logins. Returns how many.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        t::table.filter(t::expires_at.le(now))
    )
    .execute(c))?)
}
