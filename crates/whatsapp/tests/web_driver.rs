//! The web driver with the real whatsapp-rust client and SQLite device store, over a fake
//! network: a transport factory that refuses or never answers, and an HTTP client that fails.
//! Nothing here reaches the network (the one HTTP server is on loopback).
//!
//! whatsapp-rust's handshake needs a WhatsApp server, so the events a server would cause
//! (QR codes, pairing, login, drops, acks, contacts) are fed to the session as the client would
//! dispatch them (`inject_event`, feature `testing`), and where a test must see what is sent,
//! the one call that writes a status stanza is replaced by a recorder (`status_sender`);
//! everything else is the real thing.

use std::future::pending;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;
use wastatus_domain::ports::{Clock, DriverError, Published, SendCheck, WhatsAppDriver};
use wastatus_domain::*;
use wastatus_whatsapp::errors::{self, Stage};
use wastatus_whatsapp::whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse, HttpStatusError};
use wastatus_whatsapp::whatsapp_rust::request::IqError;
use wastatus_whatsapp::whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use wastatus_whatsapp::whatsapp_rust::types::events::{
    ConnectFailureReason, Connected, ContactNumberChanged, ContactUpdate, Disconnected, Event, LoggedOut, PairSuccess,
    PairingCode, PairingQrCode, PairingQrCodesExhausted, ServerAck, StreamReplaced, TemporaryBan,
};
use wastatus_whatsapp::whatsapp_rust::waproto::whatsapp as wa;
use wastatus_whatsapp::whatsapp_rust::waproto::whatsapp::sync_action_value::ContactAction;
use wastatus_whatsapp::whatsapp_rust::{
    Client, ClientError, Jid, SendError, StatusSendOptions, async_channel, async_trait,
};
use wastatus_whatsapp::{
    Connection, DeviceStore, Link, ReqwestHttpClient, StatusSender, Terminal, WebDriver, WebDriverConfig,
};

/// The session port's contract, shared with the sandbox driver.
#[path = "web_driver/contract.rs"]
mod contract;

// ---- Fakes --------------------------------------------------------------------------------------

struct Wall;

impl Clock for Wall {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Net {
    /// Every connection attempt fails at once, as with no network.
    Refuse,
    /// Connection attempts never complete, as with a black-holed network.
    Hang,
}

/// A transport factory that never connects, counting the attempts.
struct FakeNet {
    mode: Net,
    attempts: AtomicUsize,
}

impl FakeNet {
    fn new(mode: Net) -> Arc<Self> {
        Arc::new(Self { mode, attempts: AtomicUsize::new(0) })
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TransportFactory for FakeNet {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>), anyhow::Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        match self.mode {
            Net::Refuse => Err(anyhow::anyhow!("connection refused (fake network)")),
            Net::Hang => pending().await,
        }
    }
}

/// An HTTP client with no network.
struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _request: HttpRequest) -> anyhow::Result<HttpResponse> {
        Err(anyhow::anyhow!("dns error: no network (fake)"))
    }
}

/// A stanza the driver handed to the recorder.
#[derive(Debug, Clone)]
struct Stanza {
    message_id: String,
    recipients: Vec<String>,
    /// It revokes a status (rather than posting one).
    revokes: Option<String>,
}

/// Records the status stanzas instead of sending them; fails the sends it is told to.
struct Recorder {
    sent: tokio::sync::mpsc::UnboundedSender<Stanza>,
    /// What the next sends do, in order: fail with the error, or (`None`) go.
    failures: Mutex<Vec<Option<SendError>>>,
}

#[async_trait]
impl StatusSender for Recorder {
    async fn send(
        &self,
        _client: &Client,
        message: wa::Message,
        recipients: &[Jid],
        options: StatusSendOptions,
    ) -> Result<(), SendError> {
        let failure = {
            let mut failures = self.failures.lock().unwrap();
            if failures.is_empty() { None } else { failures.remove(0) }
        };
        if let Some(failure) = failure {
            return Err(failure);
        }
        let revokes = message.protocol_message.as_option().and_then(|p| p.key.as_option()).and_then(|k| k.id.clone());
        let stanza = Stanza {
            message_id: options.message_id.expect("the driver chooses the message id"),
            recipients: recipients.iter().map(ToString::to_string).collect(),
            revokes,
        };
        let _ = self.sent.send(stanza);
        Ok(())
    }
}

/// The stanzas a driver with a recorder sent, as they come.
struct Stanzas(tokio::sync::mpsc::UnboundedReceiver<Stanza>);

impl Stanzas {
    async fn next(&mut self) -> Stanza {
        tokio::time::timeout(Duration::from_secs(5), self.0.recv()).await.expect("a stanza is sent").unwrap()
    }

    /// Nothing more is sent within a moment.
    async fn none(&mut self) {
        let more = tokio::time::timeout(Duration::from_millis(200), self.0.recv()).await;
        assert!(matches!(more, Err(_) | Ok(None)), "unexpected stanza: {more:?}");
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wastatus-web-{name}-{}-{}", std::process::id(), Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path) -> WebDriverConfig {
    let mut config = WebDriverConfig::new(dir);
    // A fixed version: no look-up over HTTP when connecting.
    config.version = Some((2, 3000, 1_000_000_000));
    config.pair_wait = Duration::from_secs(3);
    config.ack_timeout = Duration::from_secs(2);
    config.shutdown_grace = Duration::from_secs(2);
    config
}

fn driver(config: WebDriverConfig, net: &Arc<FakeNet>) -> WebDriver {
    WebDriver::builder(config, Arc::new(Wall)).transport(net.clone()).http_client(Arc::new(NoHttp)).build().unwrap()
}

/// A driver whose status stanzas are recorded (the first sends failing as `failures` says).
fn recording_driver(
    config: WebDriverConfig,
    net: &Arc<FakeNet>,
    failures: Vec<Option<SendError>>,
) -> (WebDriver, Stanzas) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Recorder { sent: tx, failures: Mutex::new(failures) };
    let driver = WebDriver::builder(config, Arc::new(Wall))
        .transport(net.clone())
        .http_client(Arc::new(NoHttp))
        .status_sender(Arc::new(recorder))
        .build()
        .unwrap();
    (driver, Stanzas(rx))
}

fn key(id: &str) -> SessionKey {
    SessionKey { tenant: TenantId::from_uuid(Uuid::from_u128(7)), id: SessionId::new(id).unwrap() }
}

fn text_status(session: &SessionKey, n: u128) -> Status {
    let content = StatusContent::Text(TextStatus {
        text: StatusText::new("Flash sale ends tonight!").unwrap(),
        background_color: "#336699".parse().unwrap(),
        font: Font::Serif,
    });
    Status::accept(
        StatusId::from_uuid(Uuid::from_u128(n)),
        session.clone(),
        content,
        false,
        Plan::default(),
        Utc::now(),
    )
}

