//! `/v1/webhooks`: a tenant's webhook endpoints, their signing secrets and their delivery log.
//!
//! The signing secret (`whsec_…`) is in the answers of `POST /v1/webhooks` and
//! `POST …/rotate-secret` only; listings show its first characters (`secret_prefix`). A lost
//! secret is replaced by rotating it.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use wastatus_domain::service::{IssuedWebhook, NewWebhook, WebhookChanges};
use wastatus_domain::{
    self as domain, DeliveryCursor, DeliveryId, DeliveryQuery, DeliveryState, EventFilter, PageLimit, Principal,
    SessionId, StatusId, WebhookFormat, WebhookId, WebhookUrl,
};

use super::dto::{decode_cursor, encode_cursor};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::WebhooksManage;
use crate::extract::{ApiJson, ApiQuery, Auth};

/// A webhook endpoint, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: uuid::Uuid,
    #[schema(example = "https://hooks.example.com/wastatus")]
    pub url: String,
    /// The event types it receives; `["*"]` for all.
    #[schema(example = json!(["status.published", "status.failed"]))]
    pub events: Vec<&'static str>,
    /// `native` or `walytic`.
    #[schema(example = "native")]
    pub format: &'static str,
    /// Only events of this session, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub enabled: bool,
    /// Why wastatus disabled it (the receiver answered `410 Gone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The first characters of the signing secret, to tell secrets apart.
    #[schema(example = "whsec_MfKQ")]
    pub secret_prefix: String,
    /// While a rotated-out secret still signs beside the new one: until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&domain::WebhookEndpoint> for Webhook {
    fn from(e: &domain::WebhookEndpoint) -> Self {
        Self {
            id: *e.id.as_uuid(),
            url: e.url.as_str().to_owned(),
            events: e.events.names(),
            format: e.format.as_str(),
            session_id: e.session.as_ref().map(|s| s.as_str().to_owned()),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            secret_prefix: e.secrets.current.display_prefix(),
            previous_secret_expires_at: e.secrets.previous.as_ref().map(|p| p.expires_at),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A webhook endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret: store it now, it is not shown again (rotate it if it is lost).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

impl From<IssuedWebhook> for WebhookWithSecret {
    fn from(issued: IssuedWebhook) -> Self {
        Self { webhook: Webhook::from(&issued.endpoint), secret: issued.secret.expose().to_owned() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

/// A webhook endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: `https://…` (or `http://…`). It must lead to public addresses.
    #[schema(example = "https://hooks.example.com/wastatus")]
    pub url: String,
    /// Event types (`status.published`, `status.failed`, `status.revoked`, `session.pairing`,
    /// `session.connected`, `session.disconnected`, `session.logged_out`), or `["*"]` for all
    /// (the default).
    #[schema(example = json!(["status.published", "status.failed"]))]
    pub events: Option<Vec<String>>,
    /// `native` (default) or `walytic` (Walytic's `statusUpdated` object, for
    /// `status.published` only).
    #[schema(example = "native")]
    pub format: Option<String>,
    /// Only events of this session.
    pub session_id: Option<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// Changes to a webhook endpoint; members left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub format: Option<String>,
    /// A session id, or `null` to receive the events of every session.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub session_id: Option<Option<String>>,
    /// `true` also clears why wastatus disabled it.
    pub enabled: Option<bool>,
}

/// A member that is present, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// How to rotate a secret; the body may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing beside the new one, in seconds (default: the
    /// server's `webhooks.rotation_overlap_secs`, a day; `0` drops it at once; at most a week).
    #[schema(example = 86400)]
    pub previous_expires_in_secs: Option<u64>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub number: u32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why no answer came (`timeout: …`, `connection_failed: …`, `webhook_blocked_address: …`).
    pub error: Option<String>,
    /// The start of the receiver's answer.
    pub response_excerpt: Option<String>,
}

/// One event (or ping) for one endpoint, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: uuid::Uuid,
    pub webhook_id: uuid::Uuid,
    /// The event's id, sent as `webhook-id` on every attempt.
    pub event_id: uuid::Uuid,
    /// The event's type, or `webhook.ping`.
    #[schema(example = "status.published")]
    pub event_type: &'static str,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub state: &'static str,
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

impl From<domain::DeliveryRecord> for WebhookDelivery {
    fn from(record: domain::DeliveryRecord) -> Self {
        let d = record.delivery;
        let millis = |latency: Duration| u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        Self {
            id: *d.id.as_uuid(),
            webhook_id: *d.endpoint.as_uuid(),
            event_id: *d.message.id().as_uuid(),
            event_type: d.message.type_name(),
            state: d.state.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_latency_ms: d.last_latency.map(millis),
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempt_log: record
                .attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    number: a.number,
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    latency_ms: millis(a.latency),
                    error: a.error,
                    response_excerpt: a.response_excerpt,
                })
                .collect(),
        }
    }
}

/// One page of an endpoint's deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveryListQuery {
    /// 1–100, default 20.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only deliveries in this state: `pending`, `succeeded` or `failed`.
    pub state: Option<String>,
}

