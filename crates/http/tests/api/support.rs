use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wastatus_auth::{ApiKeyMint, Argon2Passwords, JwtConfig, JwtTokens, KeyedLimiter, SessionPace};
use wastatus_domain::ports::{Clock, EventSink, IdGenerator, IdempotencyRepository, PublishPace};
use wastatus_domain::service::{JobPolicy, NewApiKey, NewUser, Ports, Sessions, Statuses, Tenancy};
use wastatus_domain::{IssuedUser, Name, Password, Scopes, TenantId};
use wastatus_http::{ApiState, HttpConfig, JobQueue, Readiness, RequestLimit};
use wastatus_media::{MediaConfig, MediaPipeline};
use wastatus_sandbox::SandboxDriver;
use wastatus_storage::Storage;
use wastatus_worker::{Worker, WorkerConfig, WorkerHandle};

/// The system clock, but never the same reading twice: each reading is at least a
/// millisecond after the one before, so statuses get distinct, ordered times.
pub struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let real = Utc::now().timestamp_micros();
        let previous = self.0.fetch_max(real, Ordering::SeqCst).max(real);
        let mut reading = previous;
        // Claim the reading, a millisecond past the last one given out if need be.
        loop {
            match self.0.compare_exchange(reading, reading + 1_000, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(current) => reading = current,
            }
        }
        DateTime::from_timestamp_micros(reading).unwrap()
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
    async fn emit(&self, _: &wastatus_domain::Event) {}
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
    dir: TempDir,
    /// Stops the job worker when the app is dropped.
    _stop_worker: tokio::sync::watch::Sender<bool>,
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

/// What varies between test servers.
pub struct Options {
    pub http: HttpConfig,
    /// Whether the sandbox's fault injection is offered.
    pub faults: bool,
    pub media: MediaConfig,
    pub jwt: JwtConfig,
    /// (per minute, burst) per credential; `None`: unlimited.
    pub request_limit: Option<(u32, u32)>,
    /// (per minute, burst) per username; `None`: unlimited.
    pub login_limit: Option<(u32, u32)>,
    /// (per minute, burst) per session; `None`: unpaced.
    pub pace: Option<(u32, u32)>,
    /// How queued statuses are retried.
    pub jobs: JobPolicy,
    /// How long a publish sent at once is waited for.
    pub sync_wait: std::time::Duration,
}

/// The HS256 secret of test servers.
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

impl Default for Options {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            faults: true,
            media: MediaConfig::default(),
            jwt: JwtConfig { secret: Some(JWT_SECRET.to_owned().into()), ..JwtConfig::default() },
            request_limit: None,
            login_limit: None,
            pace: None,
            jobs: JobPolicy {
                retry_base: chrono::TimeDelta::milliseconds(100),
                retry_max: chrono::TimeDelta::milliseconds(400),
                max_attempts: 3,
                ..JobPolicy::default()
            },
            sync_wait: std::time::Duration::from_secs(30),
        }
    }
}

struct Wake(WorkerHandle);

impl JobQueue for Wake {
    fn queued(&self) {
        self.0.wake();
    }
}

struct Limit(KeyedLimiter<String>);

impl RequestLimit for Limit {
    fn admit(&self, key: &str) -> Result<(), std::time::Duration> {
        self.0.check(&key.to_owned())
    }
}

