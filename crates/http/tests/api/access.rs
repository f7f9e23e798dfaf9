//! Credentials end to end: API keys with scopes, expiry and revocation; users with per-user
//! tokens and passwords; JWT login; rate limits and the publish pace; and secrets that never
//! reach the database or the logs in clear.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wastatus_auth::JwtConfig;
use wastatus_domain::{Scope, Scopes};

use crate::jwt;
use crate::support::{Options, TestApp};

#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked_at_once() {
    let app = TestApp::new().await;
    let admin = app.tenant("Acme").await;
    let created =
        app.call("POST", "/v1/keys", Some(&admin), Some(json!({"name": "ci", "scopes": ["sessions:read"]}))).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let created = created.json();
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["scopes"], json!(["sessions:read"]));

    let me = app.call("GET", "/v1/me", Some(&secret), None).await.json();
    assert_eq!((me["credential"].as_str(), me["scopes"].clone()), (Some("api_key"), json!(["sessions:read"])));
    // Reading is allowed, creating a session is not.
    assert_eq!(app.call("GET", "/v1/sessions", Some(&secret), None).await.status, 200);
    app.call("POST", "/v1/sessions", Some(&secret), Some(json!({"id": "x"}))).await.problem(403, "forbidden");

    let list = app.call("GET", "/v1/keys", Some(&admin), None).await;
    assert!(!String::from_utf8_lossy(&list.body).contains(&secret), "a listing never shows a secret");
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 2);

    let id = created["id"].as_str().unwrap();
    let revoked = app.call("DELETE", &format!("/v1/keys/{id}"), Some(&admin), None).await.json();
    assert!(revoked["revoked_at"].is_string());
    app.call("GET", "/v1/sessions", Some(&secret), None).await.problem(401, "unauthorized");
    // Revoking again changes nothing.
    let again = app.call("DELETE", &format!("/v1/keys/{id}"), Some(&admin), None).await.json();
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    app.call("DELETE", &format!("/v1/keys/{}", uuid::Uuid::new_v4()), Some(&admin), None)
        .await
        .problem(404, "api_key_not_found");
}

#[tokio::test]
async fn a_key_cannot_grant_what_it_lacks_and_bad_requests_are_named() {
    let app = TestApp::new().await;
    let (tenant, _) = app.tenant_with_id("Acme").await;
    let manager = app.key(tenant, Scopes::of(&[Scope::KeysManage, Scope::StatusesRead])).await;
    let ask = |body| app.call("POST", "/v1/keys", Some(&manager), Some(body));
    ask(json!({"scopes": ["statuses:write"]})).await.problem(403, "scope_not_grantable");
    ask(json!({"scopes": ["admin"]})).await.problem(403, "scope_not_grantable");
    assert_eq!(ask(json!({"scopes": ["statuses:read"]})).await.status, 201);
    ask(json!({"scopes": ["statuses:delete"]})).await.problem(422, "invalid_scope");
    ask(json!({"scopes": []})).await.problem(422, "invalid_scope");
    ask(json!({"scopes": ["statuses:read"], "expires_at": "2001-01-01T00:00:00Z"}))
        .await
        .problem(422, "invalid_expiry");
    // Users too.
    app.call("POST", "/v1/users", Some(&manager), Some(json!({"name": "ana"})))
        .await
        .problem(403, "scope_not_grantable");
}

