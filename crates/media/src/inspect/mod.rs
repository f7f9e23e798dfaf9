//! What the bytes are: detected from their content, never from a URL or a declared type.
//!
//! [`inspect`] is the entry point: it detects the format from the magic numbers
//! ([`sniff`]), checks the declared type against it ([`check_declared`]) and reads the image
//! header ([`inspect_image`]) or the movie's box structure ([`inspect_video`]).
//!
//! Everything here is pure, synchronous and fast whatever the size of the input: images are
//! checked from their headers and a walk over their segment or chunk headers (no pixel is
//! decoded), videos from the headers of their boxes (the media data is skipped by its size).
//! The parsers never panic and never allocate memory in proportion to what a file declares.

mod bmff;
mod declared;
mod images;
mod jpeg;
mod png;
mod read;
mod sniff;
mod video;
mod webp;

use crate::{MediaConfig, MediaError, MediaFormat, MediaKind};

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

/// Detects the format of `bytes` from their magic numbers alone.
///
/// - JPEG: `FF D8 FF`; PNG: its 8-byte signature; WEBP: `RIFF`, a size, `WEBP`.
/// - MP4 and MOV, by the first ISO-BMFF box: an `ftyp` box whose major brand is `qt  ` is
///   MOV; any other brand is MP4, except the HEIF and AVIF brands (`heic`, `mif1`, `avif`, …),
///   which are still images and are not supported. A legacy QuickTime file without `ftyp`
///   whose first box is `moov`, `mdat`, `wide`, `free` or `skip` is MOV.
///
/// Anything else, including no bytes at all, is `None`.
pub fn sniff(bytes: &[u8]) -> Option<MediaFormat> {
    sniff::sniff(bytes)
}

/// Checks that a declared media type (the client's `mime_type`, or an upload part's content
/// type) does not contradict the format detected from the bytes.
///
/// The `Content-Type` an origin server announces for a fetched URL is not checked: the
/// pipeline ignores it (servers mislabel media too often for it to mean anything), and only the
/// bytes decide.
///
/// Only the essence counts (`type/subtype`, parameters dropped, case ignored). No declared
/// type, an empty one, `application/octet-stream`, `binary/octet-stream` and `*/*` say
/// nothing and pass; so do `image/*` for an image and `video/*` for a video. Common aliases
/// are accepted: `image/jpg` and `image/pjpeg` for JPEG, `image/x-png` for PNG, `video/mov`
/// and `video/x-quicktime` for MOV, `video/x-m4v` and `video/m4v` for MP4.
///
/// MP4 and MOV are interchangeable here: `video/mp4` declared for a QuickTime file, or
/// `video/quicktime` for an MP4, passes. Both are the same ISO-BMFF container family, read by
/// the same parser, and servers and phones mislabel one as the other all the time (an
/// iPhone's `.mov` is routinely served as `video/mp4`). The point of this check is to catch
/// content that is not what it claims (an HTML error page served as `image/jpeg`), not to
/// quibble over a brand; the detected format is what is used from here on anyway.
///
/// Any other disagreement — another image format, the other kind, or a type that is neither
/// (`text/html`) — is a [`MediaError::TypeMismatch`].
pub fn check_declared(declared: Option<&str>, detected: MediaFormat) -> Result<(), MediaError> {
    declared::check_declared(declared, detected)
}

