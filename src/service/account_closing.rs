//! Closing an account (注销): `DELETE /api/me`, or an operator on the
//! admin site. One transaction erases the account's personal data, deletes
//! its identities (their openids and session keys) and with them its
//! sessions, and records the audit entry and the `account.deleted` event.
//! Then every node forgets its tokens, and its avatar files are deleted.
//!
//! The account's row stays, with its id, creation time and deletion time,
//! so that the audit trail and webhook receivers can still name it. A later
//! login of the same openid makes a new account.

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::admins::AuditAction;
use crate::db::{self, accounts, identities, outbox};
use crate::domain::admin_role::Permission;
use crate::domain::event;
use crate::state::AppState;

/// Who closes the account.
#[derive(Debug, Clone)]
pub enum ClosedBy {
    /// The user, with a token of the account.
    User,
    /// An operator or owner on the admin site.
    Admin(Actor),
}

impl ClosedBy {
    fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin(_) => "admin",
        }
    }
}

/// The audit log's name for a user who closed their own account.
const USER_ACTOR: &str = "(user)";

/// Closes the account. [`ServiceError::NotFound`] if there is no such
/// account, or it is closed already.
pub async fn close(state: &AppState, account_id: i64, by: ClosedBy) -> ServiceResult<()> {
    if let ClosedBy::Admin(actor) = &by {
        super::admin_access::authorize(
            &state.pool,
            actor,
            Permission::EditAccounts,
            "delete accounts",
        )
        .await?;
    }
    let events = state.webhook_events;
    let media = state.media.clone();
    let closed = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if accounts::deleted_at(conn, account_id)?.is_some() {
                return Ok(None);
            }
            let account = accounts::find(conn, account_id)?;
            let identities = identities::delete_for_account(conn, account_id)?;
            let now = clock::now();
            accounts::erase(conn, account_id, now)?;
            let detail =
                serde_json::json!({"account_id": account_id, "identities": identities}).to_string();
            match &by {
                ClosedBy::Admin(actor) => {
                    audit::record(conn, actor, AuditAction::AccountDeleted, &detail)?
                }
                ClosedBy::User => audit::record_as(
                    conn,
                    None,
                    USER_ACTOR,
                    None,
                    AuditAction::AccountDeleted,
                    &detail,
                )?,
            }
            if events {
                outbox::record(
                    conn,
                    &[event::account_deleted(account_id, by.as_str(), now)],
                )?;
            }
            let files: Vec<String> = [Some(account.avatar_url), account.avatar_pending]
                .into_iter()
                .flatten()
                .filter_map(|url| media.name_in(&url))
                .collect();
            Ok(Some(files))
        })
    })
    .await;
    let files = match closed {
        Ok(Some(files)) => files,
        Ok(None) | Err(crate::db::DbError::NotFound) => return Err(ServiceError::NotFound),
        Err(e) => return Err(e.into()),
    };
    // After the commit: no node may answer for its tokens from its cache.
    state.token_cache.forget_sessions_of(account_id);
    state.token_cache.forget_account(account_id);
    let media = state.media.clone();
    let _ =
        tokio::task::spawn_blocking(move || files.iter().for_each(|name| media.remove(name))).await;
    tracing::info!(account_id, "account closed and its personal data erased");
    Ok(())
}
