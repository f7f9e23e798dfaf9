//! `cargo xtask bench media-worker` (hidden): measures one workload in this process, so its
//! peak resident memory is that workload's alone, and prints one JSON line for the parent.

use std::io::Cursor;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use clap::Args;
use tokio::runtime::Runtime;
use wacore::download::{DownloadUtils, MediaType};
use wacore::upload::{EncryptedMedia, encrypt_media, encrypted_len};
use wastatus_media::prepare::Prepared;
use wastatus_media::{MediaConfig, MediaPipeline, Source};

use super::input::{Input, Workload};
use super::memory;
use super::report::{MemoryReport, Run, WorkerReport};

/// Options of the hidden `cargo xtask bench media-worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The workload to measure.
    #[arg(long, value_enum)]
    pub input: Workload,
    /// Number of measured runs, after one warm-up run.
    #[arg(long, default_value_t = super::DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

/// Measures the workload and prints its report as one line of JSON on standard output.
pub fn run(args: &WorkerArgs) -> Result<()> {
    let report = measure(args.input, args.runs)?;
    println!("{}", report.to_line()?);
    Ok(())
}

/// Generates the workload's input at full size and measures it.
pub fn measure(workload: Workload, runs: u32) -> Result<WorkerReport> {
    let started = Instant::now();
    let input = workload.generate().with_context(|| format!("could not generate the {workload} input"))?;
    measure_input(workload, input, started.elapsed().as_secs_f64(), runs)
}

/// Runs and checks a warm-up, resets the memory peak, then times `runs` runs on `input` and
/// reads the peak they reached.
fn measure_input(workload: Workload, input: Input, generate_secs: f64, runs: u32) -> Result<WorkerReport> {
    let runtime = Runtime::new().context("could not start the tokio runtime")?;
    let steps = Steps { runtime: &runtime, pipeline: MediaPipeline::new(MediaConfig::default()), workload };
    let description = input.description;
    let input = Bytes::from(input.bytes);

    let warm_up = steps.run_once(&input).context("warm-up run")?;
    verify(&warm_up, workload.media_type()).context("the warm-up's encrypted media is wrong")?;
    let sizes = Sizes::of(&warm_up);
    drop(warm_up);

    let peak_reset = memory::reset_peak();
    let before_kib = memory::read()?.current_kib;
    let mut timings = Vec::new();
    for n in 1..=runs {
        // Each run's output is dropped before the next starts, as a server would.
        timings.push(steps.run_once(&input).with_context(|| format!("run {n} of {runs}"))?.run);
    }
    let peak_kib = memory::read()?.peak_kib;

    Ok(WorkerReport {
        workload: workload.name().to_owned(),
        description,
        input_bytes: input.len() as u64,
        prepared_bytes: sizes.prepared,
        uploaded_bytes: sizes.uploaded,
        thumbnail_bytes: sizes.thumbnail,
        generate_secs,
        runs: timings,
        memory: MemoryReport { before_kib, peak_kib, peak_reset },
    })
}

/// What one run needs besides its input.
struct Steps<'a> {
    runtime: &'a Runtime,
    pipeline: MediaPipeline,
    workload: Workload,
}

/// What one run produced, and how long it took.
struct Outcome {
    run: Run,
    /// The bytes that were encrypted.
    prepared: Bytes,
    /// The size of the prepared thumbnail, if media was prepared.
    thumbnail_bytes: Option<usize>,
    encrypted: EncryptedMedia,
}

impl Steps<'_> {
    /// Prepares the input as the server does (unless the workload is the encryption ceiling),
    /// then encrypts the prepared bytes for upload, timing both.
    fn run_once(&self, input: &Bytes) -> Result<Outcome> {
        let started = Instant::now();
        let (prepared, thumbnail_bytes) = match self.workload.kind() {
            Some(kind) => {
                let source = Source::Bytes(input.clone());
                let prepared = self
                    .runtime
                    .block_on(self.pipeline.process(source, None, Some(kind)))
                    .context("MediaPipeline::process failed")?;
                let (bytes, thumbnail) = main_media(prepared);
                (bytes, Some(thumbnail))
            }
            None => (input.clone(), None),
        };
        let prepare_secs = thumbnail_bytes.is_some().then(|| started.elapsed().as_secs_f64());

        let started = Instant::now();
        let encrypted = encrypt_media(&prepared, self.workload.media_type()).context("encrypt_media failed")?;
        let encrypt_secs = started.elapsed().as_secs_f64();

        let expected = encrypted_len(prepared.len());
        ensure!(
            encrypted.data_to_upload.len() == expected,
            "encrypt_media gave {} bytes for {} prepared bytes, expected {expected}",
            encrypted.data_to_upload.len(),
            prepared.len()
        );
        Ok(Outcome { run: Run { prepare_secs, encrypt_secs }, prepared, thumbnail_bytes, encrypted })
    }
}

