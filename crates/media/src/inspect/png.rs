//! PNG: the `IHDR` chunk for the dimensions, and a walk over the chunk headers to `IEND`.
//!
//! A PNG is its signature and a sequence of chunks (`u32 length`, 4-letter type, data, CRC),
//! the first `IHDR` and the last `IEND`. Truncation is detected by walking the chunk headers,
//! skipping each chunk's data by its length, until `IEND`: a file cut anywhere has a chunk
//! that runs past its end or no `IEND`. The walk touches a few bytes per chunk (encoders
//! write image data in chunks of 8 KiB or more), so it is fast on any size.

use super::images::Header;
use super::sniff::PNG_SIGNATURE;
use super::{corrupt, read};
use crate::MediaError;

/// The offset of the `IHDR` chunk, right after the signature.
const IHDR_AT: usize = PNG_SIGNATURE.len();
/// The length of the `IHDR` chunk's data.
const IHDR_LEN: u32 = 13;
/// The largest chunk length (and dimension) the PNG specification allows.
const MAX_U31: u32 = 0x7FFF_FFFF;
/// A chunk's length, type and CRC fields.
const CHUNK_OVERHEAD: usize = 12;

/// Reads the dimensions from the `IHDR` chunk and checks its fields.
pub(super) fn header(bytes: &[u8]) -> Result<Header, MediaError> {
    if !bytes.starts_with(&PNG_SIGNATURE) {
        return Err(corrupt("the PNG signature is missing"));
    }
    let ihdr = bytes.get(IHDR_AT..IHDR_AT + CHUNK_OVERHEAD + IHDR_LEN as usize);
    let ihdr = ihdr.ok_or_else(|| corrupt("the PNG is cut off in its header"))?;
    if read::be_u32(ihdr, 0) != Some(IHDR_LEN) || ihdr.get(4..8) != Some(b"IHDR".as_slice()) {
        return Err(corrupt("the PNG does not start with a valid IHDR chunk"));
    }
    let (Some(width), Some(height), Some(fields)) = (read::be_u32(ihdr, 8), read::be_u32(ihdr, 12), ihdr.get(16..21))
    else {
        return Err(corrupt("the PNG is cut off in its header"));
    };
    if width > MAX_U31 || height > MAX_U31 {
        return Err(corrupt("the PNG declares dimensions larger than the format allows"));
    }
    check_ihdr_fields(fields)?;
    Ok(Header { width, height, rest: IHDR_AT + ihdr.len() })
}

/// Checks bit depth, colour type, compression, filter and interlace method of `IHDR`.
fn check_ihdr_fields(fields: &[u8]) -> Result<(), MediaError> {
    let &[bit_depth, colour_type, compression, filter, interlace] = fields else {
        return Err(corrupt("the PNG is cut off in its header"));
    };
    let depth_ok = match colour_type {
        0 => matches!(bit_depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(bit_depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(bit_depth, 8 | 16),
        _ => false,
    };
    if !depth_ok || compression != 0 || filter != 0 || interlace > 1 {
        return Err(corrupt("the PNG header has invalid fields"));
    }
    Ok(())
}

/// Walks the chunks after `IHDR` up to `IEND`, requiring image data on the way.
pub(super) fn check_complete(bytes: &[u8], header: &Header) -> Result<(), MediaError> {
    let mut pos = header.rest;
    let mut has_image_data = false;
    loop {
        let (kind, end) = chunk_at(bytes, pos)?;
        match &kind {
            b"IDAT" => has_image_data = true,
            b"IEND" if has_image_data => return Ok(()),
            b"IEND" => return Err(corrupt("the PNG has no image data")),
            _ => {}
        }
        pos = end;
    }
}

/// Reads the chunk header at `pos`: the chunk's type and the offset just after its CRC.
fn chunk_at(bytes: &[u8], pos: usize) -> Result<([u8; 4], usize), MediaError> {
    let cut_off = || corrupt("the PNG is cut off: it has no IEND chunk");
    let length = read::be_u32(bytes, pos).ok_or_else(cut_off)?;
    let kind = read::array::<4>(bytes, pos + 4).ok_or_else(cut_off)?;
    if length > MAX_U31 || !kind.iter().all(u8::is_ascii_alphabetic) {
        return Err(corrupt("the PNG has an invalid chunk"));
    }
    let end = pos.checked_add(CHUNK_OVERHEAD).and_then(|end| end.checked_add(length as usize));
    match end {
        Some(end) if end <= bytes.len() => Ok((kind, end)),
        _ => Err(cut_off()),
    }
}
