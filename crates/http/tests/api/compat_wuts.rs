//! The WUTS-compatible surface (`POST /status/media`, `POST /status/text`): the seed's examples
//! verbatim, and each of its documented errors in its shape.

use axum::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::ImageFormat;
use serde_json::{Value, json};
use wastatus_domain::{Scope, Scopes};
use wastatus_http::HttpConfig;
use wastatus_media::fixtures::{self, Video};

use crate::compat_support::*;
use crate::support::{Options, Response, TestApp};

async fn media(app: &TestApp, token: &str, body: Value) -> Response {
    app.call_bearer("POST", "/status/media", token, Some(body)).await
}

async fn text(app: &TestApp, token: &str, body: Value) -> Response {
    app.call_bearer("POST", "/status/text", token, Some(body)).await
}

/// A `{success: false, error: {code, message}}` answer; returns the message.
#[track_caller]
fn wuts_error(res: &Response, status: u16, code: &str) -> String {
    let body = json_of(res, status);
    assert_eq!(keys(&body), ["error", "success"], "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(keys(&body["error"]), ["code", "message"], "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    message
}

/// A `422 {success: false, error: "validation failed", error_code: "VALIDATION_ERROR",
/// timestamp}` answer.
#[track_caller]
fn validation_error(res: &Response) {
    let body = json_of(res, 422);
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"], "validation failed");
    assert_eq!(body["error_code"], "VALIDATION_ERROR");
    assert_rfc3339_z(&body["timestamp"]);
    assert!(body["details"].is_string(), "{body}");
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The seed's 200 answer: these five members and no other.
#[track_caller]
fn published(res: &Response, status_type: &str, mime_type: &str) -> Value {
    let body = json_of(res, 200);
    assert_eq!(keys(&body), ["message_id", "mime_type", "status_type", "success", "timestamp"], "{body}");
    assert_eq!(body["success"], true);
    assert_message_id(&body["message_id"]);
    assert_rfc3339_with_offset(&body["timestamp"]);
    assert_eq!(body["status_type"], status_type);
    assert_eq!(body["mime_type"], mime_type);
    body
}

#[tokio::test]
async fn the_seed_curl_example_publishes_an_image_through_the_users_device() {
    let app = app_with(Options::default()).await;
    let device = device(&app, true).await;
    let origin = serve(fixtures::image(640, 480, ImageFormat::Jpeg), "image/jpeg").await;
    // The seed's request, with only the host, the credential and the media URL changed.
    let body = r#"{    "media_type": "image",    "mime_type": "image/jpeg",    "url": "ORIGIN/promos/today.jpg",    "caption": "Flash sale ends tonight!",    "view_once": false  }"#
        .replace("ORIGIN", &origin);
    let auth = format!("Bearer {}", device.token);
    let res = post_raw(
        &app,
        "/status/media",
        &[("Content-Type", "application/json"), ("Authorization", auth.as_str())],
        &body,
    )
    .await;
    let body = published(&res, "image", "image/jpeg");

    // The same use case as the native API: the status is in the device's history.
    let history = native_history(&app, &device.key, device.session).await;
    assert_eq!(history.len(), 1);
    let status = &history[0];
    assert_eq!(status["message_id"], body["message_id"]);
    assert_eq!((status["type"].as_str(), status["state"].as_str()), (Some("image"), Some("published")));
    assert_eq!(status["caption"], "Flash sale ends tonight!");
    assert_eq!(status["view_once"], false);
    assert_eq!(status["media"]["mime_type"], "image/jpeg");
    let published_at = chrono::DateTime::parse_from_rfc3339(status["published_at"].as_str().unwrap()).unwrap();
    let timestamp = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(timestamp.timestamp(), published_at.timestamp(), "the timestamp is the publish time");
}

#[tokio::test]
async fn a_text_status_and_its_defaults() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    let res =
        text(&app, &device.token, json!({"text": "Flash sale", "background_color": "#25D366", "font": "SERIF"})).await;
    let first = published(&res, "text", "text/plain");
    published(&text(&app, &device.token, json!({"text": "Defaults", "font": 2})).await, "text", "text/plain");

    let history = native_history(&app, &device.key, device.session).await;
    assert_eq!(history.len(), 2);
    let (newest, oldest) = (&history[0], &history[1]);
    assert_eq!(oldest["message_id"], first["message_id"]);
    assert_eq!(
        (oldest["text"].as_str(), oldest["background_color"].as_str(), oldest["font"].as_str()),
        (Some("Flash sale"), Some("#FF25D366"), Some("SERIF"))
    );
    assert_eq!(
        (newest["text"].as_str(), newest["background_color"].as_str(), newest["font"].as_str()),
        (Some("Defaults"), Some("#FF101010"), Some("NORICAN_REGULAR"))
    );
}

#[tokio::test]
async fn the_media_type_comes_from_media_type_mime_type_or_the_bytes() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    let mp4 = Video::default().build();
    let png = fixtures::image(64, 48, ImageFormat::Png);

    // From mime_type.
    let res =
        media(&app, &device.token, json!({"mime_type": "video/mp4", "data": b64(&mp4), "caption": "Teaser"})).await;
    published(&res, "video", "video/mp4");
    // From the bytes, when neither is given: a video, then an image (sent as JPEG).
    published(&media(&app, &device.token, json!({"data": b64(&mp4)})).await, "video", "video/mp4");
    published(&media(&app, &device.token, json!({"data": b64(&png), "view_once": true})).await, "image", "image/jpeg");
    // Stated.
    let res =
        media(&app, &device.token, json!({"media_type": "image", "mime_type": "image/png", "data": b64(&png)})).await;
    published(&res, "image", "image/jpeg");

    let history = native_history(&app, &device.key, device.session).await;
    let types: Vec<_> = history.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["image", "image", "video", "video"]);
    assert_eq!(history[1]["view_once"], true);
    assert_eq!(history[3]["caption"], "Teaser");
}

