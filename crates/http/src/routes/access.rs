//! Credentials: logging in, who am I, and a tenant's API keys and users. Administrators do the
//! same across tenants (see [`super::admin`]).

use std::time::Duration;

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wastatus_domain::service::{LoginError, NewApiKey, NewUser};
use wastatus_domain::{self as domain, ApiKeyId, CredentialId, Name, Password, Principal, Scopes, TenantId, UserId};

use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::scope::{Authenticated, KeysManage};
use crate::extract::{ApiJson, Auth};

/// How long a failed login waits before answering, on top of the password check itself, so
/// that guessing is slow.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(400);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The `name` the user was created with.
    #[schema(example = "ana")]
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// Log in with a username and password for a short-lived JWT (dashboard users).
///
/// Wrong usernames and wrong passwords are refused alike, and slowly.
#[utoipa::path(post, path = "/v1/auth/token", tag = "access", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`rate_limited`: too many attempts for this username", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`login_not_configured`: no `auth.jwt.secret`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn login(
    State(state): State<ApiState>,
    Peer(peer): Peer,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if let Some(limit) = &state.login_limit {
        // Per client address and username: a stranger guessing from elsewhere does not lock
        // the user out. Behind a proxy every client has the proxy's address; the limit then
        // applies per username.
        let peer = peer.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        let username: String = body.username.trim().chars().take(Name::MAX_CHARS).collect();
        if let Err(wait) = limit.admit(&format!("{peer} {username}")) {
            return Err(ApiError::rate_limited("too many login attempts for this username", wait));
        }
    }
    match state.tenancy.login(&body.username, &body.password).await {
        Ok(token) => Ok(no_store(Json(LoginResponse {
            access_token: token.token,
            token_type: "Bearer",
            expires_in: token.expires_in.num_seconds(),
        }))),
        Err(LoginError::InvalidCredentials) => {
            tokio::time::sleep(FAILED_LOGIN_DELAY).await;
            Err(ApiError::new("unauthorized", "the username or password is not valid"))
        }
        Err(e) => Err(ApiError::from_use_case(e)),
    }
}

/// The client's address, when the server knows it (it is served with connection info).
pub struct Peer(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// An answer carrying a secret: not to be stored by caches (RFC 9111, as RFC 6749 asks of
/// token responses).
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The credential a request presents.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub tenant_id: uuid::Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<uuid::Uuid>,
    /// `api_key`, `user_token` or `jwt`.
    #[schema(example = "api_key")]
    pub credential: &'static str,
    /// The API key's id, for an API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<uuid::Uuid>,
    #[schema(example = json!(["statuses:read", "statuses:write"]))]
    pub scopes: Vec<&'static str>,
}

/// Who the credential stands for, and what it may do.
#[utoipa::path(get, path = "/v1/me", tag = "access", responses(
    (status = 200, body = Me),
), security(("api_key" = []), ("bearer" = [])))]
pub async fn me(auth: Auth<Authenticated>) -> Json<Me> {
    let p = auth.principal;
    let (credential, api_key_id) = match p.credential {
        CredentialId::ApiKey(id) => ("api_key", Some(*id.as_uuid())),
        CredentialId::UserToken(_) => ("user_token", None),
        CredentialId::Jwt(_) => ("jwt", None),
    };
    Json(Me {
        tenant_id: *p.tenant.as_uuid(),
        user_id: p.user.map(|u| *u.as_uuid()),
        credential,
        api_key_id,
        scopes: scope_names(p.scopes),
    })
}

pub(super) fn scope_names(scopes: Scopes) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

