//! The signed and encrypted user data of `wx.getUserProfile()` /
//! `wx.getUserInfo()`, as the client sends it. Its checks against a
//! session_key are the service's (`service::user_data`).

use serde::Deserialize;

/// The user data fields, named as WeChat names them. Empty strings count as
/// absent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDataFields {
    pub raw_data: Option<String>,
    pub signature: Option<String>,
    pub encrypted_data: Option<String>,
    pub iv: Option<String>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl UserDataFields {
    /// `rawData` and its `signature`, when both are there.
    pub fn signed(&self) -> Option<(&str, &str)> {
        Some((present(&self.raw_data)?, present(&self.signature)?))
    }

    /// `encryptedData` and its `iv`, when both are there.
    pub fn encrypted(&self) -> Option<(&str, &str)> {
        Some((present(&self.encrypted_data)?, present(&self.iv)?))
    }

    /// Checks that the fields come in their pairs; `encrypted_required`
    /// makes `encryptedData` and `iv` mandatory. The error says what is wrong.
    pub fn check_shape(&self, encrypted_required: bool) -> Result<(), String> {
        let pair = |a: &str, va: &Option<String>, b: &str, vb: &Option<String>| match (
            present(va),
            present(vb),
        ) {
            (Some(_), None) => Err(format!("`{a}` needs `{b}` with it")),
            (None, Some(_)) => Err(format!("`{b}` needs `{a}` with it")),
            _ => Ok(()),
        };
        pair("rawData", &self.raw_data, "signature", &self.signature)?;
        pair("encryptedData", &self.encrypted_data, "iv", &self.iv)?;
        if encrypted_required && present(&self.encrypted_data).is_none() {
            return Err(
                "`encryptedData` and `iv` are required: send them as wx.getUserProfile() or wx.getUserInfo() gives them".into(),
            );
        }
        Ok(())
    }
}
