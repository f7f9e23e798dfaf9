//! JPEG encoding of images and thumbnails.

use image::codecs::jpeg::JpegEncoder;
use image::{GenericImageView, ImageEncoder, ImageError, Rgb, imageops};

use super::THUMBNAIL_QUALITY;
use super::decode::MAX_JPEG_EDGE;
use crate::MediaError;

/// The size of a thumbnail of a `width`×`height` image: the longer edge becomes `edge` (clamped to
/// 1..=65535, the range JPEG allows), the shorter one keeps the aspect ratio, rounded to the
/// nearest pixel and at least 1. Both inputs must be non-zero to mean anything; a zero one is
/// treated as 1.
///
/// For example 1080×1920 with an edge of 100 gives 56×100 (56.25 rounded), and 1920×1080 gives
/// 100×56.
pub fn thumbnail_size(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let edge = edge.clamp(1, MAX_JPEG_EDGE);
    let (width, height) = (width.max(1), height.max(1));
    let scale = |short: u32, long: u32| {
        let scaled = (u64::from(short) * u64::from(edge) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(edge).clamp(1, edge)
    };
    if width >= height { (edge, scale(height, width)) } else { (scale(width, height), edge) }
}

/// Encodes `image` as a baseline JPEG of `quality`, with `icc_profile` embedded when given;
/// `capacity` is a guess of the output size, to spare reallocations.
pub(super) fn jpeg<I>(
    image: &I,
    quality: u8,
    icc_profile: Option<Vec<u8>>,
    capacity: usize,
) -> Result<Vec<u8>, ImageError>
where
    I: GenericImageView<Pixel = Rgb<u8>>,
{
    let mut output = Vec::with_capacity(capacity);
    let mut encoder = JpegEncoder::new_with_quality(&mut output, quality);
    if let Some(profile) = icc_profile {
        // The JPEG encoder accepts any profile; an error here would only mean it is not kept.
        let _ = encoder.set_icc_profile(profile);
    }
    encoder.encode_image(image)?;
    Ok(output)
}

/// The thumbnail JPEG of `image`: its longer edge `edge` pixels (never enlarged), resampled with
/// the image crate's fast box-averaging [`imageops::thumbnail`].
pub(super) fn thumbnail<I>(image: &I, edge: u32) -> Result<Vec<u8>, ImageError>
where
    I: GenericImageView<Pixel = Rgb<u8>>,
{
    let (width, height) = image.dimensions();
    let (thumb_width, thumb_height) = thumbnail_size(width, height, edge.min(width.max(height)));
    let small = imageops::thumbnail(image, thumb_width, thumb_height);
    jpeg(&small, THUMBNAIL_QUALITY, None, 4096)
}

/// The [`MediaError`] for a failure to encode a JPEG. Decoded images that fit the limits always
/// encode, so this names the image, not the server, as the cause.
pub(super) fn error(error: ImageError) -> MediaError {
    MediaError::Corrupt(format!("the image cannot be re-encoded as JPEG ({error})"))
}
