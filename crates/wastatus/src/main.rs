//! The `wastatus` binary: reads configuration, wires the adapters into the domain, and runs the
//! server, an admin command, or a command that talks to the running server.

mod adapters;
mod admin;
mod cli;
mod config;
mod pair;
mod serve;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SessionApiCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wastatus: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    config::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wastatus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::run(config).await,
            Command::Migrate => wiring::migrate(&config).await,
            Command::Admin(command) => admin::run(&config, command).await,
            Command::Session(SessionApiCommand::Pair(args)) => pair::run(&config, args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wastatus: {e:#}");
            ExitCode::FAILURE
        }
    }
}
