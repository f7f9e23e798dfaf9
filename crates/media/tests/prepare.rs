//! Preparation of images and videos: normalisation to JPEG, EXIF orientation, transparency,
//! thumbnails, video placeholders, limits and damaged data. Every fixture is generated here.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, GenericImageView, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use wastatus_media::inspect::{ImageInfo, Inspected, VideoInfo};
use wastatus_media::prepare::{
    Prepared, PreparedImage, placeholder_thumbnail, prepare, prepare_image, prepare_video, thumbnail_size,
};
use wastatus_media::{MediaConfig, MediaError, MediaFormat};

const RED: Rgb<u8> = Rgb([220, 20, 20]);
const BLUE: Rgb<u8> = Rgb([20, 20, 220]);

// ---------------------------------------------------------------------------------------------
// Fixtures and checks
// ---------------------------------------------------------------------------------------------

/// Encodes `image` in `format` with the image crate (JPEG at quality 90).
fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    if format == ImageFormat::Jpeg {
        JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image.to_rgb8()).expect("encode JPEG");
    } else {
        image.write_to(&mut Cursor::new(&mut out), format).expect("encode fixture");
    }
    out
}

/// A `width`×`height` blue image with a red square in its top-left corner.
fn red_corner(width: u32, height: u32) -> RgbImage {
    let side = width.min(height) / 3;
    RgbImage::from_fn(width, height, |x, y| if x < side && y < side { RED } else { BLUE })
}

/// Inserts an `APP1` `Exif` segment carrying only an Orientation tag right after the SOI of a
/// JPEG, in big- or little-endian TIFF order.
fn with_exif_orientation(jpeg: &[u8], orientation: u16, big_endian: bool) -> Vec<u8> {
    let u16_bytes = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let u32_bytes = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut tiff = Vec::new();
    tiff.extend_from_slice(if big_endian { b"MM" } else { b"II" });
    tiff.extend_from_slice(&u16_bytes(42));
    tiff.extend_from_slice(&u32_bytes(8)); // The first IFD follows the header.
    tiff.extend_from_slice(&u16_bytes(1)); // One entry:
    tiff.extend_from_slice(&u16_bytes(0x0112)); // Orientation,
    tiff.extend_from_slice(&u16_bytes(3)); // SHORT,
    tiff.extend_from_slice(&u32_bytes(1)); // one value,
    tiff.extend_from_slice(&u16_bytes(orientation)); // left-justified in the 4-byte field.
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&u32_bytes(0)); // No next IFD.

    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let length = u16::try_from(payload.len() + 2).expect("small segment");

    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "fixture is a JPEG");
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn image_info(format: MediaFormat, width: u32, height: u32) -> ImageInfo {
    ImageInfo { format, width, height }
}

fn video_info(width: u32, height: u32, duration_ms: u64) -> VideoInfo {
    VideoInfo { format: MediaFormat::Mp4, duration_ms, width, height, codec: "avc1".to_owned(), moov_before_mdat: true }
}

/// Asserts that `bytes` is a whole JPEG (SOI … EOI) that the image crate decodes, and returns it.
fn assert_jpeg(bytes: &[u8]) -> DynamicImage {
    assert!(bytes.len() > 4, "a JPEG, not {} bytes", bytes.len());
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "starts with SOI");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "ends with EOI");
    image::load_from_memory_with_format(bytes, ImageFormat::Jpeg).expect("the output decodes as JPEG")
}

/// Asserts that a JPEG pixel is within `tolerance` of `expected` on every channel.
fn assert_near(image: &DynamicImage, x: u32, y: u32, expected: Rgb<u8>, tolerance: u8) {
    let actual = image.to_rgb8().get_pixel(x, y).0;
    let close = actual.iter().zip(expected.0).all(|(a, e)| a.abs_diff(e) <= tolerance);
    assert!(close, "pixel {x},{y} is {actual:?}, expected about {:?}", expected.0);
}

