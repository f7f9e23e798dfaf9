//! Media statuses through the real binary: the `media.*` configuration keys take effect.

use axum::http::header;
use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wastatus_media::fixtures;

use crate::support::{Server, Workspace};

/// Serves a JPEG on a loopback port and returns its URL.
async fn jpeg_server() -> String {
    let jpeg = fixtures::image(800, 600, ImageFormat::Jpeg);
    let app = axum::Router::new().fallback(move || {
        let jpeg = jpeg.clone();
        async move { ([(header::CONTENT_TYPE, "image/jpeg")], jpeg) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/promos/today.jpg")
}

async fn paired_server(ws: &Workspace, key: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = ws.command(&["serve"]);
    cmd.envs(env.iter().copied());
    let server = Server::start(cmd);
    assert_eq!(server.post("/v1/sessions", key, &json!({"id": "s1"})).await.status(), StatusCode::CREATED);
    assert_eq!(server.post("/v1/sessions/s1/pair", key, &json!({"method": "qr"})).await.status(), StatusCode::OK);
    server
}

#[tokio::test]
async fn an_image_by_url_from_a_private_address_needs_the_opt_in() {
    let url = jpeg_server().await;
    let body = json!({"type": "image", "caption": "Flash sale!", "media": {"url": url}});
    let publish = |env: &'static [(&'static str, &'static str)]| {
        let body = body.clone();
        async move {
            let ws = Workspace::new();
            let (_, key) = ws.tenant_with_key("Acme");
            let server = paired_server(&ws, &key, env).await;
            let res = server.post("/v1/sessions/s1/statuses", &key, &body).await;
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };

    // The defaults refuse it before connecting: plain http...
    let (status, problem) = publish(&[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "media_scheme_not_allowed");

    // ...and, with http allowed, the loopback address, without saying which address it was.
    let (status, problem) = publish(&[("WASTATUS__MEDIA__ALLOW_HTTP", "true")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "media_blocked_address");
    assert_eq!(problem["field"], "media");
    assert!(!problem["detail"].as_str().unwrap().contains("127.0.0.1"), "{problem}");

    // With both opt-ins (for tests only) it is fetched and published.
    let (status, published) =
        publish(&[("WASTATUS__MEDIA__ALLOW_HTTP", "true"), ("WASTATUS__MEDIA__ALLOW_PRIVATE_NETWORKS", "true")]).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    assert_eq!(published["state"], "published");
    assert_eq!(published["media"]["mime_type"], "image/jpeg");
    assert_eq!((published["media"]["width"].as_u64(), published["media"]["height"].as_u64()), (Some(800), Some(600)));
}
