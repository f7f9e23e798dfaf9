//! Project automation for the wastatus workspace, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci` runs the same checks as continuous integration.
//! - `cargo xtask bench api` measures the gateway's own overhead over loopback.
//! - `cargo xtask bench media` measures media preparation and encryption: time, MB/s, peak RSS.
//! - `cargo xtask live-smoke --to NUMBER` publishes one real status from a real linked phone
//!   (opt-in: it needs a phone and the network; never part of CI or `cargo test`).
//!
//! The tidy checks (for example, "the domain crate has no I/O dependency") are ordinary tests
//! of this package, so `cargo test --workspace` runs them.

mod bench;
mod ci;
mod live_smoke;
mod workspace;

#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line interface of `cargo xtask`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Project automation for wastatus")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The tasks `cargo xtask` knows.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run formatting, lint and test checks, stopping at the first failure.
    Ci,
    /// Run a benchmark of a release build.
    Bench {
        #[command(subcommand)]
        bench: bench::Bench,
    },
    /// Link a real phone and publish, then revoke, one text status to one recipient with the
    /// `web` driver. Needs the phone and the network; never run by CI.
    LiveSmoke(live_smoke::LiveSmokeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ci => ci::run(),
        Command::Bench { bench } => bench::run(bench),
        Command::LiveSmoke(args) => live_smoke::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
