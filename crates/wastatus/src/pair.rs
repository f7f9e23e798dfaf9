//! `wastatus session pair`: links a session to a phone through the running server's API.
//!
//! The server owns the WhatsApp clients and their device state, so this command never opens
//! them: it asks the server to pair (`POST /v1/sessions/{id}/pair`), shows the QR code or the
//! pairing code it gets, and looks at the session every two seconds until the phone has linked
//! it. QR codes rotate (a new one is shown when the payload changes) and run out (then it asks
//! for a new round); a pairing code that ran out is replaced the same way.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cli::SessionPair;
use crate::config::Config;

/// How often the session is looked at while waiting for the phone.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long one request may take. `POST …/pair` waits for WhatsApp to hand out a code
/// (`whatsapp.pair_wait_secs`, 15 s by default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// Runs `wastatus session pair`.
pub async fn run(config: &Config, args: SessionPair) -> anyhow::Result<()> {
    let key = args
        .api_key
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(|| anyhow!("no API key: pass --api-key or set WASTATUS_API_KEY"))?;
    let base = match &args.server {
        Some(url) => server_url(url)?,
        None => default_server(config.server.listen)?,
    };
    let by = match args.phone {
        Some(phone) => PairBy::Code { phone },
        None => PairBy::Qr,
    };
    let api = Api::new(base, key)?;
    pair(&api, &args.session, &by, Wait { poll: POLL_EVERY, timeout: Duration::from_secs(args.timeout) }).await
}

/// How the phone links the session.
#[derive(Debug)]
enum PairBy {
    Qr,
    Code { phone: String },
}

impl PairBy {
    fn request(&self) -> Value {
        match self {
            PairBy::Qr => json!({ "method": "qr" }),
            PairBy::Code { phone } => json!({ "method": "code", "phone_number": phone }),
        }
    }
}

/// How often to look, and for how long.
#[derive(Debug, Clone, Copy)]
struct Wait {
    poll: Duration,
    timeout: Duration,
}

/// Pairs session `id` and waits until it is `connected`.
async fn pair(api: &Api, id: &str, by: &PairBy, wait: Wait) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait.timeout;
    let session = match api.session(id).await? {
        Ok(session) => session,
        Err(problem) if problem.code == "session_not_found" => bail!(
            "there is no session `{id}` on {}; create it first (POST /v1/sessions with {{\"id\": \"{id}\"}})",
            api.base
        ),
        Err(problem) => return Err(problem.into()),
    };
    if session.state == "connected" {
        println!("already linked");
        return Ok(());
    }

    match by {
        PairBy::Qr => eprintln!("Asking {} for a QR code for session `{id}`…", api.base),
        PairBy::Code { phone } => eprintln!("Asking {} for a pairing code for {phone}…", api.base),
    }
    let mut screen = Screen::default();
    let mut session = match api.pair(id, by).await? {
        Ok(pairing) => {
            screen.pairing(&pairing)?;
            pairing.session
        }
        // Linked, but not connected yet: it logs in after a restart of the server.
        Err(problem) if problem.code == "session_already_paired" => {
            eprintln!("Session `{id}` is linked already; waiting for it to connect…");
            screen.linked = true;
            session
        }
        Err(problem) => return Err(problem.into()),
    };
    loop {
        match session.state.as_str() {
            "connected" => {
                println!("linked");
                return Ok(());
            }
            "logged_out" => bail!("session `{id}` was logged out{}", session.reason()),
            _ => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let what = if screen.linked { "linked but did not connect" } else { "was not linked by the phone" };
            let secs = wait.timeout.as_secs();
            bail!("timed out after {secs} s: session `{id}` {what} (it is {}{})", session.state, session.reason());
        }
        tokio::time::sleep(wait.poll.min(left)).await;
        session = api.session(id).await??;
        if !screen.linked && !matches!(session.state.as_str(), "connected" | "logged_out") {
            refresh(api, id, by, &mut screen).await?;
        }
    }
}

/// Shows the code the phone needs now: the QR code after a rotation, a new round of QR codes
/// or a new pairing code after the last ran out.
async fn refresh(api: &Api, id: &str, by: &PairBy, screen: &mut Screen) -> anyhow::Result<()> {
    let ran_out = match by {
        PairBy::Qr => match api.qr(id).await? {
            Ok(qr) => return screen.qr(&qr.payload, qr.expires_at),
            Err(problem) if problem.code == "qr_not_available" => true,
            Err(problem) => {
                screen.warn(&problem);
                false
            }
        },
        PairBy::Code { .. } => screen.code_expires.is_some_and(|expires_at| expires_at <= Utc::now()),
    };
    if ran_out {
        match api.pair(id, by).await? {
            Ok(pairing) => screen.pairing(&pairing)?,
            // Scanned: the session is linked and logs in; the next looks see it connect.
            Err(problem) if problem.code == "session_already_paired" => screen.linked = true,
            Err(problem) => screen.warn(&problem),
        }
    }
    Ok(())
}

