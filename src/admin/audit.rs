//! `GET /admin/audit`: the audit log, newest first.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::page::{render, Layout};
use super::view::format_time;
use super::{AdminError, AdminIdentity};
use crate::service::audit;
use crate::state::AppState;

const PER_PAGE: i64 = 50;

struct AuditView {
    created_at: String,
    username: String,
    action: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditView>,
    next_url: Option<String>,
    is_first: bool,
}

#[derive(Deserialize)]
pub struct AuditParams {
    before: Option<String>,
}

pub async fn log(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, AdminError> {
    let before = match params.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AdminError::BadRequest("before must be an entry number".into()))?,
        ),
    };
    let mut entries = audit::page(&state, before, PER_PAGE + 1).await?;
    let more = entries.len() as i64 > PER_PAGE;
    entries.truncate(PER_PAGE as usize);
    let next_url = more
        .then(|| {
            entries
                .last()
                .map(|e| format!("/admin/audit?before={}", e.id))
        })
        .flatten();
    render(
        StatusCode::OK,
        &AuditPage {
            layout: Layout::signed_in("Audit log", &admin),
            entries: entries
                .into_iter()
                .map(|e| AuditView {
                    created_at: format_time(e.created_at),
                    username: e.username,
                    action: e.action,
                    ip: e.ip.unwrap_or_default(),
                    detail: e.detail,
                })
                .collect(),
            next_url,
            is_first: before.is_none(),
        },
    )
}
