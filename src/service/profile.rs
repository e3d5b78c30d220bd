//! Changes to a user's profile, which their account holds: user data
//! checked later, the profile fill-in, the avatar and the phone number. Each
//! change drops this node's cached copy of the account, so that the next
//! request sees it.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{content, user_data};
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts::{self, Account};
use crate::db::content_checks::{self, Field, NewCheck, Status};
use crate::db::users::{self, User};
use crate::db::{self, DbConnection, DbError};
use crate::db::{links, outbox, phone_ledger};
use crate::domain::data_keys::Purpose;
use crate::domain::event;
use crate::domain::profile::{parse_profile_patch, ProfileUpdate};
use crate::domain::user_data::UserDataFields;
use crate::media::{ImageKind, MediaError, MediaStore};
use crate::state::AppState;
use crate::wechat::PhoneNumber;

/// Runs a change to the user's account, with its `profile.updated` event
/// (naming `fields`) when webhooks are on, then drops this node's cached
/// copy of it. The user is seen through the same identity as before.
async fn change_account<F>(
    state: &AppState,
    user: &User,
    fields: Vec<&'static str>,
    change: F,
) -> ServiceResult<User>
where
    F: FnOnce(&mut DbConnection) -> Result<Account, DbError> + Send + 'static,
{
    let events = state.webhook_events && !fields.is_empty();
    let result = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let account = change(conn)?;
            if events {
                let event = event::profile_updated(account.id, &fields, clock::now());
                outbox::record(conn, &[event])?;
            }
            Ok(account)
        })
    })
    .await;
    state.token_cache.forget_account(user.account.id);
    Ok(User {
        account: Arc::new(result?),
        identity: user.identity.clone(),
    })
}

/// User data sent after the login (`/api/me/userinfo`), checked with the
/// session_key stored at the identity's last login. A unionid in it links
/// the account as a login's would, which may merge it into an older one.
pub async fn apply_user_data(
    state: &AppState,
    user: &User,
    fields: &UserDataFields,
) -> ServiceResult<User> {
    fields.check_shape(true).map_err(ServiceError::Invalid)?;
    let identity = &user.identity;
    let app = state.apps.of_identity(&identity.appid)?;
    let checked =
        user_data::verify_with_stored_key(fields, identity, app, &state.data_keys).await?;
    let Some(unionid) = checked.unionid.filter(|_| user.account.unionid.is_none()) else {
        let id = user.account.id;
        let fields = checked.profile.field_names();
        return change_account(state, user, fields, move |conn| {
            accounts::update_profile(conn, id, &checked.profile, clock::now())
        })
        .await;
    };
    let identity_id = identity.id;
    let profile = checked.profile;
    let events = state.webhook_events;
    let (merge, user) = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = clock::now();
            let merge = links::backfill(conn, identity_id, &unionid, now)?;
            let user = users::find(conn, identity_id)?;
            accounts::update_profile(conn, user.account.id, &profile, now)?;
            if events {
                let mut recorded: Vec<_> = merge
                    .iter()
                    .map(|m| links::merge_event(m, "unionid", now))
                    .collect();
                let mut fields = profile.field_names();
                fields.push("unionid");
                recorded.push(event::profile_updated(user.account.id, &fields, now));
                outbox::record(conn, &recorded)?;
            }
            Ok((merge, users::find(conn, identity_id)?))
        })
    })
    .await?;
    state.token_cache.forget_account(user.account.id);
    if let Some(merge) = merge {
        state.token_cache.forget_sessions_of(merge.removed);
    }
    Ok(user)
}

/// The profile fill-in: only the fields sent change, and a bad one changes
/// nothing. With the app's content check on, a new nickname is put to
/// WeChat first: refused, nothing changes; to be reviewed, it is held
/// pending (its user sees it, no one else) and the other fields change.
pub async fn patch(
    state: &AppState,
    user: &User,
    body: &Map<String, Value>,
) -> ServiceResult<User> {
    let mut update = parse_profile_patch(body).map_err(ServiceError::Invalid)?;
    let app = state.apps.of_identity(&user.identity.appid)?;
    let mut held = None;
    if let Some(nickname) = update.nickname.clone().filter(|n| !n.is_empty()) {
        if app.content_check {
            if let content::TextVerdict::Review { reason, label } =
                content::check_nickname(app, &user.identity.openid, &nickname).await?
            {
                update.nickname = None;
                held = Some((nickname, reason, label));
            }
        }
    }
    // A nickname stored now replaces one still pending.
    let nickname_stored = update.nickname.is_some();
    let (id, identity_id) = (user.account.id, user.identity.id);
    change_account(state, user, update.field_names(), move |conn| {
        let now = clock::now();
        let mut account = accounts::update_profile(conn, id, &update, now)?;
        if nickname_stored && account.nickname_pending.is_some() {
            content_checks::drop_pending(conn, id, Field::Nickname)?;
            account = accounts::find(conn, id)?;
        }
        if let Some((value, reason, label)) = &held {
            account = content_checks::hold(
                conn,
                &NewCheck {
                    account_id: id,
                    identity_id,
                    field: Field::Nickname,
                    value,
                    status: Status::Review,
                    trace_id: None,
                    label: *label,
                    reason,
                    now,
                },
            )?;
        }
        Ok(account)
    })
    .await
}

