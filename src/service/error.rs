//! The service layer's one error type. Each surface maps it once: the API
//! in `api/error.rs`, the admin site in `admin/error.rs`, the command line
//! by its message.

use crate::db::DbError;
use crate::media::MediaError;
use crate::wechat::crypto::CryptoError;
use crate::wechat::{UnknownApp, WechatError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that breaks a rule; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// Signed or encrypted user data that does not check out. `stored_key`
    /// tells whether it was checked against the session_key stored at the
    /// last login (rather than the one of the login being made).
    #[error("{error}")]
    UserData {
        error: CryptoError,
        stored_key: bool,
    },
    /// The login names an app this server does not serve, or none when it
    /// must.
    #[error(transparent)]
    UnknownApp(#[from] UnknownApp),
    /// WeChat refused or failed a login code exchange.
    #[error(transparent)]
    Wechat(WechatError),
    /// A login code that already logged in, whose session has ended since
    /// (or whose retry window is over).
    #[error(
        "this login code was already used; call wx.login() again and log in with the new code"
    )]
    CodeUsed,
    /// WeChat refused or failed a phone number exchange.
    #[error("{0}")]
    PhoneCode(WechatError),
    /// No live session: the token is unknown, expired or revoked.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A backend service's client id and secret do not match a live service.
    #[error("the client id and secret do not match a live service; create one with `wxlogin service create NAME`")]
    BadClient,
    /// What was asked for does not exist.
    #[error("not found")]
    NotFound,
    /// It exists already; the message says what.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(DbError),
    /// This node is shutting down (SIGTERM): another one should answer.
    #[error("this node is shutting down; send requests to another one")]
    Draining,
    /// Something that cannot happen did: a bug, answered as an internal error.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::NotFound,
            e => Self::Db(e),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
