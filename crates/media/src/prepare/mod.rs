//! Preparation: turns inspected media into what is sent to WhatsApp.
//!
//! # Images
//!
//! An image is decoded exactly once, with the format that inspection found in its bytes (never a
//! guess from a name or a declared type), and with decoder limits derived from
//! [`MediaConfig::max_image_pixels`]. The pixel count is checked against the dimensions the
//! decoder itself read from the header, before the pixel buffer is allocated, so an [`ImageInfo`]
//! that under-reports the size cannot smuggle a larger image through. The decoded buffer is
//! checked the same way against a budget of 4 bytes per allowed pixel (the decoder's
//! `total_bytes`): a 16-bit PNG, at 6 or 8 bytes per pixel, may have fewer pixels than the limit
//! and is refused with [`MediaError::TooManyPixels`] naming the count its depth allows. A PNG
//! whose decoder refuses an oversized ancillary chunk (text, colour profile) is
//! [`MediaError::Corrupt`], not too many pixels.
//!
//! The EXIF orientation is read from the decoder (JPEG `APP1`, WEBP `EXIF` and PNG `eXIf`) and
//! applied, so a photo taken sideways comes out upright; the width and height in
//! [`PreparedImage`] are those of the upright image. With
//! [`MediaConfig::normalize_images_to_jpeg`] (the default) the image is re-encoded as a baseline
//! RGB JPEG of quality 85: transparency is flattened onto white (a transparent PNG never turns
//! black), an RGB ICC colour profile is kept (wide-gamut phone photos keep their colours), and no
//! EXIF is written (the orientation is already applied, and location data is not passed on).
//! When normalising, an image whose upright longer edge exceeds [`MediaConfig::max_image_edge`]
//! (2560 by default) is first scaled down so that edge is exactly that long, keeping the aspect
//! ratio, as WhatsApp's own clients do; the width and height in [`PreparedImage`] are then the
//! scaled ones. Scaling averages the area each output pixel covers ([`image::imageops::thumbnail`]):
//! it writes straight into the smaller buffer, where the image crate's filtered `resize` would
//! first build a 16-byte-per-pixel buffer of the input width × the output height (123 MB for a
//! 12-megapixel photo). A normalised JPEG larger than [`MediaConfig::max_image_bytes`] is refused
//! with [`MediaError::TooLarge`]. Without normalisation the original bytes and mime type are sent
//! unchanged, never scaled.
//!
//! Orientation, flattening and the narrowing of 16-bit channels are applied on the fly, pixel by
//! pixel: the scaler, the JPEG encoder and the thumbnail sampler read the decoded image through an
//! upright, opaque 8-bit view, so none needs a second full-size buffer. The thumbnail is derived
//! from the image that is encoded (the scaled one, when scaled).
//!
//! # Thumbnails
//!
//! Every thumbnail is a small baseline JPEG of quality 60 whose longer edge is
//! [`MediaConfig::thumbnail_edge`] pixels (100 by default) and whose shorter edge is scaled to
//! keep the aspect ratio, rounded to the nearest pixel and never less than 1 — see
//! [`thumbnail_size`]. An image smaller than the edge is not enlarged. A 1920×1080 image gives a
//! 100×56 thumbnail, a 1080×1920 one 56×100.
//!
//! # Videos
//!
//! Videos are sent byte for byte as they came (no transcoding, no ffmpeg). **Their thumbnail is a
//! neutral placeholder, not a frame of the video**: decoding an H.264 frame needs a codec library
//! that this build does not include. The placeholder is a uniformly dark grey JPEG with the
//! video's aspect ratio (16:9 landscape when the dimensions are unknown), sized like any other
//! thumbnail, and [`PreparedVideo::thumbnail_is_placeholder`] says so, so that a later version
//! with a decoder can replace it.
//!
//! # Memory and speed
//!
//! [`prepare_image`] holds, beyond the input [`Bytes`] the caller already has:
//! - the decoded image, until it is scaled or encoded: 3 bytes × pixels for an RGB JPEG or WEBP,
//!   4 with alpha, 1–2 for greyscale, 6–8 for a 16-bit PNG (read as it is, never converted to a
//!   second buffer); never more than 4 bytes × [`MediaConfig::max_image_pixels`] (256 MiB at the
//!   default limit), which is checked before it is allocated;
//! - while decoding a JPEG only: one copy of the file (the JPEG decoder copies its input) and
//!   the decoder's working buffers (small for a baseline JPEG, about 2 bytes per sample for a
//!   progressive one);
//! - when scaling down: the scaled image, 3 bytes × its pixels (14.7 MB at 2560×1920); the
//!   decoded image is freed as soon as it is made, before encoding;
//! - while encoding: the normalised JPEG as it grows (its capacity starts at the input size,
//!   shrunk by the scaling);
//! - a thumbnail of a few kilobytes.
//!
//! So the peak is about the decoded image (at most 4 bytes × the pixel limit) plus the larger of
//! the file and the scaled image, or, for an image that is not scaled, the decoded image plus the
//! larger of the file and the output. Measured before scaling was added, for a 12-megapixel,
//! 9.5 MB JPEG (release build), the resident memory rose by 45 MB (36 MB of pixels and the 8.5 MB
//! output), the same with an EXIF rotation; for a 12-megapixel RGBA PNG, by 48 MB. When the
//! original is kept, the same [`Bytes`] is returned, not a copy; a normalised JPEG is handed over
//! without a copy too.
//!
//! Measured times for that 12-megapixel JPEG on one idle core (release build): about 0.16 s to
//! decode, 0.03 s for the thumbnail and 0.45 s to encode the normalised JPEG at quality 85
//! (the image crate's encoder, which dominates), so about 0.65 s in all, or 0.19 s when the
//! original is kept. The upright view costs nothing measurable over encoding the buffer
//! directly, and spares the 60 ms a rotated copy would take.
//!
//! [`prepare`] runs the work on Tokio's blocking pool, never on the async executor, and lets at
//! most one image per CPU core be prepared at a time in the whole process (further calls wait
//! asynchronously for their turn). More at once would not finish sooner on a CPU-bound task; it
//! would only multiply the memory above. Videos need no such turn: their preparation is a tiny
//! placeholder.

