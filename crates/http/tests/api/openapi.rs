//! The whole OpenAPI document is a snapshot: any change to the API shows up in review.

#[test]
fn the_openapi_document_is_stable() {
    let doc = serde_json::to_string_pretty(&wastatus_http::openapi()).unwrap();
    insta::assert_snapshot!("openapi", doc);
}

#[test]
fn every_route_is_documented_with_its_errors() {
    let doc = serde_json::to_value(wastatus_http::openapi()).unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().split('.').next(), Some("3"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/sessions",
        "/v1/sessions/{session_id}",
        "/v1/sessions/{session_id}/pair",
        "/v1/sessions/{session_id}/qr",
        "/v1/sessions/{session_id}/logout",
        "/v1/sessions/{session_id}/statuses",
        "/v1/statuses/{status_id}",
        "/v1/sandbox/sessions/{session_id}/faults",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("api_key") && schemes.contains_key("bearer"));
}
