//! `GET /admin/webhooks`: recent webhook deliveries, and the failures.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::i18n::Tr;
use super::page::{render, Layout};
use super::view::count_text;
use super::words::delivery_status_key;
use super::{AdminError, AdminIdentity};
use crate::db::outbox::EventRow;
use crate::service::webhooks;
use crate::state::AppState;

struct EventView {
    event_id: String,
    kind: String,
    created_at: String,
    attempts: i32,
    /// "delivered", "failed" or "pending": its CSS class.
    status: &'static str,
    status_label: String,
    last_status: String,
    last_error: String,
    when: String,
}

impl EventView {
    fn new(t: &Tr, e: EventRow) -> Self {
        let (status, when) = match (e.delivered_at, e.failed_at) {
            (Some(at), _) => ("delivered", t.time(at)),
            (None, Some(at)) => ("failed", t.time(at)),
            (None, None) => (
                "pending",
                t.one("wh-next-try", "time", t.time(e.next_attempt_at)),
            ),
        };
        Self {
            event_id: e.event_id,
            kind: e.kind,
            created_at: t.time(e.created_at),
            attempts: e.attempts,
            status,
            status_label: t.get(delivery_status_key(status)),
            last_status: e.last_status.map(|s| s.to_string()).unwrap_or_default(),
            last_error: e.last_error.unwrap_or_default(),
            when,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct WebhooksPage {
    t: Tr,
    layout: Layout,
    target: Option<String>,
    pending: String,
    recent: Vec<EventView>,
    failed: Vec<EventView>,
}

pub async fn list(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let found = webhooks::deliveries(&state).await?;
    render(
        StatusCode::OK,
        &WebhooksPage {
            layout: Layout::signed_in(&t, t.get("webhooks-title"), &admin),
            target: found.target,
            pending: count_text(&t, found.pending),
            recent: found
                .recent
                .into_iter()
                .map(|e| EventView::new(&t, e))
                .collect(),
            failed: found
                .failed
                .into_iter()
                .map(|e| EventView::new(&t, e))
                .collect(),
            t,
        },
    )
}