mod decode;
mod encode;
mod upright;

use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageBuffer, Rgb, RgbImage, imageops};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::inspect::{ImageInfo, Inspected, VideoInfo};
use crate::{MediaConfig, MediaError, MediaKind};

pub use encode::thumbnail_size;

use decode::{Decoded, MAX_JPEG_EDGE};
use upright::{OnWhite, Upright};

/// The JPEG quality of normalised images.
pub const IMAGE_QUALITY: u8 = 85;
/// The JPEG quality of thumbnails.
pub const THUMBNAIL_QUALITY: u8 = 60;
/// The colour of video placeholder thumbnails: a neutral dark grey.
pub const PLACEHOLDER_GREY: Rgb<u8> = Rgb([0x40, 0x40, 0x40]);

/// An image ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedImage {
    /// The bytes to send: a JPEG when normalising, otherwise the original bytes themselves.
    pub bytes: Bytes,
    /// The mime type of `bytes`.
    pub mime_type: &'static str,
    /// The width of the upright image (after the EXIF orientation), in pixels.
    pub width: u32,
    /// The height of the upright image (after the EXIF orientation), in pixels.
    pub height: u32,
    /// A small JPEG of the upright image.
    pub thumbnail: Vec<u8>,
}

/// A video ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedVideo {
    /// The original bytes, unchanged.
    pub bytes: Bytes,
    /// The mime type of the container (`video/mp4` or `video/quicktime`).
    pub mime_type: &'static str,
    /// The display width, as inspection found it.
    pub width: u32,
    /// The display height, as inspection found it.
    pub height: u32,
    /// The duration in whole seconds, rounded up (at least 1).
    pub duration_secs: u32,
    /// A small JPEG; see `thumbnail_is_placeholder`.
    pub thumbnail: Vec<u8>,
    /// Whether `thumbnail` is a neutral placeholder rather than a frame of the video. Always true
    /// in this build, which has no video decoder.
    pub thumbnail_is_placeholder: bool,
}

/// An image or a video, prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Image(PreparedImage),
    Video(PreparedVideo),
}

/// Prepares inspected media on Tokio's blocking pool, so the async executor never runs the
/// decoding and encoding. Images take a turn among at most one per CPU core (see the module
/// documentation); the turn is held until the work ends, even if the caller stops waiting.
pub async fn prepare(bytes: Bytes, inspected: Inspected, config: MediaConfig) -> Result<Prepared, MediaError> {
    let permit = match inspected {
        Inspected::Image(_) => image_permits().acquire().await.ok(),
        Inspected::Video(_) => None,
    };
    let task = tokio::task::spawn_blocking(move || {
        let _permit: Option<SemaphorePermit<'static>> = permit;
        prepare_blocking(bytes, &inspected, &config)
    });
    match task.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Only possible while the runtime shuts down, before the task could start.
        Err(_) => Err(MediaError::Internal("the server is shutting down".to_owned())),
    }
}

