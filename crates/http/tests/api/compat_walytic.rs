//! The Walytic-compatible surface (`POST /api/whatsapp/{sessionId}/update-status`,
//! `GET /api/whatsapp/{sessionId}/status`): the seed's examples verbatim, and each of its
//! documented errors in its shape.

use axum::http::header;
use image::ImageFormat;
use serde_json::{Value, json};
use wastatus_domain::{Scope, Scopes};
use wastatus_media::fixtures::{self, Video};

use crate::compat_support::*;
use crate::support::{Options, Response, TestApp};

/// The seed's session id.
const SESSION: &str = "session-919876543210";
const UPDATE: &str = "/api/whatsapp/session-919876543210/update-status";

async fn update(app: &TestApp, key: &str, body: Value) -> Response {
    app.call("POST", UPDATE, Some(key), Some(body)).await
}

/// The seed's 200 answer; returns `data`.
#[track_caller]
fn updated(res: &Response, media_type: &str, caption: Option<&str>) -> Value {
    let body = json_of(res, 200);
    assert_eq!(keys(&body), ["data", "message", "success"], "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "WhatsApp status updated successfully");
    let data = body["data"].clone();
    let mut expected = vec!["mediaType", "messageId", "sessionId", "statusId", "timestamp"];
    if caption.is_some() {
        expected.push("caption");
        expected.sort_unstable();
    }
    assert_eq!(keys(&data), expected, "{data}");
    assert_eq!(data["sessionId"], SESSION);
    assert_eq!(data["mediaType"], media_type);
    assert_eq!(data["caption"].as_str(), caption);
    assert_rfc3339_z(&data["timestamp"]);
    assert_message_id(&data["messageId"]);
    uuid::Uuid::parse_str(data["statusId"].as_str().unwrap()).unwrap();
    data
}

/// A `{success: false, message, error?}` answer.
#[track_caller]
fn walytic_error(res: &Response, status: u16) -> Value {
    let body = json_of(res, status);
    assert_eq!(body["success"], false, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(keys(&body).iter().all(|k| ["success", "message", "error"].contains(k)), "{body}");
    body
}

fn not_connected() -> Value {
    json!({"success": false, "message": "Failed to update status", "error": "Session not found or not connected"})
}

fn not_image_or_video() -> Value {
    json!({"success": false, "message": "Only image or video types allowed for status"})
}

#[tokio::test]
async fn the_seed_curl_example_publishes_an_image() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let origin = serve(fixtures::image(800, 600, ImageFormat::Jpeg), "image/jpeg").await;
    // The seed's request, with only the host, the key and the media URL changed.
    let body = r#"{
"fileUrl": "ORIGIN/pic.jpg",
"caption": "Good Morning 🌅"
}"#
    .replace("ORIGIN", &origin);
    let res = post_raw(&app, UPDATE, &[("x-api-key", key.as_str()), ("Content-Type", "application/json")], &body).await;
    let data = updated(&res, "image", Some("Good Morning 🌅"));

    // The same use case as the native API: the status is in the session's history.
    let history = native_history(&app, &key, SESSION).await;
    assert_eq!(history.len(), 1);
    let status = &history[0];
    assert_eq!(status["id"], data["statusId"]);
    assert_eq!(status["message_id"], data["messageId"]);
    assert_eq!((status["type"].as_str(), status["state"].as_str()), (Some("image"), Some("published")));
    assert_eq!(status["caption"], "Good Morning 🌅");
    assert_eq!((status["media"]["width"].as_u64(), status["media"]["height"].as_u64()), (Some(800), Some(600)));
    let published_at = chrono::DateTime::parse_from_rfc3339(status["published_at"].as_str().unwrap()).unwrap();
    let timestamp = chrono::DateTime::parse_from_rfc3339(data["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(timestamp.timestamp(), published_at.timestamp(), "the timestamp is the publish time");
}

#[tokio::test]
async fn the_seed_node_example_publishes_a_video_and_the_body_example_an_image() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let mp4 = serve(Video { duration_ms: 8_000, ..Video::default() }.build(), "video/mp4").await;
    let res =
        update(&app, &key, json!({"fileUrl": format!("{mp4}/myvideo.mp4"), "caption": "Weekend vibes! 🎉"})).await;
    updated(&res, "video", Some("Weekend vibes! 🎉"));

    // The request-body example: colour and font apply to text statuses only.
    let jpeg = serve(fixtures::image(100, 100, ImageFormat::Jpeg), "image/jpeg").await;
    let body = r##"{
"fileUrl": "ORIGIN/demo/image/upload/sample.jpg",
"caption": "My weekend vibes 🌴",
"backgroundColor": "#101010",
"font": "SANS_SERIF"
}"##
    .replace("ORIGIN", &jpeg);
    let res = post_raw(&app, UPDATE, &[("x-api-key", key.as_str()), ("Content-Type", "application/json")], &body).await;
    updated(&res, "image", Some("My weekend vibes 🌴"));

    // Without a caption, there is none in the answer.
    let res = update(&app, &key, json!({"fileUrl": format!("{jpeg}/plain.png")})).await;
    updated(&res, "image", None);

    let history = native_history(&app, &key, SESSION).await;
    let types: Vec<_> = history.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["image", "image", "video"]);
    assert_eq!(history[2]["media"]["duration_secs"], 8);
}

