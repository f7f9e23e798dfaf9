//! Bounds-checked reads of fixed-size integers from byte slices.
//!
//! Every function returns `None` instead of panicking when the slice is too short, so the
//! parsers built on them can never index out of bounds.

/// Returns `N` bytes of `data` starting at `at`, or `None` if they are not all there.
pub(super) fn array<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    data.get(at..end)?.try_into().ok()
}

/// Reads one byte at `at`.
pub(super) fn u8_at(data: &[u8], at: usize) -> Option<u8> {
    data.get(at).copied()
}

/// Reads a big-endian `u16` at `at`.
pub(super) fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    array(data, at).map(u16::from_be_bytes)
}

/// Reads a big-endian `u32` at `at`.
pub(super) fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    array(data, at).map(u32::from_be_bytes)
}

/// Reads a big-endian `u64` at `at`.
pub(super) fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    array(data, at).map(u64::from_be_bytes)
}

/// Reads a little-endian `u16` at `at`.
pub(super) fn le_u16(data: &[u8], at: usize) -> Option<u16> {
    array(data, at).map(u16::from_le_bytes)
}

/// Reads a little-endian 24-bit unsigned integer at `at`.
pub(super) fn le_u24(data: &[u8], at: usize) -> Option<u32> {
    array::<3>(data, at).map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
}

/// Reads a little-endian `u32` at `at`.
pub(super) fn le_u32(data: &[u8], at: usize) -> Option<u32> {
    array(data, at).map(u32::from_le_bytes)
}
