//! Talking to WeChat.
//!
//! [`WechatApi`] is what the rest of wxlogin uses. [`HttpWechat`] calls the
//! real API (or a test double at the configured base URL); [`Simulator`] is
//! the built-in stand-in of `--dev`.

pub mod access_token;
mod apps;
pub mod crypto;
mod http;
pub mod push;
mod simulator;

use std::fmt;

pub use apps::{UnknownApp, WechatApp, WechatApps};
pub use http::{HttpWechat, TokenSharing};
pub use push::{CheckResult, Suggest};
pub use simulator::Simulator;

use crate::domain::profile::SessionKey;

/// WeChat errcodes that wxlogin tells apart.
pub mod errcode {
    pub const SYSTEM_BUSY: i64 = -1;
    pub const INVALID_CODE: i64 = 40029;
    pub const CODE_USED: i64 = 40163;
    pub const MINUTE_QUOTA: i64 = 45011;
    pub const HIGH_RISK_USER: i64 = 40226;
    /// `checksession`: the signature does not match WeChat's current
    /// session_key of the user, so the key it was made with is no longer
    /// valid.
    pub const INVALID_SIGNATURE: i64 = 87009;
    /// The access token is invalid, not the latest, or expired: fetch a new
    /// one and retry once.
    pub const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];
}

/// A phone number from `getuserphonenumber`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    /// The number without its country code, e.g. `13800138000`.
    pub pure_phone_number: String,
    /// The country calling code, e.g. `86`.
    pub country_code: String,
}

/// A successful `jscode2session`.
pub struct Code2Session {
    pub openid: String,
    pub session_key: SessionKey,
    pub unionid: Option<String>,
}

impl fmt::Debug for Code2Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code2Session")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .finish_non_exhaustive()
    }
}

/// The WeChat layer's one error type. None of its messages carry the secret,
/// the code or a session_key.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero errcode.
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    #[error("WeChat did not answer within the timeout")]
    Timeout,
    /// Connection refused, reset, DNS failure, TLS failure…
    #[error("could not reach WeChat: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("WeChat answered HTTP {0}")]
    Status(u16),
    #[error("WeChat's answer could not be understood: {0}")]
    BadAnswer(&'static str),
    /// The fleet's store of access tokens (the database) failed.
    #[error("the shared access token could not be read or stored")]
    TokenStore(#[source] access_token::StoreError),
}

impl WechatError {
    /// The failure's kind, as a metrics label: `errcode_40xxx` for WeChat's
    /// refusals by family (`busy` for its -1), else how the call failed.
    pub fn outcome(&self) -> String {
        match self {
            Self::Api { errcode: -1, .. } => "busy".into(),
            Self::Api { errcode, .. } if (10_000..100_000).contains(errcode) => {
                format!("errcode_{}xxx", errcode / 1000)
            }
            Self::Api { .. } => "errcode_other".into(),
            Self::Timeout => "timeout".into(),
            Self::Transport(_) => "unreachable".into(),
            Self::Status(_) => "http_error".into(),
            Self::BadAnswer(_) => "bad_answer".into(),
            Self::TokenStore(_) => "token_store_failed".into(),
        }
    }
}

/// What WeChat says of a stored session_key (`checksession`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// It is the user's current key.
    Current,
    /// A newer `wx.login()` has replaced it.
    Replaced,
}

#[async_trait::async_trait]
pub trait WechatApi: Send + Sync {
    /// Exchanges a `wx.login()` code for the user's openid and session_key.
    async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError>;

    /// Exchanges a code from `<button open-type="getPhoneNumber">` for the
    /// phone number of the user with this openid.
    async fn phone_number(&self, code: &str, openid: &str) -> Result<PhoneNumber, WechatError>;

    /// Asks WeChat whether `session_key` is still the current key of the
    /// user with this openid (`/wxa/checksession`).
    async fn check_session_key(
        &self,
        openid: &str,
        session_key: &SessionKey,
    ) -> Result<KeyCheck, WechatError>;

    /// WeChat's verdict on text the user wrote into their profile
    /// (`/wxa/msg_sec_check` version 2, scene 1 资料, with their openid).
    async fn check_text(&self, openid: &str, content: &str) -> Result<CheckResult, WechatError>;

    /// Submits the image at `media_url`, which WeChat fetches itself, to
    /// `/wxa/media_check_async` (version 2, scene 1); returns the trace id
    /// under which the verdict comes later, by message push.
    async fn submit_image(&self, openid: &str, media_url: &str) -> Result<String, WechatError>;

    /// WeChat's risk rank of the user with this openid at sign-up
    /// (`/wxa/getuserriskrank`, scene 0), from 0 (lowest risk) to 4.
    async fn user_risk_rank(&self, openid: &str, client_ip: &str) -> Result<u8, WechatError>;
}
