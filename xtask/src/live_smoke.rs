//! `cargo xtask live-smoke`: one real text status, end to end, on a real WhatsApp number.
//!
//! Opt-in: it needs a phone at hand and the network, so it never runs in CI or in `cargo test`.
//! It builds the release binary, starts `wastatus serve` with the `web` driver in a scratch
//! directory (its own SQLite database and device state), creates a tenant, a key and a session,
//! links the phone with `wastatus session pair` (the QR code or pairing code appears in this
//! terminal), publishes a text status to exactly one recipient, leaves it up for `--hold`
//! seconds, revokes it, and stops the server. Without `--keep` the device is logged out at the
//! end, so the phone does not keep a stale linked device; with `--keep DIR` the database and
//! the device state stay in DIR and later runs skip pairing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::workspace;

/// The session the smoke test links and publishes through.
const SESSION_ID: &str = "live-smoke";
/// Where `--keep` remembers the tenant (its key is made anew each run and never stored).
const TENANT_FILE: &str = "live-smoke-tenant";
/// How long the server may take to print its `listening on` line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The steps of the test proper (build, prepare, provision, serve, session, pair, publish, hold,
/// revoke); the clean-up comes after them.
const STEPS: usize = 9;

/// Options of `cargo xtask live-smoke`.
#[derive(Debug, Args)]
pub struct LiveSmokeArgs {
    /// The one recipient of the status: a phone number with its country code, digits only.
    /// That phone usually needs the linked number in its contacts to see the status.
    #[arg(long, value_name = "NUMBER")]
    to: String,
    /// Link by pairing code for this phone number (the linked phone's own number) instead of
    /// by QR code.
    #[arg(long, value_name = "NUMBER")]
    phone: Option<String>,
    /// Seconds to leave the status up before revoking it.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    hold: u64,
    /// Keep the database and the device state in DIR (created if missing): later runs with the
    /// same DIR skip pairing, and the device stays linked.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Seconds to wait for the phone to link.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pair_timeout: u64,
    /// Use the existing `target/release/wastatus` instead of building it first.
    #[arg(long)]
    no_build: bool,
    /// Use this `wastatus` binary instead of building one.
    #[arg(long, value_name = "PATH", conflicts_with = "no_build")]
    binary: Option<PathBuf>,
    /// Rehearse with the sandbox driver: every step runs, with no phone and no network.
    #[arg(long)]
    sandbox: bool,
}

/// Runs the smoke test, announcing each step; fails with the step that failed.
pub fn run(args: &LiveSmokeArgs) -> Result<()> {
    let to = recipient(&args.to)?;
    let mut steps = Steps::default();
    let binary = match &args.binary {
        Some(binary) => steps.run("use the given binary", || Ok(std::path::absolute(binary)?))?,
        None => steps.run("build the release binary", || workspace::release_binary("wastatus", args.no_build))?,
    };
    let (dir, _scratch) = steps.run("prepare the working directory", || prepare(args.keep.as_deref()))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    let driver = if args.sandbox { "sandbox" } else { "web" };
    let smoke = Smoke { binary, dir, driver, http: Client::new() };
    let outcome = runtime.block_on(smoke.run(&mut steps, args, &to));
    if let (Err(_), Some(tail)) = (&outcome, smoke.log_tail()) {
        eprintln!("the end of the server's log ({}):\n{tail}", smoke.log().display());
    }
    outcome
}

/// Announces steps as `[n/N] what` (and the clean-up after them as `[after] what`), and names
/// the failing one in the error.
#[derive(Debug, Default)]
struct Steps {
    done: usize,
}

impl Steps {
    fn begin(&mut self, what: &str) -> String {
        self.done += 1;
        println!("[{}/{STEPS}] {what}", self.done);
        format!("step {}/{STEPS} ({what}) failed", self.done)
    }

    fn after(&self, what: &str) -> String {
        println!("[after] {what}");
        format!("after the smoke test, {what} failed")
    }

    fn run<T>(&mut self, what: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        let failed = self.begin(what);
        step().context(failed)
    }

    async fn run_async<T>(&mut self, what: &str, step: impl Future<Output = Result<T>>) -> Result<T> {
        let failed = self.begin(what);
        step.await.context(failed)
    }

    async fn after_async<T>(&self, what: &str, step: impl Future<Output = Result<T>>) -> Result<T> {
        let failed = self.after(what);
        step.await.context(failed)
    }
}

/// The recipient as the API takes it: digits, without a leading `+`.
fn recipient(raw: &str) -> Result<String> {
    let digits = raw.trim().trim_start_matches('+');
    ensure!(
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "--to must be a phone number with its country code, digits only (e.g. 919876543210), not {raw:?}"
    );
    Ok(digits.to_owned())
}

