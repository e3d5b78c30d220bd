//! The API's one error type and its mapping to HTTP, the only one: every
//! error answers `{"error": {"code": "...", "message": "..."}}`; causes are
//! logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;
use crate::media::MediaError;
use crate::service::ServiceError;
use crate::wechat::crypto::CryptoError;
use crate::wechat::push::PushError;
use crate::wechat::{errcode, WechatError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request of the wrong shape: the message says how.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the file is larger than {0} bytes")]
    FileTooLarge(usize),
    /// The body came too slowly, or was cut off to make room for others.
    #[error("the request body did not arrive in time; send the request again")]
    BodyTimeout,
    /// No `Authorization` header, or one that holds no token.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("there is nothing at this address")]
    NotFound,
    /// The methods the address has, for `Allow`.
    #[error("this method is not allowed here")]
    MethodNotAllowed(&'static str),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::Service(e.into())
    }
}

/// The machine-readable `error.code` of every error answer. Clients branch
/// on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    Forbidden,
    InvalidClient,
    NotFound,
    MethodNotAllowed,
    UnknownApp,
    InvalidSignature,
    WatermarkMismatch,
    DecryptFailed,
    InvalidUserData,
    SessionKeyStale,
    InvalidPhoneCode,
    InvalidCode,
    CodeUsed,
    Conflict,
    RateLimited,
    UserBlocked,
    RiskyUser,
    ContentRejected,
    InvalidPush,
    PushRefused,
    WechatUnavailable,
    Unavailable,
    Draining,
    InternalError,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    code: ErrorCode,
    /// What went wrong and what to do, in a sentence for people.
    message: String,
    /// WeChat's own errcode, when WeChat refused the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    wechat_errcode: Option<i64>,
    /// WeChat's content label, when its content check refused the text
    /// (`content_rejected`): 20002 pornography, 20006 crime, …
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<i64>,
}

fn is_phone_code_error(e: &WechatError) -> bool {
    matches!(e, WechatError::Api { errcode, .. } if matches!(*errcode, errcode::INVALID_CODE | errcode::CODE_USED))
}

const INTERNAL: (StatusCode, ErrorCode) =
    (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError);
const UNAVAILABLE: (StatusCode, ErrorCode) =
    (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable);

