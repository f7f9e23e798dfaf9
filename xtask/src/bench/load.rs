//! A small closed-loop load generator: C concurrent keep-alive clients, each sending its next
//! request as soon as the previous answer has been read, for a fixed time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::{Client, RequestBuilder};
use tokio::time::Instant;

/// How long requests run, unrecorded, before measuring starts.
pub const WARM_UP: Duration = Duration::from_secs(1);
/// Per-request timeout; a request slower than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How many characters of an unexpected answer's body are kept as an example.
const SAMPLE_CHARS: usize = 300;

/// Builds the HTTP client used by the load phases: keep-alive, no proxy, one idle connection
/// kept per concurrent worker.
pub fn client(concurrency: usize) -> Result<Client> {
    Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("could not build the HTTP client")
}

/// What one load phase does.
#[derive(Debug, Clone)]
pub struct Phase {
    /// A short label for reports, e.g. `GET /healthz`.
    pub label: String,
    /// Number of concurrent clients.
    pub concurrency: usize,
    /// Measured duration, after [`WARM_UP`].
    pub duration: Duration,
    /// The status code counted as success; every other answer is an error.
    pub success_status: u16,
}

/// Runs a phase; `request` builds the n-th request (n counts from 0 across all workers).
pub async fn run_phase<F>(client: &Client, phase: &Phase, request: F) -> PhaseReport
where
    F: Fn(&Client, u64) -> RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let sequence = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + WARM_UP;
    let until = measure_from + phase.duration;
    let workers: Vec<_> = (0..phase.concurrency)
        .map(|_| {
            let worker =
                Worker { client: client.clone(), request: Arc::clone(&request), sequence: Arc::clone(&sequence) };
            tokio::spawn(worker.run(measure_from, until, phase.success_status))
        })
        .collect();

    let mut report = PhaseReport::new(phase);
    for worker in workers {
        match worker.await {
            Ok(stats) => report.merge(stats),
            Err(error) => report.count_error(format!("worker crashed: {error}")),
        }
    }
    report.latencies.sort_unstable();
    report
}

/// One concurrent client of a phase.
struct Worker<F> {
    client: Client,
    request: Arc<F>,
    sequence: Arc<AtomicU64>,
}

impl<F> Worker<F>
where
    F: Fn(&Client, u64) -> RequestBuilder + Send + Sync + 'static,
{
    /// Sends requests back to back until `until`, recording those that start at or after
    /// `measure_from` and complete by `until`.
    async fn run(self, measure_from: Instant, until: Instant, success_status: u16) -> WorkerStats {
        let mut stats = WorkerStats::default();
        loop {
            let start = Instant::now();
            if start >= until {
                return stats;
            }
            let n = self.sequence.fetch_add(1, Ordering::Relaxed);
            let outcome = send((self.request)(&self.client, n)).await;
            let end = Instant::now();
            if start >= measure_from && end <= until {
                stats.record(outcome, end - start, success_status);
            }
        }
    }
}

/// The result of one request: a status code with its body, or a transport failure.
enum Outcome {
    Answer { status: u16, body: String },
    Failed(String),
}

/// Sends a request and reads the whole body, so the connection can be reused.
async fn send(request: RequestBuilder) -> Outcome {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Outcome::Failed(describe(&error)),
    };
    let status = response.status().as_u16();
    match response.text().await {
        Ok(body) => Outcome::Answer { status, body },
        Err(error) => Outcome::Failed(describe(&error)),
    }
}

/// Summarises a transport error by its kind, so counts group well.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request error"
    };
    format!("transport: {kind}")
}

/// What one worker measured.
#[derive(Debug, Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    samples: BTreeMap<String, String>,
}