/// A directory removed with its contents when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        // It holds the device keys of a logged-out device; best effort.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The working directory: `keep` (created if missing), or a scratch directory.
fn prepare(keep: Option<&Path>) -> Result<(PathBuf, Option<Scratch>)> {
    let (dir, scratch) = match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
            (std::path::absolute(dir).context("resolving --keep")?, None)
        }
        None => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir().join(format!("wastatus-live-smoke-{}-{nanos}", std::process::id()));
            std::fs::create_dir(&dir).with_context(|| format!("could not create {}", dir.display()))?;
            (dir.clone(), Some(Scratch(dir)))
        }
    };
    println!("      in {}", dir.display());
    Ok((dir, scratch))
}

struct Smoke {
    binary: PathBuf,
    dir: PathBuf,
    /// `web`, or `sandbox` for a rehearsal.
    driver: &'static str,
    http: Client,
}

impl Smoke {
    async fn run(&self, steps: &mut Steps, args: &LiveSmokeArgs, to: &str) -> Result<()> {
        let key = steps.run_async("create a tenant and an API key (admin CLI)", self.provision()).await?;
        let what = format!("start `wastatus serve` with the {} driver", self.driver);
        let server = steps.run_async(&what, self.serve()).await?;
        let outcome = self.with_server(steps, args, to, &server.base, &key).await;
        let cleanup = match args.keep {
            Some(_) => {
                steps.after("keep the device linked");
                println!("      its state stays in {}; run again with this --keep to skip pairing", self.dir.display());
                Ok(())
            }
            None => {
                steps.after_async("log the device out (the phone forgets it)", self.logout(&server.base, &key)).await
            }
        };
        let stopped = steps.after_async("stop the server", server.stop()).await;
        outcome.and(cleanup).and(stopped)?;
        println!("live smoke: passed");
        Ok(())
    }

    /// The steps that need the server.
    async fn with_server(
        &self,
        steps: &mut Steps,
        args: &LiveSmokeArgs,
        to: &str,
        base: &str,
        key: &str,
    ) -> Result<()> {
        steps.run_async(&format!("create session `{SESSION_ID}`"), self.create_session(base, key)).await?;
        let how = if args.phone.is_some() { "type the pairing code" } else { "scan the QR code" };
        steps.run_async(&format!("link the phone ({how} below)"), self.pair(base, key, args)).await?;
        let status = steps.run_async(&format!("publish a text status to {to}"), self.publish(base, key, to)).await?;
        steps
            .run_async(&format!("hold it for {} s", args.hold), async {
                println!("      look at the status of the linked number on {to}'s phone");
                tokio::time::sleep(Duration::from_secs(args.hold)).await;
                Ok(())
            })
            .await?;
        steps.run_async("revoke it", self.revoke(base, key, &status)).await
    }

