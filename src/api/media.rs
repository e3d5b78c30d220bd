//! Avatar upload (`POST /api/me/avatar`) and serving (`GET /media/avatars/NAME`):
//! the multipart body and the URLs. The files themselves are `media`'s.

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::auth::Authenticated;
use super::error::{ApiError, ErrorBody};
use super::views::UserBody;
use crate::media::MAX_AVATAR_BYTES;
use crate::service::profile;
use crate::state::AppState;

/// Largest upload request read, preamble and part headers included. Past
/// it, the request is refused without reading further.
pub const MAX_UPLOAD_REQUEST_BYTES: usize = 8 * 1024 * 1024;

fn bad_upload(detail: &str) -> ApiError {
    ApiError::InvalidRequest(format!(
        "{detail}: send multipart/form-data with the image in the field `file` (as wx.uploadFile does with name: 'file')"
    ))
}

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => bad_upload("the body is not multipart/form-data"),
        MultipartError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::FileTooLarge(MAX_AVATAR_BYTES)
        }
        MultipartError::Payload(ref e) if crate::web::connections::is_body_timeout(e) => {
            ApiError::BodyTimeout
        }
        _ => bad_upload("the multipart body is malformed or incomplete"),
    }
}

/// Reads the `file` field, at most [`MAX_AVATAR_BYTES`] of it. The rest of
/// an oversized upload is read and thrown away (up to a bound), so that the
/// client gets its 413 rather than a reset connection.
async fn read_file_field(payload: &mut Multipart) -> Result<Vec<u8>, ApiError> {
    let mut image: Option<Vec<u8>> = None;
    let mut too_large = false;
    let mut total = 0usize;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(multipart_error)?;
        let is_file = field.name() == Some("file");
        if is_file && (image.is_some() || too_large) {
            return Err(bad_upload("there is more than one field `file`"));
        }
        let mut buf = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            total += chunk.len();
            if total > MAX_UPLOAD_REQUEST_BYTES {
                return Err(ApiError::FileTooLarge(MAX_AVATAR_BYTES));
            }
            if is_file && !over {
                if buf.len() + chunk.len() > MAX_AVATAR_BYTES {
                    over = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        if is_file {
            if over {
                too_large = true;
            } else {
                image = Some(buf);
            }
        }
    }
    if too_large {
        return Err(ApiError::FileTooLarge(MAX_AVATAR_BYTES));
    }
    image.ok_or_else(|| bad_upload("there is no field `file`"))
}

/// The base of URLs to this server: the configured public URL, else the
/// scheme and host that the request came in on. `Forwarded` and
/// `X-Forwarded-*` name them only behind a trusted proxy (`--trust-proxy`):
/// from anyone else they would let a client point stored URLs at any site.
fn base_url(state: &AppState, req: &HttpRequest) -> Result<String, ApiError> {
    if let Some(url) = profile::public_url(state) {
        return Ok(url.to_owned());
    }
    let trust_proxy = state.trust_proxy;
    let (scheme, host) = if trust_proxy {
        let info = req.connection_info();
        (info.scheme().to_owned(), info.host().to_owned())
    } else {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        // wxlogin itself speaks plain HTTP.
        ("http".to_owned(), host)
    };
    let host = host.as_str();
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !host_ok {
        return Err(ApiError::InvalidRequest(
            "the Host header is not a valid host name".into(),
        ));
    }
    let scheme = if scheme == "https" { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}

/// The request body, cut off with an overflow error once more than `limit`
/// bytes have come, whatever the framing (`Content-Length` or chunked). The
/// multipart reader buffers what it has not parsed yet (a body with no
/// boundary in it, say), so this is what bounds its memory and work.
struct Limited {
    payload: web::Payload,
    left: usize,
    done: bool,
}

impl futures_util::Stream for Limited {
    type Item = Result<bytes::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        let item = match self.payload.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        let item = match item {
            Some(Ok(chunk)) if chunk.len() > self.left => {
                Some(Err(actix_web::error::PayloadError::Overflow))
            }
            Some(Ok(chunk)) => {
                self.left -= chunk.len();
                return Poll::Ready(Some(Ok(chunk)));
            }
            other => other,
        };
        self.done = true;
        Poll::Ready(item)
    }
}

/// The body of an avatar upload, as `wx.uploadFile` sends it with
/// `name: 'file'`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body, for the document.
struct AvatarUpload {
    /// A PNG, JPEG or WebP image, at most 2 MiB.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
}

/// Stores an uploaded image and makes it the user's avatar.
///
/// The token is checked before any of the body is read.
#[utoipa::path(
    post,
    path = "/api/me/avatar",
    tag = "profile",
    security(("bearer" = [])),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The user, with `avatar_url` at the new image", body = super::views::UserBody),
        (status = 400, description = "`invalid_request`: not multipart, no field `file`, or not a PNG, JPEG or WebP image", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the image is larger than 2 MiB", body = ErrorBody),
    ),
)]
pub async fn upload_avatar(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Authenticated,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_REQUEST_BYTES as u64) {
        return Err(ApiError::FileTooLarge(MAX_AVATAR_BYTES));
    }
    let base = base_url(&state, &req)?;
    let mut payload = Multipart::new(
        req.headers(),
        Limited {
            payload: body,
            left: MAX_UPLOAD_REQUEST_BYTES,
            done: false,
        },
    );
    let bytes = read_file_field(&mut payload).await?;
    let user = profile::set_avatar(&state, &auth.user, bytes, &base).await?;
    Ok(UserBody::ok(&user, &state.data_keys))
}

/// An uploaded avatar.
#[utoipa::path(
    get,
    path = "/media/avatars/{name}",
    tag = "profile",
    params(("name" = String, Path, description = "The file name in `avatar_url`")),
    responses(
        (status = 200, description = "The image", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/webp"),
        )),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
)]
pub async fn avatar(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (bytes, kind) = profile::avatar_file(&state, name.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type(kind.content_type())
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        // A name is never reused for other content.
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .body(bytes))
}
