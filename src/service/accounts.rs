//! The admin's corrections of how identities are linked: merging two
//! accounts by hand, with a preview, and unlinking an identity into an
//! account of its own. Both are audited, and both keep every token working.

use serde_json::json;

use super::audit::{self, Actor};
use super::{Refusal, ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts::{self, Account};
use crate::db::admins::AuditAction;
use crate::db::identities::{self, Identity};
use crate::db::links::{self, Merge};
use crate::db::{self, outbox, sessions, DbConnection, DbError};
use crate::domain::admin_role::Permission;
use crate::state::AppState;

/// What a merge of two accounts would do.
#[derive(Debug)]
pub struct MergePreview {
    pub kept: Account,
    pub removed: Account,
    /// The kept account's empty fields that the other fills.
    pub filled: Vec<&'static str>,
    /// The removed account's identities, which move to the kept one.
    pub moving: Vec<Identity>,
    /// Its sessions, which move too.
    pub sessions_moving: i64,
}

fn other_account(
    conn: &mut DbConnection,
    id: i64,
) -> Result<Result<Account, ServiceError>, DbError> {
    match accounts::find(conn, id) {
        Ok(account) => Ok(Ok(account)),
        Err(DbError::NotFound) => Ok(Err(ServiceError::Refused(Refusal::NoSuchAccount(id)))),
        Err(e) => Err(e),
    }
}

/// Why two accounts cannot be merged, if they cannot.
fn refusal(a: &Account, b: &Account) -> Option<ServiceError> {
    if a.id == b.id {
        return Some(ServiceError::Refused(Refusal::MergeWithItself));
    }
    match (&a.unionid, &b.unionid) {
        (Some(x), Some(y)) if x != y => {
            Some(ServiceError::Refused(Refusal::TwoUnionids(a.id, b.id)))
        }
        _ => None,
    }
}

/// The two accounts, checked for a merge.
fn pair(
    conn: &mut DbConnection,
    id: i64,
    other: i64,
) -> Result<Result<(Account, Account), ServiceError>, DbError> {
    let account = accounts::find(conn, id)?;
    let other = match other_account(conn, other)? {
        Ok(other) => other,
        Err(e) => return Ok(Err(e)),
    };
    Ok(match refusal(&account, &other) {
        Some(e) => Err(e),
        None => Ok((account, other)),
    })
}

pub async fn merge_preview(state: &AppState, id: i64, other: i64) -> ServiceResult<MergePreview> {
    let mut preview = db::run(&state.pool, move |conn| {
        let (a, b) = match pair(conn, id, other)? {
            Ok(pair) => pair,
            Err(e) => return Ok(Err(e)),
        };
        let plan = links::plan(a, b);
        let moving = identities::list_for_account(conn, plan.removed.id)?;
        let sessions_moving = sessions::count_for_account(conn, plan.removed.id)?;
        Ok(Ok(MergePreview {
            kept: plan.kept,
            removed: plan.removed,
            filled: plan.filled,
            moving,
            sessions_moving,
        }))
    })
    .await??;
    for account in [&mut preview.kept, &mut preview.removed] {
        super::personal_data::open_phone(&state.data_keys, &mut account.phone_number);
    }
    Ok(preview)
}

/// Merges two accounts into the older, as a login's unionid would.
pub async fn merge(state: &AppState, actor: Actor, id: i64, other: i64) -> ServiceResult<Merge> {
    super::admin_access::authorize(
        &state.pool,
        &actor,
        Permission::EditAccounts,
        "merge accounts",
    )
    .await?;
    let events = state.webhook_events;
    let merged = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let (a, b) = match pair(conn, id, other)? {
                Ok(pair) => pair,
                Err(e) => return Ok(Err(e)),
            };
            let merge = links::merge(conn, a, b, clock::now())?;
            let detail = merge.describe("admin").to_string();
            audit::record(conn, &actor, AuditAction::AccountMerged, &detail)?;
            if events {
                outbox::record(conn, &[links::merge_event(&merge, "admin", clock::now())])?;
            }
            Ok(Ok(merge))
        })
    })
    .await??;
    state.token_cache.forget_sessions_of(merged.removed);
    state.token_cache.forget_account(merged.kept);
    tracing::info!(
        kept = merged.kept,
        removed = merged.removed,
        "accounts merged by an admin"
    );
    Ok(merged)
}

/// Moves one identity of an account, with its sessions, into an account of
/// its own. Returns the new account's id. Refused for an account's only
/// identity, and for one whose unionid from WeChat is the account's: its
/// next login would link it again.
pub async fn unlink(
    state: &AppState,
    actor: Actor,
    id: i64,
    identity_id: i64,
) -> ServiceResult<i64> {
    super::admin_access::authorize(
        &state.pool,
        &actor,
        Permission::EditAccounts,
        "unlink an identity",
    )
    .await?;
    let unlinked = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let account = accounts::find(conn, id)?;
            let all = identities::list_for_account(conn, id)?;
            let Some(identity) = all.iter().find(|i| i.id == identity_id) else {
                return Ok(Err(ServiceError::NotFound));
            };
            if all.len() == 1 {
                return Ok(Err(ServiceError::Refused(Refusal::OnlyIdentity)));
            }
            if identity.unionid.is_some() && identity.unionid == account.unionid {
                return Ok(Err(ServiceError::Refused(Refusal::OwnUnionid)));
            }
            let new_account = links::unlink(conn, identity, clock::now())?;
            let detail = json!({
                "account": id,
                "identity": identity_id,
                "appid": identity.appid,
                "new_account": new_account,
            })
            .to_string();
            audit::record(conn, &actor, AuditAction::AccountUnlinked, &detail)?;
            Ok(Ok(new_account))
        })
    })
    .await??;
    state.token_cache.forget_sessions_of(id);
    state.token_cache.forget_identity(identity_id);
    Ok(unlinked)
}