    /// A `wastatus` command in the working directory, configured only by this environment
    /// (the caller's `WASTATUS*` variables are dropped, so nothing points at a real database).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("WASTATUS") {
                command.env_remove(name);
            }
        }
        let database = format!("sqlite://{}?mode=rwc", self.dir.join("live-smoke.db").display());
        command
            .args(args)
            .current_dir(&self.dir)
            .env("WASTATUS__WHATSAPP__DRIVER", self.driver)
            .env("WASTATUS__WHATSAPP__WEB_DIR", self.dir.join("web"))
            .env("WASTATUS__SERVER__LISTEN", "127.0.0.1:0")
            .env("WASTATUS__DATABASE__URL", database)
            .kill_on_drop(true);
        command
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The last lines of the server's log, if it wrote any.
    fn log_tail(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.log()).ok().filter(|log| !log.trim().is_empty())?;
        let lines: Vec<&str> = log.lines().collect();
        Some(lines[lines.len().saturating_sub(20)..].iter().map(|line| format!("  | {line}\n")).collect())
    }

    /// Runs an admin command and returns the one JSON object it prints.
    async fn admin(&self, args: &[&str]) -> Result<Value> {
        let mut full = vec!["admin"];
        full.extend_from_slice(args);
        let out = self.command(&full).stdin(Stdio::null()).output().await.context("could not run wastatus admin")?;
        ensure!(
            out.status.success(),
            "`wastatus admin {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("`wastatus admin {}` printed no JSON", args.join(" ")))
    }

    /// Creates the tenant (or finds the one `--keep` remembers) and a new API key for it.
    async fn provision(&self) -> Result<String> {
        let file = self.dir.join(TENANT_FILE);
        let tenant = match std::fs::read_to_string(&file) {
            Ok(tenant) => tenant.trim().to_owned(),
            Err(_) => {
                let tenant = self.admin(&["tenant", "create", "--name", "live smoke"]).await?;
                let id = text(&tenant, "id")?;
                std::fs::write(&file, &id).with_context(|| format!("could not write {}", file.display()))?;
                id
            }
        };
        let key = self.admin(&["key", "create", "--tenant", &tenant, "--name", "live smoke"]).await?;
        text(&key, "key")
    }

    async fn serve(&self) -> Result<Server> {
        let log = std::fs::File::create(self.log()).context("could not create the server log")?;
        let mut child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("could not start wastatus serve")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let addr = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    return Ok(addr.trim().to_owned());
                }
            }
            bail!("the server exited before it listened")
        })
        .await
        .context("the server did not print `listening on http://…` in time")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        println!("      listening on http://{addr}; its log is {}", self.log().display());
        Ok(Server { child, base: format!("http://{addr}") })
    }

    async fn create_session(&self, base: &str, key: &str) -> Result<()> {
        let (status, body) =
            self.call(self.http.post(format!("{base}/v1/sessions")), key, json!({"id": SESSION_ID})).await?;
        match status {
            StatusCode::CREATED => Ok(()),
            StatusCode::CONFLICT if body["code"] == "session_already_exists" => {
                println!("      it exists (kept from an earlier run)");
                Ok(())
            }
            _ => bail!("POST /v1/sessions answered {status}: {body}"),
        }
    }

    /// Runs `wastatus session pair` in this terminal, so the operator sees the code.
    async fn pair(&self, base: &str, key: &str, args: &LiveSmokeArgs) -> Result<()> {
        let timeout = args.pair_timeout.to_string();
        let mut pair = vec!["session", "pair", SESSION_ID, "--server", base, "--timeout", &timeout];
        if let Some(phone) = &args.phone {
            pair.extend(["--phone", phone.as_str()]);
        }
        let status = self
            .command(&pair)
            .env("WASTATUS_API_KEY", key)
            .stdin(Stdio::null())
            .status()
            .await
            .context("could not run wastatus session pair")?;
        ensure!(status.success(), "`wastatus session pair` failed ({status})");
        Ok(())
    }

    /// Publishes the text status and returns its id.
    async fn publish(&self, base: &str, key: &str, to: &str) -> Result<String> {
        let text_body = format!("wastatus live smoke {}", timestamp());
        let body = json!({"type": "text", "text": text_body, "audience": {"mode": "allowlist", "jids": [to]}});
        let url = format!("{base}/v1/sessions/{SESSION_ID}/statuses");
        let (status, answer) = self.call(self.http.post(url), key, body).await?;
        ensure!(status == StatusCode::CREATED, "the publish answered {status}, not 201: {answer}");
        ensure!(answer["state"] == "published", "the status is not published: {answer}");
        let message_id = text(&answer, "message_id")?;
        let id = text(&answer, "id")?;
        println!("      published: status {id}, WhatsApp message {message_id}, text {text_body:?}");
        Ok(id)
    }

    async fn revoke(&self, base: &str, key: &str, id: &str) -> Result<()> {
        let (status, answer) =
            self.call(self.http.delete(format!("{base}/v1/statuses/{id}")), key, Value::Null).await?;
        ensure!(matches!(status, StatusCode::OK | StatusCode::ACCEPTED), "the revoke answered {status}: {answer}");
        println!("      {}", answer["state"].as_str().unwrap_or("(no state)"));
        Ok(())
    }

    async fn logout(&self, base: &str, key: &str) -> Result<()> {
        let url = format!("{base}/v1/sessions/{SESSION_ID}/logout");
        let (status, answer) = self.call(self.http.post(url), key, Value::Null).await?;
        match status {
            StatusCode::OK => Ok(()),
            // Never linked (pairing failed): nothing to forget.
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => {
                println!("      nothing to log out: {}", answer["code"].as_str().unwrap_or("?"));
                Ok(())
            }
            _ => bail!("the logout answered {status}: {answer}"),
        }
    }

    /// Sends a request with the key (and a JSON body unless `Null`); returns the status and the
    /// JSON answer (`Null` when there is none).
    async fn call(&self, request: reqwest::RequestBuilder, key: &str, body: Value) -> Result<(StatusCode, Value)> {
        let request = if body.is_null() { request } else { request.json(&body) };
        let response = request.bearer_auth(key).send().await.context("the server did not answer")?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

/// The running server.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// SIGTERM, then a kill if it has not exited within 15 s.
    async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("the server has already exited")?;
        let pid = libc::pid_t::try_from(pid).context("server pid out of range")?;
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own unreaped child.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error()).context("could not send SIGTERM to the server");
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the server")?;
                ensure!(status.success(), "the server exited with {status}");
                Ok(())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the server did not stop within 15 s of SIGTERM; killed it")
            }
        }
    }
}

fn text(object: &Value, name: &str) -> Result<String> {
    match object.get(name).and_then(Value::as_str) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => bail!("expected a `{name}` string in {object}"),
    }
}

fn timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_digits_with_a_country_code() {
        assert_eq!(recipient("919876543210").unwrap(), "919876543210");
        assert_eq!(recipient("+15551234567").unwrap(), "15551234567");
        for bad in ["", "12345", "+1 555 123 4567", "15551234567@s.whatsapp.net", "1234567890123456"] {
            assert!(recipient(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_failing_step_is_named() {
        let mut steps = Steps::default();
        steps.run("first", || Ok(())).unwrap();
        let error = steps.run("second", || -> Result<()> { bail!("boom") }).unwrap_err();
        assert_eq!(format!("{error:#}"), format!("step 2/{STEPS} (second) failed: boom"));
    }
}
