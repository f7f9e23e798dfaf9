//! The sandbox's record of sent messages: `GET /v1/sandbox/sessions/{session_id}/sent`.

use std::time::Duration;

use serde_json::{Value, json};
use wastatus_domain::{Scope, Scopes};

use crate::support::TestApp;

/// The status once its send is settled (publishing may finish after the request).
async fn settled(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..200 {
        let status = app.call("GET", &format!("/v1/statuses/{id}"), Some(key), None).await.json();
        if !matches!(status["state"].as_str(), Some("accepted" | "scheduled" | "sending")) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("status {id} was not settled in time");
}

/// Publishes a text status on `s1` and returns it once settled.
async fn publish(app: &TestApp, key: &str, text: &str) -> Value {
    let res = app.publish(key, text).await;
    assert!(res.status.is_success(), "{}", String::from_utf8_lossy(&res.body));
    settled(app, key, res.json()["id"].as_str().unwrap()).await
}

#[tokio::test]
async fn the_sent_route_lists_every_send_oldest_first() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let empty = app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&key), None).await;
    assert_eq!(empty.status, 200, "{}", String::from_utf8_lossy(&empty.body));
    assert_eq!(empty.json(), json!({"items": []}));

    let first = publish(&app, &key, "first").await;
    let second = publish(&app, &key, "second").await;
    // A failed send sends nothing.
    let fault = json!({"fault": "server_reject", "count": 1});
    assert_eq!(app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault)).await.status, 200);
    let res = app.publish(&key, "rejected").await;
    // Refused at once, or accepted and then failed, depending on how publishing runs.
    let doc = res.json();
    let id = doc["resource"]["id"].as_str().or(doc["id"].as_str()).unwrap().to_owned();
    assert_eq!(settled(&app, &key, &id).await["state"], "failed");

    let sent = app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&key), None).await.json();
    let items = sent["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{sent}");
    for (item, status) in items.iter().zip([&first, &second]) {
        assert_eq!(status["state"], "published");
        assert_eq!(item["message_id"], status["message_id"]);
        assert_eq!(item["status_id"], status["id"]);
        assert_eq!(item["type"], "text");
        assert!(item["sent_at"].as_str().unwrap() >= status["created_at"].as_str().unwrap(), "{item} {status}");
        let everyone = ["+15550100004", "100000000000001@lid", "100000000000002@lid", "100000000000003@lid"];
        assert_eq!(item["recipients"], json!(everyone), "all the sandbox's contacts, by default");
        assert_eq!(item.as_object().unwrap().len(), 5, "{item}");
    }
    assert!(items[0]["sent_at"].as_str() <= items[1]["sent_at"].as_str());

    // Reading needs only `sessions:read`.
    let tenant = app.tenancy.authenticate(&key).await.unwrap().tenant;
    let reader = app.key(tenant, Scopes::of(&[Scope::SessionsRead])).await;
    assert_eq!(app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&reader), None).await.json(), sent);
}

#[tokio::test]
async fn the_sent_route_answers_only_for_the_tenants_own_sessions() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    publish(&app, &key, "mine").await;
    let other = app.tenant("Other").await;
    app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&other), None).await.problem(404, "session_not_found");
    app.call("GET", "/v1/sandbox/sessions/nope/sent", Some(&key), None).await.problem(404, "session_not_found");

    // Another tenant's session of the same name has a record of its own.
    assert_eq!(app.call("POST", "/v1/sessions", Some(&other), Some(json!({"id": "s1"}))).await.status, 201);
    let theirs = app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&other), None).await;
    assert_eq!(theirs.json(), json!({"items": []}), "a stored session that sent nothing");
    let mine = app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&key), None).await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_the_sandbox_there_is_no_sent_route() {
    let app = TestApp::without_faults().await;
    let key = app.paired().await;
    app.call("GET", "/v1/sandbox/sessions/s1/sent", Some(&key), None).await.problem(404, "not_found");
    let doc = app.call("GET", "/openapi.json", None, None).await.json();
    assert!(doc["paths"].get("/v1/sandbox/sessions/{session_id}/sent").is_none(), "the served document matches");
    let full = serde_json::to_value(wastatus_http::openapi()).unwrap();
    let route = &full["paths"]["/v1/sandbox/sessions/{session_id}/sent"]["get"];
    assert_eq!(route["security"], json!([{"api_key": ["sessions:read"]}, {"bearer": ["sessions:read"]}]));
    assert_eq!(route["tags"], json!(["sandbox"]));
}
