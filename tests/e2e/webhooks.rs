//! Webhooks with the real binary: an event survives a SIGKILL right after the publish that
//! caused it, and a delivery cut off by one is made again; a receiver that is down for a while
//! gets every event when it is back.
//!
//! The server runs with `webhooks.allow_private_networks` (the receiver is on loopback), a
//! compressed retry schedule, a 1 s attempt time-out (so a claim abandoned by the killed process
//! is taken again within seconds) and a short poll interval.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use wastatus_domain::WebhookSecret;
use wastatus_webhooks::signing::verify;

use crate::support::{Server, Workspace};

/// The configuration of these tests, as environment variables.
const WEBHOOK_ENV: [(&str, &str); 4] = [
    ("WASTATUS__WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
    ("WASTATUS__WEBHOOKS__RETRY_SCHEDULE", "200ms,400ms,600ms,800ms,1s,1s,1s,1s,1s,1s"),
    ("WASTATUS__WEBHOOKS__TIMEOUT_SECS", "1"),
    ("WASTATUS__WEBHOOKS__POLL_INTERVAL_MS", "100"),
];

fn serve(ws: &Workspace) -> Server {
    let mut command = ws.command(&["serve"]);
    command.envs(WEBHOOK_ENV);
    Server::start(command)
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn verifies_with(&self, secret: &str) -> bool {
        let secret = WebhookSecret::new(secret).expect("a webhook secret");
        let now = chrono::Utc::now().timestamp();
        verify(&secret, &self.id, self.timestamp, &self.signature, &self.body, now, 300).is_ok()
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    /// How long to hold the next requests before answering, one entry per request.
    holds: Vec<Duration>,
}

/// A loopback webhook receiver that answers 204 (after a hold, when told).
struct Receiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start_on(addr: SocketAddr) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = Router::new().route("/{*path}", post(receive)).with_state(Arc::clone(&inbox));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inbox, task }
    }

    async fn start() -> Receiver {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/wastatus", self.addr)
    }

    fn hold_next(&self, hold: Duration) {
        self.inbox.lock().unwrap().holds.push(hold);
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    async fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "the receiver did not get what was expected: {got:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(inbox): State<Arc<Mutex<Inbox>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let hold = {
        let mut inbox = inbox.lock().unwrap();
        inbox.received.push(Received {
            id: text("webhook-id"),
            timestamp: text("webhook-timestamp").parse().unwrap_or_default(),
            signature: text("webhook-signature"),
            body,
        });
        if inbox.holds.is_empty() { Duration::ZERO } else { inbox.holds.remove(0) }
    };
    tokio::time::sleep(hold).await;
    StatusCode::NO_CONTENT
}

/// A connected session `s1` and a webhook for `status.published` to `url`; returns the
/// webhook's id and secret.
async fn set_up(server: &Server, key: &str, url: &str) -> (String, String) {
    assert_eq!(server.post("/v1/sessions", key, &json!({"id": "s1"})).await.status(), 201);
    assert_eq!(server.post("/v1/sessions/s1/pair", key, &json!({"method": "qr"})).await.status(), 200);
    let res = server.post("/v1/webhooks", key, &json!({"url": url, "events": ["status.published"]})).await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    (hook["id"].as_str().unwrap().to_owned(), hook["secret"].as_str().unwrap().to_owned())
}

async fn publish(server: &Server, key: &str, text: &str) -> String {
    let res = server.post("/v1/sessions/s1/statuses", key, &json!({"type": "text", "text": text})).await;
    assert!(res.status().is_success(), "publish answered {}", res.status());
    let status: Value = res.json().await.unwrap();
    status["id"].as_str().unwrap().to_owned()
}

