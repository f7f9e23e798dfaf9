//! The WUTS-style surface: `POST /status/media` and `POST /status/text`.
//!
//! The caller is a user (a per-user token, or a JWT); the status goes out through the user's
//! device, the session created for them with `--user`. Answers are `200 {success: true, …}`, and
//! errors `{success: false, error: {code, message}}`, or for a request that does not validate
//! `422 {success: false, error: "validation failed", error_code: "VALIDATION_ERROR",
//! timestamp}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wastatus_domain::service::{PublishContent, PublishMode, PublishStatus};
use wastatus_domain::{
    BackgroundColor, Caption, Font, InvalidValue, MediaInput, MediaKind, MediaSource, Principal, SessionKey, Status,
    StatusContent, StatusText, TextStatus,
};

use super::Text::{self, Detail, Fixed};
use super::{NativeProblem, rfc3339_offset, rfc3339_z, status};
use crate::ApiState;
use crate::error::ApiError;
use crate::extract::scope::StatusesWrite;
use crate::extract::{ApiJson, Auth};
use crate::routes::dto::FontInput;
use crate::routes::statuses::run_publish;

/// How a native error reads on this surface.
#[derive(Debug, Clone, Copy)]
pub enum Wuts {
    /// `{success: false, error: {code, message}}`.
    Error(&'static str, Text),
    /// `{success: false, error: "validation failed", error_code: "VALIDATION_ERROR", timestamp}`.
    Validation,
}

use Wuts::{Error, Validation};

const DEVICE: Wuts = Error("device_error", Fixed("failed to resolve user device"));
const DISCONNECTED: Wuts = Error("device_disconnected", Fixed("whatsapp session is not connected"));
const INVALID_MEDIA: Wuts = Error("invalid_media", Detail);
const TOO_LARGE: Wuts = Error("payload_too_large", Detail);
const RATE_LIMITED: Wuts = Error("rate_limited", Detail);

/// Native code → (HTTP status, WUTS shape). A code not listed keeps its native status and
/// appears as `{code: <native code>, message: <detail>}`.
pub const ERRORS: &[(&str, u16, Wuts)] = &[
    // Credentials, scope and the request rate (the `Auth` extractor).
    ("unauthorized", 401, Error("unauthorized", Fixed("missing or invalid bearer token"))),
    ("forbidden", 403, Error("forbidden", Detail)),
    ("rate_limited", 429, RATE_LIMITED),
    ("publish_pace_exceeded", 429, RATE_LIMITED),
    // The body: not JSON, the wrong shape, values that do not validate.
    ("malformed_json", 422, Validation),
    ("invalid_request", 422, Validation),
    ("unsupported_media_type", 422, Validation),
    ("unsupported_status_type", 422, Validation),
    ("caption_too_long", 422, Validation),
    ("empty_text", 422, Validation),
    ("text_too_long", 422, Validation),
    ("invalid_color", 422, Validation),
    ("unknown_font", 422, Validation),
    ("payload_too_large", 413, TOO_LARGE),
    // The media: missing, both, or not usable.
    ("media_missing", 400, Error("invalid_media", Fixed("either data or url must be provided"))),
    ("media_ambiguous", 400, Error("invalid_media", Fixed("provide either data or url, not both"))),
    ("media_invalid_base64", 400, INVALID_MEDIA),
    ("media_empty", 400, INVALID_MEDIA),
    ("media_unsupported_type", 400, INVALID_MEDIA),
    ("media_type_mismatch", 400, INVALID_MEDIA),
    ("media_corrupt", 400, INVALID_MEDIA),
    ("media_too_many_pixels", 400, INVALID_MEDIA),
    ("media_dimensions_unsupported", 400, INVALID_MEDIA),
    ("video_missing_moov", 400, INVALID_MEDIA),
    ("video_too_long", 400, INVALID_MEDIA),
    ("video_unsupported_codec", 400, INVALID_MEDIA),
    ("video_no_video_track", 400, INVALID_MEDIA),
    ("media_invalid_url", 400, INVALID_MEDIA),
    ("media_scheme_not_allowed", 400, INVALID_MEDIA),
    ("media_blocked_address", 400, INVALID_MEDIA),
    ("media_unresolvable_host", 400, INVALID_MEDIA),
    ("media_too_many_redirects", 400, INVALID_MEDIA),
    ("media_origin_error", 400, INVALID_MEDIA),
    ("media_fetch_failed", 400, INVALID_MEDIA),
    ("media_fetch_timeout", 400, INVALID_MEDIA),
    ("media_too_large", 413, TOO_LARGE),
    // The user's device and WhatsApp.
    ("no_device", 404, DEVICE),
    ("session_not_found", 404, DEVICE),
    ("device_error", 404, DEVICE),
    ("device_disconnected", 503, DISCONNECTED),
    ("not_paired", 503, DISCONNECTED),
    ("logged_out", 503, DISCONNECTED),
    ("upload_failed", 502, Error("upload_failed", Fixed("failed to upload media to whatsapp"))),
    ("upload_timeout", 504, Error("upload_timeout", Fixed("context deadline exceeded"))),
    ("server_rejected", 502, Error("server_rejected", Detail)),
    ("outcome_unknown", 502, Error("outcome_unknown", Detail)),
    ("no_recipients", 422, Error("no_recipients", Detail)),
    ("driver_unavailable", 503, Error("driver_unavailable", Detail)),
    ("internal", 500, Error("internal", Fixed("internal server error"))),
];

/// The WUTS body for a native problem.
fn render(problem: &NativeProblem, native_status: StatusCode) -> (StatusCode, WutsBody) {
    let (code, shape) = match ERRORS.iter().find(|row| row.0 == problem.code) {
        Some(&(_, code, shape)) => (status(code), shape),
        None => (native_status, Error("", Detail)),
    };
    let body = match shape {
        Validation => WutsBody::Validation(WutsValidationError {
            success: false,
            error: "validation failed".to_owned(),
            error_code: "VALIDATION_ERROR".to_owned(),
            timestamp: rfc3339_z(chrono::Utc::now()),
            details: problem.detail.clone(),
        }),
        Error(wuts_code, message) => {
            let code = if wuts_code.is_empty() { problem.code.clone() } else { wuts_code.to_owned() };
            WutsBody::Error(WutsError {
                success: false,
                error: WutsErrorDetail { code, message: message.render(problem) },
            })
        }
    };
    (code, body)
}

/// Either error shape.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WutsBody {
    Error(WutsError),
    Validation(WutsValidationError),
}

