//! Inspection from the bytes: format sniffing, declared types, image headers and movie boxes.
//!
//! Every fixture is generated here: images with the `image` crate's encoders (then patched or
//! cut), movies with a small box writer, so each test controls exactly what the file says.

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::{ImageFormat, ImageReader, RgbImage};
use wastatus_media::fixtures::png_declaring;
use wastatus_media::inspect::{
    ImageInfo, Inspected, VideoInfo, check_declared, inspect, inspect_image, inspect_video, sniff,
};
use wastatus_media::{MediaConfig, MediaError, MediaFormat};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config() -> MediaConfig {
    MediaConfig::default()
}

/// Asserts that `result` is the error `expected`, with the stable `code`.
#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: Result<T, MediaError>, expected: &MediaError, code: &str) {
    match result {
        Err(error) => {
            assert_eq!(&error, expected);
            assert_eq!(error.code(), code);
        }
        Ok(value) => panic!("expected {expected:?}, got {value:?}"),
    }
}

/// Asserts that `result` is a [`MediaError::Corrupt`] (code `media_corrupt`).
#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, MediaError>, what: &str) {
    match result {
        Err(error @ MediaError::Corrupt(_)) => assert_eq!(error.code(), "media_corrupt", "{what}"),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

/// The fastest of `runs` runs of `f`: timing that a busy, shared machine cannot make flaky.
fn fastest(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Image fixtures
// ---------------------------------------------------------------------------------------------

/// A 40×30 picture with some detail, so that encoders produce real image data.
fn picture() -> RgbImage {
    RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, ((x * y) % 256) as u8]))
}

fn encode(format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    picture().write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

fn jpeg() -> Vec<u8> {
    encode(ImageFormat::Jpeg)
}

fn png() -> Vec<u8> {
    encode(ImageFormat::Png)
}

/// A lossless WEBP (`VP8L`), which is what the `image` crate encodes.
fn webp() -> Vec<u8> {
    encode(ImageFormat::WebP)
}

/// A RIFF/WEBP file around `chunks`, with a correct RIFF size.
fn riff_webp(chunks: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(chunks.len() + 4).expect("small").to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(chunks);
    out
}

/// A RIFF chunk, padded to an even length.
fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_vec();
    out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// A lossy WEBP whose `VP8 ` key frame header declares `width`×`height` (the frame data after
/// the header is filler: inspection never decodes it).
fn lossy_webp(width: u16, height: u16) -> Vec<u8> {
    let mut frame = vec![0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A];
    frame.extend_from_slice(&width.to_le_bytes());
    frame.extend_from_slice(&height.to_le_bytes());
    frame.extend_from_slice(&[0x11; 32]);
    riff_webp(&riff_chunk(b"VP8 ", &frame))
}

/// An extended WEBP: a `VP8X` chunk declaring a `width`×`height` canvas around the lossless
/// image data of [`webp`].
fn extended_webp(width: u32, height: u32) -> Vec<u8> {
    let mut vp8x = vec![0_u8; 4];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let lossless = webp();
    let image_chunks = lossless.get(12..).expect("a WEBP has chunks");
    riff_webp(&[riff_chunk(b"VP8X", &vp8x), image_chunks.to_vec()].concat())
}

/// A lossy `VP8 ` chunk whose key frame header declares `width`×`height`.
fn vp8_chunk(width: u16, height: u16) -> Vec<u8> {
    let mut frame = vec![0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A];
    frame.extend_from_slice(&width.to_le_bytes());
    frame.extend_from_slice(&height.to_le_bytes());
    frame.extend_from_slice(&[0x11; 32]);
    riff_chunk(b"VP8 ", &frame)
}

/// A `VP8X` chunk declaring a `width`×`height` canvas (`flags` as given).
fn vp8x_chunk(flags: u8, width: u32, height: u32) -> Vec<u8> {
    let mut vp8x = vec![flags, 0, 0, 0];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    riff_chunk(b"VP8X", &vp8x)
}

/// An `ANMF` chunk: a `width`×`height` frame at (`x`, `y`) (even), around `image`.
fn anmf_chunk(x: u32, y: u32, width: u32, height: u32, image: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for value in [x / 2, y / 2, width - 1, height - 1, 100] {
        data.extend_from_slice(&value.to_le_bytes()[..3]);
    }
    data.push(0);
    data.extend_from_slice(image);
    riff_chunk(b"ANMF", &data)
}

/// The offset of the first `FF marker` in a JPEG's headers, walking its segments.
fn jpeg_segment_end(bytes: &[u8], marker: u8) -> usize {
    let mut pos = 2;
    loop {
        assert_eq!(bytes[pos], 0xFF, "a marker at {pos}");
        let length = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        if bytes[pos + 1] == marker {
            return pos + 2 + length;
        }
        pos += 2 + length;
    }
}

/// The JPEG of [`jpeg`] with its frame header declaring `width`×`height`.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg();
    let sof_end = jpeg_segment_end(&bytes, 0xC0);
    let sof_payload = sof_end - 15; // 3 components: 8 + 3 × 3 bytes, minus the length field
    bytes[sof_payload + 1..sof_payload + 3].copy_from_slice(&height.to_be_bytes());
    bytes[sof_payload + 3..sof_payload + 5].copy_from_slice(&width.to_be_bytes());
    bytes
}

// ---------------------------------------------------------------------------------------------
// Movie fixtures: a small ISO-BMFF box writer
// ---------------------------------------------------------------------------------------------

/// A box with a 32-bit size.
fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    let payload = parts.concat();
    let mut out = u32::try_from(payload.len() + 8).expect("box under 4 GiB").to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend(payload);
    out
}

/// A full box: version, flags, then `body`.
fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut head = flags.to_be_bytes();
    head[0] = version;
    bx(kind, &[&head, body])
}

/// A box header with an explicit size field (possibly a lie), without payload.
fn raw_header(size: u32, kind: &[u8; 4]) -> Vec<u8> {
    [size.to_be_bytes().as_slice(), kind].concat()
}

/// The identity transformation matrix.
const IDENTITY: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// A rotation by 90 degrees, as phones write for portrait videos.
const ROTATE_90: [u32; 9] = [0, 0x0001_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000];

fn matrix(values: [u32; 9]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_be_bytes()).collect()
}

/// A track of a test movie.
#[derive(Debug, Clone)]
struct Track {
    handler: [u8; 4],
    codec: [u8; 4],
    width: u32,
    height: u32,
    version: u8,
    matrix: [u32; 9],
    /// The media header's timescale and duration.
    media_timing: (u32, u64),
    /// The `stts` entries (sample count, sample delta); `None`: one sample lasting the media
    /// duration.
    stts: Option<Vec<(u32, u32)>>,
}

