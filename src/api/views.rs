//! What the API answers: shapes built field by field from the stored rows.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::users;

/// A user as the API shows it: the account, seen through the identity the
/// session was opened with. Built from [`users::User`] field by field, so a
/// new server-only column cannot slip into a response.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// The account id: the same in every app of the account.
    pub id: i64,
    /// The mini-program of this session's identity.
    pub appid: String,
    /// The openid in that mini-program.
    pub openid: String,
    /// The account's unionid, once WeChat has sent one.
    pub unionid: Option<String>,
    pub nickname: String,
    pub avatar_url: String,
    pub gender: i16,
    pub country: String,
    pub province: String,
    pub city: String,
    pub language: String,
    /// The number bound with `POST /api/me/phone`, without country code.
    pub phone_number: Option<String>,
    pub phone_country_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

impl From<users::User> for UserView {
    fn from(user: users::User) -> Self {
        let (u, identity) = (user.account, user.identity);
        Self {
            id: u.id,
            appid: identity.appid,
            openid: identity.openid,
            unionid: u.unionid,
            nickname: u.nickname,
            avatar_url: u.avatar_url,
            gender: u.gender,
            country: u.country,
            province: u.province,
            city: u.city,
            language: u.language,
            phone_number: u.phone_number,
            phone_country_code: u.phone_country_code,
            created_at: u.created_at.and_utc(),
            last_login_at: u.last_login_at.and_utc(),
        }
    }
}

/// The answer of `GET /api/me` and of every call that changes the user.
#[derive(Serialize)]
pub struct UserBody {
    pub user: UserView,
}

impl UserBody {
    pub fn ok(user: users::User) -> HttpResponse {
        HttpResponse::Ok().json(Self { user: user.into() })
    }
}
