//! Session tokens: checking them on every request, and ending them.
//!
//! Each of these keeps the token cache right on this node: a token that is
//! revoked here stops working here at once (see `db::token_cache`).

use std::sync::Arc;

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts;
use crate::db::admins::AuditAction;
use crate::db::sessions::{self, Session, LAST_SEEN_GRANULARITY};
use crate::db::users::User;
use crate::db::{self, outbox, DbConnection, DbError};
use crate::domain::admin_role::Permission;
use crate::domain::event;
use crate::domain::token::TokenHash;
use crate::state::AppState;

/// Why a token does not open a session.
pub const BAD_TOKEN: &str = "the session token is unknown, expired or revoked; log in again";

/// The live session of a token, and its user: from the cache when it can
/// answer, else from the database. A session's `last_seen_at` is queued for
/// writing at most once a minute.
pub async fn authenticate(
    state: &AppState,
    hash: TokenHash,
) -> ServiceResult<(Arc<Session>, User)> {
    let cached = state.token_cache.get(&hash, clock::now());
    if crate::telemetry::prometheus::is_installed() {
        match &cached {
            Ok(_) => metrics::counter!("wxlogin_token_cache_lookups_total", "result" => "hit")
                .increment(1),
            Err(miss) => metrics::counter!(
                "wxlogin_token_cache_lookups_total",
                "result" => "miss",
                "reason" => miss.as_str(),
            )
            .increment(1),
        }
    }
    if let Ok(found) = cached {
        return Ok(found);
    }
    let ticket = state.token_cache.ticket();
    let now = clock::now();
    let found = db::run(&state.pool, move |conn| {
        sessions::find_active(conn, &hash, now)
    })
    .await?;
    let (mut session, user) = found.ok_or(ServiceError::Unauthenticated(BAD_TOKEN))?;
    if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
        // Written with others in one statement, by the cache's refresher.
        state.token_cache.touch_later(session.id);
        session.last_seen_at = now;
    }
    state.token_cache.store(ticket, hash, &session, &user);
    Ok((Arc::new(session), user))
}

/// Records the `session.revoked` event, when webhooks are on.
fn revoked_event(
    conn: &mut DbConnection,
    events: bool,
    account_id: i64,
    session_ids: &[i64],
    by: &str,
    reason: &str,
) -> Result<(), DbError> {
    if !events || session_ids.is_empty() {
        return Ok(());
    }
    let event = event::session_revoked(account_id, session_ids, by, reason, clock::now());
    outbox::record(conn, &[event])
}

/// Ends the session of this token (a logout).
pub async fn logout(state: &AppState, hash: TokenHash) -> ServiceResult<()> {
    let events = state.webhook_events;
    let revoked = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let revoked = sessions::revoke_by_hash(conn, &hash, clock::now())?;
            if let Some((session_id, account_id)) = revoked {
                revoked_event(conn, events, account_id, &[session_id], "user", "logout")?;
            }
            Ok(revoked.is_some())
        })
    })
    .await;
    state.token_cache.forget_token(&hash);
    if !revoked? {
        return Err(ServiceError::Unauthenticated(
            "the session token is unknown, expired or already revoked",
        ));
    }
    Ok(())
}

/// Most sessions a user is shown; older live ones exist but are not listed.
pub const MAX_OWN_SESSIONS: i64 = 100;

/// The live sessions of the user's account, in every app, newest first,
/// each with its appid.
pub async fn list_own(state: &AppState, account_id: i64) -> ServiceResult<Vec<(Session, String)>> {
    let now = clock::now();
    Ok(db::run(&state.pool, move |conn| {
        sessions::list_live_for_account(conn, account_id, now, MAX_OWN_SESSIONS)
    })
    .await?)
}

/// The user ends one of their own sessions; another user's, or one that is
/// not live, is not found.
pub async fn revoke_own(state: &AppState, account_id: i64, session_id: i64) -> ServiceResult<()> {
    let events = state.webhook_events;
    let revoked = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let revoked = sessions::revoke(conn, account_id, session_id, clock::now())?;
            if revoked {
                revoked_event(conn, events, account_id, &[session_id], "user", "revoke")?;
            }
            Ok(revoked)
        })
    })
    .await;
    state.token_cache.forget_session(session_id);
    if revoked? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// An admin ends one session of a user. Audited when it was live.
pub async fn revoke(
    state: &AppState,
    actor: Actor,
    user_id: i64,
    session_id: i64,
) -> ServiceResult<()> {
    super::admin_access::authorize(
        &state.pool,
        &actor,
        Permission::EditAccounts,
        "revoke a user's session",
    )
    .await?;
    let events = state.webhook_events;
    let revoked = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if sessions::revoke(conn, user_id, session_id, clock::now())? {
                let detail =
                    serde_json::json!({"user_id": user_id, "session_id": session_id}).to_string();
                audit::record(conn, &actor, AuditAction::RevokeSession, &detail)?;
                revoked_event(conn, events, user_id, &[session_id], "admin", "revoke")?;
            }
            Ok(())
        })
    })
    .await;
    state.token_cache.forget_session(session_id);
    Ok(revoked?)
}

/// An admin ends every session of a user. Audited with the count.
pub async fn revoke_all(state: &AppState, actor: Actor, user_id: i64) -> ServiceResult<()> {
    super::admin_access::authorize(
        &state.pool,
        &actor,
        Permission::EditAccounts,
        "revoke a user's sessions",
    )
    .await?;
    let events = state.webhook_events;
    let revoked = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            accounts::find(conn, user_id)?;
            let ids = sessions::revoke_all(conn, user_id, clock::now())?;
            let detail = serde_json::json!({"user_id": user_id, "sessions": ids.len()}).to_string();
            audit::record(conn, &actor, AuditAction::RevokeAllSessions, &detail)?;
            revoked_event(conn, events, user_id, &ids, "admin", "revoke_all")
        })
    })
    .await;
    state.token_cache.forget_sessions_of(user_id);
    Ok(revoked?)
}
