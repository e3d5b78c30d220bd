//! What the API answers: shapes built field by field from the stored rows.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users;
use crate::domain::data_keys::DataKeys;
use crate::service::personal_data::opened_phone;

/// A user as the API shows it: the account, seen through the identity the
/// session was opened with. Built from [`users::User`] field by field, so a
/// new server-only column cannot slip into a response. It borrows the user,
/// so a cached user is answered without copying its strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView<'a> {
    /// The account id: the same in every app of the account.
    pub id: i64,
    /// The mini-program of this session's identity.
    pub appid: &'a str,
    /// The openid in that mini-program.
    pub openid: &'a str,
    /// The account's unionid, once WeChat has sent one.
    pub unionid: Option<&'a str>,
    /// The user's nickname: a pending one (see `pending_review`) is shown
    /// to its user, and to no one else.
    pub nickname: &'a str,
    /// The avatar; a pending one too.
    pub avatar_url: &'a str,
    /// The fields whose value WeChat's content check (or an operator) has
    /// not passed yet: `nickname`, `avatar_url`. Until then, others see the
    /// value before it.
    pub pending_review: Vec<&'static str>,
    pub gender: i16,
    pub country: &'a str,
    pub province: &'a str,
    pub city: &'a str,
    pub language: &'a str,
    /// The number bound with `POST /api/me/phone`, without country code.
    pub phone_number: Option<String>,
    pub phone_country_code: Option<&'a str>,
    /// When WeChat last verified the phone number: `null` until one is
    /// bound. A client can skip the paid phone button when it is set.
    pub phone_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

impl<'a> UserView<'a> {
    /// `keys` open the phone number, which is kept sealed.
    pub fn new(user: &'a users::User, keys: &DataKeys) -> Self {
        let (u, identity) = (&*user.account, &*user.identity);
        Self {
            id: u.id,
            appid: &identity.appid,
            openid: &identity.openid,
            unionid: u.unionid.as_deref(),
            nickname: u.nickname_pending.as_deref().unwrap_or(&u.nickname),
            avatar_url: u.avatar_pending.as_deref().unwrap_or(&u.avatar_url),
            pending_review: [
                ("nickname", u.nickname_pending.is_some()),
                ("avatar_url", u.avatar_pending.is_some()),
            ]
            .into_iter()
            .filter_map(|(field, pending)| pending.then_some(field))
            .collect(),
            gender: u.gender,
            country: &u.country,
            province: &u.province,
            city: &u.city,
            language: &u.language,
            phone_number: u
                .phone_number
                .as_deref()
                .and_then(|sealed| opened_phone(keys, sealed)),
            phone_country_code: u.phone_country_code.as_deref(),
            phone_verified_at: u.phone_verified_at.map(|t| t.and_utc()),
            created_at: u.created_at.and_utc(),
            last_login_at: u.last_login_at.and_utc(),
        }
    }
}

/// The answer of `GET /api/me` and of every call that changes the user.
#[derive(Serialize, ToSchema)]
pub struct UserBody<'a> {
    pub user: UserView<'a>,
}

impl UserBody<'_> {
    pub fn ok(user: &users::User, keys: &DataKeys) -> HttpResponse {
        HttpResponse::Ok().json(UserBody {
            user: UserView::new(user, keys),
        })
    }
}
