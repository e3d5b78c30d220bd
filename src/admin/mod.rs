//! The admin site under `/admin`: server-rendered pages for operators. One
//! file per page; each handler parses, calls a service, and renders.
//! `error.rs` maps every error to a page, once.

mod account_links;
mod audit;
mod csrf;
mod error;
mod export;
mod home;
mod page;
pub mod params;
mod review;
mod services;
mod signin;
mod user;
mod users;
mod view;
mod webhooks;

use std::time::Duration;

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::SameSite;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, HttpResponse};

pub use self::error::AdminError;
use crate::clock::unix_now;
use crate::config::AdminSettings;
use crate::service::admins;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "wxlogin_admin";

const KEY_ADMIN_ID: &str = "admin_id";
/// Named "admin" in the cookie since the first release; kept so sessions survive upgrades.
const KEY_ADMIN_NAME: &str = "admin";
const KEY_CSRF: &str = "csrf";
const KEY_SEEN: &str = "seen";

/// The signed-in admin of a request, put there by the sign-in guard.
#[derive(Debug, Clone)]
pub struct AdminIdentity {
    pub id: i64,
    pub username: String,
    pub csrf: String,
}

/// Everything under `/admin`.
pub fn scope(
    settings: &AdminSettings,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let sessions =
        SessionMiddleware::builder(CookieSessionStore::default(), settings.cookie_key.clone())
            .cookie_name(COOKIE_NAME.to_owned())
            .cookie_path("/admin".to_owned())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_secure(settings.secure_cookies)
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(BrowserSession::default())
            .build();
    let idle_timeout = settings.idle_timeout;
    web::scope("/admin")
        .app_data(web::Data::new(IdleTimeout(idle_timeout)))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            AdminError::BadRequest(format!("the address has malformed parameters: {err}")).into()
        }))
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|err, _| match err {
                    actix_web::error::UrlencodedError::Payload(e)
                        if crate::web::connections::is_body_timeout(&e) =>
                    {
                        AdminError::BodyTimeout.into()
                    }
                    _ => AdminError::BadRequest(
                        "the form could not be read; go back and try again".into(),
                    )
                    .into(),
                }),
        )
        .wrap(from_fn(require_admin))
        .wrap(sessions)
        .service(
            web::resource("/login")
                .get(signin::form)
                .post(signin::submit),
        )
        .service(web::resource("/logout").post(signin::logout))
        .service(web::resource(["", "/"]).get(home::overview))
        .service(web::resource("/users").get(users::list))
        .service(web::resource("/users.csv").get(export::csv))
        .service(web::resource("/users/{id}").get(user::detail))
        .service(web::resource("/users/{id}/sessions/{session_id}/revoke").post(user::revoke))
        .service(web::resource("/users/{id}/sessions/revoke-all").post(user::revoke_all))
        .service(
            web::resource("/users/{id}/merge")
                .get(account_links::preview)
                .post(account_links::merge),
        )
        .service(
            web::resource("/users/{id}/identities/{identity_id}/unlink")
                .post(account_links::unlink),
        )
        .service(web::resource("/audit").get(audit::log))
        .service(web::resource("/review").get(review::queue))
        .service(web::resource("/review/{id}/approve").post(review::approve))
        .service(web::resource("/review/{id}/reject").post(review::reject))
        .service(web::resource("/services").get(services::list))
        .service(web::resource("/webhooks").get(webhooks::list))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AdminError::NotFound)
        }))
}

/// The stylesheet, built into the binary so the site works offline.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/admin.css"))
}

/// Sends anonymous visitors to the sign-in page (and back afterwards), ends
/// idle sessions and sessions of deleted admins, and hands the signed-in
/// admin to the handlers.
async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.path() == "/admin/login" {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let session = req.get_session();
    match identity(&session, &req).await {
        Ok(Visitor::Admin(admin)) => {
            req.extensions_mut().insert(admin);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Ok(visitor) => {
            let back = match *req.method() {
                actix_web::http::Method::GET => req
                    .uri()
                    .path_and_query()
                    .map_or("/admin", |p| p.as_str())
                    .to_owned(),
                _ => "/admin".to_owned(),
            };
            let mut query = vec![("next", back.as_str())];
            if matches!(visitor, Visitor::Expired) {
                query.push(("expired", "1"));
            }
            let location = format!(
                "/admin/login?{}",
                serde_urlencoded::to_string(query).expect("encoding strings")
            );
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
        Err(e) => {
            let response = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// How long a signed-in session may sit unused.
struct IdleTimeout(Duration);

/// Who is visiting.
enum Visitor {
    Admin(AdminIdentity),
    Anonymous,
    /// Was signed in, until the idle limit passed.
    Expired,
}

/// The admin signed in to this session, if any. Updates the idle clock.
async fn identity(session: &Session, req: &ServiceRequest) -> Result<Visitor, AdminError> {
    let read = |key: &str| session.get::<serde_json::Value>(key).ok().flatten();
    let (Some(id), Some(username), Some(csrf), Some(seen)) = (
        read(KEY_ADMIN_ID).and_then(|v| v.as_i64()),
        read(KEY_ADMIN_NAME).and_then(|v| v.as_str().map(str::to_owned)),
        read(KEY_CSRF).and_then(|v| v.as_str().map(str::to_owned)),
        read(KEY_SEEN).and_then(|v| v.as_i64()),
    ) else {
        return Ok(Visitor::Anonymous);
    };
    let now = unix_now();
    let idle = req
        .app_data::<web::Data<IdleTimeout>>()
        .map_or(crate::config::ADMIN_IDLE_TIMEOUT, |t| t.0);
    if now.saturating_sub(seen) > idle.as_secs() as i64 {
        session.purge();
        return Ok(Visitor::Expired);
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered");
    if !admins::exists(&state.pool, id).await? {
        session.purge();
        return Ok(Visitor::Anonymous);
    }
    // Re-issuing the cookie on every request would be wasteful: a minute's
    // precision is plenty for an 8-hour idle limit.
    if now - seen >= 60 {
        let _ = session.insert(KEY_SEEN, now);
    }
    Ok(Visitor::Admin(AdminIdentity { id, username, csrf }))
}
