//! `cargo xtask bench media`: media preparation end to end, WhatsApp's media encryption
//! included, so what is timed ends with the exact bytes that would be uploaded.
//!
//! Each workload runs in its own child process (`cargo xtask bench media-worker`, hidden), a
//! release build of this very binary, so that its peak resident memory (`VmHWM`) is its own;
//! the child prints one JSON line ([`report::WorkerReport`]) and this parent prints the tables.
//! The workloads are the two inputs of issue 3 — a 12-megapixel JPEG and a 16 MiB MP4, both
//! generated in code — run through `MediaPipeline::process` and `wacore::upload::encrypt_media`,
//! and the encryption ceiling: `encrypt_media` alone on 64 MiB, as an image and as a video.

mod input;
mod memory;
mod report;
pub mod worker;

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;

use crate::workspace;
use input::Workload;
use report::WorkerReport;

/// The default number of measured runs per workload.
pub const DEFAULT_RUNS: u32 = 5;
/// The single-core reference issue 3 gives for WhatsApp's media encryption.
const ISSUE_REFERENCE: &str = "AES-256-CBC plus three SHA-256 passes: about 300 MB/s on these machines";
/// The rate of [`ISSUE_REFERENCE`], in MB/s.
const ISSUE_REFERENCE_MB_S: f64 = 300.0;

/// Options of `cargo xtask bench media`.
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// Number of measured runs per workload, after one warm-up run; medians are reported.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Use the existing `target/release/xtask` instead of building it first.
    #[arg(long)]
    pub no_build: bool,
}

/// Builds the release worker, measures every workload in its own process, and prints the
/// results. Fails if a workload could not be measured, never because it was slow.
pub fn run(args: &MediaArgs) -> Result<()> {
    let binary = workspace::release_binary("xtask", args.no_build)?;
    print_machine("before");
    let mut measured = Vec::new();
    let mut failed = Vec::new();
    for workload in Workload::ALL {
        println!("measuring {workload} ({} runs after a warm-up)…", args.runs);
        match run_worker(&binary, workload, args.runs) {
            Ok(report) => measured.push((workload, report)),
            Err(error) => {
                eprintln!("error: {workload}: {error:#}");
                failed.push(workload.name());
            }
        }
    }
    print_machine("after");
    print_results(&measured, args.runs);
    if !failed.is_empty() {
        bail!("{} of {} workloads failed: {}", failed.len(), Workload::ALL.len(), failed.join(", "));
    }
    Ok(())
}

/// Runs `xtask bench media-worker` for one workload and parses the report it prints; the
/// worker's standard error goes straight to ours.
fn run_worker(binary: &Path, workload: Workload, runs: u32) -> Result<WorkerReport> {
    let runs = runs.to_string();
    let args = ["bench", "media-worker", "--input", workload.name(), "--runs", runs.as_str()];
    let shown = format!("{} {}", binary.display(), args.join(" "));
    let output = Command::new(binary)
        .args(args)
        .current_dir(workspace::root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not run `{shown}`"))?;
    ensure!(output.status.success(), "`{shown}` failed ({})", output.status);
    let stdout = String::from_utf8(output.stdout).with_context(|| format!("`{shown}` printed invalid UTF-8"))?;
    let report = WorkerReport::from_output(&stdout).with_context(|| format!("`{shown}` printed no report"))?;
    ensure!(report.workload == workload.name(), "asked for `{workload}`, the worker measured `{}`", report.workload);
    Ok(report)
}

/// Prints the CPU and the load average, which the figures depend on.
fn print_machine(when: &str) {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| cpu_model(&text));
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|text| load_average(&text));
    println!(
        "machine {when}: {cpus} CPUs ({}), load average {}",
        model.as_deref().unwrap_or("unknown model"),
        load.as_deref().unwrap_or("unknown")
    );
}

/// Returns the first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// Returns the 1, 5 and 15-minute load averages of `/proc/loadavg`.
fn load_average(loadavg: &str) -> Option<String> {
    let fields: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// Prints the inputs, both tables, the encryption ceiling and where the time goes.
fn print_results(measured: &[(Workload, WorkerReport)], runs: u32) {
    let reports: Vec<WorkerReport> = measured.iter().map(|(_, report)| report.clone()).collect();
    println!();
    println!("inputs (generated in code, not timed):");
    for report in &reports {
        println!(
            "  {:<14} {}: {} bytes ({:.2} MB), generated in {:.2} s",
            report.workload,
            report.description,
            report.input_bytes,
            report.input_bytes as f64 / 1e6,
            report.generate_secs
        );
    }
    println!();
    println!("sizes and memory (MB = 10^6 bytes; each workload in its own process, release build):");
    println!("  RSS before = VmRSS before the measured runs (input included); peak RSS = VmHWM during them");
    report::sizes_table(&reports).iter().for_each(|line| println!("  {line}"));
    println!();
    println!("times: median of {runs} runs after one warm-up; MB/s of input bytes, (*) of the bytes encrypted");
    println!("  prepare = MediaPipeline::new(MediaConfig::default()).process(Source::Bytes(..), None, Some(kind))");
    println!("  encrypt = wacore::upload::encrypt_media(&prepared, MediaType::Image | MediaType::Video)");
    report::times_table(&reports).iter().for_each(|line| println!("  {line}"));
    println!();
    print_ceiling(measured);
    println!();
    println!("where the time goes:");
    for (workload, report) in measured {
        let ceiling = workload.ceiling().and_then(|ceiling| find(measured, ceiling));
        if let Some(line) = report::breakdown(report, ceiling, ISSUE_REFERENCE_MB_S) {
            println!("  {line}");
        }
    }
    println!();
    println!("check: each worker decrypted its warm-up's upload (MAC verified) back to the prepared bytes.");
    println!(
        "note: only the main media is encrypted and uploaded. The thumbnail is not: for a status the real \
         client sends it inside the message (jpegThumbnail), so it is measured in preparation only."
    );
}

/// Prints the measured encryption ceiling next to the issue's reference.
fn print_ceiling(measured: &[(Workload, WorkerReport)]) {
    println!("encryption ceiling, measured: encrypt_media alone on 64 MiB of random bytes, one core:");
    let rows = [
        (Workload::CeilingImage, "as an image: AES-256-CBC + SHA-256 (plain) + HMAC-SHA256 + SHA-256 (encrypted)"),
        (Workload::CeilingVideo, "as a video: the same + streaming sidecar (HMAC-SHA256 per 64 KiB)"),
    ];
    for (workload, label) in rows {
        let rate = find(measured, workload).and_then(|r| report::mb_per_sec(r.input_bytes, r.encrypt_median()));
        let rate = rate.map_or_else(|| "not measured".to_owned(), |rate| format!("{rate:.1} MB/s"));
        println!("  {label:<84} {rate}");
    }
    println!("  reference from issue 3: \"{ISSUE_REFERENCE}\"");
}

/// Returns the report of `workload`, if it was measured.
fn find(measured: &[(Workload, WorkerReport)], workload: Workload) -> Option<&WorkerReport> {
    measured.iter().find(|(w, _)| *w == workload).map(|(_, report)| report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_the_first_model_name() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nprocessor\t: 1\n\
                       model name\t: other\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn the_load_average_is_the_first_three_fields() {
        assert_eq!(load_average("1.00 2.10 2.09 3/120 4567\n").as_deref(), Some("1.00 2.10 2.09"));
        assert_eq!(load_average("1.00\n"), None);
    }
}
