//! `cargo xtask ci`: the checks continuous integration runs, in order.

use anyhow::Result;

use crate::workspace::run_cargo;

/// The CI steps, each a list of cargo arguments, run in this order.
const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    &["test", "--workspace"],
];

/// Runs every CI step in order and stops at the first one that fails.
pub fn run() -> Result<()> {
    for step in STEPS {
        run_cargo(step)?;
    }
    println!("ci: all {} steps passed", STEPS.len());
    Ok(())
}
