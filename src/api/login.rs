//! Logging in, who am I, and logging out.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Authenticated, Bearer};
use super::error::ApiError;
use super::views::{UserBody, UserView};
use crate::domain::login::check_code;
use crate::domain::user_data::UserDataFields;
use crate::service::{login as logins, sessions};
use crate::state::AppState;
use crate::web::client_ip;

/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 512;

#[derive(Deserialize)]
pub struct LoginRequest {
    /// The mini-program's appid; optional where a default app is set.
    appid: Option<String>,
    code: Option<String>,
    /// Optional signed and encrypted user data that goes with this code.
    #[serde(flatten)]
    user_data: UserDataFields,
}

#[derive(Serialize)]
struct LoginResponse<'a> {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserView<'a>,
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| super::truncate(ua, MAX_USER_AGENT_CHARS))
}

/// `POST /api/login {"code": "...", ...user data}`.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let code = check_code(body.code.as_deref(), "the code from wx.login()")
        .map_err(ApiError::InvalidRequest)?
        .to_owned();
    let input = logins::LoginInput {
        appid: body.appid,
        code,
        user_data: body.user_data,
        client_ip: client_ip(&req, state.trust_proxy),
        user_agent: user_agent(&req),
    };
    let done = logins::login(&state, input).await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: done.token.expose().to_owned(),
        expires_at: done.expires_at.and_utc(),
        user: (&done.user).into(),
    }))
}

/// `GET /api/me`.
pub async fn me(auth: Authenticated) -> HttpResponse {
    UserBody::ok(&auth.user)
}

/// `POST /api/logout`: the token stops working at once.
pub async fn logout(
    state: web::Data<AppState>,
    Bearer(hash): Bearer,
) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state, hash).await?;
    Ok(HttpResponse::NoContent().finish())
}