/// Asserts the common properties of a prepared image and decodes its JPEG and thumbnail.
fn assert_prepared_jpeg(prepared: &PreparedImage, width: u32, height: u32) -> (DynamicImage, DynamicImage) {
    assert_eq!(prepared.mime_type, "image/jpeg");
    assert_eq!((prepared.width, prepared.height), (width, height));
    let image = assert_jpeg(&prepared.bytes);
    assert_eq!(image.dimensions(), (width, height));
    let thumbnail = assert_jpeg(&prepared.thumbnail);
    (image, thumbnail)
}

// ---------------------------------------------------------------------------------------------
// Normalisation to JPEG
// ---------------------------------------------------------------------------------------------

#[test]
fn transparent_png_is_flattened_onto_white_not_black() {
    // Left half fully transparent (and black underneath), right half opaque red.
    let png = RgbaImage::from_fn(80, 60, |x, _| if x < 40 { Rgba([0, 0, 0, 0]) } else { Rgba([220, 20, 20, 255]) });
    let bytes = encode(&DynamicImage::ImageRgba8(png), ImageFormat::Png);

    let prepared = prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Png, 80, 60), &MediaConfig::default())
        .expect("prepared");

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 80, 60);
    assert_near(&image, 10, 30, Rgb([255, 255, 255]), 6);
    assert_near(&image, 70, 30, RED, 24);
    assert_near(&thumbnail, 5, 30, Rgb([255, 255, 255]), 8);
}

#[test]
fn webp_is_normalised_to_jpeg() {
    let bytes = encode(&DynamicImage::ImageRgb8(red_corner(90, 60)), ImageFormat::WebP);

    let prepared = prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Webp, 90, 60), &MediaConfig::default())
        .expect("prepared");

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 90, 60);
    assert_near(&image, 5, 5, RED, 24);
    assert_near(&image, 80, 50, BLUE, 24);
    assert_eq!(thumbnail.dimensions(), (90, 60), "an image smaller than the edge is not enlarged");
}

#[test]
fn jpeg_is_reencoded_as_jpeg() {
    let bytes = encode(&DynamicImage::ImageRgb8(red_corner(120, 90)), ImageFormat::Jpeg);

    let prepared = prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Jpeg, 120, 90), &MediaConfig::default())
        .expect("prepared");

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 120, 90);
    assert_near(&image, 5, 5, RED, 24);
    assert_near(&image, 110, 80, BLUE, 24);
    assert_eq!(thumbnail.dimensions(), (100, 75));
}

#[test]
fn rgb_icc_profile_is_kept_in_the_normalised_jpeg() {
    // A stand-in profile: only its header's colour space (bytes 16..20) matters here.
    let mut profile = vec![0u8; 128];
    profile[16..20].copy_from_slice(b"RGB ");
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 90);
    encoder.set_icc_profile(profile.clone()).expect("JPEG takes ICC profiles");
    encoder.encode_image(&red_corner(40, 30)).expect("encode");

    let prepared = prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Jpeg, 40, 30), &MediaConfig::default())
        .expect("prepared");

    let mut decoder =
        image::codecs::jpeg::JpegDecoder::new(Cursor::new(prepared.bytes.to_vec())).expect("output is a JPEG");
    assert_eq!(image::ImageDecoder::icc_profile(&mut decoder).expect("readable"), Some(profile));
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation
// ---------------------------------------------------------------------------------------------

/// Prepares an 80×60 JPEG with a red top-left corner and the given EXIF orientation.
fn prepare_oriented(orientation: u16, big_endian: bool, config: &MediaConfig) -> PreparedImage {
    let jpeg = encode(&DynamicImage::ImageRgb8(red_corner(80, 60)), ImageFormat::Jpeg);
    let bytes = with_exif_orientation(&jpeg, orientation, big_endian);
    prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Jpeg, 80, 60), config).expect("prepared")
}