/// Returns the bytes that are uploaded and the size of the thumbnail. Only the main media is
/// encrypted: for a status, the thumbnail travels inside the message (`jpegThumbnail`), it is
/// not uploaded.
fn main_media(prepared: Prepared) -> (Bytes, usize) {
    match prepared {
        Prepared::Image(image) => (image.bytes, image.thumbnail.len()),
        Prepared::Video(video) => (video.bytes, video.thumbnail.len()),
    }
}

/// Checks that the encrypted media decrypts (MAC included) to the prepared bytes, and that a
/// video carries its streaming sidecar.
fn verify(outcome: &Outcome, media_type: MediaType) -> Result<()> {
    let encrypted = &outcome.encrypted;
    let decrypted =
        DownloadUtils::decrypt_stream(Cursor::new(&encrypted.data_to_upload), &encrypted.media_key, media_type)
            .context("could not decrypt it")?;
    ensure!(decrypted == outcome.prepared, "it does not decrypt to the prepared bytes");
    if media_type == MediaType::Video {
        ensure!(encrypted.streaming_sidecar.is_some(), "a video has no streaming sidecar");
    }
    Ok(())
}

/// The sizes a run produced, in bytes.
struct Sizes {
    prepared: u64,
    uploaded: u64,
    thumbnail: Option<u64>,
}

impl Sizes {
    /// Returns the sizes of a run's outputs.
    fn of(outcome: &Outcome) -> Self {
        Self {
            prepared: outcome.prepared.len() as u64,
            uploaded: outcome.encrypted.data_to_upload.len() as u64,
            thumbnail: outcome.thumbnail_bytes.map(|len| len as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::media::input::{photo_jpeg, random_bytes, video_of_len};

    /// Measures a small input of the workload, end to end, with two runs.
    fn measure_small(workload: Workload, bytes: Vec<u8>) -> WorkerReport {
        let input = Input { description: "small".to_owned(), bytes };
        measure_input(workload, input, 0.0, 2).unwrap()
    }

    #[test]
    fn a_small_jpeg_is_prepared_encrypted_and_reported() {
        let report = measure_small(Workload::Jpeg, photo_jpeg(64, 48, 90).unwrap());
        assert_eq!(report.workload, "jpeg");
        assert_eq!(report.runs.len(), 2);
        assert!(report.runs.iter().all(|run| run.prepare_secs.is_some()));
        assert_eq!(report.uploaded_bytes, encrypted_len(report.prepared_bytes as usize) as u64);
        assert!(report.thumbnail_bytes.is_some_and(|len| len > 0));
        assert!(report.memory.peak_kib >= report.memory.before_kib);
    }

    #[test]
    fn a_small_video_is_sent_unchanged() {
        let report = measure_small(Workload::Mp4, video_of_len(8192).unwrap());
        assert_eq!(report.prepared_bytes, 8192);
        assert_eq!(report.uploaded_bytes, encrypted_len(8192) as u64);
    }

    #[test]
    fn the_ceiling_only_encrypts() {
        let report = measure_small(Workload::CeilingVideo, random_bytes(1000));
        assert!(report.runs.iter().all(|run| run.prepare_secs.is_none()));
        assert_eq!(report.thumbnail_bytes, None);
        assert_eq!(report.prepared_bytes, 1000);
    }

    #[test]
    fn the_wrong_kind_of_input_is_an_error() {
        let input = Input { description: "video bytes".to_owned(), bytes: video_of_len(8192).unwrap() };
        let error = measure_input(Workload::Jpeg, input, 0.0, 1).unwrap_err();
        assert!(format!("{error:#}").contains("MediaPipeline::process failed"), "{error:#}");
    }
}
