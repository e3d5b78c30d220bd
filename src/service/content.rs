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

use std::sync::Arc;

use super::audit::Actor;
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts::Account;
use crate::db::admins::AuditAction;
use crate::db::content_checks::{self, ContentCheck, Field, NewCheck, Status};
use crate::db::users::User;
use crate::db::{self, outbox, DbConnection, DbError};
use crate::domain::event;
use crate::state::AppState;
use crate::wechat::push::{self, PushError, PushQuery};
use crate::wechat::{CheckResult, Suggest, WechatApp};

/// Tries of an image check (the first and two more) before it goes to the
/// operators.
pub const IMAGE_CHECK_TRIES: i32 = 3;
/// How far a push's timestamp may be from the node's clock.
const PUSH_CLOCK_SKEW_SECS: i64 = 300;

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

/// Submits a stored avatar to WeChat's image check and holds it pending;
/// `None` when the app has no content check or the server no public URL
/// (WeChat must fetch the image), and the avatar is then the user's at
/// once. When WeChat does not take the image, the avatar goes to review.
pub async fn submit_avatar(
    state: &AppState,
    user: &User,
    avatar_url: &str,
) -> ServiceResult<Option<Account>> {
    let app = state.apps.of_identity(&user.identity.appid)?;
    if !app.content_check || state.media.public_url.is_none() {
        return Ok(None);
    }
    let submitted = app
        .api
        .submit_image(&user.identity.openid, avatar_url)
        .await;
    let (status, trace_id, reason) = match submitted {
        Ok(trace_id) => (Status::Checking, Some(trace_id), ""),
        Err(error) => {
            tracing::warn!(%error, appid = %app.appid, "media_check_async failed; the avatar waits for review");
            count(&app.appid, "image", "failed");
            (Status::Review, None, "WeChat did not take the image")
        }
    };
    let (account_id, identity_id) = (user.account.id, user.identity.id);
    let value = avatar_url.to_owned();
    let account = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            content_checks::hold(
                conn,
                &NewCheck {
                    account_id,
                    identity_id,
                    field: Field::Avatar,
                    value: &value,
                    status,
                    trace_id: trace_id.as_deref(),
                    label: None,
                    reason,
                    now: clock::now(),
                },
            )
        })
    })
    .await?;
    state.token_cache.forget_account(account_id);
    Ok(Some(account))
}

/// What a verified push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Not an image check's verdict: acknowledged, nothing to do.
    Ignored,
    Approved,
    Rejected,
    ToReview,
}

/// The keys of the app at `appid` that pushes may come for.
fn push_app<'a>(state: &'a AppState, appid: &str) -> ServiceResult<&'a WechatApp> {
    state
        .apps
        .get(appid)
        .filter(|app| app.push.is_some())
        .ok_or(ServiceError::NotFound)
}

/// The URL check WeChat makes when the push URL is saved: the `echostr`
/// to answer with.
pub fn check_push_url<'e>(
    state: &AppState,
    appid: &str,
    query: &PushQuery<'_>,
    echostr: &'e str,
) -> ServiceResult<&'e str> {
    let app = push_app(state, appid)?;
    let keys = app.push.as_ref().ok_or(ServiceError::NotFound)?;
    push::check_url(keys, query, echostr).map_err(ServiceError::Push)
}