/// Reads an image's dimensions from its header and checks that it is complete.
///
/// The dimensions come from the JPEG frame header, the PNG `IHDR` chunk or the WEBP `VP8 `,
/// `VP8L` or `VP8X` chunk; no pixel is decoded. A zero dimension is
/// [`MediaError::Corrupt`]; more than `config.max_image_pixels` pixels is
/// [`MediaError::TooManyPixels`], decided before the rest of the file is looked at, so a
/// decompression bomb costs microseconds.
///
/// Then the file must be complete, or it is [`MediaError::Corrupt`]:
/// - JPEG: a walk over the marker segments and the entropy-coded data (a search for `FF`
///   bytes) must reach the end-of-image marker `FF D9` after at least one scan. Data appended
///   after it (motion photos) is ignored.
/// - PNG: a walk over the chunk headers, skipping their data by length, must reach `IEND`
///   after at least one `IDAT` chunk.
/// - WEBP: the file must be at least as long as its RIFF size declares, and the chunks within
///   it must fit and include image data. Every frame's own header is read too, since a
///   decoder allocates for the size the frame declares, not the `VP8X` canvas: a still
///   image's `VP8 `/`VP8L` chunk must declare exactly the canvas size, an `ANMF` frame must
///   fit inside the canvas and its image chunk must declare exactly the frame's size. A frame
///   over `config.max_image_pixels` is [`MediaError::TooManyPixels`] (with the frame's size);
///   one within the limit that disagrees with the canvas or frame is `Corrupt`.
///
/// `format` must be an image format; a video format is [`MediaError::UnsupportedType`].
pub fn inspect_image(bytes: &[u8], format: MediaFormat, config: &MediaConfig) -> Result<ImageInfo, MediaError> {
    images::inspect_image(bytes, format, config)
}

/// Reads a movie's duration, first video track and layout from its box structure.
///
/// The top-level boxes are walked to the end of the file (a box that runs past the end is
/// [`MediaError::Corrupt`]); no `moov` box is [`MediaError::MissingMoov`]. The first track
/// whose `mdia/hdlr` handler is `vide` is the video track; there is none:
/// [`MediaError::NoVideoTrack`]. Its display size comes from `tkhd` (rotation by 90° or 270°
/// swaps width and height; a zero size falls back to the sample entry's), its codec from the
/// first sample entry in `mdia/minf/stbl/stsd`.
///
/// The duration is the longest of: `moov/mvhd` (versions 0 and 1; when it leaves the duration
/// unknown, `mvex/mehd` of a fragmented file), the video track's `mdhd` (required) and the sum
/// of its sample durations in `stts`, each in its own timescale (none at all is `Corrupt`), so
/// a short movie header cannot hide a long track.
///
/// The video track must have media data: at least one sample (`stsz`/`stz2`), unless the file
/// is fragmented (a top-level `moof`), and every chunk of it (offset from `stco`/`co64`, size
/// from `stsc` and the sample sizes) must lie inside the payload of an `mdat` box, with every
/// sample in a chunk. Otherwise the media data is missing, cut off or elsewhere: `Corrupt`.
///
/// Only H.264 (`avc1`, `avc3`) is accepted; anything else is
/// [`MediaError::UnsupportedCodec`]. HEVC (`hvc1`, `hev1`) is refused because many Android
/// WhatsApp clients cannot play it. A duration over `config.max_video_seconds` (compared in
/// milliseconds) is [`MediaError::VideoTooLong`].
///
/// `format` must be a video format; an image format is [`MediaError::UnsupportedType`].
pub fn inspect_video(bytes: &[u8], format: MediaFormat, config: &MediaConfig) -> Result<VideoInfo, MediaError> {
    video::inspect_video(bytes, format, config)
}

/// Inspects media: detects its format from the bytes, checks the declared type against it,
/// then inspects it as an image or a video.
///
/// No bytes at all is [`MediaError::Empty`]; bytes of no supported format are
/// [`MediaError::UnsupportedType`]. The size limits per kind are the caller's to apply (the
/// pipeline does, with the detected kind).
pub fn inspect(bytes: &[u8], declared_mime: Option<&str>, config: &MediaConfig) -> Result<Inspected, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let format = sniff(bytes).ok_or(MediaError::UnsupportedType)?;
    check_declared(declared_mime, format)?;
    match format.kind() {
        MediaKind::Image => inspect_image(bytes, format, config).map(Inspected::Image),
        MediaKind::Video => inspect_video(bytes, format, config).map(Inspected::Video),
    }
}

/// A [`MediaError::Corrupt`] with the given reason, for the parsers of this module.
fn corrupt(reason: impl Into<String>) -> MediaError {
    MediaError::Corrupt(reason.into())
}
