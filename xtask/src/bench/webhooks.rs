//! `cargo xtask bench webhooks`: signed webhook deliveries per second to a loopback receiver.
//!
//! The release binary runs with the sandbox driver and `webhooks.allow_private_networks` (the
//! receiver is on loopback). The benchmark registers `--endpoints` webhooks, all on one
//! receiver in this process, and publishes `--statuses` text statuses with `--concurrency`
//! clients; every `status.published` event goes to every endpoint. The receiver checks each
//! delivery's Standard Webhooks signature with its endpoint's secret, as a real receiver would,
//! and answers `204` at once on a keep-alive connection. The rate reported is signed deliveries
//! received per second, from the first delivery to the last: the dispatcher's throughput
//! (outbox fan-out, claims, signing, HTTP, recording each attempt).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use wastatus_domain::WebhookSecret;
use wastatus_webhooks::signing::verify;

use super::server::{Fixture, Server};
use crate::workspace;

/// The session the benchmark publishes through.
const SESSION_ID: &str = "bench";
/// How long the session may take to become `connected` after pairing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `cargo xtask bench webhooks`.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// Statuses to publish; each one is delivered to every endpoint.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub statuses: u32,
    /// Webhook endpoints to register (all on the loopback receiver).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub endpoints: u32,
    /// Concurrent publishing clients.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How long to wait for the deliveries after the last publish, in seconds.
    #[arg(long = "timeout", value_name = "SECS", default_value_t = 120)]
    pub timeout_secs: u64,
    /// Use the existing `target/release/wastatus` instead of building it first.
    #[arg(long)]
    pub no_build: bool,
    /// Extra environment variable for every `wastatus` command, e.g. to tune the dispatcher
    /// (`--server-env WASTATUS__WEBHOOKS__MAX_CONCURRENCY=64`); may be repeated.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = super::parse_env_pair)]
    pub server_env: Vec<(String, String)>,
}

/// Builds the release binary (unless told not to) and runs the benchmark.
pub fn run(args: &WebhooksArgs) -> Result<()> {
    let binary = workspace::release_binary("wastatus", args.no_build)?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(measure(&binary, args))
}

async fn measure(binary: &Path, args: &WebhooksArgs) -> Result<()> {
    let receiver = Receiver::start().await?;
    let mut env = vec![("WASTATUS__WEBHOOKS__ALLOW_PRIVATE_NETWORKS".to_owned(), "true".to_owned())];
    env.extend(args.server_env.iter().cloned());
    let fixture = Fixture::new(binary, &env)?;
    let api_key = provision(&fixture).await?;
    let server = fixture.serve().await?;
    let result = run_load(&server, &api_key, &receiver, args).await;
    server.shutdown().await;
    let report = result?;
    report.print(args);
    report.check()
}

/// Migrates the database and creates a tenant, an API key and a session through the admin
/// CLI; returns the API key.
async fn provision(fixture: &Fixture) -> Result<String> {
    fixture.run(&["migrate"]).await?;
    let tenant = fixture.admin(&["admin", "tenant", "create", "--name", "bench"]).await?;
    let tenant_id = text(&tenant, "id")?;
    let key = fixture.admin(&["admin", "key", "create", "--tenant", &tenant_id, "--name", "bench"]).await?;
    let api_key = text(&key, "key")?;
    fixture.admin(&["admin", "session", "create", "--tenant", &tenant_id, "--id", SESSION_ID]).await?;
    Ok(api_key)
}

/// What the benchmark saw.
struct Report {
    published: u64,
    publish_errors: u64,
    publish_time: Duration,
    expected: u64,
    received: Vec<Receipt>,
    bad_signatures: u64,
    started: Instant,
    publishes_done: Instant,
}

async fn run_load(server: &Server, api_key: &str, receiver: &Receiver, args: &WebhooksArgs) -> Result<Report> {
    let client = Client::builder().no_proxy().pool_max_idle_per_host(usize::from(args.concurrency)).build()?;
    let base = server.base_url();
    pair(&client, &base, api_key).await.with_context(|| format!("pairing failed:\n{}", server.recent_output()))?;

    for n in 0..args.endpoints {
        let path = format!("/hooks/{n}");
        let body = json!({"url": format!("{}{path}", receiver.base()), "events": ["status.published"]});
        let created = post_json(&client, &format!("{base}/v1/webhooks"), api_key, &body, 201).await?;
        let secret = WebhookSecret::new(text(&created, "secret")?).map_err(|e| anyhow::anyhow!("{e}"))?;
        receiver.expect(path, secret);
    }
    println!("registered {} webhook endpoints on {}", args.endpoints, receiver.base());

    println!("publishing {} text statuses with {} clients", args.statuses, args.concurrency);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let url = format!("{base}/v1/sessions/{SESSION_ID}/statuses");
    let publishers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.clone(), api_key.to_owned());
            let (next, errors, total) = (Arc::clone(&next), Arc::clone(&errors), u64::from(args.statuses));
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    let body = json!({"type": "text", "text": format!("bench {n}")});
                    let sent = client.post(&url).header("x-api-key", &key).json(&body).send().await;
                    if !sent.is_ok_and(|r| r.status().is_success()) {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.context("a publishing client crashed")?;
    }
    let publishes_done = Instant::now();
    let publish_errors = errors.load(Ordering::Relaxed);
    let published = u64::from(args.statuses) - publish_errors;
    let expected = published * u64::from(args.endpoints);

    let deadline = publishes_done + Duration::from_secs(args.timeout_secs);
    while receiver.count() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more, to see duplicates that come after the last expected delivery.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (received, bad_signatures) = receiver.take();
    Ok(Report {
        published,
        publish_errors,
        publish_time: publishes_done - started,
        expected,
        received,
        bad_signatures,
        started,
        publishes_done,
    })
}