#[test]
fn exif_orientation_6_turns_the_photo_a_quarter_clockwise() {
    let prepared = prepare_oriented(6, true, &MediaConfig::default());

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 60, 80);
    // Rotating 90° clockwise takes the top-left corner to the top right.
    assert_near(&image, 55, 4, RED, 24);
    assert_near(&image, 4, 4, BLUE, 24);
    assert_near(&image, 55, 75, BLUE, 24);
    assert_eq!(thumbnail.dimensions(), (60, 80));
}

#[test]
fn exif_orientation_3_turns_the_photo_upside_down() {
    let prepared = prepare_oriented(3, false, &MediaConfig::default());

    let (image, _) = assert_prepared_jpeg(&prepared, 80, 60);
    assert_near(&image, 75, 55, RED, 24);
    assert_near(&image, 4, 4, BLUE, 24);
}

#[test]
fn exif_orientation_8_turns_the_photo_a_quarter_anticlockwise() {
    let prepared = prepare_oriented(8, false, &MediaConfig::default());

    let (image, _) = assert_prepared_jpeg(&prepared, 60, 80);
    // Rotating 90° anticlockwise takes the top-left corner to the bottom left.
    assert_near(&image, 4, 75, RED, 24);
    assert_near(&image, 4, 4, BLUE, 24);
    assert_near(&image, 55, 75, BLUE, 24);
}

#[test]
fn thumbnail_is_upright_and_keeps_the_aspect_ratio() {
    let config = MediaConfig { thumbnail_edge: 40, ..MediaConfig::default() };
    let prepared = prepare_oriented(6, true, &config);

    let thumbnail = assert_jpeg(&prepared.thumbnail);
    assert_eq!(thumbnail.dimensions(), (30, 40));
    assert_near(&thumbnail, 27, 2, RED, 32);
    assert_near(&thumbnail, 2, 37, BLUE, 32);
}

// ---------------------------------------------------------------------------------------------
// Keeping the original
// ---------------------------------------------------------------------------------------------

#[test]
fn without_normalisation_the_very_same_bytes_are_kept() {
    let config = MediaConfig { normalize_images_to_jpeg: false, ..MediaConfig::default() };
    let png = Bytes::from(encode(&DynamicImage::ImageRgb8(red_corner(300, 200)), ImageFormat::Png));

    let prepared = prepare_image(png.clone(), &image_info(MediaFormat::Png, 300, 200), &config).expect("prepared");

    assert_eq!(prepared.bytes.as_ptr(), png.as_ptr(), "the same buffer, not a copy");
    assert_eq!(prepared.bytes.len(), png.len());
    assert_eq!(prepared.mime_type, "image/png");
    assert_eq!((prepared.width, prepared.height), (300, 200));
    assert_eq!(assert_jpeg(&prepared.thumbnail).dimensions(), (100, 67));
}

#[test]
fn without_normalisation_an_oriented_jpeg_reports_its_upright_size() {
    let config = MediaConfig { normalize_images_to_jpeg: false, ..MediaConfig::default() };
    let prepared = prepare_oriented(6, true, &config);

    assert_eq!(prepared.mime_type, "image/jpeg");
    assert_eq!((prepared.width, prepared.height), (60, 80));
    assert_eq!(&prepared.bytes[2..4], &[0xFF, 0xE1], "still the original, EXIF and all");
    assert_eq!(assert_jpeg(&prepared.thumbnail).dimensions(), (60, 80));
}

// ---------------------------------------------------------------------------------------------
// Thumbnails
// ---------------------------------------------------------------------------------------------

#[test]
fn thumbnail_sizes_keep_the_aspect_ratio_and_are_never_zero() {
    assert_eq!(thumbnail_size(1080, 1920, 100), (56, 100));
    assert_eq!(thumbnail_size(1920, 1080, 100), (100, 56));
    assert_eq!(thumbnail_size(400, 300, 100), (100, 75));
    assert_eq!(thumbnail_size(300, 400, 100), (75, 100));
    assert_eq!(thumbnail_size(500, 500, 100), (100, 100));
    assert_eq!(thumbnail_size(100_000, 3, 100), (100, 1));
    assert_eq!(thumbnail_size(3, 100_000, 100), (1, 100));
    assert_eq!(thumbnail_size(640, 480, 0), (1, 1));
}

