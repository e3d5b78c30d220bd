//! Retried login codes. A client that lost a login's answer retries with
//! the same code, and two pages of a mini-program may log in at once with
//! one: WeChat answers the second exchange "40163 code been used", which
//! would log the user out. So a code is held while its login is under way
//! (the others with it, on any node, wait), and after, for the retry window,
//! a login with it gets the same token back without asking WeChat.
//!
//! A login writes its code's row as it starts, with the sealed token it is
//! about to make (`db::code_claims`, in batches); it is done once that
//! token's session exists, so nothing more is written. Only a keyed hash of
//! the code is kept (`domain::login_code`), and the token sealed; both go
//! when the window ends.

use std::future::Future;
use std::time::{Duration, Instant};

use super::login::LoggedIn;
use super::{sessions, ServiceError, ServiceResult};
use crate::clock;
use crate::db;
use crate::db::login_codes::{Claim, HeldCode, NewCode};
use crate::domain::login_code::{CodeHash, CodeRetry};
use crate::domain::token::SessionToken;
use crate::state::AppState;
use crate::wechat::WechatError;

/// How often a request waiting for another's login with its code looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);

fn after(now: chrono::NaiveDateTime, d: Duration) -> chrono::NaiveDateTime {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Runs `login` with a new token for `code` of `appid`, at most once per
/// retry window: the other requests with the code get the token of the one
/// that ran.
pub async fn once<F>(
    state: &AppState,
    appid: &str,
    code: &str,
    login: impl FnOnce(SessionToken) -> F,
) -> ServiceResult<LoggedIn>
where
    F: Future<Output = ServiceResult<LoggedIn>>,
{
    let token = SessionToken::generate();
    let Some(retry) = &state.code_retry else {
        return login(token).await;
    };
    let hash = retry.keys.hash(appid, code);
    let sealed = retry.keys.seal(&token, &hash);
    let new_code = |now| NewCode {
        code_hash: hash.0.to_vec(),
        sealed_token: sealed.clone(),
        claimed_at: now,
        expires_at: after(now, retry.window),
    };
    let waited_until = Instant::now() + retry.hold;
    loop {
        let claim = state.code_claims.claim(new_code(clock::now())).await?;
        let held = match claim {
            Claim::Mine => break,
            Claim::Freed => continue,
            Claim::Held(held) => held,
        };
        match look_at(state, retry, &hash, &held).await? {
            Held::Done(done) => return Ok(done),
            Held::UnderWay if Instant::now() < waited_until => tokio::time::sleep(WAIT_STEP).await,
            Held::UnderWay => return Err(ServiceError::Wechat(WechatError::Timeout)),
            Held::Gone => {
                let taken = state.code_claims.take_over(held, new_code(clock::now()));
                if taken.await? {
                    break;
                }
            }
        }
    }
    let result = login(token).await;
    if result.is_err() {
        // The code is free again: a retry asks WeChat, which knows whether
        // it was used.
        if let Err(e) = state.code_claims.release(hash.0.to_vec(), sealed).await {
            tracing::warn!(error = %e, "cannot free the login code; it frees itself when its window ends");
        }
    }
    result
}

/// What became of the login that holds a code.
enum Held {
    /// Done, and its session lives: the answer to give again.
    Done(LoggedIn),
    /// Still under way.
    UnderWay,
    /// It never finished (its node died, or the row is sealed under another
    /// server key): the code may be taken over.
    Gone,
}

async fn look_at(
    state: &AppState,
    retry: &CodeRetry,
    hash: &CodeHash,
    held: &HeldCode,
) -> ServiceResult<Held> {
    let Some(token) = retry.keys.open(&held.sealed_token, hash) else {
        return Ok(Held::Gone);
    };
    let token = match live(state, token).await? {
        Ok(done) => return Ok(Held::Done(done)),
        Err(token) => token,
    };
    let hash = token.hash();
    if !db::run_probing(&state.pool, move |c| crate::db::sessions::exists(c, &hash)).await? {
        return Ok(if clock::now() < after(held.claimed_at, retry.hold) {
            Held::UnderWay
        } else {
            Held::Gone
        });
    }
    // The session exists: it was committed since the first look, or it
    // was made, then logged out or revoked, and is never handed out again.
    match live(state, token).await? {
        Ok(done) => Ok(Held::Done(done)),
        Err(_) => Err(ServiceError::CodeUsed),
    }
}

/// The login of `token` if its session lives, else the token back.
async fn live(
    state: &AppState,
    token: SessionToken,
) -> ServiceResult<Result<LoggedIn, SessionToken>> {
    match sessions::authenticate(state, token.hash()).await {
        Ok((session, user)) => {
            tracing::info!(
                account_id = user.account.id,
                "login retried with its code: the same token"
            );
            Ok(Ok(LoggedIn {
                token,
                expires_at: session.expires_at,
                user,
                account_created: false,
            }))
        }
        Err(ServiceError::Unauthenticated(_)) => Ok(Err(token)),
        Err(e) => Err(e),
    }
}
