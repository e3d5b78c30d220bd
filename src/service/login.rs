//! The login: a `wx.login()` code exchanged with WeChat, the user created or
//! updated, and a new session token.

use chrono::NaiveDateTime;

use super::user_data;
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::users::User;
use crate::db::DbError;
use crate::domain::login::{session_expiry, LoginRecord};
use crate::domain::token::SessionToken;
use crate::domain::user_data::UserDataFields;
use crate::state::AppState;
use crate::wechat::WechatError;

/// A login as the client asked for it, its shape already checked.
#[derive(Debug)]
pub struct LoginInput {
    /// The app the code is from; `None`: the default app.
    pub appid: Option<String>,
    pub code: String,
    /// Signed and encrypted user data made after that `wx.login()`, if any.
    pub user_data: UserDataFields,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A login made: the token, shown to the client this once.
#[derive(Debug)]
pub struct LoggedIn {
    pub token: SessionToken,
    pub expires_at: NaiveDateTime,
    pub user: User,
    /// The account was made by this login.
    pub account_created: bool,
}

/// Logs in. The user data is checked against the session_key that this
/// very code gives, before anything is written: a failure refuses the whole
/// login and writes nothing. The user, its profile and the session are then
/// written together, and the answer comes once they are committed.
///
/// Counts the login by app and result, when metrics are on.
pub async fn login(state: &AppState, input: LoginInput) -> ServiceResult<LoggedIn> {
    if !crate::telemetry::prometheus::is_installed() {
        return login_unmetered(state, input).await;
    }
    // Only a configured appid is a label: a client cannot mint new ones.
    let app = state
        .apps
        .choose(input.appid.as_deref())
        .map_or_else(|_| "none".to_owned(), |app| app.appid.clone());
    let result = login_unmetered(state, input).await;
    metrics::counter!("wxlogin_logins_total", "app" => app, "result" => login_result(&result))
        .increment(1);
    result
}

/// The result of a login, as a metrics label.
fn login_result(result: &ServiceResult<LoggedIn>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ServiceError::Invalid(_)) => "invalid_request",
        Err(ServiceError::UserData(_)) => "invalid_user_data",
        Err(ServiceError::UnknownApp(_)) => "unknown_app",
        Err(ServiceError::CodeUsed) => "code_used",
        Err(ServiceError::RiskyUser) => "risky_user",
        Err(ServiceError::Wechat(WechatError::Api { .. })) => "refused_by_wechat",
        Err(ServiceError::Wechat(_)) => "wechat_unavailable",
        Err(ServiceError::Db(DbError::Unavailable(_))) => "unavailable",
        Err(_) => "error",
    }
}

async fn login_unmetered(state: &AppState, input: LoginInput) -> ServiceResult<LoggedIn> {
    input
        .user_data
        .check_shape(false)
        .map_err(ServiceError::Invalid)?;
    let app = state.apps.choose(input.appid.as_deref())?;
    let code = input.code.clone();
    super::code_retry::once(state, &app.appid, &code, |token| {
        exchange(state, app, input, token)
    })
    .await
}

/// The code exchanged with WeChat, the user data checked, the login written.
async fn exchange(
    state: &AppState,
    app: &crate::wechat::WechatApp,
    input: LoginInput,
    token: SessionToken,
) -> ServiceResult<LoggedIn> {
    let wx = app
        .api
        .code2session(&input.code)
        .await
        .map_err(ServiceError::Wechat)?;
    let checked = user_data::verify(&input.user_data, &wx.session_key, &app.appid, &wx.openid)?;
    let risk_rank =
        super::risk::rank_sign_up(state, app, &wx.openid, input.client_ip.as_deref()).await?;
    let unionid = wx.unionid.clone().or_else(|| checked.unionid.clone());
    let now = clock::now();
    let expires_at = session_expiry(now, state.session_ttl);
    let recorded = state
        .logins
        .record(LoginRecord {
            appid: app.appid.clone(),
            openid: wx.openid,
            unionid,
            session_key: state.data_keys.seal_session_key(&wx.session_key),
            token_hash: token.hash(),
            expires_at,
            client_ip: input.client_ip,
            user_agent: input.user_agent,
            profile: checked.profile,
            risk_rank,
            now,
        })
        .await?;
    let user = recorded.user;
    // Other tokens' cached copies are stale now: the identity has a new
    // session_key, and the account a new login count.
    state
        .token_cache
        .forget_after_login(user.identity.id, user.account.id);
    if let Some(merge) = &recorded.merge {
        state.token_cache.forget_sessions_of(merge.removed);
        tracing::info!(
            kept = merge.kept,
            removed = merge.removed,
            identities = merge.identities_moved,
            "accounts merged by unionid"
        );
    }
    state.activity.count_login(now, recorded.account_created);
    tracing::info!(
        account_id = user.account.id,
        identity_id = user.identity.id,
        "login"
    );
    Ok(LoggedIn {
        token,
        expires_at,
        user,
        account_created: recorded.account_created,
    })
}