pub async fn rewrite(response: Response) -> Response {
    super::rewrite(response, render).await
}

/// An image or video status. Give the media as base64 in `data` or as a `url` to fetch.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WutsMediaRequest {
    /// `image` or `video`; inferred from `mime_type` when omitted (`image/*`, `video/*`), and
    /// from the bytes when both are omitted.
    #[schema(example = "image")]
    pub media_type: Option<String>,
    /// The type of the media (`image/jpeg`, `video/mp4`, …); it must agree with the bytes.
    #[schema(example = "image/jpeg")]
    pub mime_type: Option<String>,
    /// The file as base64 (standard or URL-safe; a `data:` URL is accepted too).
    pub data: Option<String>,
    /// An `https` URL the server fetches.
    #[schema(example = "https://cdn.example.com/promos/today.jpg")]
    pub url: Option<String>,
    /// Up to 1024 characters.
    #[schema(example = "Flash sale ends tonight!")]
    pub caption: Option<String>,
    /// Ask viewers' phones not to keep the status.
    #[serde(default)]
    pub view_once: bool,
}

/// A text status.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WutsTextRequest {
    /// 1 to 700 characters.
    #[schema(example = "Flash sale ends tonight!")]
    pub text: Option<String>,
    /// `#RRGGBB` or `#AARRGGBB`; `#101010` when omitted.
    #[schema(example = "#25D366")]
    pub background_color: Option<String>,
    /// A name (`SANS_SERIF`, `SERIF`, `NORICAN_REGULAR`, …) or protocol number (0–10);
    /// `SANS_SERIF` when omitted.
    pub font: Option<FontInput>,
}

