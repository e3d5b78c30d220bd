//! Changes to a user's profile: user data checked later, the profile
//! fill-in, the avatar and the phone number. Each change drops this node's
//! cached copy of the user, so that the next request sees it.

use serde_json::{Map, Value};

use super::user_data;
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::users::{self, User};
use crate::db::{self, DbConnection, DbError};
use crate::domain::profile::{parse_profile_patch, ProfileUpdate};
use crate::domain::user_data::UserDataFields;
use crate::media::{ImageKind, MediaError, MediaStore};
use crate::state::AppState;
use crate::wechat::PhoneNumber;

/// Runs a change to a user, then drops the cached copy of that user.
async fn change_user<F>(state: &AppState, id: i64, change: F) -> ServiceResult<User>
where
    F: FnOnce(&mut DbConnection) -> Result<User, DbError> + Send + 'static,
{
    let result = db::run(&state.pool, change).await;
    state.token_cache.forget_user(id);
    Ok(result?)
}

/// User data sent after the login (`/api/me/userinfo`), checked with the
/// session_key stored at the user's last login.
pub async fn apply_user_data(
    state: &AppState,
    user: &User,
    fields: &UserDataFields,
) -> ServiceResult<User> {
    fields.check_shape(true).map_err(ServiceError::Invalid)?;
    let app = state.apps.of_identity(&user.appid)?;
    let checked = user_data::verify(fields, &user.session_key, &app.appid, &user.openid, true)?;
    let id = user.id;
    change_user(state, id, move |conn| {
        users::update_profile(
            conn,
            id,
            &checked.profile,
            checked.unionid.as_deref(),
            clock::now(),
        )
    })
    .await
}

/// The profile fill-in: only the fields sent change, and a bad one changes
/// nothing.
pub async fn patch(state: &AppState, id: i64, body: &Map<String, Value>) -> ServiceResult<User> {
    let update = parse_profile_patch(body).map_err(ServiceError::Invalid)?;
    change_user(state, id, move |conn| {
        users::update_profile(conn, id, &update, None, clock::now())
    })
    .await
}

/// Asks WeChat for the user's phone number with a code from
/// `<button open-type="getPhoneNumber">`, and stores it.
pub async fn bind_phone(
    state: &AppState,
    user: &User,
    code: &str,
) -> ServiceResult<(PhoneNumber, User)> {
    let phone = state
        .apps
        .of_identity(&user.appid)?
        .api
        .phone_number(code, &user.openid)
        .await
        .map_err(ServiceError::PhoneCode)?;
    let id = user.id;
    let stored = phone.clone();
    let user = change_user(state, id, move |conn| {
        users::set_phone(
            conn,
            id,
            &stored.pure_phone_number,
            &stored.country_code,
            clock::now(),
        )
    })
    .await?;
    tracing::info!(user_id = id, "phone number bound");
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
/// `base_url`. Nothing is kept when the user cannot be updated.
pub async fn set_avatar(
    state: &AppState,
    id: i64,
    image: Vec<u8>,
    base_url: &str,
) -> ServiceResult<User> {
    let media = state.media.clone();
    let name = blocking(move || media.store_avatar(&image)).await?;
    let update = ProfileUpdate {
        avatar_url: Some(MediaStore::avatar_url(base_url, &name)),
        ..Default::default()
    };
    let updated = change_user(state, id, move |conn| {
        users::update_profile(conn, id, &update, None, clock::now())
    })
    .await;
    if updated.is_err() {
        let media = state.media.clone();
        let _ = blocking(move || {
            media.remove(&name);
            Ok(())
        })
        .await;
    } else {
        tracing::info!(user_id = id, %name, "avatar uploaded");
    }
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
