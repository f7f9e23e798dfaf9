//! What a worker measured (one JSON line from child to parent), its medians and throughputs,
//! and the tables the parent prints.

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

/// Bytes in a megabyte, as every figure of the report counts them.
const MB: f64 = 1_000_000.0;

/// Everything one worker process measured for one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The workload's name, as given with `--input`.
    pub workload: String,
    /// What the input is.
    pub description: String,
    /// The size of the input, in bytes.
    pub input_bytes: u64,
    /// The size of the bytes that were encrypted: the prepared media (the input itself for
    /// the encryption ceiling).
    pub prepared_bytes: u64,
    /// The size of the encrypted blob that would be uploaded.
    pub uploaded_bytes: u64,
    /// The size of the prepared thumbnail, which is not encrypted nor uploaded for a status.
    pub thumbnail_bytes: Option<u64>,
    /// How long generating the input took (not part of any measurement).
    pub generate_secs: f64,
    /// The measured runs, after the warm-up.
    pub runs: Vec<Run>,
    /// The resident memory of the worker.
    pub memory: MemoryReport,
}

/// The times of one measured run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// `MediaPipeline::process`, or `None` when the workload does not prepare media.
    pub prepare_secs: Option<f64>,
    /// `wacore::upload::encrypt_media` on the prepared bytes.
    pub encrypt_secs: f64,
}

impl Run {
    /// Returns the time of the whole run.
    pub fn total_secs(&self) -> f64 {
        self.prepare_secs.unwrap_or(0.0) + self.encrypt_secs
    }
}

/// The worker's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// `VmRSS` just before the measured runs: the process, its runtime and the input bytes.
    pub before_kib: u64,
    /// `VmHWM` after the measured runs: the peak while they ran.
    pub peak_kib: u64,
    /// Whether the peak was reset before the measured runs; when false, `peak_kib` also covers
    /// generating the input and the warm-up.
    pub peak_reset: bool,
}

impl WorkerReport {
    /// Serialises the report as one line of JSON.
    pub fn to_line(&self) -> Result<String> {
        serde_json::to_string(self).context("could not serialise the worker report")
    }

    /// Parses a worker's standard output, whose last non-empty line is its report.
    pub fn from_output(stdout: &str) -> Result<Self> {
        let line = stdout.lines().rev().find(|line| !line.trim().is_empty()).ok_or_else(|| anyhow!("no output"))?;
        serde_json::from_str(line).with_context(|| format!("not a worker report: {line}"))
    }

    /// Returns the median preparation time, or `None` when nothing was prepared.
    pub fn prepare_median(&self) -> Option<f64> {
        median(self.runs.iter().filter_map(|run| run.prepare_secs).collect())
    }

    /// Returns the median encryption time.
    pub fn encrypt_median(&self) -> Option<f64> {
        median(self.runs.iter().map(|run| run.encrypt_secs).collect())
    }

    /// Returns the median time of whole runs (not the sum of the two medians).
    pub fn total_median(&self) -> Option<f64> {
        median(self.runs.iter().map(Run::total_secs).collect())
    }
}

/// Returns the median of `values` (the mean of the middle two for an even count), or `None`
/// for no values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] })
}

/// Returns a throughput in MB/s, or `None` for a zero or missing time.
pub fn mb_per_sec(bytes: u64, secs: Option<f64>) -> Option<f64> {
    secs.filter(|secs| *secs > 0.0).map(|secs| bytes as f64 / MB / secs)
}

/// Formats a byte count in MB.
fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / MB)
}

/// Formats a KiB count in MB.
fn kib_as_mb(kib: u64) -> String {
    mb(kib * 1024)
}

/// Formats a time in milliseconds, or `-`.
fn millis(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".to_owned(), |secs| format!("{:.1}", secs * 1000.0))
}

/// Formats a throughput, or `-`.
fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}"))
}

/// Returns the sizes-and-memory table, header first.
pub fn sizes_table(reports: &[WorkerReport]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<14} {:>9} {:>12} {:>12} {:>13} {:>14} {:>12}",
        "workload", "input MB", "prepared MB", "uploaded MB", "thumbnail KB", "RSS before MB", "peak RSS MB"
    )];
    for report in reports {
        let thumbnail = report.thumbnail_bytes.map_or_else(|| "-".to_owned(), |b| format!("{:.1}", b as f64 / 1e3));
        let reset = if report.memory.peak_reset { "" } else { " (not reset)" };
        lines.push(format!(
            "{:<14} {:>9} {:>12} {:>12} {:>13} {:>14} {:>12}{reset}",
            report.workload,
            mb(report.input_bytes),
            mb(report.prepared_bytes),
            mb(report.uploaded_bytes),
            thumbnail,
            kib_as_mb(report.memory.before_kib),
            kib_as_mb(report.memory.peak_kib),
        ));
    }
    lines
}

/// Returns the times-and-throughputs table, header first. Throughputs count input bytes,
/// except the last column, which counts the bytes actually encrypted.
pub fn times_table(reports: &[WorkerReport]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<14} {:>11} {:>11} {:>10} {:>13} {:>13} {:>11} {:>17}",
        "workload",
        "prepare ms",
        "encrypt ms",
        "total ms",
        "prepare MB/s",
        "encrypt MB/s",
        "total MB/s",
        "encrypt MB/s (*)"
    )];
    for report in reports {
        let (prepare, encrypt, total) = (report.prepare_median(), report.encrypt_median(), report.total_median());
        lines.push(format!(
            "{:<14} {:>11} {:>11} {:>10} {:>13} {:>13} {:>11} {:>17}",
            report.workload,
            millis(prepare),
            millis(encrypt),
            millis(total),
            rate(prepare.and_then(|secs| mb_per_sec(report.input_bytes, Some(secs)))),
            rate(mb_per_sec(report.input_bytes, encrypt)),
            rate(mb_per_sec(report.input_bytes, total)),
            rate(mb_per_sec(report.prepared_bytes, encrypt)),
        ));
    }
    lines
}

