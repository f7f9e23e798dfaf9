//! `cargo xtask bench <name>`: benchmarks, always of release builds.
//!
//! The HTTP benchmarks share the same scaffolding ([`server`] configures and starts the
//! binary in a throw-away directory with the sandbox driver; [`load`] drives concurrent
//! keep-alive clients and summarises latencies), so adding `bench webhooks` means adding a
//! variant to [`Bench`] and a module next to [`api`]. [`media`] measures the media adapter
//! in-process instead, in release-built child processes of this binary.

mod api;
mod load;
mod media;
mod server;
mod webhooks;

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};

use crate::workspace;

/// The benchmarks `cargo xtask bench` knows.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Measure the REST gateway's own overhead: GET /healthz against text-status publishes.
    Api(api::ApiArgs),
    /// Measure media preparation and WhatsApp media encryption: a 12-megapixel JPEG and a
    /// 16 MiB MP4, time per step, MB/s and peak RSS.
    Media(media::MediaArgs),
    /// Measure webhook delivery: signed deliveries per second to a loopback receiver, for text
    /// statuses published to several endpoints.
    Webhooks(webhooks::WebhooksArgs),
    /// Measure one media workload in this process and print one JSON line (used by `media`).
    #[command(hide = true)]
    MediaWorker(media::worker::WorkerArgs),
}

/// Options shared by every benchmark.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Number of concurrent clients.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Measured duration of each phase, in seconds (after a one-second warm-up).
    #[arg(long = "duration", value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_secs: u64,
    /// Use the existing `target/release/wastatus` instead of building it first.
    #[arg(long)]
    pub no_build: bool,
    /// Extra environment variable for every `wastatus` command, e.g. to tune a limit
    /// (`--server-env WASTATUS__SECTION__KEY=value`); may be repeated.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub server_env: Vec<(String, String)>,
}

impl CommonArgs {
    /// Returns the measured duration of each phase.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }
}

/// Runs the chosen benchmark to completion.
pub fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Api(args) => {
            let binary = workspace::release_binary("wastatus", args.common.no_build)?;
            let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
            runtime.block_on(api::run(&binary, &args))
        }
        Bench::Media(args) => media::run(&args),
        Bench::MediaWorker(args) => media::worker::run(&args),
        Bench::Webhooks(args) => webhooks::run(&args),
    }
}

/// Parses a `KEY=VALUE` pair given on the command line.
fn parse_env_pair(text: &str) -> Result<(String, String)> {
    let (key, value) = text.split_once('=').ok_or_else(|| anyhow!("expected KEY=VALUE, got `{text}`"))?;
    if key.is_empty() {
        return Err(anyhow!("empty variable name in `{text}`"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_split_at_the_first_equals_sign() {
        assert_eq!(parse_env_pair("A__B=c=d").unwrap(), ("A__B".to_owned(), "c=d".to_owned()));
        assert_eq!(parse_env_pair("A=").unwrap(), ("A".to_owned(), String::new()));
        assert!(parse_env_pair("novalue").is_err());
        assert!(parse_env_pair("=x").is_err());
    }
}
