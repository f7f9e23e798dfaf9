//! The inbound HTTP adapter: wastatus's native REST API on axum.
//!
//! Handlers are thin: they turn JSON into validated domain commands, call a use case, and turn
//! its result into JSON. Every error leaves as an RFC 9457 `application/problem+json` document
//! with a stable `code` (see [`error`]). The OpenAPI document is generated from the handlers and
//! types in this crate, so it cannot drift from the code.

pub mod error;
mod extract;
mod idempotency;
mod middleware;
mod openapi;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use wastatus_domain::ports::IdempotencyRepository;
use wastatus_domain::service::{Sessions, Statuses, Tenancy, Webhooks};

pub use openapi::openapi;

/// Answers whether the service can do its work (for `/readyz`), e.g. the database is reachable.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` carries a short, non-secret reason.
    async fn check(&self) -> Result<(), String>;
}

/// What the handlers need.
#[derive(Clone)]
pub struct ApiState {
    pub sessions: Sessions,
    pub statuses: Statuses,
    pub tenancy: Tenancy,
    /// Webhook endpoints and their deliveries.
    pub webhooks: Webhooks,
    pub readiness: Arc<dyn Readiness>,
    /// Renders `/metrics`; `None` answers 404 there.
    pub metrics: Option<PrometheusHandle>,
    /// Requests per credential; `None` leaves them unlimited.
    pub request_limit: Option<Arc<dyn RequestLimit>>,
    /// Login attempts per username; `None` leaves them unlimited.
    pub login_limit: Option<Arc<dyn RequestLimit>>,
    /// Told when a status is queued, so the workers look at once; `None` leaves them to poll.
    pub jobs: Option<Arc<dyn JobQueue>>,
    /// How long a publish that is sent at once is waited for before the answer is `202`.
    pub sync_wait: Duration,
    /// `Idempotency-Key` records.
    pub idempotency: Arc<dyn IdempotencyRepository>,
    /// The sends and revokes the API started in tasks of their own, for shutdown to wait for:
    /// a send is never cut off between WhatsApp and storage.
    pub sends: tokio_util::task::TaskTracker,
}

/// The workers that run queued statuses.
pub trait JobQueue: Send + Sync {
    /// A status was just queued.
    fn queued(&self);
}

/// A rate limit by key (a credential, a username).
pub trait RequestLimit: Send + Sync {
    /// Counts a request; `Err` says how long until another would be admitted.
    fn admit(&self, key: &str) -> Result<(), Duration>;
}

/// Limits that protect the server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The largest body of a publish, which may carry a file or its base64, in bytes.
    pub publish_body_limit: usize,
    /// How long a request may take before it is answered with `503 request_timeout`.
    pub request_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        // 64 MiB of video, as base64 (4/3), with room for the rest of the request.
        Self { body_limit: 256 * 1024, publish_body_limit: 90 * 1024 * 1024, request_timeout: Duration::from_secs(60) }
    }
}

/// The whole API: native routes, health, metrics, `/openapi.json` and the `/docs` page.
pub fn router(state: ApiState, config: &HttpConfig) -> Router {
    let idempotency = idempotency::Idempotency { state: state.clone(), body_limit: config.body_limit };
    let options = routes::Options {
        sandbox: state.sessions.supports_faults(),
        publish_body_limit: config.publish_body_limit,
        idempotency: Some(idempotency),
    };
    let (api, mut doc) = routes::api(options).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", doc);
    let router = Router::new()
        .merge(api)
        .merge(docs)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state);
    middleware::apply(router, config)
}