#[tokio::test]
async fn media_that_cannot_be_used_is_invalid_media() {
    let app = app_with(Options::default()).await;
    let device = device(&app, true).await;
    let jpeg = fixtures::image(32, 32, ImageFormat::Jpeg);
    let mp4 = Video::default().build();

    // The seed's own example of this error, to the letter.
    let res =
        media(&app, &device.token, json!({"media_type": "image", "mime_type": "image/jpeg", "caption": "x"})).await;
    assert_eq!(
        json_of(&res, 400),
        json!({"success": false, "error": {"code": "invalid_media", "message": "either data or url must be provided"}})
    );

    let origin = serve(jpeg.clone(), "image/jpeg").await;
    let html = serve(b"<!doctype html><title>Not found</title>".to_vec(), "image/jpeg").await;
    let cases = [
        ("both data and url", json!({"media_type": "image", "data": b64(&jpeg), "url": format!("{origin}/a.jpg")})),
        ("bad base64", json!({"media_type": "image", "data": "not base64!!"})),
        ("bytes that are not an image or video", json!({"media_type": "image", "data": b64(b"%PDF-1.7 ...")})),
        ("a page, not an image", json!({"media_type": "image", "url": format!("{html}/today.jpg")})),
        ("a video as an image", json!({"media_type": "image", "data": b64(&mp4)})),
        ("an image declared as a video", json!({"mime_type": "video/mp4", "data": b64(&jpeg)})),
        ("media_type against mime_type", json!({"media_type": "video", "mime_type": "image/jpeg", "data": b64(&mp4)})),
        ("an unsupported type", json!({"mime_type": "application/pdf", "data": b64(b"%PDF-1.7")})),
        ("a URL that is not one", json!({"media_type": "image", "url": "not a url"})),
    ];
    for (what, body) in cases {
        let message = wuts_error(&media(&app, &device.token, body).await, 400, "invalid_media");
        assert!(!message.contains("urn:"), "{what}: {message}");
    }
    let message = wuts_error(
        &media(&app, &device.token, json!({"media_type": "image", "data": b64(&jpeg), "url": "https://x/y.jpg"})).await,
        400,
        "invalid_media",
    );
    assert_eq!(message, "provide either data or url, not both");
    assert!(native_history(&app, &device.key, device.session).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn requests_that_do_not_validate_are_422_validation_failed() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    let auth = format!("Bearer {}", device.token);
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let data = b64(&fixtures::image(8, 8, ImageFormat::Jpeg));

    validation_error(&post_raw(&app, "/status/media", &headers, r#"{"media_type": "image", "#).await);
    validation_error(&post_raw(&app, "/status/text", &headers, "not json").await);
    for body in [
        json!({"media_type": "image", "data": data, "view_once": "yes"}),
        json!({"media_type": "image", "data": data, "caption": 5}),
        json!({"media_type": 1, "data": data}),
        json!({"media_type": "audio", "data": data}),
        json!({"media_type": "image", "data": data, "caption": "x".repeat(1025)}),
        json!(["an array"]),
    ] {
        validation_error(&media(&app, &device.token, body).await);
    }
    for body in [
        json!({}),
        json!({"text": "   "}),
        json!({"text": "x".repeat(701)}),
        json!({"text": "hi", "background_color": "green"}),
        json!({"text": "hi", "font": "COMIC_SANS"}),
        json!({"text": "hi", "font": 11}),
        json!({"text": 42}),
    ] {
        validation_error(&text(&app, &device.token, body).await);
    }
    // Not JSON at all.
    validation_error(&post_raw(&app, "/status/text", &[("authorization", auth.as_str())], "text=hi").await);
    assert!(native_history(&app, &device.key, device.session).await.is_empty());
}

#[tokio::test]
async fn without_valid_credentials_it_is_401_unauthorized() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    for path in ["/status/media", "/status/text"] {
        let res = app.call("POST", path, None, Some(json!({"text": "hi"}))).await;
        wuts_error(&res, 401, "unauthorized");
        assert_eq!(res.headers[header::WWW_AUTHENTICATE], "Bearer");
        let res = app.call_bearer("POST", path, &uuid::Uuid::new_v4().to_string(), Some(json!({"text": "hi"}))).await;
        wuts_error(&res, 401, "unauthorized");
    }
    // A credential in a scheme the API does not take.
    let res = app
        .send(
            axum::http::Request::post("/status/text")
                .header("authorization", format!("Basic {}", device.token))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"text": "hi"}"#))
                .unwrap(),
        )
        .await;
    wuts_error(&res, 401, "unauthorized");
}

#[tokio::test]
async fn a_caller_without_a_device_gets_device_error() {
    let app = TestApp::new().await;
    let (tenant, key) = app.tenant_with_id("Acme").await;
    let user = app.user(tenant, "bo", None, Scopes::USER).await;
    let expected =
        json!({"success": false, "error": {"code": "device_error", "message": "failed to resolve user device"}});
    assert_eq!(json_of(&text(&app, &user.token, json!({"text": "hi"})).await, 404), expected);
    let data = b64(&fixtures::image(8, 8, ImageFormat::Jpeg));
    assert_eq!(json_of(&media(&app, &user.token, json!({"media_type": "image", "data": data})).await, 404), expected);
    // An API key stands for no user, so it has no device either.
    assert_eq!(json_of(&text(&app, &key, json!({"text": "hi"})).await, 404), expected);
}

#[tokio::test]
async fn whatsapp_failures_take_the_seeds_codes() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    let (key, session) = (device.key.as_str(), device.session);
    let image = json!({"media_type": "image", "mime_type": "image/jpeg", "data": b64(&fixtures::image(16, 16, ImageFormat::Jpeg))});

    fault(&app, key, session, "upload_failed", 1).await;
    let res = media(&app, &device.token, image.clone()).await;
    assert_eq!(
        json_of(&res, 502),
        json!({"success": false, "error": {"code": "upload_failed", "message": "failed to upload media to whatsapp"}})
    );
    fault(&app, key, session, "upload_timeout", 1).await;
    assert_eq!(
        json_of(&media(&app, &device.token, image.clone()).await, 504),
        json!({"success": false, "error": {"code": "upload_timeout", "message": "context deadline exceeded"}})
    );
    fault(&app, key, session, "device_error", 1).await;
    assert_eq!(
        json_of(&text(&app, &device.token, json!({"text": "hi"})).await, 404),
        json!({"success": false, "error": {"code": "device_error", "message": "failed to resolve user device"}})
    );
    fault(&app, key, session, "server_reject", 1).await;
    wuts_error(&text(&app, &device.token, json!({"text": "hi"})).await, 502, "server_rejected");

    let disconnected = json!({"success": false, "error": {"code": "device_disconnected", "message": "whatsapp session is not connected"}});
    fault(&app, key, session, "disconnect", 1).await;
    assert_eq!(json_of(&media(&app, &device.token, image.clone()).await, 503), disconnected);
    assert_eq!(json_of(&text(&app, &device.token, json!({"text": "hi"})).await, 503), disconnected);
    fault(&app, key, session, "reconnect", 1).await;
    published(&media(&app, &device.token, image.clone()).await, "image", "image/jpeg");

    // Logged out is not connected either.
    assert_eq!(app.call("POST", &format!("/v1/sessions/{session}/logout"), Some(key), None).await.status, 200);
    assert_eq!(json_of(&text(&app, &device.token, json!({"text": "hi"})).await, 503), disconnected);

    // Each failure is kept in the native history, with its reason.
    let history = native_history(&app, key, session).await;
    let failures: Vec<_> = history.iter().filter_map(|s| s["failure"]["code"].as_str()).collect();
    assert_eq!(
        failures,
        [
            "logged_out",
            "device_disconnected",
            "device_disconnected",
            "server_rejected",
            "device_error",
            "upload_timeout",
            "upload_failed"
        ]
    );
}

