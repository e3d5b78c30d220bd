//! `GET /admin/audit`: the audit log, newest first.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::i18n::{Msg, Tr};
use super::page::{render, Layout};
use super::words::audit_action_key;
use super::{AdminError, AdminIdentity};
use crate::service::audit;
use crate::state::AppState;

const PER_PAGE: i64 = 50;

struct AuditView {
    created_at: String,
    username: String,
    /// The action in words, where this build knows it.
    label: Option<String>,
    /// Its stored name, which the README and exports use.
    action: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    t: Tr,
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
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, AdminError> {
    let before = match params.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AdminError::BadRequest(Msg::new("err-audit-before")))?,
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
            layout: Layout::signed_in(&t, t.get("audit-title"), &admin),
            entries: entries
                .into_iter()
                .map(|e| AuditView {
                    created_at: t.time(e.created_at),
                    username: e.username,
                    label: audit_action_key(&e.action).map(|k| t.get(k)),
                    action: e.action,
                    ip: e.ip.unwrap_or_default(),
                    detail: e.detail,
                })
                .collect(),
            next_url,
            is_first: before.is_none(),
            t,
        },
    )
}
