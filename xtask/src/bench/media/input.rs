//! The benchmark's inputs, generated in code so no binary fixture is committed: a photo-like
//! JPEG, an MP4 of an exact size, and random bytes for the encryption ceiling.

use std::fmt;

use anyhow::{Context, Result, ensure};
use clap::ValueEnum;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use wacore::download::MediaType;
use wastatus_media::MediaKind;
use wastatus_media::fixtures::Video;

/// The width of the benchmark photo: 4000×3000 is 12 megapixels.
pub const PHOTO_WIDTH: u32 = 4000;
/// The height of the benchmark photo.
pub const PHOTO_HEIGHT: u32 = 3000;
/// The JPEG quality of the benchmark photo, typical of a phone camera.
pub const PHOTO_QUALITY: u8 = 90;
/// The size of the benchmark video: 16 MiB exactly.
pub const VIDEO_LEN: usize = 16 * 1024 * 1024;
/// The size of the random bytes the encryption ceiling is measured on: 64 MiB.
pub const CEILING_LEN: usize = 64 * 1024 * 1024;
/// The amplitude of the per-channel noise added to the photo, in 8-bit levels (±).
///
/// Chosen so the photo compresses to a few megabytes at quality 90, like a phone photo: pure
/// gradients would compress to a few hundred kilobytes and flatter the decoder.
const PHOTO_NOISE: u8 = 10;
/// The seed of every generator, so each run of the benchmark sees the same bytes.
const SEED: u64 = 0x5EED_2026_0003;

/// What a worker measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// The 12-megapixel JPEG, prepared (normalised to JPEG) and encrypted as an image.
    Jpeg,
    /// The 16 MiB MP4, prepared (inspected, placeholder thumbnail) and encrypted as a video.
    Mp4,
    /// `encrypt_media` alone on 64 MiB as an image: AES-256-CBC plus three SHA-256 passes.
    CeilingImage,
    /// `encrypt_media` alone on 64 MiB as a video, which adds the streaming sidecar's HMACs.
    CeilingVideo,
}

impl Workload {
    /// Every workload, in the order the benchmark runs them.
    pub const ALL: [Workload; 4] = [Workload::Jpeg, Workload::Mp4, Workload::CeilingImage, Workload::CeilingVideo];

