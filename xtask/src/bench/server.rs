//! Building, configuring, starting and stopping the `wastatus` binary for a benchmark.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, Command};

/// How long the server may take to print its `listening on` line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The marker the server prints, followed by its address, once it accepts connections.
const LISTENING_MARKER: &str = "listening on http://";
/// How many lines of server output are kept to explain failures.
const LOG_TAIL_LINES: usize = 40;

/// A temporary directory, removed with its contents when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, uniquely named directory under the system's temporary directory.
    fn new(prefix: &str) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).with_context(|| format!("could not create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment every `wastatus` command of a benchmark runs in: a scratch working
/// directory, a SQLite database inside it, the sandbox driver and an ephemeral port.
#[derive(Debug)]
pub struct Fixture {
    binary: PathBuf,
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl Fixture {
    /// Creates the scratch directory and the environment; `extra_env` is applied last.
    pub fn new(binary: &Path, extra_env: &[(String, String)]) -> Result<Self> {
        let dir = TempDir::new("wastatus-bench")?;
        let database_url = format!("sqlite://{}/bench.db?mode=rwc", dir.0.display());
        let mut env: Vec<(String, String)> = [
            ("WASTATUS__WHATSAPP__DRIVER", "sandbox"),
            ("WASTATUS__SERVER__LISTEN", "127.0.0.1:0"),
            ("WASTATUS__DATABASE__URL", database_url.as_str()),
            // The benchmark measures throughput, which the per-credential limit would cap.
            ("WASTATUS__LIMITS__REQUESTS_PER_MINUTE", "0"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(extra_env.iter().cloned());
        Ok(Self { binary: binary.to_path_buf(), dir, env })
    }

    /// Returns a `wastatus <args>` command set up with the fixture's environment and directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.dir.0).stdin(Stdio::null());
        command
    }

    /// Runs `wastatus <args>` to completion, failing with its stderr if it fails, and returns
    /// its stdout.
    pub async fn run(&self, args: &[&str]) -> Result<String> {
        let shown = format!("wastatus {}", args.join(" "));
        println!("$ {shown}");
        let output = self.command(args).output().await.with_context(|| format!("could not run `{shown}`"))?;
        if !output.status.success() {
            bail!("`{shown}` failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
        }
        String::from_utf8(output.stdout).with_context(|| format!("`{shown}` printed invalid UTF-8"))
    }

    /// Runs an admin command `wastatus <args>` and returns the one JSON object it prints.
    pub async fn admin(&self, args: &[&str]) -> Result<Value> {
        let stdout = self.run(args).await?;
        let value: Value = serde_json::from_str(stdout.trim())
            .with_context(|| format!("`wastatus {}` did not print one JSON object: {stdout}", args.join(" ")))?;
        if !value.is_object() {
            bail!("`wastatus {}` printed {value}, not a JSON object", args.join(" "));
        }
        Ok(value)
    }

    /// Starts `wastatus serve` and waits until it prints the address it listens on.
    pub async fn serve(&self) -> Result<Server> {
        println!("$ wastatus serve");
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("could not start `wastatus serve`")?;
        let log = OutputTail::default();
        let stdout = child.stdout.take().context("server stdout was not captured")?;
        let stderr = child.stderr.take().context("server stderr was not captured")?;
        tokio::spawn(drain(BufReader::new(stderr).lines(), log.clone()));

        let mut stdout = BufReader::new(stdout).lines();
        let addr = match tokio::time::timeout(READY_TIMEOUT, wait_for_address(&mut stdout, &log)).await {
            Ok(Ok(Some(addr))) => addr,
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the server exited ({}) before printing `{LISTENING_MARKER}…`; its last output:\n{}",
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string()),
                    log.render()
                );
            }
            Ok(Err(error)) => return Err(error.context("could not read the server's stdout")),
            Err(_) => bail!(
                "the server did not print `{LISTENING_MARKER}…` within {} s; its last output:\n{}",
                READY_TIMEOUT.as_secs(),
                log.render()
            ),
        };
        tokio::spawn(drain(stdout, log.clone()));
        println!("server listening on http://{addr}");
        Ok(Server { child, addr, log })
    }
}

/// A running `wastatus serve` process, killed if dropped without [`Server::shutdown`].
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: String,
    log: OutputTail,
}

impl Server {
    /// Returns the base URL of the server, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns the server's most recent output lines, for error messages.
    pub fn recent_output(&self) -> String {
        self.log.render()
    }

    /// Sends SIGTERM, waits up to ten seconds for a graceful exit, and kills the server if it
    /// is still running then. Problems are reported on stdout, not returned: they do not
    /// invalidate the measurements.
    pub async fn shutdown(mut self) {
        println!("stopping the server (SIGTERM)");
        if let Err(error) = terminate(&self.child) {
            println!("warning: {error:#}; killing the server");
            let _ = self.child.kill().await;
            return;
        }
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => println!("server exited cleanly"),
            Ok(Ok(status)) => report_bad_exit(status, &self.log),
            Ok(Err(error)) => println!("warning: could not wait for the server: {error}"),
            Err(_) => {
                println!(
                    "warning: the server did not exit within {} s of SIGTERM; killing it",
                    SHUTDOWN_TIMEOUT.as_secs()
                );
                if let Err(error) = self.child.kill().await {
                    println!("warning: could not kill the server: {error}");
                }
            }
        }
    }
}

