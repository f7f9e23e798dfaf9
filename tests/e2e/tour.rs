//! The README's five-minute tour, step by step, against the real binary.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, Workspace};

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn the_readme_tour_works() {
    let ws = Workspace::new();
    let migrate = ws.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_tenant, key) = ws.tenant_with_key("Acme");
    assert!(key.starts_with("wsk_"), "recognisable key prefix: {key}");
    let mut server = ws.serve();

    // Create and pair a session.
    let res = server.post("/v1/sessions", &key, &json!({"id": "session-main"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json(res).await["state"], "pairing");

    let res =
        server.http.get(server.url("/v1/sessions/session-main/qr?format=json")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "Bearer works as well as X-Api-Key");
    assert!(json(res).await["payload"].as_str().unwrap().starts_with("2@"));

    let res = server.post("/v1/sessions/session-main/pair", &key, &json!({"method": "qr"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["session"]["state"], "connected");

    // Publish a text status.
    let body =
        json!({"type": "text", "text": "Flash sale ends tonight!", "background_color": "#25D366", "font": "SERIF"});
    let res = server.post("/v1/sessions/session-main/statuses", &key, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let status = json(res).await;
    assert_eq!(status["state"], "published");
    let message_id = status["message_id"].as_str().unwrap();
    assert!(message_id.starts_with("3EB0") && message_id.len() == 24, "{message_id}");
    assert_eq!(location, format!("/v1/statuses/{}", status["id"].as_str().unwrap()));

    // It is in the history, and can be revoked.
    let history = json(server.get("/v1/sessions/session-main/statuses", &key).await).await;
    assert_eq!(history["items"][0]["id"], status["id"]);
    assert_eq!(history["items"][0]["background_color"], "#FF25D366");
    let res = server.delete(&location, &key).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["state"], "revoked");

    // Later: scheduled a minute ahead, with an idempotency key.
    let later = (chrono::Utc::now() + chrono::TimeDelta::minutes(1)).format("%FT%TZ").to_string();
    let body = json!({"type": "text", "text": "See you at six", "publish_at": later});
    let schedule = || {
        server
            .http
            .post(server.url("/v1/sessions/session-main/statuses"))
            .header("x-api-key", &key)
            .header("idempotency-key", "tour-later")
            .json(&body)
            .send()
    };
    let res = schedule().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let scheduled = json(res).await;
    assert_eq!(scheduled["state"], "scheduled");
    let again = json(schedule().await.unwrap()).await;
    assert_eq!(again["id"], scheduled["id"], "the repeat is the same status");

    // Trouble: a disconnected session fails the next publish loudly, and it is stored as failed.
    let res = server.post("/v1/sandbox/sessions/session-main/faults", &key, &json!({"fault": "disconnect"})).await;
    assert_eq!(json(res).await["state"], "disconnected");
    let res = server
        .post("/v1/sessions/session-main/statuses", &key, &json!({"type": "text", "text": "Anyone there?"}))
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem = json(res).await;
    assert_eq!(problem["code"], "device_disconnected");
    let failed =
        json(server.get(&format!("/v1/statuses/{}", problem["status_id"].as_str().unwrap()), &key).await).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["failure"]["code"], "device_disconnected");

    // Health, readiness, metrics and docs are served.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let res = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("wastatus_events_total{type=\"status.published\"}"), "{metrics}");
    // The docs page works offline: its script and styles come from the binary, not a CDN.
    let page = server.http.get(server.url("/docs/")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("https://"), "the docs page loads nothing from the internet");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
        let res = server.http.get(server.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(!res.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let initializer =
        server.http.get(server.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
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
    let res = server
        .post("/v1/sessions/from-cli/pair", &key, &json!({"method": "code", "phone_number": "+91 98765 43210"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let pair = json(res).await;
    assert_eq!(pair["method"], "code");
    assert_eq!(pair["code"].as_str().unwrap().len(), 9, "ABCD-EFGH");
    let res = server
        .post("/v1/sessions/from-cli/statuses", &key, &json!({"type": "text", "text": "before the restart"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(server.terminate());
    drop(server);

    // The records outlive the process, and so does the sandbox's device (its journal): the
    // session is still linked after a restart and publishes.
    let server = ws.serve();
    assert_eq!(json(server.get("/v1/sessions/from-cli", &key).await).await["state"], "connected");
    let res = server
        .post("/v1/sessions/from-cli/statuses", &key, &json!({"type": "text", "text": "after the restart"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let history = json(server.get("/v1/sessions/from-cli/statuses", &key).await).await;
    let states: Vec<_> =
        history["items"].as_array().unwrap().iter().map(|s| (s["text"].clone(), s["state"].clone())).collect();
    assert_eq!(
        states,
        [(json!("after the restart"), json!("published")), (json!("before the restart"), json!("published"))]
    );
}

#[tokio::test]
async fn the_default_web_driver_without_a_network_reports_disconnected_and_stops_promptly() {
    let ws = Workspace::new();
    let (tenant, key) = ws.tenant_with_key("Acme");
    ws.admin(&["session", "create", "--tenant", &tenant, "--id", "real-phone"]);
    let mut cmd = ws.command(&["serve"]);
    cmd.env("WASTATUS__WHATSAPP__DRIVER", "web");
    let mut server = Server::start(cmd);
    assert_eq!(server.http.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);

    // The session started at boot; with no network it cannot reach WhatsApp.
    let started = std::time::Instant::now();
    let state = loop {
        let session = json(server.get("/v1/sessions/real-phone", &key).await).await;
        let state = session["state"].as_str().unwrap().to_owned();
        if state == "disconnected" || started.elapsed() > std::time::Duration::from_secs(10) {
            break state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(state, "disconnected", "an offline session says so");
    // Publishing fails loudly, and the failure is stored.
    let res = server.post("/v1/sessions/real-phone/statuses", &key, &json!({"type": "text", "text": "hello"})).await;
    assert!(res.status().is_client_error() || res.status().is_server_error(), "{}", res.status());
    let problem = json(res).await;
    assert!(["device_disconnected", "not_paired"].contains(&problem["code"].as_str().unwrap()), "{problem}");
    // No fault injection without the sandbox.
    let res = server.post("/v1/sandbox/sessions/real-phone/faults", &key, &json!({"fault": "disconnect"})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let stopping = std::time::Instant::now();
    assert!(server.terminate(), "SIGTERM stops the server cleanly");
    assert!(stopping.elapsed() < std::time::Duration::from_secs(10), "and promptly: {:?}", stopping.elapsed());
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
