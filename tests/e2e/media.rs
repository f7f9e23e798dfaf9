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
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("Acme");
    let body = json!({"type": "image", "caption": "Flash sale!", "media": {"url": url}});

    // The defaults refuse it before connecting: plain http, and a loopback address.
    let server = paired_server(&ws, &key, &[]).await;
    let res = server
        .http
        .post(server.url("/v1/sessions/s1/statuses"))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "media_scheme_not_allowed");
    drop(server);

    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("Acme");
    let opt_in = [("WASTATUS__MEDIA__ALLOW_HTTP", "true"), ("WASTATUS__MEDIA__ALLOW_PRIVATE_NETWORKS", "true")];
    let server = paired_server(&ws, &key, &opt_in).await;
    let res = server
        .http
        .post(server.url("/v1/sessions/s1/statuses"))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let status: Value = res.json().await.unwrap();
    assert_eq!(status["state"], "published");
    assert_eq!(status["media"]["mime_type"], "image/jpeg");
    assert_eq!((status["media"]["width"].as_u64(), status["media"]["height"].as_u64()), (Some(800), Some(600)));
}
