//! `GET /admin/admins`: the admins and their roles, for owners;
//! `POST /admin/admins/role` gives one another role.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf;
use super::i18n::{Msg, Tr};
use super::page::{render, see_other, Layout};
use super::words::role_key;
use super::{AdminError, AdminIdentity};
use crate::domain::admin_role::{AdminRole, UnknownRole};
use crate::service::admins;
use crate::state::AppState;

struct AdminRow {
    username: String,
    role: AdminRole,
    second_factor: bool,
    created_at: String,
    last_sign_in: String,
}

#[derive(Template)]
#[template(path = "admin/admins.html")]
struct AdminsPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    admins: Vec<AdminRow>,
    /// The role picker's choices: (role, its name in words).
    roles: Vec<(AdminRole, String)>,
}

/// `GET /admin/admins`.
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let all = admins::list_for(&state.pool, &admin.actor(&state, &req)).await?;
    render(
        StatusCode::OK,
        &AdminsPage {
            layout: Layout::signed_in(&t, t.get("admins-title"), &admin),
            csrf: admin.csrf.clone(),
            admins: all
                .into_iter()
                .map(|a| AdminRow {
                    username: a.username,
                    role: a.role,
                    second_factor: a.second_factor,
                    created_at: t.time(a.created_at),
                    last_sign_in: t.time_or_blank(a.last_sign_in),
                })
                .collect(),
            roles: AdminRole::ALL
                .into_iter()
                .map(|r| (r, t.get(role_key(r))))
                .collect(),
            t,
        },
    )
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/admins/role`.
pub async fn set_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let role: AdminRole = form.role.parse().map_err(|e: UnknownRole| {
        AdminError::BadRequest(Msg::one("err-unknown-role", "role", e.0))
    })?;
    let actor = admin.actor(&state, &req);
    admins::set_role(&state.pool, Some(&actor), &form.name, role).await?;
    Ok(see_other("/admin/admins"))
}