/// Describes where a pipeline workload's time goes, how its encryption compares with the
/// measured ceiling, and its end-to-end rate with the reference rate (in MB/s); `None`
/// for a workload that prepares nothing.
pub fn breakdown(report: &WorkerReport, ceiling: Option<&WorkerReport>, reference: f64) -> Option<String> {
    let prepare = report.prepare_median()?;
    let encrypt = report.encrypt_median()?;
    let both = prepare + encrypt;
    let mut line = format!(
        "{}: prepare {:.1} % and encrypt {:.1} % of {:.1} ms",
        report.workload,
        prepare / both * 100.0,
        encrypt / both * 100.0,
        both * 1000.0
    );
    let encrypt_rate = mb_per_sec(report.prepared_bytes, Some(encrypt));
    let ceiling_rate = ceiling.and_then(|c| mb_per_sec(c.input_bytes, c.encrypt_median()).map(|rate| (c, rate)));
    if let (Some(rate), Some((ceiling, ceiling_rate))) = (encrypt_rate, ceiling_rate) {
        line.push_str(&format!(
            "; encryption at {rate:.1} MB/s, {:.0} % of {}",
            rate / ceiling_rate * 100.0,
            ceiling.workload
        ));
    }
    if let Some(total) = mb_per_sec(report.input_bytes, report.total_median()) {
        line.push_str(&format!(
            "; end to end {total:.1} MB/s of input, {:.0} % of the {reference:.0} MB/s reference",
            total / reference * 100.0
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WorkerReport {
        WorkerReport {
            workload: "jpeg".to_owned(),
            description: "4000×3000 photo-like JPEG, quality 90".to_owned(),
            input_bytes: 5_000_000,
            prepared_bytes: 4_000_000,
            uploaded_bytes: 4_000_010,
            thumbnail_bytes: Some(2_500),
            generate_secs: 0.7,
            runs: vec![
                Run { prepare_secs: Some(0.5), encrypt_secs: 0.02 },
                Run { prepare_secs: Some(0.7), encrypt_secs: 0.01 },
                Run { prepare_secs: Some(0.6), encrypt_secs: 0.04 },
            ],
            memory: MemoryReport { before_kib: 20_000, peak_kib: 80_000, peak_reset: true },
        }
    }

    #[test]
    fn the_json_line_round_trips() {
        let report = sample();
        let line = report.to_line().unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(WorkerReport::from_output(&line).unwrap(), report);
    }

    #[test]
    fn the_report_is_the_last_non_empty_line() {
        let report = sample();
        let stdout = format!("something else\n{}\n\n", report.to_line().unwrap());
        assert_eq!(WorkerReport::from_output(&stdout).unwrap(), report);
        assert!(WorkerReport::from_output("\n\n").is_err());
        assert!(WorkerReport::from_output("not json\n").is_err());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn the_total_median_is_taken_over_whole_runs() {
        let report = sample();
        assert_eq!(report.prepare_median(), Some(0.6));
        assert_eq!(report.encrypt_median(), Some(0.02));
        // Run totals are 0.52, 0.71 and 0.64.
        assert!((report.total_median().unwrap() - 0.64).abs() < 1e-9);
    }

    #[test]
    fn a_workload_without_preparation_has_no_prepare_median() {
        let mut report = sample();
        report.runs = vec![Run { prepare_secs: None, encrypt_secs: 0.25 }];
        assert_eq!(report.prepare_median(), None);
        assert_eq!(report.total_median(), Some(0.25));
    }

    #[test]
    fn throughput_is_in_megabytes_per_second() {
        assert_eq!(mb_per_sec(300_000_000, Some(1.0)), Some(300.0));
        assert_eq!(mb_per_sec(1, Some(0.0)), None);
        assert_eq!(mb_per_sec(1, None), None);
    }

    #[test]
    fn tables_have_a_row_per_report() {
        let reports = [sample(), sample()];
        assert_eq!(sizes_table(&reports).len(), 3);
        let times = times_table(&reports);
        assert_eq!(times.len(), 3);
        // 600 ms to prepare 5 MB is 8.3 MB/s; 20 ms to encrypt 4 MB is 200 MB/s.
        assert!(times[1].contains("600.0") && times[1].contains("8.3") && times[1].contains("200.0"), "{}", times[1]);
    }

    #[test]
    fn the_breakdown_compares_with_the_ceiling() {
        let report = sample();
        let ceiling = WorkerReport {
            workload: "ceiling-image".to_owned(),
            input_bytes: 400_000_000,
            prepared_bytes: 400_000_000,
            thumbnail_bytes: None,
            runs: vec![Run { prepare_secs: None, encrypt_secs: 1.0 }],
            ..sample()
        };
        // 600 ms + 20 ms; 4 MB in 20 ms is 200 MB/s, half of 400 MB/s.
        // End to end, the median run takes 640 ms for 5 MB: 7.8 MB/s, 3 % of 300 MB/s.
        let line = breakdown(&report, Some(&ceiling), 300.0).unwrap();
        assert_eq!(
            line,
            "jpeg: prepare 96.8 % and encrypt 3.2 % of 620.0 ms; encryption at 200.0 MB/s, 50 % of ceiling-image; \
             end to end 7.8 MB/s of input, 3 % of the 300 MB/s reference"
        );
        assert!(breakdown(&report, None, 300.0).unwrap().contains("of 620.0 ms; end to end"));
        assert_eq!(breakdown(&ceiling, None, 300.0), None);
    }
}
