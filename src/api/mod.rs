//! The JSON API used by mini-programs. Each handler parses its request,
//! calls one service function, and maps the result; `error.rs` maps every
//! error, once.

pub mod auth;
pub mod error;
mod forward_auth;
mod introspect;
mod login;
mod media;
mod profile;
mod sessions;
mod views;

use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpResponse};

use self::error::ApiError;
use crate::service::health;
use crate::state::AppState;
pub use views::{UserBody, UserView};

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Largest form body the API reads: a token and a hint.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(form_config())
        .service(resource("/api/login").post(login::login))
        .service(
            resource("/api/me")
                .get(login::me)
                .route(web::patch().to(profile::patch_me))
                // wx.request has no PATCH: POST does the same.
                .route(web::post().to(profile::patch_me)),
        )
        .service(resource("/api/me/userinfo").post(profile::userinfo))
        .service(resource("/api/me/sessions").get(sessions::list))
        .service(resource("/api/me/sessions/{id}").delete(sessions::revoke))
        .service(resource("/api/me/phone").post(profile::phone))
        .service(resource("/api/me/avatar").post(media::upload_avatar))
        .service(resource("/media/avatars/{name}").get(media::avatar))
        .service(resource("/api/logout").post(login::logout))
        .service(web::resource("/auth/verify").to(forward_auth::verify))
        .service(resource("/oauth/introspect").post(introspect::introspect))
        .service(resource("/healthz").get(healthz))
        .service(resource("/livez").get(healthz))
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

/// Form bodies (`/oauth/introspect`): every failure is a clear `invalid_request`.
fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_FORM_BYTES)
        .error_handler(|err, _req| {
            use actix_web::error::UrlencodedError;
            let api_error = match &err {
                UrlencodedError::Payload(e) if crate::web::connections::is_body_timeout(e) => {
                    ApiError::BodyTimeout
                }
                UrlencodedError::ContentType => ApiError::InvalidRequest(
                    "the body must be a form, sent with `Content-Type: application/x-www-form-urlencoded`".into(),
                ),
                UrlencodedError::Overflow { limit, .. } => ApiError::PayloadTooLarge(*limit),
                _ => ApiError::InvalidRequest("the body is not a valid form".into()),
            };
            api_error.into()
        })
}

/// `s`, cut to `max_chars` characters with an ellipsis.
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

/// `GET /healthz` and `GET /livez`: the process is up, draining or not.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers, and this node can serve: it is not
/// draining.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    health::ready(&state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
