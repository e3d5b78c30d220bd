//! Content security for profiles. WeChat requires user-made nicknames and
//! avatars to pass its checks; an app with `content_check` on puts them
//! there before anyone but their user sees them.
//!
//! - A nickname goes to `msg_sec_check` (scene 1, with the openid) as it
//!   is sent: `pass` stores it, `risky` refuses it (400 `content_rejected`),
//!   and `review`, or no verdict in time, holds it pending for an operator.
//! - An avatar goes to `media_check_async` through its public URL; it stays
//!   pending until WeChat's verdict arrives by message push. A push that
//!   does not come is asked for again, twice, then the avatar goes to the
//!   operators.
//! - A pending value is the user's own: `/api/me` shows it to them, while
//!   the admin site, the CSV and the webhooks keep the value before it.
//!   Operators approve or reject it from the review queue.

use super::audit::Actor;
use super::{Refusal, ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts::Account;
use crate::db::admins::AuditAction;
use crate::db::content_checks::{self, ContentCheck, Field, Status};
use crate::db::{self, outbox, DbConnection, DbError};
use crate::domain::admin_role::Permission;
use crate::domain::event;
use crate::state::AppState;
use crate::wechat::{CheckResult, Suggest, WechatApp};

mod images;
mod push;

pub use images::{retry_overdue_image_checks, submit_avatar, watch_image_checks};
pub use push::{check_push_url, receive_push, PushOutcome};

/// What became of a nickname put to WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextVerdict {
    Pass,
    /// Held for an operator: why, and WeChat's label when it gave one.
    Review {
        reason: &'static str,
        label: Option<i64>,
    },
}

/// Puts a nickname to WeChat. A `risky` verdict is an error (nothing is
/// stored); no verdict (a timeout, an error) holds it for review: a
/// nickname is never passed unchecked.
pub async fn check_nickname(
    app: &WechatApp,
    openid: &str,
    nickname: &str,
) -> ServiceResult<TextVerdict> {
    let verdict = app.api.check_text(openid, nickname).await;
    let (outcome, result) = match verdict {
        Ok(CheckResult {
            suggest: Suggest::Pass,
            ..
        }) => ("pass", Ok(TextVerdict::Pass)),
        Ok(CheckResult {
            suggest: Suggest::Risky,
            label,
        }) => ("risky", Err(ServiceError::ContentRejected { label })),
        Ok(CheckResult {
            suggest: Suggest::Review,
            label,
        }) => (
            "review",
            Ok(TextVerdict::Review {
                reason: "WeChat asks for a review",
                label: Some(label),
            }),
        ),
        Err(error) => {
            tracing::warn!(%error, appid = %app.appid, "msg_sec_check failed; the nickname waits for review");
            (
                "failed",
                Ok(TextVerdict::Review {
                    reason: "WeChat gave no verdict",
                    label: None,
                }),
            )
        }
    };
    count(&app.appid, "text", outcome);
    result
}

fn count(appid: &str, kind: &'static str, result: &'static str) {
    if crate::telemetry::prometheus::is_installed() {
        metrics::counter!(
            "wxlogin_content_checks_total",
            "app" => appid.to_owned(),
            "kind" => kind,
            "result" => result,
        )
        .increment(1);
    }
}

/// Writes the `content.reviewed` event (and `profile.updated` when the
/// value was taken) of a decided check, when webhooks are on.
fn record_decision(
    conn: &mut DbConnection,
    state_events: bool,
    check: &ContentCheck,
    accepted: bool,
    by: &str,
    label: Option<i64>,
) -> Result<(), DbError> {
    if !state_events {
        return Ok(());
    }
    let now = clock::now();
    let decision = if accepted { "approved" } else { "rejected" };
    let mut events = vec![event::content_reviewed(
        check.account_id,
        check.field.name(),
        decision,
        by,
        label,
        now,
    )];
    if accepted {
        events.push(event::profile_updated(
            check.account_id,
            &[check.field.name()],
            now,
        ));
    }
    outbox::record(conn, &events)
}

/// One pending value in the operators' queue, with what it would replace.
#[derive(Debug, Clone)]
pub struct Pending {
    pub check: ContentCheck,
    pub account: Account,
}

/// The queue, oldest first: up to `limit` values after the check `after`.
pub async fn review_queue(
    state: &AppState,
    after: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<Pending>> {
    let rows = db::run(&state.pool, move |conn| {
        content_checks::review_queue(conn, after, limit)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|(check, account)| Pending { check, account })
        .collect())
}

/// An operator's decision on a pending value: approved, it becomes the
/// account's; rejected, it is dropped (a rejected avatar's file too).
/// Audited, and sent as webhooks. A value decided already (by another
/// operator, or replaced by its user since) is a conflict.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    check_id: i64,
    approve: bool,
) -> ServiceResult<ContentCheck> {
    crate::service::admin_access::authorize(
        &state.pool,
        actor,
        Permission::EditAccounts,
        "decide a review",
    )
    .await?;
    let events = state.webhook_events;
    let actor = actor.clone();
    let media = state.media.clone();
    let check = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let check = content_checks::find(conn, check_id)?;
            if check.status != Status::Review {
                return Err(DbError::Conflict);
            }
            content_checks::decide(conn, &check, Status::Review, approve, clock::now())?
                .ok_or(DbError::Conflict)?;
            let action = if approve {
                AuditAction::ContentApproved
            } else {
                AuditAction::ContentRejected
            };
            crate::service::audit::record(
                conn,
                &actor,
                action,
                &serde_json::json!({
                    "account_id": check.account_id,
                    "field": check.field.name(),
                    "label": check.label,
                })
                .to_string(),
            )?;
            record_decision(conn, events, &check, approve, "admin", check.label)?;
            if !approve && check.field == Field::Avatar {
                if let Some(name) = media.name_in(&check.value) {
                    media.remove(&name);
                }
            }
            Ok(check)
        })
    })
    .await
    .map_err(|e| match e {
        DbError::Conflict | DbError::NotFound => ServiceError::Refused(Refusal::ReviewDecided),
        other => other.into(),
    })?;
    state.token_cache.forget_account(check.account_id);
    Ok(check)
}

/// How many values wait for an operator, up to `cap`.
pub async fn review_count(state: &AppState, cap: i64) -> ServiceResult<i64> {
    Ok(db::run(&state.pool, move |conn| {
        content_checks::review_count_up_to(conn, cap)
    })
    .await?)
}