/// The webhook's deliveries, newest first.
async fn deliveries(server: &Server, key: &str, hook: &str) -> Vec<Value> {
    let res = server.get(&format!("/v1/webhooks/{hook}/deliveries"), key).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_event_published_just_before_a_sigkill_is_delivered_after_the_restart() {
    let receiver = Receiver::start().await;
    // The first delivery, if it starts before the kill, is still in flight when it lands.
    receiver.hold_next(Duration::from_secs(3));
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("acme");
    let server = serve(&ws);
    let (hook, secret) = set_up(&server, &key, &receiver.url()).await;

    let status_id = publish(&server, &key, "Published, then the power went out").await;
    drop(server); // SIGKILL

    let server = serve(&ws);
    let got = receiver
        .wait_for(Duration::from_secs(30), |r| r.iter().any(|r| r.json()["data"]["status_id"] == status_id.as_str()))
        .await;
    let event = got.iter().rfind(|r| r.json()["data"]["status_id"] == status_id.as_str()).unwrap();
    assert!(event.verifies_with(&secret), "signed with the webhook's secret");
    assert_eq!(event.json()["type"], "status.published");
    assert_eq!(event.json()["data"]["session_id"], "s1");
    assert!(got.iter().all(|r| r.id == event.id), "one event, one webhook-id, however many attempts");

    // An attempt in flight at the kill is taken again once its lease (2 × 1 s + 5 s) runs out.
    let mut log = Vec::new();
    for _ in 0..300 {
        log = deliveries(&server, &key, &hook).await;
        if log.first().is_some_and(|d| d["state"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["state"], "succeeded", "{log:#?}");
    assert_eq!(log[0]["event_id"], event.id);
}

#[tokio::test]
async fn a_delivery_cut_off_by_a_sigkill_is_made_again_after_the_restart() {
    let receiver = Receiver::start().await;
    receiver.hold_next(Duration::from_secs(3));
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("acme");
    let server = serve(&ws);
    let (hook, secret) = set_up(&server, &key, &receiver.url()).await;
    let status_id = publish(&server, &key, "Cut off mid-delivery").await;
    // The first attempt has reached the receiver, which holds it: kill the sender now.
    receiver.wait_for(Duration::from_secs(10), |r| !r.is_empty()).await;
    drop(server); // SIGKILL

    let server = serve(&ws);
    // The dead process's claim is taken again once its lease (2 × 1 s + 5 s) runs out.
    let got = receiver.wait_for(Duration::from_secs(30), |r| r.len() >= 2).await;
    assert_eq!(got[0].id, got[1].id, "the same message again, under the same webhook-id");
    assert_eq!(got[1].body, got[0].body, "byte for byte");
    assert!(got[1].verifies_with(&secret));
    assert_eq!(got[1].json()["data"]["status_id"], status_id.as_str());
    let mut log = Vec::new();
    for _ in 0..100 {
        log = deliveries(&server, &key, &hook).await;
        if log.first().is_some_and(|d| d["state"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log[0]["state"], "succeeded", "{log:#?}");
    assert_eq!(log[0]["attempts"], 1, "the attempt cut off was never recorded: {log:#?}");
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_when_it_is_back() {
    // A port with nothing listening on it, for now.
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("acme");
    let server = serve(&ws);
    let (hook, secret) = set_up(&server, &key, &format!("http://{addr}/hooks/wastatus")).await;
    let mut published = Vec::new();
    for n in 0..3 {
        published.push(publish(&server, &key, &format!("Status {n}")).await);
    }
    // Down: the first attempts fail and are retried.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let receiver = Receiver::start_on(addr).await;
    let got = receiver
        .wait_for(Duration::from_secs(30), |r| {
            published.iter().all(|id| r.iter().any(|r| r.json()["data"]["status_id"] == id.as_str()))
        })
        .await;
    assert!(got.iter().all(|r| r.verifies_with(&secret)));

    let mut log = Vec::new();
    for _ in 0..100 {
        log = deliveries(&server, &key, &hook).await;
        if log.len() == 3 && log.iter().all(|d| d["state"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.len(), 3, "{log:#?}");
    for delivery in &log {
        assert_eq!(delivery["state"], "succeeded", "{delivery:#}");
        let attempts = delivery["attempt_log"].as_array().unwrap();
        assert!(attempts.len() >= 2, "it failed while the receiver was down: {delivery:#}");
        assert!(attempts[0]["error"].as_str().unwrap_or_default().starts_with("connection_failed"), "{delivery:#}");
        assert_eq!(attempts.last().unwrap()["status_code"], 204);
    }
}
