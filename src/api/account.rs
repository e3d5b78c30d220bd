//! The user's rights over their data: `GET /api/me/export` gives all of it,
//! `DELETE /api/me` closes the account and erases it.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::error::{ApiError, ErrorBody};
use crate::service::account_closing::{self, ClosedBy};
use crate::service::personal_data::{self, PersonalData};
use crate::state::AppState;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[derive(Serialize, ToSchema)]
struct ExportedAccount {
    id: i64,
    unionid: Option<String>,
    nickname: String,
    avatar_url: String,
    /// A nickname or avatar waiting for WeChat's content check or review.
    nickname_pending: Option<String>,
    avatar_pending: Option<String>,
    gender: i16,
    country: String,
    province: String,
    city: String,
    language: String,
    phone_number: Option<String>,
    phone_country_code: Option<String>,
    phone_verified_at: Option<DateTime<Utc>>,
    /// WeChat's risk rank (0 lowest to 4), when an app asked.
    risk_rank: Option<i16>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: DateTime<Utc>,
    login_count: i64,
}

/// One (app, openid) of the account. The session key WeChat issued is
/// kept on the server only, and never given out.
#[derive(Serialize, ToSchema)]
struct ExportedIdentity {
    appid: String,
    openid: String,
    unionid: Option<String>,
    created_at: DateTime<Utc>,
    last_login_at: DateTime<Utc>,
    login_count: i64,
    session_key_issued_at: DateTime<Utc>,
    risk_rank: Option<i16>,
}

#[derive(Serialize, ToSchema)]
struct ExportedSession {
    id: i64,
    appid: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

/// Everything wxlogin stores about the account.
#[derive(Serialize, ToSchema)]
struct ExportBody {
    exported_at: DateTime<Utc>,
    account: ExportedAccount,
    identities: Vec<ExportedIdentity>,
    /// The live sessions (tokens are stored only as hashes, and not shown).
    sessions: Vec<ExportedSession>,
}

impl From<PersonalData> for ExportBody {
    fn from(data: PersonalData) -> Self {
        let a = data.account;
        Self {
            exported_at: utc(data.exported_at),
            account: ExportedAccount {
                id: a.id,
                unionid: a.unionid,
                nickname: a.nickname,
                avatar_url: a.avatar_url,
                nickname_pending: a.nickname_pending,
                avatar_pending: a.avatar_pending,
                gender: a.gender,
                country: a.country,
                province: a.province,
                city: a.city,
                language: a.language,
                phone_number: a.phone_number,
                phone_country_code: a.phone_country_code,
                phone_verified_at: a.phone_verified_at.map(utc),
                risk_rank: a.risk_rank,
                created_at: utc(a.created_at),
                updated_at: utc(a.updated_at),
                last_login_at: utc(a.last_login_at),
                login_count: a.login_count,
            },
            identities: data
                .identities
                .into_iter()
                .map(|i| ExportedIdentity {
                    appid: i.appid,
                    openid: i.openid,
                    unionid: i.unionid,
                    created_at: utc(i.created_at),
                    last_login_at: utc(i.last_login_at),
                    login_count: i.login_count,
                    session_key_issued_at: utc(i.session_key_issued_at),
                    risk_rank: i.risk_rank,
                })
                .collect(),
            sessions: data
                .sessions
                .into_iter()
                .map(|(s, appid)| ExportedSession {
                    id: s.id,
                    appid,
                    created_at: utc(s.created_at),
                    last_seen_at: utc(s.last_seen_at),
                    expires_at: utc(s.expires_at),
                    client_ip: s.client_ip,
                    user_agent: s.user_agent,
                })
                .collect(),
        }
    }
}

/// Everything stored about the user's account, as JSON (the right of access).
#[utoipa::path(
    get,
    path = "/api/me/export",
    tag = "profile",
    operation_id = "export_me",
    security(("bearer" = [])),
    responses((status = 200, description = "The account, its identities in every app and its live sessions", body = ExportBody)),
)]
pub async fn export(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let data = personal_data::export(&state, auth.user.account.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"wxlogin-export.json\"",
        ))
        .json(ExportBody::from(data)))
}

/// Closes the account (注销): its profile, phone number, avatar files,
/// identities and session keys are erased, and every token of it stops
/// working at once, in every app. A later login makes a new account.
#[utoipa::path(
    delete,
    path = "/api/me",
    tag = "profile",
    operation_id = "delete_me",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Closed and erased"),
        (status = 404, description = "`not_found`: the account is closed already", body = ErrorBody),
    ),
)]
pub async fn delete_me(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    account_closing::close(&state, auth.user.account.id, ClosedBy::User).await?;
    Ok(HttpResponse::NoContent().finish())
}
