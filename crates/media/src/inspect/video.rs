//! Video inspection: MP4 and QuickTime movies, read from their box structure alone.
//!
//! Only box headers and a few small boxes of the `moov` box are read: the movie header
//! (`mvhd`) for the duration, and the first video track's header (`tkhd`), handler (`hdlr`),
//! media header (`mdhd`) and sample table (`stsd`, `stts`, `stsc`, `stsz`/`stz2`,
//! `stco`/`co64`). The media data (`mdat`) is skipped by its size, never scanned: only the
//! file ranges its samples occupy are compared with the `mdat` payloads.

use std::ops::Range;

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
#[derive(Debug, Clone)]
struct TopLevel<'a> {
    moov: Option<Bmff<'a>>,
    mdat_offset: Option<usize>,
    /// The file ranges of the payloads of every `mdat` box, in file order (so sorted and
    /// disjoint).
    mdat_payloads: Vec<Range<u64>>,
    /// Whether there is a movie fragment (`moof`): samples may then live in fragments only.
    fragmented: bool,
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
struct VideoTrack<'a> {
    width: u32,
    height: u32,
    codec: [u8; 4],
    /// The track's own timescale and duration (`mdhd`).
    timing: Timing,
    /// The sum of the sample durations (`stts`), in the track's timescale.
    sample_duration: u64,
    /// The payload of the track's sample table (`stbl`).
    stbl: &'a [u8],
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
    check_media_data(&top, &track)?;
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
    let mut top = TopLevel { moov: None, mdat_offset: None, mdat_payloads: Vec::new(), fragmented: false };
    for found in bmff::boxes(bytes, Tail::Strict) {
        let found = found?;
        match &found.kind {
            b"moov" if top.moov.is_none() => top.moov = Some(found),
            b"mdat" => {
                top.mdat_offset.get_or_insert(found.offset);
                let start = found.payload_offset as u64;
                top.mdat_payloads.push(start..start + found.payload.len() as u64);
            }
            b"moof" => top.fragmented = true,
            _ => {}
        }
    }
    Ok(top)
}

/// The first track whose media handler is `vide`, read.
fn video_track(moov: &[u8]) -> Result<Option<VideoTrack<'_>>, MediaError> {
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

/// Reads the codec, display size and durations of a video track, and finds its sample table.
fn read_track(trak: &[u8]) -> Result<VideoTrack<'_>, MediaError> {
    let stbl = bmff::find_path(trak, &[b"mdia", b"minf", b"stbl"])?;
    let stbl = stbl.ok_or_else(|| corrupt("the video track has no sample table"))?;
    let stsd =
        bmff::find(stbl.payload, b"stsd")?.ok_or_else(|| corrupt("the video track has no sample description"))?;
    let entry = first_sample_entry(stsd.payload)?;
    let size = display_size(trak)?.or_else(|| sample_entry_size(entry.payload));
    let (width, height) = size.ok_or_else(|| corrupt("the video track declares no width or height"))?;
    let mdhd = bmff::find_path(trak, &[b"mdia", b"mdhd"])?;
    let timing = timing(mdhd.ok_or_else(|| corrupt("the video track has no media header (mdhd)"))?.payload, "mdhd")?;
    let sample_duration = sample_duration(stbl.payload)?;
    Ok(VideoTrack { width, height, codec: entry.kind, timing, sample_duration, stbl: stbl.payload })
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

/// The movie's duration in milliseconds: the longest of what the movie header says (or, when
/// it leaves the duration unknown, the fragment duration of a fragmented file, `mvex/mehd`),
/// what the video track's media header says, and the sum of its sample durations. A file
/// cannot pass for shorter than it plays by lying in one of them.
fn movie_duration_ms(moov: &[u8], track: &VideoTrack<'_>) -> Result<u64, MediaError> {
    let mvhd = bmff::find(moov, b"mvhd")?.ok_or_else(|| corrupt("the video has no movie header (mvhd)"))?;
    let movie = timing(mvhd.payload, "mvhd")?;
    let movie_duration = match movie.duration {
        Some(duration) => Some(duration),
        None => fragment_duration(moov)?,
    };
    let media = track.timing;
    [
        movie_duration.map(|duration| to_ms(duration, movie.timescale)),
        media.duration.map(|duration| to_ms(duration, media.timescale)),
        Some(track.sample_duration).filter(|&duration| duration != 0).map(|duration| to_ms(duration, media.timescale)),
    ]
    .into_iter()
    .flatten()
    .max()
    .ok_or_else(|| corrupt("the video does not declare its duration"))
}

