//! `cargo xtask bench api`: the gateway's own overhead.
//!
//! With the sandbox driver the WhatsApp side costs almost nothing, so the rate of text-status
//! publishes (authentication, validation, persistence, the driver call and the answer) compared
//! with the rate of `GET /healthz` (bare HTTP handling) shows how much the gateway itself adds.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use reqwest::header::HeaderValue;
use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};

use super::CommonArgs;
use super::load::{self, Phase, PhaseReport};
use super::server::{Fixture, Server};

/// The session the benchmark publishes through.
const SESSION_ID: &str = "bench";
/// The aim: publishes per second as a percentage of `/healthz` requests per second.
const TARGET_PERCENT: f64 = 35.0;
/// The largest share of failed requests a valid run may have.
const MAX_ERROR_RATIO: f64 = 0.01;
/// How long the session may take to become `connected` after pairing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `cargo xtask bench api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the benchmark: set-up, server start, pairing, both phases, shutdown, report.
pub async fn run(binary: &Path, args: &ApiArgs) -> Result<()> {
    let fixture = Fixture::new(binary, &args.common.server_env)?;
    let api_key = provision(&fixture).await?;
    let server = fixture.serve().await?;
    let measured = measure(&server, &api_key, &args.common).await;
    server.shutdown().await;
    let (healthz, publishes) = measured?;
    print_summary(&healthz, &publishes, &args.common);
    check_error_rates(&[&healthz, &publishes])
}

/// Migrates the database and creates a tenant, an API key and a session through the admin
/// CLI; returns the API key.
async fn provision(fixture: &Fixture) -> Result<String> {
    fixture.run(&["migrate"]).await?;
    let tenant = fixture.admin(&["admin", "tenant", "create", "--name", "bench"]).await?;
    let tenant_id = string_field(&tenant, "id")?;
    let key = fixture.admin(&["admin", "key", "create", "--tenant", &tenant_id, "--name", "bench"]).await?;
    let api_key = string_field(&key, "key")?;
    let session = fixture.admin(&["admin", "session", "create", "--tenant", &tenant_id, "--id", SESSION_ID]).await?;
    let session_id = string_field(&session, "id")?;
    ensure!(session_id == SESSION_ID, "session create answered id `{session_id}`, expected `{SESSION_ID}`");
    Ok(api_key)
}

/// Pairs the session, then runs phase A (`GET /healthz`) and phase B (text publishes).
async fn measure(server: &Server, api_key: &str, args: &CommonArgs) -> Result<(PhaseReport, PhaseReport)> {
    let concurrency = usize::from(args.concurrency);
    let client = load::client(concurrency)?;
    let base = server.base_url();
    let mut key = HeaderValue::from_str(api_key).context("the API key is not a valid header value")?;
    key.set_sensitive(true);

    pair(&client, &base, &key)
        .await
        .with_context(|| format!("pairing failed; server output:\n{}", server.recent_output()))?;

    let healthz_url = parse_url(&format!("{base}/healthz"))?;
    let phase = Phase { label: "GET /healthz".to_owned(), concurrency, duration: args.duration(), success_status: 200 };
    announce('A', &phase);
    let healthz = load::run_phase(&client, &phase, move |c, _| c.get(healthz_url.clone())).await;

    let statuses_path = format!("/v1/sessions/{SESSION_ID}/statuses");
    let statuses_url = parse_url(&format!("{base}{statuses_path}"))?;
    let phase =
        Phase { label: format!("POST {statuses_path}"), concurrency, duration: args.duration(), success_status: 201 };
    announce('B', &phase);
    let publishes = load::run_phase(&client, &phase, move |c, n| {
        c.post(statuses_url.clone()).header("X-Api-Key", key.clone()).json(&text_status(n))
    })
    .await;

    Ok((healthz, publishes))
}

/// Prints what a phase is about to do.
fn announce(tag: char, phase: &Phase) {
    println!(
        "phase {tag}: {} with {} clients, {} s warm-up + {} s measured",
        phase.label,
        phase.concurrency,
        load::WARM_UP.as_secs(),
        phase.duration.as_secs()
    );
}

/// Returns the body of the n-th text-status publish.
fn text_status(n: u64) -> Value {
    json!({
        "type": "text",
        "text": format!("bench {n}"),
        "background_color": "#101010",
        "font": "SANS_SERIF",
    })
}

