//! Image and video statuses: by base64, by upload and by URL, and every way media is refused.

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::ImageFormat;
use serde_json::{Value, json};
use wastatus_domain::{SessionId, SessionKey};
use wastatus_media::MediaConfig;
use wastatus_media::fixtures::{self, Video};

use crate::support::{Response, TestApp};

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

async fn publish(app: &TestApp, key: &str, body: Value) -> Response {
    app.call("POST", "/v1/sessions/s1/statuses", Some(key), Some(body)).await
}

async fn last_sent(app: &TestApp, key: &str) -> wastatus_sandbox::SentMessage {
    let principal = app.tenancy.authenticate(key).await.unwrap();
    let session = SessionKey { tenant: principal.tenant, id: SessionId::new("s1").unwrap() };
    app.sandbox.sent(&session).pop().expect("something was sent")
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9])
}

#[tokio::test]
async fn an_image_by_base64_is_normalised_to_jpeg_with_a_thumbnail() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let png = fixtures::image(640, 480, ImageFormat::Png);
    let body =
        json!({"type": "image", "caption": "Weekend vibes", "media": {"data": b64(&png), "mime_type": "image/png"}});
    let res = publish(&app, &key, body).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let status = res.json();
    assert_eq!(status["type"], "image");
    assert_eq!(status["state"], "published");
    assert_eq!(status["caption"], "Weekend vibes");
    assert_eq!(status["media"]["mime_type"], "image/jpeg");
    assert_eq!((status["media"]["width"].as_u64(), status["media"]["height"].as_u64()), (Some(640), Some(480)));

    let sent = last_sent(&app, &key).await;
    let media = sent.media.unwrap();
    assert_eq!(media.mime_type, "image/jpeg");
    assert!(is_jpeg(&media.bytes), "the driver got a JPEG");
    assert!(is_jpeg(&media.thumbnail), "with a JPEG thumbnail");
    assert_eq!(status["media"]["size_bytes"].as_u64(), Some(media.bytes.len() as u64));
}

#[tokio::test]
async fn a_video_by_base64_keeps_its_bytes_and_reports_its_duration() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let mp4 = Video { duration_ms: 12_500, ..Video::default() }.build();
    let res = publish(
        &app,
        &key,
        json!({"type": "video", "media": {"data": format!("data:video/mp4;base64,{}", b64(&mp4))}}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let status = res.json();
    assert_eq!(status["media"]["mime_type"], "video/mp4");
    assert_eq!(status["media"]["duration_secs"], 13);
    assert!(status.get("caption").is_none());
    let media = last_sent(&app, &key).await.media.unwrap();
    assert_eq!(media.bytes.as_ref(), mp4.as_slice(), "videos are sent unchanged");
    assert_eq!(media.duration_secs, Some(13));
    assert!(is_jpeg(&media.thumbnail));
}

#[tokio::test]
async fn an_image_and_a_video_by_multipart_upload() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let jpeg = fixtures::image(300, 200, ImageFormat::Jpeg);
    let res = upload(&app, &key, &[("type", "image"), ("caption", "Uploaded")], &jpeg, "image/jpeg").await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["caption"], "Uploaded");
    assert_eq!(last_sent(&app, &key).await.media.unwrap().width, 300);

    let mov = Video { brand: *b"qt  ", duration_ms: 7_000, ..Video::default() }.build();
    let res = upload(&app, &key, &[("type", "video"), ("view_once", "true")], &mov, "video/quicktime").await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let status = res.json();
    assert_eq!(
        (status["media"]["mime_type"].as_str(), status["media"]["duration_secs"].as_u64()),
        (Some("video/quicktime"), Some(7))
    );
    assert_eq!(status["view_once"], true);
    let sent = last_sent(&app, &key).await.media.unwrap();
    assert_eq!(sent.bytes.as_ref(), mov.as_slice());
    assert!(is_jpeg(&sent.thumbnail));

    // The part's own type counts as declared: a PNG part holding JPEG bytes is refused.
    upload(&app, &key, &[("type", "image")], &jpeg, "image/png").await.problem(422, "media_type_mismatch");
    upload(&app, &key, &[("type", "image"), ("view_once", "maybe")], &jpeg, "image/jpeg")
        .await
        .problem(422, "invalid_request");
    let doc = upload(&app, &key, &[("caption", "no type")], &jpeg, "image/jpeg").await.problem(422, "invalid_request");
    assert_eq!(doc["field"], "type");
    let long = "x".repeat(20_000);
    upload(&app, &key, &[("type", "image"), ("caption", &long)], &jpeg, "image/jpeg")
        .await
        .problem(422, "invalid_request");
    // Unknown parts are skipped, however large.
    let big = "y".repeat(200_000);
    assert_eq!(upload(&app, &key, &[("type", "image"), ("note", &big)], &jpeg, "image/jpeg").await.status, 201);
}

