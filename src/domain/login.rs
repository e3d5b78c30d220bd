//! A login, as the login writer stores it.

use chrono::NaiveDateTime;

use super::profile::{ProfileUpdate, SessionKey};
use super::token::TokenHash;

/// What a successful code2session plus our new token add up to.
#[derive(Debug)]
pub struct LoginRecord {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub session_key: SessionKey,
    pub token_hash: TokenHash,
    pub expires_at: NaiveDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Verified profile data sent with the code; written in the same transaction.
    pub profile: ProfileUpdate,
    pub now: NaiveDateTime,
}