/// The synchronous body of [`prepare`].
fn prepare_blocking(bytes: Bytes, inspected: &Inspected, config: &MediaConfig) -> Result<Prepared, MediaError> {
    match inspected {
        Inspected::Image(info) => prepare_image(bytes, info, config).map(Prepared::Image),
        Inspected::Video(info) => prepare_video(bytes, info, config).map(Prepared::Video),
    }
}

/// The process-wide turns for preparing images: one per CPU core.
fn image_permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Semaphore::new(cores)
    })
}

/// Prepares an image: decodes it once, applies its EXIF orientation, re-encodes it as JPEG when
/// [`MediaConfig::normalize_images_to_jpeg`] is set and makes its thumbnail. Synchronous and
/// CPU-heavy: call it from a blocking context, or use [`prepare`].
///
/// Fails with [`MediaError::TooManyPixels`] when the image has more pixels than allowed (whatever
/// `info` says), and with [`MediaError::Corrupt`] when it cannot be decoded.
pub fn prepare_image(bytes: Bytes, info: &ImageInfo, config: &MediaConfig) -> Result<PreparedImage, MediaError> {
    if info.format.kind() != MediaKind::Image {
        return Err(MediaError::UnsupportedType);
    }
    let started = Instant::now();
    let decoded = decode::decode(&bytes, info, config)?;
    let rendered = render(decoded, config, bytes.len())?;
    let (bytes, mime_type) = match rendered.jpeg {
        Some(jpeg) => (Bytes::from(jpeg), "image/jpeg"),
        None => (bytes, info.format.mime_type()),
    };
    tracing::debug!(
        width = rendered.width,
        height = rendered.height,
        output_bytes = bytes.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "image prepared"
    );
    Ok(PreparedImage {
        bytes,
        mime_type,
        width: rendered.width,
        height: rendered.height,
        thumbnail: rendered.thumbnail,
    })
}

/// Prepares a video: its bytes are kept as they are, and its thumbnail is a neutral placeholder
/// (this build cannot decode video frames). Cheap; never fails for a video.
pub fn prepare_video(bytes: Bytes, info: &VideoInfo, config: &MediaConfig) -> Result<PreparedVideo, MediaError> {
    if info.format.kind() != MediaKind::Video {
        return Err(MediaError::UnsupportedType);
    }
    Ok(PreparedVideo {
        bytes,
        mime_type: info.format.mime_type(),
        width: info.width,
        height: info.height,
        duration_secs: info.duration_secs(),
        thumbnail: placeholder_thumbnail(info.width, info.height, config.thumbnail_edge),
        thumbnail_is_placeholder: true,
    })
}

/// A neutral dark grey JPEG with the aspect ratio of `width`×`height` (16:9 when either is 0),
/// whose longer edge is `edge` pixels (at least 1, at most 65535); see [`thumbnail_size`].
pub fn placeholder_thumbnail(width: u32, height: u32, edge: u32) -> Vec<u8> {
    let (width, height) = if width == 0 || height == 0 { (16, 9) } else { (width, height) };
    let (width, height) = thumbnail_size(width, height, edge);
    let grey = RgbImage::from_pixel(width, height, PLACEHOLDER_GREY);
    encode::jpeg(&grey, THUMBNAIL_QUALITY, None, 1024).unwrap_or_else(|error| {
        // Unreachable: the size is within what JPEG allows and the output is memory.
        tracing::error!(%error, width, height, "could not encode a placeholder thumbnail");
        Vec::new()
    })
}

/// What [`render`] makes of a decoded image.
struct Rendered {
    /// The width of the image sent: upright, and scaled down when normalising a large image.
    width: u32,
    /// The height of the image sent.
    height: u32,
    /// The normalised JPEG, when asked for.
    jpeg: Option<Vec<u8>>,
    /// The thumbnail JPEG.
    thumbnail: Vec<u8>,
}