/// The webhook addressed by the path (and the delivery, on delivery routes), within the
/// caller's tenant. An id that cannot exist is simply not found.
pub struct WebhookPath<S> {
    pub principal: Principal,
    pub webhook: WebhookId,
    pub delivery: Option<DeliveryId>,
    scope: PhantomData<S>,
}

impl FromRequestParts<ApiState> for WebhookPath<WebhooksManage> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let Auth::<WebhooksManage> { principal, .. } = Auth::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
        let raw = params.get("webhook_id").map(String::as_str).unwrap_or_default();
        let webhook =
            raw.parse().map_err(|_| ApiError::new("webhook_not_found", format!("no webhook with id {raw}")))?;
        let delivery = match params.get("delivery_id") {
            Some(raw) => Some(
                raw.parse().map_err(|_| ApiError::new("delivery_not_found", format!("no delivery with id {raw}")))?,
            ),
            None => None,
        };
        Ok(WebhookPath { principal, webhook, delivery, scope: PhantomData })
    }
}

/// A JSON body that may be left out (then `T::default()`); otherwise as [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new("payload_too_large", "the request body is larger than this server accepts")
            } else {
                ApiError::new("malformed_json", e.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        // A body there is: the same rules as any JSON body.
        let mut again = Request::new(Body::from(bytes));
        if let Some(content_type) = content_type {
            again.headers_mut().insert(header::CONTENT_TYPE, content_type);
        }
        ApiJson::<T>::from_request(again, state).await.map(|ApiJson(body)| OptionalJson(body))
    }
}

fn events(names: Option<Vec<String>>) -> Result<Option<EventFilter>, ApiError> {
    Ok(names.map(|names| EventFilter::parse(&names)).transpose()?)
}

fn format(name: Option<String>) -> Result<Option<WebhookFormat>, ApiError> {
    Ok(name.map(|name| WebhookFormat::parse(&name)).transpose()?)
}

/// Register a webhook endpoint. The answer has its signing secret, shown this once.
///
/// The URL must lead only to public addresses (unless the server allows private networks):
/// loopback, private, link-local and cloud metadata addresses are refused, here and again at
/// every delivery.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook, responses(
    (status = 201, body = WebhookWithSecret, headers(("location" = String, description = "The new webhook's URL"))),
    (status = 409, description = "`webhook_limit_reached`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_webhook_url`, `webhook_scheme_not_allowed`, `webhook_blocked_address`, `webhook_unresolvable_host`, `invalid_events`, `invalid_event_type`, `invalid_webhook_format`, `webhook_events_unsupported`, `invalid_session_id`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn create(
    State(state): State<ApiState>,
    auth: Auth<WebhooksManage>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<Response, ApiError> {
    let new = NewWebhook {
        url: WebhookUrl::new(body.url)?,
        events: events(body.events)?.unwrap_or(EventFilter::All),
        format: format(body.format)?.unwrap_or_default(),
        session: body.session_id.map(SessionId::new).transpose()?,
        enabled: body.enabled.unwrap_or(true),
    };
    let issued = state.webhooks.create(auth.principal.tenant, new).await.map_err(ApiError::from_use_case)?;
    let location = format!("/v1/webhooks/{}", issued.endpoint.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(WebhookWithSecret::from(issued))).into_response())
}

/// List the tenant's webhook endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses(
    (status = 200, body = WebhookList),
), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn list(State(state): State<ApiState>, auth: Auth<WebhooksManage>) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.webhooks.list(auth.principal.tenant).await.map_err(ApiError::from_use_case)?;
    Ok(Json(WebhookList { items: endpoints.iter().map(Webhook::from).collect() }))
}

/// A webhook endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = Webhook),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn get(State(state): State<ApiState>, path: WebhookPath<WebhooksManage>) -> Result<Json<Webhook>, ApiError> {
    let endpoint = state.webhooks.get(path.principal.tenant, path.webhook).await.map_err(ApiError::from_use_case)?;
    Ok(Json(Webhook::from(&endpoint)))
}

