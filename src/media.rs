//! Uploaded avatars on disk.
//!
//! Uploads are recognised by their magic bytes and their header is read
//! (with `imagesize`): the format must be the one the magic bytes named, and
//! the image at most [`MAX_AVATAR_PIXELS`] a side, so a small file cannot
//! claim a huge image. A file is written under a temporary name and renamed
//! into place once complete, so a failed upload never leaves a file behind.
//! Stored names are random and are the only names served, which rules out
//! path traversal. Every function here blocks: call them off the async
//! workers.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::domain::random;

/// Largest avatar accepted: 2 MiB.
pub const MAX_AVATAR_BYTES: usize = 2 * 1024 * 1024;
/// Widest and tallest avatar accepted, in pixels.
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

/// Why an image was refused, or could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the file starts like a {} image but its header is not a valid one", .0.name())]
    BadHeader(ImageKind),
    #[error("the image is {width}×{height} pixels; an avatar may be at most {MAX_AVATAR_PIXELS}×{MAX_AVATAR_PIXELS}")]
    TooManyPixels { width: usize, height: usize },
    #[error("there is no such file")]
    NotFound,
    #[error("file storage failed")]
    Io(#[source] std::io::Error),
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

    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Webp => "WebP",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
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

/// Checks an uploaded image: its type from the magic bytes, and a header of
/// that type within the pixel limit.
pub fn check_image(bytes: &[u8]) -> Result<ImageKind, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let kind = ImageKind::sniff(bytes).ok_or(MediaError::NotAnImage)?;
    let format = imagesize::image_type(bytes).map_err(|_| MediaError::BadHeader(kind))?;
    let same = matches!(
        (format, kind),
        (imagesize::ImageType::Png, ImageKind::Png)
            | (imagesize::ImageType::Jpeg, ImageKind::Jpeg)
            | (imagesize::ImageType::Webp, ImageKind::Webp)
    );
    if !same {
        return Err(MediaError::BadHeader(kind));
    }
    let size = imagesize::blob_size(bytes).map_err(|_| MediaError::BadHeader(kind))?;
    if size.width == 0 || size.height == 0 {
        return Err(MediaError::BadHeader(kind));
    }
    if size.width > MAX_AVATAR_PIXELS || size.height > MAX_AVATAR_PIXELS {
        return Err(MediaError::TooManyPixels {
            width: size.width,
            height: size.height,
        });
    }
    Ok(kind)
}

impl MediaStore {
    /// Creates the directories if missing and removes temporary files left
    /// by a crash.
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

    /// Checks an avatar and stores it under a new random name, which it
    /// returns.
    pub fn store_avatar(&self, bytes: &[u8]) -> Result<String, MediaError> {
        let kind = check_image(bytes)?;
        let name = format!(
            "{}.{}",
            hex::encode(random::bytes::<16>()),
            kind.extension()
        );
        let temp = self.avatars_dir.join(format!(
            "{TEMP_PREFIX}{}.tmp",
            hex::encode(random::bytes::<16>())
        ));
        let written = (|| {
            let mut file = std::fs::File::create_new(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, self.avatars_dir.join(&name))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(MediaError::Io(e));
        }
        Ok(name)
    }

    /// Deletes a stored avatar; a name that is not ours does nothing.
    pub fn remove(&self, name: &str) {
        if parse_stored_name(name).is_some() {
            let _ = std::fs::remove_file(self.avatars_dir.join(name));
        }
    }

    /// A stored avatar and its type.
    pub fn read(&self, name: &str) -> Result<(Vec<u8>, ImageKind), MediaError> {
        let kind = parse_stored_name(name).ok_or(MediaError::NotFound)?;
        let bytes = std::fs::read(self.avatars_dir.join(name)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MediaError::NotFound,
            _ => MediaError::Io(e),
        })?;
        Ok((bytes, kind))
    }

    /// The URL of a stored avatar, under the server's `base` URL.
    pub fn avatar_url(base: &str, name: &str) -> String {
        format!("{base}/media/avatars/{name}")
    }

    /// The stored avatar an avatar URL of ours points at, if it is one.
    pub fn name_in(&self, url: &str) -> Option<String> {
        let name = url.rsplit_once("/media/avatars/")?.1;
        parse_stored_name(name).map(|_| name.to_owned())
    }
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
