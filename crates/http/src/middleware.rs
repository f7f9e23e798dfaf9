//! The layers every request passes through: request ids, tracing, metrics, time-out and the
//! body-size limit.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::HttpConfig;
use crate::error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the router in the standard layers. The outermost layer runs first: a request gets its
/// id before it is traced, so every log line of the request carries the id.
pub fn apply(router: Router, config: &HttpConfig) -> Router {
    let timeout = config.request_timeout;
    router
        .layer(middleware::from_fn(move |req: Request, next: Next| time_limit(req, next, timeout)))
        // Outside the time-out, so that its answer takes a compatibility surface's shape too.
        .layer(middleware::from_fn(crate::routes::compat::reshape))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // A 503 for a disconnected session is an expected answer; real internal errors
                // are logged at ERROR, with their cause, where they happen.
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn time_limit(req: Request, next: Next, limit: std::time::Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new("request_timeout", format!("the request did not finish within {limit:?}")).into_response()
        }
    }
}

/// Counts requests and their latency per route template (never the raw path, whose ids would
/// make the metric's cardinality unbounded).
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
