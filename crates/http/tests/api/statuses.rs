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
async fn the_audience_is_honoured_shown_and_its_unreachable_part_reported() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let post = |body: Value| app.call("POST", "/v1/sessions/s1/statuses", Some(&key), Some(body));

    // All contacts, by default and when asked.
    let everyone = post(json!({"type": "text", "text": "hi"})).await.json();
    assert_eq!(everyone["audience"], json!({"mode": "contacts"}));
    assert_eq!(everyone["reach"], json!({"recipients": 4, "unresolved": []}));
    let res = post(json!({"type": "text", "text": "hi", "audience": {"mode": "contacts"}})).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["reach"]["recipients"], 4);

    // An allowlist in the forms people write, normalised; the sandbox has no account for
    // numbers ending in 0000, and says so.
    let allow =
        json!({"mode": "allowlist", "jids": ["+44 7700 900123", "447700900123@s.whatsapp.net", "+1 555 999 0000"]});
    let status = post(json!({"type": "text", "text": "hi", "audience": allow})).await.json();
    assert_eq!(status["state"], "published", "{status}");
    assert_eq!(status["audience"], json!({"mode": "allowlist", "jids": ["+15559990000", "+447700900123"]}));
    assert_eq!(status["reach"], json!({"recipients": 1, "unresolved": ["+15559990000"]}));
    let stored = app.call("GET", &format!("/v1/statuses/{}", status["id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!(stored.json()["reach"], status["reach"], "kept with the status");

    // A denylist leaves those contacts out, named by number or LID.
    let deny = json!({"mode": "denylist", "jids": ["+15550100001", "100000000000002@lid"]});
    let status = post(json!({"type": "text", "text": "hi", "audience": deny})).await.json();
    assert_eq!(status["reach"], json!({"recipients": 2, "unresolved": []}));
    let sent = app.sandbox.sent(&sandbox_key(&app, &key).await);
    let last: Vec<String> = sent.last().unwrap().recipients.iter().map(ToString::to_string).collect();
    assert_eq!(last, ["+15550100004", "100000000000003@lid"]);

    // Nobody reachable: the status fails loudly with the reason, and nothing is sent.
    let nobody = json!({"mode": "allowlist", "jids": ["+15559990000", "+15558880000"]});
    let doc = post(json!({"type": "text", "text": "hi", "audience": nobody})).await.problem(422, "no_recipients");
    assert_eq!(doc["resource"]["state"], "failed");
    assert_eq!(doc["resource"]["failure"]["code"], "no_recipients");
    assert!(doc["resource"].get("reach").is_none(), "{doc}");
    assert_eq!(app.sandbox.sent(&sandbox_key(&app, &key).await).len(), sent.len());
}