fn image(session: &SessionKey, n: u128) -> (Status, PreparedMedia) {
    let media = PreparedMedia {
        kind: MediaKind::Image,
        mime_type: "image/jpeg".into(),
        bytes: Bytes::from_static(b"\xFF\xD8\xFF\xE0 not really a jpeg"),
        width: 640,
        height: 480,
        duration_secs: None,
        thumbnail: Bytes::from_static(b"\xFF\xD8thumb"),
        thumbnail_is_placeholder: false,
    };
    let content = StatusContent::Image(MediaStatus { caption: None, media: media.meta(), source_url: None });
    let status = Status::accept(
        StatusId::from_uuid(Uuid::from_u128(n)),
        session.clone(),
        content,
        false,
        Plan::default(),
        Utc::now(),
    );
    (status, media)
}

/// The same status, shown only to `recipients`.
fn to(status: Status, recipients: &[&str]) -> Status {
    status.with_audience(Audience::allowlist(recipients).unwrap())
}

fn published(mut status: Status, id: &str) -> Status {
    status.start_sending(Utc::now()).unwrap();
    status.mark_published(MessageId::new(id).unwrap(), Reach::default(), Utc::now()).unwrap();
    status
}

/// A contact as the phone's address book sync reports it.
fn contact(phone: &str, lid: Option<&str>, name: &str) -> Event {
    let action = ContactAction {
        full_name: Some(name.to_owned()),
        lid_jid: lid.map(|lid| format!("{lid}@lid")),
        ..Default::default()
    };
    Event::ContactUpdate(
        ContactUpdate::builder()
            .jid(Jid::pn(phone))
            .timestamp(Utc::now())
            .action(Box::new(action))
            .from_full_sync(true)
            .build(),
    )
}

/// A contact the sync names by LID only.
fn contact_by_lid(lid: &str, name: &str) -> Event {
    let action = ContactAction { full_name: Some(name.to_owned()), ..Default::default() };
    Event::ContactUpdate(
        ContactUpdate::builder()
            .jid(Jid::lid(lid))
            .timestamp(Utc::now())
            .action(Box::new(action))
            .from_full_sync(true)
            .build(),
    )
}

/// Three contacts whose LIDs the phone shared.
async fn three_contacts(driver: &WebDriver, key: &SessionKey) {
    for (phone, lid, name) in [
        ("447700900101", "100000000000101", "Ada"),
        ("447700900102", "100000000000102", "Grace"),
        ("447700900103", "100000000000103", "Kay"),
    ] {
        driver.inject_event(key, contact(phone, Some(lid), name)).await.unwrap();
    }
}

fn qr_event(code: &str, secs: u64) -> Event {
    Event::PairingQrCode(PairingQrCode::builder().code(code.to_owned()).timeout(Duration::from_secs(secs)).build())
}

fn pair_success() -> Event {
    Event::PairSuccess(
        PairSuccess::builder()
            .id(Jid::pn("447700900001"))
            .lid(Jid::lid("100000000000009"))
            .business_name(String::new())
            .platform("android".to_owned())
            .build(),
    )
}

fn connected() -> Event {
    Event::Connected(Connected::builder().build())
}

fn ack(id: &str, error: Option<&str>) -> Event {
    Event::ServerAck(
        ServerAck::builder()
            .id(id.to_owned())
            .class("message".to_owned())
            .maybe_error(error.map(str::to_owned))
            .build(),
    )
}

/// Asserts `result` is an error matching `pattern`.
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            Err(other) => panic!("expected {}, got the error {other:?}", stringify!($pattern)),
            Ok(value) => panic!("expected {}, got Ok({value:?})", stringify!($pattern)),
        }
    };
}