#[tokio::test]
async fn a_caption_alone_is_a_text_status_with_the_seeds_defaults() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    updated(&update(&app, &key, json!({"caption": "Just checking in 👋"})).await, "text", Some("Just checking in 👋"));
    let res =
        update(&app, &key, json!({"caption": "Styled", "backgroundColor": "#25D366", "font": "NORICAN_REGULAR"})).await;
    updated(&res, "text", Some("Styled"));
    // An empty fileUrl is no file.
    updated(
        &update(&app, &key, json!({"fileUrl": "", "caption": "Numbered", "font": 1})).await,
        "text",
        Some("Numbered"),
    );

    let history = native_history(&app, &key, SESSION).await;
    let styles: Vec<_> = history
        .iter()
        .map(|s| (s["text"].as_str().unwrap(), s["background_color"].as_str().unwrap(), s["font"].as_str().unwrap()))
        .collect();
    assert_eq!(
        styles,
        [
            ("Numbered", "#FF101010", "SERIF"),
            ("Styled", "#FF25D366", "NORICAN_REGULAR"),
            ("Just checking in 👋", "#FF101010", "SANS_SERIF")
        ]
    );
}

#[tokio::test]
async fn whether_a_file_is_an_image_or_a_video_is_read_from_its_bytes() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let mp4 = serve(Video::default().build(), "application/octet-stream").await;
    let png = serve(fixtures::image(40, 30, ImageFormat::Png), "application/octet-stream").await;
    for (url, media_type) in [
        (format!("{mp4}/download?id=7"), "video"),
        (format!("{mp4}/looks-like.jpg"), "video"),
        (format!("{png}/looks-like.mp4"), "image"),
        (format!("{png}/no-extension"), "image"),
    ] {
        updated(&update(&app, &key, json!({"fileUrl": url, "caption": "c"})).await, media_type, Some("c"));
    }
}

#[tokio::test]
async fn a_file_that_is_not_an_image_or_video_is_refused() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let html = serve(b"<!doctype html><title>Hello</title>".to_vec(), "text/html").await;
    let pdf = serve(b"%PDF-1.7\n...".to_vec(), "application/pdf").await;
    let empty = serve(Vec::new(), "image/jpeg").await;
    for url in [format!("{html}/pic.jpg"), format!("{pdf}/doc.pdf"), format!("{empty}/clip.mp4")] {
        let res = update(&app, &key, json!({"fileUrl": url, "caption": "x"})).await;
        assert_eq!(json_of(&res, 400), not_image_or_video(), "{url}");
    }
    assert!(native_history(&app, &key, SESSION).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn neither_file_url_nor_caption_is_a_400() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    let expected = json!({"success": false, "message": "fileUrl or caption is required"});
    for body in [json!({}), json!({"caption": "  "}), json!({"fileUrl": null, "backgroundColor": "#000000"})] {
        assert_eq!(json_of(&update(&app, &key, body).await, 400), expected);
    }
}

#[tokio::test]
async fn an_unknown_or_unconnected_session_is_404_not_connected() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    let hi = json!({"caption": "hi"});
    // Unknown, and ids that cannot exist.
    for path in ["/api/whatsapp/session-000/update-status", "/api/whatsapp/no%20such%20id/update-status"] {
        assert_eq!(
            json_of(&app.call("POST", path, Some(&key), Some(hi.clone())).await, 404),
            not_connected(),
            "{path}"
        );
    }
    // Another tenant's session.
    let (_, theirs) = app.tenant_with_id("Other").await;
    assert_eq!(json_of(&update(&app, &theirs, hi.clone()).await, 404), not_connected());
    // Created but never paired.
    assert_eq!(app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "unpaired"}))).await.status, 201);
    let res = app.call("POST", "/api/whatsapp/unpaired/update-status", Some(&key), Some(hi.clone())).await;
    assert_eq!(json_of(&res, 404), not_connected());
    // Disconnected, then back.
    fault(&app, &key, SESSION, "disconnect", 1).await;
    assert_eq!(json_of(&update(&app, &key, hi.clone()).await, 404), not_connected());
    fault(&app, &key, SESSION, "reconnect", 1).await;
    updated(&update(&app, &key, hi.clone()).await, "text", Some("hi"));
    // Logged out.
    assert_eq!(app.call("POST", &format!("/v1/sessions/{SESSION}/logout"), Some(&key), None).await.status, 200);
    assert_eq!(json_of(&update(&app, &key, hi).await, 404), not_connected());
}