/// Change a webhook endpoint: its URL (checked like a new one), events, format, session
/// filter, or whether it is enabled.
#[utoipa::path(patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path)),
    request_body = UpdateWebhook,
    responses(
        (status = 200, body = Webhook),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_webhook_url`, `webhook_scheme_not_allowed`, `webhook_blocked_address`, `webhook_unresolvable_host`, `invalid_events`, `invalid_event_type`, `invalid_webhook_format`, `webhook_events_unsupported`, `invalid_session_id`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn update(
    State(state): State<ApiState>,
    path: WebhookPath<WebhooksManage>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<Json<Webhook>, ApiError> {
    let changes = WebhookChanges {
        url: body.url.map(WebhookUrl::new).transpose()?,
        events: events(body.events)?,
        format: format(body.format)?,
        session: body.session_id.map(|s| s.map(SessionId::new).transpose()).transpose()?,
        enabled: body.enabled,
    };
    let tenant = path.principal.tenant;
    let endpoint = state.webhooks.update(tenant, path.webhook, changes).await.map_err(ApiError::from_use_case)?;
    Ok(Json(Webhook::from(&endpoint)))
}

/// Delete a webhook endpoint with its delivery log; what was pending for it is not delivered.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn delete(State(state): State<ApiState>, path: WebhookPath<WebhooksManage>) -> Result<StatusCode, ApiError> {
    state.webhooks.delete(path.principal.tenant, path.webhook).await.map_err(ApiError::from_use_case)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a webhook endpoint a new signing secret, shown this once. The old one keeps signing
/// beside it (both signatures are sent) for a day by default, so receivers can switch over.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path)),
    request_body(content = Option<RotateSecret>, description = "May be left out"),
    responses(
        (status = 200, body = WebhookWithSecret),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_rotation_overlap`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    path: WebhookPath<WebhooksManage>,
    OptionalJson(body): OptionalJson<RotateSecret>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let overlap = body.previous_expires_in_secs.map(Duration::from_secs);
    let tenant = path.principal.tenant;
    let issued = state.webhooks.rotate_secret(tenant, path.webhook, overlap).await.map_err(ApiError::from_use_case)?;
    Ok(Json(WebhookWithSecret::from(issued)))
}

/// The endpoint's deliveries, newest first: each event (or ping) with its attempts, status
/// codes, latencies, errors and next retry.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path), DeliveryListQuery),
    responses(
        (status = 200, body = WebhookDeliveryPage),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`, `invalid_state`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn deliveries(
    State(state): State<ApiState>,
    path: WebhookPath<WebhooksManage>,
    ApiQuery(query): ApiQuery<DeliveryListQuery>,
) -> Result<Json<WebhookDeliveryPage>, ApiError> {
    let query = DeliveryQuery {
        limit: query.limit.map(PageLimit::new).transpose()?.unwrap_or_default(),
        after: query
            .cursor
            .as_deref()
            .map(decode_cursor)
            .transpose()?
            .map(|c| DeliveryCursor { created_at: c.created_at, id: DeliveryId::from_uuid(*c.id.as_uuid()) }),
        state: query.state.as_deref().map(DeliveryState::parse).transpose()?,
    };
    let tenant = path.principal.tenant;
    let page = state.webhooks.deliveries(tenant, path.webhook, &query).await.map_err(ApiError::from_use_case)?;
    let next_cursor = page
        .next
        .map(|c| encode_cursor(&domain::Cursor { created_at: c.created_at, id: StatusId::from_uuid(*c.id.as_uuid()) }));
    Ok(Json(WebhookDeliveryPage { items: page.items.into_iter().map(WebhookDelivery::from).collect(), next_cursor }))
}

/// Deliver an event again: it is queued for an attempt now (with the same `webhook-id` and
/// body) and, if that fails, a new round of retries.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path), ("delivery_id" = uuid::Uuid, Path)),
    responses(
        (status = 202, body = WebhookDelivery, description = "Queued"),
        (status = 404, description = "`webhook_not_found`, `delivery_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`webhook_disabled`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn redeliver(
    State(state): State<ApiState>,
    path: WebhookPath<WebhooksManage>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    let delivery = path.delivery.ok_or_else(ApiError::internal)?;
    let tenant = path.principal.tenant;
    let record = state.webhooks.redeliver(tenant, path.webhook, delivery).await.map_err(ApiError::from_use_case)?;
    Ok((StatusCode::ACCEPTED, Json(WebhookDelivery::from(record))))
}

/// Send a signed `webhook.ping` to the endpoint now, once, and answer with how it went. It is
/// logged among the deliveries. Works on a disabled endpoint too.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/ping", tag = "webhooks",
    params(("webhook_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = WebhookDelivery, description = "The ping's delivery: `succeeded` if the receiver answered 2xx"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["webhooks:manage"]), ("bearer" = ["webhooks:manage"])))]
pub async fn ping(
    State(state): State<ApiState>,
    path: WebhookPath<WebhooksManage>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    let record = state.webhooks.ping(path.principal.tenant, path.webhook).await.map_err(ApiError::from_use_case)?;
    Ok(Json(WebhookDelivery::from(record)))
}
