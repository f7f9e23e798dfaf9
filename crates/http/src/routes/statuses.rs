//! Status routes: publish, history, get, revoke.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{Extension, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wastatus_domain::service::{PublishContent, PublishMode, PublishStatus, PublishStatusError, Submitted};
use wastatus_domain::{
    self as domain, BackgroundColor, Caption, FailureCode, Font, InvalidValue, MediaInput, MediaKind, MediaSource,
    PageLimit, SessionKey, StatusQuery, StatusText, TextStatus,
};

use super::dto::{
    self, Audience, FontInput, MediaRequest, PublishStatusRequest, Status, StatusListQuery, StatusPage, decode_cursor,
    encode_cursor,
};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::{StatusesRead, StatusesWrite};
use crate::extract::{ApiJson, ApiQuery, SessionPath, StatusPath};
use crate::idempotency::Progress;

/// Publish a status (JSON, or a `multipart/form-data` upload).
///
/// By default the request waits for WhatsApp's confirmation and answers `201` with the
/// `published` status; if the send fails, the status is kept as `failed` and the problem
/// document names the reason in `code`, its id in `status_id` and the stored status in
/// `resource`. If the wait runs past the server's bound, it answers `202` with the status as it
/// is then; the send goes on.
///
/// With `Prefer: respond-async` or `"async": true` it answers `202` at once with the stored
/// (`accepted`) status and its `Location`; with `publish_at`, `202` with the `scheduled`
/// status. Those run as jobs: paced per session, retried after transient failures, and
/// surviving restarts; their outcome arrives by webhook and by polling the status.
///
/// With an `Idempotency-Key` header, a repeat of the same request replays the first answer.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/statuses", tag = "statuses",
    params(
        ("session_id" = String, Path),
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer `202` at once"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes repeats of this request replay its first answer (24 h)"),
    ),
    request_body(content(
        (PublishStatusRequest = "application/json"),
        (dto::PublishUpload = "multipart/form-data"),
    )),
    responses(
        (status = 201, body = Status, headers(("location" = String, description = "The status's URL"))),
        (status = 202, description = "Queued, scheduled, or still being sent", body = Status, headers(("location" = String, description = "The status's URL"))),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_paired`, `logged_out`, `idempotency_key_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`, `media_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`publish_pace_exceeded` (with `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`empty_text`, `text_too_long`, `invalid_color`, `unknown_font`, `caption_too_long`, `media_missing`, `media_ambiguous`, the `media_…` and `video_…` codes, `unsupported_status_type`, `invalid_publish_at`, `invalid_idempotency_key`, `idempotency_key_reused`, `invalid_request`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`upload_failed`, `device_error`, `server_rejected`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`device_disconnected`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`upload_timeout`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:write"]), ("bearer" = ["statuses:write"])))]
pub async fn publish(
    State(state): State<ApiState>,
    SessionPath(session, _): SessionPath<StatusesWrite>,
    headers: HeaderMap,
    progress: Option<Extension<Progress>>,
    body: PublishBody,
) -> Result<Response, ApiError> {
    let prefers_async = prefers_async(&headers);
    let mut command = publish_command(session, body)?;
    if prefers_async && command.mode == PublishMode::Now {
        command.mode = PublishMode::Queued;
    }
    let queued = command.mode != PublishMode::Now;
    let progress = progress.map(|Extension(p)| p);
    let (status, settled) = submit_publish(&state, command, Some(state.sync_wait), progress.as_ref()).await?;
    let location = format!("/v1/statuses/{}", status.id());
    let code = if settled && !queued { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    let mut response = (code, [(header::LOCATION, location)], Json(Status::from(&status))).into_response();
    if prefers_async {
        response.headers_mut().insert("preference-applied", HeaderValue::from_static("respond-async"));
    }
    Ok(response)
}

/// Whether a `Prefer` header asks for `respond-async` (RFC 7240).
fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',')
            .any(|pref| pref.split(';').next().is_some_and(|token| token.trim().eq_ignore_ascii_case("respond-async")))
    })
}

/// Prepares and stores a publish; one to be sent now is sent in a task of its own, and waited
/// for up to `wait` (`None`: until it is settled). Returns the status and whether it is
/// settled; a queued one wakes the workers.
pub(super) async fn submit_publish(
    state: &ApiState,
    command: PublishStatus,
    wait: Option<std::time::Duration>,
    progress: Option<&Progress>,
) -> Result<(domain::Status, bool), ApiError> {
    let ready = state.statuses.prepare(command).await.map_err(publish_error)?;
    let submitted = state.statuses.submit(ready).await.map_err(publish_error)?;
    if let Some(progress) = progress {
        let (Submitted::Queued(status) | Submitted::Claimed { status, .. }) = &submitted;
        progress.stored(status);
    }
    let (status, media) = match submitted {
        Submitted::Queued(status) => {
            if let Some(jobs) = &state.jobs {
                jobs.queued();
            }
            return Ok((status, false));
        }
        Submitted::Claimed { status, media } => (status, media),
    };
    let statuses = state.statuses.clone();
    let pending = status.clone();
    let send = state.sends.spawn(async move { statuses.execute(status, media).await });
    let outcome = match wait {
        // Not waiting at all: the send goes on; the answer is the stored status.
        Some(wait) if wait.is_zero() => return Ok((pending, false)),
        Some(wait) => match tokio::time::timeout(wait, send).await {
            Ok(joined) => joined.map_err(join_error)?,
            // Still sending: the task goes on and settles the status.
            Err(_) => return Ok((pending, false)),
        },
        None => send.await.map_err(join_error)?,
    };
    match outcome {
        Ok(status) => Ok((status, true)),
        Err(PublishStatusError::Failed { status }) => Err(failed_publish(&status)),
        Err(e) => Err(publish_error(e)),
    }
}

/// A stored status that failed, as a problem naming the failure's code, with the status's id in
/// `status_id` and the stored status in `resource`.
fn failed_publish(status: &domain::Status) -> ApiError {
    let error = match status.failure() {
        Some(f) if f.code != FailureCode::Internal => ApiError::new(f.code.as_str(), f.message.clone()),
        _ => ApiError::internal(),
    };
    error.with_extension("status_id", status.id()).with_extension("resource", Status::from(status))
}

/// Runs a publish to its outcome the way every synchronous route does (the compatibility
/// routes): see [`submit_publish`].
pub(super) async fn run_publish(state: &ApiState, command: PublishStatus) -> Result<domain::Status, ApiError> {
    submit_publish(state, command, None, None).await.map(|(status, _)| status)
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
            "publish_at" => {
                let at = chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
                    ApiError::from(InvalidValue::new(
                        "publish_at",
                        "invalid_publish_at",
                        "publish_at is an RFC 3339 time",
                    ))
                })?;
                request.publish_at = Some(at.with_timezone(&chrono::Utc));
            }
            "async" => {
                request.run_async = value.trim().parse().map_err(|_| {
                    ApiError::from(InvalidValue::new("async", "invalid_request", "async is true or false"))
                })?;
            }
            "audience" => {
                request.audience = Some(serde_json::from_str(&value).map_err(|e| {
                    ApiError::from(InvalidValue::new(
                        "audience",
                        "invalid_audience",
                        format!("the `audience` part is a JSON object like {{\"mode\": \"allowlist\", \"jids\": [...]}}: {e}"),
                    ))
                })?);
            }
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
const TEXT_PARTS: [&str; 10] = [
    "type",
    "text",
    "background_color",
    "font",
    "caption",
    "mime_type",
    "view_once",
    "publish_at",
    "async",
    "audience",
];

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
    let audience = body.audience.map(Audience::into_domain).transpose()?.unwrap_or_default();
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
    let mode = match (body.publish_at, body.run_async) {
        (Some(at), _) => PublishMode::At(at),
        (None, true) => PublishMode::Queued,
        (None, false) => PublishMode::Now,
    };
    Ok(PublishStatus { session, content, view_once: body.view_once, audience, mode })
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

/// Revoke (delete) a published status from the audience's phones, or cancel a `scheduled` or
/// queued (`accepted`) one before it is sent.
#[utoipa::path(delete, path = "/v1/statuses/{status_id}", tag = "statuses",
    params(
        ("status_id" = uuid::Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes repeats of this request replay its first answer (24 h)"),
    ),
    responses(
        (status = 200, description = "The status, now `revoked` or `cancelled`", body = Status),
        (status = 404, description = "`status_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`status_not_revocable`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`device_disconnected`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["statuses:write"]), ("bearer" = ["statuses:write"])))]
pub async fn revoke(
    State(state): State<ApiState>,
    StatusPath(principal, id, _): StatusPath<StatusesWrite>,
) -> Result<Json<Status>, ApiError> {
    let statuses = state.statuses.clone();
    let outcome =
        state.sends.spawn(async move { statuses.revoke(principal.tenant, id).await }).await.map_err(join_error)?;
    let status = outcome.map_err(ApiError::from_use_case)?;
    Ok(Json(dto::Status::from(&status)))
}

/// A use case that panicked: logged, and answered as an internal error.
fn join_error(error: tokio::task::JoinError) -> ApiError {
    tracing::error!(%error, "a use case did not complete");
    ApiError::internal()
}
