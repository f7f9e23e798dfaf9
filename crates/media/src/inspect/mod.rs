//! What the bytes are: detected from their content, never from a URL or a declared type.

use crate::MediaFormat;

/// What inspecting an image found, from its header alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: MediaFormat,
    pub width: u32,
    pub height: u32,
}

/// What inspecting a video found, from its container header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInfo {
    pub format: MediaFormat,
    /// The movie's duration in milliseconds.
    pub duration_ms: u64,
    /// The display size of the first video track.
    pub width: u32,
    pub height: u32,
    /// The sample entry type of the first video track (`avc1`, `hvc1`, …).
    pub codec: String,
    /// Whether the `moov` box comes before `mdat` (playback can start before the download ends).
    pub moov_before_mdat: bool,
}

impl VideoInfo {
    /// The duration in whole seconds, rounded up, as WhatsApp shows it (at least 1).
    pub fn duration_secs(&self) -> u32 {
        u32::try_from(self.duration_ms.div_ceil(1000).max(1)).unwrap_or(u32::MAX)
    }
}

/// An image or a video, inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    Image(ImageInfo),
    Video(VideoInfo),
}