impl ApiError {
    /// The HTTP status and the machine-readable code of the error body.
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        use ServiceError as S;
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            Self::PayloadTooLarge(_) | Self::FileTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            Self::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            Self::Unauthorized(_) | Self::Service(S::Unauthenticated(_)) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized)
            }
            Self::Service(S::BadClient) => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient),
            Self::NotFound | Self::Service(S::NotFound | S::Media(MediaError::NotFound)) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            Self::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            }
            Self::Service(e) => match e {
                S::Forbidden { .. } => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
                S::SecondFactor(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                S::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                S::UnknownApp(_) => (StatusCode::BAD_REQUEST, ErrorCode::UnknownApp),
                S::InvalidUserData(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidUserData),
                S::SessionKeyStale(_) => (StatusCode::CONFLICT, ErrorCode::SessionKeyStale),
                S::UserData(error) => match error {
                    CryptoError::BadSignature => {
                        (StatusCode::BAD_REQUEST, ErrorCode::InvalidSignature)
                    }
                    CryptoError::NoWatermark
                    | CryptoError::WatermarkMismatch
                    | CryptoError::OpenIdMismatch => {
                        (StatusCode::BAD_REQUEST, ErrorCode::WatermarkMismatch)
                    }
                    CryptoError::BadBase64(_)
                    | CryptoError::BadLength(..)
                    | CryptoError::BadKey
                    | CryptoError::BadPadding
                    | CryptoError::NotJson
                    | CryptoError::RawNotJson => {
                        (StatusCode::BAD_REQUEST, ErrorCode::DecryptFailed)
                    }
                },
                S::PhoneCode(e) if is_phone_code_error(e) => {
                    (StatusCode::BAD_REQUEST, ErrorCode::InvalidPhoneCode)
                }
                S::PhoneCode(e) | S::Wechat(e) => wechat_status(e),
                S::CodeUsed => (StatusCode::BAD_REQUEST, ErrorCode::CodeUsed),
                S::RiskyUser => (StatusCode::FORBIDDEN, ErrorCode::RiskyUser),
                S::ContentRejected { .. } => (StatusCode::BAD_REQUEST, ErrorCode::ContentRejected),
                S::Push(
                    PushError::BadSignature
                    | PushError::BadMsgSignature
                    | PushError::MissingMsgSignature
                    | PushError::WrongAppid
                    | PushError::NotEncrypted
                    | PushError::DecryptFailed,
                ) => (StatusCode::FORBIDDEN, ErrorCode::PushRefused),
                S::Push(PushError::TooLarge) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
                }
                S::Push(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidPush),
                S::PushReplayed => (StatusCode::CONFLICT, ErrorCode::Conflict),
                S::Db(DbError::Conflict) => (StatusCode::CONFLICT, ErrorCode::Conflict),
                S::Refused(refusal) if refusal.is_conflict() => {
                    (StatusCode::CONFLICT, ErrorCode::Conflict)
                }
                S::Refused(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                S::Media(MediaError::Io(_)) => INTERNAL,
                S::Media(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                S::Db(DbError::Unavailable(_) | DbError::StorageFailing(_)) => UNAVAILABLE,
                S::Draining => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Draining),
                S::Db(_) | S::Internal(_) => INTERNAL,
                S::Unauthenticated(_) | S::NotFound | S::BadClient => {
                    unreachable!("matched above")
                }
            },
        }
    }

    /// The sentence shown to the client.
    fn message(&self) -> String {
        use ServiceError as S;
        match self {
            Self::Service(S::SessionKeyStale(Some(_))) => {
                "WeChat could not confirm the session key of your last login, so this data cannot be checked. \
                 Call wx.login(), log in with the new code (POST /api/login), get the user data anew, then send it again"
                    .into()
            }
            Self::Service(S::PhoneCode(e)) if is_phone_code_error(e) => {
                "WeChat says the phone code is invalid, expired or already used; ask again with <button open-type=\"getPhoneNumber\">".into()
            }
            Self::Service(S::PhoneCode(e) | S::Wechat(e)) => wechat_message(e),
            Self::Service(S::NotFound | S::Media(MediaError::NotFound)) => {
                Self::NotFound.to_string()
            }
            Self::Service(S::Db(DbError::Unavailable(_) | DbError::StorageFailing(_))) => {
                "the service is temporarily unavailable; try again shortly".into()
            }
            Self::Service(S::Db(DbError::Conflict)) => "the record already exists".into(),
            Self::Service(S::Db(_) | S::Internal(_) | S::Media(MediaError::Io(_))) => {
                "an internal error occurred".into()
            }
            Self::Service(e) => e.to_string(),
            other => other.to_string(),
        }
    }

    /// Logs what the client is not told.
    fn log(&self) {
        use ServiceError as S;
        match self {
            Self::Service(
                S::Wechat(e @ WechatError::TokenStore(cause))
                | S::PhoneCode(e @ WechatError::TokenStore(cause)),
            ) => {
                tracing::error!(error = %e, %cause, "database error");
            }
            Self::Service(S::Wechat(e) | S::PhoneCode(e)) => {
                tracing::warn!(error = %e, "WeChat call failed");
            }
            Self::Service(S::UserData(error) | S::InvalidUserData(error)) => {
                tracing::info!(%error, "user data refused");
            }
            Self::Service(S::SessionKeyStale(None)) => {
                tracing::info!(
                    "user data refused: WeChat says the stored session key was replaced"
                );
            }
            Self::Service(S::SessionKeyStale(Some(e))) => {
                tracing::warn!(error = %e, "user data refused: checksession failed");
            }
            Self::Service(S::Db(e)) => {
                let cause = std::error::Error::source(e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::error!(error = %e, %cause, "database error");
            }
            Self::Service(S::Media(MediaError::Io(e))) => {
                tracing::error!(error = %e, "file storage error");
            }
            Self::Service(S::Internal(e)) => tracing::error!(error = %e, "internal error"),
            _ => {}
        }
    }
}

