//! `GET /admin/sessions`: the signed-in admin's own sessions, and for an
//! owner everyone's; `POST /admin/sessions/{id}/end` ends one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::csrf::{self, CsrfForm};
use super::i18n::Tr;
use super::page::{render, see_other, Layout};
use super::user::parse_id;
use super::{AdminError, AdminIdentity};
use crate::db::admin_sessions::ListedAdminSession;
use crate::service::admin_sessions;
use crate::state::AppState;

struct SessionRow {
    id: i64,
    username: String,
    created_at: String,
    last_seen_at: String,
    ip: String,
    user_agent: String,
    /// The session this page was asked from.
    current: bool,
}

#[derive(Template)]
#[template(path = "admin/sessions.html")]
struct SessionsPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    own: Vec<SessionRow>,
    /// Every admin's, for an owner.
    everyone: Option<Vec<SessionRow>>,
}

fn rows(t: &Tr, listed: Vec<ListedAdminSession>, current: i64) -> Vec<SessionRow> {
    listed
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            username: s.username,
            created_at: t.time(s.created_at),
            last_seen_at: t.time(s.last_seen_at),
            ip: s.ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
            current: s.id == current,
        })
        .collect()
}

/// `GET /admin/sessions`.
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let lists = admin_sessions::list(&state.pool, &admin.actor(&state, &req)).await?;
    let current = admin.session_id;
    render(
        StatusCode::OK,
        &SessionsPage {
            layout: Layout::signed_in(&t, t.get("asessions-title"), &admin),
            csrf: admin.csrf.clone(),
            own: rows(&t, lists.own, current),
            everyone: lists.everyone.map(|all| rows(&t, all, current)),
            t,
        },
    )
}

/// `POST /admin/sessions/{id}/end`. Ending one's own current session is
/// signing out.
pub async fn end(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let id = parse_id(&path)?;
    admin_sessions::end(&state.pool, &admin.actor(&state, &req), id).await?;
    if id == admin.session_id {
        return Ok(see_other("/admin/login?signed_out=1"));
    }
    Ok(see_other("/admin/sessions"))
}