fn parse_scopes(names: Option<Vec<String>>, default: Scopes) -> Result<Scopes, ApiError> {
    match names {
        None => Ok(default),
        Some(names) => {
            let scopes = Scopes::parse(&names)?;
            if scopes.is_empty() {
                return Err(ApiError::new("invalid_scope", "give at least one scope, or leave `scopes` out"));
            }
            Ok(scopes)
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: uuid::Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The first characters of the secret, to tell keys apart.
    #[schema(example = "wsk_AbCd")]
    pub prefix: String,
    pub scopes: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&domain::ApiKey> for ApiKey {
    fn from(k: &domain::ApiKey) -> Self {
        Self {
            id: *k.id.as_uuid(),
            name: k.name.as_ref().map(|n| n.as_str().to_owned()),
            prefix: k.display_prefix.clone(),
            scopes: scope_names(k.scopes),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key with its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret: store it now, it cannot be shown again.
    #[schema(example = "wsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd")]
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: Option<String>,
    /// Defaults to every scope but `admin`. A credential can only grant scopes it has.
    #[schema(example = json!(["statuses:write", "statuses:read"]))]
    pub scopes: Option<Vec<String>>,
    /// After this instant the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
}

pub(super) async fn create_key(
    state: &ApiState,
    tenant: TenantId,
    body: CreateApiKeyRequest,
    granted_by: &Principal,
) -> Result<Response, ApiError> {
    let new = NewApiKey {
        name: body.name.map(Name::new).transpose()?,
        scopes: parse_scopes(body.scopes, Scopes::TENANT)?,
        expires_at: body.expires_at,
    };
    let issued = state.tenancy.create_api_key(tenant, new, Some(granted_by)).await.map_err(ApiError::from_use_case)?;
    let body = CreatedApiKey { api_key: ApiKey::from(&issued.key), key: issued.secret };
    Ok(no_store((StatusCode::CREATED, Json(body))))
}

/// Create an API key for the caller's tenant. The secret is in the answer only.
#[utoipa::path(post, path = "/v1/keys", tag = "access", request_body = CreateApiKeyRequest, responses(
    (status = 201, body = CreatedApiKey),
    (status = 403, description = "`forbidden`, `scope_not_grantable`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_scope`, `invalid_expiry`, `invalid_name`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn create_api_key(
    State(state): State<ApiState>,
    auth: Auth<KeysManage>,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    create_key(&state, auth.principal.tenant, body, &auth.principal).await
}

/// The tenant's API keys, revoked ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "access", responses(
    (status = 200, body = ApiKeyList),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn list_api_keys(
    State(state): State<ApiState>,
    auth: Auth<KeysManage>,
) -> Result<Json<ApiKeyList>, ApiError> {
    list_keys(&state, auth.principal.tenant).await
}

pub(super) async fn list_keys(state: &ApiState, tenant: TenantId) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.tenancy.api_keys(tenant).await.map_err(ApiError::from_use_case)?;
    Ok(Json(ApiKeyList { items: keys.iter().map(ApiKey::from).collect() }))
}

/// A path id of a credential: one that cannot exist is simply not found.
fn path_id<T: std::str::FromStr>(raw: &str, code: &'static str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::new(code, format!("no {what} with id {raw}")))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "access", params(("key_id" = uuid::Uuid, Path)), responses(
    (status = 200, description = "The key, now revoked", body = ApiKey),
    (status = 404, description = "`api_key_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn revoke_api_key(
    State(state): State<ApiState>,
    auth: Auth<KeysManage>,
    Path(raw): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let id: ApiKeyId = path_id(&raw, "api_key_not_found", "API key")?;
    let key = state
        .tenancy
        .revoke_api_key(auth.principal.tenant, id, Some(&auth.principal))
        .await
        .map_err(ApiError::from_use_case)?;
    Ok(Json(ApiKey::from(&key)))
}

/// A user, without its token or password.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    /// Also the username for `POST /v1/auth/token`.
    #[schema(example = "ana")]
    pub name: String,
    pub scopes: Vec<&'static str>,
    /// The first characters of the per-user token, to tell tokens apart.
    pub token_prefix: String,
    /// Whether the user can log in for a JWT.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<&domain::User> for User {
    fn from(u: &domain::User) -> Self {
        Self {
            id: *u.id.as_uuid(),
            tenant_id: *u.tenant.as_uuid(),
            name: u.name.as_str().to_owned(),
            scopes: scope_names(u.scopes),
            token_prefix: u.token_prefix.clone(),
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            last_used_at: u.last_used_at,
            disabled_at: u.disabled_at,
        }
    }
}

/// A user with its per-user token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct UserWithToken {
    #[serde(flatten)]
    pub user: User,
    /// The per-user API token (a UUID v4): store it now, it cannot be shown again.
    #[schema(example = "0b5e2d1c-7a43-4f7e-9c1a-5d2f3e4a6b7c")]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique across the server: it is the username for logging in.
    #[schema(example = "ana")]
    pub name: String,
    /// Lets the user log in for a JWT; 8 characters or more.
    pub password: Option<String>,
    /// Defaults to statuses, sessions and webhooks, without `keys:manage`.
    pub scopes: Option<Vec<String>>,
}

pub(super) async fn create_user_in(
    state: &ApiState,
    tenant: TenantId,
    body: CreateUserRequest,
    granted_by: &Principal,
) -> Result<Response, ApiError> {
    let new = NewUser {
        name: Name::new(body.name)?,
        password: body.password.map(Password::new).transpose()?,
        scopes: parse_scopes(body.scopes, Scopes::USER)?,
    };
    let issued = state.tenancy.create_user(tenant, new, Some(granted_by)).await.map_err(ApiError::from_use_case)?;
    let body = UserWithToken { user: User::from(&issued.user), token: issued.token };
    Ok(no_store((StatusCode::CREATED, Json(body))))
}

/// Create a user with a per-user token (shown once) and, optionally, a password.
#[utoipa::path(post, path = "/v1/users", tag = "access", request_body = CreateUserRequest, responses(
    (status = 201, body = UserWithToken),
    (status = 403, description = "`forbidden`, `scope_not_grantable`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`user_already_exists`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_name`, `invalid_password`, `invalid_scope`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn create_user(
    State(state): State<ApiState>,
    auth: Auth<KeysManage>,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    create_user_in(&state, auth.principal.tenant, body, &auth.principal).await
}

/// The tenant's users.
#[utoipa::path(get, path = "/v1/users", tag = "access", responses(
    (status = 200, body = UserList),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn list_users(State(state): State<ApiState>, auth: Auth<KeysManage>) -> Result<Json<UserList>, ApiError> {
    list_users_in(&state, auth.principal.tenant).await
}

pub(super) async fn list_users_in(state: &ApiState, tenant: TenantId) -> Result<Json<UserList>, ApiError> {
    let users = state.tenancy.users(tenant).await.map_err(ApiError::from_use_case)?;
    Ok(Json(UserList { items: users.iter().map(User::from).collect() }))
}

/// A user of the caller's tenant, addressed by the path.
pub struct UserPath(pub Principal, pub UserId);

impl FromRequestParts<ApiState> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let auth = Auth::<KeysManage>::from_request_parts(parts, state).await?;
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new("invalid_request", e.body_text()))?;
        Ok(UserPath(auth.principal, path_id(&raw, "user_not_found", "user")?))
    }
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "access", params(("user_id" = uuid::Uuid, Path)), responses(
    (status = 200, body = User),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn get_user(State(state): State<ApiState>, UserPath(p, id): UserPath) -> Result<Json<User>, ApiError> {
    let user = state.tenancy.user(p.tenant, id).await.map_err(ApiError::from_use_case)?;
    Ok(Json(User::from(&user)))
}

/// Disable a user: its token and JWTs stop working. Its session stays.
#[utoipa::path(delete, path = "/v1/users/{user_id}", tag = "access", params(("user_id" = uuid::Uuid, Path)), responses(
    (status = 200, description = "The user, now disabled", body = User),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn disable_user(State(state): State<ApiState>, UserPath(p, id): UserPath) -> Result<Json<User>, ApiError> {
    let user = state.tenancy.disable_user(p.tenant, id, Some(&p)).await.map_err(ApiError::from_use_case)?;
    Ok(Json(User::from(&user)))
}

/// Replace a user's per-user token; the old one stops working at once.
#[utoipa::path(post, path = "/v1/users/{user_id}/token", tag = "access", params(("user_id" = uuid::Uuid, Path)), responses(
    (status = 200, body = UserWithToken),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
), security(("api_key" = ["keys:manage"]), ("bearer" = ["keys:manage"])))]
pub async fn rotate_user_token(State(state): State<ApiState>, UserPath(p, id): UserPath) -> Result<Response, ApiError> {
    let issued = state.tenancy.rotate_user_token(p.tenant, id, Some(&p)).await.map_err(ApiError::from_use_case)?;
    Ok(no_store(Json(UserWithToken { user: User::from(&issued.user), token: issued.token })))
}
