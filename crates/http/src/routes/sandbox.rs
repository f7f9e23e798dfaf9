//! Fault injection and the record of sent messages, answered only when the server runs the
//! sandbox driver.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use wastatus_domain::ports::{Fault, SentRecord};

use super::dto::{FaultRequest, Session, StatusType};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::{SessionsManage, SessionsRead};
use crate::extract::{ApiJson, SessionPath};

/// Make the sandbox driver simulate a fault on a session (sandbox only).
///
/// `disconnect` and `reconnect` change the session's state; the other faults make the next
/// `count` publishes fail with that error.
#[utoipa::path(post, path = "/v1/sandbox/sessions/{session_id}/faults", tag = "sandbox",
    params(("session_id" = String, Path)),
    request_body = FaultRequest,
    responses(
        (status = 200, description = "The session after the fault", body = Session),
        (status = 404, description = "`session_not_found`; `not_found` when another driver runs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_fault`", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:manage"]), ("bearer" = ["sessions:manage"])))]
pub async fn inject_fault(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsManage>,
    ApiJson(body): ApiJson<FaultRequest>,
) -> Result<Json<Session>, ApiError> {
    let fault = match body.fault.as_str() {
        "disconnect" => Fault::Disconnect,
        "reconnect" => Fault::Reconnect,
        "upload_failed" => Fault::UploadFailed,
        "upload_timeout" => Fault::UploadTimeout,
        "device_error" => Fault::DeviceError,
        "server_reject" => Fault::ServerReject,
        other => {
            return Err(ApiError::new(
                "invalid_fault",
                format!(
                    "{other:?} is not a fault; use disconnect, reconnect, upload_failed, upload_timeout, device_error or server_reject"
                ),
            ));
        }
    };
    let count = body.count.unwrap_or(1);
    if !(1..=1000).contains(&count) {
        return Err(ApiError::new("invalid_fault", "count must be between 1 and 1000"));
    }
    let session = state.sessions.inject_fault(&key, fault, count).await.map_err(ApiError::from_use_case)?;
    Ok(Json(session.into()))
}

/// A message the sandbox sent: one per send, so a status sent twice shows twice.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxSentMessage {
    /// The WhatsApp-style id the sandbox gave it.
    #[schema(example = "3EB0A1B2C3D4E5F6A7B8C9D0")]
    pub message_id: String,
    /// The status it carried.
    pub status_id: uuid::Uuid,
    #[serde(rename = "type")]
    pub status_type: StatusType,
    /// Who it went to: `+<digits>` for phone numbers, `<digits>@lid` for LIDs.
    #[schema(example = json!(["+15550100004", "100000000000001@lid"]))]
    pub recipients: Vec<String>,
    /// When the sandbox accepted the send.
    pub sent_at: DateTime<Utc>,
}

impl From<SentRecord> for SandboxSentMessage {
    fn from(r: SentRecord) -> Self {
        Self {
            message_id: r.message_id.as_str().to_owned(),
            status_id: *r.status.as_uuid(),
            status_type: r.status_type.into(),
            recipients: r.recipients.iter().map(ToString::to_string).collect(),
            sent_at: r.sent_at,
        }
    }
}

/// Every message a session sent through the sandbox, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxSentList {
    pub items: Vec<SandboxSentMessage>,
}

/// List what the sandbox driver sent for a session (sandbox only).
///
/// One item per send, oldest first, including any status sent more than once: the record that
/// shows whether a status was ever published twice. With a persistent sandbox it survives
/// restarts.
#[utoipa::path(get, path = "/v1/sandbox/sessions/{session_id}/sent", tag = "sandbox",
    params(("session_id" = String, Path)),
    responses(
        (status = 200, description = "The messages the session sent, oldest first", body = SandboxSentList),
        (status = 404, description = "`session_not_found`; `not_found` when another driver runs", body = Problem, content_type = "application/problem+json"),
    ), security(("api_key" = ["sessions:read"]), ("bearer" = ["sessions:read"])))]
pub async fn sent(
    State(state): State<ApiState>,
    SessionPath(key, _): SessionPath<SessionsRead>,
) -> Result<Json<SandboxSentList>, ApiError> {
    let sent = state.sessions.sandbox_sent(&key).await.map_err(ApiError::from_use_case)?;
    Ok(Json(SandboxSentList { items: sent.into_iter().map(Into::into).collect() }))
}
