//! Helpers for the compatibility-surface tests: loopback media servers, a user with a device,
//! sandbox faults, raw requests, and checks of the surfaces' formats.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use wastatus_domain::{Scopes, TenantId};
use wastatus_media::MediaConfig;

use crate::support::{Options, Response, TestApp};

/// Media URLs may reach the loopback servers below, over http. Nothing else in the tests is
/// fetched: every URL is `http://127.0.0.1:…`.
pub fn loopback_media() -> MediaConfig {
    MediaConfig {
        allow_http: true,
        allow_private_networks: true,
        fetch_timeout: Duration::from_millis(500),
        ..MediaConfig::default()
    }
}

/// A server with loopback media and these options otherwise.
pub async fn app_with(options: Options) -> TestApp {
    TestApp::with_options(Options { media: loopback_media(), ..options }).await
}

/// Serves `body` with `content_type` at every path of a loopback port; returns
/// `http://127.0.0.1:PORT` (append any path, e.g. `/promos/today.jpg`).
pub async fn serve(body: Vec<u8>, content_type: &'static str) -> String {
    let app =
        axum::Router::new().fallback(move || async move { ([(header::CONTENT_TYPE, content_type)], body.clone()) });
    listen(app).await
}

/// Answers `404` at every path.
pub async fn serve_not_found() -> String {
    listen(axum::Router::new().fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such file") })).await
}

/// Sends one byte a second, forever: a fetch of it times out.
pub async fn serve_trickle() -> String {
    let app = axum::Router::new().fallback(|| async {
        let stream = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")), ()))
        });
        ([(header::CONTENT_TYPE, "image/jpeg")], Body::from_stream(stream))
    });
    listen(app).await
}

/// A loopback address where nothing listens any more.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A tenant with a user whose device is the paired session `device-1`.
pub struct Device {
    pub tenant: TenantId,
    /// The tenant's API key (every tenant scope).
    pub key: String,
    /// The user's per-user token.
    pub token: String,
    pub session: &'static str,
}

/// Creates a tenant, a user and the user's device, paired unless `paired` is false.
pub async fn device(app: &TestApp, paired: bool) -> Device {
    let (tenant, key) = app.tenant_with_id("Acme").await;
    let user = app.user(tenant, "ana", Some("correct horse"), Scopes::USER).await;
    let session = "device-1";
    let created = app
        .call("POST", "/v1/sessions", Some(&key), Some(json!({"id": session, "user_id": user.user.id.to_string()})))
        .await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    if paired {
        pair(app, &key, session).await;
    }
    Device { tenant, key, token: user.token, session }
}

/// A tenant with the paired session `id`; returns the tenant and its API key.
pub async fn session(app: &TestApp, id: &str) -> (TenantId, String) {
    let (tenant, key) = app.tenant_with_id("Acme").await;
    let created = app.call("POST", "/v1/sessions", Some(&key), Some(json!({"id": id}))).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    pair(app, &key, id).await;
    (tenant, key)
}

pub async fn pair(app: &TestApp, key: &str, session: &str) {
    let res = app.call("POST", &format!("/v1/sessions/{session}/pair"), Some(key), Some(json!({"method": "qr"}))).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
}

/// Makes the sandbox simulate `fault` (for the next `count` publishes).
pub async fn fault(app: &TestApp, key: &str, session: &str, fault: &str, count: u32) {
    let res = app
        .call(
            "POST",
            &format!("/v1/sandbox/sessions/{session}/faults"),
            Some(key),
            Some(json!({"fault": fault, "count": count})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
}

/// A POST of `body` as it is written (not re-serialised), with these headers.
pub async fn post_raw(app: &TestApp, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut request = Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::from(body.to_owned())).unwrap()).await
}

/// The session's statuses through the native API, newest first.
pub async fn native_history(app: &TestApp, key: &str, session: &str) -> Vec<Value> {
    let res = app.call("GET", &format!("/v1/sessions/{session}/statuses"), Some(key), None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()["items"].as_array().unwrap().clone()
}

/// The JSON body of a compat answer, which is never a problem document.
#[track_caller]
pub fn json_of(res: &Response, status: u16) -> Value {
    assert_eq!(res.status.as_u16(), status, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.headers[header::CONTENT_TYPE], "application/json", "not problem+json");
    res.json()
}

/// The members of an object, sorted.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<_> =
        v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// A WhatsApp message id as the sandbox makes them: `3EB0` and 20 upper-case hex digits.
#[track_caller]
pub fn assert_message_id(v: &Value) {
    let id = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(
        id.len() == 24
            && id.starts_with("3EB0")
            && id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{id}"
    );
}

/// RFC 3339 in whole seconds with a numeric offset (`2026-06-15T14:35:11+00:00`), close to now.
#[track_caller]
pub fn assert_rfc3339_with_offset(v: &Value) {
    let ts = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert_eq!(ts.len(), 25, "{ts}");
    assert!(matches!(&ts[19..20], "+" | "-") && &ts[22..23] == ":", "{ts}: no numeric offset");
    assert_recent(ts);
}

/// RFC 3339 in whole seconds in UTC with `Z` (`2025-10-27T06:21:11Z`), close to now.
#[track_caller]
pub fn assert_rfc3339_z(v: &Value) {
    let ts = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(ts.len() == 20 && ts.ends_with('Z'), "{ts}");
    assert_recent(ts);
}

#[track_caller]
fn assert_recent(ts: &str) {
    let at = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age.num_seconds().abs() < 120, "{ts} is not now");
}
