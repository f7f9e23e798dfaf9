//! WEBP: the first chunk for the dimensions, and the RIFF structure for completeness.
//!
//! A WEBP is a RIFF file: `RIFF`, a 32-bit little-endian size of everything after it, `WEBP`,
//! then chunks (4-letter type, 32-bit size, data padded to an even length). The first chunk
//! is `VP8 ` (lossy), `VP8L` (lossless) or `VP8X` (extended: canvas size, then other chunks).
//! Truncation is detected by the RIFF size: every encoder writes it, and a file shorter than it
//! declares is cut off. The chunks inside are then walked (headers only) to check that they
//! fit, that one of them holds an image, and that every frame's own header agrees with the
//! canvas (a decoder allocates for the size the frame declares, not the canvas).

use super::images::{Header, check_pixels};
use super::{corrupt, read};
use crate::{MediaConfig, MediaError};

/// The offset of the first chunk, after `RIFF`, the size and `WEBP`.
const FIRST_CHUNK_AT: usize = 12;
/// A chunk's type and size fields.
const CHUNK_HEADER: usize = 8;
/// The fields of an `ANMF` chunk before its frame data: offset, size, duration and flags.
const ANMF_HEADER: usize = 16;
/// The start code of a VP8 key frame.
const VP8_START_CODE: [u8; 3] = [0x9D, 0x01, 0x2A];
/// The first byte of a VP8L stream.
const VP8L_SIGNATURE: u8 = 0x2F;

/// A chunk: its type and the bounds of its data (without padding).
#[derive(Debug, Clone, Copy)]
struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    /// The offset of the next chunk.
    next: usize,
}

/// Checks the RIFF size against the file's length and reads the dimensions from the first
/// chunk.
pub(super) fn header(bytes: &[u8]) -> Result<Header, MediaError> {
    let riff = riff_body(bytes)?;
    let chunk = chunk_at(riff, FIRST_CHUNK_AT)?;
    let (width, height) = match &chunk.kind {
        b"VP8 " => vp8_dimensions(chunk.data),
        b"VP8L" => vp8l_dimensions(chunk.data),
        b"VP8X" => vp8x_dimensions(chunk.data),
        _ => return Err(corrupt("the WEBP does not start with an image chunk")),
    }
    .ok_or_else(|| corrupt("the WEBP image header is invalid"))?;
    Ok(Header { width, height, rest: FIRST_CHUNK_AT })
}

/// Walks every chunk inside the RIFF size and requires one that holds an image.
///
/// Every image chunk is also read, because a decoder decodes a frame at the size its own
/// header declares (up to 16383×16383), not at the canvas size of a `VP8X` header:
/// - each `VP8 ` or `VP8L` chunk at the top level (the still image) must declare exactly the
///   size in the header (the canvas, or the first chunk's own size for a simple file);
/// - each `ANMF` frame must fit inside the canvas at its offset, and the `VP8 ` or `VP8L`
///   chunk inside it must declare exactly the frame's size.
///
/// A frame over `config.max_image_pixels` is [`MediaError::TooManyPixels`] (with the frame's
/// declared size: it is the bomb); a frame within the limit that disagrees with the canvas,
/// or an unreadable frame header, is [`MediaError::Corrupt`]. Only headers are read.
pub(super) fn check_complete(bytes: &[u8], header: &Header, config: &MediaConfig) -> Result<(), MediaError> {
    let riff = riff_body(bytes)?;
    let mut pos = header.rest;
    let mut has_image = false;
    while pos < riff.len() {
        let chunk = chunk_at(riff, pos)?;
        match &chunk.kind {
            b"VP8 " | b"VP8L" => {
                let (width, height) = frame_dimensions(&chunk, config)?;
                if (width, height) != (header.width, header.height) {
                    return Err(corrupt(format!(
                        "the WEBP image data is {width}×{height} pixels but its canvas is {}×{}",
                        header.width, header.height
                    )));
                }
                has_image = true;
            }
            b"ANMF" => {
                check_animation_frame(chunk.data, header, config)?;
                has_image = true;
            }
            _ => {}
        }
        pos = chunk.next;
    }
    if has_image { Ok(()) } else { Err(corrupt("the WEBP has no image data")) }
}

/// The size a `VP8 ` or `VP8L` chunk's bitstream declares, checked against the pixel limit.
fn frame_dimensions(chunk: &Chunk<'_>, config: &MediaConfig) -> Result<(u32, u32), MediaError> {
    let dimensions = match &chunk.kind {
        b"VP8 " => vp8_dimensions(chunk.data),
        _ => vp8l_dimensions(chunk.data),
    };
    let (width, height) = dimensions.ok_or_else(|| corrupt("the WEBP image data has an invalid header"))?;
    check_pixels(width, height, config)?;
    Ok((width, height))
}

