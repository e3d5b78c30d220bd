//! The signed and encrypted user data as the API reads it, named as WeChat
//! names them.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::user_data::UserDataFields;

/// What `wx.getUserProfile()` or `wx.getUserInfo()` gives, passed on as it
/// is. `rawData` goes with `signature`, and `encryptedData` with `iv`. Empty
/// strings count as absent.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDataBody {
    raw_data: Option<String>,
    signature: Option<String>,
    encrypted_data: Option<String>,
    iv: Option<String>,
}

impl From<UserDataBody> for UserDataFields {
    fn from(body: UserDataBody) -> Self {
        Self {
            raw_data: body.raw_data,
            signature: body.signature,
            encrypted_data: body.encrypted_data,
            iv: body.iv,
        }
    }
}
