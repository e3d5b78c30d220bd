//! WeChat's message push (消息推送) for an app: `GET /wechat/push/{appid}`
//! (the URL check when the push URL is saved in WeChat's console) and
//! `POST /wechat/push/{appid}` (the pushes themselves: here the verdicts of
//! image checks). Answers are plain text, as WeChat expects; refusals are
//! the API's JSON errors.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use crate::service::content;
use crate::state::AppState;
use crate::wechat::push::PushQuery;

/// The query fields WeChat signs a push or URL check with.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PushParams {
    /// `sha1` over the sorted Token, `timestamp` and `nonce`.
    signature: String,
    /// Unix seconds; a push more than five minutes from the server's clock
    /// is refused.
    timestamp: String,
    nonce: String,
    /// In safe and compatible mode: `sha1` over the sorted Token,
    /// `timestamp`, `nonce` and the body's `Encrypt`.
    msg_signature: Option<String>,
    /// The URL check's text to answer with.
    echostr: Option<String>,
    /// `aes` in safe mode. Listed for the document; the body's `Encrypt`
    /// is what tells safe mode, and the signatures what can be trusted.
    #[allow(dead_code)]
    encrypt_type: Option<String>,
}

impl PushParams {
    fn query(&self) -> PushQuery<'_> {
        PushQuery {
            signature: &self.signature,
            timestamp: &self.timestamp,
            nonce: &self.nonce,
            msg_signature: self.msg_signature.as_deref(),
        }
    }
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// The URL check of WeChat's console: answers `echostr` when the signature
/// is the app's push Token's.
#[utoipa::path(
    get,
    path = "/wechat/push/{appid}",
    tag = "wechat",
    params(("appid" = String, Path, description = "The app whose push this is"), PushParams),
    responses(
        (status = 200, description = "`echostr`, as plain text", content_type = "text/plain", body = String),
        (status = 400, description = "`invalid_push`: no usable `echostr`", body = ErrorBody),
        (status = 403, description = "`push_refused`: the signature is not the app's", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or its message push is not set up", body = ErrorBody),
    ),
)]
pub async fn check_url(
    state: web::Data<AppState>,
    appid: web::Path<String>,
    params: web::Query<PushParams>,
) -> Result<HttpResponse, ApiError> {
    let echostr = params.echostr.as_deref().unwrap_or_default();
    let echo = content::check_push_url(&state, &appid, &params.query(), echostr)?;
    Ok(text(echo.to_owned()))
}

/// A push from WeChat: an image check's verdict (`wxa_media_check`), in
/// plaintext, compatible or safe mode, XML or JSON. Answers `success`;
/// other events are acknowledged and ignored.
#[utoipa::path(
    post,
    path = "/wechat/push/{appid}",
    tag = "wechat",
    params(("appid" = String, Path, description = "The app whose push this is"), PushParams),
    request_body(content = String, description = "The push, XML or JSON, as WeChat sends it", content_type = "application/json"),
    responses(
        (status = 200, description = "`success`, as plain text", content_type = "text/plain", body = String),
        (status = 400, description = "`invalid_push`: not XML or JSON, a stale timestamp, or an unknown trace id", body = ErrorBody),
        (status = 403, description = "`push_refused`: a signature that is not the app's, or an encrypted message for another app", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or its message push is not set up", body = ErrorBody),
        (status = 409, description = "`conflict`: this push's verdict was applied already (a replay)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over 64 KiB", body = ErrorBody),
    ),
)]
pub async fn receive(
    state: web::Data<AppState>,
    appid: web::Path<String>,
    params: web::Query<PushParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    content::receive_push(&state, &appid, &params.query(), &body).await?;
    Ok(text("success".into()))
}
