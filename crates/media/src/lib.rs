//! The media adapter: turns what a client gives (a URL, base64 data or an upload) into media
//! that WhatsApp will show, or refuses it early with a precise error.
//!
//! Three stages, each its own module:
//! - [`fetch`]: server-side fetching of `media.url` that cannot be turned against the server
//!   (SSRF): every address of the host is checked before connecting, on every redirect hop, with
//!   time-outs and a size cap enforced while streaming.
//! - [`inspect`]: what the bytes are (never what the URL or the declared type says): JPEG, PNG,
//!   WEBP, MP4 or MOV; image dimensions from the header; video duration, codec, dimensions and
//!   whether `moov` precedes `mdat`.
//! - [`prepare`]: images normalised to JPEG with EXIF orientation applied, a small JPEG
//!   thumbnail for images and videos, the duration of videos in whole seconds.
//!
//! Every failure is a [`MediaError`] with a stable snake_case code.

pub mod config;
pub mod error;
pub mod fetch;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod inspect;
pub mod pipeline;
mod port;
pub mod prepare;
pub mod source;

pub use config::MediaConfig;
pub use error::MediaError;
pub use pipeline::MediaPipeline;
pub use source::{Decoded, Source, decode_base64};

/// The media formats wastatus accepts, as detected from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaFormat {
    Jpeg,
    Png,
    Webp,
    Mp4,
    /// QuickTime (`.mov`).
    Mov,
}

impl MediaFormat {
    pub const fn mime_type(self) -> &'static str {
        match self {
            MediaFormat::Jpeg => "image/jpeg",
            MediaFormat::Png => "image/png",
            MediaFormat::Webp => "image/webp",
            MediaFormat::Mp4 => "video/mp4",
            MediaFormat::Mov => "video/quicktime",
        }
    }

    pub const fn kind(self) -> MediaKind {
        match self {
            MediaFormat::Jpeg | MediaFormat::Png | MediaFormat::Webp => MediaKind::Image,
            MediaFormat::Mp4 | MediaFormat::Mov => MediaKind::Video,
        }
    }
}

/// Image or video: the domain's own notion, so requests and media speak of the same thing.
pub use wastatus_domain::MediaKind;