impl WorkerStats {
    /// Records a measured request: its latency if it succeeded, its kind of error otherwise.
    fn record(&mut self, outcome: Outcome, latency: Duration, success_status: u16) {
        match outcome {
            Outcome::Answer { status, .. } if status == success_status => self.latencies.push(latency),
            Outcome::Answer { status, body } => {
                let key = format!("HTTP {status}");
                *self.errors.entry(key.clone()).or_default() += 1;
                self.samples.entry(key).or_insert_with(|| body.chars().take(SAMPLE_CHARS).collect());
            }
            Outcome::Failed(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }
}

/// The summary of one phase.
#[derive(Debug)]
pub struct PhaseReport {
    /// The phase's label.
    pub label: String,
    /// The measured duration.
    pub duration: Duration,
    /// Latencies of successful requests, sorted ascending.
    pub latencies: Vec<Duration>,
    /// Unsuccessful requests, counted by status code (`HTTP 429`) or transport error kind.
    pub errors: BTreeMap<String, u64>,
    /// The start of one body per unexpected status code, to explain errors.
    pub samples: BTreeMap<String, String>,
}

impl PhaseReport {
    /// Creates an empty report for `phase`.
    fn new(phase: &Phase) -> Self {
        Self {
            label: phase.label.clone(),
            duration: phase.duration,
            latencies: Vec::new(),
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
        }
    }

    /// Adds one worker's measurements.
    fn merge(&mut self, stats: WorkerStats) {
        self.latencies.extend(stats.latencies);
        for (kind, count) in stats.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        for (kind, sample) in stats.samples {
            self.samples.entry(kind).or_insert(sample);
        }
    }

    /// Counts one error of the given kind.
    fn count_error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Returns the number of successful requests.
    pub fn successes(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Returns the number of unsuccessful requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Returns successful requests per second.
    pub fn rate(&self) -> f64 {
        self.successes() as f64 / self.duration.as_secs_f64()
    }

    /// Returns the share of unsuccessful requests, between 0 and 1 (1 if nothing completed).
    pub fn error_ratio(&self) -> f64 {
        let total = self.successes() + self.error_count();
        if total == 0 { 1.0 } else { self.error_count() as f64 / total as f64 }
    }

    /// Returns the `p`-th percentile latency of successful requests, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies, p).map(|d| d.as_secs_f64() * 1000.0)
    }
}

/// Returns the `p`-th percentile (0–100) of ascending `sorted` values by the nearest-rank
/// method: the smallest value with at least `p` % of the values at or below it.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let values = ms(1..=100);
        assert_eq!(percentile(&values, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&values, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&values, 99.5), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&values, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&values, 0.0), Some(Duration::from_millis(1)));
    }

    #[test]
    fn percentile_of_small_samples() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&ms([7]), 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&ms([7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&ms([1, 2, 3]), 50.0), Some(Duration::from_millis(2)));
        assert_eq!(percentile(&ms([1, 2, 3, 4]), 50.0), Some(Duration::from_millis(2)));
    }

    #[test]
    fn report_counts_successes_and_errors() {
        let phase = Phase { label: "t".into(), concurrency: 1, duration: Duration::from_secs(2), success_status: 201 };
        let mut stats = WorkerStats::default();
        for _ in 0..197 {
            stats.record(Outcome::Answer { status: 201, body: String::new() }, Duration::from_millis(1), 201);
        }
        stats.record(Outcome::Answer { status: 429, body: "slow down".into() }, Duration::from_millis(1), 201);
        stats.record(Outcome::Answer { status: 429, body: "again".into() }, Duration::from_millis(1), 201);
        stats.record(Outcome::Failed("transport: timeout".into()), Duration::from_secs(10), 201);
        let mut report = PhaseReport::new(&phase);
        report.merge(stats);

        assert_eq!(report.successes(), 197);
        assert_eq!(report.error_count(), 3);
        assert_eq!(report.errors["HTTP 429"], 2);
        assert_eq!(report.samples["HTTP 429"], "slow down");
        assert!((report.rate() - 98.5).abs() < 1e-9);
        assert!((report.error_ratio() - 0.015).abs() < 1e-9);
    }

    #[test]
    fn an_empty_report_is_all_errors() {
        let phase = Phase { label: "t".into(), concurrency: 1, duration: Duration::from_secs(1), success_status: 200 };
        assert_eq!(PhaseReport::new(&phase).error_ratio(), 1.0);
    }
}
