//! Status routes: publish, history, get, revoke.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use wastatus_domain::service::{PublishContent, PublishStatus, PublishStatusError};
use wastatus_domain::{
    self as domain, BackgroundColor, Caption, FailureCode, Font, InvalidValue, MediaInput, MediaKind, MediaSource,
    PageLimit, SessionKey, StatusQuery, StatusText, TextStatus,
};

use super::dto::{
    self, FontInput, MediaRequest, PublishStatusRequest, Status, StatusListQuery, StatusPage, decode_cursor,
    encode_cursor,
};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::{StatusesRead, StatusesWrite};
use crate::extract::{ApiJson, ApiQuery, SessionPath, StatusPath};

/// Publish a status (JSON, or a `multipart/form-data` upload) and wait for WhatsApp's
/// confirmation.
///
/// Answers `201` with the `published` status. If the send fails, the status is kept as `failed`
/// and the problem document names the reason in `code`, its id in `status_id` and the stored
/// status in `resource`.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/statuses", tag = "statuses",
    params(("session_id" = String, Path)),
    request_body(content(
        (PublishStatusRequest = "application/json"),
        (dto::PublishUpload = "multipart/form-data"),
    )),
    responses(
        (status = 201, body = Status, headers(("location" = String, description = "The status's URL"))),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_paired`, `logged_out`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`, `media_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`publish_pace_exceeded` (with `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`empty_text`, `text_too_long`, `invalid_color`, `unknown_font`, `caption_too_long`, `media_missing`, `media_ambiguous`, the `media_…` and `video_…` codes, `unsupported_status_type`, `invalid_request`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`upload_failed`, `device_error`, `server_rejected`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`device_disconnected`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`upload_timeout`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:write"]), ("bearer" = ["statuses:write"])))]
pub async fn publish(
    State(state): State<ApiState>,
    SessionPath(session, _): SessionPath<StatusesWrite>,
    body: PublishBody,
) -> Result<Response, ApiError> {
    let status = run_publish(&state, publish_command(session, body)?).await?;
    let location = format!("/v1/statuses/{}", status.id());
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(Status::from(&status))).into_response())
}

/// Runs a publish the way every route does (native and compatibility): fetching and preparing
/// media in the request, so a client that goes away, or a request that times out, abandons it
/// with nothing stored; then storing and sending in a task of its own, so a send is never cut
/// off between WhatsApp and storage.
///
/// A status that was stored and then failed comes back as the failure's code, with the
/// status's id in `status_id` and the stored status in `resource`.
pub(super) async fn run_publish(state: &ApiState, command: PublishStatus) -> Result<domain::Status, ApiError> {
    let ready = state.statuses.prepare(command).await.map_err(publish_error)?;
    let statuses = state.statuses.clone();
    let outcome = tokio::spawn(async move { statuses.send(ready).await }).await.map_err(join_error)?;
    match outcome {
        Ok(status) => Ok(status),
        Err(PublishStatusError::Failed { status }) => {
            let error = match status.failure() {
                Some(f) if f.code != FailureCode::Internal => ApiError::new(f.code.as_str(), f.message.clone()),
                _ => ApiError::internal(),
            };
            Err(error
                .with_extension("status_id", status.id())
                .with_extension("resource", Status::from(status.as_ref())))
        }
        Err(e) => Err(publish_error(e)),
    }
}

/// Media refusals name the request member at fault, like other validation errors.
fn publish_error(error: PublishStatusError) -> ApiError {
    match error {
        PublishStatusError::InvalidMedia(rejected) if rejected.code != "internal" => {
            ApiError::new(rejected.code, rejected.message).with_field("media")
        }
        PublishStatusError::Paced { retry_after } => ApiError::from_use_case(error).with_retry_after(retry_after),
        other => ApiError::from_use_case(other),
    }
}

/// The body of a publish: JSON, or an upload whose file part carries the media.
pub struct PublishBody {
    request: PublishStatusRequest,
    /// The uploaded file and its part's content type.
    upload: Option<(Bytes, Option<String>)>,
}

