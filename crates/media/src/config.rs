//! Limits and switches of the media adapter, with safe defaults.
//!
//! The app reads this struct directly as the `media` section of its configuration, so each
//! field is a configuration key (`media.max_video_seconds`, …); durations are given in whole
//! seconds under `*_secs` keys.

use std::time::Duration;

use serde::Deserialize;

use crate::MediaKind;

/// How media is fetched, checked and prepared.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Accept `http://` media URLs, not only `https://`.
    pub allow_http: bool,
    /// Let media URLs reach loopback, private, link-local and other non-public addresses.
    /// For tests only.
    pub allow_private_networks: bool,
    /// The most redirects a fetch follows; each hop is checked like the first.
    pub max_redirects: usize,
    /// How long connecting to the origin may take (`connect_timeout_secs`).
    #[serde(rename = "connect_timeout_secs", deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// How long a whole fetch may take, headers and body included (`fetch_timeout_secs`).
    #[serde(rename = "fetch_timeout_secs", deserialize_with = "seconds")]
    pub fetch_timeout: Duration,
    /// The largest image accepted, in bytes (fetched, decoded from base64 or uploaded).
    pub max_image_bytes: usize,
    /// The largest video accepted, in bytes.
    pub max_video_bytes: usize,
    /// The most pixels an image may declare (width × height); more is a decompression bomb. The
    /// decoded image may also take at most 4 bytes per allowed pixel, so a 16-bit RGBA PNG may
    /// have only half as many.
    pub max_image_pixels: u64,
    /// The longest video a status may have, in seconds.
    pub max_video_seconds: u32,
    /// Re-encode every image as JPEG, as the official clients do.
    pub normalize_images_to_jpeg: bool,
    /// When normalising to JPEG, images whose longer edge exceeds this are scaled down before
    /// encoding (the longer edge becomes this many pixels, the aspect ratio is kept), as
    /// WhatsApp's own clients do. Clamped to 1..=65535. Originals kept as they are are not scaled.
    pub max_image_edge: u32,
    /// The longer edge of thumbnails, in pixels.
    pub thumbnail_edge: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private_networks: false,
            max_redirects: 5,
            connect_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(30),
            max_image_bytes: 16 * 1024 * 1024,
            max_video_bytes: 64 * 1024 * 1024,
            max_image_pixels: 64_000_000,
            max_video_seconds: 60,
            normalize_images_to_jpeg: true,
            max_image_edge: 2560,
            thumbnail_edge: 100,
        }
    }
}

impl MediaConfig {
    /// The largest media accepted of `kind`, in bytes (of either kind when `None`).
    pub fn max_bytes(&self, kind: Option<MediaKind>) -> usize {
        match kind {
            Some(MediaKind::Image) => self.max_image_bytes,
            Some(MediaKind::Video) => self.max_video_bytes,
            None => self.max_image_bytes.max(self.max_video_bytes),
        }
    }

    /// The body limit of a route that carries media: the largest media as base64 (4/3 of its
    /// size), with room for the rest of the request.
    pub fn publish_body_limit(&self) -> usize {
        self.max_bytes(None).saturating_mul(4) / 3 + 1024 * 1024
    }
}

/// A duration written as whole seconds.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}