#[tokio::test]
async fn a_device_that_was_never_paired_is_not_connected() {
    let app = TestApp::new().await;
    let device = device(&app, false).await;
    let res = text(&app, &device.token, json!({"text": "hi"})).await;
    assert_eq!(
        json_of(&res, 503),
        json!({"success": false, "error": {"code": "device_disconnected", "message": "whatsapp session is not connected"}})
    );
    // The user may pair their own device, and then publish.
    pair(&app, &device.token, device.session).await;
    published(&text(&app, &device.token, json!({"text": "hi"})).await, "text", "text/plain");
}

#[tokio::test]
async fn scope_rate_limits_and_body_limits_keep_the_shape() {
    // A user without `statuses:write`.
    let app = TestApp::new().await;
    let dev = device(&app, true).await;
    let reader = app.user(dev.tenant, "reader", None, Scopes::of(&[Scope::StatusesRead])).await;
    wuts_error(&text(&app, &reader.token, json!({"text": "hi"})).await, 403, "forbidden");

    // Two requests, then one a minute, per credential.
    let app = app_with(Options { request_limit: Some((1, 2)), ..Options::default() }).await;
    let dev = device(&app, true).await;
    published(&text(&app, &dev.token, json!({"text": "one"})).await, "text", "text/plain");
    published(&text(&app, &dev.token, json!({"text": "two"})).await, "text", "text/plain");
    let res = text(&app, &dev.token, json!({"text": "three"})).await;
    wuts_error(&res, 429, "rate_limited");
    let retry_after: u64 = res.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);

    // The session's publish pace.
    let app = app_with(Options { pace: Some((1, 1)), ..Options::default() }).await;
    let dev = device(&app, true).await;
    published(&text(&app, &dev.token, json!({"text": "one"})).await, "text", "text/plain");
    let res = text(&app, &dev.token, json!({"text": "two"})).await;
    wuts_error(&res, 429, "rate_limited");
    assert!(res.headers.contains_key(header::RETRY_AFTER));

    // The publish body limit.
    let http = HttpConfig { publish_body_limit: 4 * 1024, ..HttpConfig::default() };
    let app = TestApp::with_config(http).await;
    let dev = device(&app, true).await;
    let big = b64(&vec![0u8; 16 * 1024]);
    wuts_error(&media(&app, &dev.token, json!({"media_type": "image", "data": big})).await, 413, "payload_too_large");
}

