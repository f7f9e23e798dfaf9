//! Publishing, history, revoking, and what a failed send looks like.

use serde_json::{Value, json};
use wastatus_domain::{SessionId, SessionKey};

use crate::support::TestApp;

async fn sandbox_key(app: &TestApp, key: &str) -> SessionKey {
    let principal = app.tenancy.authenticate(key).await.unwrap();
    SessionKey { tenant: principal.tenant, id: SessionId::new("s1").unwrap() }
}

#[tokio::test]
async fn a_text_status_is_published_read_back_and_revoked() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let body = json!({"type": "text", "text": "Flash sale ends tonight!", "background_color": "#80FF0000", "font": 2, "view_once": true});
    let res = app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(body)).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let status = res.json();
    assert_eq!(status["state"], "published");
    assert_eq!(status["type"], "text");
    assert_eq!(status["background_color"], "#80FF0000");
    assert_eq!(status["font"], "NORICAN_REGULAR");
    assert_eq!(status["view_once"], true);
    assert!(status["failure"].is_null());
    let message_id = status["message_id"].as_str().unwrap();
    assert!(message_id.starts_with("3EB0") && message_id.len() == 24);

    // The sandbox received exactly this.
    let sent = app.sandbox.sent(&sandbox_key(&app, &key).await);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id.as_str(), message_id);

    let id = status["id"].as_str().unwrap();
    let got = app.call("GET", &format!("/v1/statuses/{id}"), Some(&key), None).await.json();
    assert_eq!(got, status);

    let revoked = app.call("DELETE", &format!("/v1/statuses/{id}"), Some(&key), None).await;
    assert_eq!(revoked.status, 200);
    let revoked = revoked.json();
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    app.call("DELETE", &format!("/v1/statuses/{id}"), Some(&key), None).await.problem(409, "status_not_revocable");
    app.call("GET", "/v1/statuses/not-a-uuid", Some(&key), None).await.problem(404, "status_not_found");
}

#[tokio::test]
async fn a_disconnected_session_fails_loudly_and_nothing_is_published() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(json!({"fault": "disconnect"}))).await;

    let doc = app.publish(&key, "anyone there?").await.problem(503, "device_disconnected");
    let status = &doc["resource"];
    assert_eq!(doc["status_id"], status["id"]);
    assert_eq!(status["state"], "failed");
    assert_eq!(status["failure"]["code"], "device_disconnected");
    assert!(status["message_id"].is_null());

    let stored =
        app.call("GET", &format!("/v1/statuses/{}", status["id"].as_str().unwrap()), Some(&key), None).await.json();
    assert_eq!(stored["state"], "failed");
    assert_eq!(stored["failure"]["code"], "device_disconnected");
    assert!(app.sandbox.sent(&sandbox_key(&app, &key).await).is_empty(), "nothing reached WhatsApp");

    let history = app.call("GET", "/v1/sessions/s1/statuses?state=published", Some(&key), None).await.json();
    assert_eq!(history["items"], json!([]), "nothing is reported as published");
    let id = status["id"].as_str().unwrap();
    app.call("DELETE", &format!("/v1/statuses/{id}"), Some(&key), None).await.problem(409, "status_not_revocable");
}

#[tokio::test]
async fn each_injected_publish_fault_has_its_code_and_status() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    for (fault, status, code) in [
        ("upload_failed", 502, "upload_failed"),
        ("upload_timeout", 504, "upload_timeout"),
        ("device_error", 502, "device_error"),
        ("server_reject", 502, "server_rejected"),
    ] {
        app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(json!({"fault": fault, "count": 2}))).await;
        app.publish(&key, "one").await.problem(status, code);
        app.publish(&key, "two").await.problem(status, code);
        assert_eq!(app.publish(&key, "three").await.status, 201, "the fault lasted exactly count publishes");
    }
}

#[tokio::test]
async fn history_is_newest_first_with_cursor_pagination() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    for n in 0..5 {
        assert_eq!(app.publish(&key, &format!("status {n}")).await.status, 201);
    }
    let mut texts = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sessions/s1/statuses?limit=2&cursor={c}"),
            None => "/v1/sessions/s1/statuses?limit=2".to_owned(),
        };
        let page = app.call("GET", &path, Some(&key), None).await.json();
        pages += 1;
        texts.extend(page["items"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap().to_owned()));
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(texts, ["status 4", "status 3", "status 2", "status 1", "status 0"]);
    app.call("GET", "/v1/sessions/nope/statuses", Some(&key), None).await.problem(404, "session_not_found");
}

#[tokio::test]
async fn publishing_to_an_unknown_session_of_ones_own_is_not_found() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let body = json!({"type": "text", "text": "hi"});
    app.call("POST", "/v1/sessions/other/statuses", Some(&key), Some(body)).await.problem(404, "session_not_found");
    let everything = app.call("GET", "/v1/sessions/s1/statuses", Some(&key), None).await.json();
    assert_eq!(everything["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn the_default_audience_is_accepted() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let body = json!({"type": "text", "text": "hi", "audience": {"mode": "contacts"}});
    assert_eq!(app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(body)).await.status, 201);
}
