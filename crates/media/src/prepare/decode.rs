//! Decoding an image once, within the pixel limit, with its EXIF orientation and colour profile.

use std::io::Cursor;

use image::error::{LimitError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::inspect::ImageInfo;
use crate::{MediaConfig, MediaError, MediaFormat};

/// The widest or tallest image a JPEG can hold.
pub(super) const MAX_JPEG_EDGE: u32 = u16::MAX as u32;

/// The most characters of a decoder's message kept in a [`MediaError::Corrupt`] reason.
const MAX_REASON_CHARS: usize = 120;

/// A decoded image and what its metadata says about displaying it.
pub(super) struct Decoded {
    /// The pixels as stored, before the orientation is applied.
    pub image: DynamicImage,
    /// The EXIF orientation ([`Orientation::NoTransforms`] when absent or unreadable).
    pub orientation: Orientation,
    /// The ICC colour profile, when it describes RGB colours (the only kind that fits an RGB
    /// JPEG).
    pub icc_profile: Option<Vec<u8>>,
}

/// Decodes `bytes` as `info.format`, refusing more than [`MediaConfig::max_image_pixels`] pixels as
/// the decoder reads them from the header, before any pixel buffer is allocated. When normalising
/// to JPEG, an edge longer than a JPEG can hold is refused the same way.
///
/// The decoded buffer is held to a byte budget too: at most [`byte_budget`] bytes
/// (`max_image_pixels` × 4, what the deepest 8-bit image, RGBA, takes at the pixel limit). Only
/// images of more than 4 bytes per pixel (16-bit RGB and RGBA PNGs) can exceed it within the pixel
/// limit; they are refused with [`MediaError::TooManyPixels`] whose `limit` is the pixel count
/// the budget allows at their depth (for 16-bit RGBA, half of `max_image_pixels`).
pub(super) fn decode(bytes: &[u8], info: &ImageInfo, config: &MediaConfig) -> Result<Decoded, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(info.format)?);
    reader.limits(limits(config.max_image_pixels));
    let mut decoder =
        reader.into_decoder().map_err(|error| decode_error(error, info.format, (info.width, info.height), config))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, config)?;
    check_bytes(width, height, decoder.total_bytes(), config)?;
    let orientation = orientation(&mut decoder);
    let icc_profile = rgb_icc_profile(&mut decoder);
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|error| decode_error(error, info.format, (width, height), config))?;
    Ok(Decoded { image, orientation, icc_profile })
}

/// The most bytes a decoded image may take: 4 bytes for each pixel allowed.
pub(super) fn byte_budget(config: &MediaConfig) -> u64 {
    config.max_image_pixels.saturating_mul(4)
}

/// Refuses an image whose decoded buffer (`total_bytes`, as the decoder reports it) would exceed
/// [`byte_budget`], naming the pixel count the budget allows at this image's depth.
fn check_bytes(width: u32, height: u32, total_bytes: u64, config: &MediaConfig) -> Result<(), MediaError> {
    let budget = byte_budget(config);
    if total_bytes <= budget {
        return Ok(());
    }
    let pixels = (u64::from(width) * u64::from(height)).max(1);
    let bytes_per_pixel = total_bytes.div_ceil(pixels).max(1);
    Err(MediaError::TooManyPixels { width, height, limit: budget / bytes_per_pixel })
}

/// The image crate's name for an image format; videos are refused.
fn image_format(format: MediaFormat) -> Result<ImageFormat, MediaError> {
    match format {
        MediaFormat::Jpeg => Ok(ImageFormat::Jpeg),
        MediaFormat::Png => Ok(ImageFormat::Png),
        MediaFormat::Webp => Ok(ImageFormat::WebP),
        MediaFormat::Mp4 | MediaFormat::Mov => Err(MediaError::UnsupportedType),
    }
}

/// Decoder limits allowing at most `max_pixels` pixels of 4 bytes in the decoder's own
/// allocations (the PNG decoder enforces it; the pixel buffer itself is guarded by
/// [`check_size`] and [`check_bytes`]).
fn limits(max_pixels: u64) -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(4));
    limits
}

/// Refuses an image without pixels, with more pixels than allowed, or, when normalising, with an
/// edge that JPEG cannot encode.
fn check_size(width: u32, height: u32, config: &MediaConfig) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!("the image is {width}×{height} pixels")));
    }
    let limit = config.max_image_pixels;
    if u64::from(width) * u64::from(height) > limit {
        return Err(MediaError::TooManyPixels { width, height, limit });
    }
    if config.normalize_images_to_jpeg && width.max(height) > MAX_JPEG_EDGE {
        return Err(MediaError::DimensionsUnsupported { width, height, max: MAX_JPEG_EDGE });
    }
    Ok(())
}