fn limit((per_minute, burst): (u32, u32)) -> Arc<Limit> {
    Arc::new(Limit(KeyedLimiter::new(NonZeroU32::new(per_minute).unwrap(), NonZeroU32::new(burst).unwrap())))
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_options(Options::default()).await
    }

    pub async fn with_config(http: HttpConfig) -> Self {
        Self::with_options(Options { http, ..Options::default() }).await
    }

    /// The sandbox driver without its fault injection, as a server with another driver has it.
    pub async fn without_faults() -> Self {
        Self::with_options(Options { faults: false, ..Options::default() }).await
    }

    pub async fn with_media(media: MediaConfig) -> Self {
        Self::with_options(Options { media, ..Options::default() }).await
    }

    pub async fn with_options(options: Options) -> Self {
        let dir = std::env::temp_dir().join(format!("wastatus-http-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let storage = Storage::connect(&format!("sqlite://{}/t.db?mode=rwc", dir.display())).await.unwrap();
        storage.migrate().await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SteppingClock(AtomicI64::new(Utc::now().timestamp_micros())));
        let sandbox = Arc::new(SandboxDriver::with_seed(clock.clone(), 7));
        let store = Arc::new(storage);
        let idempotency_store = store.clone() as Arc<dyn IdempotencyRepository>;
        let faults = options.faults.then(|| sandbox.clone() as Arc<dyn wastatus_domain::ports::FaultInjector>);
        let pace = options.pace.map(|(per_minute, burst)| {
            Arc::new(SessionPace::new(NonZeroU32::new(per_minute).unwrap(), NonZeroU32::new(burst).unwrap()))
                as Arc<dyn PublishPace>
        });
        let webhooks = crate::webhooks::wire(&store, clock.clone());
        let ports = Ports {
            tenants: store.clone(),
            api_keys: store.clone(),
            users: store.clone(),
            sessions: store.clone(),
            statuses: store,
            driver: sandbox.clone(),
            media: Arc::new(MediaPipeline::new(options.media)),
            faults,
            clock,
            ids: Arc::new(V7),
            keys: Arc::new(ApiKeyMint),
            // Light parameters: the tests check behaviour, not the cost of guessing.
            passwords: Arc::new(Argon2Passwords::with_params(64, 1, 1).unwrap()),
            access_tokens: Arc::new(JwtTokens::new(&options.jwt).unwrap()),
            pace,
            events: Arc::new(NoEvents),
        };
        let tenancy = Tenancy::new(ports.clone());
        let statuses = Statuses::with_policy(ports.clone(), options.jobs);
        let worker_config = WorkerConfig {
            concurrency: 4,
            poll_interval: std::time::Duration::from_millis(50),
            recover_every: std::time::Duration::from_secs(60),
        };
        let worker = Worker::new(statuses.clone(), worker_config);
        let wake = worker.handle();
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(worker.run(stopped));
        let state = ApiState {
            sends: tokio_util::task::TaskTracker::new(),
            sessions: Sessions::new(ports.clone()),
            statuses,
            jobs: Some(Arc::new(Wake(wake))),
            sync_wait: options.sync_wait,
            idempotency: idempotency_store,
            tenancy: tenancy.clone(),
            webhooks,
            readiness: Arc::new(AlwaysReady),
            metrics: None,
            request_limit: options.request_limit.map(|l| limit(l) as Arc<dyn RequestLimit>),
            login_limit: options.login_limit.map(|l| limit(l) as Arc<dyn RequestLimit>),
        };
        Self {
            router: wastatus_http::router(state, &options.http),
            tenancy,
            sandbox,
            dir: TempDir(dir),
            _stop_worker: stop_worker,
        }
    }

    /// The SQLite database file behind the server.
    pub fn database_path(&self) -> std::path::PathBuf {
        self.dir.0.join("t.db")
    }

    /// A new tenant and an API key for it with every tenant scope.
    pub async fn tenant(&self, name: &str) -> String {
        self.tenant_with_id(name).await.1
    }

    /// A new tenant, and an API key for it with every tenant scope.
    pub async fn tenant_with_id(&self, name: &str) -> (TenantId, String) {
        let tenant = self.tenancy.create_tenant(Name::new(name).unwrap()).await.unwrap();
        (tenant.id, self.key(tenant.id, Scopes::TENANT).await)
    }

    /// An API key of the tenant with exactly these scopes.
    pub async fn key(&self, tenant: TenantId, scopes: Scopes) -> String {
        let new = NewApiKey { scopes, ..NewApiKey::default() };
        self.tenancy.create_api_key(tenant, new, None).await.unwrap().secret
    }

    /// A user of the tenant with these scopes and, optionally, a password.
    pub async fn user(&self, tenant: TenantId, name: &str, password: Option<&str>, scopes: Scopes) -> IssuedUser {
        let new =
            NewUser { name: Name::new(name).unwrap(), password: password.map(|p| Password::new(p).unwrap()), scopes };
        self.tenancy.create_user(tenant, new, None).await.unwrap()
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

    /// A request with the credential as `X-Api-Key`.
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Response {
        self.call_with(method, path, key.map(|k| ("x-api-key", k.to_owned())), body).await
    }

    /// A request with the credential as `Authorization: Bearer`.
    pub async fn call_bearer(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Response {
        self.call_with(method, path, Some(("authorization", format!("Bearer {token}"))), body).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        credential: Option<(&str, String)>,
        body: Option<Value>,
    ) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        let request = match body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// Session `id` of the first tenant the test made, as the driver knows it.
    pub async fn session_key(&self, id: &str) -> wastatus_domain::SessionKey {
        // The first tenant the test made.
        let tenants = self.tenancy.tenants().await.unwrap();
        let tenant = tenants.first().expect("a tenant").id;
        wastatus_domain::SessionKey { tenant, id: wastatus_domain::SessionId::new(id).unwrap() }
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
