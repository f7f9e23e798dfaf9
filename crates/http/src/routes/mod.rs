//! The handlers, grouped by resource.

pub mod dto;
pub mod health;
mod qr;
mod sandbox;
mod sessions;
mod statuses;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::ApiError;
use crate::openapi::ApiDoc;

/// The routes with their OpenAPI description. The fault-injection route exists only with the
/// sandbox driver (`include_sandbox`).
pub fn api(include_sandbox: bool) -> OpenApiRouter<ApiState> {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::get, sessions::delete))
        .routes(routes!(sessions::pair))
        .routes(routes!(sessions::qr))
        .routes(routes!(sessions::logout))
        .routes(routes!(statuses::publish, statuses::list))
        .routes(routes!(statuses::get, statuses::revoke))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics));
    if include_sandbox { router.routes(routes!(sandbox::inject_fault)) } else { router }
}

pub async fn not_found() -> ApiError {
    ApiError::new("not_found", "no route matches this path; see /docs for the API")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new("method_not_allowed", "this route does not accept this method; see /docs for the API")
}