impl Track {
    fn video(codec: &[u8; 4]) -> Self {
        Track {
            handler: *b"vide",
            codec: *codec,
            width: 1280,
            height: 720,
            version: 0,
            matrix: IDENTITY,
            media_timing: (90_000, 1_125_000),
            stts: None,
        }
    }

    fn audio() -> Self {
        Track { handler: *b"soun", codec: *b"mp4a", width: 0, height: 0, ..Track::video(b"mp4a") }
    }

    fn tkhd(&self) -> Vec<u8> {
        let (times, duration): (Vec<u8>, Vec<u8>) = if self.version == 1 {
            ([0_u8; 16].to_vec(), 0_u64.to_be_bytes().to_vec())
        } else {
            ([0_u8; 8].to_vec(), 0_u32.to_be_bytes().to_vec())
        };
        let body = [
            times.as_slice(),
            &1_u32.to_be_bytes(), // track ID
            &[0; 4],
            &duration,
            &[0; 8],
            &[0; 8], // layer, alternate group, volume, reserved
            &matrix(self.matrix),
            &(self.width << 16).to_be_bytes(),
            &(self.height << 16).to_be_bytes(),
        ]
        .concat();
        full(b"tkhd", self.version, 3, &body)
    }

    fn mdhd(&self) -> Vec<u8> {
        let (timescale, duration) = self.media_timing;
        let body = if self.version == 1 {
            [&[0_u8; 16][..], &timescale.to_be_bytes(), &duration.to_be_bytes(), &[0x55, 0xC4, 0, 0]].concat()
        } else {
            let duration = u32::try_from(duration).unwrap_or(u32::MAX);
            [&[0_u8; 8][..], &timescale.to_be_bytes(), &duration.to_be_bytes(), &[0x55, 0xC4, 0, 0]].concat()
        };
        full(b"mdhd", self.version, 0, &body)
    }

    fn hdlr(&self) -> Vec<u8> {
        full(b"hdlr", 0, 0, &[&[0_u8; 4][..], &self.handler, &[0; 12], b"Handler\0"].concat())
    }

    /// A visual sample entry (or, for audio, a short audio one) with a dummy configuration box.
    fn sample_entry(&self) -> Vec<u8> {
        if self.handler != *b"vide" {
            return bx(&self.codec, &[&[0; 6], &1_u16.to_be_bytes(), &[0; 20]]);
        }
        let width = u16::try_from(self.width).unwrap_or(u16::MAX);
        let height = u16::try_from(self.height).unwrap_or(u16::MAX);
        bx(
            &self.codec,
            &[
                &[0; 6],
                &1_u16.to_be_bytes(), // data reference index
                &[0; 16],
                &width.to_be_bytes(),
                &height.to_be_bytes(),
                &0x0048_0000_u32.to_be_bytes(),
                &0x0048_0000_u32.to_be_bytes(),
                &[0; 4],
                &1_u16.to_be_bytes(), // frame count
                &[0; 32],             // compressor name
                &0x0018_u16.to_be_bytes(),
                &0xFFFF_u16.to_be_bytes(),
                &bx(b"avcC", &[&[1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0]]),
            ],
        )
    }

    /// The track, with one sample of `sample_size` bytes in one chunk at `chunk_offset`.
    fn trak(&self, chunk_offset: u32, sample_size: u32) -> Vec<u8> {
        let stsd = full(b"stsd", 0, 0, &[&1_u32.to_be_bytes()[..], &self.sample_entry()].concat());
        let one_sample = vec![(1, u32::try_from(self.media_timing.1).unwrap_or(u32::MAX))];
        let stts = self.stts.clone().unwrap_or(one_sample);
        let stts: Vec<u32> = [u32::try_from(stts.len()).expect("few entries")]
            .into_iter()
            .chain(stts.iter().flat_map(|&(count, delta)| [count, delta]))
            .collect();
        let words = |values: &[u32]| values.iter().flat_map(|value| value.to_be_bytes()).collect::<Vec<u8>>();
        let stbl = bx(
            b"stbl",
            &[
                &stsd,
                &full(b"stts", 0, 0, &words(&stts)),
                &full(b"stsc", 0, 0, &words(&[1, 1, 1, 1])),
                &full(b"stsz", 0, 0, &words(&[0, 1, sample_size])),
                &full(b"stco", 0, 0, &words(&[1, chunk_offset])),
            ],
        );
        let minf = bx(b"minf", &[&full(b"vmhd", 0, 1, &[0; 8]), &stbl]);
        let mdia = bx(b"mdia", &[&self.mdhd(), &self.hdlr(), &minf]);
        bx(b"trak", &[&self.tkhd(), &mdia])
    }
}

/// A test movie: what each box declares and how the file is laid out.
#[derive(Debug, Clone)]
struct Movie {
    /// The major brand of `ftyp`, or `None` for a legacy QuickTime file without `ftyp`.
    brand: Option<[u8; 4]>,
    mvhd_version: u8,
    timescale: u32,
    duration: u64,
    tracks: Vec<Track>,
    moov_first: bool,
    mdat_len: usize,
    /// Write `mdat` with a 64-bit size.
    large_mdat: bool,
}

impl Movie {
    /// A valid 12.5 s 1280×720 H.264 MP4 with `moov` before `mdat`.
    fn mp4() -> Self {
        Movie {
            brand: Some(*b"isom"),
            mvhd_version: 0,
            timescale: 1000,
            duration: 12_500,
            tracks: vec![Track::video(b"avc1")],
            moov_first: true,
            mdat_len: 4096,
            large_mdat: false,
        }
    }

    fn with_duration(self, timescale: u32, duration: u64) -> Self {
        Movie { timescale, duration, ..self }
    }

    fn with_tracks(self, tracks: Vec<Track>) -> Self {
        Movie { tracks, ..self }
    }

    fn ftyp(&self) -> Vec<u8> {
        self.brand.map(|brand| bx(b"ftyp", &[&brand, &[0, 0, 2, 0], &brand, b"mp41"])).unwrap_or_default()
    }

    fn mvhd(&self) -> Vec<u8> {
        let times = if self.mvhd_version == 1 { &[0_u8; 16][..] } else { &[0_u8; 8][..] };
        let duration = if self.mvhd_version == 1 {
            self.duration.to_be_bytes().to_vec()
        } else {
            u32::try_from(self.duration).expect("a 32-bit duration").to_be_bytes().to_vec()
        };
        let body = [
            times,
            &self.timescale.to_be_bytes(),
            &duration,
            &0x0001_0000_u32.to_be_bytes(), // rate
            &0x0100_u16.to_be_bytes(),      // volume
            &[0; 10],
            &matrix(IDENTITY),
            &[0; 24],
            &2_u32.to_be_bytes(), // next track ID
        ]
        .concat();
        full(b"mvhd", self.mvhd_version, 0, &body)
    }

