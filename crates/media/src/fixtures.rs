//! Media for tests in this and other crates (feature `fixtures`): small, valid files built in
//! code, so no binary fixtures need to be committed.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

/// A `width`×`height` image in `format`, with a red top-left corner on a blue background (so a
/// test can see where the corner went after rotation).
pub fn image(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut img = RgbImage::from_pixel(width, height, Rgb([20, 40, 200]));
    for y in 0..height.min(4) {
        for x in 0..width.min(4) {
            img.put_pixel(x, y, Rgb([230, 20, 20]));
        }
    }
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).expect("encoding an image in memory cannot fail");
    out
}

/// What the MP4 fixture contains.
#[derive(Debug, Clone)]
pub struct Video {
    /// `b"isom"` for MP4, `b"qt  "` for QuickTime.
    pub brand: [u8; 4],
    pub duration_ms: u32,
    pub width: u16,
    pub height: u16,
    /// The sample entry type: `b"avc1"` for H.264.
    pub codec: [u8; 4],
    /// Write `moov` before `mdat` (a "fast start" file).
    pub moov_first: bool,
    /// Bytes of (meaningless) media data in `mdat`.
    pub mdat_len: usize,
}

impl Default for Video {
    fn default() -> Self {
        Self {
            brand: *b"isom",
            duration_ms: 12_500,
            width: 1080,
            height: 1920,
            codec: *b"avc1",
            moov_first: true,
            mdat_len: 1024,
        }
    }
}

impl Video {
    /// The file's bytes: `ftyp`, `moov` (with one video track) and `mdat`.
    ///
    /// The track has a real sample table: one sample lasting the whole duration, as large as
    /// the whole `mdat` payload, in one chunk that starts at the `mdat` payload. The length of
    /// the file is the length with `mdat_len: 0` plus `mdat_len`.
    pub fn build(&self) -> Vec<u8> {
        let ftyp = boxed(b"ftyp", &[&self.brand[..], &0u32.to_be_bytes(), &self.brand, b"mp41"].concat());
        let moov = |chunk_offset: u32| boxed(b"moov", &[self.mvhd(), self.trak(chunk_offset)].concat());
        // The chunk offset field has a fixed width, so the length of `moov` does not depend on it.
        let before_mdat_payload = ftyp.len() + 8 + if self.moov_first { moov(0).len() } else { 0 };
        let moov = moov(u32::try_from(before_mdat_payload).expect("fixture boxes are small"));
        let mdat = boxed(b"mdat", &vec![0x5A; self.mdat_len]);
        if self.moov_first { [ftyp, moov, mdat].concat() } else { [ftyp, mdat, moov].concat() }
    }

    fn mvhd(&self) -> Vec<u8> {
        let mut b = vec![0u8; 4]; // version 0, flags
        b.extend(0u32.to_be_bytes()); // creation time
        b.extend(0u32.to_be_bytes()); // modification time
        b.extend(1000u32.to_be_bytes()); // timescale: milliseconds
        b.extend(self.duration_ms.to_be_bytes());
        b.extend(0x0001_0000u32.to_be_bytes()); // rate 1.0
        b.extend(0x0100u16.to_be_bytes()); // volume 1.0
        b.extend([0u8; 10]); // reserved
        b.extend(identity_matrix());
        b.extend([0u8; 24]); // pre-defined
        b.extend(2u32.to_be_bytes()); // next track id
        boxed(b"mvhd", &b)
    }

