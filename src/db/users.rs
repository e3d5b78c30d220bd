//! The `users` table.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::{sessions, users};
use super::{DbConnection, DbError, WriteTransaction};
use crate::domain::login::LoginRecord;
use crate::domain::profile::{ProfileUpdate, SessionKey};
use crate::on_backend;

diesel::define_sql_function! {
    /// SQL `COALESCE` of two nullable texts.
    fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::Text>, y: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    #[diesel(deserialize_as = String)]
    pub session_key: SessionKey,
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
    pub phone_number: Option<String>,
    pub phone_country_code: Option<String>,
}

/// The columns a [`ProfileUpdate`] sets; `None` leaves one as it is.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct ProfileChanges<'a> {
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
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct NewUser<'a> {
    appid: &'a str,
    openid: &'a str,
    unionid: Option<&'a str>,
    session_key: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
}

#[derive(Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
struct NewSession<'a> {
    user_id: i64,
    token_hash: &'a [u8],
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
}

/// Writes logins in one write transaction: for each, creates the user or
/// updates the existing one (with the profile data sent along, if any), and
/// opens a session. Returns the users in the order of `logins`; if one
/// login fails, nothing is written.
///
/// The users are written with one multi-row upsert and the sessions with
/// one multi-row insert, whatever the number of logins. The upsert rides on
/// the unique (appid, openid) index, so concurrent first logins of one openid
/// make exactly one row. A user who logs in twice in `logins` is upserted
/// once per login, in order, by a further statement.
pub fn record_logins(
    conn: &mut DbConnection,
    logins: &[&LoginRecord],
) -> Result<Vec<User>, DbError> {
    if logins.is_empty() {
        return Ok(Vec::new());
    }
    on_backend!(conn, |c| c.write_transaction(|c| {
        let mut users: Vec<Option<User>> = vec![None; logins.len()];
        let mut pending: Vec<usize> = (0..logins.len()).collect();
        while !pending.is_empty() {
            // One upsert can change a row only once: a second login of the
            // same user waits for the next round.
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = pending
                .iter()
                .partition(|&&i| seen.insert((&logins[i].appid, &logins[i].openid)));
            let new_users: Vec<NewUser<'_>> = round
                .iter()
                .map(|&i| {
                    let login = logins[i];
                    NewUser {
                        appid: &login.appid,
                        openid: &login.openid,
                        unionid: login.unionid.as_deref(),
                        session_key: login.session_key.expose(),
                        created_at: login.now,
                        updated_at: login.now,
                        last_login_at: login.now,
                        login_count: 1,
                    }
                })
                .collect();
            let rows: Vec<User> = diesel::insert_into(users::table)
                .values(&new_users)
                .on_conflict((users::appid, users::openid))
                .do_update()
                .set((
                    users::session_key.eq(excluded(users::session_key)),
                    users::unionid.eq(coalesce(excluded(users::unionid), users::unionid)),
                    users::last_login_at.eq(excluded(users::last_login_at)),
                    users::updated_at.eq(excluded(users::updated_at)),
                    users::login_count.eq(users::login_count + 1),
                ))
                .returning(User::as_returning())
                .get_results(c)?;
            // RETURNING promises no order: match the rows by their key.
            let mut by_key: HashMap<(String, String), User> = rows
                .into_iter()
                .map(|u| ((u.appid.clone(), u.openid.clone()), u))
                .collect();
            for &i in &round {
                let login = logins[i];
                let user = by_key
                    .remove(&(login.appid.clone(), login.openid.clone()))
                    .ok_or(DbError::Invariant("the upsert returned no row for a login"))?;
                users[i] = Some(if login.profile.is_empty() {
                    user
                } else {
                    diesel::update(users::table.find(user.id))
                        .set(ProfileChanges::from(&login.profile))
                        .returning(User::as_returning())
                        .get_result(c)?
                });
            }
            pending = later;
        }
        // Every login was answered by exactly one round.
        let users: Vec<User> =
            users
                .into_iter()
                .collect::<Option<_>>()
                .ok_or(DbError::Invariant(
                    "a login was left unanswered by every round",
                ))?;
        let new_sessions: Vec<NewSession<'_>> = logins
            .iter()
            .zip(&users)
            .map(|(login, user)| NewSession {
                user_id: user.id,
                token_hash: &login.token_hash.0,
                created_at: login.now,
                expires_at: login.expires_at,
                last_seen_at: login.now,
                client_ip: login.client_ip.as_deref(),
                user_agent: login.user_agent.as_deref(),
            })
            .collect();
        diesel::insert_into(sessions::table)
            .values(&new_sessions)
            .execute(c)?;
        Ok::<_, DbError>(users)
    }))
}

/// Applies a profile change and, when given, the unionid; returns the user.
pub fn update_profile(
    conn: &mut DbConnection,
    id: i64,
    profile: &ProfileUpdate,
    unionid: Option<&str>,
    now: NaiveDateTime,
) -> Result<User, DbError> {
    if profile.is_empty() && unionid.is_none() {
        return find(conn, id);
    }
    on_backend!(conn, |c| diesel::update(users::table.find(id))
        .set((
            ProfileChanges::from(profile),
            unionid.map(|u| users::unionid.eq(u)),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

/// Stores the user's phone number, as WeChat gave it.
pub fn set_phone(
    conn: &mut DbConnection,
    id: i64,
    phone_number: &str,
    country_code: &str,
    now: NaiveDateTime,
) -> Result<User, DbError> {
    on_backend!(conn, |c| diesel::update(users::table.find(id))
        .set((
            users::phone_number.eq(phone_number),
            users::phone_country_code.eq(country_code),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<User, DbError> {
    on_backend!(conn, |c| users::table
        .find(id)
        .select(User::as_select())
        .get_result(c))
    .map_err(DbError::from)
}

pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    on_backend!(conn, |c| users::table.count().get_result(c)).map_err(DbError::from)
}
