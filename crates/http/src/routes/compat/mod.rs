//! Drop-in compatibility surfaces for clients written against other status gateways:
//! WUTS-style `POST /status/media` and `POST /status/text` ([`wuts`]) and Walytic-style
//! `POST /api/whatsapp/{sessionId}/update-status` and `GET /api/whatsapp/{sessionId}/status`
//! ([`walytic`]).
//!
//! They are thin mappings onto the native API's use cases, not a second implementation: each
//! handler turns its surface's body into the same validated `PublishStatus` command as
//! `POST /v1/sessions/{session_id}/statuses` and runs it the same way
//! ([`run_publish`](super::statuses::run_publish));
//! credentials, scopes and rate limits are the native extractors'.
//!
//! Handlers fail with native [`ApiError`](crate::error::ApiError)s. A response-rewriting layer on each compat route
//! turns every problem document that leaves the route (from the extractors, the body limit, the
//! use cases) into the surface's error shape, by its `code`, following the tables
//! [`wuts::ERRORS`] and [`walytic::ERRORS`]. Headers (`Retry-After`, `WWW-Authenticate`) are
//! kept.

mod walytic;
mod wuts;

use crate::ApiState;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The compatibility routes. Their errors get the surface's shape from [`reshape`].
pub fn routes(publish_body_limit: usize) -> OpenApiRouter<ApiState> {
    let publish_limit = DefaultBodyLimit::max(publish_body_limit);
    OpenApiRouter::new()
        .routes(routes!(wuts::media).layer(publish_limit))
        .routes(routes!(wuts::text))
        .routes(routes!(walytic::update_status))
        .routes(routes!(walytic::session_status))
}

/// The surface a path belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Wuts,
    WalyticUpdate,
    WalyticStatus,
}

impl Surface {
    fn of(path: &str) -> Option<Self> {
        if path == "/status/media" || path == "/status/text" {
            return Some(Surface::Wuts);
        }
        let session_route = path.strip_prefix("/api/whatsapp/")?;
        match session_route.split_once('/') {
            Some((_, "update-status")) => Some(Surface::WalyticUpdate),
            Some((_, "status")) => Some(Surface::WalyticStatus),
            _ => None,
        }
    }
}

/// A layer for the whole router, outside every other layer that can answer with an error
/// (authentication, body limits, the request time-out, the method fallback): the responses of
/// the compatibility paths leave in their surface's shape, whoever produced them.
pub async fn reshape(request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    let response = next.run(request).await;
    match surface {
        None => response,
        Some(Surface::Wuts) => wuts::rewrite(response).await,
        Some(Surface::WalyticUpdate) => walytic::rewrite_update_status(response).await,
        Some(Surface::WalyticStatus) => walytic::rewrite_session_status(response).await,
    }
}

/// RFC 3339 in whole seconds with a numeric offset: `2026-06-15T14:35:11+00:00` (WUTS).
fn rfc3339_offset(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// RFC 3339 in whole seconds in UTC with `Z`: `2025-10-27T06:21:11Z` (Walytic, WUTS
/// validation errors).
fn rfc3339_z(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the rewriting layers read of a native problem document.
#[derive(Debug, Deserialize)]
struct NativeProblem {
    code: String,
    #[serde(default)]
    detail: String,
}

/// The largest problem document the layers read; theirs are a few hundred bytes.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// Rewrites a `application/problem+json` response with `render` (from the problem and its
/// status to the surface's status and body); every other response passes unchanged. The
/// response's headers are kept, but for its content type and length.
async fn rewrite<B: serde::Serialize>(
    response: Response,
    render: impl FnOnce(&NativeProblem, StatusCode) -> (StatusCode, B),
) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem = match axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await {
        Ok(bytes) => serde_json::from_slice::<NativeProblem>(&bytes).ok(),
        Err(_) => None,
    }
    .unwrap_or_else(|| {
        tracing::error!("a problem document could not be read to rewrite it");
        NativeProblem { code: "internal".to_owned(), detail: String::new() }
    });
    let (status, body) = render(&problem, parts.status);
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(serde_json::to_vec(&body).unwrap_or_default()))
}

/// A message in a mapping table: fixed text, or the native problem's `detail`.
#[derive(Debug, Clone, Copy)]
enum Text {
    Fixed(&'static str),
    Detail,
}

impl Text {
    fn render(self, problem: &NativeProblem) -> String {
        match self {
            Text::Fixed(text) => text.to_owned(),
            Text::Detail => problem.detail.clone(),
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use crate::error::CODES;

    #[test]
    fn paths_belong_to_their_surface() {
        use super::Surface::{self, *};
        for (path, surface) in [
            ("/status/media", Some(Wuts)),
            ("/status/text", Some(Wuts)),
            ("/status/other", None),
            ("/api/whatsapp/session-1/update-status", Some(WalyticUpdate)),
            ("/api/whatsapp/session-1/status", Some(WalyticStatus)),
            ("/api/whatsapp/session-1/status/x", None),
            ("/api/whatsapp/", None),
            ("/v1/sessions", None),
        ] {
            assert_eq!(Surface::of(path), surface, "{path}");
        }
    }

    /// Every code a table maps is a real native code, once.
    #[test]
    fn the_tables_map_native_codes() {
        let tables: [(&str, Vec<&str>); 2] = [
            ("wuts", super::wuts::ERRORS.iter().map(|row| row.0).collect()),
            ("walytic", super::walytic::ERRORS.iter().map(|row| row.0).collect()),
        ];
        for (surface, codes) in tables {
            let mut seen = std::collections::HashSet::new();
            for code in codes {
                assert!(CODES.iter().any(|(c, _, _)| *c == code), "{surface}: {code} is not a native code");
                assert!(seen.insert(code), "{surface}: {code} twice");
            }
        }
    }

    /// Every way a publish can fail has a deliberate answer on each surface.
    #[test]
    fn the_tables_cover_every_publish_failure() {
        let publish_codes =
            CODES.iter().map(|(c, _, _)| *c).filter(|c| c.starts_with("media_") || c.starts_with("video_"));
        let failures = wastatus_domain::FailureCode::ALL.into_iter().map(|f| f.as_str());
        let request = [
            "unauthorized",
            "forbidden",
            "rate_limited",
            "publish_pace_exceeded",
            "malformed_json",
            "invalid_request",
            "payload_too_large",
            "caption_too_long",
            "text_too_long",
            "invalid_color",
            "unknown_font",
            "session_not_found",
        ];
        for code in publish_codes.chain(failures).chain(request) {
            assert!(super::wuts::ERRORS.iter().any(|row| row.0 == code), "wuts: {code}");
            assert!(super::walytic::ERRORS.iter().any(|row| row.0 == code), "walytic: {code}");
        }
    }
}
