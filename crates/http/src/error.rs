//! Errors as RFC 9457 problem documents, and the one table of error codes.
//!
//! Every error a client can see has a stable snake_case `code`. The table below gives each code
//! its HTTP status and title; use cases supply the code (`ErrorCode`), this module renders it.
//! Internal causes are logged with the request id and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use wastatus_domain::InvalidValue;
use wastatus_domain::service::ErrorCode;

/// (code, HTTP status, title). Clients switch on the code; the title is for humans.
pub const CODES: &[(&str, u16, &str)] = &[
    // The request itself.
    ("malformed_json", 400, "The body is not valid JSON"),
    ("unauthorized", 401, "Missing or invalid credentials"),
    ("forbidden", 403, "The credential lacks the scope this route needs"),
    ("rate_limited", 429, "Too many requests"),
    ("not_found", 404, "No such route"),
    ("method_not_allowed", 405, "Method not allowed on this route"),
    ("payload_too_large", 413, "The request body is too large"),
    ("unsupported_media_type", 415, "The body must be application/json"),
    ("invalid_request", 422, "The request does not match the expected shape"),
    // Validation of values.
    ("invalid_session_id", 422, "Invalid session id"),
    ("empty_text", 422, "The status text is empty"),
    ("text_too_long", 422, "The status text is too long"),
    ("invalid_color", 422, "Invalid background colour"),
    ("unknown_font", 422, "Unknown font"),
    ("invalid_phone_number", 422, "Invalid phone number"),
    ("invalid_name", 422, "Invalid name"),
    ("invalid_limit", 422, "Invalid page size"),
    ("invalid_cursor", 422, "Invalid pagination cursor"),
    ("invalid_state", 422, "Unknown status state"),
    ("unsupported_status_type", 422, "This status type is not supported"),
    ("invalid_fault", 422, "Unknown or invalid fault"),
    ("unsupported_audience", 422, "Unknown audience mode"),
    ("invalid_audience", 422, "The audience is not valid"),
    ("invalid_recipient", 422, "A recipient is not a phone number or JID"),
    ("empty_audience", 422, "The allowlist names nobody"),
    ("audience_too_large", 422, "The audience list is too long"),
    ("invalid_qr_format", 422, "Unknown QR code format"),
    ("invalid_scope", 422, "Unknown scope"),
    ("invalid_expiry", 422, "The expiry time is not in the future"),
    ("invalid_password", 422, "The password does not meet the rules"),
    ("invalid_publish_at", 422, "publish_at must be in the future"),
    ("invalid_idempotency_key", 422, "The Idempotency-Key header is not valid"),
    ("idempotency_key_reused", 422, "The Idempotency-Key was used with another request"),
    // Media.
    ("caption_too_long", 422, "The caption is too long"),
    ("media_missing", 422, "An image or video status needs media"),
    ("media_ambiguous", 422, "More than one source of media was given"),
    ("media_invalid_url", 422, "The media URL is not valid"),
    ("media_scheme_not_allowed", 422, "The media URL's scheme is not allowed"),
    ("media_blocked_address", 422, "The media URL points to a non-public address"),
    ("media_unresolvable_host", 422, "The media host could not be resolved"),
    ("media_too_many_redirects", 422, "The media URL redirected too often"),
    ("media_origin_error", 422, "The media server answered with an error"),
    ("media_fetch_timeout", 422, "Fetching the media took too long"),
    ("media_fetch_failed", 422, "The media could not be fetched"),
    ("media_too_large", 413, "The media is too large"),
    ("media_empty", 422, "The media is empty"),
    ("media_invalid_base64", 422, "The media data is not valid base64"),
    ("media_unsupported_type", 422, "The media is not a supported image or video"),
    ("media_type_mismatch", 422, "The declared type contradicts the media"),
    ("media_corrupt", 422, "The media is damaged or truncated"),
    ("media_too_many_pixels", 422, "The image has too many pixels"),
    ("media_dimensions_unsupported", 422, "The image is too wide or tall for JPEG"),
    ("video_missing_moov", 422, "The video has no index (moov box)"),
    ("video_too_long", 422, "The video is too long for a status"),
    ("video_unsupported_codec", 422, "The video codec is not supported"),
    ("video_no_video_track", 422, "The video has no video track"),
    // Resources.
    ("session_not_found", 404, "Session not found"),
    ("status_not_found", 404, "Status not found"),
    ("tenant_not_found", 404, "Tenant not found"),
    ("api_key_not_found", 404, "API key not found"),
    ("user_not_found", 404, "User not found"),
    ("no_device", 404, "The user owns no session"),
    ("scope_not_grantable", 403, "A credential cannot grant scopes it lacks"),
    ("user_already_exists", 409, "A user with this name already exists"),
    ("user_has_device", 409, "The user already owns a session"),
    ("publish_pace_exceeded", 429, "The session publishes too fast"),
    ("sandbox_only", 404, "Only available with the sandbox driver"),
    ("fault_not_applicable", 409, "The fault does not apply in the session's state"),
    ("session_already_exists", 409, "A session with this id already exists"),
    ("session_already_paired", 409, "The session is already paired"),
    ("qr_not_available", 409, "No QR code is available"),
    ("status_not_revocable", 409, "The status cannot be revoked"),
    ("idempotency_key_in_use", 409, "A request with this Idempotency-Key is still being handled"),
    ("not_paired", 409, "The session is not paired"),
    ("logged_out", 409, "The session was logged out"),
    ("session_logged_out", 409, "The session was logged out; pair it again"),
    // Webhooks.
    ("invalid_webhook_url", 422, "Invalid webhook URL"),
    ("webhook_scheme_not_allowed", 422, "The webhook URL's scheme is not allowed"),
    ("webhook_blocked_address", 422, "The webhook URL points to a non-public address"),
    ("webhook_unresolvable_host", 422, "The webhook host could not be resolved"),
    ("invalid_events", 422, "No event types given"),
    ("invalid_event_type", 422, "Unknown event type"),
    ("invalid_webhook_format", 422, "Unknown webhook format"),
    ("webhook_events_unsupported", 422, "The webhook format cannot carry these event types"),
    ("invalid_rotation_overlap", 422, "The previous secret cannot be kept that long"),
    ("webhook_not_found", 404, "Webhook not found"),
    ("delivery_not_found", 404, "Webhook delivery not found"),
    ("webhook_limit_reached", 409, "The tenant has as many webhooks as allowed"),
    ("webhook_disabled", 409, "The webhook is disabled"),
    // WhatsApp and the driver.
    ("device_disconnected", 503, "The WhatsApp session is not connected"),
    ("upload_failed", 502, "Media upload to WhatsApp failed"),
    ("upload_timeout", 504, "Media upload to WhatsApp timed out"),
    ("device_error", 502, "The WhatsApp device refused the message"),
    ("server_rejected", 502, "WhatsApp rejected the message"),
    ("driver_unavailable", 503, "The WhatsApp driver is not available"),
    ("no_recipients", 422, "Nobody in the audience can receive the status"),
    ("outcome_unknown", 502, "WhatsApp did not confirm the send; its outcome is unknown"),
    // The server.
    ("request_timeout", 503, "The request took too long"),
    ("not_ready", 503, "The service is not ready"),
    ("login_not_configured", 503, "Logging in is not configured"),
    ("internal", 500, "Internal error"),
];