impl Report {
    fn unique(&self) -> usize {
        self.received.iter().map(|r| (&r.path, &r.id)).collect::<HashSet<_>>().len()
    }

    fn print(&self, args: &WebhooksArgs) {
        println!();
        let per_sec = |n: f64, d: Duration| if d.is_zero() { 0.0 } else { n / d.as_secs_f64() };
        println!(
            "published: {} statuses in {:.2} s ({:.0}/s), {} failed",
            self.published,
            self.publish_time.as_secs_f64(),
            per_sec(self.published as f64, self.publish_time),
            self.publish_errors
        );
        let unique = self.unique();
        println!(
            "deliveries: {} received for {} expected ({} statuses × {} endpoints): {} distinct, {} repeated, {} with a bad signature",
            self.received.len(),
            self.expected,
            self.published,
            args.endpoints,
            unique,
            self.received.len() - unique,
            self.bad_signatures
        );
        let (Some(first), Some(last)) = (self.received.first(), self.received.last()) else {
            println!("no delivery arrived");
            return;
        };
        let window = last.at - first.at;
        println!(
            "signed deliveries per second: {:.0} (first to last delivery, {:.2} s)",
            per_sec(self.received.len() as f64, window),
            window.as_secs_f64()
        );
        println!(
            "end to end: {:.0} deliveries/s from the first publish; the last arrived {:.2} s after the last publish",
            per_sec(self.received.len() as f64, last.at - self.started),
            last.at.saturating_duration_since(self.publishes_done).as_secs_f64()
        );
    }

    fn check(&self) -> Result<()> {
        ensure!(self.bad_signatures == 0, "{} deliveries had a bad signature", self.bad_signatures);
        let unique = self.unique() as u64;
        ensure!(unique == self.expected, "{unique} of {} deliveries arrived", self.expected);
        Ok(())
    }
}

/// Pairs the session by QR and waits until it reports `connected`.
async fn pair(client: &Client, base: &str, key: &str) -> Result<()> {
    post_json(client, &format!("{base}/v1/sessions/{SESSION_ID}/pair"), key, &json!({"method": "qr"}), 200).await?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let url = format!("{base}/v1/sessions/{SESSION_ID}");
        let response = client.get(&url).header("x-api-key", key).send().await.with_context(|| format!("GET {url}"))?;
        let session: Value = response.json().await.with_context(|| format!("GET {url}: not JSON"))?;
        if session["state"] == "connected" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("session `{SESSION_ID}` is still {} {} s after pairing", session["state"], CONNECT_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// POSTs `body` and returns the JSON answer, which must have status `expected`.
async fn post_json(client: &Client, url: &str, key: &str, body: &Value, expected: u16) -> Result<Value> {
    let response =
        client.post(url).header("x-api-key", key).json(body).send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    ensure!(status.as_u16() == expected, "POST {url} answered {status}, expected {expected}: {text}");
    serde_json::from_str(&text).with_context(|| format!("POST {url} did not answer JSON: {text}"))
}

/// A string member of a JSON object.
fn text(object: &Value, name: &str) -> Result<String> {
    object[name].as_str().map(str::to_owned).with_context(|| format!("expected a `{name}` string in {object}"))
}

/// One delivery the receiver got.
#[derive(Debug, Clone)]
struct Receipt {
    path: String,
    id: String,
    at: Instant,
}

#[derive(Default)]
struct Inbox {
    secrets: HashMap<String, WebhookSecret>,
    received: Vec<Receipt>,
    bad_signatures: u64,
}

/// A minimal HTTP/1.1 receiver on loopback: keep-alive connections, `204` for every request,
/// each body checked against its endpoint's secret.
struct Receiver {
    addr: std::net::SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("could not bind the receiver")?;
        let addr = listener.local_addr()?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let shared = Arc::clone(&inbox);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, Arc::clone(&shared)));
            }
        });
        Ok(Receiver { addr, inbox })
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn expect(&self, path: String, secret: WebhookSecret) {
        self.inbox.lock().expect("the inbox").secrets.insert(path, secret);
    }

    fn count(&self) -> u64 {
        self.inbox.lock().expect("the inbox").received.len() as u64
    }

    fn take(&self) -> (Vec<Receipt>, u64) {
        let mut inbox = self.inbox.lock().expect("the inbox");
        (std::mem::take(&mut inbox.received), inbox.bad_signatures)
    }
}

/// Serves one keep-alive connection until the client closes it.
async fn connection(stream: TcpStream, inbox: Arc<Mutex<Inbox>>) {
    let mut stream = BufReader::new(stream);
    while let Ok(Some((path, headers, body))) = read_request(&mut stream).await {
        let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or_default();
        let id = header("webhook-id").to_owned();
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or_default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        {
            let mut inbox = inbox.lock().expect("the inbox");
            let valid = inbox
                .secrets
                .get(&path)
                .is_some_and(|s| verify(s, &id, timestamp, header("webhook-signature"), &body, now, 300).is_ok());
            if !valid {
                inbox.bad_signatures += 1;
            }
            inbox.received.push(Receipt { path, id, at: Instant::now() });
        }
        if stream.get_mut().write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

type Request = (String, HashMap<String, String>, Vec<u8>);

/// Reads one request: its path, headers (names in lower case) and body; `None` at the end of
/// the connection.
async fn read_request(stream: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Some((path, headers, body)))
}