/// The sum of the sample durations in the `stts` box (sample count × sample delta per entry),
/// saturating; zero when there is no `stts` box or it is empty (fragmented files).
fn sample_duration(stbl: &[u8]) -> Result<u64, MediaError> {
    let Some(stts) = bmff::find(stbl, b"stts")? else {
        return Ok(0);
    };
    let entries = table(stts.payload, 8, "stts")?;
    Ok(entries.chunks_exact(8).fold(0_u64, |sum, entry| {
        let count = read::be_u32(entry, 0).unwrap_or_default();
        let delta = read::be_u32(entry, 4).unwrap_or_default();
        sum.saturating_add(u64::from(count) * u64::from(delta))
    }))
}

/// The entries of a full box holding a 32-bit entry count then entries of `width` bytes: the
/// declared number of entries must be there.
fn table<'a>(payload: &'a [u8], width: usize, name: &str) -> Result<&'a [u8], MediaError> {
    let count = read::be_u32(payload, 4).ok_or_else(|| corrupt(format!("the {name} box is too short")))?;
    let len = usize::try_from(count).ok().and_then(|count| count.checked_mul(width));
    match len.and_then(|len| payload.get(8..8 + len)) {
        Some(entries) => Ok(entries),
        None => Err(corrupt(format!("the {name} box is cut off"))),
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

/// The sizes of a track's samples, from `stsz` or `stz2`.
#[derive(Debug, Clone, Copy)]
enum SampleSizes<'a> {
    /// Every sample has this size.
    Constant { size: u32, count: u32 },
    /// A size per sample, of `bits` bits each (4, 8, 16 or 32).
    Table { entries: &'a [u8], bits: u8, count: u32 },
}

impl SampleSizes<'_> {
    /// Reads `stsz` (or `stz2`); `None` if the track has neither.
    fn read(stbl: &[u8]) -> Result<Option<SampleSizes<'_>>, MediaError> {
        let too_short = |name: &str| corrupt(format!("the {name} box is too short"));
        if let Some(stsz) = bmff::find(stbl, b"stsz")? {
            let payload = stsz.payload;
            let (size, count) =
                read::be_u32(payload, 4).zip(read::be_u32(payload, 8)).ok_or_else(|| too_short("stsz"))?;
            return if size != 0 {
                Ok(Some(SampleSizes::Constant { size, count }))
            } else {
                Self::table(payload.get(12..).unwrap_or_default(), 32, count, "stsz").map(Some)
            };
        }
        let Some(stz2) = bmff::find(stbl, b"stz2")? else {
            return Ok(None);
        };
        let payload = stz2.payload;
        let (bits, count) = read::u8_at(payload, 7).zip(read::be_u32(payload, 8)).ok_or_else(|| too_short("stz2"))?;
        if !matches!(bits, 4 | 8 | 16) {
            return Err(corrupt(format!("the stz2 box has an invalid field size {bits}")));
        }
        Self::table(payload.get(12..).unwrap_or_default(), bits, count, "stz2").map(Some)
    }

    fn table<'a>(entries: &'a [u8], bits: u8, count: u32, name: &str) -> Result<SampleSizes<'a>, MediaError> {
        if (entries.len() as u64) * 8 < u64::from(count) * u64::from(bits) {
            return Err(corrupt(format!("the {name} box is cut off")));
        }
        Ok(SampleSizes::Table { entries, bits, count })
    }

    fn count(&self) -> u32 {
        match *self {
            SampleSizes::Constant { count, .. } | SampleSizes::Table { count, .. } => count,
        }
    }

    /// The total size of `len` samples from sample `first` (0-based, within the count).
    fn total(&self, first: u32, len: u32) -> u64 {
        match *self {
            SampleSizes::Constant { size, .. } => u64::from(size) * u64::from(len),
            SampleSizes::Table { entries, bits, .. } => (first..first.saturating_add(len))
                .map(|index| {
                    let index = index as usize;
                    let size = match bits {
                        4 => read::u8_at(entries, index / 2)
                            .map(|byte| if index.is_multiple_of(2) { byte >> 4 } else { byte & 0x0F })
                            .map(u32::from),
                        8 => read::u8_at(entries, index).map(u32::from),
                        16 => read::be_u16(entries, index * 2).map(u32::from),
                        _ => read::be_u32(entries, index * 4),
                    };
                    u64::from(size.unwrap_or_default())
                })
                .sum(),
        }
    }
}