    fn moov(&self, chunk_offset: u32) -> Vec<u8> {
        let sample_size = u32::try_from(self.mdat_len).expect("mdat under 4 GiB");
        let traks: Vec<u8> = self.tracks.iter().flat_map(|track| track.trak(chunk_offset, sample_size)).collect();
        bx(b"moov", &[&self.mvhd(), &traks])
    }

    fn mdat_header(&self) -> Vec<u8> {
        if self.large_mdat {
            [&1_u32.to_be_bytes()[..], b"mdat", &(self.mdat_len as u64 + 16).to_be_bytes()].concat()
        } else {
            raw_header(u32::try_from(self.mdat_len + 8).expect("mdat under 4 GiB"), b"mdat")
        }
    }

    /// The file: `ftyp`, then `moov` and `mdat` in the chosen order; each track has one sample
    /// as large as the `mdat` payload, in one chunk at its start.
    fn build(&self) -> Vec<u8> {
        let ftyp = self.ftyp();
        let mdat_header = self.mdat_header();
        let moov_len = self.moov(0).len();
        let mdat_payload_at = ftyp.len() + mdat_header.len() + if self.moov_first { moov_len } else { 0 };
        let moov = self.moov(u32::try_from(mdat_payload_at).expect("small offset"));
        let mut mdat = mdat_header;
        mdat.resize(mdat.len() + self.mdat_len, 0xAB);
        let (first, second) = if self.moov_first { (moov, mdat) } else { (mdat, moov) };
        [ftyp, first, second].concat()
    }
}

fn video(bytes: &[u8]) -> Result<VideoInfo, MediaError> {
    let format = sniff(bytes).expect("a movie is sniffed");
    inspect_video(bytes, format, &config())
}

fn image(bytes: &[u8]) -> Result<ImageInfo, MediaError> {
    let format = sniff(bytes).expect("an image is sniffed");
    inspect_image(bytes, format, &config())
}

// ---------------------------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------------------------

#[test]
fn sniff_detects_each_image_format_from_its_magic_number() {
    assert_eq!(sniff(&jpeg()), Some(MediaFormat::Jpeg));
    assert_eq!(sniff(&png()), Some(MediaFormat::Png));
    assert_eq!(sniff(&webp()), Some(MediaFormat::Webp));
    assert_eq!(sniff(&lossy_webp(16, 16)), Some(MediaFormat::Webp));
}

#[test]
fn sniff_detects_mp4_from_any_non_quicktime_brand() {
    for brand in [b"isom", b"iso2", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"3gp4"] {
        let movie = Movie { brand: Some(*brand), ..Movie::mp4() }.build();
        assert_eq!(sniff(&movie), Some(MediaFormat::Mp4), "brand {}", String::from_utf8_lossy(brand));
    }
}

#[test]
fn sniff_detects_quicktime_with_and_without_ftyp() {
    let mov = Movie { brand: Some(*b"qt  "), ..Movie::mp4() }.build();
    assert_eq!(sniff(&mov), Some(MediaFormat::Mov));
    for first in [b"moov", b"mdat", b"wide", b"free", b"skip"] {
        let legacy = [bx(first, &[b"payload"]), Movie { brand: None, ..Movie::mp4() }.build()].concat();
        assert_eq!(sniff(&legacy), Some(MediaFormat::Mov), "first box {}", String::from_utf8_lossy(first));
    }
}

