//! The admin site's view of webhook deliveries.

use super::users::Count;
use super::ServiceResult;
use crate::db::outbox::{self, EventRow};
use crate::db::{self};
use crate::state::AppState;

/// Events listed per table.
const SHOWN: i64 = 50;
/// Waiting events are counted exactly up to here.
const PENDING_CAP: i64 = 10_000;

#[derive(Debug)]
pub struct Deliveries {
    /// The receiver, without credentials; `None`: webhooks are off.
    pub target: Option<String>,
    pub pending: Count,
    pub recent: Vec<EventRow>,
    /// Given up after every retry.
    pub failed: Vec<EventRow>,
}

pub async fn deliveries(state: &AppState) -> ServiceResult<Deliveries> {
    let target = state.webhook_target.clone();
    Ok(db::run(&state.pool, move |conn| {
        let pending = outbox::count_pending_up_to(conn, PENDING_CAP)?;
        let (recent, failed) = outbox::recent(conn, SHOWN)?;
        Ok(Deliveries {
            target,
            pending: pending.map_or(Count::MoreThan(PENDING_CAP), Count::Exact),
            recent,
            failed,
        })
    })
    .await?)
}
