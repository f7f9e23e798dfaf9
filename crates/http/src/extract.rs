//! Extractors that turn every way a request can be wrong into a problem response.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use wastatus_domain::service::AuthenticateError;
use wastatus_domain::{Principal, SessionId, SessionKey, StatusId};

use crate::ApiState;
use crate::error::ApiError;

/// A JSON body: `415` unless the content type is JSON, `413` over the body limit, `400` when it
/// is not JSON at all, `422` when it is JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new("unsupported_media_type", "send the body as Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ApiError::new("invalid_request", e.to_string()),
            _ => ApiError::new("malformed_json", format!("the body is not valid JSON: {e}")),
        })
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(essence) = content_type.and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()) else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new("payload_too_large", "the request body is larger than this server accepts")
    } else {
        ApiError::new("malformed_json", rejection.body_text())
    }
}

/// Query parameters; a malformed query is `422 invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::new("invalid_request", e.body_text()))
    }
}

/// The authenticated caller, from `X-Api-Key: <key>` or `Authorization: Bearer <key>`.
pub struct Auth(pub Principal);

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let presented = credential(parts).ok_or_else(ApiError::unauthorized)?;
        match state.tenancy.authenticate(presented).await {
            Ok(principal) => Ok(Auth(principal)),
            Err(AuthenticateError::InvalidCredentials) => Err(ApiError::unauthorized()),
            Err(e) => Err(ApiError::from_use_case(e)),
        }
    }
}

fn credential(parts: &Parts) -> Option<&str> {
    if let Some(key) = parts.headers.get("x-api-key") {
        return key.to_str().ok().map(str::trim);
    }
    let authorization = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller and the one path parameter of the route.
async fn authenticated_path(parts: &mut Parts, state: &ApiState) -> Result<(Principal, String), ApiError> {
    let Auth(principal) = Auth::from_request_parts(parts, state).await?;
    let Path(raw) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
    Ok((principal, raw))
}

/// A session addressed by the path, within the caller's tenant. An id that cannot exist is
/// simply not found.
pub struct SessionPath(pub SessionKey);

impl FromRequestParts<ApiState> for SessionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (principal, raw) = authenticated_path(parts, state).await?;
        let id = SessionId::new(raw.clone())
            .map_err(|_| ApiError::new("session_not_found", format!("no session with id {raw}")))?;
        Ok(SessionPath(SessionKey { tenant: principal.tenant, id }))
    }
}

/// A status addressed by the path, with the caller. An id that cannot exist is simply not
/// found.
pub struct StatusPath(pub Principal, pub StatusId);

impl FromRequestParts<ApiState> for StatusPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (principal, raw) = authenticated_path(parts, state).await?;
        let id = raw.parse().map_err(|_| ApiError::new("status_not_found", format!("no status with id {raw}")))?;
        Ok(StatusPath(principal, id))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn json_content_types() {
        for ok in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
        {
            assert!(is_json(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            assert!(!is_json(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
        assert!(!is_json(None));
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = axum::http::Request::builder();
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn credentials_from_either_header() {
        assert_eq!(credential(&parts(&[("x-api-key", "wsk_a")])), Some("wsk_a"));
        assert_eq!(credential(&parts(&[("authorization", "Bearer wsk_b")])), Some("wsk_b"));
        assert_eq!(credential(&parts(&[("authorization", "bearer  wsk_c ")])), Some("wsk_c"));
        assert_eq!(credential(&parts(&[("authorization", "Basic dXNlcjpwYXNz")])), None);
        assert_eq!(credential(&parts(&[])), None);
    }
}
