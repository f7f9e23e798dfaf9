//! Durable publishing over HTTP: asynchronous and scheduled publishes, cancelling, retries,
//! pacing, the bound on waiting, and idempotency keys.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::support::{Options, Response, TestApp};

async fn post(app: &TestApp, key: &str, headers: &[(&str, &str)], body: Value) -> Response {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/sessions/s1/statuses")
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::from(body.to_string())).unwrap()).await
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// Polls the status until it is in `state`; panics after `within`.
async fn wait_for(app: &TestApp, key: &str, id: &str, state: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let status = app.call("GET", &format!("/v1/statuses/{id}"), Some(key), None).await.json();
        if status["state"] == state {
            return status;
        }
        assert!(started.elapsed() < within, "still {} after {within:?}: {status}", status["state"]);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn id_of(res: &Response) -> String {
    res.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_async_publish_answers_at_once_and_publishes_in_the_background() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    for (headers, body) in [
        (vec![("prefer", "respond-async")], text("by Prefer")),
        (vec![], json!({"type": "text", "text": "by flag", "async": true})),
    ] {
        let res = post(&app, &key, &headers, body).await;
        assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
        let id = id_of(&res);
        assert_eq!(res.headers[header::LOCATION], format!("/v1/statuses/{id}"));
        assert!(["accepted", "sending", "published"].contains(&res.json()["state"].as_str().unwrap()));
        if !headers.is_empty() {
            assert_eq!(res.headers["preference-applied"], "respond-async");
        }
        let status = wait_for(&app, &key, &id, "published", Duration::from_secs(5)).await;
        assert!(status["message_id"].as_str().unwrap().starts_with("3EB0"));
        assert_eq!(status["attempts"], 1);
    }
    assert_eq!(app.sandbox.sent(&app.session_key("s1").await).len(), 2);
}

#[tokio::test]
async fn a_scheduled_status_waits_for_its_time_and_can_be_cancelled() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let publish_at = chrono::Utc::now() + chrono::TimeDelta::milliseconds(1200);
    let res = post(&app, &key, &[], json!({"type": "text", "text": "later", "publish_at": publish_at})).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let scheduled = id_of(&res);
    assert_eq!(res.json()["state"], "scheduled");

    let res = post(&app, &key, &[], json!({"type": "text", "text": "never", "publish_at": publish_at})).await;
    let cancelled = id_of(&res);
    let res = app.call("DELETE", &format!("/v1/statuses/{cancelled}"), Some(&key), None).await;
    assert_eq!(res.json()["state"], "cancelled");

    let listed = app.call("GET", "/v1/sessions/s1/statuses?state=scheduled", Some(&key), None).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let status = wait_for(&app, &key, &scheduled, "published", Duration::from_secs(5)).await;
    let published_at: chrono::DateTime<chrono::Utc> = status["published_at"].as_str().unwrap().parse().unwrap();
    assert!(published_at >= publish_at, "published at {published_at}, asked for {publish_at}");
    assert!(published_at - publish_at < chrono::TimeDelta::seconds(1), "on time: {published_at} vs {publish_at}");
    let sent = app.sandbox.sent(&app.session_key("s1").await);
    assert_eq!(sent.len(), 1, "the cancelled status was never sent");

    // A time in the past is refused, and a published status is revoked rather than cancelled.
    let past = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    post(&app, &key, &[], json!({"type": "text", "text": "x", "publish_at": past}))
        .await
        .problem(422, "invalid_publish_at");
    let res = app.call("DELETE", &format!("/v1/statuses/{cancelled}"), Some(&key), None).await;
    res.problem(409, "status_not_revocable");
}

#[tokio::test]
async fn queued_statuses_are_retried_after_transient_failures_only() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let fault = |fault: &str| json!({"fault": fault, "count": 1});
    let res = app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("upload_timeout"))).await;
    assert_eq!(res.status, 200);
    let id = id_of(&post(&app, &key, &[("prefer", "respond-async")], text("retried")).await);
    let status = wait_for(&app, &key, &id, "published", Duration::from_secs(5)).await;
    assert_eq!(status["attempts"], 2, "{status}");

    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("server_reject"))).await;
    let id = id_of(&post(&app, &key, &[("prefer", "respond-async")], text("rejected")).await);
    let status = wait_for(&app, &key, &id, "failed", Duration::from_secs(5)).await;
    assert_eq!((status["attempts"].as_u64(), status["failure"]["code"].as_str()), (Some(1), Some("server_rejected")));

    // A client waiting for the outcome gets one attempt and the error.
    app.call("POST", "/v1/sandbox/sessions/s1/faults", Some(&key), Some(fault("upload_timeout"))).await;
    post(&app, &key, &[], text("now")).await.problem(504, "upload_timeout");
}

