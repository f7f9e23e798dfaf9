//! Starting the binary and talking to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_wastatus");

/// A scratch directory with a SQLite database, removed on drop.
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("wastatus-e2e-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Self { dir }
    }

    /// The binary, configured by environment as the README shows.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("WASTATUS__WHATSAPP__DRIVER", "sandbox")
            .env("WASTATUS__SERVER__LISTEN", "127.0.0.1:0")
            .env("WASTATUS__DATABASE__URL", format!("sqlite://{}/wastatus.db?mode=rwc", self.dir.display()))
            .env("RUST_LOG", "warn");
        cmd
    }

    /// Runs an admin command and returns the JSON object it prints.
    pub fn admin(&self, args: &[&str]) -> Value {
        let mut full = vec!["admin"];
        full.extend_from_slice(args);
        let out = self.command(&full).output().expect("running wastatus admin");
        assert!(out.status.success(), "admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
        assert_eq!(stdout.trim().lines().count(), 1, "one JSON object on one line: {stdout}");
        serde_json::from_str(&stdout).expect("admin prints JSON")
    }

    /// Creates a tenant and an API key, returning (tenant id, key).
    pub fn tenant_with_key(&self, name: &str) -> (String, String) {
        let tenant = self.admin(&["tenant", "create", "--name", name]);
        let tenant_id = tenant["id"].as_str().expect("tenant id").to_owned();
        let key = self.admin(&["key", "create", "--tenant", &tenant_id]);
        (tenant_id, key["key"].as_str().expect("key").to_owned())
    }

    pub fn serve(&self) -> Server {
        Server::start(self.command(&["serve"]))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running server, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Server {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("starting wastatus serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("the server printed its address within 30 s");
        Self { child, base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body, authenticated by `key`.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).header("x-api-key", key).json(body).send().await.expect("the server answers")
    }

    /// `GET path`, authenticated by `key`.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http.get(self.url(path)).header("x-api-key", key).send().await.expect("the server answers")
    }

    /// `DELETE path`, authenticated by `key`.
    pub async fn delete(&self, path: &str, key: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).header("x-api-key", key).send().await.expect("the server answers")
    }

    /// Kills the process outright (SIGKILL): no shutdown, no flushing, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns whether the process exited successfully within 10 s.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