    /// Returns the name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Jpeg => "jpeg",
            Workload::Mp4 => "mp4",
            Workload::CeilingImage => "ceiling-image",
            Workload::CeilingVideo => "ceiling-video",
        }
    }

    /// Returns the kind the pipeline is asked for, or `None` when the media pipeline is not
    /// part of the workload (the encryption ceiling).
    pub fn kind(self) -> Option<MediaKind> {
        match self {
            Workload::Jpeg => Some(MediaKind::Image),
            Workload::Mp4 => Some(MediaKind::Video),
            Workload::CeilingImage | Workload::CeilingVideo => None,
        }
    }

    /// Returns the encryption-ceiling workload that a pipeline workload compares with.
    pub fn ceiling(self) -> Option<Workload> {
        match self {
            Workload::Jpeg => Some(Workload::CeilingImage),
            Workload::Mp4 => Some(Workload::CeilingVideo),
            Workload::CeilingImage | Workload::CeilingVideo => None,
        }
    }

    /// Returns the WhatsApp media type the bytes are encrypted as.
    pub fn media_type(self) -> MediaType {
        match self {
            Workload::Jpeg | Workload::CeilingImage => MediaType::Image,
            Workload::Mp4 | Workload::CeilingVideo => MediaType::Video,
        }
    }

    /// Generates the workload's input at its full benchmark size.
    pub fn generate(self) -> Result<Input> {
        match self {
            Workload::Jpeg => Ok(Input {
                description: format!("{PHOTO_WIDTH}×{PHOTO_HEIGHT} photo-like JPEG, quality {PHOTO_QUALITY}"),
                bytes: photo_jpeg(PHOTO_WIDTH, PHOTO_HEIGHT, PHOTO_QUALITY)?,
            }),
            Workload::Mp4 => {
                let video = Video::default();
                Ok(Input {
                    description: format!(
                        "MP4 {}×{}, {} ms, {}, moov first",
                        video.width,
                        video.height,
                        video.duration_ms,
                        String::from_utf8_lossy(&video.codec)
                    ),
                    bytes: video_of_len(VIDEO_LEN)?,
                })
            }
            Workload::CeilingImage | Workload::CeilingVideo => Ok(Input {
                description: format!("{} MiB of random bytes", CEILING_LEN / (1024 * 1024)),
                bytes: random_bytes(CEILING_LEN),
            }),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A generated input and what it is.
#[derive(Debug)]
pub struct Input {
    /// A short human description, for the report.
    pub description: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// SplitMix64, a tiny, fast and well-mixed pseudo-random generator: plenty for noise that
/// must defeat compression, and deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Creates a generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Returns `len` pseudo-random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(SEED);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Encodes [`photo_pixels`] as a baseline JPEG of the given quality.
pub fn photo_jpeg(width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
    let pixels = photo_pixels(width, height)?;
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(&pixels)
        .with_context(|| format!("could not encode the {width}×{height} photo as JPEG"))?;
    Ok(jpeg)
}

/// Paints a `width`×`height` landscape: a sky gradient with a soft sun above rolling hills,
/// plus per-channel noise like a camera sensor's, so the image compresses like a photo.
pub fn photo_pixels(width: u32, height: u32) -> Result<RgbImage> {
    ensure!(width > 0 && height > 0, "the photo must have at least one pixel, not {width}×{height}");
    let mut rng = SplitMix64::new(SEED);
    let capacity = usize::try_from(u64::from(width) * u64::from(height) * 3).context("the photo is too large")?;
    let mut raw = Vec::with_capacity(capacity);
    for y in 0..height {
        let v = y as f32 / height as f32;
        for x in 0..width {
            let u = x as f32 / width as f32;
            let noise = rng.next_u64().to_le_bytes();
            for (channel, level) in scene(u, v).into_iter().enumerate() {
                raw.push(add_noise(level, noise[channel]));
            }
        }
    }
    RgbImage::from_raw(width, height, raw).context("the photo's pixel buffer has the wrong size")
}

/// The noiseless colour at `(u, v)`, both in `[0, 1)` from the top-left corner.
fn scene(u: f32, v: f32) -> [f32; 3] {
    let horizon = 0.55 + 0.08 * (u * 7.0).sin() + 0.03 * (u * 23.0 + 1.0).sin();
    if v < horizon {
        let t = v / horizon;
        let sky = [40.0 + 180.0 * t, 90.0 + 110.0 * t, 200.0 - 40.0 * t];
        let (dx, dy) = (u - 0.7, (v - 0.25) * 0.75);
        let glow = (-(dx * dx + dy * dy) * 60.0).exp();
        [sky[0] + 35.0 * glow, sky[1] + 30.0 * glow, sky[2] + 5.0 * glow]
    } else {
        let t = (v - horizon) / (1.0 - horizon);
        let ripple = 12.0 * (u * 40.0 + v * 25.0).sin() * (v * 60.0).cos();
        [70.0 + 60.0 * t + ripple, 120.0 - 30.0 * t + ripple, 50.0 + 10.0 * t]
    }
}

/// Adds noise of ±[`PHOTO_NOISE`] levels, from one random byte, to a colour level.
fn add_noise(level: f32, random: u8) -> u8 {
    let span = u16::from(PHOTO_NOISE) * 2 + 1;
    let offset = f32::from(u16::from(random) % span) - f32::from(PHOTO_NOISE);
    (level + offset).round().clamp(0.0, 255.0) as u8
}

/// Builds an MP4 ([`Video::default`]: 1080×1920, H.264, 12.5 s, `moov` first) of exactly
/// `total_len` bytes by sizing its `mdat` box.
pub fn video_of_len(total_len: usize) -> Result<Vec<u8>> {
    let header_len = Video { mdat_len: 0, ..Video::default() }.build().len();
    ensure!(total_len >= header_len, "an MP4 needs at least {header_len} bytes of boxes, not {total_len}");
    let bytes = Video { mdat_len: total_len - header_len, ..Video::default() }.build();
    ensure!(bytes.len() == total_len, "the MP4 came out at {} bytes instead of {total_len}", bytes.len());
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of the reference implementation for seed 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn random_bytes_have_the_requested_length_and_repeat() {
        assert_eq!(random_bytes(13).len(), 13);
        assert_eq!(random_bytes(0).len(), 0);
        assert_eq!(random_bytes(100), random_bytes(100));
    }

    #[test]
    fn photo_has_the_requested_dimensions_and_is_deterministic() {
        let jpeg = photo_jpeg(64, 48, PHOTO_QUALITY).unwrap();
        let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
        assert_eq!(jpeg, photo_jpeg(64, 48, PHOTO_QUALITY).unwrap());
    }

    #[test]
    fn photo_is_noisy_not_flat() {
        let pixels = photo_pixels(32, 32).unwrap();
        let distinct: std::collections::HashSet<_> = pixels.pixels().collect();
        assert!(distinct.len() > 500, "only {} distinct colours", distinct.len());
    }

    #[test]
    fn empty_photo_is_refused() {
        assert!(photo_pixels(0, 10).is_err());
    }

    #[test]
    fn noise_stays_in_range() {
        // A random byte of 0 is the lowest offset, 2 × PHOTO_NOISE the highest.
        assert_eq!(add_noise(5.0, 0), 0);
        assert_eq!(add_noise(250.0, 2 * PHOTO_NOISE), 255);
        assert_eq!(add_noise(100.0, PHOTO_NOISE), 100);
        assert_eq!(add_noise(100.0, 0), 100 - PHOTO_NOISE);
    }

    #[test]
    fn video_has_the_exact_length() {
        let bytes = video_of_len(4096).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert_eq!(&bytes[4..8], b"ftyp");
        assert!(video_of_len(10).is_err());
    }
}
