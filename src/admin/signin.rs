//! Signing in and out.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::i18n::{Msg, Tr};
use super::page::{render, safe_next, see_other, Layout};
use super::{AdminError, AdminIdentity};
use super::{KEY_LOGIN_CSRF, KEY_SESSION};
use crate::service::admin_sessions::{self, Origin, SessionCheck};
use crate::service::admin_sign_in::{self, SignInAttempt, SignInContext, SignInOutcome};
use crate::state::AppState;
use crate::web::client_ip;

const MAX_USERNAME_CHARS: usize = 64;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
    expired: Option<String>,
}

/// The session's CSRF token, made if it has none yet.
fn session_csrf(session: &Session) -> String {
    match session.get::<String>(KEY_LOGIN_CSRF).ok().flatten() {
        Some(t) => t,
        None => {
            let t = csrf::new_token();
            let _ = session.insert(KEY_LOGIN_CSRF, &t);
            t
        }
    }
}

/// Whether the cookie belongs to a signed-in session.
async fn signed_in(state: &AppState, session: &Session) -> Result<bool, AdminError> {
    let Some(id) = session.get::<String>(KEY_SESSION).ok().flatten() else {
        return Ok(false);
    };
    let checked = admin_sessions::check(&state.pool, state.admin_policy, &id).await?;
    Ok(matches!(checked, SessionCheck::SignedIn(_)))
}

/// How the idle and absolute limits read in the notice of an ended session.
fn hours(t: &Tr, d: std::time::Duration) -> String {
    let hours = d.as_secs() as f64 / 3600.0;
    if hours >= 1.0 {
        t.one("duration-hours", "n", (hours * 10.0).round() / 10.0)
    } else {
        t.one("duration-minutes", "n", d.as_secs().div_ceil(60))
    }
}

fn login_page(
    t: Tr,
    session: &Session,
    next: &str,
    username: &str,
    error: Option<String>,
    notice: Option<String>,
) -> LoginPage {
    LoginPage {
        layout: Layout::anonymous(t.get("signin-title")),
        t,
        csrf: session_csrf(session),
        next: next.to_owned(),
        username: username.to_owned(),
        error,
        notice,
    }
}

/// `GET /admin/login`.
pub async fn form(
    state: web::Data<AppState>,
    t: Tr,
    session: Session,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AdminError> {
    let next = safe_next(query.next.as_deref());
    if signed_in(&state, &session).await? {
        return Ok(see_other(&next));
    }
    let policy = state.admin_policy;
    let notice = if query.signed_out.is_some() {
        Some(t.get("signin-signed-out"))
    } else if query.expired.is_some() {
        Some(t.two(
            "signin-expired",
            "idle",
            hours(&t, policy.idle_timeout),
            "lifetime",
            hours(&t, policy.session_lifetime),
        ))
    } else if query.next.is_some() {
        Some(t.get("signin-to-continue"))
    } else {
        None
    };
    render(
        StatusCode::OK,
        &login_page(t, &session, &next, "", None, notice),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /admin/login`.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AdminError> {
    let form = form.into_inner();
    let next = safe_next(Some(&form.next));
    let username: String = form
        .username
        .trim()
        .chars()
        .take(MAX_USERNAME_CHARS)
        .collect();
    let expected_csrf = session
        .get::<String>(KEY_LOGIN_CSRF)
        .ok()
        .flatten()
        .unwrap_or_default();
    if !csrf::matches(&expected_csrf, &form.csrf) {
        let error = t.msg(&AdminError::Csrf.message());
        let page = login_page(t, &session, &next, &username, Some(error), None);
        return render(StatusCode::FORBIDDEN, &page);
    }

    let ip = client_ip(&req, state.trust_proxy);
    let attempt = SignInAttempt {
        username: username.clone(),
        password: form.password,
        ip: ip.clone(),
    };
    let cx = SignInContext {
        pool: &state.pool,
        checker: &state.password_checker,
        dummy_hash: &state.dummy_password_hash,
    };
    let outcome = admin_sign_in::sign_in(&cx, attempt).await?;

    match outcome {
        SignInOutcome::SignedIn {
            admin_id: id,
            second_factor,
        } => {
            let origin = Origin {
                ip,
                user_agent: req
                    .headers()
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let started = admin_sessions::start(&state.pool, id, second_factor, origin).await?;
            // A new session at the privilege change: the cookie now holds
            // only its id; the sign-in form's token goes.
            session.renew();
            session.remove(KEY_LOGIN_CSRF);
            session
                .insert(KEY_SESSION, started.id.expose())
                .map_err(|_| AdminError::BadRequest(Msg::new("err-session-save")))?;
            if second_factor {
                let query = serde_urlencoded::to_string([("next", next.as_str())])
                    .expect("encoding strings");
                return Ok(see_other(&format!("/admin/login/second-factor?{query}")));
            }
            tracing::info!(admin = %username, "admin signed in");
            Ok(see_other(&next))
        }
        SignInOutcome::Wrong => {
            let error = t.get("signin-wrong");
            let page = login_page(t, &session, &next, &username, Some(error), None);
            render(StatusCode::UNAUTHORIZED, &page)
        }
        SignInOutcome::Throttled { retry_after } => {
            let wait = retry_after.as_secs().max(1);
            let minutes = wait.div_ceil(60);
            let message = t.one("signin-throttled", "minutes", minutes);
            let page = login_page(t, &session, &next, &username, Some(message), None);
            let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page)?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_str(&wait.to_string()).expect("digits"),
            );
            Ok(response)
        }
        SignInOutcome::Busy => {
            let message = t.get("signin-busy");
            let page = login_page(t, &session, &next, &username, Some(message), None);
            let mut response = render(StatusCode::SERVICE_UNAVAILABLE, &page)?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            Ok(response)
        }
    }
}

/// `POST /admin/logout`.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let actor = admin.actor(&state, &req);
    admin_sessions::sign_out(&state.pool, actor, admin.session_id).await?;
    session.purge();
    Ok(see_other("/admin/login?signed_out=1"))
}