#[tokio::test]
async fn bad_credentials_are_401_unauthorized() {
    let app = TestApp::new().await;
    let (_, _key) = session(&app, SESSION).await;
    let hi = json!({"caption": "hi"});
    for res in [
        app.call("POST", UPDATE, None, Some(hi.clone())).await,
        app.call("POST", UPDATE, Some("wsk_not_a_key"), Some(hi.clone())).await,
        app.call_bearer("POST", UPDATE, "not.a.jwt", Some(hi.clone())).await,
        app.call("GET", &format!("/api/whatsapp/{SESSION}/status"), None, None).await,
    ] {
        let body = walytic_error(&res, 401);
        assert_eq!(body["message"], "Unauthorized");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn a_dashboard_users_jwt_works_like_an_api_key() {
    let app = TestApp::new().await;
    let (tenant, key) = session(&app, SESSION).await;
    app.user(tenant, "ana", Some("correct horse"), Scopes::USER).await;
    let login =
        app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "correct horse"}))).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let jwt = login.json()["access_token"].as_str().unwrap().to_owned();
    let res = app.call_bearer("POST", UPDATE, &jwt, Some(json!({"caption": "from the dashboard"}))).await;
    updated(&res, "text", Some("from the dashboard"));
    let res = app.call_bearer("GET", &format!("/api/whatsapp/{SESSION}/status"), &jwt, None).await;
    assert_eq!(json_of(&res, 200)["data"]["connected"], true);
    // An API key as a Bearer token works too.
    updated(&app.call_bearer("POST", UPDATE, &key, Some(json!({"caption": "key"}))).await, "text", Some("key"));
}

#[tokio::test]
async fn fetch_failures_are_502_and_time_outs_504() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let missing = serve_not_found().await;
    let closed = closed_port().await;
    for url in [format!("{missing}/pic.jpg"), format!("{closed}/pic.jpg")] {
        let body = walytic_error(&update(&app, &key, json!({"fileUrl": url})).await, 502);
        assert_eq!(body["message"], "Failed to download media", "{body}");
        assert!(body["error"].is_string());
    }
    let slow = serve_trickle().await;
    let started = std::time::Instant::now();
    let body = walytic_error(&update(&app, &key, json!({"fileUrl": format!("{slow}/pic.jpg")})).await, 504);
    assert_eq!(body["message"], "Timed out downloading media");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // A URL that is not one, or one that is not allowed.
    for url in ["not a url", "ftp://127.0.0.1/pic.jpg"] {
        let body = walytic_error(&update(&app, &key, json!({"fileUrl": url})).await, 400);
        assert_eq!(body["message"], "Invalid fileUrl", "{body}");
    }
    assert!(native_history(&app, &key, SESSION).await.is_empty());
}

#[tokio::test]
async fn upload_failures_are_502_and_time_outs_504() {
    let app = app_with(Options::default()).await;
    let (_, key) = session(&app, SESSION).await;
    let jpeg = serve(fixtures::image(16, 16, ImageFormat::Jpeg), "image/jpeg").await;
    let image = json!({"fileUrl": format!("{jpeg}/pic.jpg"), "caption": "x"});

    fault(&app, &key, SESSION, "upload_failed", 1).await;
    assert_eq!(
        json_of(&update(&app, &key, image.clone()).await, 502),
        json!({"success": false, "message": "Failed to update status", "error": "Failed to upload media to WhatsApp"})
    );
    fault(&app, &key, SESSION, "upload_timeout", 1).await;
    assert_eq!(
        json_of(&update(&app, &key, image.clone()).await, 504),
        json!({"success": false, "message": "Failed to update status", "error": "Upload to WhatsApp timed out"})
    );
    for fault_name in ["device_error", "server_reject"] {
        fault(&app, &key, SESSION, fault_name, 1).await;
        let body = walytic_error(&update(&app, &key, image.clone()).await, 502);
        assert_eq!(body["message"], "Failed to update status");
        assert!(body["error"].is_string());
    }
    updated(&update(&app, &key, image).await, "image", Some("x"));
    let history = native_history(&app, &key, SESSION).await;
    let failures: Vec<_> = history.iter().map(|s| s["failure"]["code"].as_str().unwrap_or("-")).collect();
    assert_eq!(failures, ["-", "server_rejected", "device_error", "upload_timeout", "upload_failed"]);
}