/// The status is published: WhatsApp confirmed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WutsPublished {
    #[schema(example = true)]
    pub success: bool,
    /// WhatsApp's message id.
    #[schema(example = "3EB0A1B2C3D4E5F6A7B8C9D0")]
    pub message_id: String,
    /// When it was published: RFC 3339, in seconds, with a numeric offset.
    #[schema(example = "2026-06-15T14:35:11+00:00")]
    pub timestamp: String,
    /// `image`, `video` or `text`.
    #[schema(example = "image")]
    pub status_type: &'static str,
    /// The type of what was published: images are sent as `image/jpeg`, videos as they came
    /// (`video/mp4`, `video/quicktime`); `text/plain` for a text status.
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
}

impl From<&Status> for WutsPublished {
    fn from(status: &Status) -> Self {
        let mime_type = match status.content() {
            StatusContent::Text(_) => "text/plain".to_owned(),
            StatusContent::Image(m) | StatusContent::Video(m) => m.media.mime_type.clone(),
        };
        Self {
            success: true,
            message_id: status.message_id().map(|m| m.as_str().to_owned()).unwrap_or_default(),
            timestamp: rfc3339_offset(status.published_at().unwrap_or_else(|| status.updated_at())),
            status_type: status.status_type().as_str(),
            mime_type,
        }
    }
}

/// `{success: false, error: {code, message}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WutsError {
    #[schema(example = false)]
    pub success: bool,
    pub error: WutsErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WutsErrorDetail {
    /// `invalid_media`, `unauthorized`, `forbidden`, `rate_limited`, `payload_too_large`,
    /// `device_error`, `device_disconnected`, `upload_failed`, `upload_timeout`,
    /// `server_rejected`, `internal`.
    #[schema(example = "invalid_media")]
    pub code: String,
    #[schema(example = "either data or url must be provided")]
    pub message: String,
}

/// A request that does not validate.
#[derive(Debug, Serialize, ToSchema)]
pub struct WutsValidationError {
    #[schema(example = false)]
    pub success: bool,
    #[schema(example = "validation failed")]
    pub error: String,
    #[schema(example = "VALIDATION_ERROR")]
    pub error_code: String,
    /// When the request was refused (RFC 3339, UTC).
    #[schema(example = "2026-06-15T12:00:00Z")]
    pub timestamp: String,
    /// What did not validate (a wastatus addition).
    #[schema(example = "the caption has 1100 characters; a status allows at most 1024")]
    pub details: String,
}

/// Publish an image or video status through the caller's device (WUTS-compatible).
///
/// Waits for WhatsApp's confirmation. The caller is a user (`Authorization: Bearer <per-user
/// token>`, or a JWT); the status goes out through the session created for that user with
/// `wastatus admin session create --user`. Errors use the WUTS shapes, not problem+json.
#[utoipa::path(post, path = "/status/media", tag = "compat-wuts",
    request_body = WutsMediaRequest,
    responses(
        (status = 200, body = WutsPublished),
        (status = 400, description = "`invalid_media`: no `data` and no `url`, both, bad base64, bytes that are not a supported image or video, a type mismatch, a URL that cannot be fetched", body = WutsError),
        (status = 401, description = "`unauthorized`", body = WutsError),
        (status = 403, description = "`forbidden`: the credential lacks `statuses:write`", body = WutsError),
        (status = 404, description = "`device_error`: the caller has no device, or the device refused the message", body = WutsError),
        (status = 413, description = "`payload_too_large`", body = WutsError),
        (status = 422, description = "Malformed JSON, wrong field types, an unknown `media_type`, a caption too long", body = WutsValidationError),
        (status = 429, description = "`rate_limited` (with `Retry-After`)", body = WutsError),
        (status = 502, description = "`upload_failed`, `server_rejected`", body = WutsError),
        (status = 503, description = "`device_disconnected` (also when not paired or logged out)", body = WutsError),
        (status = 504, description = "`upload_timeout`", body = WutsError),
    ), security(("bearer" = ["statuses:write"])))]
