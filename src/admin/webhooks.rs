//! `GET /admin/webhooks`: recent webhook deliveries, and the failures.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::page::{render, Layout};
use super::view::{count_text, format_time};
use super::{AdminError, AdminIdentity};
use crate::db::outbox::EventRow;
use crate::service::webhooks;
use crate::state::AppState;

struct EventView {
    event_id: String,
    kind: String,
    created_at: String,
    attempts: i32,
    status: &'static str,
    last_status: String,
    last_error: String,
    when: String,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        let (status, when) = match (e.delivered_at, e.failed_at) {
            (Some(t), _) => ("delivered", format_time(t)),
            (None, Some(t)) => ("failed", format_time(t)),
            (None, None) => (
                "pending",
                format!("next try {}", format_time(e.next_attempt_at)),
            ),
        };
        Self {
            event_id: e.event_id,
            kind: e.kind,
            created_at: format_time(e.created_at),
            attempts: e.attempts,
            status,
            last_status: e.last_status.map(|s| s.to_string()).unwrap_or_default(),
            last_error: e.last_error.unwrap_or_default(),
            when,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    target: Option<String>,
    pending: String,
    recent: Vec<EventView>,
    failed: Vec<EventView>,
}

pub async fn list(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let found = webhooks::deliveries(&state).await?;
    render(
        StatusCode::OK,
        &WebhooksPage {
            layout: Layout::signed_in("Webhooks", &admin),
            target: found.target,
            pending: count_text(found.pending),
            recent: found.recent.into_iter().map(EventView::from).collect(),
            failed: found.failed.into_iter().map(EventView::from).collect(),
        },
    )
}
