//! Retried login codes. A client that lost a login's answer retries with
//! the same code, and two pages of a mini-program may log in at once with
//! one: WeChat answers the second exchange "40163 code been used", which
//! would log the user out. So a code is held while its login is under way
//! (the others with it, on any node, wait), and after, for the retry window,
//! a login with it gets the same token back without asking WeChat.
//!
//! Only a keyed hash of the code is kept (`domain::login_code`), and the
//! token sealed; both go when the window ends.

use std::future::Future;
use std::time::{Duration, Instant};

use super::login::LoggedIn;
use super::{sessions, ServiceError, ServiceResult};
use crate::clock;
use crate::db::login_codes::{self, Claim};
use crate::db::{self};
use crate::domain::login_code::{CodeHash, CodeRetry};
use crate::state::AppState;
use crate::wechat::WechatError;

/// How often a request waiting for another's login with its code looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);

fn after(now: chrono::NaiveDateTime, d: Duration) -> chrono::NaiveDateTime {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Runs `login` for `code` of `appid` at most once per retry window: the
/// other requests with the code get the token of the one that ran.
pub async fn once(
    state: &AppState,
    appid: &str,
    code: &str,
    login: impl Future<Output = ServiceResult<LoggedIn>>,
) -> ServiceResult<LoggedIn> {
    let Some(retry) = &state.code_retry else {
        return login.await;
    };
    let hash = retry.keys.hash(appid, code);
    let waited_until = Instant::now() + retry.hold;
    loop {
        let now = clock::now();
        let (key, until) = (hash.0.to_vec(), after(now, retry.hold));
        let claim = db::run_probing(&state.pool, move |c| {
            login_codes::claim(c, &key, now, until)
        })
        .await?;
        match claim {
            Claim::Mine => break,
            Claim::Done(sealed) => return replay(state, retry, &hash, &sealed).await,
            Claim::UnderWay if Instant::now() < waited_until => tokio::time::sleep(WAIT_STEP).await,
            // The request that holds the code outlived its time: its node
            // may have died; the next look takes the code over.
            Claim::UnderWay => return Err(ServiceError::Wechat(WechatError::Timeout)),
        }
    }
    let result = login.await;
    let key = hash.0.to_vec();
    let written = match &result {
        Ok(done) => {
            let sealed = retry.keys.seal(&done.token, &hash);
            let until = after(clock::now(), retry.window);
            db::run_probing(&state.pool, move |c| {
                login_codes::complete(c, &key, &sealed, until)
            })
            .await
        }
        // The code is free again: a retry asks WeChat, which knows whether
        // it was used.
        Err(_) => db::run_probing(&state.pool, move |c| login_codes::release(c, &key)).await,
    };
    if let Err(e) = written {
        // The login itself stands; only its retries will ask WeChat.
        tracing::warn!(error = %e, "cannot record the login code for its retries");
    }
    result
}

/// The token of the login made with this code, if its session still lives.
async fn replay(
    state: &AppState,
    retry: &CodeRetry,
    hash: &CodeHash,
    sealed: &[u8],
) -> ServiceResult<LoggedIn> {
    // Sealed under another server key: as if the window had ended.
    let token = retry
        .keys
        .open(sealed, hash)
        .ok_or(ServiceError::CodeUsed)?;
    let (session, user) = match sessions::authenticate(state, token.hash()).await {
        Ok(live) => live,
        Err(ServiceError::Unauthenticated(_)) => return Err(ServiceError::CodeUsed),
        Err(e) => return Err(e),
    };
    tracing::info!(
        account_id = user.account.id,
        "login retried with its code: the same token"
    );
    Ok(LoggedIn {
        token,
        expires_at: session.expires_at,
        user,
        account_created: false,
    })
}
