//! Whether an admin's role allows an action. A refusal is audited, so that
//! an owner can see who tried what.

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult};
use crate::db::admins::AuditAction;
use crate::db::{self, DbPool};
use crate::domain::admin_role::Permission;

/// `Ok` if the actor's role has `permission`; otherwise records the refusal
/// and answers [`ServiceError::Forbidden`]. `action` says what was tried,
/// in the words of the refusal ("export users").
pub async fn authorize(
    pool: &DbPool,
    actor: &Actor,
    permission: Permission,
    action: &'static str,
) -> ServiceResult<()> {
    if actor.role.can(permission) {
        return Ok(());
    }
    let detail = serde_json::json!({
        "action": action,
        "needs": permission.as_str(),
        "role": actor.role.as_str(),
    })
    .to_string();
    let entry = actor.clone();
    db::run(pool, move |conn| {
        audit::record(conn, &entry, AuditAction::AccessDenied, &detail)
    })
    .await?;
    tracing::warn!(admin = %actor.username, role = %actor.role, action, "admin action refused by role");
    Err(ServiceError::Forbidden {
        role: actor.role,
        needs: permission.least_role(),
        action,
    })
}
