//! The `identities` table: one row per (appid, openid), each belonging to one
//! account, with that app's `session_key`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::identities;
use super::{DbConnection, DbError};
use crate::domain::data_keys::Stored;
use crate::on_backend;

/// A row of `identities`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: i64,
    pub account_id: i64,
    pub appid: String,
    pub openid: String,
    /// What WeChat last said for this openid.
    pub unionid: Option<String>,
    /// Sealed under the data key (see `domain::data_keys`).
    #[diesel(deserialize_as = String)]
    pub session_key: Stored,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
    /// When WeChat issued `session_key`.
    pub session_key_issued_at: NaiveDateTime,
    /// WeChat's risk rank at the first login, when the app asked for it.
    pub risk_rank: Option<i16>,
}

/// Every identity of an account, by app.
pub fn list_for_account(
    conn: &mut DbConnection,
    account_id: i64,
) -> Result<Vec<Identity>, DbError> {
    Ok(on_backend!(conn, |c| identities::table
        .filter(identities::account_id.eq(account_id))
        .order((identities::appid, identities::id))
        .select(Identity::as_select())
        .load(c))?)
}

/// Deletes every identity of an account, and with them (by their foreign
/// keys) its sessions and content checks. Returns how many.
pub fn delete_for_account(conn: &mut DbConnection, account_id: i64) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        identities::table.filter(identities::account_id.eq(account_id))
    )
    .execute(c))?)
}

/// An identity as the admin's table and CSV show it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = identities)]
pub struct ListedIdentity {
    pub id: i64,
    pub account_id: i64,
    pub appid: String,
    pub openid: String,
    /// WeChat's risk rank at its first login, when its app asked.
    pub risk_rank: Option<i16>,
}

/// The identities of these accounts, for a page of the admin's table.
pub fn of_accounts(
    conn: &mut DbConnection,
    account_ids: &[i64],
) -> Result<Vec<ListedIdentity>, DbError> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(on_backend!(conn, |c| identities::table
        .filter(identities::account_id.eq_any(account_ids))
        .order((identities::account_id, identities::appid, identities::id))
        .select(ListedIdentity::as_select())
        .load(c))?)
}

/// Whether the identity `(appid, openid)` exists: one look-up of the unique
/// index.
pub fn exists(conn: &mut DbConnection, appid: &str, openid: &str) -> Result<bool, DbError> {
    Ok(on_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        identities::table
            .filter(identities::openid.eq(openid))
            .filter(identities::appid.eq(appid))
    ))
    .get_result(c))?)
}
