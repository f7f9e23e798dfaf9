//! JPEG: the frame header for the dimensions, and a walk to the end-of-image marker.
//!
//! A JPEG is a sequence of marker segments (`FF xx`, most with a 16-bit length), a frame
//! header (`SOFn`) with the dimensions, and one or more scans (`SOS` followed by
//! entropy-coded data) up to the end-of-image marker `FF D9`. Inside entropy-coded data a
//! `FF` byte is always followed by `00` (stuffing), a restart marker `D0`–`D7` or another
//! `FF` (fill), so the first other marker after a scan is real: another segment (progressive
//! JPEGs have several scans) or the end of the image.
//!
//! Truncation is detected by requiring that walk to reach `EOI`. This is linear in the size
//! of the JPEG itself (a search for `FF` bytes, no decoding), stops at `EOI` so data appended
//! after the image (motion photos append a whole MP4) is never scanned, and does not depend
//! on what follows the image: a file cut anywhere, even right after its headers, never
//! reaches `EOI`.

use super::images::Header;
use super::{corrupt, read};
use crate::MediaError;

/// Start of image.
const SOI: u8 = 0xD8;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan.
const SOS: u8 = 0xDA;

/// A marker segment: its marker and the bounds of its payload (after the length field).
#[derive(Debug, Clone, Copy)]
struct Segment {
    marker: u8,
    payload: usize,
    end: usize,
}

/// Reads the dimensions from the first frame header (`SOFn`).
pub(super) fn header(bytes: &[u8]) -> Result<Header, MediaError> {
    if !bytes.starts_with(&[0xFF, SOI]) {
        return Err(corrupt("the JPEG does not start with a start-of-image marker"));
    }
    let mut pos = 2;
    loop {
        let segment = segment_at(bytes, pos)?;
        if is_frame_header(segment.marker) {
            return frame_header(bytes, &segment);
        }
        if matches!(segment.marker, SOS | EOI) {
            return Err(corrupt("the JPEG has no frame header before its image data"));
        }
        pos = segment.end;
    }
}

/// Checks that the JPEG reaches its end-of-image marker through at least one scan.
pub(super) fn check_complete(bytes: &[u8], header: &Header) -> Result<(), MediaError> {
    let mut pos = header.rest;
    let mut scans = 0_usize;
    loop {
        let marker_at = if scans == 0 { pos } else { next_marker_in_scan(bytes, pos).ok_or_else(cut_off)? };
        let segment = segment_at(bytes, marker_at)?;
        match segment.marker {
            EOI if scans > 0 => return Ok(()),
            EOI => return Err(corrupt("the JPEG ends before its image data")),
            SOS => scans += 1,
            _ => {}
        }
        pos = segment.end;
    }
}

/// The error for a JPEG whose data stops before its end-of-image marker.
fn cut_off() -> MediaError {
    corrupt("the JPEG is cut off: its image data has no end-of-image marker")
}

/// Parses the marker segment starting at `pos`, skipping fill bytes before the marker.
fn segment_at(bytes: &[u8], pos: usize) -> Result<Segment, MediaError> {
    match read::u8_at(bytes, pos) {
        Some(0xFF) => {}
        Some(_) => return Err(corrupt("the JPEG has data where a marker was expected")),
        None => return Err(corrupt("the JPEG is cut off in its headers")),
    }
    let mut at = pos;
    while read::u8_at(bytes, at + 1) == Some(0xFF) {
        at += 1;
    }
    let marker = read::u8_at(bytes, at + 1).ok_or_else(|| corrupt("the JPEG is cut off in its headers"))?;
    let payload = at + 2;
    if marker == 0x00 {
        return Err(corrupt("the JPEG has an invalid marker"));
    }
    if is_standalone(marker) {
        return Ok(Segment { marker, payload, end: payload });
    }
    let length = read::be_u16(bytes, payload).ok_or_else(|| corrupt("the JPEG is cut off in its headers"))?;
    if length < 2 {
        return Err(corrupt("the JPEG has a segment shorter than its length field"));
    }
    let end = payload + usize::from(length);
    if end > bytes.len() {
        return Err(corrupt("the JPEG is cut off in its headers"));
    }
    Ok(Segment { marker, payload: payload + 2, end })
}

/// Markers without a length field or payload: `TEM`, the restart markers, `SOI` and `EOI`.
fn is_standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD9)
}

/// Whether `marker` is a frame header: `SOF0`–`SOF15` except `DHT`, `JPG` and `DAC`.
fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Reads the dimensions from a frame header: precision, height, width, component count.
fn frame_header(bytes: &[u8], segment: &Segment) -> Result<Header, MediaError> {
    let payload = bytes.get(segment.payload..segment.end).unwrap_or_default();
    let (Some(height), Some(width), Some(components)) =
        (read::be_u16(payload, 1), read::be_u16(payload, 3), read::u8_at(payload, 5))
    else {
        return Err(corrupt("the JPEG frame header is too short"));
    };
    if components == 0 {
        return Err(corrupt("the JPEG frame has no colour components"));
    }
    Ok(Header { width: u32::from(width), height: u32::from(height), rest: segment.end })
}

/// The offset of the next marker at or after `from`, skipping entropy-coded data: `FF 00`
/// (a stuffed `FF`), restart markers and fill bytes. `None` if the data ends first.
fn next_marker_in_scan(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let ff = at + bytes.get(at..)?.iter().position(|&byte| byte == 0xFF)?;
        match read::u8_at(bytes, ff + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at = ff + 1,
            _ => return Some(ff),
        }
    }
}
