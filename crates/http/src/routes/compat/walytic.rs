//! The Walytic-style surface: `POST /api/whatsapp/{sessionId}/update-status` and
//! `GET /api/whatsapp/{sessionId}/status`.
//!
//! The session is named in the path, within the caller's tenant; the caller presents an API key
//! (`x-api-key`) or a JWT (`Authorization: Bearer`). Answers are `{success: true, …}` with
//! camelCase members, and errors `{success: false, message, error?}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wastatus_domain::service::{PublishContent, PublishMode, PublishStatus};
use wastatus_domain::{
    BackgroundColor, Caption, Font, MediaInput, MediaSource, SessionState, Status, StatusContent, StatusText,
    TextStatus,
};

use super::Text::{Detail, Fixed};
use super::{NativeProblem, Text, rfc3339_z, status};
use crate::ApiState;
use crate::error::ApiError;
use crate::extract::scope::{SessionsRead, StatusesWrite};
use crate::extract::{ApiJson, SessionPath};
use crate::routes::dto::FontInput;
use crate::routes::statuses::run_publish;

/// The `message` of an error.
#[derive(Debug, Clone, Copy)]
pub enum Message {
    /// What the route failed to do: "Failed to update status" or "Failed to get session
    /// status".
    Operation,
    Is(Text),
}

use Message::{Is, Operation};

/// The `message` of an error, and its `error` (no such member when `None`).
pub type Shape = (Message, Option<Text>);

const SESSION: Shape = (Operation, Some(Fixed("Session not found or not connected")));
const NOT_IMAGE_OR_VIDEO: Shape = (Is(Fixed("Only image or video types allowed for status")), None);
const INVALID_BODY: Shape = (Is(Fixed("Invalid request body")), Some(Detail));
const VALIDATION: Shape = (Is(Fixed("Validation failed")), Some(Detail));
const INVALID_URL: Shape = (Is(Fixed("Invalid fileUrl")), Some(Detail));
const DOWNLOAD: Shape = (Is(Fixed("Failed to download media")), Some(Detail));
const INVALID_MEDIA: Shape = (Is(Fixed("Invalid media")), Some(Detail));
const TOO_LARGE: Shape = (Is(Fixed("File too large")), Some(Detail));
const RATE_LIMITED: Shape = (Is(Fixed("Too many requests")), Some(Detail));
const WHATSAPP: Shape = (Operation, Some(Detail));

