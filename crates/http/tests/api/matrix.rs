//! Every authenticated route, read from the OpenAPI document, against every way a credential
//! can fall short: none at all (401), a forged or stale JWT (401), a credential without the
//! route's scope (403), and a valid credential of another tenant (404).

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use wastatus_domain::{Scope, Scopes};

use crate::jwt;
use crate::support::{Options, TestApp};

/// Routes that need no credential.
const PUBLIC: [(&str, &str); 4] =
    [("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), ("post", "/v1/auth/token")];

/// A body that passes validation, for routes where another tenant must get as far as the lookup
/// of the resource.
fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("post", "/v1/sessions/{session_id}/statuses") => Some(json!({"type": "text", "text": "hi"})),
        ("post", "/v1/sessions/{session_id}/pair") => Some(json!({"method": "qr"})),
        ("post", "/v1/sandbox/sessions/{session_id}/faults") => Some(json!({"fault": "disconnect", "count": 1})),
        ("post", "/api/whatsapp/{sessionId}/update-status") => Some(json!({"caption": "hi"})),
        ("post" | "put" | "patch", _) => Some(json!({})),
        _ => None,
    }
}

struct Call<'a> {
    app: &'a TestApp,
    method: &'a str,
    path: String,
    body: Option<Value>,
}

impl Call<'_> {
    async fn with(&self, credential: Option<(&str, String)>) -> u16 {
        self.answer(credential).await.0
    }

    /// The status and what a client could tell cases apart by: the problem's `code`, or a
    /// compatibility shape's `error` and `message` (not `detail`, which names the id asked for).
    async fn answer(&self, credential: Option<(&str, String)>) -> (u16, Value) {
        let mut request = Request::builder().method(self.method.to_uppercase().as_str()).uri(&self.path);
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        let request = match &self.body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let response = self.app.send(request.unwrap()).await;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status.as_u16(), json!([body["code"], body["error"], body["message"]]))
    }
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

#[tokio::test]
async fn every_route_refuses_what_it_must() {
    let app = TestApp::with_options(Options { jwt: jwt::config_with_rsa(), ..Options::default() }).await;
    let (a, a_key) = app.tenant_with_id("A").await;
    let user = app.user(a, "ana", None, Scopes::USER).await;
    let user_id = user.user.id.to_string();
    assert_eq!(app.call("POST", "/v1/sessions", Some(&a_key), Some(json!({"id": "s1"}))).await.status, 201);
    assert_eq!(app.call("POST", "/v1/sessions/s1/pair", Some(&a_key), Some(json!({"method": "qr"}))).await.status, 200);
    let status_id = app.publish(&a_key, "mine").await.json()["id"].as_str().unwrap().to_owned();
    let key_id = app.call("GET", "/v1/me", Some(&a_key), None).await.json()["api_key_id"].as_str().unwrap().to_owned();
    let webhook =
        app.call("POST", "/v1/webhooks", Some(&a_key), Some(json!({"url": "http://127.0.0.1:9/hook"}))).await.json();
    let webhook_id = webhook["id"].as_str().expect("a webhook").to_owned();
    let (_, b_key) = app.tenant_with_id("B").await;

    // The JWTs are for a user that exists and is enabled: only the token is at fault. The same
    // user's good tokens work, so a 401 below is the token's doing.
    for good in [jwt::hs256(&jwt::claims(&user_id)), jwt::rs256(&jwt::claims(&user_id))] {
        let me = app.call_bearer("GET", "/v1/me", &good, None).await;
        assert_eq!(me.status, 200, "{}", String::from_utf8_lossy(&me.body));
        assert_eq!(me.json()["credential"], "jwt");
    }
    let forged = jwt::forged(&user_id);

    let doc = serde_json::to_value(wastatus_http::openapi()).unwrap();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(requirements) = operation.get("security") else {
                assert!(PUBLIC.contains(&(method.as_str(), template.as_str())), "{method} {template} has no security");
                continue;
            };
            let scope: Option<Scope> = requirements[0]
                .as_object()
                .and_then(|r| r.values().next())
                .and_then(|scopes| scopes.get(0))
                .map(|s| s.as_str().unwrap().parse().unwrap_or_else(|_| panic!("{template}: unknown scope {s}")));
            let missing = template
                .replace("{session_id}", "no-such-session")
                .replace("{sessionId}", "no-such-session")
                .replace("{status_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{key_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{user_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{tenant_id}", &a.to_string())
                .replace("{webhook_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string());
            let path = template
                .replace("{session_id}", "s1")
                .replace("{sessionId}", "s1")
                .replace("{status_id}", &status_id)
                .replace("{key_id}", &key_id)
                .replace("{user_id}", &user_id)
                .replace("{tenant_id}", &a.to_string())
                .replace("{webhook_id}", &webhook_id)
                .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string());
            assert!(!path.contains('{'), "{template}: a path parameter this test does not fill");
            let call = Call { app: &app, method, path, body: body_for(method, template) };
            let route = format!("{method} {template}");

            assert_eq!(call.with(None).await, 401, "{route} without a credential");
            assert_eq!(call.with(Some(("x-api-key", "wsk_unknown".into()))).await, 401, "{route} unknown key");
            for (what, token) in &forged {
                assert_eq!(call.with(bearer(token)).await, 401, "{route} with a JWT: {what}");
            }
            if let Some(scope) = scope {
                let others: Scopes = Scope::ALL.into_iter().filter(|s| *s != scope && *s != Scope::Admin).collect();
                let underpowered = app.key(a, others).await;
                assert_eq!(call.with(Some(("x-api-key", underpowered))).await, 403, "{route} without {scope}");
            }
            let addresses_a_resource =
                ["{session_id}", "{sessionId}", "{status_id}", "{key_id}", "{user_id}", "{webhook_id}"]
                    .iter()
                    .any(|p| template.contains(p));
            if addresses_a_resource && scope != Some(Scope::Admin) {
                let theirs = call.answer(Some(("x-api-key", b_key.clone()))).await;
                assert_eq!(theirs.0, 404, "{route} by another tenant");
                let nothing = Call { app: &app, method, path: missing.clone(), body: body_for(method, template) };
                let absent = nothing.answer(Some(("x-api-key", b_key.clone()))).await;
                assert_eq!(theirs, absent, "{route}: another tenant's resource answers as a missing one");
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} routes checked");

    // Nothing above touched tenant A's resources.
    assert_eq!(app.call("GET", "/v1/sessions/s1", Some(&a_key), None).await.json()["state"], "connected");
    let status = app.call("GET", &format!("/v1/statuses/{status_id}"), Some(&a_key), None).await.json();
    assert_eq!(status["state"], "published");
}
