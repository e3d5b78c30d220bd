//! Signing in and out.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::page::{render, safe_next, see_other, Layout};
use super::{AdminError, AdminIdentity};
use super::{KEY_ADMIN_ID, KEY_ADMIN_NAME, KEY_CSRF, KEY_SEEN};
use crate::clock::unix_now;
use crate::service::admin_sign_in::{self, SignInAttempt, SignInContext, SignInOutcome};
use crate::service::audit::{self, Actor};
use crate::state::AppState;
use crate::web::client_ip;

const WRONG: &str = "wrong username or password";
const MAX_USERNAME_CHARS: usize = 64;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
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
    match session.get::<String>(KEY_CSRF).ok().flatten() {
        Some(t) => t,
        None => {
            let t = csrf::new_token();
            let _ = session.insert(KEY_CSRF, &t);
            t
        }
    }
}

fn login_page(
    session: &Session,
    next: &str,
    username: &str,
    error: Option<String>,
    notice: Option<String>,
) -> LoginPage {
    LoginPage {
        layout: Layout {
            title: "Sign in".into(),
            admin: None,
        },
        csrf: session_csrf(session),
        next: next.to_owned(),
        username: username.to_owned(),
        error,
        notice,
    }
}

/// `GET /admin/login`.
pub async fn form(
    session: Session,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AdminError> {
    let next = safe_next(query.next.as_deref());
    if session.get::<i64>(KEY_ADMIN_ID).ok().flatten().is_some() {
        return Ok(see_other(&next));
    }
    let notice = if query.signed_out.is_some() {
        Some("You have signed out.".to_owned())
    } else if query.expired.is_some() {
        Some("Your session ended after 8 hours without activity. Please sign in again.".to_owned())
    } else if query.next.is_some() {
        Some("Sign in to continue.".to_owned())
    } else {
        None
    };
    render(
        StatusCode::OK,
        &login_page(&session, &next, "", None, notice),
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
        .get::<String>(KEY_CSRF)
        .ok()
        .flatten()
        .unwrap_or_default();
    if !csrf::matches(&expected_csrf, &form.csrf) {
        let page = login_page(
            &session,
            &next,
            &username,
            Some(AdminError::Csrf.to_string()),
            None,
        );
        return render(StatusCode::FORBIDDEN, &page);
    }

    let attempt = SignInAttempt {
        username: username.clone(),
        password: form.password,
        ip: client_ip(&req, state.trust_proxy),
    };
    let cx = SignInContext {
        pool: &state.pool,
        checker: &state.password_checker,
        dummy_hash: &state.dummy_password_hash,
    };
    let outcome = admin_sign_in::sign_in(&cx, attempt).await?;

    match outcome {
        SignInOutcome::SignedIn { admin_id: id } => {
            // A new session id at the privilege change; a new CSRF token with it.
            session.renew();
            let insert = |k: &str, v: serde_json::Value| session.insert(k, v);
            insert(KEY_ADMIN_ID, id.into())
                .and_then(|_| insert(KEY_ADMIN_NAME, username.clone().into()))
                .and_then(|_| insert(KEY_CSRF, csrf::new_token().into()))
                .and_then(|_| insert(KEY_SEEN, unix_now().into()))
                .map_err(|_| AdminError::BadRequest("the session could not be saved".into()))?;
            tracing::info!(admin = %username, "admin signed in");
            Ok(see_other(&next))
        }
        SignInOutcome::Wrong => {
            let page = login_page(&session, &next, &username, Some(WRONG.into()), None);
            render(StatusCode::UNAUTHORIZED, &page)
        }
        SignInOutcome::Throttled { retry_after } => {
            let wait = retry_after.as_secs().max(1);
            let minutes = wait.div_ceil(60);
            let message = format!(
                "Too many failed sign-ins for this username from your address, or from your address. Sign-in is paused here; try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let page = login_page(&session, &next, &username, Some(message), None);
            let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page)?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_str(&wait.to_string()).expect("digits"),
            );
            Ok(response)
        }
        SignInOutcome::Busy => {
            let message =
                "Too many sign-ins are being checked right now. Try again in a few seconds.";
            let page = login_page(&session, &next, &username, Some(message.into()), None);
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
    let admin = admin.into_inner();
    let actor = Actor {
        admin_id: admin.id,
        username: admin.username,
        ip: client_ip(&req, state.trust_proxy),
    };
    audit::sign_out(&state, actor).await?;
    session.purge();
    Ok(see_other("/admin/login?signed_out=1"))
}