fn lookup(code: &str) -> (StatusCode, &'static str) {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, status, title)| (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), title))
        .unwrap_or_else(|| {
            tracing::error!(code, "error code missing from the table");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        })
}

/// An RFC 9457 problem document, as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:wastatus:error:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// What went wrong in this case, in words a person can act on.
    pub detail: String,
    /// The stable, snake_case error code; clients switch on this.
    pub code: String,
    /// The field of the request at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Further members specific to the code (e.g. `status_id` and `resource` for a failed
    /// publish).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

const RESERVED: [&str; 7] = ["type", "title", "status", "detail", "instance", "code", "field"];

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    code: &'static str,
    detail: String,
    field: Option<&'static str>,
    extensions: Map<String, Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), field: None, extensions: Map::new(), headers: Vec::new() }
    }

    /// The error of a use case. An internal cause is logged here and replaced by a generic
    /// message.
    pub fn from_use_case<E: ErrorCode + std::fmt::Display + std::fmt::Debug>(error: E) -> Self {
        let code = error.code();
        if code == "internal" {
            tracing::error!(error = ?error, "internal error");
            return Self::internal();
        }
        Self::new(code, error.to_string())
    }

    pub fn internal() -> Self {
        Self::new("internal", "something went wrong on our side; the request id identifies it in the logs")
    }

    pub fn unauthorized() -> Self {
        Self::new(
            "unauthorized",
            "send a valid credential: an API key as X-Api-Key, or an API key, user token or JWT as Authorization: Bearer",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// A `429` telling the client when to try again (`Retry-After`, in whole seconds, rounded
    /// up so that a client that waits that long is admitted).
    pub fn rate_limited(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        Self::new("rate_limited", detail).with_retry_after(wait)
    }

    /// Adds `Retry-After` (whole seconds, rounded up, at least 1) and the same number as the
    /// `retry_after` member.
    pub fn with_retry_after(self, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs)).with_extension("retry_after", secs)
    }

    /// Adds a member to the problem document. The members RFC 9457 and this API define
    /// (`type`, `title`, `status`, `detail`, `instance`, `code`, `field`) cannot be replaced.
    pub fn with_extension(mut self, key: &str, value: impl Serialize) -> Self {
        debug_assert!(!RESERVED.contains(&key), "{key} is a reserved problem member");
        if RESERVED.contains(&key) {
            return self;
        }
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(key.to_owned(), value);
        }
        self
    }

    /// Names the request member at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    fn problem(&self) -> (StatusCode, Problem) {
        let (status, title) = lookup(self.code);
        let problem = Problem {
            type_uri: format!("urn:wastatus:error:{}", self.code),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            field: self.field.map(str::to_owned),
            extensions: self.extensions.clone(),
        };
        (status, problem)
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        Self { field: Some(e.field), ..Self::new(e.code, e.message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem) = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use wastatus_domain::FailureCode;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_errors() {
        let mut seen = HashSet::new();
        for &(code, status, _) in CODES {
            assert!(seen.insert(code), "{code} twice");
            let snake = code.starts_with(|c: char| c.is_ascii_lowercase())
                && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            assert!(snake, "{code}");
            assert!((400..600).contains(&status), "{code}");
        }
    }

    #[test]
    fn every_failure_a_status_can_have_is_in_the_table() {
        for failure in FailureCode::ALL {
            assert!(CODES.iter().any(|(c, _, _)| *c == failure.as_str()), "{failure}");
        }
    }

    #[test]
    fn a_problem_carries_code_status_and_field() {
        let e: ApiError = InvalidValue::new("background_color", "invalid_color", "nope").into();
        let (status, p) = e.problem();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(json["code"], "invalid_color");
        assert_eq!(json["field"], "background_color");
        assert_eq!(json["status"], 422);
        assert_eq!(json["type"], "urn:wastatus:error:invalid_color");
    }
}
