//! The audit log: who did what on the admin site, from where.

use super::ServiceResult;
use crate::clock;
use crate::db::admins::{self, AuditAction, AuditEntry, NewAuditEntry};
use crate::db::{self, DbConnection, DbError};
use crate::domain::admin_role::AdminRole;
use crate::state::AppState;

/// A signed-in admin acting, and the address they act from.
#[derive(Debug, Clone)]
pub struct Actor {
    pub admin_id: i64,
    pub username: String,
    pub role: AdminRole,
    pub ip: Option<String>,
}

/// Writes an entry for `actor`.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    action: AuditAction,
    detail: &str,
) -> Result<(), DbError> {
    record_as(
        conn,
        Some(actor.admin_id),
        &actor.username,
        actor.ip.as_deref(),
        action,
        detail,
    )
}

/// Writes an entry for someone who may not be signed in (a sign-in attempt):
/// `username` is the name they gave.
pub fn record_as(
    conn: &mut DbConnection,
    admin_id: Option<i64>,
    username: &str,
    ip: Option<&str>,
    action: AuditAction,
    detail: &str,
) -> Result<(), DbError> {
    admins::audit(
        conn,
        &NewAuditEntry {
            admin_id,
            username,
            action,
            ip,
            detail,
            now: clock::now(),
        },
    )
}

/// `limit` entries older than entry `before`, newest first.
pub async fn page(
    state: &AppState,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<AuditEntry>> {
    Ok(db::run(&state.pool, move |conn| {
        admins::audit_page(conn, before, limit)
    })
    .await?)
}
