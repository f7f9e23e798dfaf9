//! Video inspection: MP4 and QuickTime movies, read from their box structure alone.
//!
//! Only box headers and a few small boxes of the `moov` box are read: the movie header
//! (`mvhd`) for the duration, and the first video track's header (`tkhd`), handler (`hdlr`),
//! sample description (`stsd`) and chunk offsets (`stco`/`co64`). The media data (`mdat`) is
//! skipped by its size, never scanned.

use super::bmff::{self, Bmff, Tail, fourcc};
use super::{VideoInfo, corrupt, read};
use crate::{MediaConfig, MediaError, MediaFormat, MediaKind};

/// The sample entry types of H.264, the codec every WhatsApp client plays.
///
/// HEVC (`hvc1`, `hev1`) is refused although iPhones record it by default: many Android
/// clients cannot play it, so a status in HEVC would be a black screen for part of the
/// audience. Other codecs (`mp4v`, `av01`, `vp09`, …) are refused for the same reason.
const H264: [&[u8; 4]; 2] = [b"avc1", b"avc3"];

/// The top-level boxes that matter.
#[derive(Debug, Clone, Copy)]
struct TopLevel<'a> {
    moov: Option<Bmff<'a>>,
    mdat_offset: Option<usize>,
}

/// A duration in a timescale (units per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timing {
    timescale: u32,
    /// `None` when the header leaves it unknown (zero or all ones, as fragmented files do).
    duration: Option<u64>,
}

/// What the first video track says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VideoTrack {
    width: u32,
    height: u32,
    codec: [u8; 4],
    /// The track's own duration (`mdhd`), used when the movie header has none.
    timing: Option<Timing>,
    /// The largest file offset of a chunk of the track's media data.
    max_chunk_offset: Option<u64>,
}

/// Inspects an MP4 or QuickTime movie; see [`super::inspect_video`] for the rules.
pub(super) fn inspect_video(bytes: &[u8], format: MediaFormat, config: &MediaConfig) -> Result<VideoInfo, MediaError> {
    if format.kind() != MediaKind::Video {
        return Err(MediaError::UnsupportedType);
    }
    let top = top_level(bytes)?;
    let moov = top.moov.ok_or(MediaError::MissingMoov)?;
    let track = video_track(moov.payload)?.ok_or(MediaError::NoVideoTrack)?;
    let duration_ms = movie_duration_ms(moov.payload, &track)?;
    check_media_data(bytes, &track)?;
    if !H264.contains(&&track.codec) {
        return Err(MediaError::UnsupportedCodec(fourcc(track.codec)));
    }
    let info = VideoInfo {
        format,
        duration_ms,
        width: track.width,
        height: track.height,
        codec: fourcc(track.codec),
        moov_before_mdat: top.mdat_offset.is_none_or(|mdat| moov.offset < mdat),
    };
    check_duration(&info, config)?;
    Ok(info)
}

/// Walks every top-level box (so that a truncated last box is noticed) and keeps the first
/// `moov` and the offset of the first `mdat`.
fn top_level(bytes: &[u8]) -> Result<TopLevel<'_>, MediaError> {
    let mut top = TopLevel { moov: None, mdat_offset: None };
    for found in bmff::boxes(bytes, Tail::Strict) {
        let found = found?;
        match &found.kind {
            b"moov" if top.moov.is_none() => top.moov = Some(found),
            b"mdat" if top.mdat_offset.is_none() => top.mdat_offset = Some(found.offset),
            _ => {}
        }
    }
    Ok(top)
}

/// The first track whose media handler is `vide`, read.
fn video_track(moov: &[u8]) -> Result<Option<VideoTrack>, MediaError> {
    for child in bmff::boxes(moov, Tail::Lenient) {
        let child = child?;
        if &child.kind == b"trak" && handler_type(child.payload)? == Some(*b"vide") {
            return read_track(child.payload).map(Some);
        }
    }
    Ok(None)
}

/// The handler type of a track's media (`vide`, `soun`, …) from `mdia/hdlr`.
fn handler_type(trak: &[u8]) -> Result<Option<[u8; 4]>, MediaError> {
    let Some(hdlr) = bmff::find_path(trak, &[b"mdia", b"hdlr"])? else {
        return Ok(None);
    };
    // Version and flags, then a pre-defined field (QuickTime: the component type).
    read::array::<4>(hdlr.payload, 8).map(Some).ok_or_else(|| corrupt("the hdlr box is too short"))
}

