use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wastatus_auth::ApiKeyMint;
use wastatus_domain::Name;
use wastatus_domain::ports::{Clock, EventSink, IdGenerator};
use wastatus_domain::service::{Ports, Sessions, Statuses, Tenancy};
use wastatus_http::{ApiState, HttpConfig, Readiness};
use wastatus_media::{MediaConfig, MediaPipeline};
use wastatus_sandbox::SandboxDriver;
use wastatus_storage::Storage;

/// A clock that moves one millisecond per reading, so statuses get distinct, ordered times.
pub struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.fetch_add(1_000, Ordering::SeqCst)).unwrap()
    }
}

struct V7;
impl IdGenerator for V7 {
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

struct NoEvents;
#[async_trait::async_trait]
impl EventSink for NoEvents {
    async fn emit(&self, _: wastatus_domain::ports::DomainEvent) {}
}

struct AlwaysReady;
#[async_trait::async_trait]
impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

pub struct TestApp {
    pub router: Router,
    pub tenancy: Tenancy,
    pub sandbox: Arc<SandboxDriver>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a problem+json answer with this status and code, and returns the document.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.headers[header::CONTENT_TYPE], "application/problem+json");
        let doc = self.json();
        assert_eq!(doc["code"], code, "{doc}");
        assert_eq!(doc["status"], status);
        assert!(!doc["title"].as_str().unwrap().is_empty());
        assert!(!doc["detail"].as_str().unwrap().is_empty());
        doc
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::build(HttpConfig::default(), true, MediaConfig::default()).await
    }

    pub async fn with_config(config: HttpConfig) -> Self {
        Self::build(config, true, MediaConfig::default()).await
    }

    /// The sandbox driver without its fault injection, as a server with another driver has it.
    pub async fn without_faults() -> Self {
        Self::build(HttpConfig::default(), false, MediaConfig::default()).await
    }

    pub async fn with_media(media: MediaConfig) -> Self {
        Self::build(HttpConfig::default(), true, media).await
    }

    async fn build(config: HttpConfig, faults: bool, media: MediaConfig) -> Self {
        let dir = std::env::temp_dir().join(format!("wastatus-http-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let storage = Storage::connect(&format!("sqlite://{}/t.db?mode=rwc", dir.display())).await.unwrap();
        storage.migrate().await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SteppingClock(AtomicI64::new(1_800_000_000_000_000)));
        let sandbox = Arc::new(SandboxDriver::with_seed(clock.clone(), 7));
        let store = Arc::new(storage);
        let ports = Ports {
            tenants: store.clone(),
            api_keys: store.clone(),
            sessions: store.clone(),
            statuses: store,
            driver: sandbox.clone(),
            media: Arc::new(MediaPipeline::new(media)),
            faults: if faults { Some(sandbox.clone() as Arc<dyn wastatus_domain::ports::FaultInjector>) } else { None },
            clock,
            ids: Arc::new(V7),
            keys: Arc::new(ApiKeyMint),
            events: Arc::new(NoEvents),
        };
        let tenancy = Tenancy::new(ports.clone());
        let state = ApiState {
            sessions: Sessions::new(ports.clone()),
            statuses: Statuses::new(ports),
            tenancy: tenancy.clone(),
            readiness: Arc::new(AlwaysReady),
            metrics: None,
        };
        Self { router: wastatus_http::router(state, &config), tenancy, sandbox, _dir: TempDir(dir) }
    }

    /// A new tenant and an API key for it.
    pub async fn tenant(&self, name: &str) -> String {
        let tenant = self.tenancy.create_tenant(Name::new(name).unwrap()).await.unwrap();
        self.tenancy.create_api_key(tenant.id, None).await.unwrap().secret
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Response {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes().to_vec(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let request = match body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// A tenant with a paired (connected) session `s1`; returns the key.
    pub async fn paired(&self) -> String {
        let key = self.tenant("Acme").await;
        assert_eq!(
            self.call("POST", "/v1/sessions", Some(&key), Some(serde_json::json!({"id": "s1"}))).await.status,
            201
        );
        let res =
            self.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(serde_json::json!({"method": "qr"}))).await;
        assert_eq!(res.status, 200);
        key
    }

    pub async fn publish(&self, key: &str, text: &str) -> Response {
        self.call(
            "POST",
            "/v1/sessions/s1/statuses",
            Some(key),
            Some(serde_json::json!({"type": "text", "text": text})),
        )
        .await
    }
}
