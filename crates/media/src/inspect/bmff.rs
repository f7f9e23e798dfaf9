//! A small, defensive reader of ISO base media file format boxes (MP4, QuickTime).
//!
//! A box is a 32-bit big-endian size (of the whole box, header included), a 4-character type
//! and a payload. Size 1 means a 64-bit size follows the type; size 0 means the box runs to
//! the end of its container (in practice, the last top-level box: a `mdat` being written).
//!
//! The reader works on a byte slice and never panics: every read is bounds-checked, a box
//! must lie within its container, and every step advances by at least a header, so walking
//! a slice takes at most `len / 8` steps whatever its content. Payloads are borrowed, never
//! copied or scanned, so skipping a 16 MiB `mdat` costs one header read. There is no
//! recursion: callers follow fixed paths of box types ([`find_path`]), so the nesting depth
//! looked at is bounded by the longest path in the code.

use super::{corrupt, read};
use crate::MediaError;

/// The size of a box header with a 32-bit size.
const HEADER: usize = 8;
/// The size of a box header with a 64-bit size.
const LARGE_HEADER: usize = 16;

/// One box: its type, its offset in the slice it was read from, and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bmff<'a> {
    pub kind: [u8; 4],
    pub offset: usize,
    /// The offset of the payload in the slice the box was read from (after its header).
    pub payload_offset: usize,
    pub payload: &'a [u8],
}

/// What to do with a few bytes after the last box that are too short for a box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tail {
    /// They are a truncated box header: an error (for the top level of a file).
    Strict,
    /// They are ignored (inside a box; QuickTime ends some lists with a 32-bit zero).
    Lenient,
}

/// An iterator over the boxes in a slice; it stops after the first error.
#[derive(Debug, Clone)]
pub(super) struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
    tail: Tail,
    done: bool,
}

/// Iterates over the boxes in `data`.
pub(super) fn boxes(data: &[u8], tail: Tail) -> Boxes<'_> {
    Boxes { data, pos: 0, tail, done: false }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<Bmff<'a>, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        let remaining = self.data.len().saturating_sub(self.pos);
        if self.done || remaining == 0 || (remaining < HEADER && self.tail == Tail::Lenient) {
            return None;
        }
        let parsed = box_at(self.data, self.pos);
        match &parsed {
            Ok((_, end)) => self.pos = *end,
            Err(_) => self.done = true,
        }
        Some(parsed.map(|(found, _)| found))
    }
}

/// Reads the box at `pos` in `data`: the box and the offset just after it.
fn box_at(data: &[u8], pos: usize) -> Result<(Bmff<'_>, usize), MediaError> {
    let (Some(size), Some(kind)) = (read::be_u32(data, pos), read::array::<4>(data, pos + 4)) else {
        return Err(corrupt("a box header is cut off"));
    };
    let available = data.len().saturating_sub(pos);
    let (header, size) = match size {
        0 => (HEADER, available as u64),
        1 => {
            let large = read::be_u64(data, pos + HEADER)
                .ok_or_else(|| corrupt(format!("the {} box header is cut off", fourcc(kind))))?;
            (LARGE_HEADER, large)
        }
        size => (HEADER, u64::from(size)),
    };
    if size < header as u64 {
        return Err(corrupt(format!("the {} box declares {size} bytes, less than its header", fourcc(kind))));
    }
    match usize::try_from(size) {
        Ok(size) if size <= available => {
            let payload = data.get(pos + header..pos + size).unwrap_or_default();
            Ok((Bmff { kind, offset: pos, payload_offset: pos + header, payload }, pos + size))
        }
        _ => Err(corrupt(format!("the {} box is cut off: it declares {size} bytes, {available} remain", fourcc(kind)))),
    }
}

/// The first child of `payload` of type `kind`, if any.
pub(super) fn find<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Result<Option<Bmff<'a>>, MediaError> {
    for child in boxes(payload, Tail::Lenient) {
        let child = child?;
        if &child.kind == kind {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// The box reached from `payload` by following `path` (a type per level), if any.
pub(super) fn find_path<'a>(payload: &'a [u8], path: &[&[u8; 4]]) -> Result<Option<Bmff<'a>>, MediaError> {
    let mut found = None;
    let mut current = payload;
    for kind in path {
        match find(current, kind)? {
            Some(child) => {
                current = child.payload;
                found = Some(child);
            }
            None => return Ok(None),
        }
    }
    Ok(found)
}