/// Native code → (HTTP status, (`message`, `error`)); no `error` member when `None`. A code not
/// listed keeps its native status, with the operation's failure as `message` and the native
/// detail as `error`.
pub const ERRORS: &[(&str, u16, Shape)] = &[
    // Credentials, scope and the request rate (the `Auth` extractor).
    ("unauthorized", 401, (Is(Fixed("Unauthorized")), Some(Detail))),
    ("forbidden", 403, (Is(Fixed("Forbidden")), Some(Detail))),
    ("rate_limited", 429, RATE_LIMITED),
    ("publish_pace_exceeded", 429, RATE_LIMITED),
    // The session in the path: unknown (in this tenant) or not connected.
    ("session_not_found", 404, SESSION),
    ("device_disconnected", 404, SESSION),
    ("not_paired", 404, SESSION),
    ("logged_out", 404, SESSION),
    // The body.
    ("malformed_json", 400, INVALID_BODY),
    ("invalid_request", 400, INVALID_BODY),
    ("unsupported_media_type", 400, INVALID_BODY),
    ("payload_too_large", 413, TOO_LARGE),
    ("media_missing", 400, (Is(Detail), None)),
    ("media_ambiguous", 400, INVALID_BODY),
    ("empty_text", 400, VALIDATION),
    ("text_too_long", 400, VALIDATION),
    ("caption_too_long", 400, VALIDATION),
    ("invalid_color", 400, VALIDATION),
    ("unknown_font", 400, VALIDATION),
    // The file at `fileUrl`.
    ("media_invalid_url", 400, INVALID_URL),
    ("media_scheme_not_allowed", 400, INVALID_URL),
    ("media_blocked_address", 400, INVALID_URL),
    ("media_unresolvable_host", 502, DOWNLOAD),
    ("media_too_many_redirects", 502, DOWNLOAD),
    ("media_origin_error", 502, DOWNLOAD),
    ("media_fetch_failed", 502, DOWNLOAD),
    ("media_fetch_timeout", 504, (Is(Fixed("Timed out downloading media")), Some(Detail))),
    ("media_too_large", 413, TOO_LARGE),
    ("media_empty", 400, NOT_IMAGE_OR_VIDEO),
    ("media_unsupported_type", 400, NOT_IMAGE_OR_VIDEO),
    ("media_type_mismatch", 400, NOT_IMAGE_OR_VIDEO),
    ("media_invalid_base64", 400, INVALID_MEDIA),
    ("media_corrupt", 400, INVALID_MEDIA),
    ("media_too_many_pixels", 400, INVALID_MEDIA),
    ("media_dimensions_unsupported", 400, INVALID_MEDIA),
    ("video_missing_moov", 400, INVALID_MEDIA),
    ("video_too_long", 400, INVALID_MEDIA),
    ("video_unsupported_codec", 400, INVALID_MEDIA),
    ("video_no_video_track", 400, INVALID_MEDIA),
    // WhatsApp.
    ("upload_failed", 502, (Operation, Some(Fixed("Failed to upload media to WhatsApp")))),
    ("upload_timeout", 504, (Operation, Some(Fixed("Upload to WhatsApp timed out")))),
    ("device_error", 502, WHATSAPP),
    ("server_rejected", 502, WHATSAPP),
    ("outcome_unknown", 502, WHATSAPP),
    ("no_recipients", 422, WHATSAPP),
    ("driver_unavailable", 503, WHATSAPP),
    ("method_not_allowed", 405, (Is(Fixed("Method not allowed")), Some(Detail))),
    ("internal", 500, (Operation, Some(Fixed("Internal server error")))),
];

/// The Walytic body for a native problem, on a route that failed to do `operation`.
fn render(operation: &'static str, problem: &NativeProblem, native_status: StatusCode) -> (StatusCode, WalyticError) {
    let (code, (message, error)) = match ERRORS.iter().find(|row| row.0 == problem.code) {
        Some(&(_, code, shape)) => (status(code), shape),
        None => (native_status, WHATSAPP),
    };
    let message = match message {
        Operation => operation.to_owned(),
        Is(text) => text.render(problem),
    };
    (code, WalyticError { success: false, message, error: error.map(|e| e.render(problem)) })
}

pub async fn rewrite_update_status(response: Response) -> Response {
    super::rewrite(response, |problem, native| render("Failed to update status", problem, native)).await
}

pub async fn rewrite_session_status(response: Response) -> Response {
    super::rewrite(response, |problem, native| render("Failed to get session status", problem, native)).await
}

/// A status update: an image or video from `fileUrl`, or, with only a `caption`, a text status.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalyticUpdateStatusRequest {
    /// An `https` URL of a JPEG, PNG or WEBP image or an MP4 or MOV video. Whether it is an
    /// image or a video is read from the file itself.
    #[schema(example = "https://res.cloudinary.com/demo/image/upload/sample.jpg")]
    pub file_url: Option<String>,
    /// The caption of the image or video, or, without `fileUrl`, the text of a text status
    /// (1 to 700 characters).
    #[schema(example = "My weekend vibes")]
    pub caption: Option<String>,
    /// For a text status: `#RRGGBB` or `#AARRGGBB`; `#101010` when omitted.
    #[schema(example = "#101010")]
    pub background_color: Option<String>,
    /// For a text status: a name (`SANS_SERIF`, `SERIF`, `NORICAN_REGULAR`, …) or protocol
    /// number (0–10); `SANS_SERIF` when omitted.
    pub font: Option<FontInput>,
}

