//! The handlers, grouped by resource.

mod access;
mod admin;
pub(crate) mod compat;
pub mod dto;
pub mod health;
mod qr;
mod sandbox;
mod sessions;
mod statuses;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::ApiError;
use crate::openapi::ApiDoc;

/// What varies between servers in the set of routes.
pub struct Options {
    /// Whether the routes of the sandbox driver (fault injection, the record of sends) exist.
    pub sandbox: bool,
    /// The body limit of the publish route, which carries media.
    pub publish_body_limit: usize,
    /// `Idempotency-Key` handling for the publish and revoke routes; `None` only where the
    /// routes are built for their description alone.
    pub idempotency: Option<crate::idempotency::Idempotency>,
}

/// The routes with their OpenAPI description.
pub fn api(options: Options) -> OpenApiRouter<ApiState> {
    let publish_limit = DefaultBodyLimit::max(options.publish_body_limit);
    let idempotent = |limit: Option<usize>| {
        options.idempotency.clone().map(|config| {
            let body_limit = limit.unwrap_or(config.body_limit);
            axum::middleware::from_fn_with_state(
                crate::idempotency::Idempotency { body_limit, ..config },
                crate::idempotency::layer,
            )
        })
    };
    let publish = routes!(statuses::publish, statuses::list).layer(publish_limit);
    let publish = match idempotent(Some(options.publish_body_limit)) {
        Some(layer) => publish.layer(layer),
        None => publish,
    };
    let revoke = routes!(statuses::get, statuses::revoke);
    let revoke = match idempotent(None) {
        Some(layer) => revoke.layer(layer),
        None => revoke,
    };
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::get, sessions::delete))
        .routes(routes!(sessions::pair))
        .routes(routes!(sessions::qr))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::restart))
        .routes(routes!(sessions::contacts))
        .routes(publish)
        .routes(revoke)
        .routes(routes!(access::login))
        .routes(routes!(access::me))
        .routes(routes!(access::create_api_key, access::list_api_keys))
        .routes(routes!(access::revoke_api_key))
        .routes(routes!(access::create_user, access::list_users))
        .routes(routes!(access::get_user, access::disable_user))
        .routes(routes!(access::rotate_user_token))
        .routes(routes!(admin::create_tenant, admin::list_tenants))
        .routes(routes!(admin::get_tenant))
        .routes(routes!(admin::create_tenant_key, admin::list_tenant_keys))
        .routes(routes!(admin::create_tenant_user, admin::list_tenant_users))
        .routes(routes!(admin::revoke_tenant_key))
        .routes(routes!(admin::disable_tenant_user))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::ping))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .merge(compat::routes(options.publish_body_limit));
    if options.sandbox { router.routes(routes!(sandbox::inject_fault)).routes(routes!(sandbox::sent)) } else { router }
}

pub async fn not_found() -> ApiError {
    ApiError::new("not_found", "no route matches this path; see /docs for the API")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new("method_not_allowed", "this route does not accept this method; see /docs for the API")
}