/// Polls the session's status until `check` holds (or fails the test after `within`).
async fn eventually(
    driver: &WebDriver,
    key: &SessionKey,
    within: Duration,
    what: &str,
    check: impl Fn(&wastatus_whatsapp::SessionStatus) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let status = driver.status(key).await.unwrap();
        if check(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last status: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A started session made paired and connected by the events a server would cause.
async fn connected_session(driver: &WebDriver, id: &str) -> SessionKey {
    let key = key(id);
    assert_eq!(driver.start(&key).await.unwrap(), SessionState::Pairing);
    // Its client runs (the events below would come from it).
    let deadline = Instant::now() + Duration::from_secs(5);
    while driver.client(&key).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the session's client runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    driver.inject_event(&key, pair_success()).await.unwrap();
    driver.inject_event(&key, connected()).await.unwrap();
    assert_eq!(driver.state(&key).await.unwrap().state, SessionState::Connected);
    key
}

// ---- Sessions: start, stop, rebuild -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_pairs_and_keeps_its_device_in_a_file_per_session() {
    let dir = TempDir::new("start");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = key("shop");
    assert_err!(driver.state(&key).await, DriverError::UnknownSession);
    assert_eq!(driver.start(&key).await.unwrap(), SessionState::Pairing);
    // Starting again is harmless and keeps the same client.
    let client = driver.client(&key).await.unwrap();
    assert_eq!(driver.start(&key).await.unwrap(), SessionState::Pairing);
    let db = dir.0.join(key.tenant.to_string()).join("shop.db");
    assert!(db.exists(), "{} exists", db.display());
    // The client runs (and tries to connect) in the background.
    eventually(&driver, &key, Duration::from_secs(5), "a connection attempt", |_| net.attempts() >= 1).await;
    let running = driver.client(&key).await.unwrap();
    assert!(running.is_some());
    assert!(client.is_none() || Arc::ptr_eq(client.as_ref().unwrap(), running.as_ref().unwrap()));
    assert_eq!(driver.sessions().await, vec![key.clone()]);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_network_a_session_is_disconnected_with_the_reason_and_does_not_spin() {
    let dir = TempDir::new("offline");
    let net = FakeNet::new(Net::Refuse);
    let driver = driver(config(&dir.0), &net);
    let key = key("offline");
    driver.start(&key).await.unwrap();
    eventually(&driver, &key, Duration::from_secs(5), "disconnected", |s| s.state == SessionState::Disconnected).await;
    let status = driver.status(&key).await.unwrap();
    let reason = status.reason.clone().unwrap();
    assert_eq!(reason.code, "offline");
    let reason = reason.message;
    assert!(reason.contains("cannot reach WhatsApp") && reason.contains("connection refused"), "{reason}");
    assert_eq!(driver.state(&key).await.unwrap().reason.unwrap().code, "offline", "the port says why too");
    assert!(matches!(status.connection, Connection::Offline { .. }));
    assert_eq!(status.link, Link::Unpaired);
    assert_eq!(status.terminal, None);
    // whatsapp-rust retries with back-off (1 s, 1 s, 2 s, …), not in a loop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = net.attempts();
    assert!((1..=4).contains(&attempts), "{attempts} attempts in about 3 s");
    // No QR code without a connection, and nothing can be sent.
    assert_err!(driver.qr(&key).await, DriverError::NoQrCode);
    assert_err!(driver.publish(&key, &text_status(&key, 1), None).await, DriverError::NotPaired);
    // Shutting down is prompt.
    let started = Instant::now();
    driver.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    assert_err!(driver.start(&key).await, DriverError::Unavailable(_));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_version_look_up_is_reported_as_the_reason() {
    let dir = TempDir::new("version");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.version = None;
    let driver = driver(config, &net);
    let key = key("version");
    driver.start(&key).await.unwrap();
    eventually(&driver, &key, Duration::from_secs(5), "disconnected", |s| s.state == SessionState::Disconnected).await;
    let reason = driver.status(&key).await.unwrap().reason.unwrap().message;
    assert!(reason.contains("web.whatsapp.com") && reason.contains("no network"), "{reason}");
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_even_while_connection_attempts_hang() {
    let dir = TempDir::new("shutdown");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let keys: Vec<SessionKey> = (0..4).map(|n| key(&format!("s{n}"))).collect();
    for key in &keys {
        driver.start(key).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while net.attempts() < keys.len() {
        assert!(Instant::now() < deadline, "every session tries to connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    driver.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    assert!(driver.sessions().await.is_empty());
    assert_err!(driver.state(&keys[0]).await, DriverError::UnknownSession);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_rebuilt_from_its_files_and_keeps_a_terminal_reason() {
    let dir = TempDir::new("rebuild");
    let net = FakeNet::new(Net::Hang);
    let first = driver(config(&dir.0), &net);
    let key = connected_session(&first, "main").await;
    first.inject_event(&key, Event::StreamReplaced(StreamReplaced::builder().build())).await.unwrap();
    let status = first.status(&key).await.unwrap();
    assert_eq!(status.state, SessionState::Disconnected);
    assert_eq!(status.terminal, Some(Terminal::Replaced));
    assert!(status.reason.unwrap().message.contains("replaced"));
    // The terminal reason is written in the background.
    let status_file = dir.0.join(key.tenant.to_string()).join("main.status.json");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !std::fs::read_to_string(&status_file).is_ok_and(|s| s.contains("replaced")) {
        assert!(Instant::now() < deadline, "the terminal reason is kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.shutdown().await;

    // A new driver (a restart) over the same files: the session stays down, and does not
    // connect and fight the client that replaced it.
    let net2 = FakeNet::new(Net::Hang);
    let second = driver(config(&dir.0), &net2);
    assert_eq!(second.start(&key).await.unwrap(), SessionState::Disconnected);
    let status = second.status(&key).await.unwrap();
    assert_eq!(status.terminal, Some(Terminal::Replaced));
    let condition = second.state(&key).await.unwrap();
    assert_eq!(condition.state, SessionState::Disconnected);
    assert_eq!(condition.reason.unwrap().code, "replaced");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(net2.attempts(), 0, "a replaced session does not reconnect by itself");
    // An operator's restart clears it.
    let state = second.restart(&key).await.unwrap();
    assert_eq!(state, second.state(&key).await.unwrap().state);
    eventually(&second, &key, Duration::from_secs(5), "a new connection attempt", |_| net2.attempts() >= 1).await;
    let status = second.status(&key).await.unwrap();
    assert_eq!(status.terminal, None);
    assert_ne!(status.reason.map(|r| r.code), Some("replaced"));
    // Restarting a session that runs is harmless.
    second.restart(&key).await.unwrap();
    assert_eq!(net2.attempts(), 1);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_stops_the_session_and_wipes_its_files() {
    let dir = TempDir::new("remove");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = key("gone");
    driver.start(&key).await.unwrap();
    let folder = dir.0.join(key.tenant.to_string());
    assert!(folder.join("gone.db").exists());
    let started = Instant::now();
    driver.remove(&key).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "remove took {:?}", started.elapsed());
    assert_err!(driver.state(&key).await, DriverError::UnknownSession);
    let left: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|name| !name.to_string_lossy().starts_with("gone.")), "{left:?}");
    // Removing again (or an unknown session) succeeds; starting again is a new device.
    driver.remove(&key).await.unwrap();
    assert_eq!(driver.start(&key).await.unwrap(), SessionState::Pairing);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_works_the_same() {
    let dir = TempDir::new("memory");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.store = DeviceStore::Memory(dir.0.clone());
    let driver = driver(config, &net);
    let key = key("mem");
    assert_eq!(driver.start(&key).await.unwrap(), SessionState::Pairing);
    assert!(!dir.0.join(key.tenant.to_string()).join("mem.db").exists());
    driver.inject_event(&key, qr_event("2@mem,a,b,c", 60)).await.unwrap();
    assert_eq!(driver.qr(&key).await.unwrap().payload, "2@mem,a,b,c");
    driver.shutdown().await;
}

// ---- Pairing ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_are_surfaced_with_their_expiry_and_rotate() {
    let dir = TempDir::new("qr");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = key("qr");
    driver.start(&key).await.unwrap();
    let before = Utc::now();
    driver.inject_event(&key, qr_event("2@first,noise,identity,adv", 60)).await.unwrap();
    let qr = driver.qr(&key).await.unwrap();
    assert_eq!(qr.payload, "2@first,noise,identity,adv");
    let ttl = qr.expires_at - before;
    assert!(ttl <= chrono::TimeDelta::seconds(61) && ttl >= chrono::TimeDelta::seconds(59), "{ttl}");
    // Pairing by QR hands out the current code.
    assert_eq!(driver.pair(&key, &PairMethod::Qr).await.unwrap(), Pairing::Qr(qr));
    // The next code replaces it.
    driver.inject_event(&key, qr_event("2@second,noise,identity,adv", 20)).await.unwrap();
    assert_eq!(driver.qr(&key).await.unwrap().payload, "2@second,noise,identity,adv");
    // A pairing code the client reports is shown in two halves.
    let code = PairingCode::builder().code("ABCD1234".to_owned()).timeout(Duration::from_secs(180)).build();
    driver.inject_event(&key, Event::PairingCode(code)).await.unwrap();
    assert_eq!(driver.status(&key).await.unwrap().pairing_code.unwrap().code, "ABCD-1234");
    assert_eq!(driver.state(&key).await.unwrap().state, SessionState::Pairing);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_qr_codes_run_out_asking_starts_a_new_round_with_a_new_client() {
    let dir = TempDir::new("exhausted");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = key("round");
    driver.start(&key).await.unwrap();
    eventually(&driver, &key, Duration::from_secs(5), "the first client connecting", |_| net.attempts() == 1).await;
    let first_client = driver.client(&key).await.unwrap().unwrap();
    driver.inject_event(&key, qr_event("2@old", 60)).await.unwrap();
    // whatsapp-rust disconnects the client itself when the codes run out.
    let exhausted = PairingQrCodesExhausted::builder().disconnected(true).build();
    driver.inject_event(&key, Event::PairingQrCodesExhausted(exhausted)).await.unwrap();
    first_client.disconnect().await;
    eventually(&driver, &key, Duration::from_secs(5), "the exhausted round", |s| s.qr_exhausted).await;
    assert_eq!(driver.status(&key).await.unwrap().qr, None);
    // Asking for a code starts a new client; its first code is handed out.
    let asker = {
        let driver = driver.clone();
        let key = key.clone();
        tokio::spawn(async move { driver.qr(&key).await })
    };
    eventually(&driver, &key, Duration::from_secs(5), "a new client connecting", |_| net.attempts() == 2).await;
    let second_client = driver.client(&key).await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&first_client, &second_client));
    driver.inject_event(&key, qr_event("2@new", 60)).await.unwrap();
    assert_eq!(asker.await.unwrap().unwrap().payload, "2@new");
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_needs_an_unpaired_session_and_says_why_no_code_came() {
    let dir = TempDir::new("pair");
    let net = FakeNet::new(Net::Refuse);
    let driver = driver(config(&dir.0), &net);
    assert_err!(driver.pair(&key("ghost"), &PairMethod::Qr).await, DriverError::UnknownSession);
    let key = key("pair");
    driver.start(&key).await.unwrap();
    eventually(&driver, &key, Duration::from_secs(5), "disconnected", |s| s.state == SessionState::Disconnected).await;
    // No network: no code, and the error says at once that the session is disconnected.
    let asked = Instant::now();
    assert_err!(driver.pair(&key, &PairMethod::Qr).await, DriverError::Disconnected);
    assert!(asked.elapsed() < Duration::from_secs(1), "answered in {:?}", asked.elapsed());
    let phone = PhoneNumber::new("+44 7700 900123").unwrap();
    assert_err!(driver.pair(&key, &PairMethod::Code { phone_number: phone.clone() }).await, DriverError::Disconnected);
    // A paired session cannot pair again, and has no QR code.
    driver.inject_event(&key, pair_success()).await.unwrap();
    assert_err!(driver.pair(&key, &PairMethod::Qr).await, DriverError::AlreadyPaired);
    assert_err!(driver.pair(&key, &PairMethod::Code { phone_number: phone }).await, DriverError::AlreadyPaired);
    assert_err!(driver.qr(&key).await, DriverError::NoQrCode);
    driver.shutdown().await;
}

// ---- State from events ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_drive_the_state_and_its_reason() {
    let dir = TempDir::new("events");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = connected_session(&driver, "events").await;
    assert_eq!(driver.status(&key).await.unwrap().reason, None);

    let dropped = Disconnected::builder().reason(DisconnectReason::ReadError("connection reset".into())).build();
    driver.inject_event(&key, Event::Disconnected(dropped)).await.unwrap();
    let status = driver.status(&key).await.unwrap();
    assert_eq!(status.state, SessionState::Disconnected);
    assert!(status.reason.unwrap().message.contains("connection reset"));
    driver.inject_event(&key, connected()).await.unwrap();
    assert_eq!(driver.state(&key).await.unwrap(), SessionCondition { state: SessionState::Connected, reason: None });

    let ban = TemporaryBan::builder().code(101.into()).expire(chrono::Duration::hours(1)).build();
    driver.inject_event(&key, Event::TemporaryBan(ban)).await.unwrap();
    let status = driver.status(&key).await.unwrap();
    assert_eq!(status.state, SessionState::Disconnected);
    assert!(matches!(status.terminal, Some(Terminal::Banned { code: 101, .. })), "{:?}", status.terminal);
    assert!(status.reason.unwrap().message.contains("banned"));
    let condition = driver.state(&key).await.unwrap();
    assert_eq!(condition.state, SessionState::Disconnected);
    assert_eq!(condition.reason.unwrap().code, "banned");
    assert_err!(driver.publish(&key, &text_status(&key, 1), None).await, DriverError::Disconnected);

    let out = LoggedOut::builder().on_connect(true).reason(ConnectFailureReason::LoggedOut).build();
    driver.inject_event(&key, Event::LoggedOut(out)).await.unwrap();
    let status = driver.status(&key).await.unwrap();
    assert_eq!(status.state, SessionState::LoggedOut);
    assert_eq!(status.terminal.as_ref().map(Terminal::code), Some("logged_out"));
    assert_eq!(driver.state(&key).await.unwrap().reason.unwrap().code, "logged_out");
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_unlinks_wipes_the_device_and_a_new_pairing_starts_a_new_device() {
    let dir = TempDir::new("logout");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let fresh = key("fresh");
    driver.start(&fresh).await.unwrap();
    assert_err!(driver.logout(&fresh).await, DriverError::NotPaired);

    let key = connected_session(&driver, "linked").await;
    eventually(&driver, &key, Duration::from_secs(5), "the client running", |_| net.attempts() >= 2).await;
    three_contacts(&driver, &key).await;
    assert_eq!(driver.contacts(&key).await.unwrap().len(), 3);
    // The real client's logout: it reports `LoggedOut` and disconnects; the device is wiped.
    driver.logout(&key).await.unwrap();
    assert_eq!(driver.state(&key).await.unwrap().state, SessionState::LoggedOut);
    let db = dir.0.join(key.tenant.to_string()).join("linked.db");
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.exists() {
        assert!(Instant::now() < deadline, "the device store is wiped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_err!(driver.logout(&key).await, DriverError::LoggedOut);
    assert_err!(driver.publish(&key, &text_status(&key, 1), None).await, DriverError::LoggedOut);
    assert_err!(driver.restart(&key).await, DriverError::LoggedOut);
    // The account's contacts went with the device.
    assert!(driver.contacts(&key).await.unwrap().is_empty());
    assert!(!dir.0.join(key.tenant.to_string()).join("linked.contacts.json").exists());
    // Pairing again builds a new device, which shows QR codes.
    let attempts = net.attempts();
    let pairer = {
        let driver = driver.clone();
        let key = key.clone();
        tokio::spawn(async move { driver.pair(&key, &PairMethod::Qr).await })
    };
    eventually(&driver, &key, Duration::from_secs(5), "a new device connecting", |_| net.attempts() > attempts).await;
    assert!(db.exists(), "a new device store");
    driver.inject_event(&key, qr_event("2@again", 60)).await.unwrap();
    match pairer.await.unwrap().unwrap() {
        Pairing::Qr(qr) => assert_eq!(qr.payload, "2@again"),
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.state(&key).await.unwrap().state, SessionState::Pairing);
    driver.shutdown().await;
}

// ---- Publishing -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_refuses_what_the_session_cannot_send() {
    let dir = TempDir::new("refuse");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let ghost = key("ghost");
    assert_err!(driver.publish(&ghost, &text_status(&ghost, 1), None).await, DriverError::UnknownSession);

    let key = key("refuse");
    driver.start(&key).await.unwrap();
    assert_err!(driver.publish(&key, &text_status(&key, 1), None).await, DriverError::NotPaired);
    driver.inject_event(&key, pair_success()).await.unwrap();
    assert_err!(driver.publish(&key, &text_status(&key, 1), None).await, DriverError::Disconnected);
    driver.inject_event(&key, connected()).await.unwrap();
    // Media must match the status.
    let (image, media) = image(&key, 2);
    assert_err!(driver.publish(&key, &image, None).await, DriverError::Other(_));
    assert_err!(driver.publish(&key, &text_status(&key, 3), Some(media)).await, DriverError::Other(_));
    // A revoke needs a published status.
    assert_err!(driver.revoke(&key, &text_status(&key, 4)).await, DriverError::DeviceError(_));
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_errors_of_the_real_client_are_classified_and_journaled() {
    let dir = TempDir::new("publish");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    // The session looks connected, but the client never logged in (no server): the real
    // whatsapp-rust calls fail, and their errors are what is classified.
    let key = connected_session(&driver, "publish").await;
    eventually(&driver, &key, Duration::from_secs(5), "the client running", |_| net.attempts() >= 1).await;

    // An image: the upload needs a media connection (an IQ), and the socket is not there.
    // (A LID recipient, so no look-up is needed before the send itself.)
    let lid = ["100000000000001@lid"];
    let (status, media) = image(&key, 10);
    let status = to(status, &lid);
    assert_err!(driver.publish(&key, &status, Some(media)).await, DriverError::Disconnected);
    // Nothing was handed to WhatsApp for it.
    assert_eq!(driver.reconcile(&key, &status).await.unwrap(), SendCheck::NotSent);

    // A text: the send refuses a device that is not logged in, before writing anything.
    let text = to(text_status(&key, 11), &lid);
    assert_err!(driver.publish(&key, &text, None).await, DriverError::Disconnected);
    assert_eq!(driver.reconcile(&key, &text).await.unwrap(), SendCheck::NotSent);
    let journal = dir.0.join(key.tenant.to_string()).join("publish.sends.jsonl");
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert!(lines.contains(r#""op":"intent""#) && lines.contains(r#""op":"not_sent""#), "{lines}");
    assert!(lines.contains("100000000000001@lid"), "the recipients are kept: {lines}");

    // A revoke goes the same way.
    let old = published(to(text_status(&key, 12), &lid), "3EB0AAAAAAAAAAAAAAAAAAAA");
    assert_err!(driver.revoke(&key, &old).await, DriverError::Disconnected);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_number_recipients_are_looked_up_first() {
    let dir = TempDir::new("lookup");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = connected_session(&driver, "lookup").await;
    eventually(&driver, &key, Duration::from_secs(5), "the client running", |_| net.attempts() >= 1).await;
    // The audience has a phone number with no known LID: the usync look-up cannot be made.
    let status = to(text_status(&key, 1), &["100000000000001@lid", "+44 7700 900123"]);
    assert_err!(driver.publish(&key, &status, None).await, DriverError::Disconnected);
    // It failed before any send: no journal entry at all.
    assert_eq!(driver.reconcile(&key, &status).await.unwrap(), SendCheck::NotSent);
    driver.shutdown().await;
}

// ---- Acknowledgements and reconcile -----------------------------------------------------------

fn write_journal(dir: &Path, key: &SessionKey, lines: &[String]) {
    let folder = dir.join(key.tenant.to_string());
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(folder.join(format!("{}.sends.jsonl", key.id.as_str())), text).unwrap();
}

/// What `reconcile` answers for a message acked for `recipients` people.
fn sent(message_id: &str, recipients: u32) -> SendCheck {
    SendCheck::Sent(Published {
        message_id: MessageId::new(message_id).unwrap(),
        reach: Reach { recipients, unresolved: Vec::new() },
    })
}

fn intent(status: &Status, message_id: &str) -> String {
    format!(
        r#"{{"op":"intent","status":"{}","message_id":"{message_id}","recipients":["1@lid"],"at":"2026-01-01T00:00:00Z"}}"#,
        status.id()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_answers_from_the_journal_and_late_acks_are_recorded() {
    let dir = TempDir::new("reconcile");
    let net = FakeNet::new(Net::Hang);
    let key = key("rec");
    let acked = text_status(&key, 1);
    let written = text_status(&key, 2);
    let rejected = text_status(&key, 3);
    let never = text_status(&key, 4);
    let late = text_status(&key, 5);
    write_journal(
        &dir.0,
        &key,
        &[
            intent(&acked, "3EB0000000000000000000A1"),
            r#"{"op":"written","message_id":"3EB0000000000000000000A1","at":"2026-01-01T00:00:00Z"}"#.to_owned(),
            r#"{"op":"acked","message_id":"3EB0000000000000000000A1","at":"2026-01-01T00:00:01Z"}"#.to_owned(),
            intent(&written, "3EB0000000000000000000A2"),
            r#"{"op":"written","message_id":"3EB0000000000000000000A2","at":"2026-01-01T00:00:00Z"}"#.to_owned(),
            intent(&rejected, "3EB0000000000000000000A3"),
            r#"{"op":"rejected","message_id":"3EB0000000000000000000A3","code":"479","at":"2026-01-01T00:00:00Z"}"#
                .to_owned(),
            intent(&late, "3EB0000000000000000000A5"),
            // A line torn by a crash.
            r#"{"op":"written","message_id":"3EB0"#.to_owned(),
        ],
    );
    let driver = driver(config(&dir.0), &net);
    assert_err!(driver.reconcile(&key, &acked).await, DriverError::UnknownSession);
    driver.start(&key).await.unwrap();
    assert_eq!(driver.reconcile(&key, &acked).await.unwrap(), sent("3EB0000000000000000000A1", 1));
    assert_eq!(driver.reconcile(&key, &written).await.unwrap(), SendCheck::Unknown);
    assert_eq!(driver.reconcile(&key, &rejected).await.unwrap(), SendCheck::NotSent);
    assert_eq!(driver.reconcile(&key, &never).await.unwrap(), SendCheck::NotSent);
    assert_eq!(driver.reconcile(&key, &late).await.unwrap(), SendCheck::Unknown);
    // The server's verdict arriving after the publish stopped waiting is still recorded.
    driver.inject_event(&key, ack("3EB0000000000000000000A5", None)).await.unwrap();
    driver.inject_event(&key, ack("3EB0000000000000000000A2", Some("479"))).await.unwrap();
    // Acks of other messages are not.
    driver.inject_event(&key, ack("3EB0FFFFFFFFFFFFFFFFFFFF", None)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let late_check = driver.reconcile(&key, &late).await.unwrap();
        let written_check = driver.reconcile(&key, &written).await.unwrap();
        if late_check == sent("3EB0000000000000000000A5", 1) && written_check == SendCheck::NotSent {
            break;
        }
        assert!(Instant::now() < deadline, "late acks recorded: {late_check:?} {written_check:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let journal = std::fs::read_to_string(dir.0.join(key.tenant.to_string()).join("rec.sends.jsonl")).unwrap();
    assert!(!journal.contains("3EB0FFFFFFFFFFFFFFFFFFFF"));
    driver.shutdown().await;
}

// ---- Error classification on real error values ------------------------------------------------

#[test]
fn send_errors_are_classified_by_their_cause() {
    use errors::classify_send;
    assert!(matches!(classify_send(&SendError::Client(ClientError::NotConnected)), DriverError::Disconnected));
    assert!(matches!(classify_send(&SendError::NotLoggedIn), DriverError::Disconnected));
    assert!(matches!(classify_send(&SendError::Iq(IqError::NotConnected)), DriverError::Disconnected));
    assert!(matches!(classify_send(&SendError::Iq(IqError::Timeout)), DriverError::Disconnected));
    let rejected =
        SendError::Iq(IqError::ServerError { code: 479, text: "smax-invalid".into(), error_type: None, backoff: None });
    match classify_send(&rejected) {
        DriverError::ServerRejected(why) => assert_eq!(why, "error 479 (smax-invalid)"),
        other => panic!("{other:?}"),
    }
    // The same rejection buried in an anyhow chain is found all the same.
    let buried = SendError::Internal(
        anyhow::Error::new(IqError::ServerError { code: 403, text: String::new(), error_type: None, backoff: None })
            .context("fetching the device list"),
    );
    assert!(matches!(classify_send(&buried), DriverError::ServerRejected(why) if why == "error 403"));
    let invalid = SendError::InvalidRequest("cannot send status: device has no LID yet".into());
    assert!(matches!(classify_send(&invalid), DriverError::DeviceError(why) if why.contains("no LID")));
    let internal = SendError::Internal(anyhow::anyhow!("no signal session for 1@lid"));
    assert!(matches!(classify_send(&internal), DriverError::DeviceError(why) if why.contains("no signal session")));
    assert!(errors::certainly_not_sent(&SendError::NotLoggedIn));
    assert!(!errors::certainly_not_sent(&SendError::Client(ClientError::NotConnected)));
}

#[test]
fn upload_errors_are_classified_by_their_cause() {
    use errors::classify_upload;
    let refused = anyhow::Error::new(HttpStatusError { status: 500 }).context("Upload failed 500 body=oops");
    assert!(matches!(classify_upload(&refused), DriverError::UploadFailed(why) if why.contains("HTTP 500")));
    let no_socket = anyhow::Error::new(IqError::NotConnected).context("media connection");
    assert!(matches!(classify_upload(&no_socket), DriverError::Disconnected));
    let unanswered = anyhow::Error::new(IqError::Timeout).context("media connection");
    assert!(matches!(classify_upload(&unanswered), DriverError::UploadTimeout));
    let hosts = anyhow::anyhow!("No media hosts");
    assert!(matches!(classify_upload(&hosts), DriverError::UploadFailed(why) if why == "No media hosts"));
    let refused_conn = anyhow::Error::new(IqError::ServerError {
        code: 401,
        text: "not-authorized".into(),
        error_type: None,
        backoff: None,
    });
    assert!(matches!(classify_upload(&refused_conn), DriverError::UploadFailed(why) if why.contains("401")));
    // Resolution failures are not upload failures.
    assert!(matches!(errors::classify(Stage::Resolve, &IqError::NotConnected), DriverError::Disconnected));
}

/// A loopback HTTP server that accepts connections and never answers; reports when a client
/// hangs up.
async fn silent_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mms/image/token", listener.local_addr().unwrap());
    let (closed_tx, closed_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let closed = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                // Read until the client gives up.
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = closed.send(());
            });
        }
    });
    (url, closed_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_gets_no_answer_times_out_and_is_cancelled() {
    let (url, mut closed) = silent_server().await;
    let body = Bytes::from(vec![7u8; 256 * 1024]);
    let upload = || HttpRequest::post(url.clone()).with_body(body.clone());

    // The client's own time limit: an error whose cause is a time-out.
    let http = ReqwestHttpClient::new(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let error = http.execute(upload()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(errors::classify_upload(&error), DriverError::UploadTimeout), "{error:#}");
    assert!(!format!("{error:#}").contains("token"), "no URL path in messages: {error:#}");
    tokio::time::timeout(Duration::from_secs(2), closed.recv()).await.expect("the connection is closed");

    // The driver's upload time-out drops the request, which closes the connection at once.
    let http = ReqwestHttpClient::new(Duration::from_secs(2), Duration::from_secs(60)).unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_millis(300), http.execute(upload())).await;
    assert!(outcome.is_err(), "still waiting when the time-out fired");
    assert!(started.elapsed() < Duration::from_secs(1));
    tokio::time::timeout(Duration::from_secs(2), closed.recv())
        .await
        .expect("the cancelled upload closed its connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_an_upload_failure() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let http = ReqwestHttpClient::new(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
    let error = http.execute(HttpRequest::post(format!("http://127.0.0.1:{port}/up"))).await.unwrap_err();
    assert!(matches!(errors::classify_upload(&error), DriverError::UploadFailed(_)), "{error:#}");
}

// ---- Contacts -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_from_the_address_book_sync_are_listed_kept_and_wiped_on_remove() {
    let dir = TempDir::new("contacts");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.contacts_write_delay = Duration::from_secs(1);
    let first = driver(config.clone(), &net);
    assert_err!(first.contacts(&key("ghost")).await, DriverError::UnknownSession);
    let key = connected_session(&first, "book").await;
    assert!(first.contacts(&key).await.unwrap().is_empty(), "nothing synced yet");
    three_contacts(&first, &key).await;
    // Known by phone number only, then renamed by a later patch.
    first.inject_event(&key, contact("447700900104", None, "Alan")).await.unwrap();
    first.inject_event(&key, contact("447700900104", None, "Alan T.")).await.unwrap();
    // A contact who changed number.
    let moved = ContactNumberChanged::builder()
        .old_jid(Jid::pn("447700900103"))
        .new_jid(Jid::pn("447700900199"))
        .timestamp(Utc::now())
        .build();
    first.inject_event(&key, Event::ContactNumberChanged(moved)).await.unwrap();

    let listed = first.contacts(&key).await.unwrap();
    let view = |contacts: &[Contact]| -> Vec<(String, Option<String>, Option<String>)> {
        contacts
            .iter()
            .map(|c| {
                let phone = c.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default();
                (phone, c.lid.as_ref().map(|l| l.as_str().to_owned()), c.name.clone())
            })
            .collect()
    };
    let expected = vec![
        ("447700900101".to_owned(), Some("100000000000101".to_owned()), Some("Ada".to_owned())),
        ("447700900102".to_owned(), Some("100000000000102".to_owned()), Some("Grace".to_owned())),
        ("447700900104".to_owned(), None, Some("Alan T.".to_owned())),
        ("447700900199".to_owned(), Some("100000000000103".to_owned()), Some("Kay".to_owned())),
    ];
    assert_eq!(view(&listed), expected);
    assert_eq!(first.contacts(&key).await.unwrap(), listed, "a stable order");

    // Written once, a moment after the last change.
    let file = dir.0.join(key.tenant.to_string()).join("book.contacts.json");
    assert!(!file.exists(), "not written on every change");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the contacts are written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A change just before the end is kept too: the session writes its contacts when it stops.
    first.inject_event(&key, contact("447700900105", Some("100000000000105"), "Edsger")).await.unwrap();
    first.shutdown().await;

    // A restart reads them back.
    let second = driver(config, &net);
    second.start(&key).await.unwrap();
    let again = second.contacts(&key).await.unwrap();
    let mut expected = expected;
    expected.insert(3, ("447700900105".to_owned(), Some("100000000000105".to_owned()), Some("Edsger".to_owned())));
    assert_eq!(view(&again), expected);

    // Removing the session deletes them.
    second.remove(&key).await.unwrap();
    assert!(!file.exists());
    assert_err!(second.contacts(&key).await, DriverError::UnknownSession);
    second.start(&key).await.unwrap();
    assert!(second.contacts(&key).await.unwrap().is_empty());
    second.shutdown().await;
}

// ---- Audiences, chunks and acknowledgements ---------------------------------------------------

/// Publishes in the background (the test plays the server's part meanwhile).
fn spawn_publish(
    driver: &WebDriver,
    key: &SessionKey,
    status: &Status,
) -> tokio::task::JoinHandle<Result<Published, DriverError>> {
    let (driver, key, status) = (driver.clone(), key.clone(), status.clone());
    tokio::spawn(async move { driver.publish(&key, &status, None).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_drawn_from_contacts_needs_synced_contacts() {
    let dir = TempDir::new("nocontacts");
    let net = FakeNet::new(Net::Hang);
    let (driver, mut stanzas) = recording_driver(config(&dir.0), &net, Vec::new());
    let key = connected_session(&driver, "nocontacts").await;
    for status in
        [text_status(&key, 1), text_status(&key, 2).with_audience(Audience::denylist(&["+447700900101"]).unwrap())]
    {
        match driver.publish(&key, &status, None).await {
            Err(DriverError::NoRecipients(why)) => assert!(why.contains("not been synced"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(driver.reconcile(&key, &status).await.unwrap(), SendCheck::NotSent, "nothing was sent");
    }
    stanzas.none().await;
    // A deny list that names everyone leaves nobody either.
    three_contacts(&driver, &key).await;
    let everyone =
        Audience::denylist(&["100000000000101@lid", "+447700900102", "447700900103@s.whatsapp.net"]).unwrap();
    match driver.publish(&key, &text_status(&key, 3).with_audience(everyone), None).await {
        Err(DriverError::NoRecipients(why)) => assert!(why.contains("deny list"), "{why}"),
        other => panic!("{other:?}"),
    }
    stanzas.none().await;
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_list_leaves_out_the_contacts_it_names() {
    let dir = TempDir::new("deny");
    let net = FakeNet::new(Net::Hang);
    let (driver, mut stanzas) = recording_driver(config(&dir.0), &net, Vec::new());
    let key = connected_session(&driver, "deny").await;
    three_contacts(&driver, &key).await;
    // Grace is named by her phone number; she is addressed by her LID.
    let status = text_status(&key, 1).with_audience(Audience::denylist(&["+44 7700 900102"]).unwrap());
    let publish = spawn_publish(&driver, &key, &status);
    let stanza = stanzas.next().await;
    assert_eq!(stanza.recipients, ["100000000000101@lid", "100000000000103@lid"]);
    assert_eq!(stanza.revokes, None);
    driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
    let published = publish.await.unwrap().unwrap();
    assert_eq!(published.message_id.as_str(), stanza.message_id);
    assert_eq!(published.reach, Reach { recipients: 2, unresolved: Vec::new() });
    assert_eq!(driver.reconcile(&key, &status).await.unwrap(), sent(&stanza.message_id, 2));

    // All contacts.
    let everyone = text_status(&key, 2);
    let publish = spawn_publish(&driver, &key, &everyone);
    let stanza = stanzas.next().await;
    assert_eq!(stanza.recipients.len(), 3);
    driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
    assert_eq!(publish.await.unwrap().unwrap().reach.recipients, 3);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_account_keeps_no_contacts_even_from_a_late_sync() {
    let dir = TempDir::new("contacts-logout");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    let key = connected_session(&driver, "contacts-logout").await;
    three_contacts(&driver, &key).await;
    assert_eq!(driver.contacts(&key).await.unwrap().len(), 3);
    let out = LoggedOut::builder().on_connect(false).reason(ConnectFailureReason::LoggedOut).build();
    driver.inject_event(&key, Event::LoggedOut(out)).await.unwrap();
    assert!(driver.contacts(&key).await.unwrap().is_empty());
    // A sync still in flight for the old account does not bring its address book back.
    driver.inject_event(&key, contact("447700900301", Some("100000000000301"), "Late")).await.unwrap();
    assert!(driver.contacts(&key).await.unwrap().is_empty(), "contacts of a logged-out account");
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_list_catches_contacts_synced_under_the_other_name() {
    use wastatus_whatsapp::whatsapp_rust::lid_pn_cache::LearningSource;
    let dir = TempDir::new("deny-other-name");
    let net = FakeNet::new(Net::Hang);
    let (driver, mut stanzas) = recording_driver(config(&dir.0), &net, Vec::new());
    let key = connected_session(&driver, "deny-other").await;
    // Ada was synced by number only, Grace by LID only, Kay by both; the device has learnt
    // Ada's and Grace's LID-number pairs elsewhere (as it does from messages).
    driver.inject_event(&key, contact("447700900201", None, "Ada")).await.unwrap();
    driver.inject_event(&key, contact_by_lid("100000000000202", "Grace")).await.unwrap();
    driver.inject_event(&key, contact("447700900203", Some("100000000000203"), "Kay")).await.unwrap();
    let client = driver.client(&key).await.unwrap().expect("a running client");
    for (lid, phone) in [("100000000000201", "447700900201"), ("100000000000202", "447700900202")] {
        client.add_lid_pn_mapping(lid, phone, LearningSource::Other).await.unwrap();
    }
    // Ada is denied by LID, Grace by number: neither name is the one the sync gave.
    let deny = Audience::denylist(&["100000000000201@lid", "+44 7700 900202"]).unwrap();
    let status = text_status(&key, 1).with_audience(deny);
    let publish = spawn_publish(&driver, &key, &status);
    let stanza = stanzas.next().await;
    assert_eq!(stanza.recipients, ["100000000000203@lid"], "only Kay");
    driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
    assert_eq!(publish.await.unwrap().unwrap().reach.recipients, 1);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_audience_goes_in_chunks_under_one_message_id_each_acked_before_the_next() {
    let dir = TempDir::new("chunks");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.status_chunk_size = 2;
    let (driver, mut stanzas) = recording_driver(config, &net, Vec::new());
    let key = connected_session(&driver, "chunks").await;
    let lids: Vec<String> = (1..=5).map(|n| format!("10000000000000{n}@lid")).collect();
    let lids: Vec<&str> = lids.iter().map(String::as_str).collect();
    let status = to(text_status(&key, 1), &lids);
    let publish = spawn_publish(&driver, &key, &status);

    let mut chunks = Vec::new();
    for _ in 0..3 {
        let stanza = stanzas.next().await;
        // The next chunk waits for this one's ack.
        stanzas.none().await;
        assert!(!publish.is_finished());
        driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
        chunks.push(stanza);
    }
    let published = publish.await.unwrap().unwrap();
    stanzas.none().await;
    let id = chunks[0].message_id.clone();
    assert!(chunks.iter().all(|c| c.message_id == id), "one message id");
    assert_eq!(published.message_id.as_str(), id);
    assert_eq!(published.reach.recipients, 5);
    let sent_to: Vec<Vec<&str>> = chunks.iter().map(|c| c.recipients.iter().map(String::as_str).collect()).collect();
    assert_eq!(sent_to, [&lids[0..2], &lids[2..4], &lids[4..5]]);
    // The journal lists every recipient before the first chunk, then each chunk's steps.
    let journal = std::fs::read_to_string(dir.0.join(key.tenant.to_string()).join("chunks.sends.jsonl")).unwrap();
    let first = journal.lines().next().unwrap();
    assert!(first.contains(r#""op":"intent""#) && lids.iter().all(|lid| first.contains(lid)), "{first}");
    assert_eq!(journal.matches(r#""op":"acked""#).count(), 3, "{journal}");
    assert_eq!(driver.reconcile(&key, &status).await.unwrap(), sent(&id, 5));

    // The revocation goes to the same people in the same chunks, under an id of its own.
    let revoke = {
        let (driver, key, status) = (driver.clone(), key.clone(), published_as(&status, &id));
        tokio::spawn(async move { driver.revoke(&key, &status).await })
    };
    let mut revoked_to = Vec::new();
    for _ in 0..3 {
        let stanza = stanzas.next().await;
        assert_eq!(stanza.revokes.as_deref(), Some(id.as_str()));
        assert_ne!(stanza.message_id, id);
        driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
        revoked_to.push(stanza.recipients);
    }
    revoke.await.unwrap().unwrap();
    assert_eq!(revoked_to, chunks.iter().map(|c| c.recipients.clone()).collect::<Vec<_>>());
    driver.shutdown().await;
}

fn published_as(status: &Status, id: &str) -> Status {
    published(status.clone(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_chunk_that_fails_says_how_many_got_the_status_and_is_never_retried() {
    let dir = TempDir::new("partial");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.status_chunk_size = 2;
    // The 4th send (chunk 2 of the second status) fails before writing; the 6th (chunk 2 of
    // the third) may have been written.
    let failures =
        vec![None, None, None, Some(SendError::NotLoggedIn), None, Some(SendError::Client(ClientError::NotConnected))];
    let (driver, mut stanzas) = recording_driver(config, &net, failures);
    let key = connected_session(&driver, "partial").await;
    let five = ["1@lid", "2@lid", "3@lid", "4@lid", "5@lid"];

    // The server rejects the second chunk.
    let rejected = to(text_status(&key, 1), &five);
    let publish = spawn_publish(&driver, &key, &rejected);
    let first = stanzas.next().await;
    driver.inject_event(&key, ack(&first.message_id, None)).await.unwrap();
    let second = stanzas.next().await;
    driver.inject_event(&key, ack(&second.message_id, Some("479"))).await.unwrap();
    match publish.await.unwrap() {
        Err(DriverError::ServerRejected(why)) => {
            assert!(why.contains("479") && why.contains("2 of 5 recipients already got"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    stanzas.none().await;
    assert_eq!(driver.reconcile(&key, &rejected).await.unwrap(), SendCheck::Unknown, "partly sent");

    // The second chunk cannot be sent (nothing written): not a transient error, or the status
    // would be sent again to those who have it.
    let dropped = to(text_status(&key, 2), &five);
    let publish = spawn_publish(&driver, &key, &dropped);
    let first = stanzas.next().await;
    driver.inject_event(&key, ack(&first.message_id, None)).await.unwrap();
    let error = publish.await.unwrap().unwrap_err();
    assert!(!error.failure().code.is_transient(), "{error:?}");
    assert!(matches!(&error, DriverError::DeviceError(why) if why.contains("2 of 5")), "{error:?}");
    assert_eq!(driver.reconcile(&key, &dropped).await.unwrap(), SendCheck::Unknown);

    // The second chunk may or may not have been written: unconfirmed.
    let unsure = to(text_status(&key, 3), &five);
    let publish = spawn_publish(&driver, &key, &unsure);
    let first = stanzas.next().await;
    driver.inject_event(&key, ack(&first.message_id, None)).await.unwrap();
    match publish.await.unwrap() {
        Err(DriverError::Unconfirmed(why)) => assert!(why.contains("2 of 5"), "{why}"),
        other => panic!("{other:?}"),
    }
    stanzas.none().await;
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_servers_ack_a_send_is_unconfirmed_and_a_negative_ack_is_a_rejection() {
    let dir = TempDir::new("unconfirmed");
    let net = FakeNet::new(Net::Hang);
    let mut config = config(&dir.0);
    config.ack_timeout = Duration::from_millis(300);
    let (driver, mut stanzas) = recording_driver(config, &net, Vec::new());
    let key = connected_session(&driver, "unconfirmed").await;
    let lid = ["100000000000001@lid"];

    // No ack in time.
    let silent = to(text_status(&key, 1), &lid);
    let publish = spawn_publish(&driver, &key, &silent);
    let stanza = stanzas.next().await;
    match publish.await.unwrap() {
        Err(error @ DriverError::Unconfirmed(_)) => {
            assert_eq!(error.failure().code, FailureCode::OutcomeUnknown);
            assert!(error.to_string().contains("may or may not be visible"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.reconcile(&key, &silent).await.unwrap(), SendCheck::Unknown);
    // The ack that comes late is still recorded.
    driver.inject_event(&key, ack(&stanza.message_id, None)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while driver.reconcile(&key, &silent).await.unwrap() != sent(&stanza.message_id, 1) {
        assert!(Instant::now() < deadline, "the late ack is recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A negative ack.
    let refused = to(text_status(&key, 2), &lid);
    let publish = spawn_publish(&driver, &key, &refused);
    let stanza = stanzas.next().await;
    driver.inject_event(&key, ack(&stanza.message_id, Some("479"))).await.unwrap();
    match publish.await.unwrap() {
        Err(DriverError::ServerRejected(why)) => assert_eq!(why, "error 479"),
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.reconcile(&key, &refused).await.unwrap(), SendCheck::NotSent);
    driver.shutdown().await;
}