/// The status is published: WhatsApp confirmed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalyticUpdated {
    #[schema(example = true)]
    pub success: bool,
    #[schema(example = "WhatsApp status updated successfully")]
    pub message: &'static str,
    pub data: WalyticUpdatedData,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalyticUpdatedData {
    #[schema(example = "session-919876543210")]
    pub session_id: String,
    /// `image`, `video` or `text`.
    #[schema(example = "image")]
    pub media_type: &'static str,
    /// The caption, or the text of a text status; absent for media without a caption.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Good Morning")]
    pub caption: Option<String>,
    /// When it was published: RFC 3339, in seconds, UTC.
    #[schema(example = "2025-10-27T06:21:11Z")]
    pub timestamp: String,
    /// WhatsApp's message id (a wastatus addition).
    #[schema(example = "3EB0A1B2C3D4E5F6A7B8C9D0")]
    pub message_id: String,
    /// The status's id in wastatus, for `GET /v1/statuses/{status_id}` (a wastatus addition).
    pub status_id: uuid::Uuid,
}

impl From<&Status> for WalyticUpdated {
    fn from(status: &Status) -> Self {
        let caption = match status.content() {
            StatusContent::Text(text) => Some(text.text.as_str().to_owned()),
            StatusContent::Image(m) | StatusContent::Video(m) => m.caption.as_ref().map(|c| c.as_str().to_owned()),
        };
        Self {
            success: true,
            message: "WhatsApp status updated successfully",
            data: WalyticUpdatedData {
                session_id: status.session().id.to_string(),
                media_type: status.status_type().as_str(),
                caption,
                timestamp: rfc3339_z(status.published_at().unwrap_or_else(|| status.updated_at())),
                message_id: status.message_id().map(|m| m.as_str().to_owned()).unwrap_or_default(),
                status_id: *status.id().as_uuid(),
            },
        }
    }
}

/// A session's connection state.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalyticSessionStatus {
    #[schema(example = true)]
    pub success: bool,
    pub data: WalyticSessionStatusData,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalyticSessionStatusData {
    #[schema(example = "session-919876543210")]
    pub session_id: String,
    /// `pairing`, `connected`, `disconnected` or `logged_out`.
    #[schema(example = "connected")]
    pub status: &'static str,
    /// Whether statuses can be published now.
    pub connected: bool,
}

/// `{success: false, message, error?}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalyticError {
    #[schema(example = false)]
    pub success: bool,
    #[schema(example = "Failed to update status")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Session not found or not connected")]
    pub error: Option<String>,
}

/// Publish a status through a session (Walytic-compatible).
///
/// With `fileUrl`, the file is fetched and published as an image or video (read from its
/// bytes) with `caption`; with only `caption`, a text status with `backgroundColor` and `font`.
/// Waits for WhatsApp's confirmation. Errors use the Walytic shape, not problem+json.
#[utoipa::path(post, path = "/api/whatsapp/{sessionId}/update-status", tag = "compat-walytic",
    params(("sessionId" = String, Path, description = "The session's id")),
    request_body = WalyticUpdateStatusRequest,
    responses(
        (status = 200, body = WalyticUpdated),
        (status = 400, description = "No `fileUrl` and no `caption`; a file that is not an image or video (`Only image or video types allowed for status`); an invalid `fileUrl`, colour, font, or a caption too long", body = WalyticError),
        (status = 401, description = "No valid API key or JWT", body = WalyticError),
        (status = 403, description = "The credential lacks `statuses:write`", body = WalyticError),
        (status = 404, description = "`Session not found or not connected` (unknown, not paired, disconnected, logged out)", body = WalyticError),
        (status = 413, description = "The file is too large", body = WalyticError),
        (status = 429, description = "Too many requests (with `Retry-After`)", body = WalyticError),
        (status = 502, description = "The file could not be downloaded; the upload to WhatsApp failed; WhatsApp refused the message", body = WalyticError),
        (status = 503, description = "The server cannot run WhatsApp in its configuration", body = WalyticError),
        (status = 504, description = "Downloading the file or uploading it to WhatsApp timed out", body = WalyticError),
    ), security(("api_key" = ["statuses:write"]), ("bearer" = ["statuses:write"])))]
pub async fn update_status(
    State(state): State<ApiState>,
    SessionPath(session, _): SessionPath<StatusesWrite>,
    ApiJson(body): ApiJson<WalyticUpdateStatusRequest>,
) -> Result<Json<WalyticUpdated>, ApiError> {
    let command = PublishStatus {
        session,
        content: update_content(body)?,
        view_once: false,
        audience: Default::default(),
        mode: PublishMode::Now,
    };
    let status = run_publish(&state, command).await?;
    Ok(Json(WalyticUpdated::from(&status)))
}