/// Checks an `ANMF` chunk: offset (24 bits each, in units of 2 pixels) and size (24 bits each,
/// minus one) inside the canvas, and its image chunk of exactly that size.
fn check_animation_frame(data: &[u8], canvas: &Header, config: &MediaConfig) -> Result<(), MediaError> {
    let field = |at| read::le_u24(data, at).map(u64::from);
    let (Some(x), Some(y), Some(width), Some(height)) = (field(0), field(3), field(6), field(9)) else {
        return Err(corrupt("the WEBP animation frame header is cut off"));
    };
    let (x, y, width, height) = (x * 2, y * 2, width + 1, height + 1);
    // 24-bit fields plus one fit in a u32.
    let (frame_width, frame_height) =
        (u32::try_from(width).unwrap_or(u32::MAX), u32::try_from(height).unwrap_or(u32::MAX));
    check_pixels(frame_width, frame_height, config)?;
    if x + width > u64::from(canvas.width) || y + height > u64::from(canvas.height) {
        return Err(corrupt(format!(
            "a WEBP animation frame of {width}×{height} pixels at ({x}, {y}) does not fit its {}×{} canvas",
            canvas.width, canvas.height
        )));
    }
    let frame = data.get(ANMF_HEADER..).unwrap_or_default();
    let mut pos = 0;
    while pos < frame.len() {
        let chunk = chunk_at(frame, pos)?;
        if matches!(&chunk.kind, b"VP8 " | b"VP8L") {
            let declared = frame_dimensions(&chunk, config)?;
            if declared != (frame_width, frame_height) {
                return Err(corrupt(format!(
                    "a WEBP animation frame's image data is {}×{} pixels but the frame is {width}×{height}",
                    declared.0, declared.1
                )));
            }
        }
        pos = chunk.next;
    }
    Ok(())
}

/// The bytes covered by the RIFF size (trailing data after it is ignored), or an error if the
/// file is shorter than its RIFF size declares.
fn riff_body(bytes: &[u8]) -> Result<&[u8], MediaError> {
    let size = read::le_u32(bytes, 4).ok_or_else(|| corrupt("the WEBP is cut off in its header"))?;
    let end = usize::try_from(size).ok().and_then(|size| size.checked_add(8));
    match end.and_then(|end| bytes.get(..end)) {
        Some(riff) if riff.len() >= FIRST_CHUNK_AT => Ok(riff),
        Some(_) => Err(corrupt("the WEBP declares a RIFF size too small for its header")),
        None => Err(corrupt(format!(
            "the WEBP is cut off: it declares {} bytes but has {}",
            u64::from(size) + 8,
            bytes.len()
        ))),
    }
}

/// Reads the chunk at `pos`; its data must lie within `riff`. A missing pad byte after the
/// last chunk is tolerated, as decoders do.
fn chunk_at(riff: &[u8], pos: usize) -> Result<Chunk<'_>, MediaError> {
    let cut_off = || corrupt("the WEBP has a chunk that runs past the end of the file");
    let kind = read::array::<4>(riff, pos).ok_or_else(cut_off)?;
    let size = read::le_u32(riff, pos + 4).ok_or_else(cut_off)?;
    let start = pos + CHUNK_HEADER;
    let end = usize::try_from(size).ok().and_then(|size| start.checked_add(size)).ok_or_else(cut_off)?;
    let data = riff.get(start..end).ok_or_else(cut_off)?;
    let next = (end + (end - start) % 2).min(riff.len());
    Ok(Chunk { kind, data, next })
}

/// The dimensions in a lossy (VP8) key frame header.
fn vp8_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if read::array::<3>(data, 3)? != VP8_START_CODE {
        return None;
    }
    let width = read::le_u16(data, 6)? & 0x3FFF;
    let height = read::le_u16(data, 8)? & 0x3FFF;
    Some((u32::from(width), u32::from(height)))
}

/// The dimensions in a lossless (VP8L) stream header: 14 bits each, minus one.
fn vp8l_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if read::u8_at(data, 0)? != VP8L_SIGNATURE {
        return None;
    }
    let bits = read::le_u32(data, 1)?;
    Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}

/// The canvas size in an extended (VP8X) header: 24 bits each, minus one.
fn vp8x_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    Some((read::le_u24(data, 4)? + 1, read::le_u24(data, 7)? + 1))
}
