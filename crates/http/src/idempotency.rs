//! `Idempotency-Key` (IETF httpapi draft) on the routes that change things: a repeat of a
//! request with the same key and the same body replays the first answer; the same key with
//! another body is `422 idempotency_key_reused`; a repeat while the first is still being
//! handled is `409 idempotency_key_in_use` with `Retry-After`. Keys are scoped per tenant and
//! kept 24 hours.
//!
//! A layer on the route: it authenticates the request the same way the handler's extractors
//! do (once: the principal is kept in the request), reads the body (within the route's
//! limit), and wraps the handler's answer.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use wastatus_domain::TenantId;
use wastatus_domain::ports::{Begin, IdempotencyRepository, StoredResponse};

use crate::ApiState;
use crate::error::ApiError;

const HEADER: &str = "idempotency-key";

/// How long a key is remembered.
const KEEP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// The answers worth replaying carry these headers too.
const REPLAYED_HEADERS: [&str; 4] = ["content-type", "location", "preference-applied", "retry-after"];

/// What a request did that must be remembered even if it ends badly: once a publish is
/// stored, its key must never be released (a retry would publish again), whatever happens to
/// the request afterwards. The handler records here the answer that stands for the stored
/// status (`202` with its `Location`).
#[derive(Clone, Default)]
pub(crate) struct Progress(std::sync::Arc<std::sync::Mutex<Option<StoredResponse>>>);

impl Progress {
    /// Records that `status` was stored.
    pub(crate) fn stored(&self, status: &wastatus_domain::Status) {
        let body = serde_json::to_vec(&crate::routes::dto::Status::from(status)).unwrap_or_default();
        let response = StoredResponse {
            status: StatusCode::ACCEPTED.as_u16(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("location".to_owned(), format!("/v1/statuses/{}", status.id())),
            ],
            body,
        };
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(response);
    }

    fn take(&self) -> Option<StoredResponse> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// What the layer needs: the state, and the largest body it will read.
#[derive(Clone)]
pub struct Idempotency {
    pub state: ApiState,
    pub body_limit: usize,
}

pub async fn layer(State(config): State<Idempotency>, request: Request, next: Next) -> Response {
    match handle(config, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle(config: Idempotency, request: Request, next: Next) -> Result<Response, Response> {
    let changes_things = matches!(*request.method(), Method::POST | Method::DELETE | Method::PATCH);
    let Some(key) = request.headers().get(HEADER).filter(|_| changes_things) else {
        return Ok(next.run(request).await);
    };
    let key = valid_key(key).map_err(IntoResponse::into_response)?;
    let (mut parts, body) = request.into_parts();
    let principal =
        crate::extract::authenticate(&mut parts, &config.state).await.map_err(IntoResponse::into_response)?;
    let bytes = to_bytes(body, config.body_limit).await.map_err(|_| {
        ApiError::new("payload_too_large", "the request body is larger than this server accepts").into_response()
    })?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), &bytes);

    let repo = &config.state.idempotency;
    let now = chrono::Utc::now();
    let begun = repo.begin(principal.tenant, &key, &fingerprint, now, now + KEEP).await.map_err(internal)?;
    match begun {
        Begin::Started => {}
        Begin::InFlight => {
            return Err(ApiError::new(
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being handled; try again shortly",
            )
            .with_retry_after(Duration::from_secs(1))
            .into_response());
        }
        Begin::Mismatch => {
            return Err(ApiError::new(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request; use a new key for a new request",
            )
            .into_response());
        }
        Begin::Replay(stored) => return Ok(replay(stored)),
    }

    // If the request is dropped from here on (the client went away, the request timed out),
    // the key is released rather than left in flight for a day — unless a status was stored,
    // which the key then stands for.
    let progress = Progress::default();
    let mut parts = parts;
    parts.extensions.insert(progress.clone());
    let guard =
        Release { repo: Some(repo.clone()), tenant: principal.tenant, key: key.clone(), progress: progress.clone() };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let repo = guard.disarm();
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "an answer could not be read to remember it");
            let _ = repo.abandon(principal.tenant, &key).await;
            return Err(ApiError::internal().into_response());
        }
    };
    // What is remembered: the answer, if the request did something or was refused for good
    // (failed publishes included: the status exists, failed); the stored status, if the
    // request stored one and then failed inside; nothing, if it did nothing and may succeed
    // when tried again (an internal error, a time-out, a rate limit), so the key can be reused.
    let stored = progress.take();
    let passing = parts.status == StatusCode::TOO_MANY_REQUESTS || parts.status.is_server_error();
    if let (Some(stored), true) = (&stored, parts.status == StatusCode::INTERNAL_SERVER_ERROR) {
        if let Err(error) = repo.complete(principal.tenant, &key, stored).await {
            tracing::error!(%error, "an idempotent answer could not be stored");
        }
    } else if stored.is_none() && passing {
        if let Err(error) = repo.abandon(principal.tenant, &key).await {
            tracing::error!(%error, "an idempotency key could not be released");
        }
    } else {
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            headers: REPLAYED_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = parts.headers.get(*name)?.to_str().ok()?;
                    Some(((*name).to_owned(), value.to_owned()))
                })
                .collect(),
            body: body.to_vec(),
        };
        if let Err(error) = repo.complete(principal.tenant, &key, &stored).await {
            tracing::error!(%error, "an idempotent answer could not be stored");
        }
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// Releases an idempotency key if dropped while armed.
struct Release {
    repo: Option<std::sync::Arc<dyn IdempotencyRepository>>,
    tenant: TenantId,
    key: String,
    progress: Progress,
}

impl Release {
    fn disarm(mut self) -> std::sync::Arc<dyn IdempotencyRepository> {
        self.repo.take().expect("armed until disarmed")
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(repo) = self.repo.take() {
            let (tenant, key, stored) = (self.tenant, std::mem::take(&mut self.key), self.progress.take());
            tokio::spawn(async move {
                let outcome = match stored {
                    Some(stored) => repo.complete(tenant, &key, &stored).await,
                    None => repo.abandon(tenant, &key).await,
                };
                if let Err(error) = outcome {
                    tracing::error!(%error, "an idempotency key could not be settled");
                }
            });
        }
    }
}

/// A key is 1 to 255 visible ASCII characters (a UUID, typically).
fn valid_key(value: &HeaderValue) -> Result<String, ApiError> {
    let key =
        value.to_str().ok().map(str::trim).filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        });
    key.map(str::to_owned).ok_or_else(|| {
        ApiError::new("invalid_idempotency_key", "an Idempotency-Key is 1 to 255 visible ASCII characters")
            .with_field("Idempotency-Key")
    })
}

/// What makes two requests "the same": method, path and body.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(method.as_str().as_bytes());
    digest.update(b" ");
    digest.update(path.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    digest.finalize().into()
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn internal(error: wastatus_domain::ports::StorageError) -> Response {
    tracing::error!(%error, "idempotency records are not available");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(valid_key(&HeaderValue::from_static("8e03978e-40d5-43e8-bc93-6894a57f9324")).unwrap().len(), 36);
        assert!(valid_key(&HeaderValue::from_static("")).is_err());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_err());
        assert!(valid_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_err());
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let a = fingerprint(&Method::POST, "/v1/sessions/s1/statuses", b"{}");
        assert_eq!(a, fingerprint(&Method::POST, "/v1/sessions/s1/statuses", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/sessions/s2/statuses", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/sessions/s1/statuses", b"{ }"));
        assert_ne!(a, fingerprint(&Method::DELETE, "/v1/sessions/s1/statuses", b"{}"));
    }
}
