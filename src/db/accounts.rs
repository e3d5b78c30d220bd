//! The `accounts` table: one row per person, owning the profile.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::accounts;
use super::{DbConnection, DbError};
use crate::domain::profile::ProfileUpdate;
use crate::on_backend;

/// A row of `accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i64,
    pub unionid: Option<String>,
    pub nickname: String,
    pub avatar_url: String,
    pub gender: i16,
    pub country: String,
    pub province: String,
    pub city: String,
    pub language: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
    /// Sealed under the data key (see `domain::data_keys`).
    pub phone_number: Option<String>,
    pub phone_country_code: Option<String>,
    /// When WeChat last verified `phone_number`.
    pub phone_verified_at: Option<NaiveDateTime>,
    /// The highest risk rank WeChat gave any of its identities.
    pub risk_rank: Option<i16>,
    /// A nickname that WeChat's content check has not passed yet: shown to
    /// the user only.
    pub nickname_pending: Option<String>,
    /// An avatar URL that WeChat's content check has not passed yet.
    pub avatar_pending: Option<String>,
    /// The phone number's keyed hash, for lookups.
    pub phone_hash: Option<String>,
}

impl Account {
    /// Of two accounts, the one that a merge keeps: the older, and on a tie
    /// the one made first.
    pub fn is_older_than(&self, other: &Account) -> bool {
        (self.created_at, self.id) < (other.created_at, other.id)
    }
}

/// The columns a [`ProfileUpdate`] sets; `None` leaves one as it is.
#[derive(AsChangeset)]
#[diesel(table_name = accounts)]
pub(super) struct ProfileChanges<'a> {
    nickname: Option<&'a str>,
    avatar_url: Option<&'a str>,
    gender: Option<i16>,
    country: Option<&'a str>,
    province: Option<&'a str>,
    city: Option<&'a str>,
    language: Option<&'a str>,
}

impl<'a> From<&'a ProfileUpdate> for ProfileChanges<'a> {
    fn from(p: &'a ProfileUpdate) -> Self {
        Self {
            nickname: p.nickname.as_deref(),
            avatar_url: p.avatar_url.as_deref(),
            gender: p.gender,
            country: p.country.as_deref(),
            province: p.province.as_deref(),
            city: p.city.as_deref(),
            language: p.language.as_deref(),
        }
    }
}

// `None` is bound as NULL rather than left out, so that the statement's text
// never changes and SQLite can reuse the prepared statement.
#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
pub(super) struct NewAccount<'a> {
    pub unionid: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
}

impl<'a> NewAccount<'a> {
    pub fn at(now: NaiveDateTime, unionid: Option<&'a str>) -> Self {
        Self {
            unionid,
            created_at: now,
            updated_at: now,
            last_login_at: now,
            login_count: 0,
        }
    }

    /// An account made by a first login, which it counts.
    pub fn first_login(now: NaiveDateTime, unionid: Option<&'a str>) -> Self {
        Self {
            login_count: 1,
            ..Self::at(now, unionid)
        }
    }
}

/// Applies a profile change and, when given, the unionid; returns the account.
pub fn update_profile(
    conn: &mut DbConnection,
    id: i64,
    profile: &ProfileUpdate,
    now: NaiveDateTime,
) -> Result<Account, DbError> {
    if profile.is_empty() {
        return find(conn, id);
    }
    on_backend!(conn, |c| diesel::update(accounts::table.find(id))
        .set((ProfileChanges::from(profile), accounts::updated_at.eq(now)))
        .returning(Account::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

/// Stores the account's phone number, as WeChat gave it (and so verified):
/// sealed, with its lookup hash.
pub fn set_phone(
    conn: &mut DbConnection,
    id: i64,
    sealed_phone: &str,
    phone_hash: &str,
    country_code: &str,
    now: NaiveDateTime,
) -> Result<Account, DbError> {
    on_backend!(conn, |c| diesel::update(accounts::table.find(id))
        .set((
            accounts::phone_number.eq(sealed_phone),
            accounts::phone_hash.eq(phone_hash),
            accounts::phone_country_code.eq(country_code),
            accounts::phone_verified_at.eq(now),
            accounts::updated_at.eq(now),
        ))
        .returning(Account::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<Account, DbError> {
    on_backend!(conn, |c| accounts::table
        .find(id)
        .select(Account::as_select())
        .get_result(c))
    .map_err(DbError::from)
}

/// When the account was closed, if it was. [`DbError::NotFound`] if there
/// is no such account.
pub fn deleted_at(conn: &mut DbConnection, id: i64) -> Result<Option<NaiveDateTime>, DbError> {
    on_backend!(conn, |c| accounts::table
        .find(id)
        .select(accounts::deleted_at)
        .get_result(c))
    .map_err(DbError::from)
}

/// Closes an account: erases every personal field and marks it deleted.
/// What stays: the id, the creation time, the login count, the deletion time.
pub fn erase(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(accounts::table.find(id))
        .set((
            accounts::unionid.eq(None::<String>),
            accounts::nickname.eq(""),
            accounts::avatar_url.eq(""),
            accounts::gender.eq(0),
            accounts::country.eq(""),
            accounts::province.eq(""),
            accounts::city.eq(""),
            accounts::language.eq(""),
            accounts::phone_number.eq(None::<String>),
            accounts::phone_hash.eq(None::<String>),
            accounts::phone_country_code.eq(None::<String>),
            accounts::phone_verified_at.eq(None::<NaiveDateTime>),
            accounts::risk_rank.eq(None::<i16>),
            accounts::nickname_pending.eq(None::<String>),
            accounts::avatar_pending.eq(None::<String>),
            accounts::updated_at.eq(now),
            accounts::deleted_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    on_backend!(conn, |c| accounts::table.count().get_result(c)).map_err(DbError::from)
}

/// Raises the account's risk rank to `rank`, if it is lower or unknown.
pub fn raise_risk_rank(conn: &mut DbConnection, id: i64, rank: i16) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(
        accounts::table.find(id).filter(
            accounts::risk_rank
                .is_null()
                .or(accounts::risk_rank.lt(rank))
        )
    )
    .set(accounts::risk_rank.eq(rank))
    .execute(c))?;
    Ok(())
}

/// Sets the account's risk rank to the highest of its identities' (after
/// one of them left it).
pub fn recompute_risk_rank(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    use super::schema::identities;
    on_backend!(conn, |c| diesel::update(accounts::table.find(id))
        .set(
            accounts::risk_rank.eq(identities::table
                .filter(identities::account_id.eq(id))
                .select(diesel::dsl::max(identities::risk_rank))
                .single_value())
        )
        .execute(c))?;
    Ok(())
}
