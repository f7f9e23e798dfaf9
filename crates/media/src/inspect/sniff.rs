//! Format detection from magic numbers and, for MP4 and MOV, from the first box.

use super::read;
use crate::MediaFormat;

/// The eight bytes every PNG file starts with.
pub(super) const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

/// The major brands of HEIF and AVIF still images and image sequences: ISO-BMFF files with an
/// `ftyp` box that are pictures, not movies, and have no `moov` box.
const IMAGE_BRANDS: [&[u8; 4]; 10] =
    [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"];

/// The box types a legacy QuickTime file (one without `ftyp`) may start with.
const LEGACY_QUICKTIME_FIRST_BOXES: [&[u8; 4]; 5] = [b"moov", b"mdat", b"wide", b"free", b"skip"];

/// Detects the format of `bytes` from their first bytes alone.
pub(super) fn sniff(bytes: &[u8]) -> Option<MediaFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MediaFormat::Jpeg)
    } else if bytes.starts_with(&PNG_SIGNATURE) {
        Some(MediaFormat::Png)
    } else if is_webp(bytes) {
        Some(MediaFormat::Webp)
    } else {
        sniff_bmff(bytes)
    }
}

/// Whether `bytes` start with a RIFF header of form type `WEBP`.
fn is_webp(bytes: &[u8]) -> bool {
    bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice())
}

/// Detects MP4 and MOV from the first ISO-BMFF box.
///
/// A first `ftyp` box whose major brand is `qt  ` is QuickTime; HEIF and AVIF brands are
/// pictures, not movies, and are not supported; any other brand is MP4. A file without `ftyp`
/// whose first box is one a legacy QuickTime file starts with is QuickTime.
fn sniff_bmff(bytes: &[u8]) -> Option<MediaFormat> {
    let size = read::be_u32(bytes, 0)?;
    let kind = read::array::<4>(bytes, 4)?;
    if &kind == b"ftyp" {
        // An `ftyp` box holds at least its header, a major brand and a minor version.
        if size < 16 && size != 1 {
            return None;
        }
        let brand = read::array::<4>(bytes, 8)?;
        return if &brand == b"qt  " {
            Some(MediaFormat::Mov)
        } else if IMAGE_BRANDS.contains(&&brand) {
            None
        } else {
            Some(MediaFormat::Mp4)
        };
    }
    let plausible_size = size == 0 || size == 1 || size >= 8;
    (plausible_size && LEGACY_QUICKTIME_FIRST_BOXES.contains(&&kind)).then_some(MediaFormat::Mov)
}
