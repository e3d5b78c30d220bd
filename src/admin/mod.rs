//! The admin site under `/admin`: server-rendered pages for operators. One
//! file per page; each handler parses, calls a service, and renders.
//! `error.rs` maps every error to a page, once. Every word comes from the
//! catalogues in `locales/` through `i18n`, in the admin's language.

mod account_links;
mod admins;
mod audit;
mod charts;
mod csrf;
mod error;
mod export;
mod home;
mod i18n;
mod language;
mod messages;
mod overview_charts;
mod page;
pub mod params;
mod review;
mod second_factor;
mod services;
mod sessions_page;
mod signin;
mod user;
mod users;
mod view;
mod webhooks;
mod words;

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
use self::i18n::{Msg, Tr};
use crate::config::AdminSettings;
use crate::domain::admin_role::{AdminRole, Permission};
use crate::service::admin_sessions::{self, SessionAdmin, SessionCheck};
use crate::service::audit::Actor;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "wxlogin_admin";

/// The cookie's one value once signed in: the session's random id.
const KEY_SESSION: &str = "sid";
/// Before sign-in, the cookie holds only the sign-in form's CSRF token.
const KEY_LOGIN_CSRF: &str = "csrf";

/// The signed-in admin of a request, put there by the sign-in guard.
#[derive(Debug, Clone)]
pub struct AdminIdentity {
    pub session_id: i64,
    pub id: i64,
    pub username: String,
    pub role: AdminRole,
    pub locale: Option<String>,
    /// This session's CSRF token, in every form.
    pub csrf: String,
    /// Whether the admin signs in with a second factor.
    pub second_factor: bool,
}

impl From<SessionAdmin> for AdminIdentity {
    fn from(a: SessionAdmin) -> Self {
        Self {
            session_id: a.session_id,
            id: a.admin_id,
            username: a.username,
            role: a.role,
            locale: a.locale,
            csrf: a.csrf,
            second_factor: a.second_factor,
        }
    }
}

impl AdminIdentity {
    /// The admin as the service layer's actor, acting from the request's address.
    pub fn actor(&self, state: &AppState, req: &actix_web::HttpRequest) -> Actor {
        Actor {
            admin_id: self.id,
            username: self.username.clone(),
            role: self.role,
            ip: crate::web::client_ip(req, state.trust_proxy),
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.role.can(permission)
    }

    /// Whether the navigation shows the admins page.
    pub fn manages_admins(&self) -> bool {
        self.can(Permission::ManageAdmins)
    }
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
    web::scope("/admin")
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            AdminError::BadRequest(Msg::one("err-bad-query", "detail", err.to_string())).into()
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
                    _ => AdminError::BadRequest(Msg::new("err-bad-form")).into(),
                }),
        )
        .wrap(from_fn(error::in_the_admins_language))
        .wrap(from_fn(require_admin))
        .wrap(sessions)
        .service(
            web::resource("/login")
                .get(signin::form)
                .post(signin::submit),
        )
        .service(
            web::resource("/login/second-factor")
                .get(second_factor::form)
                .post(second_factor::submit),
        )
        .service(web::resource("/logout").post(signin::logout))
        .service(web::resource("/account").get(second_factor::account))
        .service(web::resource("/account/2fa/start").post(second_factor::start))
        .service(web::resource("/account/2fa/confirm").post(second_factor::confirm))
        .service(web::resource("/account/2fa/disable").post(second_factor::disable))
        .service(web::resource("/language").post(language::choose))
        .service(web::resource(["", "/"]).get(home::overview))
        .service(web::resource("/users").get(users::list))
        .service(web::resource("/users.csv").get(export::csv))
        .service(web::resource("/users/{id}").get(user::detail))
        .service(web::resource("/users/{id}/sessions/{session_id}/revoke").post(user::revoke))
        .service(web::resource("/users/{id}/sessions/revoke-all").post(user::revoke_all))
        .service(web::resource("/users/{id}/delete").post(user::delete))
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
        .service(web::resource("/sessions").get(sessions_page::list))
        .service(web::resource("/sessions/{id}/end").post(sessions_page::end))
        .service(web::resource("/admins").get(admins::list))
        .service(web::resource("/admins/role").post(admins::set_role))
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
/// the cookies of ended sessions, and hands the signed-in admin to the
/// handlers.
async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(req.path(), "/admin/login" | "/admin/login/second-factor") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let session = req.get_session();
    match identity(&session, &req).await {
        Ok(Visitor::Admin(admin)) if must_enrol(&req, &admin) => {
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/account"))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
        Ok(Visitor::Admin(admin)) => {
            req.extensions_mut().insert(admin);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Ok(Visitor::SecondFactorPending(admin)) if req.path() == "/admin/logout" => {
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
            let page = match visitor {
                Visitor::SecondFactorPending(_) => "/admin/login/second-factor",
                _ => "/admin/login",
            };
            let location = format!(
                "{page}?{}",
                serde_urlencoded::to_string(query).expect("encoding strings")
            );
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
        Err(e) => {
            let response = e.respond(&Tr::of(req.request()));
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// Who is visiting.
enum Visitor {
    Admin(AdminIdentity),
    Anonymous,
    /// Was signed in, until the session's idle or absolute limit passed.
    Expired,
    /// The password was right; the second factor is still to come. Such a
    /// session may only finish signing in, or sign out.
    SecondFactorPending(AdminIdentity),
}

/// With `--admin-require-2fa`, an admin without a second factor may only
/// turn it on (on their account page) or sign out.
fn must_enrol(req: &ServiceRequest, admin: &AdminIdentity) -> bool {
    let required = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.admin_policy.require_second_factor);
    let path = req.path();
    required
        && !admin.second_factor
        && !(path == "/admin/account"
            || path.starts_with("/admin/account/")
            || path == "/admin/logout"
            || path == "/admin/language")
}

/// The admin signed in to this session, if any. Ends the cookie of a
/// session that has ended.
async fn identity(session: &Session, req: &ServiceRequest) -> Result<Visitor, AdminError> {
    let Some(session_id) = session.get::<String>(KEY_SESSION).ok().flatten() else {
        return Ok(Visitor::Anonymous);
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered");
    let checked = admin_sessions::check(&state.pool, state.admin_policy, &session_id).await?;
    Ok(match checked {
        SessionCheck::SignedIn(admin) => Visitor::Admin(AdminIdentity::from(admin)),
        SessionCheck::Expired => {
            session.purge();
            Visitor::Expired
        }
        // Half-way through sign-in is not signed in: the second step's page
        // takes it from here.
        SessionCheck::SecondFactorPending(admin) => {
            Visitor::SecondFactorPending(AdminIdentity::from(admin))
        }
        SessionCheck::Unknown => {
            session.purge();
            Visitor::Anonymous
        }
    })
}
