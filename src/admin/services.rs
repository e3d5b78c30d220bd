//! `GET /admin/services`: the backend services and their calls.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::page::{render, Layout};
use super::view::format_time;
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
    layout: Layout,
    services: Vec<ServiceView>,
}

pub async fn list(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let all = services::list_with_pending_calls(&state).await?;
    render(
        StatusCode::OK,
        &ServicesPage {
            layout: Layout::signed_in("Services", &admin),
            services: all
                .into_iter()
                .map(|s| ServiceView {
                    status: s
                        .revoked_at
                        .map_or_else(|| "live".into(), |t| format!("revoked {}", format_time(t))),
                    name: s.name,
                    client_id: s.client_id,
                    created_at: format_time(s.created_at),
                    calls: s.calls,
                    last_used_at: s.last_used_at.map(format_time).unwrap_or_default(),
                })
                .collect(),
        },
    )
}