impl<S: Send + Sync> FromRequest<S> for PublishBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            let ApiJson(request) = ApiJson::from_request(req, state).await?;
            return Ok(Self { request, upload: None });
        }
        let multipart =
            Multipart::from_request(req, state).await.map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
        read_upload(multipart).await
    }
}

/// Reads the parts of an upload: `file`, and the request's other members as text.
async fn read_upload(mut multipart: Multipart) -> Result<PublishBody, ApiError> {
    let mut request = PublishStatusRequest::default();
    let mut upload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if upload.is_some() {
                return Err(InvalidValue::new("file", "media_ambiguous", "upload one `file`, not several").into());
            }
            let content_type = field.content_type().map(str::to_owned);
            upload = Some((field.bytes().await.map_err(multipart_error)?, content_type));
            continue;
        }
        if !TEXT_PARTS.contains(&name.as_str()) {
            // Unknown parts are ignored, as unknown JSON members are, and not kept in memory.
            while field.chunk().await.map_err(multipart_error)?.is_some() {}
            continue;
        }
        let value = read_text_part(&mut field, &name).await?;
        match name.as_str() {
            "type" => request.status_type = value,
            "text" => request.text = Some(value),
            "background_color" => request.background_color = Some(value),
            "font" => request.font = Some(FontInput::Name(value)),
            "caption" => request.caption = Some(value),
            "mime_type" => request.media.get_or_insert_with(MediaRequest::default).mime_type = Some(value),
            "view_once" => {
                request.view_once = value.trim().parse().map_err(|_| {
                    ApiError::from(InvalidValue::new("view_once", "invalid_request", "view_once is true or false"))
                })?;
            }
            // Every name in TEXT_PARTS has its arm above.
            _ => {}
        }
    }
    if request.status_type.is_empty() {
        return Err(InvalidValue::new("type", "invalid_request", "the upload needs a `type` part").into());
    }
    Ok(PublishBody { request, upload })
}

/// The text parts an upload may have besides `file`.
const TEXT_PARTS: [&str; 7] = ["type", "text", "background_color", "font", "caption", "mime_type", "view_once"];

/// The longest text part accepted: room for the longest caption in four-byte characters.
const MAX_TEXT_PART: usize = 16 * 1024;

