//! Comparing a declared media type with the format detected from the bytes.

use crate::{MediaError, MediaFormat, MediaKind};

/// The longest declared type echoed back in a [`MediaError::TypeMismatch`], in characters.
const MAX_ECHOED_LEN: usize = 100;

/// Checks that a declared media type does not contradict the detected format.
///
/// See [`super::check_declared`] for the rules.
pub(super) fn check_declared(declared: Option<&str>, detected: MediaFormat) -> Result<(), MediaError> {
    let essence = match declared.map(essence) {
        None => return Ok(()),
        Some(essence) => essence,
    };
    if is_unspecific(&essence) || is_compatible(&essence, detected) {
        return Ok(());
    }
    Err(MediaError::TypeMismatch { declared: echoed(&essence), detected: detected.mime_type() })
}

/// The essence of a media type (`type/subtype`): parameters dropped, trimmed, lower case.
fn essence(declared: &str) -> String {
    let essence = declared.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// Whether the declared type says nothing about the content.
fn is_unspecific(essence: &str) -> bool {
    matches!(essence, "" | "application/octet-stream" | "binary/octet-stream" | "*/*")
}

/// Whether the declared type names the detected format, one of its aliases, its container
/// family (MP4 and QuickTime) or its kind with a wildcard (`image/*`, `video/*`).
fn is_compatible(essence: &str, detected: MediaFormat) -> bool {
    let declared = match canonical(essence) {
        Some(format) => format,
        None => return is_kind_wildcard(essence, detected.kind()),
    };
    declared == detected || (declared.kind() == MediaKind::Video && detected.kind() == MediaKind::Video)
}

/// The format a declared type names, with the common aliases servers and clients use.
fn canonical(essence: &str) -> Option<MediaFormat> {
    match essence {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(MediaFormat::Jpeg),
        "image/png" | "image/x-png" => Some(MediaFormat::Png),
        "image/webp" => Some(MediaFormat::Webp),
        "video/mp4" | "video/x-m4v" | "video/m4v" => Some(MediaFormat::Mp4),
        "video/quicktime" | "video/mov" | "video/x-quicktime" => Some(MediaFormat::Mov),
        _ => None,
    }
}

/// Whether the declared type is `image/*` for an image or `video/*` for a video.
fn is_kind_wildcard(essence: &str, kind: MediaKind) -> bool {
    match kind {
        MediaKind::Image => essence == "image/*",
        MediaKind::Video => essence == "video/*",
    }
}

/// The declared type as echoed in an error: at most [`MAX_ECHOED_LEN`] characters.
fn echoed(essence: &str) -> String {
    if essence.chars().count() <= MAX_ECHOED_LEN {
        return essence.to_owned();
    }
    let mut echoed: String = essence.chars().take(MAX_ECHOED_LEN).collect();
    echoed.push('…');
    echoed
}
