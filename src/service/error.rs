//! The service layer's one error type. Each surface maps it once: the API
//! in `api/error.rs`, the admin site in `admin/error.rs`, the command line
//! by its message.

use crate::db::DbError;
use crate::domain::admin_role::AdminRole;
use crate::domain::password::PasswordError;
use crate::media::MediaError;
use crate::wechat::crypto::CryptoError;
use crate::wechat::push::PushError;
use crate::wechat::{UnknownApp, WechatError};

/// What WeChat's content-check labels mean.
pub fn label_meaning(label: i64) -> &'static str {
    match label {
        100 => "normal",
        10001 => "advertising",
        20001 => "politics",
        20002 => "pornography",
        20003 => "abuse",
        20006 => "crime",
        20008 => "fraud",
        20012 => "vulgarity",
        20013 => "copyright",
        _ => "other",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that breaks a rule; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// Signed or encrypted user data that does not check out: at a login,
    /// or later for a reason that no session_key explains.
    #[error("{0}")]
    UserData(CryptoError),
    /// User data checked later that fails with the stored session_key,
    /// which WeChat says is still the user's: the data is wrong.
    #[error("{0}; WeChat confirms that the session key it was checked with is current, so the data itself is wrong")]
    InvalidUserData(CryptoError),
    /// User data checked later that fails with the stored session_key,
    /// which WeChat says a newer `wx.login()` has replaced; or WeChat could
    /// not say (the cause). The client must log in again, then send fresh
    /// data.
    #[error("the session key of your last login has been replaced (another wx.login() does that), so this data cannot be checked. Call wx.login(), log in with the new code (POST /api/login), get the user data anew, then send it again")]
    SessionKeyStale(Option<WechatError>),
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
    /// Text that WeChat's content check calls risky, with its label.
    #[error("WeChat's content check refuses this text ({}); choose another", label_meaning(*label))]
    ContentRejected { label: i64 },
    /// A message push that does not check out: forged, for another app,
    /// stale or malformed.
    #[error("the push was refused: {0}")]
    Push(PushError),
    /// A push whose verdict was applied already.
    #[error("this push was received already; its verdict stands")]
    PushReplayed,
    /// A sign-up that WeChat ranks at or above the app's risk threshold.
    #[error("this sign-up is refused: WeChat rates the account as high-risk")]
    RiskyUser,
    /// WeChat refused or failed a phone number exchange.
    #[error("{0}")]
    PhoneCode(WechatError),
    /// No live session: the token is unknown, expired or revoked.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A backend service's client id and secret do not match a live service.
    #[error("the client id and secret do not match a live service; create one with `wxlogin service create NAME`")]
    BadClient,
    /// An admin's role does not allow the action; the refusal is audited.
    #[error("your role ({role}) cannot {action}; that needs the {needs} role or higher")]
    Forbidden {
        role: AdminRole,
        needs: AdminRole,
        action: &'static str,
    },
    /// A second factor (TOTP or recovery code) that does not pass, or a
    /// step of turning it on or off out of order.
    #[error("{0}")]
    SecondFactor(SecondFactorProblem),
    /// A change to accounts or admins that their state does not allow.
    #[error("{0}")]
    Refused(Refusal),
    /// What was asked for does not exist.
    #[error("not found")]
    NotFound,
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

/// Why a second factor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecondFactorProblem {
    #[error("type the 6 digits your authenticator app shows")]
    Malformed,
    #[error("that code is not right; check the time on your phone and try the next code")]
    WrongCode,
    #[error("that code was used already; wait for the next one")]
    Replayed,
    #[error("that recovery code is not right, or was used already")]
    WrongRecoveryCode,
    #[error("type the 6-digit code of your authenticator app, or one of your recovery codes (XXXXX-XXXXX)")]
    Unrecognised,
    #[error("two-factor sign-in is on already; turn it off first to get a new secret")]
    AlreadyOn,
    #[error("there is no secret waiting to be confirmed; start again")]
    NothingPending,
    #[error("this admin has no second factor")]
    NotOn,
}

/// Why a change to accounts, admins or services is refused. Each surface
/// words it once: the admin site from its catalogues, the API and the
/// command line with this English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no account {0}; give the id shown on the other account's page")]
    NoSuchAccount(i64),
    #[error("an account cannot be merged with itself; give another account's id")]
    MergeWithItself,
    #[error("accounts {0} and {1} both have a unionid from WeChat, and they differ: they are two people")]
    TwoUnionids(i64, i64),
    #[error("this is the account's only identity: there is nothing to unlink it from")]
    OnlyIdentity,
    #[error("WeChat gives this identity the account's unionid, so its next login would link it again; only identities linked by a merge can be unlinked")]
    OwnUnionid,
    #[error("this value no longer waits for review: it was decided already, or replaced by its user since")]
    ReviewDecided,
    #[error("{0} is the only owner; make another admin an owner first")]
    LastOwner(String),
    #[error("an admin name has 1 to 64 characters and no spaces")]
    AdminName,
    #[error("{0}")]
    Password(PasswordError),
    #[error("an admin with this name already exists")]
    AdminExists,
    #[error("a language is a tag such as zh-CN or en")]
    LanguageTag,
    #[error("a service name has 1 to 64 letters, digits, `.`, `_` or `-`")]
    ServiceName,
    #[error("a live service with this name already exists")]
    ServiceExists,
}

impl Refusal {
    /// Whether the refusal is about the stored state (409) rather than the
    /// request (400).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::TwoUnionids(..)
                | Self::ReviewDecided
                | Self::LastOwner(_)
                | Self::AdminExists
                | Self::ServiceExists
        )
    }
}