/// The chunk offsets of a track (`stco`, or `co64` for 64-bit offsets), as file offsets.
fn chunk_offsets(stbl: &[u8]) -> Result<Option<impl Iterator<Item = u64> + '_>, MediaError> {
    let (entries, width) = match (bmff::find(stbl, b"stco")?, bmff::find(stbl, b"co64")?) {
        (Some(stco), _) => (table(stco.payload, 4, "stco")?, 4),
        (None, Some(co64)) => (table(co64.payload, 8, "co64")?, 8),
        (None, None) => return Ok(None),
    };
    Ok(Some(
        entries
            .chunks_exact(width)
            .map(|entry| entry.iter().fold(0_u64, |value, &byte| (value << 8) | u64::from(byte))),
    ))
}

/// Refuses a movie whose video track has no media data, or whose media data does not lie in
/// the file's `mdat` boxes: a file cut off inside or before its `mdat`, one that refers to
/// media in other files, or one whose offsets point elsewhere (into `moov`, past the end).
///
/// The video track must have samples (`stsz`/`stz2`), unless the file is fragmented (has a
/// `moof` box), where they may all be in fragments. The samples are laid out in chunks:
/// `stsc` says how many samples each chunk holds, `stsz` their sizes and `stco`/`co64` where
/// each chunk starts. Every chunk must lie entirely within the payload of one `mdat` box, and
/// every sample must be in a chunk. The work is linear in the size of these tables (which lie
/// in the file), whatever counts they declare.
fn check_media_data(top: &TopLevel<'_>, track: &VideoTrack<'_>) -> Result<(), MediaError> {
    let sizes = SampleSizes::read(track.stbl)?;
    let count = sizes.map_or(0, |sizes| sizes.count());
    let Some(sizes) = sizes.filter(|_| count > 0) else {
        return if top.fragmented { Ok(()) } else { Err(corrupt("the video track has no samples (no media data)")) };
    };
    let offsets = chunk_offsets(track.stbl)?;
    let offsets = offsets.ok_or_else(|| corrupt("the video track does not say where its samples are (no stco)"))?;
    let stsc = bmff::find(track.stbl, b"stsc")?.ok_or_else(|| corrupt("the video track has no stsc box"))?;
    let runs = table(stsc.payload, 12, "stsc")?;
    let run_at = |index: usize| read::be_u32(runs, index * 12).zip(read::be_u32(runs, index * 12 + 4));
    let run_count = runs.len() / 12;
    if run_count == 0 {
        return Err(corrupt("the video track does not say how its samples are grouped (empty stsc)"));
    }
    let mut run = 0;
    let mut next_sample = 0_u32;
    for (index, offset) in offsets.enumerate() {
        if next_sample == count {
            break;
        }
        let chunk = index as u64 + 1;
        while run + 1 < run_count && run_at(run + 1).is_some_and(|(first, _)| u64::from(first) <= chunk) {
            run += 1;
        }
        let per_chunk = run_at(run).map_or(0, |(_, samples)| samples);
        let in_chunk = per_chunk.min(count - next_sample);
        let end = offset.checked_add(sizes.total(next_sample, in_chunk));
        next_sample += in_chunk;
        if !end.is_some_and(|end| in_media_data(&top.mdat_payloads, offset..end)) {
            return Err(corrupt("the video's media data is missing, cut off or outside its mdat box"));
        }
    }
    if next_sample < count {
        return Err(corrupt("the video track has samples in no chunk"));
    }
    Ok(())
}

/// Whether `range` lies within one of the (sorted, disjoint) `mdat` payloads.
fn in_media_data(payloads: &[Range<u64>], range: Range<u64>) -> bool {
    let after = payloads.partition_point(|payload| payload.start <= range.start);
    after.checked_sub(1).and_then(|index| payloads.get(index)).is_some_and(|payload| range.end <= payload.end)
}

/// Refuses a video longer than the configured limit (compared in milliseconds).
fn check_duration(info: &VideoInfo, config: &MediaConfig) -> Result<(), MediaError> {
    let limit = config.max_video_seconds;
    if info.duration_ms > u64::from(limit) * 1000 {
        return Err(MediaError::VideoTooLong { seconds: info.duration_secs(), limit });
    }
    Ok(())
}