/// A box type as text, for messages: printable ASCII kept, anything else as `?`.
pub(super) fn fourcc(kind: [u8; 4]) -> String {
    kind.iter().map(|&byte| if byte.is_ascii_graphic() || byte == b' ' { char::from(byte) } else { '?' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box with a 32-bit size.
    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(payload.len() + 8).expect("small box").to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// A box with an explicit (possibly wrong) 32-bit size field.
    fn with_size(size: u32, kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn collect(data: &[u8], tail: Tail) -> Vec<Result<Bmff<'_>, MediaError>> {
        boxes(data, tail).collect()
    }

    fn is_corrupt(result: &Result<Bmff<'_>, MediaError>) -> bool {
        matches!(result, Err(MediaError::Corrupt(_)))
    }

    #[test]
    fn walks_consecutive_boxes_with_offsets_and_payloads() {
        let data = [boxed(b"ftyp", b"isom\0\0\0\0"), boxed(b"free", b""), boxed(b"mdat", b"xyz")].concat();
        let found: Vec<_> = collect(&data, Tail::Strict).into_iter().map(|b| b.expect("valid box")).collect();
        let kinds: Vec<_> = found.iter().map(|b| &b.kind).collect();
        assert_eq!(kinds, [b"ftyp", b"free", b"mdat"]);
        assert_eq!(found.iter().map(|b| b.offset).collect::<Vec<_>>(), [0, 16, 24]);
        assert_eq!(found[2].payload, b"xyz");
    }

    #[test]
    fn empty_input_has_no_boxes() {
        assert!(collect(&[], Tail::Strict).is_empty());
    }

    #[test]
    fn size_zero_runs_to_the_end_of_the_container() {
        let data = [boxed(b"moov", b""), with_size(0, b"mdat", b"0123456789")].concat();
        let found: Vec<_> = collect(&data, Tail::Strict).into_iter().map(|b| b.expect("valid box")).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].payload, b"0123456789");
    }

    #[test]
    fn size_one_reads_a_64_bit_size() {
        let mut data = with_size(1, b"mdat", &20_u64.to_be_bytes());
        data.extend_from_slice(b"abcd");
        data.extend(boxed(b"moov", b""));
        let found: Vec<_> = collect(&data, Tail::Strict).into_iter().map(|b| b.expect("valid box")).collect();
        assert_eq!(found[0].payload, b"abcd");
        assert_eq!(&found[1].kind, b"moov");
        assert_eq!(found[1].offset, 20);
    }

    #[test]
    fn a_64_bit_size_smaller_than_its_header_is_corrupt() {
        for large in [0_u64, 1, 8, 15] {
            let data = with_size(1, b"mdat", &large.to_be_bytes());
            let found = collect(&data, Tail::Strict);
            assert_eq!(found.len(), 1, "largesize {large}");
            assert!(is_corrupt(&found[0]), "largesize {large}");
        }
    }

    #[test]
    fn a_64_bit_size_beyond_the_data_is_corrupt() {
        for large in [1_000_u64, u64::MAX, u64::MAX / 2] {
            let data = with_size(1, b"mdat", &large.to_be_bytes());
            assert!(is_corrupt(&collect(&data, Tail::Strict)[0]), "largesize {large}");
        }
    }

    #[test]
    fn a_cut_off_64_bit_size_is_corrupt() {
        let data = with_size(1, b"mdat", &[0, 0, 0]);
        assert!(is_corrupt(&collect(&data, Tail::Strict)[0]));
    }

    #[test]
    fn sizes_two_to_seven_are_corrupt() {
        for size in 2..8 {
            let data = [with_size(size, b"free", b""), boxed(b"moov", b"")].concat();
            let found = collect(&data, Tail::Strict);
            assert_eq!(found.len(), 1, "size {size}: the walk stops at the error");
            assert!(is_corrupt(&found[0]), "size {size}");
        }
    }

    #[test]
    fn a_size_beyond_the_container_is_corrupt() {
        for size in [17, 1_000, u32::MAX] {
            let data = with_size(size, b"moov", b"12345678");
            assert!(is_corrupt(&collect(&data, Tail::Strict)[0]), "size {size}");
        }
    }

    #[test]
    fn a_short_tail_is_an_error_only_when_strict() {
        let data = [boxed(b"moov", b""), vec![0, 0, 0, 0]].concat();
        let strict = collect(&data, Tail::Strict);
        assert_eq!(strict.len(), 2);
        assert!(is_corrupt(&strict[1]));
        let lenient = collect(&data, Tail::Lenient);
        assert_eq!(lenient.len(), 1);
        assert!(lenient[0].is_ok());
    }

    #[test]
    fn garbage_never_panics_and_ends_quickly() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for len in 0..600 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Frequent 0 and 1 bytes make sizes 0, 1 and tiny sizes likely.
                    match state % 4 {
                        0 => 0,
                        1 => 1,
                        _ => (state >> 24) as u8,
                    }
                })
                .collect();
            for tail in [Tail::Strict, Tail::Lenient] {
                let steps = boxes(&data, tail).count();
                assert!(steps <= len / 8 + 1, "{steps} steps over {len} bytes");
                let _ = find_path(&data, &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"]);
            }
        }
    }

    #[test]
    fn find_path_follows_nested_boxes() {
        let stsd = boxed(b"stsd", b"entries");
        let data = boxed(b"moov", &[boxed(b"mvhd", b""), boxed(b"trak", &boxed(b"mdia", &stsd))].concat());
        let found = find_path(&data, &[b"moov", b"trak", b"mdia", b"stsd"]).expect("valid boxes").expect("found");
        assert_eq!(found.payload, b"entries");
        assert_eq!(find_path(&data, &[b"moov", b"udta"]), Ok(None));
    }

    #[test]
    fn find_reports_a_corrupt_child() {
        let data = [boxed(b"free", b""), with_size(99, b"trak", b"")].concat();
        assert!(matches!(find(&data, b"trak"), Err(MediaError::Corrupt(_))));
    }

    #[test]
    fn fourcc_replaces_unprintable_bytes() {
        assert_eq!(fourcc(*b"qt  "), "qt  ");
        assert_eq!(fourcc([b'a', 0, 0xFF, b'1']), "a??1");
    }
}