pub async fn media(
    State(state): State<ApiState>,
    auth: Auth<StatusesWrite>,
    ApiJson(body): ApiJson<WutsMediaRequest>,
) -> Result<Json<WutsPublished>, ApiError> {
    let media = media_content(body)?;
    let session = device(&state, &auth.principal).await?;
    let command = PublishStatus {
        session,
        content: media.content,
        view_once: media.view_once,
        audience: Default::default(),
        mode: PublishMode::Now,
    };
    let status = run_publish(&state, command).await?;
    Ok(Json(WutsPublished::from(&status)))
}

/// Publish a text status through the caller's device (WUTS-compatible).
///
/// Like `POST /status/media`, for a text status; `status_type` is `text` and `mime_type`
/// `text/plain`.
#[utoipa::path(post, path = "/status/text", tag = "compat-wuts",
    request_body = WutsTextRequest,
    responses(
        (status = 200, body = WutsPublished),
        (status = 401, description = "`unauthorized`", body = WutsError),
        (status = 403, description = "`forbidden`: the credential lacks `statuses:write`", body = WutsError),
        (status = 404, description = "`device_error`: the caller has no device, or the device refused the message", body = WutsError),
        (status = 422, description = "Malformed JSON, wrong field types, empty or too long `text`, an invalid `background_color` or `font`", body = WutsValidationError),
        (status = 429, description = "`rate_limited` (with `Retry-After`)", body = WutsError),
        (status = 502, description = "`upload_failed`, `server_rejected`", body = WutsError),
        (status = 503, description = "`device_disconnected` (also when not paired or logged out)", body = WutsError),
        (status = 504, description = "`upload_timeout`", body = WutsError),
    ), security(("bearer" = ["statuses:write"])))]
pub async fn text(
    State(state): State<ApiState>,
    auth: Auth<StatusesWrite>,
    ApiJson(body): ApiJson<WutsTextRequest>,
) -> Result<Json<WutsPublished>, ApiError> {
    let text = text_content(body)?;
    let session = device(&state, &auth.principal).await?;
    let command = PublishStatus {
        session,
        content: PublishContent::Text(text),
        view_once: false,
        audience: Default::default(),
        mode: PublishMode::Now,
    };
    let status = run_publish(&state, command).await?;
    Ok(Json(WutsPublished::from(&status)))
}

/// The caller's device: the session their user owns (an API key has none).
async fn device(state: &ApiState, principal: &Principal) -> Result<SessionKey, ApiError> {
    let session = state.sessions.device_of(principal.tenant, principal.user).await.map_err(ApiError::from_use_case)?;
    Ok(session.key)
}

/// A media request as the parts of a command.
struct MediaContent {
    content: PublishContent,
    view_once: bool,
}

/// Declared types that say nothing about the media.
const UNSPECIFIC_TYPES: [&str; 4] = ["", "application/octet-stream", "binary/octet-stream", "*/*"];

