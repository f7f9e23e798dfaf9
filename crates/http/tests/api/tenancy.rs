//! Tenant B cannot see, pair, post to or delete tenant A's session, or touch its statuses.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn another_tenants_resources_do_not_exist() {
    let app = TestApp::new().await;
    let a = app.paired().await;
    let status = app.publish(&a, "mine").await.json();
    let status_path = format!("/v1/statuses/{}", status["id"].as_str().unwrap());
    let b = app.tenant("Rival").await;

    app.call("GET", "/v1/sessions/s1", Some(&b), None).await.problem(404, "session_not_found");
    app.call("POST", "/v1/sessions/s1/pair", Some(&b), Some(json!({"method": "qr"})))
        .await
        .problem(404, "session_not_found");
    app.call("GET", "/v1/sessions/s1/qr", Some(&b), None).await.problem(404, "session_not_found");
    app.call("POST", "/v1/sessions/s1/logout", Some(&b), None).await.problem(404, "session_not_found");
    app.publish(&b, "theirs").await.problem(404, "session_not_found");
    app.call("GET", "/v1/sessions/s1/statuses", Some(&b), None).await.problem(404, "session_not_found");
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&b), Some(json!({"fault": "disconnect"})))
        .await
        .problem(404, "session_not_found");
    app.call("GET", &status_path, Some(&b), None).await.problem(404, "status_not_found");
    app.call("DELETE", &status_path, Some(&b), None).await.problem(404, "status_not_found");
    app.call("DELETE", "/v1/sessions/s1", Some(&b), None).await.problem(404, "session_not_found");
    assert_eq!(app.call("GET", "/v1/sessions", Some(&b), None).await.json()["items"], json!([]));

    // B may use the same session id for its own session; A's is untouched.
    assert_eq!(app.call("POST", "/v1/sessions", Some(&b), Some(json!({"id": "s1"}))).await.status, 201);
    assert_eq!(app.call("GET", "/v1/sessions/s1", Some(&a), None).await.json()["state"], "connected");
    assert_eq!(app.call("GET", "/v1/sessions/s1", Some(&b), None).await.json()["state"], "pairing");
    assert_eq!(app.call("GET", &status_path, Some(&a), None).await.json()["state"], "published");
}