#[tokio::test]
async fn a_manager_cannot_act_on_a_more_powerful_credential() {
    let app = TestApp::new().await;
    let (tenant, _) = app.tenant_with_id("Acme").await;
    let root = app.user(tenant, "root", None, Scopes::of(&[Scope::Admin])).await;
    let peer = app.user(tenant, "peer", None, Scopes::of(&[Scope::KeysManage])).await;
    let manager = app.key(tenant, Scopes::of(&[Scope::KeysManage])).await;
    let admin_key = app.key(tenant, Scopes::of(&[Scope::Admin])).await;
    let admin_key_id =
        app.call("GET", "/v1/me", Some(&admin_key), None).await.json()["api_key_id"].as_str().unwrap().to_owned();

    let root_id = root.user.id;
    for (method, path) in [
        ("POST", format!("/v1/users/{root_id}/token")),
        ("DELETE", format!("/v1/users/{root_id}")),
        ("DELETE", format!("/v1/keys/{admin_key_id}")),
    ] {
        app.call(method, &path, Some(&manager), None).await.problem(403, "scope_not_grantable");
    }
    // Nothing changed: the admin's token and key still work.
    assert_eq!(app.call_bearer("GET", "/v1/admin/tenants", &root.token, None).await.status, 200);
    assert_eq!(app.call("GET", "/v1/admin/tenants", Some(&admin_key), None).await.status, 200);
    // A credential as powerful as the target may.
    let rotated = app.call("POST", &format!("/v1/users/{}/token", peer.user.id), Some(&manager), None).await;
    assert_eq!(rotated.status, 200);
    assert_eq!(rotated.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn an_expiring_key_cannot_make_credentials_that_outlive_it() {
    let app = TestApp::new().await;
    let admin = app.tenant("Acme").await;
    let in_a_day = chrono::Utc::now() + chrono::TimeDelta::days(1);
    let created = app.call("POST", "/v1/keys", Some(&admin), Some(json!({"expires_at": in_a_day}))).await.json();
    let expiring = created["key"].as_str().unwrap();
    let ask = |body| app.call("POST", "/v1/keys", Some(expiring), Some(body));
    ask(json!({})).await.problem(422, "invalid_expiry");
    ask(json!({"expires_at": in_a_day + chrono::TimeDelta::hours(1)})).await.problem(422, "invalid_expiry");
    assert_eq!(ask(json!({"expires_at": in_a_day - chrono::TimeDelta::hours(1)})).await.status, 201);
    app.call("POST", "/v1/users", Some(expiring), Some(json!({"name": "ana"})))
        .await
        .problem(403, "scope_not_grantable");
}

#[tokio::test]
async fn a_user_may_own_a_device_but_not_give_one_to_another_user() {
    let app = TestApp::new().await;
    let (tenant, admin) = app.tenant_with_id("Acme").await;
    let victim = app.user(tenant, "victim", None, Scopes::USER).await;
    let mallory = app.user(tenant, "mallory", None, Scopes::USER).await;
    let theirs = json!({"id": "mallorys-phone", "user_id": victim.user.id.to_string()});
    app.call_bearer("POST", "/v1/sessions", &mallory.token, Some(theirs)).await.problem(403, "forbidden");
    let own = json!({"id": "mallorys-phone", "user_id": mallory.user.id.to_string()});
    assert_eq!(app.call_bearer("POST", "/v1/sessions", &mallory.token, Some(own)).await.status, 201);
    // An administrator of the tenant's credentials may.
    let for_victim = json!({"id": "victims-phone", "user_id": victim.user.id.to_string()});
    assert_eq!(app.call("POST", "/v1/sessions", Some(&admin), Some(for_victim)).await.status, 201);
}

#[tokio::test]
async fn an_empty_api_key_header_does_not_hide_a_bearer_token() {
    let app = TestApp::new().await;
    let (tenant, _) = app.tenant_with_id("Acme").await;
    let user = app.user(tenant, "ana", None, Scopes::USER).await;
    let request = axum::http::Request::get("/v1/me")
        .header("x-api-key", " ")
        .header("authorization", format!("Bearer {}", user.token))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.status, 200);
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::new().await;
    let admin = app.tenant("Acme").await;
    let expires_at = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(1500)).to_rfc3339();
    let created = app.call("POST", "/v1/keys", Some(&admin), Some(json!({"expires_at": expires_at}))).await.json();
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.call("GET", "/v1/me", Some(key), None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    app.call("GET", "/v1/me", Some(key), None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn user_tokens_identify_the_user_and_rotate() {
    let app = TestApp::new().await;
    let admin = app.tenant("Acme").await;
    let created =
        app.call("POST", "/v1/users", Some(&admin), Some(json!({"name": "ana", "password": "correct horse"}))).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    let parsed = uuid::Uuid::parse_str(&token).unwrap();
    assert_eq!(parsed.get_version_num(), 4, "a per-user token is a UUID v4");
    assert_eq!(created["has_password"], true);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let me = app.call_bearer("GET", "/v1/me", &token, None).await.json();
    assert_eq!(me["credential"], "user_token");
    assert_eq!(me["user_id"], created["id"]);
    // The token is a Bearer credential; as X-Api-Key it works too (the server tells kinds apart).
    assert_eq!(app.call("GET", "/v1/me", Some(&token), None).await.status, 200);

    let id = created["id"].as_str().unwrap();
    let rotated = app.call("POST", &format!("/v1/users/{id}/token"), Some(&admin), None).await.json();
    let new_token = rotated["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    app.call_bearer("GET", "/v1/me", &token, None).await.problem(401, "unauthorized");
    assert_eq!(app.call_bearer("GET", "/v1/me", new_token, None).await.status, 200);

    app.call("POST", "/v1/users", Some(&admin), Some(json!({"name": "ana"}))).await.problem(409, "user_already_exists");
    app.call("POST", "/v1/users", Some(&admin), Some(json!({"name": "bo", "password": "short"})))
        .await
        .problem(422, "invalid_password");

    let disabled = app.call("DELETE", &format!("/v1/users/{id}"), Some(&admin), None).await.json();
    assert!(disabled["disabled_at"].is_string());
    app.call_bearer("GET", "/v1/me", new_token, None).await.problem(401, "unauthorized");
    let users = app.call("GET", "/v1/users", Some(&admin), None).await.json();
    assert_eq!(users["items"][0]["name"], "ana");
}

#[tokio::test]
async fn dashboard_users_log_in_for_a_short_lived_jwt() {
    let app = TestApp::new().await;
    let (tenant, admin) = app.tenant_with_id("Acme").await;
    let user = app.user(tenant, "ana", Some("correct horse"), Scopes::USER).await;

    let login = app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "correct horse"})));
    let login = login.await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let body = login.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let me = app.call_bearer("GET", "/v1/me", token, None).await.json();
    assert_eq!(me["credential"], "jwt");
    assert_eq!(me["user_id"], user.user.id.to_string());
    // The JWT acts with the user's scopes: sessions yes, keys no.
    assert_eq!(app.call_bearer("GET", "/v1/sessions", token, None).await.status, 200);
    app.call_bearer("GET", "/v1/keys", token, None).await.problem(403, "forbidden");

    // Wrong password and unknown user: the same answer.
    let wrong = app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "wrong horse"})));
    let unknown = app.call("POST", "/v1/auth/token", None, Some(json!({"username": "zed", "password": "wrong horse"})));
    let (wrong, unknown) = (wrong.await, unknown.await);
    assert_eq!(wrong.problem(401, "unauthorized"), unknown.problem(401, "unauthorized"));

    // A disabled user's token stops working, and the user cannot log in again.
    app.call("DELETE", &format!("/v1/users/{}", user.user.id), Some(&admin), None).await;
    app.call_bearer("GET", "/v1/me", token, None).await.problem(401, "unauthorized");
    app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "correct horse"})))
        .await
        .problem(401, "unauthorized");

    // A well-signed token for a user that does not exist is refused.
    let stranger = jwt::hs256(&jwt::claims(&uuid::Uuid::new_v4().to_string()));
    app.call_bearer("GET", "/v1/me", &stranger, None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn without_a_jwt_secret_logging_in_is_not_configured() {
    let app = TestApp::with_options(Options { jwt: JwtConfig::default(), ..Options::default() }).await;
    let (tenant, _) = app.tenant_with_id("Acme").await;
    app.user(tenant, "ana", Some("correct horse"), Scopes::USER).await;
    app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": "correct horse"})))
        .await
        .problem(503, "login_not_configured");
}

#[tokio::test]
async fn admins_manage_tenants_and_their_credentials() {
    let app = TestApp::new().await;
    let (home, tenant_key) = app.tenant_with_id("Operators").await;
    let admin = app.key(home, Scopes::of(&[Scope::Admin])).await;
    app.call("GET", "/v1/admin/tenants", Some(&tenant_key), None).await.problem(403, "forbidden");

    let created = app.call("POST", "/v1/admin/tenants", Some(&admin), Some(json!({"name": "Acme"}))).await;
    assert_eq!(created.status, 201);
    let acme = created.json()["id"].as_str().unwrap().to_owned();
    let key = app.call("POST", &format!("/v1/admin/tenants/{acme}/keys"), Some(&admin), Some(json!({}))).await.json();
    let acme_key = key["key"].as_str().unwrap();
    assert_eq!(app.call("GET", "/v1/me", Some(acme_key), None).await.json()["tenant_id"], acme);
    let user = app
        .call("POST", &format!("/v1/admin/tenants/{acme}/users"), Some(&admin), Some(json!({"name": "acme-bot"})))
        .await;
    assert_eq!(user.status, 201);
    let listed = app.call("GET", &format!("/v1/admin/tenants/{acme}/users"), Some(&admin), None).await.json();
    assert_eq!(listed["items"][0]["name"], "acme-bot");
    let tenants = app.call("GET", "/v1/admin/tenants", Some(&admin), None).await.json();
    assert_eq!(tenants["items"].as_array().unwrap().len(), 2);
    // Across tenants: revoke Acme's key, disable its user.
    let key_id = key["id"].as_str().unwrap();
    let revoked = app.call("DELETE", &format!("/v1/admin/tenants/{acme}/keys/{key_id}"), Some(&admin), None).await;
    assert!(revoked.json()["revoked_at"].is_string());
    app.call("GET", "/v1/me", Some(acme_key), None).await.problem(401, "unauthorized");
    let user_id = listed["items"][0]["id"].as_str().unwrap();
    let path = format!("/v1/admin/tenants/{acme}/users/{user_id}");
    assert!(app.call("DELETE", &path, Some(&admin), None).await.json()["disabled_at"].is_string());
    // A credential of one tenant named under another is not found.
    let path = format!("/v1/admin/tenants/{home}/users/{user_id}");
    app.call("DELETE", &path, Some(&admin), None).await.problem(404, "user_not_found");
    let missing = format!("/v1/admin/tenants/{}/keys", uuid::Uuid::new_v4());
    app.call("GET", &missing, Some(&admin), None).await.problem(404, "tenant_not_found");
}

#[tokio::test]
async fn a_credential_over_its_rate_waits_and_its_bucket_refills() {
    // 600 a minute is one every 100 ms, in bursts of two.
    let app = TestApp::with_options(Options { request_limit: Some((600, 2)), ..Options::default() }).await;
    let key = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    for _ in 0..2 {
        assert_eq!(app.call("GET", "/v1/sessions", Some(&key), None).await.status, 200);
    }
    let limited = app.call("GET", "/v1/sessions", Some(&key), None).await;
    let doc = limited.problem(429, "rate_limited");
    assert_eq!(limited.headers["retry-after"], "1", "whole seconds, rounded up");
    assert_eq!(doc["retry_after"], 1);
    // Another credential has its own bucket.
    assert_eq!(app.call("GET", "/v1/sessions", Some(&other), None).await.status, 200);
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(app.call("GET", "/v1/sessions", Some(&key), None).await.status, 200);
}

#[tokio::test]
async fn login_attempts_are_limited_per_username() {
    let app = TestApp::with_options(Options { login_limit: Some((2, 2)), ..Options::default() }).await;
    let attempt = |name: &'static str| {
        app.call("POST", "/v1/auth/token", None, Some(json!({"username": name, "password": "guess-guess"})))
    };
    attempt("ana").await.problem(401, "unauthorized");
    attempt("ana").await.problem(401, "unauthorized");
    let limited = attempt("ana").await;
    limited.problem(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    attempt("bo").await.problem(401, "unauthorized");
}

#[tokio::test]
async fn a_session_publishing_too_fast_is_paced() {
    let app = TestApp::with_options(Options { pace: Some((60, 1)), ..Options::default() }).await;
    let key = app.paired().await;
    assert_eq!(app.publish(&key, "one").await.status, 201);
    let paced = app.publish(&key, "two").await;
    paced.problem(429, "publish_pace_exceeded");
    assert_eq!(paced.headers["retry-after"], "1");
    // Nothing was stored for the refused publish.
    let history = app.call("GET", "/v1/sessions/s1/statuses", Some(&key), None).await.json();
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(app.publish(&key, "three").await.status, 201);
}

/// Collects everything logged while it is the default subscriber of this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_or_the_logs_in_clear() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    // Global, so that what is logged on other threads (the blocking pool hashing passwords,
    // tasks spawned for sends) is captured too. No other test sets a subscriber.
    tracing::subscriber::set_global_default(subscriber).expect("the only test that sets a subscriber");

    let app = TestApp::new().await;
    let admin = app.tenant("Acme").await;
    let key =
        app.call("POST", "/v1/keys", Some(&admin), Some(json!({}))).await.json()["key"].as_str().unwrap().to_owned();
    let password = "correct horse battery staple";
    let user =
        app.call("POST", "/v1/users", Some(&admin), Some(json!({"name": "ana", "password": password}))).await.json();
    let token = user["token"].as_str().unwrap().to_owned();
    // Use every credential, rightly and wrongly, so that every code path that might log runs.
    app.call("GET", "/v1/me", Some(&key), None).await;
    app.call_bearer("GET", "/v1/me", &token, None).await;
    let login = app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": password}))).await;
    let jwt = login.json()["access_token"].as_str().unwrap().to_owned();
    app.call_bearer("GET", "/v1/me", &jwt, None).await;
    app.call("POST", "/v1/auth/token", None, Some(json!({"username": "ana", "password": format!("{password}!")})))
        .await;
    app.call("GET", "/v1/me", Some(&format!("{key}x")), None).await;
    let user_id = user["id"].as_str().unwrap();
    let rotated = app.call("POST", &format!("/v1/users/{user_id}/token"), Some(&admin), None).await.json();
    let rotated = rotated["token"].as_str().unwrap().to_owned();
    app.call_bearer("POST", "/status/text", &rotated, Some(json!({"text": "no device yet"}))).await;
    app.call_bearer("GET", "/v1/me", &token, None).await;
    let (home, _) = app.tenant_with_id("Operators").await;
    let root = app.key(home, wastatus_domain::Scopes::of(&[Scope::Admin])).await;
    let tenant_id =
        app.call("GET", "/v1/me", Some(&admin), None).await.json()["tenant_id"].as_str().unwrap().to_owned();
    let minted = app.call("POST", &format!("/v1/admin/tenants/{tenant_id}/keys"), Some(&root), Some(json!({}))).await;
    let minted = minted.json()["key"].as_str().unwrap().to_owned();

    let database = std::fs::read(app.database_path()).unwrap();
    let wal = std::fs::read(app.database_path().with_extension("db-wal")).unwrap_or_default();
    let logged = logs.0.lock().unwrap().clone();
    assert!(!logged.is_empty(), "the capture works");
    for secret in [admin.as_str(), key.as_str(), token.as_str(), password, jwt.as_str(), &rotated, &root, &minted] {
        for (place, bytes) in [("database", &database), ("write-ahead log", &wal), ("logs", &logged)] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a secret ({}…) is in the {place} in clear", &secret[..6]);
        }
    }
    // What is stored instead: hashes.
    let database = String::from_utf8_lossy(&database);
    assert!(database.contains("$argon2id$") || String::from_utf8_lossy(&wal).contains("$argon2id$"));
}
