//! Logging in, who am I, and logging out.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Authenticated, Bearer};
use super::error::{ApiError, ErrorBody};
use super::user_data::UserDataBody;
use super::views::{UserBody, UserView};
use crate::domain::login::check_code;
use crate::service::{login as logins, sessions};
use crate::state::AppState;
use crate::web::client_ip;

/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 512;

/// A login code, with the user data that goes with it, if any.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The mini-program's appid; optional where a default app is set.
    appid: Option<String>,
    /// The code from `wx.login()`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    code: Option<String>,
    #[serde(flatten)]
    user_data: UserDataBody,
}

#[derive(Serialize, ToSchema)]
struct LoginResponse<'a> {
    /// The token for `Authorization: Bearer`. It is shown only here: the
    /// server keeps only its hash.
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

/// Exchanges a `wx.login()` code for a token.
///
/// The user is created at the first login of their openid (or joined to the
/// account of their unionid), and updated after. A login retried with the
/// same code within `--code-retry-window` (60 s) gets the same token back.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "`invalid_request`, `unknown_app`, user data that fails its check (`invalid_signature`, `watermark_mismatch`, `decrypt_failed`), or `code_used`: the code was used already, past its retry window or by a session that has ended; call `wx.login()` again", body = ErrorBody),
        (status = 401, description = "`invalid_code`: WeChat says the code is invalid or expired; call `wx.login()` again", body = ErrorBody),
        (status = 403, description = "`user_blocked`: WeChat has blocked this user as high-risk", body = ErrorBody),
        (status = 429, description = "`rate_limited`: WeChat's per-minute quota is used up", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 502, description = "`wechat_unavailable`: WeChat could not be reached, or refused", body = ErrorBody),
    ),
)]
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
        user_data: body.user_data.into(),
        client_ip: client_ip(&req, state.trust_proxy),
        user_agent: user_agent(&req),
    };
    let done = logins::login(&state, input).await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: done.token.expose().to_owned(),
        expires_at: done.expires_at.and_utc(),
        user: UserView::new(&done.user, &state.data_keys),
    }))
}

/// The logged-in user.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "profile",
    security(("bearer" = [])),
    responses((status = 200, description = "The user", body = UserBody)),
)]
pub async fn me(state: web::Data<AppState>, auth: Authenticated) -> HttpResponse {
    UserBody::ok(&auth.user, &state.data_keys)
}

/// Ends the session of this token, on every node at once.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "login",
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out")),
)]
pub async fn logout(
    state: web::Data<AppState>,
    Bearer(hash): Bearer,
) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state, hash).await?;
    Ok(HttpResponse::NoContent().finish())
}