/// Reads the codec, display size, duration and chunk offsets of a video track.
fn read_track(trak: &[u8]) -> Result<VideoTrack, MediaError> {
    let stbl = bmff::find_path(trak, &[b"mdia", b"minf", b"stbl"])?;
    let stbl = stbl.ok_or_else(|| corrupt("the video track has no sample table"))?;
    let stsd =
        bmff::find(stbl.payload, b"stsd")?.ok_or_else(|| corrupt("the video track has no sample description"))?;
    let entry = first_sample_entry(stsd.payload)?;
    let size = display_size(trak)?.or_else(|| sample_entry_size(entry.payload));
    let (width, height) = size.ok_or_else(|| corrupt("the video track declares no width or height"))?;
    let timing = match bmff::find_path(trak, &[b"mdia", b"mdhd"])? {
        Some(mdhd) => Some(timing(mdhd.payload, "mdhd")?),
        None => None,
    };
    Ok(VideoTrack { width, height, codec: entry.kind, timing, max_chunk_offset: max_chunk_offset(stbl.payload)? })
}

/// The first sample entry of a `stsd` box: its type is the codec.
fn first_sample_entry(stsd: &[u8]) -> Result<Bmff<'_>, MediaError> {
    // Version and flags, then the entry count.
    let entries = stsd.get(8..).unwrap_or_default();
    match bmff::boxes(entries, Tail::Lenient).next() {
        Some(entry) => entry,
        None => Err(corrupt("the video track has an empty sample description")),
    }
}

/// The display size from the track header (`tkhd`): 16.16 fixed-point width and height,
/// swapped when the transformation matrix rotates by 90 or 270 degrees (portrait phone
/// videos). `None` if there is no `tkhd` or it declares a zero size.
fn display_size(trak: &[u8]) -> Result<Option<(u32, u32)>, MediaError> {
    let Some(tkhd) = bmff::find(trak, b"tkhd")? else {
        return Ok(None);
    };
    let matrix_at = match read::u8_at(tkhd.payload, 0) {
        Some(0) => 40,
        Some(1) => 52,
        Some(version) => return Err(corrupt(format!("the tkhd box has an unknown version {version}"))),
        None => return Err(corrupt("the tkhd box is empty")),
    };
    let field = |at: usize| read::be_u32(tkhd.payload, matrix_at + at);
    let (Some(a), Some(b), Some(c), Some(d), Some(width), Some(height)) =
        (field(0), field(4), field(12), field(16), field(36), field(40))
    else {
        return Err(corrupt("the tkhd box is too short"));
    };
    let (width, height) = (fixed_16_16(width), fixed_16_16(height));
    let rotated = a == 0 && d == 0 && b != 0 && c != 0;
    Ok(match (width, height) {
        (0, _) | (_, 0) => None,
        _ if rotated => Some((height, width)),
        _ => Some((width, height)),
    })
}

/// A 16.16 fixed-point number rounded to the nearest integer.
fn fixed_16_16(value: u32) -> u32 {
    u32::try_from((u64::from(value) + 0x8000) >> 16).unwrap_or(u32::MAX)
}

/// The coded size in a visual sample entry, if not zero.
fn sample_entry_size(entry: &[u8]) -> Option<(u32, u32)> {
    // Reserved (6), data reference index (2), pre-defined and reserved (16), width, height.
    let (width, height) = (read::be_u16(entry, 24)?, read::be_u16(entry, 26)?);
    (width != 0 && height != 0).then_some((u32::from(width), u32::from(height)))
}