#[tokio::test]
async fn a_paced_session_delays_queued_statuses_instead_of_refusing_them() {
    let app = TestApp::with_options(Options { pace: Some((120, 1)), ..Options::default() }).await;
    let key = app.paired().await;
    let first = id_of(&post(&app, &key, &[("prefer", "respond-async")], text("one")).await);
    let second = post(&app, &key, &[("prefer", "respond-async")], text("two")).await;
    assert_eq!(second.status, 202, "queued, not refused");
    let second = id_of(&second);
    let a = wait_for(&app, &key, &first, "published", Duration::from_secs(5)).await;
    let b = wait_for(&app, &key, &second, "published", Duration::from_secs(5)).await;
    let at = |s: &Value| s["published_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(at(&b) - at(&a) >= chrono::TimeDelta::milliseconds(400), "two a minute: {} then {}", at(&a), at(&b));
    assert_eq!(b["attempts"], 1, "waiting for the pace is not an attempt");
}

#[tokio::test]
async fn a_send_that_outlasts_the_wait_answers_202_and_goes_on() {
    let app = TestApp::with_options(Options { sync_wait: Duration::ZERO, ..Options::default() }).await;
    let key = app.paired().await;
    let res = post(&app, &key, &[], text("slow")).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let id = id_of(&res);
    wait_for(&app, &key, &id, "published", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = TestApp::new().await;
    let key = app.paired().await;
    let idem = [("idempotency-key", "order-42-status")];
    let first = post(&app, &key, &idem, text("once")).await;
    assert_eq!(first.status, 201);
    let again = post(&app, &key, &idem, text("once")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the first answer, byte for byte");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers[header::LOCATION], first.headers[header::LOCATION]);
    assert_eq!(app.sandbox.sent(&app.session_key("s1").await).len(), 1, "sent once");

    post(&app, &key, &idem, text("twice")).await.problem(422, "idempotency_key_reused");
    // Keys belong to a tenant: another tenant's same key is its own.
    let other = app.tenant("Other").await;
    app.call("POST", "/v1/sessions", Some(&other), Some(json!({"id": "s1"}))).await;
    app.call("POST", "/v1/sessions/s1/pair", Some(&other), Some(json!({"method": "qr"}))).await;
    let theirs = post(&app, &other, &idem, text("once")).await;
    assert_eq!(theirs.status, 201);
    assert!(theirs.headers.get("idempotent-replayed").is_none());
    assert_ne!(id_of(&theirs), id_of(&first));
    post(&app, &key, &[("idempotency-key", "")], text("x")).await.problem(422, "invalid_idempotency_key");

    // Revoking with a key is replayed too, rather than refused the second time.
    let id = id_of(&first);
    let revoke = || {
        let request = Request::builder()
            .method("DELETE")
            .uri(format!("/v1/statuses/{id}"))
            .header("x-api-key", key.clone())
            .header("idempotency-key", "revoke-42");
        request.body(Body::empty()).unwrap()
    };
    let revoked = app.send(revoke()).await;
    assert_eq!(revoked.json()["state"], "revoked");
    let replayed = app.send(revoke()).await;
    assert_eq!((replayed.status, replayed.body.clone()), (revoked.status, revoked.body));
}

#[tokio::test]
async fn a_repeat_while_the_first_is_in_flight_is_a_conflict() {
    // The first request fetches media from a server that never finishes answering.
    let media = wastatus_media::MediaConfig {
        allow_http: true,
        allow_private_networks: true,
        fetch_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let app = std::sync::Arc::new(TestApp::with_media(media).await);
    let key = app.paired().await;
    let url = format!("{}/slow.jpg", crate::compat_support::serve_trickle().await);
    let body = json!({"type": "image", "media": {"url": url}});
    let idem = [("idempotency-key", "slow-one")];
    let first = {
        let (app, key, body) = (app.clone(), key.clone(), body.clone());
        tokio::spawn(async move { post(&app, &key, &idem, body).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = post(&app, &key, &idem, body.clone()).await;
    second.problem(409, "idempotency_key_in_use");
    assert_eq!(second.headers[header::RETRY_AFTER], "1");
    let first = first.await.unwrap();
    first.problem(422, "media_fetch_timeout");
    // The refusal is remembered like any answer.
    let third = post(&app, &key, &idem, body).await;
    assert_eq!((third.status, third.headers.get("idempotent-replayed").is_some()), (first.status, true));
}

#[tokio::test]
async fn a_refusal_that_did_nothing_does_not_use_up_the_key() {
    let app = TestApp::with_options(Options { pace: Some((60, 1)), ..Options::default() }).await;
    let key = app.paired().await;
    assert_eq!(post(&app, &key, &[], text("first")).await.status, 201);
    let idem = [("idempotency-key", "paced")];
    let paced = post(&app, &key, &idem, text("second")).await;
    paced.problem(429, "publish_pace_exceeded");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retried = post(&app, &key, &idem, text("second")).await;
    assert_eq!(retried.status, 201, "the key was free again: {}", String::from_utf8_lossy(&retried.body));
    assert!(retried.headers.get("idempotent-replayed").is_none());
}
