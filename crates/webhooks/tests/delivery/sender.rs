//! `HttpSender` against a loopback receiver.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use wastatus_domain::ports::{WebhookSecretMint, WebhookSender};
use wastatus_domain::{
    Event, EventFilter, EventId, EventKind, SessionId, SigningSecrets, StatusId, StatusSummary, StatusType, TenantId,
    Timestamp, WebhookEndpoint, WebhookFormat, WebhookId, WebhookMessage, WebhookSecret, WebhookUrl,
};
use wastatus_media::fetch::PublicOnly;
use wastatus_webhooks::{HttpSender, SecretMint, WebhookConfig};

use crate::receiver::{Answer, Receiver};

pub fn config() -> WebhookConfig {
    WebhookConfig { allow_private_networks: true, ..WebhookConfig::default() }
}

fn now() -> Timestamp {
    Utc::now()
}

pub fn endpoint(url: &str, format: WebhookFormat, secret: WebhookSecret) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::from_uuid(Uuid::now_v7()),
        tenant: TenantId::from_uuid(Uuid::now_v7()),
        url: WebhookUrl::new(url).unwrap(),
        events: EventFilter::All,
        format,
        session: None,
        enabled: true,
        disabled_reason: None,
        secrets: SigningSecrets::new(secret),
        created_at: now(),
        updated_at: now(),
    }
}

pub fn published(tenant: TenantId, session: &str, status_type: StatusType, caption: &str, url: Option<&str>) -> Event {
    Event {
        id: EventId::from_uuid(Uuid::now_v7()),
        tenant,
        session: SessionId::new(session).unwrap(),
        kind: EventKind::StatusPublished,
        occurred_at: now(),
        status: Some(StatusSummary {
            id: StatusId::from_uuid(Uuid::now_v7()),
            status_type,
            message_id: Some("3EB0A1B2C3D4E5F6A7B8C9D0".into()),
            caption: Some(caption.to_owned()),
            media_url: url.map(Into::into),
            failure_code: None,
            failure_message: None,
        }),
    }
}

#[tokio::test]
async fn native_deliveries_are_signed_and_verify_at_the_receiver() {
    let receiver = Receiver::start().await;
    let secret = SecretMint::default().mint();
    let hook = endpoint(&receiver.url("/hooks/native"), WebhookFormat::Native, secret.clone());
    let event = published(hook.tenant, "main", StatusType::Text, "Flash sale!", None);
    let sender = HttpSender::new(&config()).unwrap();

    let outcome = sender.send(&hook, &WebhookMessage::Event(event.clone()), now()).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.status_code, Some(204));

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.path, "/hooks/native");
    assert_eq!(request.id, event.id.to_string(), "webhook-id is the event's id");
    assert!((request.timestamp - Utc::now().timestamp()).abs() < 5);
    assert!(request.signature.starts_with("v1,") && !request.signature.contains(' '));
    assert_eq!(request.content_type, "application/json");
    assert!(request.user_agent.starts_with("wastatus-webhooks/"));
    assert!(request.verifies_with(&secret), "the receiver verifies the signature");
    assert!(!request.verifies_with(&SecretMint::default().mint()), "another secret does not");
    let body = request.json();
    assert_eq!(body["type"], "status.published");
    assert_eq!(body["data"]["event_id"], event.id.to_string());
    assert_eq!(body["data"]["status_type"], "text");
    assert_eq!(body["data"]["message_id"], "3EB0A1B2C3D4E5F6A7B8C9D0");
}