#[test]
fn sniff_refuses_everything_else() {
    let cases: [(&str, &[u8]); 12] = [
        ("zero bytes", b""),
        ("HTML", b"<!DOCTYPE html><html><body>Not found</body></html>"),
        ("GIF", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,"),
        ("text", b"hello, world"),
        ("JSON", br#"{"error":"not found"}"#),
        ("two bytes of JPEG", &[0xFF, 0xD8]),
        ("half a PNG signature", &[0x89, b'P', b'N', b'G']),
        ("a WAVE file", b"RIFF\x24\x00\x00\x00WAVEfmt "),
        ("HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
        ("AVIF", b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif"),
        ("a tiny ftyp box", b"\x00\x00\x00\x08ftypisom"),
        ("an unknown first box", b"\x00\x00\x00\x10abcdefghijklmnop"),
    ];
    for (what, bytes) in cases {
        assert_eq!(sniff(bytes), None, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Declared types
// ---------------------------------------------------------------------------------------------

#[test]
fn declared_types_that_say_nothing_pass() {
    for declared in
        [None, Some(""), Some("  "), Some("application/octet-stream"), Some("binary/octet-stream"), Some("*/*")]
    {
        for format in [MediaFormat::Jpeg, MediaFormat::Png, MediaFormat::Webp, MediaFormat::Mp4, MediaFormat::Mov] {
            assert_eq!(check_declared(declared, format), Ok(()), "{declared:?} for {format:?}");
        }
    }
}

#[test]
fn declared_types_matching_the_bytes_pass_with_aliases_parameters_and_any_case() {
    let cases = [
        ("image/jpeg", MediaFormat::Jpeg),
        ("IMAGE/JPEG; charset=binary", MediaFormat::Jpeg),
        ("image/jpg", MediaFormat::Jpeg),
        ("image/pjpeg", MediaFormat::Jpeg),
        (" image/png ", MediaFormat::Png),
        ("image/x-png", MediaFormat::Png),
        ("image/webp", MediaFormat::Webp),
        ("video/mp4", MediaFormat::Mp4),
        ("video/x-m4v", MediaFormat::Mp4),
        ("video/quicktime", MediaFormat::Mov),
        ("video/mov", MediaFormat::Mov),
        ("Video/QuickTime;codecs=avc1", MediaFormat::Mov),
        ("image/*", MediaFormat::Png),
        ("video/*", MediaFormat::Mov),
    ];
    for (declared, format) in cases {
        assert_eq!(check_declared(Some(declared), format), Ok(()), "{declared} for {format:?}");
    }
}

/// MP4 and MOV are the same ISO-BMFF container family and routinely mislabelled as each
/// other, so the declared type may name either one.
#[test]
fn mp4_and_quicktime_declared_types_are_interchangeable() {
    assert_eq!(check_declared(Some("video/mp4"), MediaFormat::Mov), Ok(()));
    assert_eq!(check_declared(Some("video/quicktime"), MediaFormat::Mp4), Ok(()));
    assert_eq!(check_declared(Some("video/mov"), MediaFormat::Mp4), Ok(()));
}

#[test]
fn declared_types_contradicting_the_bytes_are_a_mismatch() {
    let cases = [
        ("image/png", MediaFormat::Jpeg),
        ("image/jpeg", MediaFormat::Png),
        ("image/webp", MediaFormat::Jpeg),
        ("video/mp4", MediaFormat::Png),
        ("video/quicktime", MediaFormat::Jpeg),
        ("image/jpeg", MediaFormat::Mp4),
        ("text/html", MediaFormat::Jpeg),
        ("text/html", MediaFormat::Mp4),
        ("image/gif", MediaFormat::Png),
        ("video/*", MediaFormat::Jpeg),
        ("image/*", MediaFormat::Mov),
        ("application/json", MediaFormat::Webp),
    ];
    for (declared, format) in cases {
        let expected = MediaError::TypeMismatch { declared: declared.to_owned(), detected: format.mime_type() };
        assert_error(check_declared(Some(declared), format), &expected, "media_type_mismatch");
    }
}

#[test]
fn a_mismatch_reports_the_essence_of_the_declared_type() {
    let expected = MediaError::TypeMismatch { declared: "text/html".to_owned(), detected: "image/jpeg" };
    assert_error(check_declared(Some("Text/HTML; charset=utf-8"), MediaFormat::Jpeg), &expected, "media_type_mismatch");
}

#[test]
fn a_mismatch_does_not_echo_a_huge_declared_type() {
    let declared = format!("text/{}", "x".repeat(10_000));
    match check_declared(Some(&declared), MediaFormat::Png) {
        Err(MediaError::TypeMismatch { declared, .. }) => assert!(declared.chars().count() <= 101, "{declared}"),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The entry point
// ---------------------------------------------------------------------------------------------

#[test]
fn zero_bytes_are_empty() {
    assert_error(inspect(b"", None, &config()), &MediaError::Empty, "media_empty");
    assert_error(inspect(b"", Some("image/jpeg"), &config()), &MediaError::Empty, "media_empty");
}

#[test]
fn html_served_as_jpeg_is_not_a_supported_type() {
    let html = b"<!DOCTYPE html>\n<html><head><title>404</title></head><body>Not Found</body></html>\n";
    assert_error(inspect(html, Some("image/jpeg"), &config()), &MediaError::UnsupportedType, "media_unsupported_type");
}

#[test]
fn gif_and_text_are_not_supported_types() {
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,";
    assert_error(inspect(gif, Some("image/gif"), &config()), &MediaError::UnsupportedType, "media_unsupported_type");
    assert_error(inspect(b"just text", None, &config()), &MediaError::UnsupportedType, "media_unsupported_type");
}

#[test]
fn a_real_image_declared_as_html_is_a_mismatch() {
    let expected = MediaError::TypeMismatch { declared: "text/html".to_owned(), detected: "image/png" };
    assert_error(inspect(&png(), Some("text/html"), &config()), &expected, "media_type_mismatch");
}

#[test]
fn inspect_dispatches_images_and_videos() {
    let info = inspect(&jpeg(), Some("image/jpg"), &config()).expect("a valid JPEG");
    assert_eq!(info, Inspected::Image(ImageInfo { format: MediaFormat::Jpeg, width: 40, height: 30 }));
    match inspect(&Movie::mp4().build(), Some("video/mp4"), &config()) {
        Ok(Inspected::Video(info)) => assert_eq!(info.format, MediaFormat::Mp4),
        other => panic!("expected a video, got {other:?}"),
    }
}

#[test]
fn inspecting_with_the_wrong_kind_of_format_is_refused() {
    assert_error(
        inspect_image(&jpeg(), MediaFormat::Mp4, &config()),
        &MediaError::UnsupportedType,
        "media_unsupported_type",
    );
    assert_error(
        inspect_video(&Movie::mp4().build(), MediaFormat::Png, &config()),
        &MediaError::UnsupportedType,
        "media_unsupported_type",
    );
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_images_report_their_dimensions_like_the_image_crate() {
    for (bytes, format, image_format) in [
        (jpeg(), MediaFormat::Jpeg, ImageFormat::Jpeg),
        (png(), MediaFormat::Png, ImageFormat::Png),
        (webp(), MediaFormat::Webp, ImageFormat::WebP),
    ] {
        let info = image(&bytes).unwrap_or_else(|error| panic!("{format:?}: {error}"));
        assert_eq!(info, ImageInfo { format, width: 40, height: 30 });
        let reference = ImageReader::with_format(Cursor::new(&bytes), image_format).into_dimensions();
        assert_eq!(reference.expect("the image crate reads it"), (40, 30), "{format:?}");
    }
}

#[test]
fn lossy_and_extended_webp_dimensions_are_read() {
    assert_eq!(image(&lossy_webp(640, 480)), Ok(ImageInfo { format: MediaFormat::Webp, width: 640, height: 480 }));
    assert_eq!(image(&extended_webp(40, 30)), Ok(ImageInfo { format: MediaFormat::Webp, width: 40, height: 30 }));
    let reference = ImageReader::with_format(Cursor::new(extended_webp(40, 30)), ImageFormat::WebP).into_dimensions();
    assert_eq!(reference.expect("the image crate reads it"), (40, 30));
}

#[test]
fn a_png_declaring_100000_by_100000_pixels_is_refused_in_microseconds() {
    let bomb = png_declaring(100_000, 100_000);
    let expected = MediaError::TooManyPixels { width: 100_000, height: 100_000, limit: 64_000_000 };
    assert_error(image(&bomb), &expected, "media_too_many_pixels");
    assert_error(inspect(&bomb, Some("image/png"), &config()), &expected, "media_too_many_pixels");
    let elapsed = fastest(20, || assert!(inspect(&bomb, None, &config()).is_err()));
    assert!(elapsed < Duration::from_millis(1), "took {elapsed:?}");
}

#[test]
fn a_bomb_is_refused_even_when_nothing_follows_its_header() {
    let bomb = png_declaring(100_000, 100_000);
    let expected = MediaError::TooManyPixels { width: 100_000, height: 100_000, limit: 64_000_000 };
    assert_error(image(&bomb[..33]), &expected, "media_too_many_pixels");
}

#[test]
fn a_jpeg_declaring_too_many_pixels_is_refused() {
    let bomb = jpeg_declaring(65_535, 65_535);
    let expected = MediaError::TooManyPixels { width: 65_535, height: 65_535, limit: 64_000_000 };
    assert_error(image(&bomb), &expected, "media_too_many_pixels");
}

#[test]
fn a_webp_declaring_too_many_pixels_is_refused() {
    let expected = MediaError::TooManyPixels { width: 16_383, height: 16_383, limit: 64_000_000 };
    assert_error(image(&lossy_webp(16_383, 16_383)), &expected, "media_too_many_pixels");
}

/// A decoder decodes a `VP8X` file's image chunk at the size that chunk declares, whatever the
/// canvas says: a small canvas must not hide a huge frame.
#[test]
fn an_extended_webp_hiding_a_huge_frame_behind_a_small_canvas_is_refused_in_microseconds() {
    let bomb = riff_webp(&[vp8x_chunk(0, 100, 100), vp8_chunk(16_000, 16_000)].concat());
    assert!(bomb.len() < 4096);
    let expected = MediaError::TooManyPixels { width: 16_000, height: 16_000, limit: 64_000_000 };
    assert_error(image(&bomb), &expected, "media_too_many_pixels");
    assert_error(inspect(&bomb, Some("image/webp"), &config()), &expected, "media_too_many_pixels");
    let elapsed = fastest(20, || assert!(inspect(&bomb, None, &config()).is_err()));
    assert!(elapsed < Duration::from_millis(1), "took {elapsed:?}");
}

#[test]
fn an_extended_webp_whose_frame_differs_from_its_canvas_is_corrupt() {
    for (width, height) in [(200, 200), (100, 99), (50, 100)] {
        let bytes = riff_webp(&[vp8x_chunk(0, 100, 100), vp8_chunk(width, height)].concat());
        assert_corrupt(image(&bytes), &format!("a {width}×{height} VP8 frame on a 100×100 canvas"));
    }
    // A lossless frame too: the 40×30 image data of `webp` on a 41×30 canvas.
    assert_corrupt(image(&extended_webp(41, 30)), "a 40×30 VP8L frame on a 41×30 canvas");
    let matching = riff_webp(&[vp8x_chunk(0, 100, 100), vp8_chunk(100, 100)].concat());
    assert_eq!(image(&matching), Ok(ImageInfo { format: MediaFormat::Webp, width: 100, height: 100 }));
    let bad_header = riff_webp(&[vp8x_chunk(0, 100, 100), riff_chunk(b"VP8 ", &[0; 16])].concat());
    assert_corrupt(image(&bad_header), "a VP8 frame without its start code");
}

#[test]
fn animation_frames_must_fit_the_canvas_and_match_their_image_data() {
    let animated =
        |frames: &[Vec<u8>]| riff_webp(&[vec![vp8x_chunk(0x02, 100, 100)], frames.to_vec()].concat().concat());
    let fits =
        animated(&[anmf_chunk(0, 0, 100, 100, &vp8_chunk(100, 100)), anmf_chunk(20, 40, 80, 60, &vp8_chunk(80, 60))]);
    assert_eq!(image(&fits), Ok(ImageInfo { format: MediaFormat::Webp, width: 100, height: 100 }));

    let bomb = animated(&[anmf_chunk(0, 0, 100, 100, &vp8_chunk(16_000, 16_000))]);
    let expected = MediaError::TooManyPixels { width: 16_000, height: 16_000, limit: 64_000_000 };
    assert_error(image(&bomb), &expected, "media_too_many_pixels");
    let huge_frame = animated(&[anmf_chunk(0, 0, 16_000, 16_000, &vp8_chunk(16_000, 16_000))]);
    assert_error(image(&huge_frame), &expected, "media_too_many_pixels");

    let cases = [
        ("a frame wider than the canvas", anmf_chunk(0, 0, 101, 100, &vp8_chunk(101, 100))),
        ("a frame pushed past the canvas", anmf_chunk(2, 0, 100, 100, &vp8_chunk(100, 100))),
        ("image data larger than its frame", anmf_chunk(0, 0, 50, 50, &vp8_chunk(60, 50))),
        ("image data smaller than its frame", anmf_chunk(0, 0, 50, 50, &vp8_chunk(50, 40))),
        ("a cut-off frame header", riff_chunk(b"ANMF", &[0; 10])),
    ];
    for (what, frame) in cases {
        assert_corrupt(image(&animated(&[frame])), what);
    }
}

#[test]
fn the_pixel_limit_is_inclusive() {
    let at_limit = MediaConfig { max_image_pixels: 40 * 30, ..config() };
    assert!(inspect_image(&png(), MediaFormat::Png, &at_limit).is_ok());
    let below = MediaConfig { max_image_pixels: 40 * 30 - 1, ..config() };
    let expected = MediaError::TooManyPixels { width: 40, height: 30, limit: 1199 };
    assert_error(inspect_image(&png(), MediaFormat::Png, &below), &expected, "media_too_many_pixels");
}

#[test]
fn a_zero_dimension_is_corrupt() {
    assert_corrupt(image(&png_declaring(0, 30)), "PNG of width 0");
    assert_corrupt(image(&jpeg_declaring(40, 0)), "JPEG of height 0");
    assert_corrupt(image(&lossy_webp(0, 10)), "WEBP of width 0");
}

#[test]
fn truncated_jpegs_are_corrupt() {
    let bytes = jpeg();
    let after_frame_header = jpeg_segment_end(&bytes, 0xC0);
    let after_scan_header = jpeg_segment_end(&bytes, 0xDA);
    let cuts = [
        ("the start-of-image marker and a byte", 3),
        ("in the middle of a header segment", 10),
        ("right after the frame header", after_frame_header),
        ("right after the scan header", after_scan_header),
        ("in the middle of the image data", (after_scan_header + bytes.len()) / 2),
        ("cut in half", bytes.len() / 2),
        ("without its end-of-image marker", bytes.len() - 2),
        ("one byte short", bytes.len() - 1),
    ];
    for (what, len) in cuts {
        assert_corrupt(image(&bytes[..len]), what);
        assert_corrupt(inspect(&bytes[..len], Some("image/jpeg"), &config()), what);
    }
    assert_corrupt(inspect_image(&bytes[..2], MediaFormat::Jpeg, &config()), "only the start-of-image marker");
}

#[test]
fn a_jpeg_followed_by_other_data_is_accepted() {
    // Motion photos append a whole video after the JPEG's end-of-image marker.
    let mut bytes = jpeg();
    bytes.extend(Movie::mp4().build());
    assert_eq!(image(&bytes), Ok(ImageInfo { format: MediaFormat::Jpeg, width: 40, height: 30 }));
}

#[test]
fn a_jpeg_without_image_data_is_corrupt() {
    let bytes = jpeg();
    let after_frame_header = jpeg_segment_end(&bytes, 0xC0);
    let headers_then_end = [&bytes[..after_frame_header], &[0xFF, 0xD9]].concat();
    assert_corrupt(image(&headers_then_end), "frame header then end-of-image");
    let start_then_end = [0xFF, 0xD8, 0xFF, 0xD9];
    assert_corrupt(inspect_image(&start_then_end, MediaFormat::Jpeg, &config()), "start then end");
}

#[test]
fn truncated_pngs_are_corrupt() {
    let bytes = png();
    let cuts = [
        ("the signature only", 8),
        ("in the IHDR chunk", 20),
        ("right after the IHDR chunk", 33),
        ("cut in half", bytes.len() / 2),
        ("without its IEND chunk", bytes.len() - 12),
        ("one byte short", bytes.len() - 1),
    ];
    for (what, len) in cuts {
        assert_corrupt(image(&bytes[..len]), what);
    }
}

#[test]
fn a_png_with_a_damaged_header_is_corrupt() {
    let mut bad_colour_type = png();
    bad_colour_type[25] = 5;
    assert_corrupt(image(&bad_colour_type), "colour type 5");
    let mut no_ihdr = png();
    no_ihdr[12..16].copy_from_slice(b"IDAT");
    assert_corrupt(image(&no_ihdr), "no IHDR first");
}

#[test]
fn truncated_webps_are_corrupt() {
    for (what, bytes) in [("lossless", webp()), ("lossy", lossy_webp(64, 48)), ("extended", extended_webp(40, 30))] {
        for (cut, len) in [("header only", 20), ("after the first chunk header", 30), ("half", bytes.len() / 2)] {
            assert_corrupt(image(&bytes[..len]), &format!("{what} WEBP: {cut}"));
        }
        assert_corrupt(image(&bytes[..bytes.len() - 1]), &format!("{what} WEBP: one byte short"));
    }
}

#[test]
fn a_webp_with_trailing_data_after_its_riff_size_is_accepted() {
    let mut bytes = webp();
    bytes.extend_from_slice(b"trailing");
    assert!(image(&bytes).is_ok());
}

#[test]
fn an_extended_webp_without_image_data_is_corrupt() {
    let vp8x = riff_chunk(b"VP8X", &[0, 0, 0, 0, 39, 0, 0, 29, 0, 0]);
    let bytes = riff_webp(&[vp8x, riff_chunk(b"EXIF", b"exif")].concat());
    assert_corrupt(image(&bytes), "VP8X with no image chunk");
}

// ---------------------------------------------------------------------------------------------
// Videos
// ---------------------------------------------------------------------------------------------

#[test]
fn a_valid_h264_mp4_with_moov_first_is_read() {
    let info = video(&Movie::mp4().build()).expect("a valid MP4");
    assert_eq!(
        info,
        VideoInfo {
            format: MediaFormat::Mp4,
            duration_ms: 12_500,
            width: 1280,
            height: 720,
            codec: "avc1".to_owned(),
            moov_before_mdat: true,
        }
    );
    assert_eq!(info.duration_secs(), 13);
}

#[test]
fn mdat_before_moov_is_reported() {
    let info = video(&Movie { moov_first: false, ..Movie::mp4() }.build()).expect("a valid MP4");
    assert!(!info.moov_before_mdat);
    assert_eq!(info.duration_ms, 12_500);
}

#[test]
fn quicktime_movies_are_read() {
    let mov = video(&Movie { brand: Some(*b"qt  "), ..Movie::mp4() }.build()).expect("a valid MOV");
    assert_eq!((mov.format, mov.duration_ms, mov.codec.as_str()), (MediaFormat::Mov, 12_500, "avc1"));
    let legacy = Movie { brand: None, ..Movie::mp4() }.build();
    let info = video(&legacy).expect("a valid legacy MOV");
    assert_eq!((info.format, info.moov_before_mdat), (MediaFormat::Mov, true));
    let legacy_mdat_first = Movie { brand: None, moov_first: false, ..Movie::mp4() }.build();
    let info = video(&legacy_mdat_first).expect("a valid legacy MOV");
    assert_eq!((info.format, info.moov_before_mdat), (MediaFormat::Mov, false));
}

#[test]
fn avc3_is_h264_too() {
    let movie = Movie::mp4().with_tracks(vec![Track::video(b"avc3")]).build();
    assert_eq!(video(&movie).map(|info| info.codec), Ok("avc3".to_owned()));
}

#[test]
fn an_mp4_without_moov_is_refused() {
    let movie = Movie::mp4().build();
    let ftyp = Movie::mp4().ftyp();
    let mdat = bx(b"mdat", &[&[0xAB; 1000]]);
    let without_moov = [ftyp.clone(), bx(b"free", &[]), mdat.clone()].concat();
    assert_error(video(&without_moov), &MediaError::MissingMoov, "video_missing_moov");
    assert_error(inspect(&without_moov, Some("video/mp4"), &config()), &MediaError::MissingMoov, "video_missing_moov");
    assert_error(video(&ftyp), &MediaError::MissingMoov, "video_missing_moov");
    assert!(video(&movie).is_ok());
}

#[test]
fn a_video_over_the_limit_is_too_long() {
    let movie = Movie::mp4().with_duration(600, 61 * 600).build();
    assert_error(video(&movie), &MediaError::VideoTooLong { seconds: 61, limit: 60 }, "video_too_long");
}

#[test]
fn the_duration_limit_is_compared_in_milliseconds() {
    let exactly = Movie::mp4().with_duration(1000, 60_000).build();
    assert_eq!(video(&exactly).map(|info| info.duration_secs()), Ok(60));
    let just_over = Movie::mp4().with_duration(1000, 60_001).build();
    assert_error(video(&just_over), &MediaError::VideoTooLong { seconds: 61, limit: 60 }, "video_too_long");
    let strict = MediaConfig { max_video_seconds: 10, ..config() };
    let expected = MediaError::VideoTooLong { seconds: 13, limit: 10 };
    assert_error(inspect_video(&Movie::mp4().build(), MediaFormat::Mp4, &strict), &expected, "video_too_long");
}

#[test]
fn hevc_is_an_unsupported_codec() {
    for codec in [b"hvc1", b"hev1", b"mp4v", b"av01"] {
        let movie = Movie::mp4().with_tracks(vec![Track::video(codec)]).build();
        let expected = MediaError::UnsupportedCodec(String::from_utf8_lossy(codec).into_owned());
        assert_error(video(&movie), &expected, "video_unsupported_codec");
    }
}

#[test]
fn a_movie_with_only_audio_has_no_video_track() {
    let movie = Movie::mp4().with_tracks(vec![Track::audio()]).build();
    assert_error(video(&movie), &MediaError::NoVideoTrack, "video_no_video_track");
    let no_tracks = Movie::mp4().with_tracks(vec![]).build();
    assert_error(video(&no_tracks), &MediaError::NoVideoTrack, "video_no_video_track");
}

#[test]
fn the_first_video_track_is_used_whatever_comes_before_it() {
    let hevc = Track { width: 640, height: 360, ..Track::video(b"hvc1") };
    let movie = Movie::mp4().with_tracks(vec![Track::audio(), Track::video(b"avc1"), hevc]).build();
    let info = video(&movie).expect("the H.264 track is first");
    assert_eq!((info.width, info.height, info.codec.as_str()), (1280, 720, "avc1"));
}

#[test]
fn version_1_headers_are_read() {
    let track = Track { version: 1, ..Track::video(b"avc1") };
    let movie = Movie { mvhd_version: 1, ..Movie::mp4() }.with_duration(90_000, 1_125_000).with_tracks(vec![track]);
    let info = video(&movie.build()).expect("version 1 headers");
    assert_eq!((info.duration_ms, info.width, info.height), (12_500, 1280, 720));
}

#[test]
fn a_rotated_track_reports_its_display_size() {
    let portrait = Track { matrix: ROTATE_90, ..Track::video(b"avc1") };
    let info = video(&Movie::mp4().with_tracks(vec![portrait]).build()).expect("a portrait video");
    assert_eq!((info.width, info.height), (720, 1280));
}

#[test]
fn a_zero_track_header_size_falls_back_to_the_sample_entry() {
    let mut movie = Movie::mp4().build();
    // Zero the 16.16 width and height at the end of the tkhd box (92 bytes, version 0).
    let tkhd = movie.windows(4).position(|window| window == b"tkhd").expect("a tkhd box") - 4;
    movie[tkhd + 84..tkhd + 92].fill(0);
    let info = video(&movie).expect("sizes from the sample entry");
    assert_eq!((info.width, info.height), (1280, 720));
}

#[test]
fn an_unknown_movie_duration_falls_back_to_the_track_duration() {
    let movie = Movie::mp4().with_duration(1000, 0).build();
    assert_eq!(video(&movie).map(|info| info.duration_ms), Ok(12_500));
    let nowhere = Track { media_timing: (90_000, 0), ..Track::video(b"avc1") };
    let movie = Movie::mp4().with_duration(1000, 0).with_tracks(vec![nowhere]).build();
    assert_corrupt(video(&movie), "no duration anywhere");
}

#[test]
fn a_zero_timescale_is_corrupt() {
    assert_corrupt(video(&Movie::mp4().with_duration(0, 12_500).build()), "timescale 0");
}

#[test]
fn a_64_bit_largesize_mdat_is_read() {
    for moov_first in [true, false] {
        let movie = Movie { large_mdat: true, moov_first, ..Movie::mp4() }.build();
        let info = video(&movie).expect("a 64-bit mdat");
        assert_eq!((info.moov_before_mdat, info.duration_ms), (moov_first, 12_500));
    }
}

#[test]
fn an_mdat_of_size_zero_runs_to_the_end_of_the_file() {
    let mut movie = Movie::mp4().build();
    let mdat = movie.len() - 4096 - 8;
    assert_eq!(&movie[mdat + 4..mdat + 8], b"mdat");
    movie[mdat..mdat + 4].fill(0);
    assert_eq!(video(&movie).map(|info| info.moov_before_mdat), Ok(true));
}

#[test]
fn a_box_of_size_zero_before_moov_hides_it() {
    let movie = Movie { moov_first: false, ..Movie::mp4() }.build();
    let mut hidden = movie.clone();
    let mdat = Movie::mp4().ftyp().len();
    hidden[mdat..mdat + 4].fill(0);
    assert_error(video(&hidden), &MediaError::MissingMoov, "video_missing_moov");
}

#[test]
fn garbage_box_sizes_are_corrupt_and_never_panic() {
    let ftyp = Movie::mp4().ftyp();
    let moov = Movie::mp4().moov(0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("size 1 with a largesize of 0", [&ftyp[..], &raw_header(1, b"mdat"), &0_u64.to_be_bytes()].concat()),
        ("size 1 with a largesize of 8", [&ftyp[..], &raw_header(1, b"mdat"), &8_u64.to_be_bytes()].concat()),
        ("size 1 with a huge largesize", [&ftyp[..], &raw_header(1, b"mdat"), &u64::MAX.to_be_bytes()].concat()),
        ("size 1 cut off", [&ftyp[..], &raw_header(1, b"mdat"), &[0, 0]].concat()),
        ("size 4", [&ftyp[..], &raw_header(4, b"free"), &moov].concat()),
        ("size 7", [&ftyp[..], &raw_header(7, b"free"), &moov].concat()),
        ("size larger than the file", [&ftyp[..], &raw_header(1_000_000, b"mdat"), &[0; 100]].concat()),
        ("size u32::MAX", [&ftyp[..], &raw_header(u32::MAX, b"moov"), &moov].concat()),
        ("a child larger than moov", [&ftyp[..], &bx(b"moov", &[&raw_header(500, b"trak")])].concat()),
        ("a cut-off box header", [&ftyp[..], &moov, &[0, 0, 1]].concat()),
    ];
    for (what, bytes) in cases {
        assert_corrupt(video(&bytes), what);
    }
}

#[test]
fn truncated_movies_are_corrupt() {
    let moov_first = Movie::mp4().build();
    let mdat_first = Movie { moov_first: false, ..Movie::mp4() }.build();
    let moov_len = Movie::mp4().moov(0).len();
    let ftyp_len = Movie::mp4().ftyp().len();
    let cases = [
        ("moov first, cut in the mdat", &moov_first[..moov_first.len() / 2 + moov_len]),
        ("moov first, cut in half", &moov_first[..moov_first.len() / 2]),
        ("moov first, cut in the moov", &moov_first[..ftyp_len + moov_len / 2]),
        ("mdat first, cut in the moov", &mdat_first[..mdat_first.len() - 10]),
        ("mdat first, cut in the mdat", &mdat_first[..ftyp_len + 100]),
    ];
    for (what, bytes) in cases {
        assert_corrupt(video(bytes), what);
    }
}

#[test]
fn a_movie_whose_media_data_is_missing_is_corrupt() {
    let movie = Movie::mp4().build();
    let without_mdat = &movie[..Movie::mp4().ftyp().len() + Movie::mp4().moov(0).len()];
    assert_corrupt(video(without_mdat), "moov without mdat, chunks beyond the end");
}

/// The offset of the first field after the version and flags of the first `kind` box in
/// `movie` (a search for its type: the test movies have one video track).
fn full_box_fields(movie: &[u8], kind: &[u8; 4]) -> usize {
    movie.windows(4).position(|window| window == kind).expect("the box is there") + 8
}

/// `movie` with the big-endian 32-bit field at `at` set to `value`.
fn patched(movie: &[u8], at: usize, value: u32) -> Vec<u8> {
    let mut out = movie.to_vec();
    out[at..at + 4].copy_from_slice(&value.to_be_bytes());
    out
}

#[test]
fn a_video_track_without_samples_is_corrupt_unless_fragmented() {
    let movie = Movie::mp4().build();
    let stsz = full_box_fields(&movie, b"stsz");
    let no_samples = patched(&movie, stsz + 4, 0);
    assert_corrupt(video(&no_samples), "a sample count of zero");
    let moov = full_box_fields(&movie, b"moov") - 8;
    let no_mdat = [&movie[..moov], &Movie::mp4().moov(0)[..]].concat();
    assert_corrupt(video(&no_mdat), "no mdat at all");
    // A fragmented file keeps its samples in fragments (`moof`), after an empty sample table.
    let fragmented = [no_samples.clone(), bx(b"moof", &[&bx(b"mfhd", &[&[0; 8]])])].concat();
    assert!(video(&fragmented).is_ok(), "{:?}", video(&fragmented));
}

#[test]
fn chunks_must_lie_inside_the_mdat_payload() {
    for moov_first in [true, false] {
        let movie = Movie { moov_first, ..Movie::mp4() }.build();
        let stco = full_box_fields(&movie, b"stco");
        let chunk_offset = u32::from_be_bytes(movie[stco + 4..stco + 8].try_into().expect("4 bytes"));
        let moov = u32::try_from(full_box_fields(&movie, b"moov") - 8).expect("small");
        let len = u32::try_from(movie.len()).expect("small");
        let cases = [
            ("an offset into moov", moov + 16),
            ("an offset into the ftyp box", 8),
            ("an offset on the mdat header", chunk_offset - 8),
            ("an offset past the end of the file", len + 100),
            ("an offset at the very end of the file", len),
            ("a chunk running past the end of its mdat", chunk_offset + 1),
            ("a huge offset", u32::MAX),
        ];
        for (what, offset) in cases {
            assert_corrupt(video(&patched(&movie, stco + 4, offset)), &format!("moov first {moov_first}: {what}"));
        }
        let stsz = full_box_fields(&movie, b"stsz");
        assert_corrupt(video(&patched(&movie, stsz + 8, 4097)), "a sample larger than the mdat");
        assert_corrupt(video(&patched(&movie, stsz + 8, u32::MAX)), "a huge sample");
        assert!(video(&patched(&movie, stsz + 8, 10)).is_ok(), "a small sample at the start of mdat");
    }
}

#[test]
fn every_sample_must_be_in_a_chunk() {
    let movie = Movie::mp4().build();
    let stsz = full_box_fields(&movie, b"stsz");
    // Two samples of 100 bytes (a constant size), but one chunk of one sample.
    let more_samples = patched(&patched(&movie, stsz, 100), stsz + 4, 2);
    assert_corrupt(video(&more_samples), "a sample in no chunk");
    let stsc = full_box_fields(&movie, b"stsc");
    assert_corrupt(video(&patched(&movie, stsc, 0)), "an empty stsc box");
    let stco = full_box_fields(&movie, b"stco");
    assert_corrupt(video(&patched(&movie, stco, 0)), "no chunks");
    assert_corrupt(video(&patched(&movie, stco, 1000)), "a cut-off stco box");
}

#[test]
fn a_short_movie_header_does_not_hide_a_long_track() {
    // The movie header says 5 s; the track's media header says 600 s.
    let long_track =
        Track { media_timing: (90_000, 600 * 90_000), stts: Some(vec![(1, 450_000)]), ..Track::video(b"avc1") };
    let movie = Movie::mp4().with_duration(1000, 5_000).with_tracks(vec![long_track]).build();
    assert_error(video(&movie), &MediaError::VideoTooLong { seconds: 600, limit: 60 }, "video_too_long");
    // Both headers say 5 s; the samples last 600 s (20 × 30 s).
    let long_samples =
        Track { media_timing: (1000, 5_000), stts: Some(vec![(1, 0), (20, 30_000)]), ..Track::video(b"avc1") };
    let movie = Movie::mp4().with_duration(1000, 5_000).with_tracks(vec![long_samples]).build();
    assert_error(video(&movie), &MediaError::VideoTooLong { seconds: 600, limit: 60 }, "video_too_long");
    // Sums that overflow saturate instead of wrapping to something short.
    let overflow = Track { stts: Some(vec![(u32::MAX, u32::MAX); 3]), ..Track::video(b"avc1") };
    let movie = Movie::mp4().with_duration(1000, 5_000).with_tracks(vec![overflow]).build();
    assert!(matches!(video(&movie), Err(MediaError::VideoTooLong { .. })));
    // Agreeing headers and samples give the common duration.
    let agreeing = Track { media_timing: (1000, 5_000), stts: Some(vec![(5, 1000)]), ..Track::video(b"avc1") };
    let movie = Movie::mp4().with_duration(1000, 5_000).with_tracks(vec![agreeing]).build();
    assert_eq!(video(&movie).map(|info| info.duration_ms), Ok(5_000));
}

#[test]
fn a_video_track_without_a_media_header_is_corrupt() {
    let mut movie = Movie::mp4().build();
    let mdhd = full_box_fields(&movie, b"mdhd") - 4;
    movie[mdhd..mdhd + 4].copy_from_slice(b"xdhd");
    assert_corrupt(video(&movie), "no mdhd");
}

#[test]
fn every_prefix_and_every_damaged_byte_of_a_movie_is_handled_without_panic() {
    let movie = Movie::mp4().with_tracks(vec![Track::audio(), Track::video(b"avc1")]);
    let movie = Movie { mdat_len: 64, ..movie }.build();
    for len in 0..movie.len() {
        let _ = inspect(&movie[..len], None, &config());
    }
    for at in 0..movie.len() {
        for value in [0x00, 0x01, 0x07, 0x80, 0xFF] {
            let mut damaged = movie.clone();
            damaged[at] = value;
            let _ = inspect(&damaged, None, &config());
        }
    }
}

#[test]
fn every_prefix_and_every_damaged_byte_of_an_image_is_handled_without_panic() {
    for bytes in [jpeg(), png(), webp(), lossy_webp(64, 48), extended_webp(40, 30)] {
        for len in 0..bytes.len() {
            let _ = inspect(&bytes[..len], None, &config());
        }
        for at in 0..bytes.len().min(400) {
            for value in [0x00, 0x01, 0xD9, 0xFF] {
                let mut damaged = bytes.clone();
                damaged[at] = value;
                let _ = inspect(&damaged, None, &config());
            }
        }
    }
}

#[test]
fn a_16_mib_mp4_is_inspected_without_reading_its_media_data() {
    let movie = Movie { mdat_len: 16 * 1024 * 1024, ..Movie::mp4() };
    for moov_first in [true, false] {
        let bytes = Movie { moov_first, ..movie.clone() }.build();
        assert!(bytes.len() > 16 * 1024 * 1024);
        let elapsed = fastest(5, || assert!(inspect(&bytes, Some("video/mp4"), &config()).is_ok()));
        // Walking the headers takes microseconds; the bound only has to catch a scan of the
        // 16 MiB (and stay green on a loaded CI machine).
        assert!(elapsed < Duration::from_millis(100), "moov first {moov_first}: took {elapsed:?}");
    }
}
