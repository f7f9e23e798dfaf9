//! `/v1/admin`: tenants, and credentials in any tenant, for credentials with the `admin` scope.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wastatus_domain::{self as domain, ApiKeyId, Name, Principal, TenantId, UserId};

use super::access::{
    ApiKey, ApiKeyList, CreateApiKeyRequest, CreateUserRequest, CreatedApiKey, User, UserList, UserWithToken,
    create_key, create_user_in, list_keys, list_users_in,
};
use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::Admin;
use crate::extract::{ApiJson, Auth};

#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    pub id: uuid::Uuid,
    #[schema(example = "Acme")]
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<&domain::Tenant> for Tenant {
    fn from(t: &domain::Tenant) -> Self {
        Self { id: *t.id.as_uuid(), name: t.name.as_str().to_owned(), created_at: t.created_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub items: Vec<Tenant>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    #[schema(example = "Acme")]
    pub name: String,
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", request_body = CreateTenantRequest, responses(
    (status = 201, body = Tenant, headers(("location" = String, description = "The tenant's URL"))),
    (status = 422, description = "`invalid_name`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn create_tenant(
    State(state): State<ApiState>,
    _auth: Auth<Admin>,
    ApiJson(body): ApiJson<CreateTenantRequest>,
) -> Result<Response, ApiError> {
    let tenant = state.tenancy.create_tenant(Name::new(body.name)?).await.map_err(ApiError::from_use_case)?;
    let location = format!("/v1/admin/tenants/{}", tenant.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(Tenant::from(&tenant))).into_response())
}

/// Every tenant.
#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin", responses(
    (status = 200, body = TenantList),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn list_tenants(State(state): State<ApiState>, _auth: Auth<Admin>) -> Result<Json<TenantList>, ApiError> {
    let tenants = state.tenancy.tenants().await.map_err(ApiError::from_use_case)?;
    Ok(Json(TenantList { items: tenants.iter().map(Tenant::from).collect() }))
}

/// An existing tenant addressed by the path, for an administrator.
pub struct TenantPath(pub Principal, pub domain::Tenant);

impl FromRequestParts<ApiState> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let auth = Auth::<Admin>::from_request_parts(parts, state).await?;
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
        let id: TenantId =
            raw.parse().map_err(|_| ApiError::new("tenant_not_found", format!("no tenant with id {raw}")))?;
        let tenant = state.tenancy.tenant(id).await.map_err(ApiError::from_use_case)?;
        Ok(TenantPath(auth.principal, tenant))
    }
}

/// One tenant.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}", tag = "admin", params(("tenant_id" = uuid::Uuid, Path)), responses(
    (status = 200, body = Tenant),
    (status = 404, description = "`tenant_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn get_tenant(TenantPath(_admin, tenant): TenantPath) -> Json<Tenant> {
    Json(Tenant::from(&tenant))
}

/// Create an API key in a tenant. The secret is in the answer only.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/keys", tag = "admin", params(("tenant_id" = uuid::Uuid, Path)),
    request_body = CreateApiKeyRequest, responses(
    (status = 201, body = CreatedApiKey),
    (status = 404, description = "`tenant_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_scope`, `invalid_expiry`, `invalid_name`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn create_tenant_key(
    State(state): State<ApiState>,
    TenantPath(principal, tenant): TenantPath,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    create_key(&state, tenant.id, body, &principal).await
}

/// A tenant's API keys.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/keys", tag = "admin", params(("tenant_id" = uuid::Uuid, Path)), responses(
    (status = 200, body = ApiKeyList),
    (status = 404, description = "`tenant_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn list_tenant_keys(
    State(state): State<ApiState>,
    TenantPath(_admin, tenant): TenantPath,
) -> Result<Json<ApiKeyList>, ApiError> {
    list_keys(&state, tenant.id).await
}

/// Create a user in a tenant, with its per-user token (shown once).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/users", tag = "admin", params(("tenant_id" = uuid::Uuid, Path)),
    request_body = CreateUserRequest, responses(
    (status = 201, body = UserWithToken),
    (status = 404, description = "`tenant_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`user_already_exists`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn create_tenant_user(
    State(state): State<ApiState>,
    TenantPath(principal, tenant): TenantPath,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    create_user_in(&state, tenant.id, body, &principal).await
}

/// A tenant's users.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/users", tag = "admin", params(("tenant_id" = uuid::Uuid, Path)), responses(
    (status = 200, body = UserList),
    (status = 404, description = "`tenant_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn list_tenant_users(
    State(state): State<ApiState>,
    TenantPath(_admin, tenant): TenantPath,
) -> Result<Json<UserList>, ApiError> {
    list_users_in(&state, tenant.id).await
}

/// A credential of a tenant, addressed by the path (`/v1/admin/tenants/{tenant_id}/…/{id}`),
/// for an administrator. Ids that cannot exist are simply not found.
pub struct TenantCredentialPath<T>(pub TenantId, pub T);

impl<T: std::str::FromStr + Send> FromRequestParts<ApiState> for TenantCredentialPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        Auth::<Admin>::from_request_parts(parts, state).await?;
        let Path((tenant, id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
        let tenant: TenantId =
            tenant.parse().map_err(|_| ApiError::new("tenant_not_found", format!("no tenant with id {tenant}")))?;
        let what = if parts.uri.path().contains("/keys/") { "api_key_not_found" } else { "user_not_found" };
        let id = id.parse().map_err(|_| ApiError::new(what, format!("nothing with id {id}")))?;
        Ok(TenantCredentialPath(tenant, id))
    }
}

/// Revoke an API key of any tenant.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/keys/{key_id}", tag = "admin",
    params(("tenant_id" = uuid::Uuid, Path), ("key_id" = uuid::Uuid, Path)), responses(
    (status = 200, description = "The key, now revoked", body = ApiKey),
    (status = 404, description = "`api_key_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn revoke_tenant_key(
    State(state): State<ApiState>,
    TenantCredentialPath(tenant, id): TenantCredentialPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = state.tenancy.revoke_api_key(tenant, id, None).await.map_err(ApiError::from_use_case)?;
    Ok(Json(ApiKey::from(&key)))
}

/// Disable a user of any tenant.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/users/{user_id}", tag = "admin",
    params(("tenant_id" = uuid::Uuid, Path), ("user_id" = uuid::Uuid, Path)), responses(
    (status = 200, description = "The user, now disabled", body = User),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["admin"]), ("bearer" = ["admin"])))]
pub async fn disable_tenant_user(
    State(state): State<ApiState>,
    TenantCredentialPath(tenant, id): TenantCredentialPath<UserId>,
) -> Result<Json<User>, ApiError> {
    let user = state.tenancy.disable_user(tenant, id, None).await.map_err(ApiError::from_use_case)?;
    Ok(Json(User::from(&user)))
}