#[test]
fn image_thumbnails_fit_the_edge_and_stay_small() {
    for (width, height, expected) in [(400, 300, (100, 75)), (300, 400, (75, 100)), (1000, 4, (100, 1))] {
        let noise = RgbImage::from_fn(width, height, |x, y| Rgb([(x * 7) as u8, (y * 13) as u8, (x ^ y) as u8]));
        let bytes = encode(&DynamicImage::ImageRgb8(noise), ImageFormat::Png);

        let prepared =
            prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Png, width, height), &MediaConfig::default())
                .expect("prepared");

        assert_eq!(assert_jpeg(&prepared.thumbnail).dimensions(), expected, "{width}×{height}");
        assert!(prepared.thumbnail.len() < 8 * 1024, "{} bytes", prepared.thumbnail.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Videos
// ---------------------------------------------------------------------------------------------

#[test]
fn portrait_video_gets_a_56_by_100_grey_placeholder_and_keeps_its_bytes() {
    let bytes = Bytes::from_static(b"\0\0\0\x18ftypmp42 not really a movie");

    let prepared =
        prepare_video(bytes.clone(), &video_info(1080, 1920, 12_300), &MediaConfig::default()).expect("prepared");

    assert_eq!(prepared.bytes.as_ptr(), bytes.as_ptr());
    assert_eq!(prepared.mime_type, "video/mp4");
    assert_eq!((prepared.width, prepared.height), (1080, 1920));
    assert_eq!(prepared.duration_secs, 13);
    assert!(prepared.thumbnail_is_placeholder);
    let thumbnail = assert_jpeg(&prepared.thumbnail);
    assert_eq!(thumbnail.dimensions(), (56, 100));
    assert_near(&thumbnail, 28, 50, Rgb([0x40, 0x40, 0x40]), 4);
    assert!(prepared.thumbnail.len() < 2048, "{} bytes", prepared.thumbnail.len());
}

#[test]
fn placeholders_have_the_video_aspect_or_16_by_9() {
    assert_eq!(assert_jpeg(&placeholder_thumbnail(1920, 1080, 100)).dimensions(), (100, 56));
    assert_eq!(assert_jpeg(&placeholder_thumbnail(0, 0, 100)).dimensions(), (100, 56));
    assert_eq!(assert_jpeg(&placeholder_thumbnail(720, 0, 100)).dimensions(), (100, 56));
    assert_eq!(assert_jpeg(&placeholder_thumbnail(500, 500, 64)).dimensions(), (64, 64));
    assert_eq!(assert_jpeg(&placeholder_thumbnail(1080, 1920, 0)).dimensions(), (1, 1));
}

#[test]
fn quicktime_keeps_its_mime_type() {
    let info = VideoInfo { format: MediaFormat::Mov, ..video_info(1920, 1080, 400) };

    let prepared = prepare_video(Bytes::from_static(b"moov"), &info, &MediaConfig::default()).expect("prepared");

    assert_eq!(prepared.mime_type, "video/quicktime");
    assert_eq!(prepared.duration_secs, 1);
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

/// Asserts that preparing `bytes` as `format` fails as corrupt.
fn assert_corrupt(bytes: Vec<u8>, format: MediaFormat) {
    let result = prepare_image(Bytes::from(bytes), &image_info(format, 64, 48), &MediaConfig::default());
    match result {
        Err(error @ MediaError::Corrupt(_)) => assert_eq!(error.code(), "media_corrupt"),
        other => panic!("{format:?}: expected Corrupt, got {other:?}"),
    }
}

/// A deterministic run of bytes that is no valid image data.
fn garbage(length: usize) -> Vec<u8> {
    (0..length).map(|i| (i * 73 % 251) as u8 ^ 0x5A).collect()
}

#[test]
fn png_with_valid_header_and_garbage_after_is_corrupt() {
    let png = encode(&DynamicImage::ImageRgb8(red_corner(64, 48)), ImageFormat::Png);
    let mut bytes = png[..33].to_vec(); // Signature and IHDR, CRC included.
    bytes.extend(garbage(500));
    assert_corrupt(bytes, MediaFormat::Png);
}

#[test]
fn truncated_png_is_corrupt() {
    let png = encode(&DynamicImage::ImageRgb8(red_corner(64, 48)), ImageFormat::Png);
    assert_corrupt(png[..png.len() / 2].to_vec(), MediaFormat::Png);
}

#[test]
fn jpeg_with_valid_header_and_garbage_after_is_corrupt() {
    let jpeg = encode(&DynamicImage::ImageRgb8(red_corner(64, 48)), ImageFormat::Jpeg);
    let mut bytes = jpeg[..20].to_vec(); // SOI and the JFIF APP0 segment.
    bytes.extend(garbage(500));
    assert_corrupt(bytes, MediaFormat::Jpeg);
}

#[test]
fn webp_with_valid_header_and_garbage_after_is_corrupt() {
    let webp = encode(&DynamicImage::ImageRgb8(red_corner(64, 48)), ImageFormat::WebP);
    let mut bytes = webp[..16].to_vec(); // RIFF, size, WEBP and the chunk name.
    bytes.extend(garbage(500));
    assert_corrupt(bytes, MediaFormat::Webp);
}

#[test]
fn bytes_of_another_format_are_corrupt() {
    let png = encode(&DynamicImage::ImageRgb8(red_corner(64, 48)), ImageFormat::Png);
    assert_corrupt(png, MediaFormat::Jpeg);
}

#[test]
fn pixel_limit_holds_even_when_the_info_under_reports() {
    let config = MediaConfig { max_image_pixels: 10_000, ..MediaConfig::default() };
    let picture = DynamicImage::ImageRgb8(red_corner(200, 150));
    for (format, image_format) in [
        (MediaFormat::Jpeg, ImageFormat::Jpeg),
        (MediaFormat::Png, ImageFormat::Png),
        (MediaFormat::Webp, ImageFormat::WebP),
    ] {
        let bytes = Bytes::from(encode(&picture, image_format));
        // The info lies: 10×10 would be within the limit.
        let result = prepare_image(bytes, &image_info(format, 10, 10), &config);
        assert_eq!(result, Err(MediaError::TooManyPixels { width: 200, height: 150, limit: 10_000 }), "{format:?}");
    }
}

#[test]
fn a_video_format_is_not_an_image() {
    let result = prepare_image(Bytes::from_static(b"x"), &image_info(MediaFormat::Mp4, 1, 1), &MediaConfig::default());
    assert_eq!(result, Err(MediaError::UnsupportedType));
}

// ---------------------------------------------------------------------------------------------
// Off the executor
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn prepare_dispatches_videos() {
    let inspected = Inspected::Video(video_info(1920, 1080, 5_000));
    let prepared = prepare(Bytes::from_static(b"mdat"), inspected, MediaConfig::default()).await.expect("prepared");
    match prepared {
        Prepared::Video(video) => assert_eq!((video.duration_secs, video.thumbnail_is_placeholder), (5, true)),
        Prepared::Image(_) => panic!("a video came back as an image"),
    }
}

/// A 12-megapixel JPEG is prepared on a current-thread runtime while a timer task keeps ticking:
/// the work runs on the blocking pool, not on the runtime's only thread.
#[tokio::test(flavor = "current_thread")]
async fn prepare_does_not_block_a_current_thread_runtime() {
    let (width, height) = (4000, 3000);
    let bytes = tokio::task::spawn_blocking(move || {
        let photo = RgbImage::from_fn(width, height, |x, y| Rgb([(x / 16) as u8, (y / 12) as u8, 128]));
        Bytes::from(encode(&DynamicImage::ImageRgb8(photo), ImageFormat::Jpeg))
    })
    .await
    .expect("fixture");

    let gaps = Arc::new(Mutex::new(Vec::new()));
    let ticker = tokio::spawn({
        let gaps = Arc::clone(&gaps);
        async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let now = Instant::now();
                gaps.lock().expect("not poisoned").push(now - last);
                last = now;
            }
        }
    });

    let started = Instant::now();
    let inspected = Inspected::Image(image_info(MediaFormat::Jpeg, width, height));
    let prepared = prepare(bytes, inspected, MediaConfig::default()).await.expect("prepared");
    let elapsed = started.elapsed();
    ticker.abort();

    let Prepared::Image(image) = prepared else { panic!("an image came back as a video") };
    // Scaled down to the default longer edge of 2560, as WhatsApp's own clients do.
    assert_eq!((image.width, image.height), (2560, 1920));
    assert_eq!(assert_jpeg(&image.bytes).dimensions(), (2560, 1920));
    assert_eq!(assert_jpeg(&image.thumbnail).dimensions(), (100, 75));
    let gaps = gaps.lock().expect("not poisoned");
    let longest = gaps.iter().max().copied().unwrap_or(elapsed);
    println!("prepared 12 MP in {elapsed:?}; {} ticks, longest gap {longest:?}", gaps.len());
    assert!(gaps.len() >= 10, "the timer ticked only {} times in {elapsed:?}", gaps.len());
    assert!(longest * 4 < elapsed, "the timer stalled for {longest:?} of {elapsed:?}");
}

