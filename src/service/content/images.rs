//! Avatars through WeChat's image check: submitted with their public URL,
//! and asked for again when the verdict's push does not come.

use std::sync::Arc;

use super::count;
use crate::clock;
use crate::db;
use crate::db::accounts::Account;
use crate::db::content_checks::{self, Field, NewCheck, Status};
use crate::db::users::User;
use crate::service::{ServiceError, ServiceResult};
use crate::state::AppState;

/// Tries of an image check (the first and two more) before it goes to the
/// operators.
pub const IMAGE_CHECK_TRIES: i32 = 3;

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