/// A session's connection state (Walytic-compatible).
#[utoipa::path(get, path = "/api/whatsapp/{sessionId}/status", tag = "compat-walytic",
    params(("sessionId" = String, Path, description = "The session's id")),
    responses(
        (status = 200, body = WalyticSessionStatus),
        (status = 401, description = "No valid API key or JWT", body = WalyticError),
        (status = 403, description = "The credential lacks `sessions:read`", body = WalyticError),
        (status = 404, description = "No such session", body = WalyticError),
        (status = 429, description = "Too many requests (with `Retry-After`)", body = WalyticError),
    ), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn session_status(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsRead>,
) -> Result<Json<WalyticSessionStatus>, ApiError> {
    let session = state.sessions.get(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(WalyticSessionStatus {
        success: true,
        data: WalyticSessionStatusData {
            session_id: session.key.id.to_string(),
            status: session.state.as_str(),
            connected: session.state == SessionState::Connected,
        },
    }))
}

/// The content of an update: a caption alone is a text status; a file is an image or a video,
/// whichever its bytes are.
fn update_content(body: WalyticUpdateStatusRequest) -> Result<PublishContent, ApiError> {
    let WalyticUpdateStatusRequest { file_url, caption, background_color, font } = body;
    if let Some(url) = file_url.filter(|u| !u.trim().is_empty()) {
        let caption = caption.map(Caption::new).transpose()?.flatten();
        let input = MediaInput { source: MediaSource::Url(url), declared_mime: None };
        return Ok(PublishContent::Media { kind: None, caption, input });
    }
    let Some(text) = caption.filter(|c| !c.trim().is_empty()) else {
        return Err(ApiError::new("media_missing", "fileUrl or caption is required"));
    };
    let background_color = match background_color {
        Some(raw) => raw.parse::<BackgroundColor>()?,
        None => BackgroundColor::DEFAULT,
    };
    let font = match font {
        None => Font::default(),
        Some(FontInput::Name(name)) => name.parse()?,
        Some(FontInput::Number(n)) => Font::try_from_code(n)?,
    };
    let text = StatusText::new(text)?;
    Ok(PublishContent::Text(TextStatus { text, background_color, font }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn caption_only_is_a_text_status_and_nothing_is_an_error() {
        let body = |v: serde_json::Value| serde_json::from_value::<WalyticUpdateStatusRequest>(v).unwrap();
        let content = update_content(body(json!({"caption": "Hi", "font": "SERIF"}))).unwrap();
        assert!(matches!(content, PublishContent::Text(TextStatus { font: Font::Serif, .. })));
        // The file's name says nothing: the bytes decide.
        let content = update_content(body(json!({"fileUrl": "https://x/y.mp4", "caption": "c"}))).unwrap();
        assert!(matches!(content, PublishContent::Media { kind: None, .. }));
        assert_eq!(update_content(body(json!({"fileUrl": " ", "caption": ""}))).unwrap_err().code(), "media_missing");
        assert_eq!(
            update_content(body(json!({"caption": "x", "backgroundColor": "red"}))).unwrap_err().code(),
            "invalid_color"
        );
    }

    #[test]
    fn errors_take_the_walytic_shape() {
        let problem = |code: &str| NativeProblem { code: code.to_owned(), detail: "why".to_owned() };
        let render = |operation, problem: &NativeProblem, status| {
            let (status, body) = render(operation, problem, status);
            (status, serde_json::to_value(body).unwrap())
        };
        let (status, body) =
            render("Failed to update status", &problem("device_disconnected"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"success": false, "message": "Failed to update status", "error": "Session not found or not connected"})
        );
        let (status, body) = render("x", &problem("media_unsupported_type"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status, 400);
        assert_eq!(body, json!({"success": false, "message": "Only image or video types allowed for status"}));
        let (status, body) = render("Failed to update status", &problem("qr_not_available"), StatusCode::CONFLICT);
        assert_eq!(status, 409);
        assert_eq!(body, json!({"success": false, "message": "Failed to update status", "error": "why"}));
    }
}