/// Reads the timescale and duration of a `mvhd` or `mdhd` box (they share this layout).
fn timing(payload: &[u8], name: &str) -> Result<Timing, MediaError> {
    let fields = match read::u8_at(payload, 0) {
        Some(0) => read::be_u32(payload, 12)
            .zip(read::be_u32(payload, 16))
            .map(|(scale, duration)| (scale, (duration != u32::MAX).then_some(u64::from(duration)))),
        Some(1) => read::be_u32(payload, 20)
            .zip(read::be_u64(payload, 24))
            .map(|(scale, duration)| (scale, (duration != u64::MAX).then_some(duration))),
        Some(version) => return Err(corrupt(format!("the {name} box has an unknown version {version}"))),
        None => None,
    };
    let (timescale, duration) = fields.ok_or_else(|| corrupt(format!("the {name} box is too short")))?;
    if timescale == 0 {
        return Err(corrupt(format!("the {name} box has a zero timescale")));
    }
    Ok(Timing { timescale, duration: duration.filter(|&duration| duration != 0) })
}

/// The movie's duration in milliseconds: from the movie header, else from the fragment
/// duration of a fragmented file (`mvex/mehd`), else from the video track's media header.
fn movie_duration_ms(moov: &[u8], track: &VideoTrack) -> Result<u64, MediaError> {
    let mvhd = bmff::find(moov, b"mvhd")?.ok_or_else(|| corrupt("the video has no movie header (mvhd)"))?;
    let movie = timing(mvhd.payload, "mvhd")?;
    if let Some(duration) = movie.duration {
        return Ok(to_ms(duration, movie.timescale));
    }
    if let Some(duration) = fragment_duration(moov)? {
        return Ok(to_ms(duration, movie.timescale));
    }
    match track.timing {
        Some(Timing { timescale, duration: Some(duration) }) => Ok(to_ms(duration, timescale)),
        _ => Err(corrupt("the video does not declare its duration")),
    }
}

/// The fragment duration of a fragmented movie (`mvex/mehd`), in the movie's timescale.
fn fragment_duration(moov: &[u8]) -> Result<Option<u64>, MediaError> {
    let Some(mehd) = bmff::find_path(moov, &[b"mvex", b"mehd"])? else {
        return Ok(None);
    };
    let duration = match read::u8_at(mehd.payload, 0) {
        Some(0) => read::be_u32(mehd.payload, 4).map(u64::from),
        Some(1) => read::be_u64(mehd.payload, 4),
        _ => None,
    };
    Ok(duration.filter(|&duration| duration != 0))
}

/// Converts a duration in `timescale` units to milliseconds, rounding down.
fn to_ms(duration: u64, timescale: u32) -> u64 {
    let ms = u128::from(duration) * 1000 / u128::from(timescale.max(1));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The largest chunk offset in the track's `stco` or `co64` box, `None` if it has neither
/// or no chunks (fragmented files keep their samples in fragments).
fn max_chunk_offset(stbl: &[u8]) -> Result<Option<u64>, MediaError> {
    let (table, width) = match (bmff::find(stbl, b"stco")?, bmff::find(stbl, b"co64")?) {
        (Some(stco), _) => (stco, 4),
        (None, Some(co64)) => (co64, 8),
        (None, None) => return Ok(None),
    };
    let count = read::be_u32(table.payload, 4).ok_or_else(|| corrupt("the chunk offset box is too short"))?;
    let entries = table.payload.get(8..).unwrap_or_default();
    if (entries.len() / width) < count as usize {
        return Err(corrupt("the chunk offset box is cut off"));
    }
    let offsets = entries
        .chunks_exact(width)
        .take(count as usize)
        .map(|entry| entry.iter().fold(0_u64, |value, &byte| (value << 8) | u64::from(byte)));
    Ok(offsets.max())
}

/// Refuses a movie whose media data lies (partly) beyond the end of the file: a file cut off
/// inside or before its `mdat`, or one that refers to media in other files.
fn check_media_data(bytes: &[u8], track: &VideoTrack) -> Result<(), MediaError> {
    match track.max_chunk_offset {
        Some(offset) if offset >= bytes.len() as u64 => Err(corrupt("the video's media data is missing or cut off")),
        _ => Ok(()),
    }
}

/// Refuses a video longer than the configured limit (compared in milliseconds).
fn check_duration(info: &VideoInfo, config: &MediaConfig) -> Result<(), MediaError> {
    let limit = config.max_video_seconds;
    if info.duration_ms > u64::from(limit) * 1000 {
        return Err(MediaError::VideoTooLong { seconds: info.duration_secs(), limit });
    }
    Ok(())
}
