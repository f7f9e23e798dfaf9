//! Extractors that turn every way a request can be wrong into a problem response.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use wastatus_domain::service::AuthenticateError;

use wastatus_domain::{Principal, Scope, SessionId, SessionKey, StatusId};

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

/// A scope a route requires, as a type, so that every authenticated handler states its scope
/// in its signature (see [`scope`]).
pub trait RequiredScope: Send + Sync + 'static {
    /// `None`: any valid credential will do.
    const SCOPE: Option<Scope>;
}

/// The scopes as types, for [`Auth`], [`SessionPath`] and [`StatusPath`].
pub mod scope {
    use wastatus_domain::Scope;

    use super::RequiredScope;

    macro_rules! scopes {
        ($($(#[$doc:meta])* $name:ident => $scope:expr;)*) => {$(
            $(#[$doc])*
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Option<Scope> = $scope;
            }
        )*};
    }

    scopes! {
        /// Any valid credential.
        Authenticated => None;
        StatusesRead => Some(Scope::StatusesRead);
        StatusesWrite => Some(Scope::StatusesWrite);
        SessionsRead => Some(Scope::SessionsRead);
        SessionsManage => Some(Scope::SessionsManage);
        WebhooksManage => Some(Scope::WebhooksManage);
        KeysManage => Some(Scope::KeysManage);
        Admin => Some(Scope::Admin);
    }
}

/// The authenticated caller, holding scope `S`.
///
/// The credential comes from `X-Api-Key: <key>` or `Authorization: Bearer <key | per-user
/// token | JWT>`: `401` without a valid one, `429` over the credential's request rate, `403`
/// without the scope.
pub struct Auth<S> {
    pub principal: Principal,
    scope: PhantomData<S>,
}

impl<S: RequiredScope> FromRequestParts<ApiState> for Auth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        if let Some(scope) = S::SCOPE
            && !principal.allows(scope)
        {
            return Err(ApiError::new(
                "forbidden",
                format!("this credential lacks the scope `{scope}` this route needs"),
            ));
        }
        Ok(Auth { principal, scope: PhantomData })
    }
}

/// The request's principal: authenticated and counted against its rate limit once per
/// request, however many extractors ask.
pub(crate) async fn authenticate(parts: &mut Parts, state: &ApiState) -> Result<Principal, ApiError> {
    if let Some(principal) = parts.extensions.get::<Principal>() {
        return Ok(principal.clone());
    }
    let presented = credential(parts).ok_or_else(ApiError::unauthorized)?;
    let principal = match state.tenancy.authenticate(presented).await {
        Ok(principal) => principal,
        Err(AuthenticateError::InvalidCredentials) => return Err(ApiError::unauthorized()),
        Err(e) => return Err(ApiError::from_use_case(e)),
    };
    if let Some(limit) = &state.request_limit
        && let Err(wait) = limit.admit(&principal.credential.to_string())
    {
        return Err(ApiError::rate_limited("this credential sent too many requests", wait));
    }
    parts.extensions.insert(principal.clone());
    Ok(principal)
}

fn credential(parts: &Parts) -> Option<&str> {
    // An empty `X-Api-Key` (a client's placeholder) does not hide an `Authorization` header.
    if let Some(key) = parts.headers.get("x-api-key").and_then(|k| k.to_str().ok()).map(str::trim)
        && !key.is_empty()
    {
        return Some(key);
    }
    let authorization = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller and the one path parameter of the route.
async fn authenticated_path<S: RequiredScope>(
    parts: &mut Parts,
    state: &ApiState,
) -> Result<(Principal, String), ApiError> {
    let Auth::<S> { principal, .. } = Auth::from_request_parts(parts, state).await?;
    let Path(raw) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
    Ok((principal, raw))
}

/// A session addressed by the path, within the caller's tenant, for a caller holding scope
/// `S`. An id that cannot exist is simply not found.
pub struct SessionPath<S>(pub SessionKey, pub PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<ApiState> for SessionPath<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (principal, raw) = authenticated_path::<S>(parts, state).await?;
        let id = SessionId::new(raw.clone())
            .map_err(|_| ApiError::new("session_not_found", format!("no session with id {raw}")))?;
        Ok(SessionPath(SessionKey { tenant: principal.tenant, id }, PhantomData))
    }
}

/// A status addressed by the path, with the caller holding scope `S`. An id that cannot exist
/// is simply not found.
pub struct StatusPath<S>(pub Principal, pub StatusId, pub PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<ApiState> for StatusPath<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (principal, raw) = authenticated_path::<S>(parts, state).await?;
        let id = raw.parse().map_err(|_| ApiError::new("status_not_found", format!("no status with id {raw}")))?;
        Ok(StatusPath(principal, id, PhantomData))
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
