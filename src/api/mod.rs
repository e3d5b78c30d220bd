//! The JSON API used by mini-programs.

pub mod auth;
pub mod error;
pub mod media;
pub mod profile;

use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use self::auth::{Authenticated, Bearer};
use self::error::ApiError;
use crate::db::{self, sessions, users};
use crate::domain::token::SessionToken;
use crate::state::AppState;

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Longest `code` accepted; WeChat's are 32 characters.
pub const MAX_CODE_CHARS: usize = 128;
/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 512;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .service(resource("/api/login").post(login))
        .service(
            resource("/api/me")
                .get(me)
                .route(web::patch().to(profile::patch_me))
                // wx.request has no PATCH: POST does the same.
                .route(web::post().to(profile::patch_me)),
        )
        .service(resource("/api/me/userinfo").post(profile::userinfo))
        .service(resource("/api/me/phone").post(profile::phone))
        .service(resource("/api/me/avatar").post(media::upload_avatar))
        .service(resource("/media/avatars/{name}").get(media::avatar))
        .service(resource("/api/logout").post(logout))
        .service(resource("/healthz").get(healthz))
        .service(resource("/readyz").get(readyz));
}

/// A resource that answers other methods with a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Turns every JSON extraction failure into a clear `invalid_request`.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|err, _req| {
            let api_error = match &err {
                JsonPayloadError::Payload(e) if crate::web::connections::is_body_timeout(e) => {
                    ApiError::BodyTimeout
                }
                JsonPayloadError::ContentType => ApiError::InvalidRequest(
                    "the body must be JSON, sent with `Content-Type: application/json`".into(),
                ),
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    ApiError::PayloadTooLarge(*limit)
                }
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::InvalidRequest(format!(
                        "the JSON body has the wrong shape: {}",
                        truncate(&e.to_string(), 200)
                    ))
                }
                _ => ApiError::InvalidRequest("the body is not valid JSON".into()),
            };
            api_error.into()
        })
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// A user as the API shows it. Built from [`users::User`] field by field, so a
/// new server-only column cannot slip into a response.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: i64,
    pub openid: String,
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
    fn from(u: users::User) -> Self {
        Self {
            id: u.id,
            openid: u.openid,
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

#[derive(Deserialize)]
pub struct LoginRequest {
    code: Option<String>,
    /// Optional signed and encrypted user data that goes with this code.
    #[serde(flatten)]
    user_data: profile::UserDataFields,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserView,
}

/// Checks a one-time code from WeChat's client side; `source` tells the
/// client where that code comes from.
fn validate_code<'a>(code: Option<&'a str>, source: &str) -> Result<&'a str, ApiError> {
    let code =
        code.ok_or_else(|| ApiError::InvalidRequest(format!("`code` is required: send {source}")))?;
    if code.trim().is_empty() {
        return Err(ApiError::InvalidRequest(format!(
            "`code` is empty: send {source}"
        )));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "`code` is longer than {MAX_CODE_CHARS} characters"
        )));
    }
    if code.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(
            "`code` contains control characters".into(),
        ));
    }
    Ok(code)
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| truncate(ua, MAX_USER_AGENT_CHARS))
}

/// Runs a change to a user, then drops this node's cached copy of that
/// user, so that the next request sees the change.
pub(crate) async fn change_user<F>(
    state: &AppState,
    id: i64,
    change: F,
) -> Result<users::User, db::DbError>
where
    F: FnOnce(&mut db::DbConnection) -> Result<users::User, db::DbError> + Send + 'static,
{
    let result = db::run(&state.pool, change).await;
    state.token_cache.forget_user(id);
    result
}

/// `POST /api/login {"code": "..."}`.
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = validate_code(body.code.as_deref(), "the code from wx.login()")?;
    body.user_data.check_shape(false)?;
    let wx = state.wechat.code2session(code).await?;
    // The data is checked against the session_key that this code just gave,
    // before anything is written: a failure refuses the whole login.
    let checked = body
        .user_data
        .check(&wx.session_key, &state.appid, &wx.openid, false)?;
    let unionid = wx.unionid.clone().or_else(|| checked.unionid.clone());

    let token = SessionToken::generate();
    let now = crate::clock::now();
    let expires_at = session_expiry(now, state.session_ttl);
    let user = state
        .logins
        .record(crate::domain::login::LoginRecord {
            appid: state.appid.clone(),
            openid: wx.openid,
            unionid,
            session_key: wx.session_key,
            token_hash: token.hash(),
            expires_at,
            client_ip: crate::web::client_ip(&req, state.trust_proxy),
            user_agent: user_agent(&req),
            profile: checked.profile,
            now,
        })
        .await?;
    state.token_cache.forget_user(user.id);
    tracing::info!(user_id = user.id, "login");
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: token.expose().to_owned(),
        expires_at: expires_at.and_utc(),
        user: user.into(),
    }))
}

fn session_expiry(now: NaiveDateTime, ttl: std::time::Duration) -> NaiveDateTime {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(ttl).unwrap_or(NaiveDateTime::MAX)
}

/// `GET /api/me`.
async fn me(auth: Authenticated) -> HttpResponse {
    UserBody::ok(auth.user)
}

/// `POST /api/logout`: the token stops working at once.
async fn logout(
    state: web::Data<AppState>,
    Bearer(hash): Bearer,
) -> Result<HttpResponse, ApiError> {
    let revoked = db::run(&state.pool, move |conn| {
        sessions::revoke_by_hash(conn, &hash, crate::clock::now())
    })
    .await;
    state.token_cache.forget_token(&hash);
    let revoked = revoked?;
    if !revoked {
        return Err(ApiError::Unauthorized(
            "the session token is unknown, expired or already revoked",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /healthz`: the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let timeout = state.ready_timeout;
    tokio::task::spawn_blocking(move || db::ping(&pool, timeout))
        .await
        .map_err(|e| ApiError::Db(db::DbError::Unavailable(Box::new(e))))??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated() {
        let ok = |c: &str| validate_code(Some(c), "it").is_ok();
        assert!(validate_code(None, "it").is_err());
        assert!(!ok(""));
        assert!(!ok("   "));
        assert!(!ok("a\u{0}b"));
        assert!(!ok(&"x".repeat(129)));
        assert!(ok(&"码".repeat(128)));
        assert_eq!(validate_code(Some("081abc"), "it").unwrap(), "081abc");
    }
}
