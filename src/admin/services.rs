//! `GET /admin/services`: the backend services and their calls.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::i18n::Tr;
use super::page::{render, Layout};
use super::{AdminError, AdminIdentity};
use crate::service::services;
use crate::state::AppState;

struct ServiceView {
    name: String,
    client_id: String,
    status: String,
    created_at: String,
    calls: i64,
    last_used_at: String,
}

#[derive(Template)]
#[template(path = "admin/services.html")]
struct ServicesPage {
    t: Tr,
    layout: Layout,
    services: Vec<ServiceView>,
}

pub async fn list(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let all = services::list_with_pending_calls(&state).await?;
    render(
        StatusCode::OK,
        &ServicesPage {
            layout: Layout::signed_in(&t, t.get("services-title"), &admin),
            services: all
                .into_iter()
                .map(|s| ServiceView {
                    status: match s.revoked_at {
                        None => t.get("svc-live"),
                        Some(at) => t.one("svc-revoked", "time", t.time(at)),
                    },
                    name: s.name,
                    client_id: s.client_id,
                    created_at: t.time(s.created_at),
                    calls: s.calls,
                    last_used_at: t.time_or_blank(s.last_used_at),
                })
                .collect(),
            t,
        },
    )
}