/// Builds a multipart body with text parts and one `file` part.
fn multipart(boundary: &str, parts: &[(&str, &str)], file: &[u8], file_type: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in parts {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\nContent-Type: {file_type}\r\n\r\n"
    );
    body.extend(head.as_bytes());
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, key: &str, parts: &[(&str, &str)], file: &[u8], file_type: &str) -> Response {
    let boundary = "wastatus-boundary";
    let request = Request::post("/v1/sessions/s1/statuses")
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(multipart(boundary, parts, file, file_type)))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn one_upload_per_status() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let jpeg = fixtures::image(30, 20, ImageFormat::Jpeg);
    let boundary = "b";
    let mut body = multipart(boundary, &[("type", "image")], &jpeg, "image/jpeg");
    // A second `file` part before the closing boundary.
    let closing = format!("--{boundary}--\r\n");
    body.truncate(body.len() - closing.len());
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b\"\r\n\r\n").as_bytes(),
    );
    body.extend(&jpeg);
    body.extend(format!("\r\n{closing}").as_bytes());
    let request = Request::post("/v1/sessions/s1/statuses")
        .header("x-api-key", &key)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    app.send(request).await.problem(422, "media_ambiguous");
}

/// Serves `body` with `content_type` at every path, on a loopback port.
async fn serve_once(body: Vec<u8>, content_type: &'static str) -> String {
    let app =
        axum::Router::new().fallback(move || async move { ([(header::CONTENT_TYPE, content_type)], body.clone()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/media/file")
}

#[tokio::test]
async fn an_image_by_url_when_private_networks_are_allowed() {
    let media = MediaConfig { allow_http: true, allow_private_networks: true, ..MediaConfig::default() };
    let app = TestApp::with_media(media).await;
    let key = app.paired().await;
    let url = serve_once(fixtures::image(320, 240, ImageFormat::WebP), "application/octet-stream").await;
    let res = publish(&app, &key, json!({"type": "image", "media": {"url": url}})).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["media"]["mime_type"], "image/jpeg");
}

#[tokio::test]
async fn a_video_by_url() {
    let media = MediaConfig { allow_http: true, allow_private_networks: true, ..MediaConfig::default() };
    let app = TestApp::with_media(media).await;
    let key = app.paired().await;
    let mp4 = Video { duration_ms: 30_000, ..Video::default() }.build();
    let url = serve_once(mp4.clone(), "video/mp4").await;
    let res = publish(
        &app,
        &key,
        json!({"type": "video", "caption": "Teaser", "media": {"url": url, "mime_type": "video/mp4"}}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["media"]["duration_secs"], 30);
    assert_eq!(last_sent(&app, &key).await.media.unwrap().bytes.as_ref(), mp4.as_slice());
}

#[tokio::test]
async fn hostile_origins_get_a_specific_error_within_the_time_out() {
    let media = MediaConfig {
        allow_http: true,
        allow_private_networks: true,
        fetch_timeout: std::time::Duration::from_millis(500),
        ..MediaConfig::default()
    };
    let app = TestApp::with_media(media).await;
    let key = app.paired().await;

    // A server that sends one byte a second, forever.
    let trickle = axum::Router::new().fallback(|| async {
        let stream = futures::stream::unfold((), |()| async {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")), ()))
        });
        ([(header::CONTENT_TYPE, "image/jpeg")], Body::from_stream(stream))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, trickle).await });
    let started = std::time::Instant::now();
    let res = publish(&app, &key, json!({"type": "image", "media": {"url": format!("http://{addr}/slow.jpg")}})).await;
    res.problem(422, "media_fetch_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "answered at the time-out, not later");

    let cases = [
        (serve_once(fixtures::png_declaring(100_000, 100_000), "image/png").await, "media_too_many_pixels"),
        (serve_once(Vec::new(), "image/jpeg").await, "media_empty"),
        (serve_once(b"<!doctype html><title>404</title>".to_vec(), "image/jpeg").await, "media_unsupported_type"),
    ];
    for (url, code) in cases {
        publish(&app, &key, json!({"type": "image", "media": {"url": url}})).await.problem(422, code);
    }
}

#[tokio::test]
async fn private_urls_are_refused_by_default() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let url = serve_once(fixtures::image(8, 8, ImageFormat::Jpeg), "image/jpeg").await;
    let https = url.replace("http://", "https://");
    publish(&app, &key, json!({"type": "image", "media": {"url": url}})).await.problem(422, "media_scheme_not_allowed");
    for target in
        [https.as_str(), "https://169.254.169.254/latest/meta-data/", "https://[::1]/x", "https://2130706433/x"]
    {
        let doc = publish(&app, &key, json!({"type": "image", "media": {"url": target}})).await;
        doc.problem(422, "media_blocked_address");
    }
}

#[tokio::test]
async fn unusable_media_gets_a_precise_code_and_nothing_is_sent() {
    let app = TestApp::with_media(MediaConfig { max_image_bytes: 64 * 1024, ..MediaConfig::default() }).await;
    let key = app.paired().await;
    let jpeg = fixtures::image(64, 64, ImageFormat::Jpeg);
    let mp4 = Video::default().build();
    let cases = [
        (
            json!({"type": "image", "media": {"data": b64(b"<html><body>not found</body></html>"), "mime_type": "image/jpeg"}}),
            422,
            "media_unsupported_type",
        ),
        (json!({"type": "image", "media": {"data": b64(&jpeg), "mime_type": "image/png"}}), 422, "media_type_mismatch"),
        (json!({"type": "image", "media": {"data": b64(&mp4)}}), 422, "media_type_mismatch"),
        (
            json!({"type": "video", "media": {"data": b64(&Video { duration_ms: 61_000, ..Video::default() }.build())}}),
            422,
            "video_too_long",
        ),
        (
            json!({"type": "video", "media": {"data": b64(&Video { codec: *b"hvc1", ..Video::default() }.build())}}),
            422,
            "video_unsupported_codec",
        ),
        (
            json!({"type": "video", "media": {"data": b64(&fixtures::boxed(b"ftyp", b"isom\0\0\0\0isom"))}}),
            422,
            "video_missing_moov",
        ),
        (json!({"type": "image", "media": {"data": b64(&jpeg[..jpeg.len() / 2])}}), 422, "media_corrupt"),
        (json!({"type": "image", "media": {"data": "!!not base64!!"}}), 422, "media_invalid_base64"),
        (json!({"type": "image", "media": {"data": b64(&vec![0xFF; 100 * 1024])}}), 413, "media_too_large"),
        (json!({"type": "image"}), 422, "media_missing"),
        (
            json!({"type": "image", "media": {"data": b64(&jpeg), "url": "https://example.com/x.jpg"}}),
            422,
            "media_ambiguous",
        ),
        (json!({"type": "image", "caption": "x".repeat(1025), "media": {"data": b64(&jpeg)}}), 422, "caption_too_long"),
    ];
    for (body, status, code) in cases {
        publish(&app, &key, body).await.problem(status, code);
    }
    let history = app.call("GET", "/v1/sessions/s1/statuses", Some(&key), None).await.json();
    assert_eq!(history["items"], json!([]), "refused media leaves no status behind");
}