// ---------------------------------------------------------------------------------------------
// Memory budget, scaling down and output size
// ---------------------------------------------------------------------------------------------

/// A `width`×`height` 16-bit RGBA PNG: the left half fully transparent, the right half opaque red.
fn png_rgba16(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::ImageBuffer::<Rgba<u16>, Vec<u16>>::from_fn(width, height, |x, _| {
        if x < width / 2 { Rgba([0, 0, 0, 0]) } else { Rgba([220 * 257, 20 * 257, 20 * 257, u16::MAX]) }
    });
    encode(&DynamicImage::ImageRgba16(pixels), ImageFormat::Png)
}

#[test]
fn a_16_bit_png_within_the_pixel_limit_but_over_the_byte_budget_is_refused() {
    // 10 000 pixels allowed, so 40 000 bytes; 100×80 pixels of 8 bytes take 64 000.
    let config = MediaConfig { max_image_pixels: 10_000, ..MediaConfig::default() };
    let bytes = Bytes::from(png_rgba16(100, 80));

    let result = prepare_image(bytes, &image_info(MediaFormat::Png, 100, 80), &config);

    // The limit named is what the budget allows at 8 bytes per pixel.
    assert_eq!(result, Err(MediaError::TooManyPixels { width: 100, height: 80, limit: 5_000 }));
}

