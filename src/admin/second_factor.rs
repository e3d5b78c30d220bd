//! Two-factor sign-in on the admin site: the second step of signing in
//! (`/admin/login/second-factor`), and turning it on and off on the
//! admin's own page (`/admin/account`).

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf;
use super::i18n::Tr;
use super::messages;
use super::page::{render, safe_next, see_other, Layout};
use super::words::role_key;
use super::{AdminError, AdminIdentity, KEY_SESSION};
use crate::service::admin_sessions::{self, SessionAdmin, SessionCheck};
use crate::service::second_factor::{self, Enrolment, SecondFactorOutcome};
use crate::service::ServiceError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/second_factor.html")]
struct SecondFactorPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// The session half-way through its sign-in, if the cookie has one.
async fn pending(state: &AppState, session: &Session) -> Result<Option<SessionAdmin>, AdminError> {
    let Some(id) = session.get::<String>(KEY_SESSION).ok().flatten() else {
        return Ok(None);
    };
    Ok(
        match admin_sessions::check(&state.pool, state.admin_policy, &id).await? {
            SessionCheck::SecondFactorPending(admin) => Some(admin),
            _ => None,
        },
    )
}

fn page(t: Tr, admin: &SessionAdmin, next: &str, error: Option<String>) -> SecondFactorPage {
    SecondFactorPage {
        layout: Layout::anonymous(t.get("second-factor-signin-title")),
        t,
        csrf: admin.csrf.clone(),
        next: next.to_owned(),
        username: admin.username.clone(),
        error,
    }
}

/// `GET /admin/login/second-factor`.
pub async fn form(
    state: web::Data<AppState>,
    t: Tr,
    session: Session,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AdminError> {
    let next = safe_next(query.next.as_deref());
    match pending(&state, &session).await? {
        Some(admin) => render(StatusCode::OK, &page(t, &admin, &next, None)),
        None => Ok(see_other("/admin/login")),
    }
}

/// `POST /admin/login/second-factor`.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AdminError> {
    let next = safe_next(Some(&form.next));
    let Some(admin) = pending(&state, &session).await? else {
        return Ok(see_other("/admin/login"));
    };
    if !csrf::matches(&admin.csrf, &form.csrf) {
        return Err(AdminError::Csrf);
    }
    let identity = AdminIdentity::from(admin.clone());
    let actor = identity.actor(&state, &req);
    let outcome =
        second_factor::sign_in(&state.pool, &state.second_factor_keys, &actor, &form.code).await?;
    match outcome {
        SecondFactorOutcome::Passed => {
            admin_sessions::complete(&state.pool, admin.session_id).await?;
            tracing::info!(admin = %admin.username, "admin signed in with a second factor");
            Ok(see_other(&next))
        }
        SecondFactorOutcome::Failed(e) => {
            let message = messages::service(&e).map_or_else(|| e.to_string(), |m| t.msg(&m));
            render(
                StatusCode::UNAUTHORIZED,
                &page(t, &admin, &next, Some(message)),
            )
        }
        SecondFactorOutcome::Throttled { retry_after } => {
            let wait = retry_after.as_secs().max(1);
            let message = t.one("second-factor-throttled", "minutes", wait.div_ceil(60));
            let mut response = render(
                StatusCode::TOO_MANY_REQUESTS,
                &page(t, &admin, &next, Some(message)),
            )?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_str(&wait.to_string()).expect("digits"),
            );
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    username: String,
    role: String,
    required: bool,
    enabled: bool,
    pending: Option<Enrolment>,
    recovery_codes_left: i64,
    /// Shown once, right after turning it on.
    recovery_codes: Vec<String>,
    error: Option<String>,
}

async fn account_page(
    state: &AppState,
    req: &HttpRequest,
    t: Tr,
    admin: &AdminIdentity,
    recovery_codes: Vec<String>,
    error: Option<String>,
) -> Result<AccountPage, AdminError> {
    let status = second_factor::status(
        &state.pool,
        &state.second_factor_keys,
        &admin.actor(state, req),
    )
    .await?;
    Ok(AccountPage {
        layout: Layout::signed_in(&t, t.get("account-title"), admin),
        role: t.get(role_key(admin.role)),
        t,
        csrf: admin.csrf.clone(),
        username: admin.username.clone(),
        required: state.admin_policy.require_second_factor && !status.enabled,
        enabled: status.enabled,
        pending: status.pending,
        recovery_codes_left: status.recovery_codes_left,
        recovery_codes,
        error,
    })
}

/// `GET /admin/account`.
pub async fn account(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    render(
        StatusCode::OK,
        &account_page(&state, &req, t, &admin, Vec::new(), None).await?,
    )
}

/// `POST /admin/account/2fa/start`.
pub async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    second_factor::start(
        &state.pool,
        &state.second_factor_keys,
        &admin.actor(&state, &req),
    )
    .await?;
    Ok(see_other("/admin/account"))
}

/// A wrong code on the account page: the page again, with the message.
async fn with_error(
    state: &AppState,
    req: &HttpRequest,
    t: Tr,
    admin: &AdminIdentity,
    e: ServiceError,
) -> Result<HttpResponse, AdminError> {
    match &e {
        ServiceError::SecondFactor(_) => {
            let message = messages::service(&e).map(|m| t.msg(&m));
            let page = account_page(state, req, t, admin, Vec::new(), message).await?;
            render(StatusCode::BAD_REQUEST, &page)
        }
        _ => Err(e.into()),
    }
}

/// `POST /admin/account/2fa/confirm`: the first code turns it on, and the
/// recovery codes are shown once.
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let actor = admin.actor(&state, &req);
    match second_factor::confirm(&state.pool, &state.second_factor_keys, &actor, &form.code).await {
        Ok(codes) => render(
            StatusCode::OK,
            &account_page(&state, &req, t, &admin, codes, None).await?,
        ),
        Err(e) => with_error(&state, &req, t, &admin, e).await,
    }
}

/// `POST /admin/account/2fa/disable`: needs a current code or a recovery code.
pub async fn disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let actor = admin.actor(&state, &req);
    match second_factor::disable(&state.pool, &state.second_factor_keys, &actor, &form.code).await {
        Ok(()) => Ok(see_other("/admin/account")),
        Err(e) => with_error(&state, &req, t, &admin, e).await,
    }
}
