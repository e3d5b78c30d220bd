//! Avatar upload (`POST /api/me/avatar`) and serving (`GET /media/avatars/NAME`).
//!
//! Uploads are recognised by their magic bytes, written under a temporary
//! name and renamed into place once complete, so a failed upload never
//! leaves a file behind. Stored names are random and are the only names
//! that `/media/avatars/` serves, which rules out path traversal.

use std::io::Write;
use std::path::{Path, PathBuf};

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use rand::rngs::OsRng;
use rand::TryRngCore;

use super::auth::Authenticated;
use super::error::ApiError;
use super::UserBody;
use crate::app::AppState;
use crate::db::{self, users};

/// Largest avatar accepted: 2 MiB.
pub const MAX_AVATAR_BYTES: usize = 2 * 1024 * 1024;
/// Largest upload request read, preamble and part headers included. Past
/// it, the request is refused without reading further.
pub const MAX_UPLOAD_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Widest and tallest avatar accepted, in pixels: a small file can claim a
/// huge image, which whoever decodes it would have to hold in memory.
pub const MAX_AVATAR_PIXELS: usize = 4096;
/// Temporary files of uploads in progress start with this.
const TEMP_PREFIX: &str = ".upload-";

/// Where uploaded files live and how their URLs are made.
#[derive(Debug, Clone)]
pub struct MediaStore {
    pub avatars_dir: PathBuf,
    /// Base URL of the server, without a trailing slash; `None` means "from
    /// the upload request".
    pub public_url: Option<String>,
}

impl MediaStore {
    /// Creates the directories if missing and removes temporary files left
    /// by a crash. Blocking: call it off the async workers.
    pub fn prepare(data_dir: &Path, public_url: Option<String>) -> std::io::Result<Self> {
        let avatars_dir = data_dir.join("avatars");
        std::fs::create_dir_all(&avatars_dir)?;
        for entry in std::fs::read_dir(&avatars_dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            avatars_dir,
            public_url,
        })
    }
}

/// An image format that avatars may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Webp,
}

impl ImageKind {
    /// Recognises PNG, JPEG and WebP by their first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "png" => Some(Self::Png),
            "jpg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Webp => "WebP",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random generator failed");
    hex::encode(bytes)
}

/// The kind of a stored file's name: 32 lowercase hex digits and a known
/// extension. Anything else is not ours.
fn parse_stored_name(name: &str) -> Option<ImageKind> {
    let (stem, ext) = name.split_once('.')?;
    let stem_ok = stem.len() == 32
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    stem_ok.then(|| ImageKind::from_extension(ext)).flatten()
}

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

/// Writes the file under a temporary name and renames it into place.
fn store(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!("{TEMP_PREFIX}{}.tmp", random_hex()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(name))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Storage(std::io::Error::other(e)))?
        .map_err(ApiError::Storage)
}