/// Renders the normalised JPEG (when configured) and the thumbnail from one decoded image,
/// through an [`Upright`] view of its pixels (8- or 16-bit, never converted to a second buffer).
fn render(decoded: Decoded, config: &MediaConfig, input_len: usize) -> Result<Rendered, MediaError> {
    let Decoded { image, orientation, icc_profile } = decoded;
    let output = Output { icc_profile, config, input_len };
    match image {
        DynamicImage::ImageRgb8(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageRgba8(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageLuma8(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageLumaA8(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageRgb16(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageRgba16(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageLuma16(pixels) => output.render(pixels, orientation),
        DynamicImage::ImageLumaA16(pixels) => output.render(pixels, orientation),
        // Floating-point pixels: none of the JPEG, PNG and WEBP decoders produces them.
        other => output.render(other.into_rgba8(), orientation),
    }
}

/// What the outputs of [`render`] depend on besides the pixels.
struct Output<'a> {
    /// The colour profile to embed in the normalised JPEG.
    icc_profile: Option<Vec<u8>>,
    config: &'a MediaConfig,
    /// The size of the input, a guess of the size of the normalised JPEG.
    input_len: usize,
}

impl Output<'_> {
    /// Encodes the normalised JPEG (when configured) and the thumbnail of the upright `pixels`.
    /// When normalising an image whose longer edge exceeds [`MediaConfig::max_image_edge`], it is
    /// first scaled down (by area averaging), and the decoded pixels are freed before encoding.
    fn render<P: OnWhite>(
        self,
        pixels: ImageBuffer<P, Vec<P::Subpixel>>,
        orientation: Orientation,
    ) -> Result<Rendered, MediaError> {
        let view = Upright::new(&pixels, orientation);
        let (width, height) = view.dimensions();
        if !self.config.normalize_images_to_jpeg {
            let thumbnail = encode::thumbnail(&view, self.config.thumbnail_edge).map_err(encode::error)?;
            return Ok(Rendered { width, height, jpeg: None, thumbnail });
        }
        let edge = self.config.max_image_edge.clamp(1, MAX_JPEG_EDGE);
        if width.max(height) <= edge {
            let capacity = self.input_len;
            return self.encode(&view, capacity);
        }
        let (new_width, new_height) = thumbnail_size(width, height, edge);
        // Area averaging writes straight into the smaller buffer; the image crate's filtered
        // `resize` would first build a 16-byte-per-pixel buffer of width × new height.
        let scaled = imageops::thumbnail(&view, new_width, new_height);
        drop(pixels);
        // The output guess shrinks with the area.
        let shrink = (u64::from(width) * u64::from(height)) / (u64::from(new_width) * u64::from(new_height)).max(1);
        let capacity = self.input_len / usize::try_from(shrink.max(1)).unwrap_or(usize::MAX);
        self.encode(&scaled, capacity)
    }

    /// Encodes `image` as the normalised JPEG, refused when larger than
    /// [`MediaConfig::max_image_bytes`], and its thumbnail.
    fn encode<I>(self, image: &I, capacity: usize) -> Result<Rendered, MediaError>
    where
        I: GenericImageView<Pixel = Rgb<u8>>,
    {
        let (width, height) = image.dimensions();
        let jpeg = encode::jpeg(image, IMAGE_QUALITY, self.icc_profile, capacity).map_err(encode::error)?;
        if jpeg.len() > self.config.max_image_bytes {
            return Err(MediaError::TooLarge { limit: self.config.max_image_bytes });
        }
        let thumbnail = encode::thumbnail(image, self.config.thumbnail_edge).map_err(encode::error)?;
        Ok(Rendered { width, height, jpeg: Some(jpeg), thumbnail })
    }
}

#[cfg(test)]
mod tests {
    use image::metadata::Orientation;
    use image::{GenericImageView, Rgba, RgbaImage};

    use super::*;

    /// Every orientation of the upright view matches the image crate's own `apply_orientation`.
    #[test]
    fn upright_view_matches_apply_orientation() {
        let source = RgbaImage::from_fn(5, 3, |x, y| Rgba([(x * 40) as u8, (y * 80) as u8, 7, 255]));
        let dynamic = DynamicImage::ImageRgba8(source.clone());
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).expect("a valid EXIF orientation");
            let mut expected = dynamic.clone();
            expected.apply_orientation(orientation);
            let expected = expected.to_rgb8();
            let view = Upright::new(&source, orientation);
            assert_eq!(view.dimensions(), expected.dimensions(), "orientation {exif}");
            for (x, y, pixel) in expected.enumerate_pixels() {
                assert_eq!(view.get_pixel(x, y), *pixel, "orientation {exif} at {x},{y}");
            }
        }
    }
}
