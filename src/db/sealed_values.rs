//! The sealed columns, read and rewritten in batches: what sealing the
//! values of an older release, and a data key rotation, go through (see
//! `service::data_keys`). Each rewrite is conditional on the value read, so
//! that a login or a phone binding made meanwhile is never overwritten.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Text};

use super::schema::{accounts, identities, wechat_access_tokens};
use super::{DbConnection, DbError};
use crate::on_backend;

/// Which stored values a pass reads.
#[derive(Debug, Clone, Copy)]
pub enum Unsealed<'a> {
    /// Written before encryption at rest. Read through the partial indexes
    /// `identities_session_key_plain` and `accounts_phone_plain`, which hold
    /// only such rows, so that the sealer's check with none left reads
    /// nothing: the conditions are written as in those indexes, for the
    /// planners to match.
    Plain,
    /// Every value that does not match this `LIKE` pattern: not sealed
    /// under the current key. Reads the table.
    NotLike(&'a str),
}

/// Up to `limit` session keys after identity `after`, in id order, that are
/// `which`: the values still to rewrite.
pub fn session_keys(
    conn: &mut DbConnection,
    after: i64,
    which: Unsealed<'_>,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_backend!(conn, |c| {
        let query = identities::table
            .filter(identities::id.gt(after))
            .order(identities::id)
            .select((identities::id, identities::session_key))
            .limit(limit)
            .into_boxed();
        match which {
            Unsealed::Plain => query.filter(sql::<Bool>("session_key NOT LIKE 'wxe1.%'")),
            Unsealed::NotLike(like) => query.filter(identities::session_key.not_like(like)),
        }
        .load(c)
    })?)
}

/// Replaces an identity's session key with `new` if it is still `old`.
pub fn replace_session_key(
    conn: &mut DbConnection,
    id: i64,
    old: &str,
    new: &str,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::session_key.eq(old))
    )
    .set(identities::session_key.eq(new))
    .execute(c))?;
    Ok(n == 1)
}

/// Up to `limit` phone numbers after account `after`, in id order, that are
/// `which`.
pub fn phones(
    conn: &mut DbConnection,
    after: i64,
    which: Unsealed<'_>,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_backend!(conn, |c| {
        let query = accounts::table
            .filter(accounts::id.gt(after))
            .order(accounts::id)
            .select((accounts::id, accounts::phone_number.assume_not_null()))
            .limit(limit)
            .into_boxed();
        match which {
            Unsealed::Plain => query.filter(sql::<Bool>("phone_number NOT LIKE 'wxe1.%'")),
            Unsealed::NotLike(like) => query.filter(accounts::phone_number.not_like(like)),
        }
        .load(c)
    })?)
}

/// Replaces an account's phone number and its lookup hash if the number is
/// still `old`.
pub fn replace_phone(
    conn: &mut DbConnection,
    id: i64,
    old: &str,
    new: &str,
    hash: &str,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        accounts::table
            .filter(accounts::id.eq(id))
            .filter(accounts::phone_number.eq(old))
    )
    .set((
        accounts::phone_number.eq(new),
        accounts::phone_hash.eq(hash)
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Every stored access token, by app: one row per mini-program.
pub fn access_tokens(conn: &mut DbConnection) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    let rows: Vec<(String, Option<Vec<u8>>)> = on_backend!(conn, |c| wechat_access_tokens::table
        .select((
            wechat_access_tokens::appid,
            wechat_access_tokens::sealed_token
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(appid, token)| Some((appid, token?)))
        .collect())
}

/// Replaces an app's sealed access token if it is still `old`.
pub fn replace_access_token(
    conn: &mut DbConnection,
    appid: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        wechat_access_tokens::table
            .filter(wechat_access_tokens::appid.eq(appid))
            .filter(wechat_access_tokens::sealed_token.eq(old))
    )
    .set(wechat_access_tokens::sealed_token.eq(new))
    .execute(c))?;
    Ok(n == 1)
}

/// The distinct `prefix_chars`-character beginnings of the sealed session
/// keys and phone numbers (`wxe1.<key id>`): which keys the stored values
/// need. Reads both tables whole, as a rotation does once before it starts.
pub fn sealed_prefixes(
    conn: &mut DbConnection,
    prefix_chars: i32,
    sealed_like: &str,
) -> Result<Vec<String>, DbError> {
    #[derive(QueryableByName)]
    struct Prefix {
        #[diesel(sql_type = Text)]
        prefix: String,
    }
    let query = diesel::sql_query(
        "SELECT DISTINCT substr(session_key, 1, $1) AS prefix FROM identities WHERE session_key LIKE $2 \
         UNION SELECT DISTINCT substr(phone_number, 1, $1) AS prefix FROM accounts WHERE phone_number LIKE $2",
    );
    let rows: Vec<Prefix> = match conn {
        DbConnection::Postgres(c) => query
            .bind::<Integer, _>(prefix_chars)
            .bind::<Text, _>(sealed_like)
            .load(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT DISTINCT substr(session_key, 1, ?1) AS prefix FROM identities WHERE session_key LIKE ?2 \
             UNION SELECT DISTINCT substr(phone_number, 1, ?1) AS prefix FROM accounts WHERE phone_number LIKE ?2",
        )
        .bind::<Integer, _>(prefix_chars)
        .bind::<Text, _>(sealed_like)
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.prefix).collect())
}
