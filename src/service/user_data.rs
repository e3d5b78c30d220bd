//! Checking WeChat's signed and encrypted user data against a session_key.

use super::{ServiceError, ServiceResult};
use crate::domain::profile::{ProfileUpdate, SessionKey};
use crate::domain::user_data::UserDataFields;
use crate::wechat::crypto::{self, WechatUserInfo};

/// What verified user data adds to the user.
#[derive(Debug, Default)]
pub struct CheckedUserData {
    /// With WeChat's anonymous placeholders already dropped.
    pub profile: ProfileUpdate,
    pub unionid: Option<String>,
}

/// Verifies the signature, decrypts, checks the watermark and the openid,
/// and returns what is worth storing; with no user data, nothing to store.
/// `stored_key` says that `session_key` is the one stored at the user's
/// last login, not the one of a login being made, so that a failure can
/// say that the key has probably changed since.
pub fn verify(
    fields: &UserDataFields,
    session_key: &SessionKey,
    appid: &str,
    openid: &str,
    stored_key: bool,
) -> ServiceResult<CheckedUserData> {
    let fail = |error| ServiceError::UserData { error, stored_key };
    let mut info = None;
    if let Some((raw, signature)) = fields.signed() {
        crypto::verify_signature(raw, signature, session_key).map_err(fail)?;
        info = Some(WechatUserInfo::from_raw_data(raw).map_err(fail)?);
    }
    if let Some((data, iv)) = fields.encrypted() {
        // The decrypted data is the fuller one (it has the unionid).
        info = Some(WechatUserInfo::decrypt(session_key, data, iv, appid, openid).map_err(fail)?);
    }
    Ok(
        info.map_or_else(CheckedUserData::default, |info| CheckedUserData {
            profile: info.profile_update(),
            unionid: info.union_id().map(str::to_owned),
        }),
    )
}