/// A message push for the app at `appid`: verified (signature, and in safe
/// mode the message signature, the decryption and the appid inside), fresh
/// (its timestamp within five minutes of the clock), then applied: an image
/// verdict decides its pending avatar. A push for an unknown trace id, or
/// one whose verdict was applied already (a replay), is refused and changes
/// nothing.
pub async fn receive_push(
    state: &AppState,
    appid: &str,
    query: &PushQuery<'_>,
    body: &[u8],
) -> ServiceResult<PushOutcome> {
    let app = push_app(state, appid)?;
    let keys = app.push.as_ref().ok_or(ServiceError::NotFound)?;
    let message = push::open(keys, appid, query, body).map_err(ServiceError::Push)?;
    let sent_at: i64 = query
        .timestamp
        .parse()
        .map_err(|_| ServiceError::Push(PushError::Malformed("timestamp")))?;
    if (clock::unix_now() - sent_at).abs() > PUSH_CLOCK_SKEW_SECS {
        return Err(ServiceError::Push(PushError::Malformed(
            "the timestamp is more than five minutes from the server's clock",
        )));
    }
    if message.event != "wxa_media_check" {
        return Ok(PushOutcome::Ignored);
    }
    let trace_id = message
        .trace_id
        .clone()
        .ok_or(ServiceError::Push(PushError::Malformed("no trace_id")))?;
    let verdict = match (message.errcode.unwrap_or(0), message.result) {
        (0, Some(result)) => Some(result),
        // WeChat could not judge the image: an operator will.
        _ => None,
    };
    let events = state.webhook_events;
    let media = state.media.clone();
    let digest = push_digest(appid, query);
    let outcome = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = clock::now();
            let forget = now - chrono::TimeDelta::seconds(2 * PUSH_CLOCK_SKEW_SECS);
            content_checks::first_sight_of_push(conn, &digest, now, forget)?;
            let check = content_checks::by_trace(conn, &trace_id)?;
            if check.field != Field::Avatar || check.status != Status::Checking {
                return Err(DbError::Conflict);
            }
            let now = clock::now();
            let outcome = match verdict {
                Some(CheckResult {
                    suggest: Suggest::Pass,
                    label,
                }) => {
                    content_checks::decide(conn, &check, Status::Checking, true, now)?
                        .ok_or(DbError::Conflict)?;
                    record_decision(conn, events, &check, true, "wechat", Some(label))?;
                    PushOutcome::Approved
                }
                Some(CheckResult {
                    suggest: Suggest::Risky,
                    label,
                }) => {
                    content_checks::decide(conn, &check, Status::Checking, false, now)?
                        .ok_or(DbError::Conflict)?;
                    super::audit::record_as(
                        conn,
                        None,
                        crate::db::links::SYSTEM_ACTOR,
                        None,
                        AuditAction::ContentRejected,
                        &serde_json::json!({
                            "account_id": check.account_id,
                            "field": check.field.name(),
                            "by": "wechat",
                            "label": label,
                        })
                        .to_string(),
                    )?;
                    record_decision(conn, events, &check, false, "wechat", Some(label))?;
                    PushOutcome::Rejected
                }
                Some(CheckResult {
                    suggest: Suggest::Review,
                    label,
                }) => {
                    if !content_checks::to_review(
                        conn,
                        check.id,
                        Status::Checking,
                        Some(label),
                        "WeChat asks for a review",
                        now,
                    )? {
                        return Err(DbError::Conflict);
                    }
                    PushOutcome::ToReview
                }
                None => {
                    if !content_checks::to_review(
                        conn,
                        check.id,
                        Status::Checking,
                        None,
                        "WeChat could not check the image",
                        now,
                    )? {
                        return Err(DbError::Conflict);
                    }
                    PushOutcome::ToReview
                }
            };
            if outcome == PushOutcome::Rejected {
                if let Some(name) = media.name_in(&check.value) {
                    media.remove(&name);
                }
            }
            Ok((outcome, check.account_id))
        })
    })
    .await
    .map_err(|e| match e {
        DbError::NotFound => ServiceError::Push(PushError::Malformed("unknown trace_id")),
        DbError::Conflict => ServiceError::PushReplayed,
        other => other.into(),
    });
    let (outcome, account_id) = outcome?;
    state.token_cache.forget_account(account_id);
    count(
        &app.appid,
        "image",
        match outcome {
            PushOutcome::Approved => "pass",
            PushOutcome::Rejected => "risky",
            PushOutcome::ToReview | PushOutcome::Ignored => "review",
        },
    );
    Ok(outcome)
}

/// What tells one push from another: its signed query fields. A replay
/// carries the same ones (new ones would need the push Token).
fn push_digest(appid: &str, query: &PushQuery<'_>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut sha = Sha256::new();
    for part in [
        appid,
        query.timestamp,
        query.nonce,
        query.signature,
        query.msg_signature.unwrap_or_default(),
    ] {
        sha.update((part.len() as u64).to_be_bytes());
        sha.update(part.as_bytes());
    }
    sha.finalize().to_vec()
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
            super::audit::record(
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
        DbError::Conflict | DbError::NotFound => ServiceError::Conflict(
            "this value no longer waits for review: it was decided already, or replaced by its user since".into(),
        ),
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

/// Runs until the process stops: every so often, image checks whose push
/// has not come within `state.image_check_wait` are submitted again, and
/// after the last try go to the operators.
pub async fn watch_image_checks(state: Arc<AppState>) {
    let every = (state.image_check_wait / 4).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(30),
    );
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = retry_overdue_image_checks(&state).await {
            tracing::warn!(%error, "overdue image checks could not be handled; trying again later");
        }
    }
}

/// One round of [`watch_image_checks`].
pub async fn retry_overdue_image_checks(state: &AppState) -> ServiceResult<()> {
    let wait = chrono::TimeDelta::from_std(state.image_check_wait)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let before = clock::now() - wait;
    let overdue = db::run(&state.pool, move |conn| {
        content_checks::overdue(conn, before, 100)
    })
    .await?;
    for check in overdue {
        let resubmit = check.attempts < IMAGE_CHECK_TRIES;
        let trace = if resubmit {
            let openid = identity_openid(state, check.identity_id).await?;
            let app = match state.apps.of_identity(&openid.0) {
                Ok(app) => app,
                Err(_) => continue,
            };
            match app.api.submit_image(&openid.1, &check.value).await {
                Ok(trace) => Some(trace),
                Err(error) => {
                    tracing::warn!(%error, "media_check_async failed again; the avatar waits for review");
                    None
                }
            }
        } else {
            None
        };
        let seen = check.updated_at;
        db::run(&state.pool, move |conn| {
            let now = clock::now();
            match trace {
                Some(trace) => content_checks::resubmitted(conn, check.id, seen, &trace, now),
                None => content_checks::to_review(
                    conn,
                    check.id,
                    Status::Checking,
                    None,
                    "WeChat's verdict did not come",
                    now,
                ),
            }
        })
        .await?;
    }
    Ok(())
}

/// The appid and openid of an identity.
async fn identity_openid(state: &AppState, identity_id: i64) -> ServiceResult<(String, String)> {
    let user = db::run(&state.pool, move |conn| {
        crate::db::users::find(conn, identity_id)
    })
    .await?;
    Ok((user.identity.appid.clone(), user.identity.openid.clone()))
}
