//! The bodies endpoints receive, in their format.
//!
//! `native` (every event type, and pings):
//!
//! ```json
//! {"type": "status.published", "timestamp": "2027-01-15T08:00:05.123Z",
//!  "data": {"event_id": "…", "session_id": "main", "status_id": "…", "status_type": "image",
//!           "message_id": "3EB0…", "caption": "…", "media_url": "https://…"}}
//! ```
//!
//! `status.failed` adds `failure_code` and `failure_reason`; `session.*` events carry
//! `event_id`, `session_id` and the session's `state`; a ping carries `event_id` and
//! `webhook_id`.
//!
//! `walytic` (`status.published` only): Walytic's flat `statusUpdated` object, field for field
//! as Walytic sends it: `event`, `sessionId`, `mediaType`, `fileUrl` (media fetched from a URL
//! only), `caption` (the text of a text status; empty for media without one), `timestamp` (UTC,
//! whole seconds).

use chrono::SecondsFormat;
use serde::Serialize;
use wastatus_domain::{Event, EventKind, Ping, SessionState, StatusType, WebhookFormat, WebhookMessage};

/// The body of `message` in `format`; `None` when the format has none for it (a `walytic`
/// endpoint and anything but a published status). Pings are always native.
pub fn render(format: WebhookFormat, message: &WebhookMessage) -> Option<Vec<u8>> {
    let body = match (format, message) {
        (_, WebhookMessage::Ping(ping)) => serde_json::to_vec(&native_ping(ping)),
        (WebhookFormat::Native, WebhookMessage::Event(event)) => serde_json::to_vec(&native(event)),
        (WebhookFormat::Walytic, WebhookMessage::Event(event)) => serde_json::to_vec(&walytic(event)?),
    };
    Some(body.expect("a JSON object of strings always serialises"))
}

#[derive(Serialize)]
struct Envelope<D> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: D,
}

#[derive(Serialize)]
struct EventData<'a> {
    event_id: String,
    session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<&'a str>,
}

fn native(event: &Event) -> Envelope<EventData<'_>> {
    let status = event.status.as_ref();
    let state = match event.kind {
        EventKind::SessionPairing => Some(SessionState::Pairing),
        EventKind::SessionConnected => Some(SessionState::Connected),
        EventKind::SessionDisconnected => Some(SessionState::Disconnected),
        EventKind::SessionLoggedOut => Some(SessionState::LoggedOut),
        _ => None,
    };
    Envelope {
        kind: event.kind.as_str(),
        timestamp: event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data: EventData {
            event_id: event.id.to_string(),
            session_id: event.session.as_str(),
            state: state.map(SessionState::as_str),
            status_id: status.map(|s| s.id.to_string()),
            status_type: status.map(|s| s.status_type.as_str()),
            message_id: status.and_then(|s| s.message_id.as_deref()),
            caption: status.and_then(|s| s.caption.as_deref()),
            media_url: status.and_then(|s| s.media_url.as_deref()),
            failure_code: status.and_then(|s| s.failure_code).map(|c| c.as_str()),
            failure_reason: status.and_then(|s| s.failure_message.as_deref()),
        },
    }
}

#[derive(Serialize)]
struct PingData {
    event_id: String,
    webhook_id: String,
}

fn native_ping(ping: &Ping) -> Envelope<PingData> {
    Envelope {
        kind: wastatus_domain::PING_TYPE,
        timestamp: ping.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data: PingData { event_id: ping.id.to_string(), webhook_id: ping.webhook.to_string() },
    }
}

/// Walytic's `statusUpdated` event, its fields in Walytic's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusUpdated<'a> {
    event: &'static str,
    session_id: &'a str,
    media_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_url: Option<&'a str>,
    caption: &'a str,
    timestamp: String,
}

