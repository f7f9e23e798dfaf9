//! Decoding an image once, within the pixel limit, with its EXIF orientation and colour profile.

use std::io::Cursor;

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
pub(super) fn decode(bytes: &[u8], info: &ImageInfo, config: &MediaConfig) -> Result<Decoded, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(info.format)?);
    reader.limits(limits(config.max_image_pixels));
    let mut decoder = reader.into_decoder().map_err(|error| decode_error(error, info, config))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, config)?;
    let orientation = orientation(&mut decoder);
    let icc_profile = rgb_icc_profile(&mut decoder);
    let image = DynamicImage::from_decoder(decoder).map_err(|error| decode_error(error, info, config))?;
    Ok(Decoded { image, orientation, icc_profile })
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
/// [`check_size`]).
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

/// The [`MediaError`] for a failure of the decoder.
fn decode_error(error: ImageError, info: &ImageInfo, config: &MediaConfig) -> MediaError {
    let name = format_name(info.format);
    match error {
        // Only the PNG decoder checks its own allocations, before its dimensions are known to us:
        // name the dimensions inspection found.
        ImageError::Limits(_) => {
            MediaError::TooManyPixels { width: info.width, height: info.height, limit: config.max_image_pixels }
        }
        ImageError::IoError(_) => MediaError::Corrupt(format!("the {name} data ends too early")),
        ImageError::Unsupported(error) => {
            MediaError::Corrupt(format!("the {name} uses a feature that cannot be decoded ({})", short(&error)))
        }
        other => MediaError::Corrupt(format!("the {name} data cannot be decoded ({})", short(&other))),
    }
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
