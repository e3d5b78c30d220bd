//! Readiness: whether this node can serve.

use super::{ServiceError, ServiceResult};
use crate::db;
use crate::state::AppState;

/// This node is not draining, the database answers, its writes work, and
/// this node's clock agrees with it (see `db::ping`).
pub async fn ready(state: &AppState) -> ServiceResult<()> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ServiceError::Draining);
    }
    let pool = state.pool.clone();
    let timeout = state.ready_timeout;
    tokio::task::spawn_blocking(move || db::ping(&pool, timeout))
        .await
        .map_err(|e| ServiceError::Internal(format!("the readiness check failed: {e}")))??;
    Ok(())
}
