//! A user's page, and the admin's revokes of their sessions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::csrf::{self, CsrfForm};
use super::i18n::{Msg, Tr};
use super::page::{render, see_other, Layout};
use super::view::is_web_link;
use super::words::{gender_key, session_status_key};
use super::{AdminError, AdminIdentity};
use crate::clock;
use crate::db::accounts::Account;
use crate::domain::admin_role::Permission;
use crate::domain::profile::mask_phone;
use crate::service::account_closing::{self, ClosedBy};
use crate::service::audit::Actor;
use crate::service::{sessions, users};
use crate::state::AppState;

struct SessionView {
    id: i64,
    appid: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    client_ip: String,
    user_agent: String,
    /// "active", "revoked" or "expired": its CSS class.
    status: &'static str,
    status_label: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    account: Account,
    identities: Vec<IdentityView>,
    gender: String,
    created_at: String,
    updated_at: String,
    last_login_at: String,
    sessions: Vec<SessionView>,
    session_count: i64,
    any_active: bool,
    /// Whether the avatar URL is shown as a link (only http and https are).
    avatar_is_link: bool,
    /// Whole for those who may see it, else masked; a dash when none.
    phone: String,
    /// Whether the admin's role may revoke, merge, unlink and delete.
    can_edit: bool,
    /// When the account was closed, if it was.
    deleted_at: Option<String>,
}

/// An identity as the account page shows it: never its session_key.
struct IdentityView {
    id: i64,
    appid: String,
    app_name: String,
    openid: String,
    unionid: String,
    created_at: String,
    last_login_at: String,
    login_count: i64,
    /// When the stored session_key was issued; the key itself never leaves
    /// the server.
    session_key_issued_at: String,
    /// WeChat's risk rank at its first login, or a dash.
    risk_rank: String,
}

/// A user's or a session's id from the path; anything else is no page.
pub(super) fn parse_id(raw: &str) -> Result<i64, AdminError> {
    raw.parse().map_err(|_| AdminError::NotFound)
}

pub(super) fn actor(state: &AppState, req: &HttpRequest, admin: AdminIdentity) -> Actor {
    admin.actor(state, req)
}

/// `GET /admin/users/{id}`.
pub async fn detail(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let id = parse_id(&path)?;
    let found = users::detail(&state, id).await?;
    let now = clock::now();
    let sessions: Vec<SessionView> = found
        .sessions
        .into_iter()
        .map(|(s, appid)| {
            let status = if s.revoked_at.is_some() {
                "revoked"
            } else if s.expires_at <= now {
                "expired"
            } else {
                "active"
            };
            SessionView {
                id: s.id,
                appid,
                created_at: t.time(s.created_at),
                last_seen_at: t.time(s.last_seen_at),
                expires_at: t.time(s.expires_at),
                client_ip: s.client_ip.unwrap_or_default(),
                user_agent: s.user_agent.unwrap_or_default(),
                status,
                status_label: t.get(session_status_key(status)),
            }
        })
        .collect();
    let identities = found
        .identities
        .into_iter()
        .map(|i| IdentityView {
            id: i.id,
            app_name: users::app_name(&state, &i.appid).unwrap_or_default(),
            appid: i.appid,
            openid: i.openid,
            unionid: i.unionid.unwrap_or_default(),
            created_at: t.time(i.created_at),
            last_login_at: t.time(i.last_login_at),
            login_count: i.login_count,
            session_key_issued_at: t.time(i.session_key_issued_at),
            risk_rank: i
                .risk_rank
                .map_or_else(|| "—".to_owned(), |r| r.to_string()),
        })
        .collect();
    let account = found.account;
    let phone = match &account.phone_number {
        None => "—".to_owned(),
        Some(number) => {
            let number = if admin.can(Permission::SeePhone) {
                number.clone()
            } else {
                mask_phone(number)
            };
            match &account.phone_country_code {
                Some(cc) => format!("+{cc} {number}"),
                None => number,
            }
        }
    };
    render(
        StatusCode::OK,
        &UserPage {
            csrf: admin.csrf.clone(),
            layout: Layout::signed_in(&t, t.one("user-title", "id", id), &admin),
            gender: t.get(gender_key(account.gender)),
            created_at: t.time(account.created_at),
            updated_at: t.time(account.updated_at),
            last_login_at: t.time(account.last_login_at),
            any_active: sessions.iter().any(|s| s.status == "active"),
            avatar_is_link: is_web_link(&account.avatar_url),
            phone,
            can_edit: admin.can(Permission::EditAccounts),
            deleted_at: found.deleted_at.map(|d| t.time(d)),
            sessions,
            session_count: found.session_count,
            identities,
            account,
            t,
        },
    )
}

/// `POST /admin/users/{id}/sessions/{session_id}/revoke`.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let (id, session_id) = path.into_inner();
    let (id, session_id) = (parse_id(&id)?, parse_id(&session_id)?);
    let actor = actor(&state, &req, admin.into_inner());
    sessions::revoke(&state, actor, id, session_id).await?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

/// `POST /admin/users/{id}/sessions/revoke-all`.
pub async fn revoke_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let id = parse_id(&path)?;
    let actor = actor(&state, &req, admin.into_inner());
    sessions::revoke_all(&state, actor, id).await?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

#[derive(serde::Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The account's id, typed again: a deletion cannot be undone.
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/users/{id}/delete`: closes the account and erases its
/// personal data, as `DELETE /api/me` does.
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let id = parse_id(&path)?;
    if form.confirm.trim() != id.to_string() {
        return Err(AdminError::BadRequest(Msg::one(
            "err-delete-confirm",
            "id",
            id,
        )));
    }
    let actor = actor(&state, &req, admin.into_inner());
    account_closing::close(&state, id, ClosedBy::Admin(actor)).await?;
    Ok(see_other(&format!("/admin/users/{id}")))
}
