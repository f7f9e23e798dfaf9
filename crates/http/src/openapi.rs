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
    modifiers(&Security),
    tags(
        (name = "sessions", description = "Linked WhatsApp numbers: create, pair, inspect, log out, delete."),
        (name = "statuses", description = "Publish status updates, read their history, revoke them."),
        (name = "sandbox", description = "Fault injection for the sandbox driver (`whatsapp.driver = \"sandbox\"`)."),
        (name = "operations", description = "Health, readiness and metrics."),
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
                    .description(Some("The same API key as `Authorization: Bearer wsk_…`."))
                    .build(),
            ),
        );
    }
}

/// The complete OpenAPI document of the native API, sandbox routes included. A server serves
/// the document of the routes it has.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let options = crate::routes::Options { sandbox: true, publish_body_limit: 0 };
    let mut doc = crate::routes::api(options).split_for_parts().1;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
