//! Fault injection, answered only when the server runs the sandbox driver.

use axum::Json;
use axum::extract::State;
use wastatus_domain::ports::Fault;

use super::dto::{FaultRequest, Session};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::SessionsManage;
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
