//! The API's one error type and its mapping to HTTP. Every error answers
//! `{"error": {"code": "...", "message": "..."}}`; causes are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::media::MediaError;
use crate::wechat::crypto::CryptoError;
use crate::wechat::{errcode, WechatError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the file is larger than {0} bytes")]
    FileTooLarge(usize),
    /// The body came too slowly, or was cut off to make room for others.
    #[error("the request body did not arrive in time; send the request again")]
    BodyTimeout,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("there is nothing at this address")]
    NotFound,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// Signed or encrypted user data that does not check out. `stored_key`
    /// tells whether it was checked against the session_key stored at the
    /// last login (rather than the one of the login being made).
    #[error("{error}")]
    UserData {
        error: CryptoError,
        stored_key: bool,
    },
    #[error(transparent)]
    Wechat(#[from] WechatError),
    /// A failed phone number look-up: the code is the getPhoneNumber one.
    #[error("{0}")]
    Phone(WechatError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// An uploaded image refused, or a file that could not be stored or read.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    wechat_errcode: Option<i64>,
}

impl ApiError {
    /// The HTTP status and the machine-readable code of the error body.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::PayloadTooLarge(_) | Self::FileTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            Self::UserData { error, .. } => match error {
                CryptoError::BadSignature => (StatusCode::BAD_REQUEST, "invalid_signature"),
                CryptoError::NoWatermark
                | CryptoError::WatermarkMismatch
                | CryptoError::OpenIdMismatch => (StatusCode::BAD_REQUEST, "watermark_mismatch"),
                CryptoError::BadBase64(_)
                | CryptoError::BadLength(..)
                | CryptoError::BadKey
                | CryptoError::BadPadding
                | CryptoError::NotJson
                | CryptoError::RawNotJson => (StatusCode::BAD_REQUEST, "decrypt_failed"),
            },
            Self::Phone(WechatError::Api { errcode, .. })
                if matches!(*errcode, errcode::INVALID_CODE | errcode::CODE_USED) =>
            {
                (StatusCode::BAD_REQUEST, "invalid_phone_code")
            }
            Self::Phone(e) => wechat_status(e),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound | Self::Db(DbError::NotFound) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Wechat(e) => wechat_status(e),
            Self::Db(DbError::Unavailable(_) | DbError::StorageFailing(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Db(DbError::Conflict) => (StatusCode::CONFLICT, "conflict"),
            Self::Media(MediaError::NotFound) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Media(MediaError::Io(_)) | Self::Db(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
            Self::Media(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        }
    }

    /// The sentence shown to the client.
    fn message(&self) -> String {
        match self {
            Self::UserData { error, stored_key } => {
                if *stored_key && error.is_key_mismatch() {
                    format!(
                        "{error}: the session key has changed since this data was made (another wx.login() replaces it). \
                         Log in again with fresh data: call wx.login(), get the user data anew, and send \
                         the code with encryptedData and iv (and rawData and signature) to POST /api/login"
                    )
                } else {
                    error.to_string()
                }
            }
            Self::Phone(WechatError::Api { errcode, .. })
                if matches!(*errcode, errcode::INVALID_CODE | errcode::CODE_USED) =>
            {
                "WeChat says the phone code is invalid, expired or already used; ask again with <button open-type=\"getPhoneNumber\">".into()
            }
            Self::Phone(e) => wechat_message(e),
            Self::Wechat(e) => wechat_message(e),
            Self::Db(DbError::NotFound) => Self::NotFound.to_string(),
            Self::Db(DbError::Unavailable(_) | DbError::StorageFailing(_)) => {
                "the service is temporarily unavailable; try again shortly".into()
            }
            Self::Media(MediaError::NotFound) => Self::NotFound.to_string(),
            Self::Media(MediaError::Io(_)) | Self::Db(_) => "an internal error occurred".into(),
            other => other.to_string(),
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
                "WeChat says the login code was already used; call wx.login() again".into()
            }
            errcode::MINUTE_QUOTA => {
                "WeChat's per-minute login quota is used up; try again in a minute".into()
            }
            errcode::HIGH_RISK_USER => "WeChat has blocked this user as high-risk".into(),
            errcode::SYSTEM_BUSY => "WeChat is busy; try again shortly".into(),
            n => format!("WeChat refused the request (errcode {n})"),
        },
        WechatError::Timeout => "WeChat did not answer in time; try again".into(),
        _ => "WeChat could not be reached or gave an answer that was not understood; try again"
            .into(),
    }
}

/// How a failed WeChat call is answered.
fn wechat_status(e: &WechatError) -> (StatusCode, &'static str) {
    match e {
        WechatError::Api { errcode, .. } => match *errcode {
            errcode::INVALID_CODE | errcode::CODE_USED => {
                (StatusCode::UNAUTHORIZED, "invalid_code")
            }
            errcode::MINUTE_QUOTA => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            errcode::HIGH_RISK_USER => (StatusCode::FORBIDDEN, "user_blocked"),
            _ => (StatusCode::BAD_GATEWAY, "wechat_unavailable"),
        },
        _ => (StatusCode::BAD_GATEWAY, "wechat_unavailable"),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        match self {
            Self::Wechat(e) | Self::Phone(e) => tracing::warn!(error = %e, "WeChat call failed"),
            Self::UserData { error, stored_key } => {
                tracing::info!(%error, stored_key, "user data refused");
            }
            Self::Db(DbError::NotFound) => {}
            Self::Db(e) => {
                let cause = std::error::Error::source(e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::error!(error = %e, %cause, "database error");
            }
            Self::Media(MediaError::Io(e)) => tracing::error!(error = %e, "file storage error"),
            _ => {}
        }
        let wechat_errcode = match self {
            Self::Wechat(WechatError::Api { errcode, .. })
            | Self::Phone(WechatError::Api { errcode, .. }) => Some(*errcode),
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
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code,
                message: self.message(),
                wechat_errcode,
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
        StatusCode::NOT_FOUND => ("not_found", "there is nothing at this address"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request did not arrive in time"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the service is temporarily unavailable; try again shortly",
        ),
        s if s.is_server_error() => ("internal_error", "an internal error occurred"),
        _ => ("invalid_request", "the request could not be read"),
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
        },
    });
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, new).map_into_right_body(),
    ))
}
