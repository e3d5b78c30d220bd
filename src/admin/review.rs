//! `GET /admin/review`: the nicknames and avatars that wait for an
//! operator (WeChat's content check asked for a review, or gave no verdict),
//! and `POST /admin/review/{id}/approve` or `…/reject`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::i18n::Tr;
use super::page::{render, see_other, Layout};
use super::user::{actor, parse_id};
use super::view::is_web_link;
use super::words::{content_label_key, field_key, review_reason_key};
use super::{AdminError, AdminIdentity};
use crate::db::content_checks::Field;
use crate::service::content;
use crate::state::AppState;

/// Items shown a page.
const PER_PAGE: i64 = 50;

struct PendingView {
    id: i64,
    account_id: i64,
    field: String,
    is_avatar: bool,
    /// Shown as an image only when it is an http(s) URL.
    value_is_link: bool,
    value: String,
    current: String,
    reason: String,
    label: String,
    submitted_at: String,
}

#[derive(Template)]
#[template(path = "admin/review.html")]
struct ReviewPage {
    t: Tr,
    layout: Layout,
    csrf: String,
    items: Vec<PendingView>,
    next_url: Option<String>,
}

#[derive(Deserialize)]
pub struct ReviewParams {
    after: Option<String>,
}

pub async fn queue(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<ReviewParams>,
) -> Result<HttpResponse, AdminError> {
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(parse_id(raw)?),
    };
    let pending = content::review_queue(&state, after, PER_PAGE + 1).await?;
    let more = pending.len() as i64 > PER_PAGE;
    let items: Vec<PendingView> = pending
        .into_iter()
        .take(PER_PAGE as usize)
        .map(|p| {
            let is_avatar = p.check.field == Field::Avatar;
            PendingView {
                id: p.check.id,
                account_id: p.check.account_id,
                field: t.get(field_key(p.check.field.name())),
                is_avatar,
                value_is_link: is_web_link(&p.check.value),
                current: if is_avatar {
                    p.account.avatar_url
                } else {
                    p.account.nickname
                },
                value: p.check.value,
                reason: review_reason_key(&p.check.reason).map_or(p.check.reason, |key| t.get(key)),
                label: p
                    .check
                    .label
                    .map(|l| format!("{l} ({})", t.get(content_label_key(l))))
                    .unwrap_or_default(),
                submitted_at: t.time(p.check.submitted_at),
            }
        })
        .collect();
    let next_url = more
        .then(|| {
            items
                .last()
                .map(|i| format!("/admin/review?after={}", i.id))
        })
        .flatten();
    render(
        StatusCode::OK,
        &ReviewPage {
            layout: Layout::signed_in(&t, t.get("review-title"), &admin),
            csrf: admin.csrf.clone(),
            items,
            next_url,
            t,
        },
    )
}

/// `POST /admin/review/{id}/approve`.
pub async fn approve(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    decide(state, req, admin, path, form, true).await
}

/// `POST /admin/review/{id}/reject`.
pub async fn reject(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    decide(state, req, admin, path, form, false).await
}

async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    approve: bool,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let id = parse_id(&path)?;
    let actor = actor(&state, &req, admin.into_inner());
    content::decide(&state, &actor, id, approve).await?;
    Ok(see_other("/admin/review"))
}