#[tokio::test]
async fn walytic_deliveries_are_the_seeds_object_and_verify() {
    let receiver = Receiver::start().await;
    let secret = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let hook = endpoint(&receiver.url("/walytic"), WebhookFormat::Walytic, secret.clone());
    let sender = HttpSender::new(&config()).unwrap();
    let image = published(
        hook.tenant,
        "session-919876543210",
        StatusType::Image,
        "Good Morning 🌞",
        Some("https://example.com/pic.jpg"),
    );
    let text = published(hook.tenant, "session-919876543210", StatusType::Text, "Just checking in 👋", None);
    for event in [&image, &text] {
        let outcome = sender.send(&hook, &WebhookMessage::Event(event.clone()), now()).await;
        assert!(outcome.succeeded(), "{outcome:?}");
    }
    let got = receiver.received();
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
    let stamp = |e: &Event| e.occurred_at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(
        String::from_utf8(got[0].body.to_vec()).unwrap(),
        format!(
            r#"{{"event":"statusUpdated","sessionId":"session-919876543210","mediaType":"image","fileUrl":"https://example.com/pic.jpg","caption":"Good Morning 🌞","timestamp":"{}"}}"#,
            stamp(&image)
        )
    );
    assert_eq!(
        String::from_utf8(got[1].body.to_vec()).unwrap(),
        format!(
            r#"{{"event":"statusUpdated","sessionId":"session-919876543210","mediaType":"text","caption":"Just checking in 👋","timestamp":"{}"}}"#,
            stamp(&text)
        )
    );
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign() {
    let receiver = Receiver::start().await;
    let (old, new) = (SecretMint::default().mint(), SecretMint::default().mint());
    let mut hook = endpoint(&receiver.url("/r"), WebhookFormat::Native, old.clone());
    hook.secrets.rotate(new.clone(), now(), Duration::from_secs(3600));
    let event = published(hook.tenant, "main", StatusType::Text, "x", None);
    let sender = HttpSender::new(&config()).unwrap();
    assert!(sender.send(&hook, &WebhookMessage::Event(event.clone()), now()).await.succeeded());
    // After the overlap, only the new one.
    let later = now() + chrono::Duration::hours(2);
    sender.send(&hook, &WebhookMessage::Event(event), later).await;
    let got = receiver.received();
    assert_eq!(got[0].signature.split(' ').count(), 2);
    assert!(got[0].verifies_with(&old) && got[0].verifies_with(&new));
    assert_eq!(got[1].signature.split(' ').count(), 1);
    let body_and_header_only = |secret: &WebhookSecret| {
        wastatus_webhooks::signing::verify(
            secret,
            &got[1].id,
            got[1].timestamp,
            &got[1].signature,
            &got[1].body,
            got[1].timestamp,
            300,
        )
        .is_ok()
    };
    assert!(body_and_header_only(&new) && !body_and_header_only(&old));
}

#[tokio::test]
async fn redirects_are_failures_and_are_not_followed() {
    let receiver = Receiver::start().await;
    receiver.always(Answer { headers: vec![("location", receiver.url("/elsewhere"))], ..Answer::status(307) });
    let hook = endpoint(&receiver.url("/moved"), WebhookFormat::Native, SecretMint::default().mint());
    let event = published(hook.tenant, "main", StatusType::Text, "x", None);
    let outcome = HttpSender::new(&config()).unwrap().send(&hook, &WebhookMessage::Event(event), now()).await;
    assert_eq!(outcome.status_code, Some(307));
    assert!(!outcome.succeeded());
    assert_eq!(receiver.received().len(), 1, "the redirect was not followed");
}

#[tokio::test]
async fn answers_are_read_with_retry_after_and_an_excerpt() {
    let receiver = Receiver::start().await;
    let long = "x".repeat(5000).leak();
    receiver.script([
        Answer { headers: vec![("retry-after", "120".into())], body: "slow down", ..Answer::status(429) },
        Answer { body: long, ..Answer::status(500) },
    ]);
    let hook = endpoint(&receiver.url("/busy"), WebhookFormat::Native, SecretMint::default().mint());
    let sender = HttpSender::new(&config()).unwrap();
    let message = WebhookMessage::Event(published(hook.tenant, "main", StatusType::Text, "x", None));
    let first = sender.send(&hook, &message, now()).await;
    assert_eq!((first.status_code, first.retry_after), (Some(429), Some(Duration::from_secs(120))));
    assert_eq!(first.response_excerpt.as_deref(), Some("slow down"));
    let second = sender.send(&hook, &message, now()).await;
    assert_eq!(second.response_excerpt.map(|e| e.len()), Some(1024), "only the first kilobyte is kept");
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_times_out() {
    let receiver = Receiver::start().await;
    receiver.always(Answer { delay: Duration::from_secs(5), ..Answer::status(200) });
    let hook = endpoint(&receiver.url("/slow"), WebhookFormat::Native, SecretMint::default().mint());
    let sender = HttpSender::new(&WebhookConfig { timeout_secs: 1, ..config() }).unwrap();
    let message = WebhookMessage::Event(published(hook.tenant, "main", StatusType::Text, "x", None));
    let outcome = sender.send(&hook, &message, now()).await;
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.starts_with("timeout:"), "{outcome:?}");
    assert!(outcome.latency < Duration::from_secs(3));
}

#[tokio::test]
async fn private_addresses_are_refused_at_delivery() {
    // The endpoint was registered while its host was public; now it leads to loopback.
    let receiver = Receiver::start().await;
    let sender = HttpSender::with_policy(&WebhookConfig::default(), Arc::new(PublicOnly)).unwrap();
    for url in [receiver.url("/x"), format!("http://localhost:{}/x", receiver.addr.port())] {
        let hook = endpoint(&url, WebhookFormat::Native, SecretMint::default().mint());
        let message = WebhookMessage::Event(published(hook.tenant, "main", StatusType::Text, "x", None));
        let outcome = sender.send(&hook, &message, now()).await;
        let error = outcome.error.clone().unwrap_or_default();
        assert!(error.starts_with("webhook_blocked_address:"), "{url}: {outcome:?}");
        assert_eq!(outcome.status_code, None);
    }
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn a_refused_connection_is_a_failed_attempt() {
    let receiver = Receiver::start().await;
    let addr = receiver.stop().await;
    let hook = endpoint(&format!("http://{addr}/gone"), WebhookFormat::Native, SecretMint::default().mint());
    let message = WebhookMessage::Event(published(hook.tenant, "main", StatusType::Text, "x", None));
    let outcome = HttpSender::new(&config()).unwrap().send(&hook, &message, now()).await;
    assert!(outcome.error.unwrap_or_default().starts_with("connection_failed:"));
}
