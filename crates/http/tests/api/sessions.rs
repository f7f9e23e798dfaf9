//! Sessions: create, pair by QR or code, QR rendering, log out, delete, faults.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn a_session_is_created_paired_and_deleted() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    let res = app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "session-main"}))).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.headers["location"], "/v1/sessions/session-main");
    assert_eq!(res.json()["state"], "pairing");

    app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "session-main"})))
        .await
        .problem(409, "session_already_exists");

    let res = app.call("POST", "/v1/sessions/session-main/pair", Some(&key), Some(json!({"method": "qr"}))).await;
    assert_eq!(res.status, 200);
    let pair = res.json();
    assert_eq!(pair["method"], "qr");
    assert!(pair["qr"].as_str().unwrap().starts_with("2@"));
    assert_eq!(pair["session"]["state"], "connected");

    app.call("POST", "/v1/sessions/session-main/pair", Some(&key), Some(json!({"method": "qr"})))
        .await
        .problem(409, "session_already_paired");
    assert_eq!(app.call("GET", "/v1/sessions/session-main", Some(&key), None).await.json()["state"], "connected");
    let list = app.call("GET", "/v1/sessions", Some(&key), None).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    assert_eq!(app.call("DELETE", "/v1/sessions/session-main", Some(&key), None).await.status, 204);
    app.call("GET", "/v1/sessions/session-main", Some(&key), None).await.problem(404, "session_not_found");
    app.call("DELETE", "/v1/sessions/session-main", Some(&key), None).await.problem(404, "session_not_found");
}

#[tokio::test]
async fn the_qr_code_renders_in_every_format_while_pairing() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "s1"}))).await;

    let png = app.call("GET", "/v1/sessions/s1/qr", Some(&key), None).await;
    assert_eq!(png.status, 200);
    assert_eq!(png.headers["content-type"], "image/png");
    assert_eq!(png.headers["cache-control"], "no-store");
    assert_eq!(&png.body[..8], b"\x89PNG\r\n\x1a\n");

    let svg = app.call("GET", "/v1/sessions/s1/qr?format=svg", Some(&key), None).await;
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(String::from_utf8(svg.body).unwrap().contains("<svg"));

    let text = app.call("GET", "/v1/sessions/s1/qr?format=text", Some(&key), None).await;
    assert!(String::from_utf8(text.body).unwrap().contains('█'));

    let json = app.call("GET", "/v1/sessions/s1/qr?format=json", Some(&key), None).await.json();
    assert!(json["payload"].as_str().unwrap().starts_with("2@"));
    assert!(json["expires_at"].as_str().is_some());

    app.call("GET", "/v1/sessions/s1/qr?format=gif", Some(&key), None).await.problem(422, "invalid_qr_format");
    app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(json!({"method": "qr"}))).await;
    app.call("GET", "/v1/sessions/s1/qr", Some(&key), None).await.problem(409, "qr_not_available");
}

#[tokio::test]
async fn pairing_by_code_validates_the_phone_number() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "s1"}))).await;
    let bad = json!({"method": "code", "phone_number": "call me"});
    let doc =
        app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(bad)).await.problem(422, "invalid_phone_number");
    assert_eq!(doc["field"], "phone_number");
    let res = app
        .call(
            "POST",
            "/v1/sessions/s1/pair",
            Some(&key),
            Some(json!({"method": "code", "phone_number": "+91 98765 43210"})),
        )
        .await;
    assert_eq!(res.status, 200);
    let code = res.json()["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
}

#[tokio::test]
async fn logging_out_requires_pairing_again() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let res = app.call("POST", "/v1/sessions/s1/logout", Some(&key), None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["state"], "logged_out");
    app.publish(&key, "hello").await.problem(409, "logged_out");
    assert_eq!(app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(json!({"method": "qr"}))).await.status, 200);
    assert_eq!(app.publish(&key, "back again").await.status, 201);
}

#[tokio::test]
async fn sandbox_faults_are_validated_and_apply_to_the_session() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "s1"}))).await;
    let fault = |f: &str| json!({"fault": f});
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("disconnect")))
        .await
        .problem(409, "fault_not_applicable");
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("meteor")))
        .await
        .problem(422, "invalid_fault");
    let zero = json!({"fault": "upload_failed", "count": 0});
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(zero)).await.problem(422, "invalid_fault");
    app.call("POST", "/v1/sandbox/sessions/nope/faults", Some(&key), Some(fault("disconnect")))
        .await
        .problem(404, "session_not_found");

    app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(json!({"method": "qr"}))).await;
    let res = app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("disconnect"))).await;
    assert_eq!(res.json()["state"], "disconnected");
    assert_eq!(app.call("GET", "/v1/sessions/s1", Some(&key), None).await.json()["state"], "disconnected");
    let res = app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("reconnect"))).await;
    assert_eq!(res.json()["state"], "connected");
}

#[tokio::test]
async fn without_the_sandbox_there_is_no_fault_route() {
    let app = TestApp::without_faults().await;
    let key = app.paired().await;
    let res =
        app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(json!({"fault": "disconnect"}))).await;
    res.problem(404, "not_found");
    let doc = app.call("GET", "/openapi.json", None, None).await.json();
    assert!(
        doc["paths"].get("/v1/sandbox/sessions/{session_id}/faults").is_none(),
        "the served document matches the routes"
    );
    assert!(doc["paths"].get("/v1/sessions").is_some());
}

#[tokio::test]
async fn contacts_are_listed_once_linked() {
    let app = TestApp::new().await;
    let key = app.tenant("Acme").await;
    app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": "s1"}))).await;
    let empty = app.call("GET", "/v1/sessions/s1/contacts", Some(&key), None).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!({"items": []}), "nothing synced before linking");
    app.call("POST", "/v1/sessions/s1/pair", Some(&key), Some(json!({"method": "qr"}))).await;
    let contacts = app.call("GET", "/v1/sessions/s1/contacts", Some(&key), None).await.json();
    let items = contacts["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], json!({"phone_number": "+15550100001", "lid": "100000000000001@lid", "name": "Ada Lovelace"}));
    assert_eq!(items[3]["lid"], json!(null), "known by number only");
    let other = app.tenant("Other").await;
    app.call("GET", "/v1/sessions/s1/contacts", Some(&other), None).await.problem(404, "session_not_found");
}

#[tokio::test]
async fn a_disconnected_session_says_why_and_restart_connects_it_again() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let session = app.call("GET", "/v1/sessions/s1", Some(&key), None).await.json();
    assert!(session.get("reason").is_none(), "{session}");
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(json!({"fault": "disconnect"}))).await;
    let session = app.call("GET", "/v1/sessions/s1", Some(&key), None).await.json();
    assert_eq!(session["state"], "disconnected");
    assert_eq!(session["reason"]["code"], "offline");
    assert!(session["reason"]["message"].as_str().unwrap().contains("fault"), "{session}");

    let res = app.call("POST", "/v1/sessions/s1/restart", Some(&key), None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["state"], "connected");
    assert!(res.json().get("reason").is_none());

    app.call("POST", "/v1/sessions/s1/logout", Some(&key), None).await;
    app.call("POST", "/v1/sessions/s1/restart", Some(&key), None).await.problem(409, "session_logged_out");
    app.call("POST", "/v1/sessions/nope/restart", Some(&key), None).await.problem(404, "session_not_found");
}