#[test]
fn a_16_bit_png_within_the_byte_budget_is_narrowed_and_flattened() {
    // 70×70 pixels of 8 bytes: 39 200 bytes, within the 40 000 allowed.
    let config = MediaConfig { max_image_pixels: 10_000, ..MediaConfig::default() };
    let bytes = Bytes::from(png_rgba16(70, 70));

    let prepared = prepare_image(bytes, &image_info(MediaFormat::Png, 70, 70), &config).expect("prepared");

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 70, 70);
    assert_near(&image, 10, 35, Rgb([255, 255, 255]), 6);
    assert_near(&image, 60, 35, RED, 24);
    assert_near(&thumbnail, 5, 35, Rgb([255, 255, 255]), 8);
}

#[test]
fn an_image_over_the_edge_is_scaled_down_keeping_its_aspect_ratio() {
    let config = MediaConfig { max_image_edge: 200, ..MediaConfig::default() };
    let bytes = encode(&DynamicImage::ImageRgb8(red_corner(400, 300)), ImageFormat::Png);

    let prepared =
        prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Png, 400, 300), &config).expect("prepared");

    let (image, thumbnail) = assert_prepared_jpeg(&prepared, 200, 150);
    assert_near(&image, 10, 10, RED, 24);
    assert_near(&image, 190, 140, BLUE, 24);
    assert_eq!(thumbnail.dimensions(), (100, 75));
}