/// The base of URLs to this server: the configured public URL, else the
/// scheme and host that the request came in on. `Forwarded` and
/// `X-Forwarded-*` name them only behind a trusted proxy (`--trust-proxy`):
/// from anyone else they would let a client point stored URLs at any site.
fn base_url(media: &MediaStore, req: &HttpRequest, trust_proxy: bool) -> Result<String, ApiError> {
    if let Some(url) = &media.public_url {
        return Ok(url.clone());
    }
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

/// Checks what the image's header says: the format must be the one its
/// magic bytes named, and its size at most [`MAX_AVATAR_PIXELS`] a side.
fn check_image(bytes: &[u8], kind: ImageKind) -> Result<(), ApiError> {
    let mismatch = || {
        ApiError::InvalidRequest(format!(
            "the file starts like a {} image but its header is not a valid one",
            kind.name()
        ))
    };
    let format = imagesize::image_type(bytes).map_err(|_| mismatch())?;
    let same = matches!(
        (format, kind),
        (imagesize::ImageType::Png, ImageKind::Png)
            | (imagesize::ImageType::Jpeg, ImageKind::Jpeg)
            | (imagesize::ImageType::Webp, ImageKind::Webp)
    );
    if !same {
        return Err(mismatch());
    }
    let size = imagesize::blob_size(bytes).map_err(|_| mismatch())?;
    if size.width == 0 || size.height == 0 {
        return Err(mismatch());
    }
    if size.width > MAX_AVATAR_PIXELS || size.height > MAX_AVATAR_PIXELS {
        return Err(ApiError::InvalidRequest(format!(
            "the image is {}×{} pixels; an avatar may be at most {MAX_AVATAR_PIXELS}×{MAX_AVATAR_PIXELS}",
            size.width, size.height
        )));
    }
    Ok(())
}

/// `POST /api/me/avatar` (multipart, field `file`): stores the image and
/// sets the user's avatar_url to it. The token is checked before any of the
/// body is read.
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
    let base = base_url(&state.media, &req, state.trust_proxy)?;
    let mut payload = Multipart::new(
        req.headers(),
        Limited {
            payload: body,
            left: MAX_UPLOAD_REQUEST_BYTES,
            done: false,
        },
    );
    let bytes = read_file_field(&mut payload).await?;
    if bytes.is_empty() {
        return Err(bad_upload("the file is empty"));
    }
    let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
        ApiError::InvalidRequest("the file is not a PNG, JPEG or WebP image".into())
    })?;
    check_image(&bytes, kind)?;
    let name = format!("{}.{}", random_hex(), kind.extension());
    let dir = state.media.avatars_dir.clone();
    {
        let (dir, name) = (dir.clone(), name.clone());
        blocking(move || store(&dir, &name, &bytes)).await?;
    }
    let url = format!("{base}/media/avatars/{name}");
    let id = auth.user.id;
    let update = users::ProfileUpdate {
        avatar_url: Some(url),
        ..Default::default()
    };
    let updated = super::change_user(&state, id, move |conn| {
        users::update_profile(conn, id, &update, None, db::now())
    })
    .await;
    match updated {
        Ok(user) => {
            tracing::info!(user_id = id, %name, "avatar uploaded");
            Ok(UserBody::ok(user))
        }
        Err(e) => {
            // Nothing is kept when the user cannot be updated.
            let _ = blocking(move || std::fs::remove_file(dir.join(name))).await;
            Err(e.into())
        }
    }
}

/// `GET /media/avatars/NAME`.
pub async fn avatar(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let kind = parse_stored_name(&name).ok_or(ApiError::NotFound)?;
    let path = state.media.avatars_dir.join(&name);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Storage(std::io::Error::other(e)))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::NotFound,
            _ => ApiError::Storage(e),
        })?;
    Ok(HttpResponse::Ok()
        .content_type(kind.content_type())
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        // A name is never reused for other content.
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_magic_bytes() {
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\n rest"),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"RIFF\x10\0\0\0WAVE"), None);
        assert_eq!(ImageKind::sniff(b"hello, this is text"), None);
        assert_eq!(ImageKind::sniff(b"<svg xmlns="), None);
        assert_eq!(ImageKind::sniff(b""), None);
    }

    #[test]
    fn only_our_own_names_are_served() {
        let good = format!("{}.png", "0123456789abcdef".repeat(2));
        assert_eq!(parse_stored_name(&good), Some(ImageKind::Png));
        for bad in [
            "../wxlogin.db",
            "..%2Fwxlogin.db",
            &format!("{}.PNG", "0".repeat(32)),
            &format!("{}.svg", "0".repeat(32)),
            &format!("{}.png", "0".repeat(31)),
            &format!("{}.png", "A".repeat(32)),
            &format!(".upload-{}.tmp", "0".repeat(32)),
            &format!("{}.png.tmp", "0".repeat(32)),
            "",
        ] {
            assert_eq!(parse_stored_name(bad), None, "{bad}");
        }
    }
}