/// What was shown, so that only changes are shown again.
#[derive(Debug, Default)]
struct Screen {
    /// The phone has linked the session; only its connection is awaited.
    linked: bool,
    qr: Option<String>,
    code_expires: Option<DateTime<Utc>>,
    warning: Option<String>,
}

impl Screen {
    fn pairing(&mut self, pairing: &Pairing) -> anyhow::Result<()> {
        if let Some(payload) = &pairing.qr {
            self.qr(payload, pairing.expires_at)?;
        }
        if let Some(code) = &pairing.code {
            if self.code_expires.is_some() {
                eprintln!("The pairing code ran out; here is a new one:");
            }
            println!("{}", group_code(code));
            eprintln!(
                "On the phone: WhatsApp → Linked devices → Link a device → Link with phone number instead, \
                 and type this code. {}",
                validity(pairing.expires_at)
            );
            self.code_expires = Some(pairing.expires_at);
        }
        Ok(())
    }

    /// Draws the QR code for `payload` unless it is the one on screen.
    fn qr(&mut self, payload: &str, expires_at: DateTime<Utc>) -> anyhow::Result<()> {
        if self.qr.as_deref() == Some(payload) {
            return Ok(());
        }
        if self.qr.is_some() {
            eprintln!("The QR code changed; scan this one:");
        }
        println!("{}", render_qr(payload)?);
        eprintln!("Scan it on the phone: WhatsApp → Linked devices → Link a device. {}", validity(expires_at));
        self.qr = Some(payload.to_owned());
        Ok(())
    }

    /// Reports a passing problem once, not at every look.
    fn warn(&mut self, problem: &Problem) {
        let text = problem.to_string();
        if self.warning.as_ref() != Some(&text) {
            eprintln!("still waiting: {text}");
            self.warning = Some(text);
        }
    }
}

/// The QR code as text for a terminal, drawn as `GET …/qr?format=text` draws it.
fn render_qr(payload: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(payload.as_bytes()).context("the server's QR payload does not fit a QR code")?;
    Ok(code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build())
}

fn validity(expires_at: DateTime<Utc>) -> String {
    let secs = (expires_at - Utc::now()).num_seconds().max(0);
    format!("Valid for {secs} s (until {}).", expires_at.format("%H:%M:%S UTC"))
}

/// Pairing codes are typed as two groups of four, `ABCD-EFGH`.
fn group_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() { format!("{}-{}", &code[..4], &code[4..]) } else { code.to_owned() }
}

/// The server to talk to when `--server` is not given: the configured `server.listen`, with
/// a wildcard address replaced by loopback.
fn default_server(listen: SocketAddr) -> anyhow::Result<String> {
    if listen.port() == 0 {
        bail!(
            "server.listen is {listen}, so the server picks its port when it starts; \
             pass --server with the address `wastatus serve` printed"
        );
    }
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    Ok(format!("http://{addr}"))
}