/// Asks WeChat for the user's phone number with a code from
/// `<button open-type="getPhoneNumber">`, and stores it on the account as
/// verified now. WeChat bills every successful exchange: each is counted
/// in the phone ledger (per app and China day) in the same transaction as
/// the number, and in the metrics.
pub async fn bind_phone(
    state: &AppState,
    user: &User,
    code: &str,
) -> ServiceResult<(PhoneNumber, User)> {
    let appid = user.identity.appid.clone();
    let phone = state
        .apps
        .of_identity(&appid)?
        .api
        .phone_number(code, &user.identity.openid)
        .await
        .map_err(ServiceError::PhoneCode)?;
    if crate::telemetry::prometheus::is_installed() {
        metrics::counter!("wxlogin_phone_exchanges_total", "app" => appid.clone()).increment(1);
    }
    let id = user.account.id;
    let sealed = state
        .data_keys
        .seal(Purpose::Phone, &phone.pure_phone_number);
    let hash = state.data_keys.phone_hash(&phone.pure_phone_number);
    let country_code = phone.country_code.clone();
    let user = change_account(state, user, vec!["phone_number"], move |conn| {
        let now = clock::now();
        phone_ledger::count_exchange(conn, &appid, clock::china_date(now))?;
        accounts::set_phone(conn, id, &sealed, &hash, &country_code, now)
    })
    .await?;
    tracing::info!(account_id = id, "phone number bound");
    Ok((phone, user))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(format!("a file task failed: {e}")))?
        .map_err(ServiceError::Media)
}

/// Stores an uploaded avatar and makes it the user's, at a URL under
/// `base_url`; with the app's content check on (and a public URL that
/// WeChat can fetch), it is held pending until WeChat's verdict comes.
/// Nothing is kept when the user cannot be updated.
pub async fn set_avatar(
    state: &AppState,
    user: &User,
    image: Vec<u8>,
    base_url: &str,
) -> ServiceResult<User> {
    let media = state.media.clone();
    let name = blocking(move || media.store_avatar(&image)).await?;
    let avatar_url = MediaStore::avatar_url(base_url, &name);
    let updated = match content::submit_avatar(state, user, &avatar_url).await {
        Ok(Some(account)) => Ok(User {
            account: Arc::new(account),
            identity: user.identity.clone(),
        }),
        Ok(None) => {
            let update = ProfileUpdate {
                avatar_url: Some(avatar_url.clone()),
                ..Default::default()
            };
            let id = user.account.id;
            change_account(state, user, vec!["avatar_url"], move |conn| {
                let account = accounts::update_profile(conn, id, &update, clock::now())?;
                // An avatar stored now replaces one still pending.
                if account.avatar_pending.is_some() {
                    content_checks::drop_pending(conn, id, Field::Avatar)?;
                    return accounts::find(conn, id);
                }
                Ok(account)
            })
            .await
        }
        Err(e) => Err(e),
    };
    // The files the new avatar replaces: an earlier pending one always, and
    // the current one when the new one is applied at once.
    let replaced: Vec<String> = match &updated {
        Err(_) => vec![name.clone()],
        Ok(now) => {
            let applied = now.account.avatar_url == avatar_url;
            [
                user.account.avatar_pending.clone(),
                applied.then(|| user.account.avatar_url.clone()),
            ]
            .into_iter()
            .flatten()
            .filter(|url| *url != avatar_url)
            .filter_map(|url| state.media.name_in(&url))
            .collect()
        }
    };
    if updated.is_ok() {
        tracing::info!(account_id = user.account.id, %name, "avatar uploaded");
    }
    let media = state.media.clone();
    let _ = blocking(move || {
        replaced.iter().for_each(|old| media.remove(old));
        Ok(())
    })
    .await;
    updated
}

/// A stored avatar and its type.
pub async fn avatar_file(state: &AppState, name: String) -> ServiceResult<(Vec<u8>, ImageKind)> {
    let media = state.media.clone();
    blocking(move || media.read(&name)).await
}

/// The public base URL set in the settings, if any.
pub fn public_url(state: &AppState) -> Option<&str> {
    state.media.public_url.as_deref()
}
