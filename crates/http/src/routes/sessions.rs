//! `/v1/sessions`: create, list, inspect, pair, restart, log out, delete; the linked account's
//! contacts.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use wastatus_domain::{PairMethod, Pairing, PhoneNumber, Scope, SessionId, UserId};

use super::dto::{ContactList, CreateSession, PairRequest, PairResponse, QrQuery, Session, SessionList};
use super::qr::{self, QrFormat};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::{SessionsManage, SessionsRead};
use crate::extract::{ApiJson, ApiQuery, Auth, SessionPath};

/// Create a session. It starts in `pairing`; pair it next.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSession, responses(
    (status = 201, body = Session, headers(("location" = String, description = "The new session's URL"))),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`session_already_exists`, `user_has_device`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_session_id`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn create(
    State(state): State<ApiState>,
    auth: Auth<SessionsManage>,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<Response, ApiError> {
    let id = SessionId::new(body.id)?;
    let owner = body.user_id.map(UserId::from_uuid);
    // A user may make a session its own device; making one another user's device (whose
    // posts would then go through it) takes the power to manage that user.
    if let (Some(owner), Some(caller)) = (owner, auth.principal.user)
        && owner != caller
        && !auth.principal.allows(Scope::KeysManage)
    {
        return Err(ApiError::new(
            "forbidden",
            "only a credential with `keys:manage` can give a device to another user",
        ));
    }
    let session = state.sessions.create(auth.principal.tenant, id, owner).await.map_err(ApiError::from_use_case)?;
    let location = format!("/v1/sessions/{}", session.key.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(Session::from(session))).into_response())
}

/// List the tenant's sessions with their live states.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", responses(
    (status = 200, body = SessionList),
), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn list(State(state): State<ApiState>, auth: Auth<SessionsRead>) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.sessions.list(auth.principal.tenant).await.map_err(ApiError::from_use_case)?;
    Ok(Json(SessionList { items: sessions.into_iter().map(Session::from).collect() }))
}

/// A session and its live state.
#[utoipa::path(get, path = "/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path)),
    responses(
        (status = 200, body = Session),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn get(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsRead>,
) -> Result<Json<Session>, ApiError> {
    let session = state.sessions.get(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(session.into()))
}

/// Delete a session: unlink it, wipe its device state, and delete its status history.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn delete(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsManage>,
) -> Result<StatusCode, ApiError> {
    state.sessions.delete(&key).await.map_err(ApiError::from_use_case)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pair a session with a phone, by QR code or by pairing code.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/pair", tag = "sessions",
    params(("session_id" = String, Path)),
    request_body = PairRequest,
    responses(
        (status = 200, body = PairResponse),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`session_already_paired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_phone_number`, `invalid_request`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn pair(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsManage>,
    ApiJson(body): ApiJson<PairRequest>,
) -> Result<Json<PairResponse>, ApiError> {
    let method = match body {
        PairRequest::Qr => PairMethod::Qr,
        PairRequest::Code { phone_number } => PairMethod::Code { phone_number: PhoneNumber::new(&phone_number)? },
    };
    let (pairing, session) = state.sessions.pair(&key, &method).await.map_err(ApiError::from_use_case)?;
    let response = match pairing {
        Pairing::Qr(qr) => PairResponse {
            method: "qr",
            qr: Some(qr.payload),
            code: None,
            expires_at: qr.expires_at,
            session: session.into(),
        },
        Pairing::Code(code) => PairResponse {
            method: "code",
            qr: None,
            code: Some(code.code),
            expires_at: code.expires_at,
            session: session.into(),
        },
    };
    Ok(Json(response))
}

/// The QR code to scan now, as PNG (default), SVG, text or JSON.
#[utoipa::path(get, path = "/v1/sessions/{session_id}/qr", tag = "sessions",
    params(("session_id" = String, Path), QrQuery),
    responses(
        (status = 200, description = "The QR code", content(
            ("image/png"), ("image/svg+xml"), ("text/plain"), (super::dto::QrJson = "application/json"),
        )),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`qr_not_available`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn qr(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsRead>,
    ApiQuery(query): ApiQuery<QrQuery>,
) -> Result<Response, ApiError> {
    let format = QrFormat::parse(query.format.as_deref())?;
    let code = state.sessions.qr(&key).await.map_err(ApiError::from_use_case)?;
    qr::render(&code, format)
}

/// Log a session out: the phone forgets the linked device; pair again to publish.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/logout", tag = "sessions",
    params(("session_id" = String, Path)),
    responses(
        (status = 200, body = Session),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn logout(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsManage>,
) -> Result<Json<Session>, ApiError> {
    let session = state.sessions.logout(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(session.into()))
}

/// Connect a session again that stopped for a reason the server does not retry by itself
/// (`replaced` by another WhatsApp Web client, `banned`, `refused`): for when the cause is gone.
/// Harmless for a session that runs. A logged-out session must be paired again instead.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/restart", tag = "sessions",
    params(("session_id" = String, Path)),
    responses(
        (status = 200, body = Session),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`session_logged_out`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn restart(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsManage>,
) -> Result<Json<Session>, ApiError> {
    let session = state.sessions.restart(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(session.into()))
}

/// The linked account's contacts, as WhatsApp last synced its address book: who the
/// `contacts` audience (the default) reaches. Empty until the session is linked and the first
/// sync arrived.
#[utoipa::path(get, path = "/v1/sessions/{session_id}/contacts", tag = "sessions",
    params(("session_id" = String, Path)),
    responses(
        (status = 200, body = ContactList),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn contacts(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsRead>,
) -> Result<Json<ContactList>, ApiError> {
    let contacts = state.sessions.contacts(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(ContactList { items: contacts.into_iter().map(Into::into).collect() }))
}