/// The EXIF orientation, or none when the metadata is absent or cannot be read (the image itself
/// may still be fine).
fn orientation(decoder: &mut impl ImageDecoder) -> Orientation {
    decoder.orientation().unwrap_or_else(|error| {
        tracing::debug!(%error, "unreadable EXIF orientation; the image is kept as stored");
        Orientation::NoTransforms
    })
}

/// The embedded ICC profile when its data colour space is RGB (bytes 16..20 of the profile
/// header are `RGB `); other profiles would not describe the RGB JPEG written from the image.
fn rgb_icc_profile(decoder: &mut impl ImageDecoder) -> Option<Vec<u8>> {
    let profile = decoder.icc_profile().ok().flatten()?;
    (profile.get(16..20) == Some(b"RGB ".as_slice())).then_some(profile)
}

/// The [`MediaError`] for a failure of the decoder of a `format` image of `width`×`height` pixels
/// (as the decoder read them, or as inspection found them when the decoder failed before).
fn decode_error(
    error: ImageError,
    format: MediaFormat,
    (width, height): (u32, u32),
    config: &MediaConfig,
) -> MediaError {
    let name = format_name(format);
    match error {
        ImageError::Limits(error) => limits_error(&error, name, width, height, config),
        ImageError::IoError(_) => MediaError::Corrupt(format!("the {name} data ends too early")),
        ImageError::Unsupported(error) => {
            MediaError::Corrupt(format!("the {name} uses a feature that cannot be decoded ({})", short(&error)))
        }
        other => MediaError::Corrupt(format!("the {name} data cannot be decoded ({})", short(&other))),
    }
}

/// The [`MediaError`] for a decoder that refused to go on within its limits. Only the PNG decoder
/// checks its own allocations, and it does so for any of them: the pixels, but also an ancillary
/// chunk (text, colour profile) that is too large. So too many pixels is only claimed when the
/// image does have too many; otherwise the file is refused as [`MediaError::Corrupt`] with the
/// reason.
fn limits_error(error: &LimitError, name: &str, width: u32, height: u32, config: &MediaConfig) -> MediaError {
    let limit = config.max_image_pixels;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limit || matches!(error.kind(), LimitErrorKind::DimensionError) {
        return MediaError::TooManyPixels { width, height, limit };
    }
    MediaError::Corrupt(format!("the {name} needs more memory to decode than its pixels justify ({})", short(error)))
}

/// The name of an image format in messages.
fn format_name(format: MediaFormat) -> &'static str {
    match format {
        MediaFormat::Jpeg => "JPEG",
        MediaFormat::Png => "PNG",
        MediaFormat::Webp => "WEBP",
        MediaFormat::Mp4 => "MP4",
        MediaFormat::Mov => "MOV",
    }
}

/// A decoder's message, cut to [`MAX_REASON_CHARS`] characters.
fn short(error: &impl std::fmt::Display) -> String {
    let message = error.to_string();
    match message.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MediaConfig {
        MediaConfig { max_image_pixels: 100, ..MediaConfig::default() }
    }

    #[test]
    fn a_limit_error_claims_too_many_pixels_only_when_there_are() {
        let memory = LimitError::from_kind(LimitErrorKind::InsufficientMemory);
        let dimensions = LimitError::from_kind(LimitErrorKind::DimensionError);
        let too_many = MediaError::TooManyPixels { width: 20, height: 10, limit: 100 };
        assert_eq!(limits_error(&memory, "PNG", 20, 10, &config()), too_many);
        assert_eq!(limits_error(&dimensions, "PNG", 20, 10, &config()), too_many);
        assert_eq!(
            limits_error(&dimensions, "PNG", 10, 10, &config()),
            MediaError::TooManyPixels { width: 10, height: 10, limit: 100 }
        );
        let MediaError::Corrupt(reason) = limits_error(&memory, "PNG", 10, 10, &config()) else {
            panic!("a memory limit within the pixel limit is not too many pixels");
        };
        assert!(reason.starts_with("the PNG needs more memory"), "{reason}");
    }

    #[test]
    fn the_byte_budget_names_the_pixels_allowed_at_the_depth() {
        assert_eq!(check_bytes(10, 10, 400, &config()), Ok(()));
        assert_eq!(
            check_bytes(10, 10, 600, &config()),
            Err(MediaError::TooManyPixels { width: 10, height: 10, limit: 66 })
        );
        assert_eq!(
            check_bytes(10, 10, 800, &config()),
            Err(MediaError::TooManyPixels { width: 10, height: 10, limit: 50 })
        );
    }
}
