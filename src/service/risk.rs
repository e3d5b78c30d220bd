//! Risk-aware sign-up: WeChat's risk rank (`getuserriskrank`, scene 0) of
//! an identity at its first login, when its app asks for it.
//!
//! The rank is advice. It is kept on the identity (and the highest on the
//! account), for operators to filter and sort by; an app may also refuse
//! sign-ups at or above a rank. When WeChat does not answer, the sign-up
//! goes on unranked: an outage of an advisory service should not close the
//! door to every new user.

use super::{ServiceError, ServiceResult};
use crate::db::{self, identities};
use crate::state::AppState;
use crate::wechat::WechatApp;

/// The rank to store with a login of `openid` in `app`: `None` for an app
/// without the check, a known identity (only sign-ups are ranked), or a
/// WeChat that did not answer. A rank at or above the app's threshold
/// refuses the sign-up, before anything is written.
pub async fn rank_sign_up(
    state: &AppState,
    app: &WechatApp,
    openid: &str,
    client_ip: Option<&str>,
) -> ServiceResult<Option<i16>> {
    if !app.risk.check {
        return Ok(None);
    }
    let (appid, id) = (app.appid.clone(), openid.to_owned());
    if db::run(&state.pool, move |conn| {
        identities::exists(conn, &appid, &id)
    })
    .await?
    {
        return Ok(None);
    }
    let rank = match app
        .api
        .user_risk_rank(openid, client_ip.unwrap_or_default())
        .await
    {
        Ok(rank) => Some(rank),
        Err(error) => {
            tracing::warn!(%error, appid = %app.appid, "risk rank unavailable; the sign-up goes on unranked");
            None
        }
    };
    let refused = rank
        .zip(app.risk.refuse_at)
        .is_some_and(|(rank, at)| rank >= at);
    if crate::telemetry::prometheus::is_installed() {
        let result = match (rank, refused) {
            (None, _) => "failed",
            (Some(_), true) => "refused",
            (Some(_), false) => "ranked",
        };
        let rank = rank.map_or_else(|| "none".to_owned(), |r| r.to_string());
        metrics::counter!(
            "wxlogin_risk_checks_total",
            "app" => app.appid.clone(),
            "result" => result,
            "rank" => rank,
        )
        .increment(1);
    }
    if refused {
        tracing::info!(appid = %app.appid, rank, "sign-up refused for its risk rank");
        return Err(ServiceError::RiskyUser);
    }
    Ok(rank.map(i16::from))
}
