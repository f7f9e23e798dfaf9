//! The README's five-minute tour, step by step, against the real binary.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Workspace;

#[tokio::test]
async fn the_readme_tour_works() {
    let ws = Workspace::new();
    let migrate = ws.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_tenant, key) = ws.tenant_with_key("Acme");
    assert!(key.starts_with("wsk_"), "recognisable key prefix: {key}");
    let mut server = ws.serve();
    let http = &server.http;

    // Create and pair a session.
    let res = http
        .post(server.url("/v1/sessions"))
        .header("x-api-key", &key)
        .json(&json!({"id": "session-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "pairing");

    let res = http.get(server.url("/v1/sessions/session-main/qr?format=json")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["payload"].as_str().unwrap().starts_with("2@"));

    let res = http
        .post(server.url("/v1/sessions/session-main/pair"))
        .bearer_auth(&key)
        .json(&json!({"method": "qr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: Value = res.json().await.unwrap();
    assert_eq!(pair["session"]["state"], "connected");

    // Publish a text status.
    let res = http
        .post(server.url("/v1/sessions/session-main/statuses"))
        .header("x-api-key", &key)
        .json(&json!({"type": "text", "text": "Flash sale ends tonight!", "background_color": "#25D366", "font": "SERIF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let status: Value = res.json().await.unwrap();
    assert_eq!(status["state"], "published");
    let message_id = status["message_id"].as_str().unwrap();
    assert!(message_id.starts_with("3EB0") && message_id.len() == 24, "{message_id}");
    assert_eq!(location, format!("/v1/statuses/{}", status["id"].as_str().unwrap()));

    // It is in the history, and can be revoked.
    let history: Value = http
        .get(server.url("/v1/sessions/session-main/statuses"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["id"], status["id"]);
    assert_eq!(history["items"][0]["background_color"], "#FF25D366");

    let res = http.delete(server.url(&location)).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "revoked");

    // Trouble: a disconnected session fails the next publish loudly, and it is stored as failed.
    let res = http
        .post(server.url("/v1/sandbox/sessions/session-main/faults"))
        .header("x-api-key", &key)
        .json(&json!({"fault": "disconnect"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "disconnected");
    let res = http
        .post(server.url("/v1/sessions/session-main/statuses"))
        .header("x-api-key", &key)
        .json(&json!({"type": "text", "text": "Anyone there?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "device_disconnected");
    let failed: Value = http
        .get(server.url(&format!("/v1/statuses/{}", problem["status_id"].as_str().unwrap())))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["failure"]["code"], "device_disconnected");

    // Health, readiness, metrics and docs are served.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let metrics = http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("wastatus_events_total{type=\"status.published\"}"), "{metrics}");
    // The docs page works offline: its script and styles come from the binary, not a CDN.
    let page = http.get(server.url("/docs/")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("https://"), "the docs page loads nothing from the internet");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
        let res = http.get(server.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(!res.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let initializer = http.get(server.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(initializer.contains("/openapi.json"), "the docs page reads our document");

    assert!(server.terminate(), "SIGTERM shuts the server down cleanly");
}

#[tokio::test]
async fn records_survive_a_restart_and_admin_sessions_are_usable() {
    let ws = Workspace::new();
    let (tenant, key) = ws.tenant_with_key("Acme");
    let created = ws.admin(&["session", "create", "--tenant", &tenant, "--id", "from-cli"]);
    assert_eq!(created["id"], "from-cli");
    assert_eq!(created["state"], "pairing");

    let mut server = ws.serve();
    let http = &server.http;
    let res = http
        .post(server.url("/v1/sessions/from-cli/pair"))
        .header("x-api-key", &key)
        .json(&json!({"method": "code", "phone_number": "+91 98765 43210"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: Value = res.json().await.unwrap();
    assert_eq!(pair["method"], "code");
    assert_eq!(pair["code"].as_str().unwrap().len(), 9, "ABCD-EFGH");
    let res = http
        .post(server.url("/v1/sessions/from-cli/statuses"))
        .header("x-api-key", &key)
        .json(&json!({"type": "text", "text": "before the restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(server.terminate());
    drop(server);

    // The records outlive the process. The sandbox keeps its devices in memory, so after a
    // restart the session must be paired again, and says so instead of pretending.
    let server = ws.serve();
    let http = &server.http;
    let session: Value = http
        .get(server.url("/v1/sessions/from-cli"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["state"], "pairing");
    let res = http
        .post(server.url("/v1/sessions/from-cli/statuses"))
        .header("x-api-key", &key)
        .json(&json!({"type": "text", "text": "after the restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "not_paired");
    let history: Value = http
        .get(server.url("/v1/sessions/from-cli/statuses"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<_> =
        history["items"].as_array().unwrap().iter().map(|s| (s["text"].clone(), s["state"].clone())).collect();
    assert_eq!(
        states,
        [(json!("after the restart"), json!("failed")), (json!("before the restart"), json!("published"))]
    );
}

#[tokio::test]
async fn the_default_web_driver_says_it_is_unavailable() {
    let ws = Workspace::new();
    let (tenant, key) = ws.tenant_with_key("Acme");
    ws.admin(&["session", "create", "--tenant", &tenant, "--id", "real-phone"]);
    let mut cmd = ws.command(&["serve"]);
    cmd.env("WASTATUS__WHATSAPP__DRIVER", "web");
    let server = crate::support::Server::start(cmd);
    let http = &server.http;
    assert_eq!(http.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);

    let res = http
        .post(server.url("/v1/sessions"))
        .header("x-api-key", &key)
        .json(&json!({"id": "another"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "driver_unavailable");
    let res = http
        .post(server.url("/v1/sessions/real-phone/statuses"))
        .header("x-api-key", &key)
        .json(&json!({"type": "text", "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "driver_unavailable");
    let res = http.post(server.url("/v1/sessions/real-phone/logout")).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "driver_unavailable");
    // No fault injection without the sandbox.
    let res = http
        .post(server.url("/v1/sandbox/sessions/real-phone/faults"))
        .header("x-api-key", &key)
        .json(&json!({"fault": "disconnect"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[test]
fn admin_errors_exit_non_zero_with_a_message() {
    let ws = Workspace::new();
    let out = ws.command(&["admin", "key", "create", "--tenant", "not-a-uuid"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tenant id"));
    let out =
        ws.command(&["admin", "key", "create", "--tenant", "0190f5f4-0000-7000-8000-000000000000"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant_not_found"));
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    let ws = Workspace::new();
    let out = ws.command(&["serve"]).env("WASTATUS__SERVER__LISTEN", "not-an-address").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration"));
}