/// Reads a text part, refusing one longer than [`MAX_TEXT_PART`] before buffering it all.
async fn read_text_part(field: &mut axum::extract::multipart::Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_PART {
            return Err(ApiError::new(
                "invalid_request",
                format!("the part `{name}` is longer than {MAX_TEXT_PART} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::new("invalid_request", format!("the part `{name}` is not UTF-8 text")))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new("payload_too_large", "the upload is larger than this server accepts")
    } else {
        ApiError::new("invalid_request", format!("the upload could not be read: {}", e.body_text()))
    }
}

fn publish_command(session: SessionKey, body: PublishBody) -> Result<PublishStatus, ApiError> {
    let PublishBody { request: body, upload } = body;
    if let Some(audience) = &body.audience
        && audience.mode != "contacts"
    {
        return Err(ApiError::new(
            "unsupported_audience",
            format!(
                "audience mode {:?} is not supported by this version; only \"contacts\" (all contacts)",
                audience.mode
            ),
        ));
    }
    let content = match body.status_type.as_str() {
        "text" => {
            let text =
                body.text.ok_or_else(|| InvalidValue::new("text", "empty_text", "a text status needs `text`"))?;
            let background_color = match body.background_color {
                Some(raw) => raw.parse::<BackgroundColor>()?,
                None => BackgroundColor::DEFAULT,
            };
            let font = match body.font {
                None => Font::default(),
                Some(FontInput::Name(name)) => name.parse()?,
                Some(FontInput::Number(n)) => Font::try_from_code(n)?,
            };
            PublishContent::Text(TextStatus { text: StatusText::new(text)?, background_color, font })
        }
        "image" | "video" => {
            let kind = if body.status_type == "image" { MediaKind::Image } else { MediaKind::Video };
            let caption = body.caption.map(Caption::new).transpose()?.flatten();
            PublishContent::Media {
                kind: Some(kind),
                caption,
                input: media_input(body.media.unwrap_or_default(), upload)?,
            }
        }
        other => {
            return Err(ApiError::new(
                "unsupported_status_type",
                format!("{other:?} is not a status type; use `text`, `image` or `video`"),
            ));
        }
    };
    Ok(PublishStatus { session, content, view_once: body.view_once })
}

/// Exactly one source of media: `media.url`, `media.data`, or an uploaded `file`.
fn media_input(media: MediaRequest, upload: Option<(Bytes, Option<String>)>) -> Result<MediaInput, ApiError> {
    let MediaRequest { url, data, mime_type } = media;
    let (source, part_type) = match (url, data, upload) {
        (Some(url), None, None) => (MediaSource::Url(url), None),
        (None, Some(data), None) => (MediaSource::Base64(data), None),
        (None, None, Some((bytes, part_type))) => (MediaSource::Bytes(bytes), part_type),
        (None, None, None) => {
            return Err(InvalidValue::new(
                "media",
                "media_missing",
                "an image or video status needs media: `media.url`, `media.data`, or an uploaded `file`",
            )
            .into());
        }
        _ => {
            return Err(InvalidValue::new(
                "media",
                "media_ambiguous",
                "give exactly one of `media.url`, `media.data` and an uploaded `file`",
            )
            .into());
        }
    };
    Ok(MediaInput { source, declared_mime: mime_type.or(part_type) })
}

/// A session's status history, newest first.
#[utoipa::path(get, path = "/v1/sessions/{session_id}/statuses", tag = "statuses",
    params(("session_id" = String, Path), StatusListQuery),
    responses(
        (status = 200, body = StatusPage),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`, `invalid_state`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:read"]), ("bearer" = ["statuses:read"])))]
pub async fn list(
    State(state): State<ApiState>,
    SessionPath(session, _): SessionPath<StatusesRead>,
    ApiQuery(query): ApiQuery<StatusListQuery>,
) -> Result<Json<StatusPage>, ApiError> {
    let query = StatusQuery {
        limit: query.limit.map(PageLimit::new).transpose()?.unwrap_or_default(),
        after: query.cursor.as_deref().map(decode_cursor).transpose()?,
        state: query
            .state
            .map(|s| s.parse().map_err(|_| ApiError::new("invalid_state", format!("{s:?} is not a status state"))))
            .transpose()?,
    };
    let page = state.statuses.list(&session, &query).await.map_err(ApiError::from_use_case)?;
    Ok(Json(StatusPage {
        items: page.items.iter().map(Status::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// One status.
#[utoipa::path(get, path = "/v1/statuses/{status_id}", tag = "statuses",
    params(("status_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = Status),
        (status = 404, description = "`status_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:read"]), ("bearer" = ["statuses:read"])))]
pub async fn get(
    State(state): State<ApiState>,
    StatusPath(principal, id, _): StatusPath<StatusesRead>,
) -> Result<Json<Status>, ApiError> {
    let status = state.statuses.get(principal.tenant, id).await.map_err(ApiError::from_use_case)?;
    Ok(Json(Status::from(&status)))
}

/// Revoke (delete) a published status from the audience's phones.
#[utoipa::path(delete, path = "/v1/statuses/{status_id}", tag = "statuses",
    params(("status_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, description = "The status, now `revoked`", body = Status),
        (status = 404, description = "`status_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`status_not_revocable`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`device_disconnected`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:write"]), ("bearer" = ["statuses:write"])))]
pub async fn revoke(
    State(state): State<ApiState>,
    StatusPath(principal, id, _): StatusPath<StatusesWrite>,
) -> Result<Json<Status>, ApiError> {
    let statuses = state.statuses.clone();
    let outcome = tokio::spawn(async move { statuses.revoke(principal.tenant, id).await }).await.map_err(join_error)?;
    let status = outcome.map_err(ApiError::from_use_case)?;
    Ok(Json(dto::Status::from(&status)))
}

/// A use case that panicked: logged, and answered as an internal error.
fn join_error(error: tokio::task::JoinError) -> ApiError {
    tracing::error!(%error, "a use case did not complete");
    ApiError::internal()
}
