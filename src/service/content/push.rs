//! WeChat's message push, which brings the verdicts of image checks.

use super::{count, record_decision};
use crate::clock;
use crate::db::admins::AuditAction;
use crate::db::content_checks::{self, Field, Status};
use crate::db::{self, DbError};
use crate::service::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::wechat::push::{self, PushError, PushQuery};
use crate::wechat::{CheckResult, Suggest, WechatApp};

/// How far a push's timestamp may be from the node's clock.
const PUSH_CLOCK_SKEW_SECS: i64 = 300;

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
                    crate::service::audit::record_as(
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
