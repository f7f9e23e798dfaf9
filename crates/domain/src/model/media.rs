//! Image and video statuses: captions, media as clients give it, and media ready to send.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use super::InvalidValue;

/// The caption under an image or video status: 1 to [`Caption::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Caption(String);

impl Caption {
    /// WhatsApp clients cut longer captions.
    pub const MAX_CHARS: usize = 1024;

    /// A caption, or `None` for an empty or blank one (a status without a caption).
    pub fn new(raw: impl Into<String>) -> Result<Option<Self>, InvalidValue> {
        let raw = raw.into();
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let chars = raw.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue::new(
                "caption",
                "caption_too_long",
                format!("the caption has {chars} characters; a status allows at most {}", Self::MAX_CHARS),
            ));
        }
        Ok(Some(Self(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Image or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        })
    }
}

/// Where the media of a publish request comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A URL for the server to fetch.
    Url(String),
    /// Base64 as the client sent it (standard or URL-safe, perhaps with a `data:` prefix); the
    /// media adapter decodes it under its size limits.
    Base64(String),
    /// Bytes in hand: an uploaded file.
    Bytes(Bytes),
}

/// Kept short: base64 and bytes can be megabytes long.
impl fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaSource::Url(url) => f.debug_tuple("Url").field(url).finish(),
            MediaSource::Base64(data) => write!(f, "Base64({} characters)", data.len()),
            MediaSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// Media as a client gave it, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInput {
    pub source: MediaSource,
    /// The type the client declared (`mime_type`); it must agree with the bytes.
    pub declared_mime: Option<String>,
}

/// Media checked and prepared for sending: exactly what a driver uploads.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedMedia {
    pub kind: MediaKind,
    pub mime_type: String,
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    /// Whole seconds, for videos.
    pub duration_secs: Option<u32>,
    /// A small JPEG preview.
    pub thumbnail: Bytes,
    /// The thumbnail is a neutral placeholder, not a frame of the video.
    pub thumbnail_is_placeholder: bool,
}

impl PreparedMedia {
    /// What is kept with the status.
    pub fn meta(&self) -> MediaMeta {
        MediaMeta {
            mime_type: self.mime_type.clone(),
            size_bytes: self.bytes.len() as u64,
            width: self.width,
            height: self.height,
            duration_secs: self.duration_secs,
        }
    }
}

/// Kept out of logs: a `Debug` of the bytes would be megabytes long.
impl fmt::Debug for PreparedMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMedia")
            .field("kind", &self.kind)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.bytes.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("duration_secs", &self.duration_secs)
            .field("thumbnail", &self.thumbnail.len())
            .field("thumbnail_is_placeholder", &self.thumbnail_is_placeholder)
            .finish()
    }
}

/// What a status keeps about its media (not the bytes themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaMeta {
    pub mime_type: String,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub duration_secs: Option<u32>,
}

/// An image or video status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStatus {
    pub caption: Option<Caption>,
    pub media: MediaMeta,
    /// The URL the media was fetched from; `None` for media sent in the request.
    pub source_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_are_optional_and_bounded() {
        assert_eq!(Caption::new("").unwrap(), None);
        assert_eq!(Caption::new("  ").unwrap(), None);
        assert_eq!(Caption::new("Weekend vibes").unwrap().unwrap().as_str(), "Weekend vibes");
        assert!(Caption::new("é".repeat(1024)).unwrap().is_some());
        assert_eq!(Caption::new("é".repeat(1025)).unwrap_err().code, "caption_too_long");
    }

    #[test]
    fn prepared_media_debug_is_short() {
        let media = PreparedMedia {
            kind: MediaKind::Image,
            mime_type: "image/jpeg".into(),
            bytes: Bytes::from(vec![0u8; 100_000]),
            width: 1,
            height: 1,
            duration_secs: None,
            thumbnail: Bytes::new(),
            thumbnail_is_placeholder: false,
        };
        assert!(format!("{media:?}").len() < 300);
        assert_eq!(media.meta().size_bytes, 100_000);
    }
}