/// Pairs the session by QR and waits until it reports `connected`.
async fn pair(client: &Client, base: &str, key: &HeaderValue) -> Result<()> {
    let url = format!("{base}/v1/sessions/{SESSION_ID}/pair");
    let response = client
        .post(&url)
        .header("X-Api-Key", key.clone())
        .json(&json!({ "method": "qr" }))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    ensure!(status == StatusCode::OK, "POST {url} answered {status}, expected 200: {body}");

    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        let state = session_state(client, base, key).await?;
        if state == "connected" {
            println!("session `{SESSION_ID}` is connected");
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("session `{SESSION_ID}` is still `{state}` {} s after pairing", CONNECT_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns the session's `state` as reported by `GET /v1/sessions/{id}`.
async fn session_state(client: &Client, base: &str, key: &HeaderValue) -> Result<String> {
    let url = format!("{base}/v1/sessions/{SESSION_ID}");
    let response =
        client.get(&url).header("X-Api-Key", key.clone()).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await.with_context(|| format!("GET {url}: reading the body"))?;
    ensure!(status == StatusCode::OK, "GET {url} answered {status}: {body}");
    let session: Value =
        serde_json::from_str(&body).with_context(|| format!("GET {url} did not answer JSON: {body}"))?;
    string_field(&session, "state")
}

/// Returns a string (or number, as text) member of a JSON object.
fn string_field(object: &Value, name: &str) -> Result<String> {
    match object.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => bail!("expected a `{name}` string in {object}"),
    }
}

/// Parses a URL built from the server's address.
fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).with_context(|| format!("invalid URL `{url}`"))
}

/// Prints the results table, the error breakdown and whether the target was met.
fn print_summary(healthz: &PhaseReport, publishes: &PhaseReport, args: &CommonArgs) {
    println!();
    println!(
        "results: {} clients, {} s per phase after a {} s warm-up",
        args.concurrency,
        args.duration_secs,
        load::WARM_UP.as_secs()
    );
    println!("   {:<40} {:>10} {:>9} {:>9} {:>10} {:>8}", "phase", "req/s", "p50 ms", "p99 ms", "ok", "errors");
    for (tag, report) in [('A', healthz), ('B', publishes)] {
        println!("{}", table_row(tag, report));
    }
    for (tag, report) in [('A', healthz), ('B', publishes)] {
        for line in error_lines(tag, report) {
            println!("{line}");
        }
    }
    println!();
    match ratio_percent(publishes.rate(), healthz.rate()) {
        Some(ratio) => {
            println!("publishes / healthz: {ratio:.1} %");
            let verdict = if ratio >= TARGET_PERCENT { "MET" } else { "NOT MET" };
            println!("aim: publishes ≥ {TARGET_PERCENT} % of /healthz: {verdict}");
        }
        None => println!("publishes / healthz: undefined (no successful /healthz requests)"),
    }
}

/// Formats one phase as a row of the results table.
fn table_row(tag: char, report: &PhaseReport) -> String {
    let ms = |p| report.percentile_ms(p).map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    format!(
        "{tag}  {:<40} {:>10.1} {:>9} {:>9} {:>10} {:>8}",
        report.label,
        report.rate(),
        ms(50.0),
        ms(99.0),
        report.successes(),
        report.error_count()
    )
}

/// Describes a phase's errors, one line per kind, with an example body when there is one.
fn error_lines(tag: char, report: &PhaseReport) -> Vec<String> {
    report
        .errors
        .iter()
        .map(|(kind, count)| match report.samples.get(kind) {
            Some(sample) => format!("   errors in {tag}: {kind} × {count}, e.g. {sample}"),
            None => format!("   errors in {tag}: {kind} × {count}"),
        })
        .collect()
}

/// Returns `part` as a percentage of `whole`, or `None` when `whole` is zero.
fn ratio_percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole * 100.0)
}

/// Fails if any phase had more than [`MAX_ERROR_RATIO`] failed requests.
fn check_error_rates(reports: &[&PhaseReport]) -> Result<()> {
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| r.error_ratio() > MAX_ERROR_RATIO)
        .map(|r| format!("{}: {:.2} % of requests failed", r.label, r.error_ratio() * 100.0))
        .collect();
    if !failures.is_empty() {
        bail!("error rate above {} %: {}", MAX_ERROR_RATIO * 100.0, failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_fields_accept_strings_and_numbers() {
        let object = json!({ "id": "t-1", "n": 7, "x": null });
        assert_eq!(string_field(&object, "id").unwrap(), "t-1");
        assert_eq!(string_field(&object, "n").unwrap(), "7");
        assert!(string_field(&object, "x").is_err());
        assert!(string_field(&object, "missing").is_err());
    }

    #[test]
    fn ratio_is_a_percentage() {
        assert_eq!(ratio_percent(35.0, 100.0), Some(35.0));
        assert_eq!(ratio_percent(1.0, 0.0), None);
    }

    #[test]
    fn text_status_body_matches_the_contract() {
        assert_eq!(
            text_status(3),
            json!({"type": "text", "text": "bench 3", "background_color": "#101010", "font": "SANS_SERIF"})
        );
    }
}
