//! `wastatus session pair` against the real server: the operator's way of linking a number.

use std::process::Output;

use serde_json::{Value, json};

use crate::support::{Server, Workspace};

/// Runs `wastatus session pair <args>` to completion, with `key` (if any) as `WASTATUS_API_KEY`
/// and extra environment variables.
async fn session_pair(ws: &Workspace, args: &[&str], key: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut full = vec!["session", "pair"];
    full.extend_from_slice(args);
    let mut cmd = ws.command(&full);
    cmd.env_remove("WASTATUS_API_KEY");
    if let Some(key) = key {
        cmd.env("WASTATUS_API_KEY", key);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("running wastatus session pair")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

async fn create_session(server: &Server, key: &str, id: &str) {
    let res = server.post("/v1/sessions", key, &json!({ "id": id })).await;
    assert_eq!(res.status(), 201);
}

async fn state(server: &Server, key: &str, id: &str) -> String {
    let session: Value = server.get(&format!("/v1/sessions/{id}"), key).await.json().await.unwrap();
    session["state"].as_str().expect("a state").to_owned()
}

#[tokio::test]
async fn session_pair_shows_the_qr_code_and_waits_until_linked() {
    let ws = Workspace::new();
    let (_tenant, key) = ws.tenant_with_key("Acme");
    let server = ws.serve();
    create_session(&server, &key, "session-x").await;
    // The QR code on offer, as the server draws it; pairing hands out this same code.
    let res = server.get("/v1/sessions/session-x/qr?format=text", &key).await;
    assert_eq!(res.status(), 200);
    let drawn = res.text().await.unwrap();

    let out = session_pair(&ws, &["session-x", "--server", &server.base], Some(&key), &[]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "exit {:?}; stderr: {stderr}", out.status);
    assert!(stdout.starts_with(&drawn), "the QR code first, drawn as the server draws it:\n{stdout}");
    assert_eq!(stdout.lines().last(), Some("linked"), "{stdout}");
    assert!(stderr.contains("Linked devices") && stderr.contains("Valid for"), "scan instructions: {stderr}");
    assert_eq!(state(&server, &key, "session-x").await, "connected");

    let again = session_pair(&ws, &["session-x", "--server", &server.base], Some(&key), &[]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "already linked\n");
}

#[tokio::test]
async fn session_pair_with_a_phone_prints_a_pairing_code() {
    let ws = Workspace::new();
    let (_tenant, key) = ws.tenant_with_key("Acme");
    let server = ws.serve();
    create_session(&server, &key, "session-x").await;

    // No --server: the address comes from the configuration, as for `serve`.
    let listen = server.base.trim_start_matches("http://");
    let env = [("WASTATUS__SERVER__LISTEN", listen)];
    let out = session_pair(&ws, &["session-x", "--phone", "919876543210"], Some(&key), &env).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the code, then `linked`: {stdout}");
    let code = lines[0].as_bytes();
    assert!(
        code.len() == 9
            && code[4] == b'-'
            && code.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_uppercase() || b.is_ascii_digit()),
        "a code grouped as ABCD-EFGH: {stdout}"
    );
    assert_eq!(lines[1], "linked");
    assert_eq!(state(&server, &key, "session-x").await, "connected");
}

#[tokio::test]
async fn session_pair_fails_clearly() {
    let ws = Workspace::new();
    let (_tenant, key) = ws.tenant_with_key("Acme");
    let server = ws.serve();
    create_session(&server, &key, "session-x").await;
    let base = server.base.as_str();

    let out = session_pair(&ws, &["session-nope", "--server", base], Some(&key), &[]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("there is no session `session-nope` on {base}")), "{stderr}");

    let out = session_pair(&ws, &["session-x", "--server", base], Some("wsk_not_a_real_key"), &[]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unauthorized: "), "the problem's code and detail: {}", text(&out.stderr));

    let out = session_pair(&ws, &["session-x", "--server", base], None, &[]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("WASTATUS_API_KEY"), "{}", text(&out.stderr));

    // Nothing listens on a port that was just given back.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let nowhere = format!("http://{closed}");
    let out = session_pair(&ws, &["session-x", "--server", &nowhere], Some(&key), &[]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the server at {nowhere}: is `wastatus serve` running?")),
        "{stderr}"
    );

    assert_eq!(state(&server, &key, "session-x").await, "pairing", "none of these paired it");
    assert!(text(&out.stdout).is_empty());
}
