//! The OpenAPI document's frame: info, security schemes and tags. The paths and schemas come
//! from the handlers themselves (see `routes::api`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wastatus",
        description = "A self-hosted REST gateway that publishes WhatsApp Status updates from linked WhatsApp numbers.\n\nErrors are RFC 9457 `application/problem+json` documents with a stable snake_case `code`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&Security, &AuthResponses),
    tags(
        (name = "sessions", description = "Linked WhatsApp numbers: create, pair, inspect, log out, delete."),
        (name = "statuses", description = "Publish status updates, read their history, revoke them."),
        (name = "webhooks", description = "Webhook endpoints: events delivered signed (Standard Webhooks), retried, with a delivery log. See docs/WEBHOOKS.md."),
        (name = "access", description = "Logging in, and a tenant's API keys and users. Every route needs a credential with the scope its security requirement names."),
        (name = "admin", description = "Tenants and their credentials, for credentials with the `admin` scope."),
        (name = "sandbox", description = "Fault injection for the sandbox driver (`whatsapp.driver = \"sandbox\"`)."),
        (name = "operations", description = "Health, readiness and metrics."),
        (name = "compat-wuts", description = "Compatibility API: drop-in WUTS-style routes (`POST /status/media`, `POST /status/text`) that publish through the caller's device, the session created for their user. They run the same use cases as the native routes; bodies and errors use the WUTS shapes (`{success, …}`, `{success: false, error: {code, message}}`), not problem+json. See docs/MIGRATING.md."),
        (name = "compat-walytic", description = "Compatibility API: drop-in Walytic-style routes (`/api/whatsapp/{sessionId}/…`) for a session named in the path. They run the same use cases as the native routes; bodies and errors use the Walytic shapes (`{success, message, data}`, `{success: false, message, error?}`), not problem+json. See docs/MIGRATING.md."),
    ),
    components(schemas(crate::error::Problem)),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An API key (`wsk_…`), created with `wastatus admin key create`.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`wsk_…`), a per-user token (a UUID v4) or a JWT from `POST /v1/auth/token`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds the answers every authenticated route can give (`401`, `403`, `429`) to each
/// operation that has a security requirement, so the handlers need not repeat them.
struct AuthResponses;

impl Modify for AuthResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_none() {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses.entry("401".into()).or_insert_with(|| problem("`unauthorized`: no valid credential").into());
                responses
                    .entry("403".into())
                    .or_insert_with(|| problem("`forbidden`: the credential lacks the required scope").into());
                responses.entry("429".into()).or_insert_with(|| {
                    problem("`rate_limited`: too many requests with this credential (see `Retry-After`)").into()
                });
            }
        }
    }
}

/// The complete OpenAPI document of the native API, sandbox routes included. A server serves
/// the document of the routes it has.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let options = crate::routes::Options { sandbox: true, publish_body_limit: 0, idempotency: None };
    let mut doc = crate::routes::api(options).split_for_parts().1;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
