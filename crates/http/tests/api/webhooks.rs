//! `/v1/webhooks`: endpoints, secrets, the delivery log, redelivery and pings, against loopback
//! receivers; and published statuses reaching them through the outbox and the dispatcher.
//!
//! [`wire`] builds the webhook use cases of a test app (support.rs calls it): on the app's
//! storage, with a compressed retry schedule, loopback receivers allowed (every other
//! non-public address refused, as in production), and a dispatcher running for the test.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use wastatus_domain::WebhookSecret;
use wastatus_domain::ports::{Clock, IdGenerator};
use wastatus_domain::service::{WebhookPorts, Webhooks};
use wastatus_media::fetch::{AddressPolicy, is_public};
use wastatus_storage::Storage;
use wastatus_webhooks::signing::verify;
use wastatus_webhooks::{HttpSender, Nudge, SecretMint, TargetGuard, WebhookConfig};

use crate::support::TestApp;

/// Public addresses and loopback (where the test receivers listen); nothing else.
#[derive(Debug)]
struct PublicAndLoopback;

impl AddressPolicy for PublicAndLoopback {
    fn allows(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || is_public(ip)
    }
}

struct V7;

impl IdGenerator for V7 {
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// The webhook use cases of a test app on `storage`, and a dispatcher delivering for them
/// until the test's runtime ends.
pub fn wire(storage: &Storage, clock: Arc<dyn Clock>) -> Webhooks {
    let config = WebhookConfig {
        retry_schedule: "100ms,200ms,300ms,400ms,500ms".into(),
        retry_jitter_percent: 0,
        poll_interval_ms: 50,
        timeout_secs: 5,
        ..WebhookConfig::default()
    };
    let policy: Arc<dyn AddressPolicy> = Arc::new(PublicAndLoopback);
    let nudge = Nudge::new();
    let ports = WebhookPorts {
        endpoints: Arc::new(storage.clone()),
        deliveries: Arc::new(storage.clone()),
        outbox: Arc::new(storage.clone()),
        sender: Arc::new(HttpSender::with_policy(&config, Arc::clone(&policy)).expect("an HTTP client")),
        targets: Arc::new(TargetGuard::with_policy(&config, policy)),
        secrets: Arc::new(SecretMint::default()),
        signal: Arc::new(nudge.clone()),
        clock,
        ids: Arc::new(V7),
    };
    let webhooks = Webhooks::new(ports, config.settings().expect("valid settings"));
    tokio::spawn(wastatus_webhooks::run(webhooks.clone(), config.dispatcher(), nudge, std::future::pending()));
    webhooks
}

/// A request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    id: String,
    timestamp: i64,
    signature: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn verifies_with(&self, secret: &str) -> bool {
        let secret = WebhookSecret::new(secret).unwrap();
        let now = chrono::Utc::now().timestamp();
        verify(&secret, &self.id, self.timestamp, &self.signature, &self.body, now, 300).is_ok()
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    status: u16,
}

/// A loopback receiver answering `status` (204 at first).
struct Receiver {
    base: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox { received: Vec::new(), status: 204 }));
        let app = Router::new().route("/{*path}", post(receive)).with_state(Arc::clone(&inbox));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, inbox }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, status: u16) {
        self.inbox.lock().unwrap().status = status;
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    async fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..250 {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the receiver did not get what was expected: {:#?}", self.received());
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut inbox = inbox.lock().unwrap();
    inbox.received.push(Received {
        path: uri.path().to_owned(),
        id: text("webhook-id"),
        timestamp: text("webhook-timestamp").parse().unwrap_or_default(),
        signature: text("webhook-signature"),
        body,
    });
    StatusCode::from_u16(inbox.status).unwrap()
}

/// Registers a webhook; returns its JSON (with the secret).
async fn register(app: &TestApp, key: &str, body: Value) -> Value {
    let res = app.call("POST", "/v1/webhooks", Some(key), Some(body)).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let json = res.json();
    assert_eq!(res.headers["location"], format!("/v1/webhooks/{}", json["id"].as_str().unwrap()));
    json
}

/// The deliveries of a webhook, newest first.
async fn deliveries(app: &TestApp, key: &str, id: &str) -> Vec<Value> {
    let res = app.call("GET", &format!("/v1/webhooks/{id}/deliveries"), Some(key), None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn webhooks_are_registered_listed_changed_and_deleted() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    let created = register(
        &app,
        &key,
        json!({"url": "https://127.0.0.1:9/in", "events": ["status.failed", "status.published"], "session_id": "s1"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() >= 6 + 32, "{secret}");
    assert_eq!(created["secret_prefix"], secret[..10]);
    assert_eq!(created["events"], json!(["status.published", "status.failed"]));
    assert_eq!((created["format"].as_str(), created["enabled"].as_bool()), (Some("native"), Some(true)));
    assert_eq!(created["session_id"], "s1");

    let listed = app.call("GET", "/v1/webhooks", Some(&key), None).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");
    let one = app.call("GET", &format!("/v1/webhooks/{id}"), Some(&key), None).await.json();
    assert!(one.get("secret").is_none());
    assert_eq!(one["secret_prefix"], created["secret_prefix"]);

    let patch = json!({"events": ["*"], "session_id": null, "enabled": false, "url": "http://127.0.0.1:10/other"});
    let res = app.call("PATCH", &format!("/v1/webhooks/{id}"), Some(&key), Some(patch)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let changed = res.json();
    assert_eq!(changed["events"], json!(["*"]));
    assert!(changed.get("session_id").is_none());
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], "http://127.0.0.1:10/other");
    let res = app.call("PATCH", &format!("/v1/webhooks/{id}"), Some(&key), Some(json!({"format": "walytic"}))).await;
    assert_eq!(res.json()["format"], "walytic", "`*` with walytic means every event walytic carries");

    assert_eq!(app.call("DELETE", &format!("/v1/webhooks/{id}"), Some(&key), None).await.status, 204);
    app.call("GET", &format!("/v1/webhooks/{id}"), Some(&key), None).await.problem(404, "webhook_not_found");
    app.call("DELETE", &format!("/v1/webhooks/{id}"), Some(&key), None).await.problem(404, "webhook_not_found");
    app.call("GET", "/v1/webhooks/not-a-uuid", Some(&key), None).await.problem(404, "webhook_not_found");
}

#[tokio::test]
async fn private_and_metadata_urls_are_refused_at_creation() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "https://192.168.1.1/",
        "https://[fd00:ec2::254]/",
        "http://0xa9fea9fe/",
    ] {
        let res = app.call("POST", "/v1/webhooks", Some(&key), Some(json!({"url": url}))).await;
        res.problem(422, "webhook_blocked_address");
    }
    let created = register(&app, &key, json!({"url": "http://127.0.0.1:9/ok"})).await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let res = app.call("PATCH", &path, Some(&key), Some(json!({"url": "http://169.254.169.254/"}))).await;
    res.problem(422, "webhook_blocked_address");
    let res = app.call("POST", "/v1/webhooks", Some(&key), Some(json!({"url": "https://no-such-host.invalid/"}))).await;
    res.problem(422, "webhook_unresolvable_host");
    assert_eq!(app.call("GET", "/v1/webhooks", Some(&key), None).await.json()["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_values_are_refused_with_their_codes() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    let url = "http://127.0.0.1:9/";
    for (body, code) in [
        (json!({"url": "ftp://example.com/"}), "invalid_webhook_url"),
        (json!({"url": "not a url"}), "invalid_webhook_url"),
        (json!({"url": "https://user:pw@example.com/"}), "invalid_webhook_url"),
        (json!({"url": url, "events": []}), "invalid_events"),
        (json!({"url": url, "events": ["status.exploded"]}), "invalid_event_type"),
        (json!({"url": url, "format": "xml"}), "invalid_webhook_format"),
        (json!({"url": url, "format": "walytic", "events": ["session.connected"]}), "webhook_events_unsupported"),
        (json!({"url": url, "session_id": "-bad"}), "invalid_session_id"),
        (json!({"url": url, "secret": "whsec_mine"}), "invalid_request"),
        (json!({"events": ["*"]}), "invalid_request"),
    ] {
        let res = app.call("POST", "/v1/webhooks", Some(&key), Some(body.clone())).await;
        res.problem(422, code);
    }
    let created = register(&app, &key, json!({"url": url})).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .call(
            "POST",
            &format!("/v1/webhooks/{id}/rotate-secret"),
            Some(&key),
            Some(json!({"previous_expires_in_secs": 30 * 86_400})),
        )
        .await;
    res.problem(422, "invalid_rotation_overlap");
    let res = app.call("GET", &format!("/v1/webhooks/{id}/deliveries?state=lost"), Some(&key), None).await;
    res.problem(422, "invalid_state");
    let res = app.call("GET", &format!("/v1/webhooks/{id}/deliveries?cursor=nope"), Some(&key), None).await;
    res.problem(422, "invalid_cursor");
}

#[tokio::test]
async fn a_ping_is_signed_sent_at_once_and_logged() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    let receiver = Receiver::start().await;
    let created = register(&app, &key, json!({"url": receiver.url("/ping"), "format": "walytic"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app.call("POST", &format!("/v1/webhooks/{id}/ping"), Some(&key), None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let ping = res.json();
    assert_eq!(ping["event_type"], "webhook.ping");
    assert_eq!(ping["state"], "succeeded");
    assert_eq!(ping["attempts"], 1);
    assert_eq!(ping["attempt_log"][0]["status_code"], 204);
    assert!(ping["attempt_log"][0]["latency_ms"].is_u64());

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].verifies_with(created["secret"].as_str().unwrap()));
    assert_eq!(got[0].id, ping["event_id"].as_str().unwrap());
    assert_eq!(got[0].json()["type"], "webhook.ping");
    assert_eq!(got[0].json()["data"]["webhook_id"], id);

    receiver.answer(503);
    let failed = app.call("POST", &format!("/v1/webhooks/{id}/ping"), Some(&key), None).await.json();
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["last_status_code"], 503);
    assert_eq!(failed["next_attempt_at"], Value::Null, "a ping is not retried");
    let log = deliveries(&app, &key, id).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["id"], failed["id"], "newest first");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    let receiver = Receiver::start().await;
    let created = register(&app, &key, json!({"url": receiver.url("/rotating")})).await;
    let (id, old) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());

    let res = app.call("POST", &format!("/v1/webhooks/{id}/rotate-secret"), Some(&key), None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let rotated = res.json();
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    app.call("POST", &format!("/v1/webhooks/{id}/ping"), Some(&key), None).await;
    let got = receiver.received();
    assert_eq!(got[0].signature.split(' ').count(), 2);
    assert!(got[0].verifies_with(old) && got[0].verifies_with(new));

    let body = json!({"previous_expires_in_secs": 0});
    let again = app.call("POST", &format!("/v1/webhooks/{id}/rotate-secret"), Some(&key), Some(body)).await.json();
    let newest = again["secret"].as_str().unwrap();
    assert!(again.get("previous_secret_expires_at").is_none());
    app.call("POST", &format!("/v1/webhooks/{id}/ping"), Some(&key), None).await;
    let last = receiver.received().pop().unwrap();
    assert!(last.verifies_with(newest) && !last.verifies_with(new) && !last.verifies_with(old));
}

#[tokio::test]
async fn published_statuses_reach_receivers_in_both_formats() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let receiver = Receiver::start().await;
    let native = register(&app, &key, json!({"url": receiver.url("/native"), "events": ["status.published"]})).await;
    let walytic = register(&app, &key, json!({"url": receiver.url("/walytic"), "format": "walytic"})).await;

    let res = app.publish(&key, "Flash sale!").await;
    assert!(res.status.is_success(), "{}", String::from_utf8_lossy(&res.body));
    let status = res.json();
    let status_id = status["id"].as_str().unwrap().to_owned();

    let got = receiver.wait_for(|r| r.len() >= 2).await;
    let at = |path: &str| got.iter().find(|r| r.path == path).cloned().unwrap();
    let n = at("/native");
    assert!(n.verifies_with(native["secret"].as_str().unwrap()));
    let body = n.json();
    assert_eq!(body["type"], "status.published");
    assert_eq!(body["data"]["status_id"], status_id);
    assert_eq!(body["data"]["session_id"], "s1");
    assert_eq!(body["data"]["status_type"], "text");
    assert!(body["data"]["message_id"].as_str().unwrap().starts_with("3EB0"));
    let w = at("/walytic");
    assert!(w.verifies_with(walytic["secret"].as_str().unwrap()));
    let body = w.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["caption", "event", "mediaType", "sessionId", "timestamp"],
        "a text event has no fileUrl"
    );
    assert_eq!((body["event"].as_str(), body["mediaType"].as_str()), (Some("statusUpdated"), Some("text")));
    assert_eq!((body["sessionId"].as_str(), body["caption"].as_str()), (Some("s1"), Some("Flash sale!")));
    assert_eq!(body["timestamp"].as_str().unwrap().len(), "2025-10-27T06:21:11Z".len());
    assert_eq!(w.id, n.id, "one event, one webhook-id");

    let log = deliveries(&app, &key, native["id"].as_str().unwrap()).await;
    let log = if log[0]["state"] == "succeeded" {
        log
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        deliveries(&app, &key, native["id"].as_str().unwrap()).await
    };
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["event_type"], "status.published");
    assert_eq!(log[0]["state"], "succeeded");
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_can_be_redelivered() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let hook = register(&app, &key, json!({"url": receiver.url("/flaky"), "events": ["status.published"]})).await;
    let id = hook["id"].as_str().unwrap();
    assert!(app.publish(&key, "Retry me").await.status.is_success());

    // One attempt and five retries, then it fails.
    receiver.wait_for(|r| r.len() >= 6).await;
    let mut log = Vec::new();
    for _ in 0..100 {
        log = deliveries(&app, &key, id).await;
        if log[0]["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = &log[0];
    assert_eq!(delivery["state"], "failed");
    assert_eq!(delivery["attempts"], 6);
    assert_eq!(delivery["attempt_log"].as_array().unwrap().len(), 6);
    assert!(delivery["attempt_log"].as_array().unwrap().iter().all(|a| a["status_code"] == 500));
    assert_eq!(delivery["next_attempt_at"], Value::Null);

    receiver.answer(200);
    let path = format!("/v1/webhooks/{id}/deliveries/{}/redeliver", delivery["id"].as_str().unwrap());
    let res = app.call("POST", &path, Some(&key), None).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["state"], "pending");
    let got = receiver.wait_for(|r| r.len() >= 7).await;
    assert!(got.iter().all(|r| r.id == got[0].id), "the same webhook-id on every attempt");
    for _ in 0..100 {
        if deliveries(&app, &key, id).await[0]["state"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = &deliveries(&app, &key, id).await[0];
    assert_eq!((delivery["state"].as_str(), delivery["attempts"].as_u64()), (Some("succeeded"), Some(7)));

    let missing = format!("/v1/webhooks/{id}/deliveries/{}/redeliver", uuid::Uuid::now_v7());
    app.call("POST", &missing, Some(&key), None).await.problem(404, "delivery_not_found");
    let patch = app.call("PATCH", &format!("/v1/webhooks/{id}"), Some(&key), Some(json!({"enabled": false}))).await;
    assert_eq!(patch.status, 200);
    app.call("POST", &path, Some(&key), None).await.problem(409, "webhook_disabled");
}

#[tokio::test]
async fn another_tenants_webhooks_do_not_exist_for_a_tenant() {
    let app = TestApp::new().await;
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let created = register(&app, &a, json!({"url": "http://127.0.0.1:9/a"})).await;
    let id = created["id"].as_str().unwrap();
    assert!(app.call("GET", "/v1/webhooks", Some(&b), None).await.json()["items"].as_array().unwrap().is_empty());
    for (method, path) in [
        ("GET", format!("/v1/webhooks/{id}")),
        ("DELETE", format!("/v1/webhooks/{id}")),
        ("POST", format!("/v1/webhooks/{id}/ping")),
        ("POST", format!("/v1/webhooks/{id}/rotate-secret")),
        ("GET", format!("/v1/webhooks/{id}/deliveries")),
    ] {
        app.call(method, &path, Some(&b), None).await.problem(404, "webhook_not_found");
    }
    assert_eq!(app.call("GET", &format!("/v1/webhooks/{id}"), Some(&a), None).await.status, 200, "untouched");
}
