//! The JSON API used by mini-programs. Each handler parses its request,
//! calls one service function, and maps the result; `error.rs` maps every
//! error, once.

mod account;
pub mod auth;
pub mod error;
mod forward_auth;
mod introspect;
mod login;
mod media;
pub mod openapi;
mod probes;
mod profile;
mod push;
mod sessions;
mod user_data;
mod views;

use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpResponse};

use self::error::ApiError;
pub use views::{UserBody, UserView};

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Largest form body the API reads: a token and a hint.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(form_config())
        .app_data(web::Data::new(openapi::OpenApiJson::default()))
        .service(resource("/api/login", "POST").post(login::login))
        .service(
            resource("/api/me", "GET, PATCH, POST, DELETE")
                .get(login::me)
                .route(web::delete().to(account::delete_me))
                .route(web::patch().to(profile::patch_me))
                // wx.request has no PATCH: POST does the same.
                .route(web::post().to(profile::post_me)),
        )
        .service(resource("/api/me/userinfo", "POST").post(profile::userinfo))
        .service(resource("/api/me/export", "GET").get(account::export))
        .service(resource("/api/me/sessions", "GET").get(sessions::list))
        .service(resource("/api/me/sessions/{id}", "DELETE").delete(sessions::revoke))
        .service(resource("/api/me/phone", "POST").post(profile::phone))
        .service(resource("/api/me/avatar", "POST").post(media::upload_avatar))
        .service(resource("/media/avatars/{name}", "GET").get(media::avatar))
        .service(
            resource("/wechat/push/{appid}", "GET, POST")
                .app_data(web::PayloadConfig::new(crate::wechat::push::MAX_PUSH_BYTES))
                .route(web::get().to(push::check_url))
                .route(web::post().to(push::receive)),
        )
        .service(resource("/api/logout", "POST").post(login::logout))
        .service(web::resource("/auth/verify").to(forward_auth::verify))
        .service(resource("/oauth/introspect", "POST").post(introspect::introspect))
        .service(resource("/healthz", "GET").get(probes::healthz))
        .service(resource("/livez", "GET").get(probes::livez))
        .service(resource("/readyz", "GET").get(probes::readyz))
        .service(resource("/api/openapi.json", "GET").get(openapi::openapi_json));
}

/// A resource that answers other methods with a JSON 405 that names, in
/// `Allow`, the methods it has.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || method_not_allowed(allow)))
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

async fn method_not_allowed(allow: &'static str) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(allow))
}
