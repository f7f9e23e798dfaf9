//! Image inspection: dimensions from the header, the pixel limit, then a completeness check.

use super::{ImageInfo, corrupt, jpeg, png, webp};
use crate::{MediaConfig, MediaError, MediaFormat};

/// What an image header declares, and where the completeness check resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub width: u32,
    pub height: u32,
    /// The offset at which the completeness check starts (after the header, for JPEG and PNG).
    pub rest: usize,
}

/// Reads an image header, or says why it cannot be read.
type HeaderFn = fn(&[u8]) -> Result<Header, MediaError>;

/// Checks that the rest of an image is structurally complete (not truncated) and, for WEBP,
/// that every frame inside it agrees with the header and the pixel limit.
type CompleteFn = fn(&[u8], &Header, &MediaConfig) -> Result<(), MediaError>;

/// Inspects an image: reads its header, refuses zero or too many pixels, then checks that the
/// file is not truncated. No pixel is decoded and nothing the size of the image is allocated.
pub(super) fn inspect_image(bytes: &[u8], format: MediaFormat, config: &MediaConfig) -> Result<ImageInfo, MediaError> {
    let (header, complete): (HeaderFn, CompleteFn) = match format {
        MediaFormat::Jpeg => (jpeg::header, |bytes, header, _| jpeg::check_complete(bytes, header)),
        MediaFormat::Png => (png::header, |bytes, header, _| png::check_complete(bytes, header)),
        MediaFormat::Webp => (webp::header, webp::check_complete),
        MediaFormat::Mp4 | MediaFormat::Mov => return Err(MediaError::UnsupportedType),
    };
    let parsed = header(bytes)?;
    check_dimensions(&parsed, config)?;
    complete(bytes, &parsed, config)?;
    Ok(ImageInfo { format, width: parsed.width, height: parsed.height })
}

/// Refuses an image with a zero dimension, or more pixels than the configuration allows.
///
/// This runs before anything else looks at the image data, so a decompression bomb is refused
/// in the time it takes to read its header.
fn check_dimensions(header: &Header, config: &MediaConfig) -> Result<(), MediaError> {
    check_pixels(header.width, header.height, config)
}

/// Refuses a zero dimension, or more pixels than the configuration allows, for an image or one
/// of its frames.
pub(super) fn check_pixels(width: u32, height: u32, config: &MediaConfig) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(corrupt(format!("the image declares a size of {width}×{height} pixels")));
    }
    if u64::from(width) * u64::from(height) > config.max_image_pixels {
        return Err(MediaError::TooManyPixels { width, height, limit: config.max_image_pixels });
    }
    Ok(())
}
