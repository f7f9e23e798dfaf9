//! Bad input gets a 4xx problem document with a specific code, never a 500.

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::json;
use wastatus_http::HttpConfig;

use crate::support::TestApp;

async fn publish_raw(app: &TestApp, key: &str, content_type: &str, body: impl Into<Body>) -> crate::support::Response {
    let request = Request::post("/v1/sessions/s1/statuses")
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn invalid_status_fields_name_the_problem() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let cases = [
        (json!({"type": "text", "text": "hi", "background_color": "green"}), "invalid_color", "background_color"),
        (json!({"type": "text", "text": "hi", "background_color": "#12345"}), "invalid_color", "background_color"),
        (json!({"type": "text", "text": ""}), "empty_text", "text"),
        (json!({"type": "text", "text": "   "}), "empty_text", "text"),
        (json!({"type": "text"}), "empty_text", "text"),
        (json!({"type": "text", "text": "x".repeat(701)}), "text_too_long", "text"),
        (json!({"type": "text", "text": "hi", "font": "COMIC_SANS"}), "unknown_font", "font"),
        (json!({"type": "text", "text": "hi", "font": 11}), "unknown_font", "font"),
    ];
    for (body, code, field) in cases {
        let doc = app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(body.clone())).await.problem(422, code);
        assert_eq!(doc["field"], field, "{body}");
    }
    let doc = app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(json!({"type": "poll"}))).await;
    doc.problem(422, "unsupported_status_type");
    // An audience that cannot be honoured as written is refused, never silently widened.
    let audiences = [
        (json!({"mode": "everyone"}), "unsupported_audience"),
        (json!({"mode": "allowlist"}), "empty_audience"),
        (json!({"mode": "allowlist", "jids": []}), "empty_audience"),
        (json!({"mode": "allowlist", "jids": ["919876543210", "not a number"]}), "invalid_recipient"),
        (json!({"mode": "denylist", "jids": ["120363025246125888@g.us"]}), "invalid_recipient"),
        (json!({"mode": "contacts", "jids": ["919876543210"]}), "invalid_audience"),
        (json!({"mode": "allowlist", "jids": vec!["+15550100001"; 50_001]}), "audience_too_large"),
        // Far too long: refused as such, without parsing (or holding) every entry.
        (json!({"mode": "denylist", "jids": vec!["x"; 300_000]}), "audience_too_large"),
    ];
    for (audience, code) in audiences {
        let body = json!({"type": "text", "text": "hi", "audience": audience});
        let doc = app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(body)).await.problem(422, code);
        assert_eq!(doc["field"], "audience", "{doc}");
    }
    let typo = json!({"type": "text", "text": "hi", "audience": {"mode": "allowlist", "jid": ["919876543210"]}});
    app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(typo)).await.problem(422, "invalid_request");
    // Nothing invalid reached WhatsApp.
    assert!(app.sandbox.sent(&session_key(&app, &key).await).is_empty());
}

async fn session_key(app: &TestApp, key: &str) -> wastatus_domain::SessionKey {
    let principal = app.tenancy.authenticate(key).await.unwrap();
    wastatus_domain::SessionKey { tenant: principal.tenant, id: wastatus_domain::SessionId::new("s1").unwrap() }
}

#[tokio::test]
async fn malformed_bodies() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    publish_raw(&app, &key, "application/json", "{\"type\": \"text\", ").await.problem(400, "malformed_json");
    publish_raw(&app, &key, "application/json", "").await.problem(400, "malformed_json");
    publish_raw(&app, &key, "application/json", "{\"type\": 5}").await.problem(422, "invalid_request");
    publish_raw(&app, &key, "application/json", "[1,2]").await.problem(422, "invalid_request");
    publish_raw(&app, &key, "text/plain", "{\"type\":\"text\",\"text\":\"hi\"}")
        .await
        .problem(415, "unsupported_media_type");
    let res = app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(json!({"method": "carrier pigeon"}))).await;
    res.problem(422, "invalid_request");
    let res = app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "has space"}))).await;
    assert_eq!(res.problem(422, "invalid_session_id")["field"], "id");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let config = HttpConfig { body_limit: 1024, publish_body_limit: 4096, ..HttpConfig::default() };
    let app = TestApp::with_config(config).await;
    let key = app.paired().await;
    // Publishing has its own, larger limit (it carries media)...
    let within = json!({"type": "text", "text": "x".repeat(2048)}).to_string();
    publish_raw(&app, &key, "application/json", within).await.problem(422, "text_too_long");
    let beyond = json!({"type": "text", "text": "x".repeat(8192)}).to_string();
    publish_raw(&app, &key, "application/json", beyond).await.problem(413, "payload_too_large");
    // ...while every other route keeps the general one.
    let session = json!({"id": "x".repeat(2048)});
    app.call("POST", "/v1/sessions", Some(&key), Some(session)).await.problem(413, "payload_too_large");
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let app = TestApp::new().await;
    let res = app.call("GET", "/v1/sessions", None, None).await;
    res.problem(401, "unauthorized");
    assert_eq!(res.headers[header::WWW_AUTHENTICATE], "Bearer");
    // Well-formed (wsk_ and 40 base62 characters), so it is looked up, and unknown.
    let unknown = format!("wsk_{}", "A".repeat(40));
    app.call("GET", "/v1/sessions", Some(&unknown), None).await.problem(401, "unauthorized");
    app.call("GET", "/v1/sessions", Some("garbage"), None).await.problem(401, "unauthorized");
    let key = app.tenant("Acme").await;
    let res = app
        .send(
            Request::get("/v1/sessions").header("authorization", format!("Bearer {key}")).body(Body::empty()).unwrap(),
        )
        .await;
    assert_eq!(res.status, 200, "Bearer works as well as X-Api-Key");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::new().await;
    app.call("GET", "/v2/nothing", None, None).await.problem(404, "not_found");
    app.call("PUT", "/healthz", None, None).await.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::new().await;
    let res = app.call("GET", "/healthz", None, None).await;
    assert_eq!(res.status, 200);
    assert!(!res.headers["x-request-id"].to_str().unwrap().is_empty());
    let given =
        app.send(Request::get("/healthz").header("x-request-id", "trace-me").body(Body::empty()).unwrap()).await;
    assert_eq!(given.headers["x-request-id"], "trace-me", "a caller's request id is kept");
}

#[tokio::test]
async fn pagination_parameters_are_validated() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    app.call("GET", "/v1/sessions/s1/statuses?limit=0", Some(&key), None).await.problem(422, "invalid_limit");
    app.call("GET", "/v1/sessions/s1/statuses?limit=101", Some(&key), None).await.problem(422, "invalid_limit");
    app.call("GET", "/v1/sessions/s1/statuses?limit=ten", Some(&key), None).await.problem(422, "invalid_request");
    app.call("GET", "/v1/sessions/s1/statuses?cursor=bogus", Some(&key), None).await.problem(422, "invalid_cursor");
    app.call("GET", "/v1/sessions/s1/statuses?state=lost", Some(&key), None).await.problem(422, "invalid_state");
}

#[test]
fn the_error_table_in_the_docs_is_complete() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md")).unwrap();
    for (code, status, _) in wastatus_http::error::CODES {
        assert!(doc.contains(&format!("| `{code}` | {status} |")), "docs/API.md lacks {code} ({status})");
    }
}

#[test]
fn every_media_error_code_has_a_status() {
    for code in wastatus_media::MediaError::CODES {
        assert!(wastatus_http::error::CODES.iter().any(|(c, _, _)| c == code), "{code} would answer 500");
    }
}
