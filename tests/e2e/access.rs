//! Credentials made by the admin CLI work against the real server: scoped keys, a user with a
//! per-user token and a device, and a password that logs in for a JWT.

use serde_json::{Value, json};

use crate::support::{Server, Workspace};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn admin_json(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    let mut cmd = ws.command(&full);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running wastatus admin");
    assert!(out.status.success(), "admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

#[tokio::test]
async fn cli_credentials_work_against_the_server() {
    let ws = Workspace::new();
    let (tenant, key) = ws.tenant_with_key("Acme");
    let reader = admin_json(&ws, &["key", "create", "--tenant", &tenant, "--scope", "sessions:read"], &[]);
    assert_eq!(reader["scopes"], json!(["sessions:read"]));
    let user = admin_json(
        &ws,
        &["user", "create", "--tenant", &tenant, "--name", "ana"],
        &[("WASTATUS_USER_PASSWORD", "correct horse")],
    );
    let (user_id, token) = (user["id"].as_str().unwrap(), user["token"].as_str().unwrap());
    assert_eq!(uuid::Uuid::parse_str(token).unwrap().get_version_num(), 4);
    assert_eq!(user["has_password"], true);
    let device =
        admin_json(&ws, &["session", "create", "--tenant", &tenant, "--id", "ana-phone", "--user", user_id], &[]);
    assert_eq!(device["user_id"], user_id);

    let mut serve = ws.command(&["serve"]);
    serve.env("WASTATUS__AUTH__JWT__SECRET", SECRET);
    let server = Server::start(serve);
    // The scoped key reads but does not manage.
    let reader = reader["key"].as_str().unwrap();
    assert_eq!(server.get("/v1/sessions", reader).await.status(), 200);
    assert_eq!(server.post("/v1/sessions", reader, &json!({"id": "nope"})).await.status(), 403);

    // The user's device publishes through the WUTS-style route with the per-user token.
    assert_eq!(server.post("/v1/sessions/ana-phone/pair", &key, &json!({"method": "qr"})).await.status(), 200);
    let posted = server
        .http
        .post(server.url("/status/text"))
        .bearer_auth(token)
        .json(&json!({"text": "Flash sale ends tonight!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let posted: Value = posted.json().await.unwrap();
    assert_eq!((posted["success"].as_bool(), posted["status_type"].as_str()), (Some(true), Some("text")));

    // The password logs in for a JWT that acts as the user.
    let login = server
        .http
        .post(server.url("/v1/auth/token"))
        .json(&json!({"username": "ana", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let jwt = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let me: Value = server.http.get(server.url("/v1/me")).bearer_auth(&jwt).send().await.unwrap().json().await.unwrap();
    assert_eq!((me["credential"].as_str(), me["user_id"].as_str()), (Some("jwt"), Some(user_id)));
}

#[test]
fn bad_scopes_and_short_passwords_are_refused_by_the_cli() {
    let ws = Workspace::new();
    let (tenant, _) = ws.tenant_with_key("Acme");
    for args in [
        vec!["admin", "key", "create", "--tenant", &tenant, "--scope", "statuses:delete"],
        vec!["admin", "user", "create", "--tenant", &tenant, "--name", "bo", "--password", "short"],
    ] {
        let out = ws.command(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing on stdout on error");
        assert!(!out.stderr.is_empty());
    }
}