/// Reports a non-zero exit after SIGTERM with the server's last output.
fn report_bad_exit(status: ExitStatus, log: &OutputTail) {
    println!("warning: the server did not shut down gracefully ({status}); its last output:\n{}", log.render());
}

/// Sends SIGTERM to the child process.
#[cfg(unix)]
fn terminate(child: &Child) -> Result<()> {
    let pid = child.id().context("the server has already exited")?;
    let pid = libc::pid_t::try_from(pid).context("server pid out of range")?;
    // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child's id, still
    // unreaped because we hold its `Child`, so it cannot have been recycled.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(std::io::Error::last_os_error()).context("could not send SIGTERM to the server");
    }
    Ok(())
}

/// Stands in for SIGTERM where it does not exist: graceful shutdown cannot be requested.
#[cfg(not(unix))]
fn terminate(_child: &Child) -> Result<()> {
    bail!("SIGTERM is not available on this platform")
}

/// Reads stdout lines until one announces the listening address; `None` at end of output.
async fn wait_for_address<R: AsyncRead + Unpin>(
    lines: &mut Lines<BufReader<R>>,
    log: &OutputTail,
) -> Result<Option<String>> {
    while let Some(line) = lines.next_line().await? {
        let addr = parse_listening_line(&line);
        log.push(line);
        if addr.is_some() {
            return Ok(addr);
        }
    }
    Ok(None)
}

/// Keeps reading a stream of lines so the child never blocks on a full pipe, remembering the
/// last few for error messages.
async fn drain<R: AsyncRead + Unpin>(mut lines: Lines<BufReader<R>>, log: OutputTail) {
    while let Ok(Some(line)) = lines.next_line().await {
        log.push(line);
    }
}

/// Extracts `HOST:PORT` from a line containing `listening on http://HOST:PORT`.
///
/// The address ends at the first character that cannot be part of a host and port, so trailing
/// slashes, quotes (as in JSON logs) or words are ignored; bracketed IPv6 addresses are kept.
pub fn parse_listening_line(line: &str) -> Option<String> {
    let start = line.find(LISTENING_MARKER)? + LISTENING_MARKER.len();
    let rest = &line[start..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".-:[]".contains(c))).unwrap_or(rest.len());
    let addr = rest[..end].trim_end_matches([':', '.']);
    (!addr.is_empty()).then(|| addr.to_owned())
}

/// The last [`LOG_TAIL_LINES`] lines a child printed, shared between the reader tasks.
#[derive(Clone, Debug, Default)]
struct OutputTail(Arc<Mutex<VecDeque<String>>>);

impl OutputTail {
    /// Remembers one line, forgetting the oldest when full.
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == LOG_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Returns the remembered lines, indented, or a note that there were none.
    fn render(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.is_empty() {
            return "  (no output)".to_owned();
        }
        lines.iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_gives_the_address() {
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:43127").as_deref(), Some("127.0.0.1:43127"));
        assert_eq!(
            parse_listening_line("2026-01-01T00:00:00Z  INFO wastatus: listening on http://127.0.0.1:8080/ (sandbox)")
                .as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            parse_listening_line(r#"{"level":"INFO","message":"listening on http://[::1]:9000"}"#).as_deref(),
            Some("[::1]:9000")
        );
        assert_eq!(parse_listening_line("listening on http://localhost:1234.").as_deref(), Some("localhost:1234"));
    }

    #[test]
    fn other_lines_are_ignored() {
        assert_eq!(parse_listening_line("migrations applied"), None);
        assert_eq!(parse_listening_line("listening on https://127.0.0.1:1"), None);
        assert_eq!(parse_listening_line("listening on http://"), None);
    }

    #[test]
    fn output_tail_keeps_the_last_lines() {
        let tail = OutputTail::default();
        for i in 0..LOG_TAIL_LINES + 5 {
            tail.push(format!("line {i}"));
        }
        let rendered = tail.render();
        assert!(!rendered.contains("line 4\n"));
        assert!(rendered.starts_with("  | line 5\n"));
        assert!(rendered.ends_with(&format!("line {}", LOG_TAIL_LINES + 4)));
    }

    #[tokio::test]
    async fn the_address_is_found_after_other_lines() {
        let input: &[u8] = b"applying migrations\nlistening on http://127.0.0.1:5555\nmore\n";
        let mut lines = BufReader::new(input).lines();
        let log = OutputTail::default();
        let addr = wait_for_address(&mut lines, &log).await.unwrap();
        assert_eq!(addr.as_deref(), Some("127.0.0.1:5555"));
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("more"));
    }

    #[tokio::test]
    async fn end_of_output_without_the_address_is_none() {
        let input: &[u8] = b"error: cannot bind\n";
        let mut lines = BufReader::new(input).lines();
        assert_eq!(wait_for_address(&mut lines, &OutputTail::default()).await.unwrap(), None);
    }
}