#[test]
fn the_upright_longer_edge_is_the_one_scaled() {
    // 80×60 stored, 60×80 upright: the longer edge is the height.
    let config = MediaConfig { max_image_edge: 40, ..MediaConfig::default() };
    let prepared = prepare_oriented(6, true, &config);

    let (image, _) = assert_prepared_jpeg(&prepared, 30, 40);
    assert_near(&image, 27, 2, RED, 32);
    assert_near(&image, 2, 37, BLUE, 32);
}

#[test]
fn an_image_within_the_edge_is_not_scaled() {
    let config = MediaConfig { max_image_edge: 200, ..MediaConfig::default() };
    for (width, height) in [(200, 150), (150, 100)] {
        let bytes = encode(&DynamicImage::ImageRgb8(red_corner(width, height)), ImageFormat::Png);

        let prepared =
            prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Png, width, height), &config).expect("prepared");

        assert_prepared_jpeg(&prepared, width, height);
    }
}

#[test]
fn without_normalisation_a_large_image_is_not_scaled() {
    let config = MediaConfig { max_image_edge: 200, normalize_images_to_jpeg: false, ..MediaConfig::default() };
    let png = Bytes::from(encode(&DynamicImage::ImageRgb8(red_corner(400, 300)), ImageFormat::Png));

    let prepared = prepare_image(png.clone(), &image_info(MediaFormat::Png, 400, 300), &config).expect("prepared");

    assert_eq!(prepared.bytes, png);
    assert_eq!((prepared.width, prepared.height), (400, 300));
}

#[test]
fn a_normalised_jpeg_larger_than_the_image_limit_is_refused() {
    let noise = RgbImage::from_fn(200, 150, |x, y| Rgb([(x * 7) as u8, (y * 13) as u8, (x ^ y) as u8]));
    let bytes = Bytes::from(encode(&DynamicImage::ImageRgb8(noise), ImageFormat::Png));
    let info = image_info(MediaFormat::Png, 200, 150);
    let fits = prepare_image(bytes.clone(), &info, &MediaConfig::default()).expect("prepared");
    let limit = fits.bytes.len() - 1;
    let config = MediaConfig { max_image_bytes: limit, ..MediaConfig::default() };

    let result = prepare_image(bytes, &info, &config);

    assert_eq!(result, Err(MediaError::TooLarge { limit }));
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: fixtures are small.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Inserts a chunk of `kind` with `data` right after the IHDR of a PNG.
fn with_png_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len()).expect("small chunk").to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    let mut out = png[..33].to_vec(); // Signature and IHDR, CRC included.
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[33..]);
    out
}

#[test]
fn a_png_refused_for_a_huge_ancillary_chunk_is_corrupt_not_too_many_pixels() {
    // 4 000 pixels allowed, so the decoder may allocate 16 000 bytes: a 20×20 image fits, a text
    // chunk of 40 000 bytes does not.
    let config = MediaConfig { max_image_pixels: 4_000, ..MediaConfig::default() };
    let png = encode(&DynamicImage::ImageRgb8(red_corner(20, 20)), ImageFormat::Png);
    let mut text = b"Comment\0".to_vec();
    text.extend(std::iter::repeat_n(b'x', 40_000));
    let bytes = with_png_chunk(&png, b"tEXt", &text);

    let result = prepare_image(Bytes::from(bytes), &image_info(MediaFormat::Png, 20, 20), &config);

    match result {
        Err(MediaError::Corrupt(reason)) => assert!(reason.contains("PNG needs more memory"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
