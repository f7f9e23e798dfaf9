//! Durable publishing with the real binary: a crash (SIGKILL) with statuses queued and in
//! flight loses none and sends none twice; a scheduled status is published on time across a
//! restart.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, Workspace};

/// Quick leases and recovery, so a crashed process's statuses are settled within seconds.
fn serve(ws: &Workspace) -> Server {
    let mut cmd: Command = ws.command(&["serve"]);
    cmd.env("WASTATUS__JOBS__LEASE_SECS", "2")
        .env("WASTATUS__JOBS__RECOVER_EVERY_SECS", "1")
        .env("WASTATUS__JOBS__POLL_INTERVAL_MS", "100")
        .env("WASTATUS__JOBS__CONCURRENCY", "4")
        // The test sends 200 requests in a burst with one key.
        .env("WASTATUS__LIMITS__REQUESTS_PER_MINUTE", "0");
    Server::start(cmd)
}

async fn statuses(server: &Server, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sessions/s1/statuses?limit=100&cursor={c}"),
            None => "/v1/sessions/s1/statuses?limit=100".to_owned(),
        };
        let page: Value = server.get(&path, key).await.json().await.unwrap();
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn a_crash_with_statuses_in_flight_loses_none_and_sends_none_twice() {
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("Acme");
    let mut server = serve(&ws);
    assert_eq!(server.post("/v1/sessions", &key, &json!({"id": "s1"})).await.status(), 201);
    assert_eq!(server.post("/v1/sessions/s1/pair", &key, &json!({"method": "qr"})).await.status(), 200);

    // 200 publishes at once, then the plug is pulled as soon as the last is accepted: some are
    // published by then, some are being sent, most are still queued.
    let posts: Vec<_> = (0..200)
        .map(|n| {
            let request = server
                .http
                .post(server.url("/v1/sessions/s1/statuses"))
                .header("x-api-key", &key)
                .header("prefer", "respond-async")
                .json(&json!({"type": "text", "text": format!("status {n}")}));
            tokio::spawn(async move { request.send().await.expect("the server answers") })
        })
        .collect();
    let mut accepted = Vec::new();
    for post in posts {
        let res = post.await.unwrap();
        assert_eq!(res.status(), 202);
        accepted.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    server.kill();
    let killed_at = chrono::Utc::now();

    let server = serve(&ws);
    let started = Instant::now();
    let settled = loop {
        let all = statuses(&server, &key).await;
        let unsettled =
            all.iter().filter(|s| ["accepted", "sending", "scheduled"].contains(&s["state"].as_str().unwrap()));
        if unsettled.count() == 0 && all.len() == accepted.len() {
            break all;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "statuses still unsettled after a minute");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let sent: Value = server.get("/v1/sandbox/sessions/s1/sent", &key).await.json().await.unwrap();
    let mut sends: HashMap<String, Vec<String>> = HashMap::new();
    for record in sent["items"].as_array().unwrap() {
        let status = record["status_id"].as_str().unwrap().to_owned();
        sends.entry(status).or_default().push(record["message_id"].as_str().unwrap().to_owned());
    }
    for status in &settled {
        let id = status["id"].as_str().unwrap();
        assert!(accepted.contains(&id.to_owned()));
        let sent_for = sends.get(id).map_or(0, Vec::len);
        assert!(sent_for <= 1, "status {id} was sent {sent_for} times");
        match status["state"].as_str().unwrap() {
            "published" => {
                assert_eq!(sent_for, 1, "a published status was sent");
                assert_eq!(sends[id][0], status["message_id"].as_str().unwrap(), "under the message id it records");
            }
            "failed" => assert_eq!(sent_for, 0, "a failed status was not sent: {status}"),
            other => panic!("status {id} ended {other}"),
        }
    }
    let after_the_crash = sent["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["sent_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap() > killed_at)
        .count();
    assert!(after_the_crash > 0, "the crash left work for the restarted process");
    let published = settled.iter().filter(|s| s["state"] == "published").count();
    // The sandbox can always tell whether an interrupted send went out, so nothing is lost.
    assert_eq!(published, 200, "every status published exactly once");
}

#[tokio::test]
async fn a_status_scheduled_ahead_is_published_on_time_across_a_restart() {
    let ws = Workspace::new();
    let (_, key) = ws.tenant_with_key("Acme");
    let mut server = serve(&ws);
    server.post("/v1/sessions", &key, &json!({"id": "s1"})).await;
    server.post("/v1/sessions/s1/pair", &key, &json!({"method": "qr"})).await;
    let publish_at = chrono::Utc::now() + chrono::TimeDelta::seconds(3);
    let body = json!({"type": "text", "text": "three seconds later", "publish_at": publish_at});
    let res = server.post("/v1/sessions/s1/statuses", &key, &body).await;
    assert_eq!(res.status(), 202);
    let status: Value = res.json().await.unwrap();
    assert_eq!(status["state"], "scheduled");
    assert!(server.terminate(), "a clean stop");

    let server = serve(&ws);
    let path = format!("/v1/statuses/{}", status["id"].as_str().unwrap());
    let started = Instant::now();
    let published = loop {
        let status: Value = server.get(&path, &key).await.json().await.unwrap();
        if status["state"] == "published" {
            break status;
        }
        let state = status["state"].as_str().unwrap();
        assert!(["scheduled", "accepted", "sending"].contains(&state), "on its way, not settled otherwise: {status}");
        assert!(started.elapsed() < Duration::from_secs(10), "not published: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at: chrono::DateTime<chrono::Utc> = published["published_at"].as_str().unwrap().parse().unwrap();
    let late = at - publish_at;
    assert!(
        late >= chrono::TimeDelta::zero() && late <= chrono::TimeDelta::seconds(1),
        "published {late} after its time"
    );
}
