//! Helpers to locate the workspace and to run cargo.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Returns the workspace root, the parent directory of this package's manifest directory.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Returns the cargo executable to use: the one that started us (`$CARGO`), or `cargo`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// Returns the cargo target directory: `$CARGO_TARGET_DIR` if set (relative to the workspace
/// root when relative), otherwise `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Builds `package` in release (unless `no_build`) and returns the path of its binary, which
/// has the package's name.
pub fn release_binary(package: &str, no_build: bool) -> Result<PathBuf> {
    if !no_build {
        run_cargo(&["build", "--release", "-p", package])?;
    }
    let binary = target_dir().join("release").join(format!("{package}{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        bail!("release binary not found at {}", binary.display());
    }
    Ok(binary)
}

/// Runs `cargo <args>` in the workspace root, printing the command first, and fails if it
/// does not exit successfully.
pub fn run_cargo(args: &[&str]) -> Result<()> {
    println!("$ cargo {}", args.join(" "));
    let mut command = Command::new(cargo());
    command.args(args).current_dir(root());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_package_env) {
            command.env_remove(name);
        }
    }
    let status = command.status().with_context(|| format!("could not start `cargo {}`", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `name` is one of the variables `cargo run` sets to describe the package being run
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …). They are removed from nested cargo commands:
/// build scripts such as ring's track them with `rerun-if-env-changed`, so inheriting xtask's
/// values would make every nested build re-run those scripts and rebuild what depends on them.
fn is_package_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    EXACT.contains(&name) || name.starts_with("CARGO_PKG_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_run_packages_variables_are_removed() {
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_BIN_NAME"] {
            assert!(is_package_env(name), "{name}");
        }
        for name in ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_PROFILE_RELEASE_DEBUG", "PATH"] {
            assert!(!is_package_env(name), "{name}");
        }
    }
}
