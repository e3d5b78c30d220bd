//! Checking WeChat's signed and encrypted user data against a session_key.
//!
//! At a login, the data is checked with the key that the login's own code
//! gave, so a failure is the data's fault. Later (`/api/me/userinfo`) it is
//! checked with the key stored at the identity's last login, and a failure
//! may only mean that the key has changed since: any `wx.login()` may make
//! WeChat replace it, and the data the mini-program gets after that is made
//! with the new key. So a failure that a wrong key explains is put to
//! WeChat's `checksession`: a key it no longer holds is stale, and the
//! client must log in again before it sends the data anew; a key it still
//! holds means the data is wrong.

use super::{ServiceError, ServiceResult};
use crate::db::identities::Identity;
use crate::domain::data_keys::DataKeys;
use crate::domain::profile::{ProfileUpdate, SessionKey};
use crate::domain::user_data::UserDataFields;
use crate::wechat::crypto::{self, CryptoError, WechatUserInfo};
use crate::wechat::{KeyCheck, WechatApp};

/// What verified user data adds to the user.
#[derive(Debug, Default)]
pub struct CheckedUserData {
    /// With WeChat's anonymous placeholders already dropped.
    pub profile: ProfileUpdate,
    pub unionid: Option<String>,
}

/// Verifies the signature, decrypts, checks the watermark and the openid,
/// and returns what is worth storing; with no user data, nothing to store.
/// `session_key` is the key of the login being made.
pub fn verify(
    fields: &UserDataFields,
    session_key: &SessionKey,
    appid: &str,
    openid: &str,
) -> ServiceResult<CheckedUserData> {
    check(fields, session_key, appid, openid).map_err(ServiceError::UserData)
}

/// Verifies user data with the session_key stored on `identity`. When it
/// fails in a way that a replaced key explains, WeChat is asked whether the
/// stored key is still the user's: if not (or if WeChat cannot say), the
/// answer is [`ServiceError::SessionKeyStale`]; if it is, the data is wrong,
/// [`ServiceError::InvalidUserData`]. Other failures (data that is not
/// base64, another app's watermark) need no question.
pub async fn verify_with_stored_key(
    fields: &UserDataFields,
    identity: &Identity,
    app: &WechatApp,
    keys: &DataKeys,
) -> ServiceResult<CheckedUserData> {
    let session_key = match keys.open_session_key(&identity.session_key) {
        Ok(key) => key,
        Err(error) => {
            // A key this node lacks (a rotation's old key not configured
            // here): a new login stores the user's key under the current one.
            tracing::error!(%error, identity = identity.id, "the stored session_key does not open; the user is asked to log in again");
            return Err(ServiceError::SessionKeyStale(None));
        }
    };
    let error = match check(fields, &session_key, &app.appid, &identity.openid) {
        Ok(checked) => return Ok(checked),
        Err(error) if error.is_key_mismatch() => error,
        Err(error) => return Err(ServiceError::UserData(error)),
    };
    match app
        .api
        .check_session_key(&identity.openid, &session_key)
        .await
    {
        Ok(KeyCheck::Current) => Err(ServiceError::InvalidUserData(error)),
        Ok(KeyCheck::Replaced) => Err(ServiceError::SessionKeyStale(None)),
        Err(unconfirmed) => Err(ServiceError::SessionKeyStale(Some(unconfirmed))),
    }
}

fn check(
    fields: &UserDataFields,
    session_key: &SessionKey,
    appid: &str,
    openid: &str,
) -> Result<CheckedUserData, CryptoError> {
    let mut info = None;
    if let Some((raw, signature)) = fields.signed() {
        crypto::verify_signature(raw, signature, session_key)?;
        info = Some(WechatUserInfo::from_raw_data(raw)?);
    }
    if let Some((data, iv)) = fields.encrypted() {
        // The decrypted data is the fuller one (it has the unionid).
        info = Some(WechatUserInfo::decrypt(
            session_key,
            data,
            iv,
            appid,
            openid,
        )?);
    }
    Ok(
        info.map_or_else(CheckedUserData::default, |info| CheckedUserData {
            profile: info.profile_update(),
            unionid: info.union_id().map(str::to_owned),
        }),
    )
}