/// Checks a `--server` URL; returns it without a trailing slash.
fn server_url(raw: &str) -> anyhow::Result<String> {
    let usage = || format!("--server must be an http:// or https:// URL such as http://127.0.0.1:8080, not {raw:?}");
    let url = url::Url::parse(raw).with_context(usage)?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        bail!(usage());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The parts of a session this command reads.
#[derive(Debug, Deserialize)]
struct Session {
    state: String,
    #[serde(default)]
    reason: Option<Reason>,
}

#[derive(Debug, Deserialize)]
struct Reason {
    message: String,
}

impl Session {
    /// `: <why>` when the server says why the session is in its state.
    fn reason(&self) -> String {
        self.reason.as_ref().map(|reason| format!(": {}", reason.message)).unwrap_or_default()
    }
}

/// The answer to `POST …/pair`.
#[derive(Debug, Deserialize)]
struct Pairing {
    qr: Option<String>,
    code: Option<String>,
    expires_at: DateTime<Utc>,
    session: Session,
}

/// The answer to `GET …/qr?format=json`.
#[derive(Debug, Deserialize)]
struct Qr {
    payload: String,
    expires_at: DateTime<Utc>,
}

/// An RFC 9457 problem document from the server, or an answer that should have been one.
#[derive(Debug)]
struct Problem {
    code: String,
    detail: String,
}

impl Problem {
    fn parse(status: StatusCode, body: &str) -> Self {
        #[derive(Deserialize)]
        struct Document {
            code: String,
            detail: Option<String>,
            title: Option<String>,
        }
        match serde_json::from_str::<Document>(body) {
            Ok(doc) => Self { code: doc.code, detail: doc.detail.or(doc.title).unwrap_or_default() },
            Err(_) => {
                Self { code: "unexpected_response".to_owned(), detail: format!("HTTP {status}: {}", excerpt(body)) }
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

/// The server's API, with one credential. Every call answers `Err` for a transport failure or
/// an unreadable answer, and `Ok(Err(problem))` for an error the server reported.
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

type Answer<T> = anyhow::Result<Result<T, Problem>>;

impl Api {
    fn new(base: String, key: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().context("building the HTTP client")?;
        Ok(Self { http, base, key })
    }

    async fn session(&self, id: &str) -> Answer<Session> {
        self.call(Method::GET, &format!("/v1/sessions/{}", segment(id)), None).await
    }

    async fn pair(&self, id: &str, by: &PairBy) -> Answer<Pairing> {
        self.call(Method::POST, &format!("/v1/sessions/{}/pair", segment(id)), Some(&by.request())).await
    }

    async fn qr(&self, id: &str) -> Answer<Qr> {
        self.call(Method::GET, &format!("/v1/sessions/{}/qr?format=json", segment(id)), None).await
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&Value>) -> Answer<T> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            return Ok(Err(Problem::parse(status, &text)));
        }
        let value = serde_json::from_str(&text).with_context(|| {
            format!("{method} {url} answered {status} with something unexpected: {}", excerpt(&text))
        })?;
        Ok(Ok(value))
    }

    fn transport_error(&self, error: reqwest::Error) -> anyhow::Error {
        let base = &self.base;
        if error.is_timeout() {
            anyhow!("the server at {base} did not answer within {} s", REQUEST_TIMEOUT.as_secs())
        } else if error.is_connect() {
            anyhow::Error::new(error)
                .context(format!("cannot reach the server at {base}: is `wastatus serve` running?"))
        } else {
            anyhow::Error::new(error).context(format!("talking to the server at {base}"))
        }
    }
}

/// A path segment, percent-encoded where needed.
fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode as Code;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};

    use super::*;

    /// A server that plays a script: the states `GET …/{id}` answers in turn (the last one
    /// stays), and the QR payloads `GET …/qr` answers in turn (`None`: `qr_not_available`).
    #[derive(Default)]
    struct Script {
        states: VecDeque<&'static str>,
        qrs: VecDeque<Option<&'static str>>,
        /// `POST …/pair` answers `session_already_paired`.
        paired: bool,
        pairs: usize,
        qr_fetches: usize,
    }

    type Shared = Arc<Mutex<Script>>;

    fn next<T: Copy>(queue: &mut VecDeque<T>) -> T {
        if queue.len() > 1 { queue.pop_front().unwrap() } else { *queue.front().unwrap() }
    }

    fn problem(status: Code, code: &str) -> Response {
        (
            status,
            Json(json!({"type": "about:blank", "title": "t", "status": status.as_u16(), "detail": "d", "code": code})),
        )
            .into_response()
    }

    async fn fake_session(State(script): State<Shared>) -> Response {
        let state = next(&mut script.lock().unwrap().states);
        let reason = (state == "logged_out").then(|| json!({"code": "logged_out", "message": "removed on the phone"}));
        Json(json!({"id": "s", "state": state, "reason": reason})).into_response()
    }

    async fn fake_pair(State(script): State<Shared>) -> Response {
        let mut script = script.lock().unwrap();
        if script.paired {
            return problem(Code::CONFLICT, "session_already_paired");
        }
        script.pairs += 1;
        let state = *script.states.front().unwrap();
        let expires_at = Utc::now() + chrono::TimeDelta::seconds(60);
        Json(json!({"method": "qr", "qr": format!("2@round{}", script.pairs), "expires_at": expires_at,
            "session": {"id": "s", "state": state}}))
        .into_response()
    }

    async fn fake_qr(State(script): State<Shared>) -> Response {
        let mut script = script.lock().unwrap();
        script.qr_fetches += 1;
        match next(&mut script.qrs) {
            Some(payload) => Json(json!({"payload": payload, "expires_at": Utc::now()})).into_response(),
            None => problem(Code::CONFLICT, "qr_not_available"),
        }
    }

    async fn serve(script: Script) -> (Api, Shared) {
        let shared = Arc::new(Mutex::new(script));
        let app = axum::Router::new()
            .route("/v1/sessions/{id}", get(fake_session))
            .route("/v1/sessions/{id}/pair", post(fake_pair))
            .route("/v1/sessions/{id}/qr", get(fake_qr))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Api::new(base, "wsk_test".to_owned()).unwrap(), shared)
    }

    const QUICK: Wait = Wait { poll: Duration::from_millis(10), timeout: Duration::from_secs(5) };

    fn script(states: &[&'static str], qrs: &[Option<&'static str>]) -> Script {
        Script { states: states.iter().copied().collect(), qrs: qrs.iter().copied().collect(), ..Script::default() }
    }

    #[tokio::test]
    async fn it_follows_rotations_and_asks_again_when_the_codes_ran_out() {
        let states = ["pairing", "pairing", "pairing", "pairing", "pairing", "connected"];
        let (api, script) = serve(script(&states, &[Some("2@a"), Some("2@b"), None, Some("2@round2")])).await;
        pair(&api, "s", &PairBy::Qr, QUICK).await.unwrap();
        let script = script.lock().unwrap();
        assert_eq!(script.pairs, 2, "asked again once, when no QR code was left");
        assert_eq!(script.qr_fetches, 4, "looked at the QR code while pairing, and not once connected");
    }

    #[tokio::test]
    async fn a_linked_session_is_left_alone() {
        let (api, script) = serve(script(&["connected"], &[Some("2@a")])).await;
        pair(&api, "s", &PairBy::Qr, QUICK).await.unwrap();
        assert_eq!(script.lock().unwrap().pairs, 0);
    }

    #[tokio::test]
    async fn a_linked_session_is_awaited_until_it_connects() {
        let script = Script { paired: true, ..script(&["disconnected", "disconnected", "connected"], &[None]) };
        let (api, script) = serve(script).await;
        pair(&api, "s", &PairBy::Qr, QUICK).await.unwrap();
        assert_eq!(script.lock().unwrap().qr_fetches, 0, "no QR code for a linked session");
    }

    #[tokio::test]
    async fn a_logout_fails_with_the_reason() {
        let (api, _) = serve(script(&["pairing", "pairing", "logged_out"], &[Some("2@a")])).await;
        let error = pair(&api, "s", &PairBy::Qr, QUICK).await.unwrap_err().to_string();
        assert_eq!(error, "session `s` was logged out: removed on the phone");
    }

    #[tokio::test]
    async fn waiting_ends_at_the_time_out() {
        let (api, _) = serve(script(&["pairing"], &[Some("2@a")])).await;
        let wait = Wait { poll: Duration::from_millis(10), timeout: Duration::from_millis(200) };
        let started = Instant::now();
        let error = pair(&api, "s", &PairBy::Qr, wait).await.unwrap_err().to_string();
        assert!(
            error.starts_with("timed out after 0 s: session `s` was not linked by the phone (it is pairing"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let api = Api::new(base.clone(), "k".to_owned()).unwrap();
        let error = format!("{:#}", pair(&api, "s", &PairBy::Qr, QUICK).await.unwrap_err());
        assert!(
            error.starts_with(&format!("cannot reach the server at {base}: is `wastatus serve` running?")),
            "{error}"
        );
    }

    #[test]
    fn problems_are_read_from_problem_documents() {
        let body = r#"{"type":"urn:wastatus:error:unauthorized","title":"Unauthorized","status":401,"detail":"bad key","code":"unauthorized"}"#;
        assert_eq!(Problem::parse(StatusCode::UNAUTHORIZED, body).to_string(), "unauthorized: bad key");
        let other = Problem::parse(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>");
        assert_eq!(other.to_string(), "unexpected_response: HTTP 502 Bad Gateway: <html>bad gateway</html>");
    }

    #[test]
    fn the_default_server_is_the_configured_listen_address() {
        assert_eq!(default_server("127.0.0.1:8080".parse().unwrap()).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(default_server("0.0.0.0:8080".parse().unwrap()).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(default_server("[::]:9000".parse().unwrap()).unwrap(), "http://[::1]:9000");
        assert!(default_server("127.0.0.1:0".parse().unwrap()).unwrap_err().to_string().contains("--server"));
    }

    #[test]
    fn server_urls_are_checked() {
        assert_eq!(server_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(server_url("https://localhost/wastatus").unwrap(), "https://localhost/wastatus");
        assert!(server_url("127.0.0.1:8080").is_err());
        assert!(server_url("ftp://host").is_err());
    }

    #[test]
    fn codes_and_ids_are_written_as_expected() {
        assert_eq!(group_code("ABCD1234"), "ABCD-1234");
        assert_eq!(group_code("ABCD-1234"), "ABCD-1234");
        assert_eq!(segment("session-x_1.a"), "session-x_1.a");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }
}