#[tokio::test]
async fn a_users_jwt_publishes_through_the_same_device() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    let login =
        app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "correct horse"}))).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let jwt = login.json()["access_token"].as_str().unwrap().to_owned();
    published(&text(&app, &jwt, json!({"text": "from the dashboard"})).await, "text", "text/plain");
    assert_eq!(native_history(&app, &device.key, device.session).await.len(), 1);
}

#[tokio::test]
async fn other_methods_are_405_in_the_wuts_shape() {
    let app = TestApp::new().await;
    let device = device(&app, true).await;
    for path in ["/status/media", "/status/text"] {
        wuts_error(&app.call_bearer("GET", path, &device.token, None).await, 405, "method_not_allowed");
    }
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_keeps_the_shape() {
    // The media fetch would take 10 s; the request may take 200 ms.
    let media_config =
        wastatus_media::MediaConfig { fetch_timeout: std::time::Duration::from_secs(10), ..loopback_media() };
    let http = HttpConfig { request_timeout: std::time::Duration::from_millis(200), ..HttpConfig::default() };
    let app = TestApp::with_options(Options { http, media: media_config, ..Options::default() }).await;
    let dev = device(&app, true).await;
    let url = format!("{}/slow.jpg", serve_trickle().await);
    let res = media(&app, &dev.token, json!({"media_type": "image", "url": url})).await;
    wuts_error(&res, 503, "request_timeout");
}