fn media_content(body: WutsMediaRequest) -> Result<MediaContent, ApiError> {
    let WutsMediaRequest { media_type, mime_type, data, url, caption, view_once } = body;
    let essence = mime_type.as_deref().map(|m| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let from_mime =
        essence.filter(|e| !UNSPECIFIC_TYPES.contains(&e.as_str())).map(|mime| match mime.split('/').next() {
            Some("image") => Ok(MediaKind::Image),
            Some("video") => Ok(MediaKind::Video),
            _ => Err(ApiError::new(
                "media_unsupported_type",
                format!("mime_type {mime:?} is not an image or video type; statuses are images or videos"),
            )),
        });
    let kind = match media_type.as_deref().map(str::trim) {
        Some(name) => {
            let kind = match name.to_ascii_lowercase().as_str() {
                "image" => MediaKind::Image,
                "video" => MediaKind::Video,
                _ => {
                    return Err(InvalidValue::new(
                        "media_type",
                        "unsupported_status_type",
                        format!("media_type {name:?} is not supported; use image or video"),
                    )
                    .into());
                }
            };
            if let Some(Ok(implied)) = from_mime
                && implied != kind
            {
                return Err(ApiError::new(
                    "media_type_mismatch",
                    format!("media_type is {kind} but mime_type is {:?}", mime_type.unwrap_or_default()),
                ));
            }
            Some(kind)
        }
        // Neither `media_type` nor a specific `mime_type`: the bytes decide.
        None => from_mime.transpose()?,
    };
    let source = match (data, url) {
        (Some(data), None) => MediaSource::Base64(data),
        (None, Some(url)) => MediaSource::Url(url),
        (None, None) => return Err(ApiError::new("media_missing", "either data or url must be provided")),
        (Some(_), Some(_)) => return Err(ApiError::new("media_ambiguous", "provide either data or url, not both")),
    };
    let caption = caption.map(Caption::new).transpose()?.flatten();
    let input = MediaInput { source, declared_mime: mime_type };
    Ok(MediaContent { content: PublishContent::Media { kind, caption, input }, view_once })
}

fn text_content(body: WutsTextRequest) -> Result<TextStatus, ApiError> {
    let text = body.text.ok_or_else(|| InvalidValue::new("text", "empty_text", "a text status needs `text`"))?;
    let background_color = match body.background_color {
        Some(raw) => raw.parse::<BackgroundColor>()?,
        None => BackgroundColor::DEFAULT,
    };
    let font = match body.font {
        None => Font::default(),
        Some(FontInput::Name(name)) => name.parse()?,
        Some(FontInput::Number(n)) => Font::try_from_code(n)?,
    };
    Ok(TextStatus { text: StatusText::new(text)?, background_color, font })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kind_of(body: serde_json::Value) -> Result<Option<MediaKind>, &'static str> {
        let body: WutsMediaRequest = serde_json::from_value(body).unwrap();
        match media_content(body) {
            Ok(MediaContent { content: PublishContent::Media { kind, .. }, .. }) => Ok(kind),
            Ok(_) => unreachable!(),
            Err(e) => Err(e.code()),
        }
    }

    #[test]
    fn the_kind_comes_from_media_type_then_mime_type_then_the_bytes() {
        let url = "https://cdn.example/x";
        assert_eq!(kind_of(json!({"media_type": "video", "url": url})), Ok(Some(MediaKind::Video)));
        assert_eq!(kind_of(json!({"mime_type": "video/mp4", "url": url})), Ok(Some(MediaKind::Video)));
        assert_eq!(kind_of(json!({"mime_type": "image/png", "url": url})), Ok(Some(MediaKind::Image)));
        assert_eq!(kind_of(json!({"url": url})), Ok(None));
        assert_eq!(kind_of(json!({"mime_type": "application/octet-stream", "url": url})), Ok(None));
        assert_eq!(kind_of(json!({"media_type": "audio", "url": url})), Err("unsupported_status_type"));
        assert_eq!(kind_of(json!({"mime_type": "application/pdf", "url": url})), Err("media_unsupported_type"));
        assert_eq!(
            kind_of(json!({"media_type": "image", "mime_type": "video/mp4", "url": url})),
            Err("media_type_mismatch")
        );
        assert_eq!(kind_of(json!({"media_type": "image"})), Err("media_missing"));
        assert_eq!(kind_of(json!({"media_type": "image", "url": url, "data": "AA=="})), Err("media_ambiguous"));
    }

    #[test]
    fn errors_take_the_wuts_shapes() {
        let problem = |code: &str| NativeProblem { code: code.to_owned(), detail: "why".to_owned() };
        let render = |code: &str, status| {
            let (status, body) = render(&problem(code), status);
            (status, serde_json::to_value(body).unwrap())
        };
        let (status, body) = render("media_missing", StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"success": false, "error": {"code": "invalid_media", "message": "either data or url must be provided"}})
        );
        let (status, body) = render("caption_too_long", StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status, 422);
        assert_eq!(
            (body["error"].as_str(), body["error_code"].as_str()),
            (Some("validation failed"), Some("VALIDATION_ERROR"))
        );
        let (status, body) = render("qr_not_available", StatusCode::CONFLICT);
        assert_eq!(status, 409);
        assert_eq!(body, json!({"success": false, "error": {"code": "qr_not_available", "message": "why"}}));
    }
}