fn walytic(event: &Event) -> Option<StatusUpdated<'_>> {
    if event.kind != EventKind::StatusPublished {
        return None;
    }
    let status = event.status.as_ref()?;
    let file_url = match status.status_type {
        StatusType::Text => None,
        StatusType::Image | StatusType::Video => status.media_url.as_deref(),
    };
    Some(StatusUpdated {
        event: "statusUpdated",
        session_id: event.session.as_str(),
        media_type: status.status_type.as_str(),
        file_url,
        caption: status.caption.as_deref().unwrap_or_default(),
        timestamp: event.occurred_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};
    use uuid::Uuid;
    use wastatus_domain::{EventId, FailureCode, SessionId, StatusId, StatusSummary, TenantId, Timestamp, WebhookId};

    use super::*;

    fn when() -> Timestamp {
        Utc.with_ymd_and_hms(2025, 10, 27, 6, 21, 11).unwrap() + chrono::Duration::microseconds(250_123)
    }

    fn summary(status_type: StatusType, caption: Option<&str>, url: Option<&str>) -> StatusSummary {
        StatusSummary {
            id: StatusId::from_uuid(Uuid::from_u128(2)),
            status_type,
            message_id: Some("3EB0A1B2C3D4E5F6A7B8C9D0".into()),
            caption: caption.map(Into::into),
            media_url: url.map(Into::into),
            failure_code: None,
            failure_message: None,
        }
    }

    fn event(kind: EventKind, status: Option<StatusSummary>) -> Event {
        Event {
            id: EventId::from_uuid(Uuid::from_u128(1)),
            tenant: TenantId::from_uuid(Uuid::from_u128(3)),
            session: SessionId::new("session-919876543210").unwrap(),
            kind,
            occurred_at: when(),
            status,
        }
    }

    fn json_of(format: WebhookFormat, event: Event) -> Value {
        serde_json::from_slice(&render(format, &WebhookMessage::Event(event)).unwrap()).unwrap()
    }

    fn text_of(format: WebhookFormat, event: Event) -> String {
        String::from_utf8(render(format, &WebhookMessage::Event(event)).unwrap()).unwrap()
    }

    #[test]
    fn walytic_sends_the_seeds_image_event_field_for_field() {
        let image = summary(StatusType::Image, Some("Good Morning 🌞"), Some("https://example.com/pic.jpg"));
        let body = text_of(WebhookFormat::Walytic, event(EventKind::StatusPublished, Some(image)));
        assert_eq!(
            body,
            r#"{"event":"statusUpdated","sessionId":"session-919876543210","mediaType":"image","fileUrl":"https://example.com/pic.jpg","caption":"Good Morning 🌞","timestamp":"2025-10-27T06:21:11Z"}"#
        );
    }

    #[test]
    fn walytic_text_events_have_no_file_url() {
        let text = summary(StatusType::Text, Some("Just checking in 👋"), None);
        let body = json_of(WebhookFormat::Walytic, event(EventKind::StatusPublished, Some(text)));
        assert_eq!(
            body,
            json!({
                "event": "statusUpdated",
                "sessionId": "session-919876543210",
                "mediaType": "text",
                "caption": "Just checking in 👋",
                "timestamp": "2025-10-27T06:21:11Z",
            })
        );
        let uploaded = summary(StatusType::Video, None, None);
        let body = json_of(WebhookFormat::Walytic, event(EventKind::StatusPublished, Some(uploaded)));
        assert_eq!(body["mediaType"], "video");
        assert_eq!(body["caption"], "");
        assert!(body.get("fileUrl").is_none(), "media sent in the request has no URL");
    }

    #[test]
    fn walytic_has_no_body_for_other_events() {
        let failed = event(EventKind::StatusFailed, Some(summary(StatusType::Text, Some("x"), None)));
        assert_eq!(render(WebhookFormat::Walytic, &WebhookMessage::Event(failed)), None);
        let connected = event(EventKind::SessionConnected, None);
        assert_eq!(render(WebhookFormat::Walytic, &WebhookMessage::Event(connected)), None);
    }

    #[test]
    fn native_status_events_carry_ids_type_message_and_failure() {
        let published = summary(StatusType::Image, Some("Hi"), Some("https://cdn.example/a.jpg"));
        assert_eq!(
            json_of(WebhookFormat::Native, event(EventKind::StatusPublished, Some(published))),
            json!({
                "type": "status.published",
                "timestamp": "2025-10-27T06:21:11.250Z",
                "data": {
                    "event_id": "00000000-0000-0000-0000-000000000001",
                    "session_id": "session-919876543210",
                    "status_id": "00000000-0000-0000-0000-000000000002",
                    "status_type": "image",
                    "message_id": "3EB0A1B2C3D4E5F6A7B8C9D0",
                    "caption": "Hi",
                    "media_url": "https://cdn.example/a.jpg",
                },
            })
        );
        let failed = StatusSummary {
            message_id: None,
            failure_code: Some(FailureCode::UploadFailed),
            failure_message: Some("media upload failed: 500".into()),
            ..summary(StatusType::Text, Some("Hello"), None)
        };
        let body = json_of(WebhookFormat::Native, event(EventKind::StatusFailed, Some(failed)));
        assert_eq!(body["type"], "status.failed");
        assert_eq!(body["data"]["failure_code"], "upload_failed");
        assert_eq!(body["data"]["failure_reason"], "media upload failed: 500");
        assert!(body["data"].get("message_id").is_none());
    }

    #[test]
    fn native_session_events_carry_the_state() {
        for (kind, state) in [
            (EventKind::SessionPairing, "pairing"),
            (EventKind::SessionConnected, "connected"),
            (EventKind::SessionDisconnected, "disconnected"),
            (EventKind::SessionLoggedOut, "logged_out"),
        ] {
            let body = json_of(WebhookFormat::Native, event(kind, None));
            assert_eq!(body["type"], kind.as_str());
            assert_eq!(
                body["data"],
                json!({"event_id": "00000000-0000-0000-0000-000000000001", "session_id": "session-919876543210", "state": state})
            );
        }
    }

    #[test]
    fn pings_are_native_in_every_format() {
        let ping = WebhookMessage::Ping(Ping {
            id: EventId::from_uuid(Uuid::from_u128(5)),
            webhook: WebhookId::from_uuid(Uuid::from_u128(6)),
            occurred_at: when(),
        });
        for format in WebhookFormat::ALL {
            let body: Value = serde_json::from_slice(&render(format, &ping).unwrap()).unwrap();
            assert_eq!(body["type"], "webhook.ping");
            assert_eq!(body["data"]["webhook_id"], "00000000-0000-0000-0000-000000000006");
        }
    }
}