#[tokio::test]
async fn invalid_values_are_400_with_a_message() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    for body in [
        json!({"caption": "hi", "backgroundColor": "green"}),
        json!({"caption": "hi", "font": "COMIC_SANS"}),
        json!({"caption": "x".repeat(701)}),
        json!({"fileUrl": "https://cdn.example/pic.jpg", "caption": "x".repeat(1025)}),
        json!({"caption": 42}),
    ] {
        let body = walytic_error(&update(&app, &key, body).await, 400);
        assert!(body["error"].is_string(), "{body}");
    }
    let res = post_raw(&app, UPDATE, &[("x-api-key", key.as_str()), ("content-type", "application/json")], "{").await;
    walytic_error(&res, 400);
    assert!(native_history(&app, &key, SESSION).await.is_empty());
}

#[tokio::test]
async fn the_status_route_tells_whether_the_session_is_connected() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    let status = |id: &str| {
        let path = format!("/api/whatsapp/{id}/status");
        let (app, key) = (&app, key.clone());
        async move { app.call("GET", &path, Some(&key), None).await }
    };
    assert_eq!(
        json_of(&status(SESSION).await, 200),
        json!({"success": true, "data": {"sessionId": SESSION, "status": "connected", "connected": true}})
    );
    fault(&app, &key, SESSION, "disconnect", 1).await;
    assert_eq!(
        json_of(&status(SESSION).await, 200)["data"],
        json!({"sessionId": SESSION, "status": "disconnected", "connected": false})
    );
    assert_eq!(app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "new"}))).await.status, 201);
    assert_eq!(
        json_of(&status("new").await, 200)["data"],
        json!({"sessionId": "new", "status": "pairing", "connected": false})
    );
    let body = walytic_error(&status("unknown").await, 404);
    assert_eq!(body["error"], "Session not found or not connected");
}

#[tokio::test]
async fn scope_rate_limits_and_body_limits_keep_the_shape() {
    let app = TestApp::new().await;
    let (tenant, _) = session(&app, SESSION).await;
    let reader = app.key(tenant, Scopes::of(&[Scope::StatusesRead])).await;
    let body = walytic_error(&update(&app, &reader, json!({"caption": "hi"})).await, 403);
    assert_eq!(body["message"], "Forbidden");
    let writer = app.key(tenant, Scopes::of(&[Scope::StatusesWrite])).await;
    walytic_error(&app.call("GET", &format!("/api/whatsapp/{SESSION}/status"), Some(&writer), None).await, 403);

    // Two requests, then one a minute, per credential.
    let app = app_with(Options { request_limit: Some((1, 2)), ..Options::default() }).await;
    let (tenant, _) = session(&app, SESSION).await;
    let key = app.key(tenant, Scopes::TENANT).await;
    updated(&update(&app, &key, json!({"caption": "one"})).await, "text", Some("one"));
    updated(&update(&app, &key, json!({"caption": "two"})).await, "text", Some("two"));
    let res = update(&app, &key, json!({"caption": "three"})).await;
    let body = walytic_error(&res, 429);
    assert_eq!(body["message"], "Too many requests");
    assert!(res.headers[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);

    let app = app_with(Options { pace: Some((1, 1)), ..Options::default() }).await;
    let (_, key) = session(&app, SESSION).await;
    updated(&update(&app, &key, json!({"caption": "one"})).await, "text", Some("one"));
    let res = update(&app, &key, json!({"caption": "two"})).await;
    walytic_error(&res, 429);
    assert!(res.headers.contains_key(header::RETRY_AFTER));

    // The body limit of ordinary requests (this route carries a URL, not a file).
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    let body = walytic_error(&update(&app, &key, json!({"caption": "x".repeat(300 * 1024)})).await, 413);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn other_methods_are_405_in_the_walytic_shape() {
    let app = TestApp::new().await;
    let (_, key) = session(&app, SESSION).await;
    let body = walytic_error(&app.call("GET", UPDATE, Some(&key), None).await, 405);
    assert_eq!(body["message"], "Method not allowed");
    walytic_error(&app.call("DELETE", &format!("/api/whatsapp/{SESSION}/status"), Some(&key), None).await, 405);
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_keeps_the_shape() {
    let media_config =
        wastatus_media::MediaConfig { fetch_timeout: std::time::Duration::from_secs(10), ..loopback_media() };
    let http =
        wastatus_http::HttpConfig { request_timeout: std::time::Duration::from_millis(200), ..Default::default() };
    let app = TestApp::with_options(Options { http, media: media_config, ..Options::default() }).await;
    let (_, key) = session(&app, SESSION).await;
    let url = format!("{}/slow.jpg", serve_trickle().await);
    let body = walytic_error(&update(&app, &key, json!({"fileUrl": url})).await, 503);
    assert_eq!(body["message"], "Failed to update status", "{body}");
}