    fn trak(&self, chunk_offset: u32) -> Vec<u8> {
        let mut tkhd = vec![0, 0, 0, 3]; // version 0, flags: enabled | in movie
        tkhd.extend(0u32.to_be_bytes());
        tkhd.extend(0u32.to_be_bytes());
        tkhd.extend(1u32.to_be_bytes()); // track id
        tkhd.extend(0u32.to_be_bytes()); // reserved
        tkhd.extend(self.duration_ms.to_be_bytes());
        tkhd.extend([0u8; 8]); // reserved
        tkhd.extend([0u8; 8]); // layer, alternate group, volume, reserved
        tkhd.extend(identity_matrix());
        tkhd.extend((u32::from(self.width) << 16).to_be_bytes());
        tkhd.extend((u32::from(self.height) << 16).to_be_bytes());

        let mut mdhd = vec![0u8; 4];
        mdhd.extend(0u32.to_be_bytes());
        mdhd.extend(0u32.to_be_bytes());
        mdhd.extend(1000u32.to_be_bytes());
        mdhd.extend(self.duration_ms.to_be_bytes());
        mdhd.extend(0x55C4u16.to_be_bytes()); // language "und"
        mdhd.extend(0u16.to_be_bytes());

        let mut hdlr = vec![0u8; 4];
        hdlr.extend(0u32.to_be_bytes()); // pre-defined
        hdlr.extend(b"vide");
        hdlr.extend([0u8; 12]);
        hdlr.extend(b"VideoHandler\0");

        let mut entry = vec![0u8; 6]; // reserved
        entry.extend(1u16.to_be_bytes()); // data reference index
        entry.extend([0u8; 16]); // pre-defined, reserved
        entry.extend(self.width.to_be_bytes());
        entry.extend(self.height.to_be_bytes());
        entry.extend(0x0048_0000u32.to_be_bytes()); // 72 dpi
        entry.extend(0x0048_0000u32.to_be_bytes());
        entry.extend(0u32.to_be_bytes());
        entry.extend(1u16.to_be_bytes()); // frame count
        entry.extend([0u8; 32]); // compressor name
        entry.extend(0x0018u16.to_be_bytes()); // depth
        entry.extend((-1i16).to_be_bytes());
        let mut stsd = vec![0u8; 4];
        stsd.extend(1u32.to_be_bytes());
        stsd.extend(boxed(&self.codec, &entry));

        let full = |kind: &[u8; 4], fields: &[u32]| {
            let body: Vec<u8> = [0u32].iter().chain(fields).flat_map(|field| field.to_be_bytes()).collect();
            boxed(kind, &body)
        };
        let sample_size = u32::try_from(self.mdat_len).unwrap_or(u32::MAX);
        let stbl = boxed(
            b"stbl",
            &[
                boxed(b"stsd", &stsd),
                full(b"stts", &[1, 1, self.duration_ms]), // one sample lasting the whole duration
                full(b"stsc", &[1, 1, 1, 1]),             // chunks from the first: 1 sample each
                full(b"stsz", &[0, 1, sample_size]),      // sizes per sample: the whole mdat
                full(b"stco", &[1, chunk_offset]),
            ]
            .concat(),
        );
        let minf = boxed(b"minf", &stbl);
        let mdia = boxed(b"mdia", &[boxed(b"mdhd", &mdhd), boxed(b"hdlr", &hdlr), minf].concat());
        boxed(b"trak", &[boxed(b"tkhd", &tkhd), mdia].concat())
    }
}

fn identity_matrix() -> Vec<u8> {
    [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000].iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// An ISO-BMFF box: 32-bit size, four-character type, payload.
pub fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).expect("fixture boxes are small");
    [&size.to_be_bytes()[..], kind, payload].concat()
}

/// A valid 1×1 PNG whose header declares `width`×`height` pixels (a decompression bomb).
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = image(1, 1, ImageFormat::Png);
    // The IHDR chunk follows the 8-byte signature: length (4), type (4), width, height, ...
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// CRC-32 as PNG chunks use it (IEEE 802.3, reflected).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_video_passes_inspection_in_both_layouts_and_grows_with_its_mdat() {
        use crate::inspect::{Inspected, inspect};
        for moov_first in [true, false] {
            let video = Video { moov_first, ..Video::default() };
            match inspect(&video.build(), Some("video/mp4"), &crate::MediaConfig::default()) {
                Ok(Inspected::Video(info)) => {
                    assert_eq!((info.duration_ms, info.width, info.height), (12_500, 1080, 1920));
                    assert_eq!(info.moov_before_mdat, moov_first);
                }
                other => panic!("moov first {moov_first}: {other:?}"),
            }
            let empty = Video { mdat_len: 0, ..video.clone() }.build().len();
            assert_eq!(Video { mdat_len: 5000, ..video }.build().len(), empty + 5000);
        }
    }

    #[test]
    fn a_declared_png_keeps_a_valid_header() {
        let png = png_declaring(100_000, 100_000);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 100_000);
        // The image crate accepts the header (the CRC is right) and reports the lie.
        let reader = image::ImageReader::with_format(std::io::Cursor::new(&png), ImageFormat::Png);
        assert_eq!(reader.into_dimensions().unwrap(), (100_000, 100_000));
    }
}