/// The sentence shown for a failed WeChat call.
fn wechat_message(e: &WechatError) -> String {
    match e {
        WechatError::Api { errcode, .. } => match *errcode {
            errcode::INVALID_CODE => {
                "WeChat says the login code is invalid or expired; call wx.login() again".into()
            }
            errcode::CODE_USED => {
                "WeChat says the login code was already used; call wx.login() again and log in with the new code".into()
            }
            errcode::MINUTE_QUOTA => {
                "WeChat's per-minute login quota is used up; try again in a minute".into()
            }
            errcode::HIGH_RISK_USER => "WeChat has blocked this user as high-risk".into(),
            errcode::SYSTEM_BUSY => "WeChat is busy; try again shortly".into(),
            n => format!("WeChat refused the request (errcode {n})"),
        },
        WechatError::Timeout => "WeChat did not answer in time; try again".into(),
        WechatError::TokenStore(_) => {
            "the service is temporarily unavailable; try again shortly".into()
        }
        _ => "WeChat could not be reached or gave an answer that was not understood; try again"
            .into(),
    }
}

/// How a failed WeChat call is answered.
fn wechat_status(e: &WechatError) -> (StatusCode, ErrorCode) {
    match e {
        WechatError::Api { errcode, .. } => match *errcode {
            errcode::INVALID_CODE => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCode),
            // A used code is the client's mistake (a retry after the window,
            // say), not an unknown user: it must call wx.login() again.
            errcode::CODE_USED => (StatusCode::BAD_REQUEST, ErrorCode::CodeUsed),
            errcode::MINUTE_QUOTA => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            errcode::HIGH_RISK_USER => (StatusCode::FORBIDDEN, ErrorCode::UserBlocked),
            _ => (StatusCode::BAD_GATEWAY, ErrorCode::WechatUnavailable),
        },
        // The database, not WeChat, failed.
        WechatError::TokenStore(_) => UNAVAILABLE,
        _ => (StatusCode::BAD_GATEWAY, ErrorCode::WechatUnavailable),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        self.log();
        let wechat_errcode = match self {
            Self::Service(
                ServiceError::Wechat(WechatError::Api { errcode, .. })
                | ServiceError::PhoneCode(WechatError::Api { errcode, .. })
                | ServiceError::SessionKeyStale(Some(WechatError::Api { errcode, .. })),
            ) => Some(*errcode),
            _ => None,
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // WeChat's quota is per minute.
            response.insert_header(("Retry-After", "60"));
        }
        if let Self::MethodNotAllowed(allow) = self {
            response.insert_header(("Allow", *allow));
        }
        if matches!(self, Self::Service(ServiceError::BadClient)) {
            response.insert_header(("WWW-Authenticate", r#"Basic realm="wxlogin""#));
        } else if status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        let label = match self {
            Self::Service(ServiceError::ContentRejected { label }) => Some(*label),
            _ => None,
        };
        response.json(ErrorBody {
            error: ErrorDetail {
                code,
                message: self.message(),
                wechat_errcode,
                label,
            },
        })
    }
}

/// Gives a JSON body to the error answers that the framework makes itself
/// inside the application (a body it cannot decode, say), so that every API
/// error has the same shape. The admin site's errors are pages, and are
/// left alone.
pub fn json_error_bodies<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::http::header;
    use actix_web::middleware::ErrorHandlerResponse;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || res.request().path().starts_with("/admin") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "there is nothing at this address"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this method is not allowed here",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "the request did not arrive in time",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Unavailable,
            "the service is temporarily unavailable; try again shortly",
        ),
        s if s.is_server_error() => (ErrorCode::InternalError, "an internal error occurred"),
        _ => (ErrorCode::InvalidRequest, "the request could not be read"),
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status);
    for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE, header::ALLOW] {
        if let Some(value) = old.headers().get(&name) {
            new.insert_header((name, value.clone()));
        }
    }
    let new = new.json(ErrorBody {
        error: ErrorDetail {
            code,
            message: message.to_owned(),
            wechat_errcode: None,
            label: None,
        },
    });
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_invariant_is_an_internal_error_not_a_404() {
        let e = ApiError::from(DbError::Invariant("the upsert returned no row for a login"));
        assert_eq!(e.status_and_code(), INTERNAL);
        assert_eq!(e.message(), "an internal error occurred");
        assert_eq!(
            ApiError::from(DbError::NotFound).status_and_code().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(DbError::Conflict).status_and_code().0,
            StatusCode::CONFLICT
        );
    }
}
