//! Events: what happened, recorded in the outbox in the same transaction as the change that
//! caused it, and delivered from there (webhooks). An event carries everything its receivers
//! need, so delivering it never reads the state it describes, which may have changed since.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    EventId, FailureCode, SessionId, SessionKey, SessionState, Status, StatusContent, StatusId, StatusType, TenantId,
    Timestamp, UnknownVariant,
};

/// The kinds of event, named as webhooks name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "status.published")]
    StatusPublished,
    #[serde(rename = "status.failed")]
    StatusFailed,
    #[serde(rename = "status.revoked")]
    StatusRevoked,
    /// A QR code or pairing code is available.
    #[serde(rename = "session.pairing")]
    SessionPairing,
    #[serde(rename = "session.connected")]
    SessionConnected,
    #[serde(rename = "session.disconnected")]
    SessionDisconnected,
    #[serde(rename = "session.logged_out")]
    SessionLoggedOut,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::StatusPublished,
        EventKind::StatusFailed,
        EventKind::StatusRevoked,
        EventKind::SessionPairing,
        EventKind::SessionConnected,
        EventKind::SessionDisconnected,
        EventKind::SessionLoggedOut,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::StatusPublished => "status.published",
            EventKind::StatusFailed => "status.failed",
            EventKind::StatusRevoked => "status.revoked",
            EventKind::SessionPairing => "session.pairing",
            EventKind::SessionConnected => "session.connected",
            EventKind::SessionDisconnected => "session.disconnected",
            EventKind::SessionLoggedOut => "session.logged_out",
        }
    }

    /// The event a session entering `state` causes.
    pub const fn of_session_state(state: SessionState) -> EventKind {
        match state {
            SessionState::Pairing => EventKind::SessionPairing,
            SessionState::Connected => EventKind::SessionConnected,
            SessionState::Disconnected => EventKind::SessionDisconnected,
            SessionState::LoggedOut => EventKind::SessionLoggedOut,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// Something that happened to a session or one of its statuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub tenant: TenantId,
    pub session: SessionId,
    pub kind: EventKind,
    pub occurred_at: Timestamp,
    /// The status, for `status.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSummary>,
}

/// What an event says about a status, as it was when the event happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSummary {
    pub id: StatusId,
    #[serde(rename = "type")]
    pub status_type: StatusType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The text of a text status, or the caption of an image or video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The URL the media was fetched from, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<FailureCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

impl StatusSummary {
    pub fn of(status: &Status) -> Self {
        let (caption, media_url) = match status.content() {
            StatusContent::Text(text) => (Some(text.text.as_str().to_owned()), None),
            StatusContent::Image(media) | StatusContent::Video(media) => {
                (media.caption.as_ref().map(|c| c.as_str().to_owned()), media.source_url.clone())
            }
        };
        Self {
            id: status.id(),
            status_type: status.status_type(),
            message_id: status.message_id().map(|m| m.as_str().to_owned()),
            caption,
            media_url,
            failure_code: status.failure().map(|f| f.code),
            failure_message: status.failure().map(|f| f.message.clone()),
        }
    }
}

impl Event {
    /// A `status.*` event about `status` as it is now.
    pub fn of_status(id: EventId, kind: EventKind, status: &Status, at: Timestamp) -> Self {
        Self {
            id,
            tenant: status.session().tenant,
            session: status.session().id.clone(),
            kind,
            occurred_at: at,
            status: Some(StatusSummary::of(status)),
        }
    }

    /// The `session.*` event of a session entering `state`.
    pub fn of_session(id: EventId, session: &SessionKey, state: SessionState, at: Timestamp) -> Self {
        Self {
            id,
            tenant: session.tenant,
            session: session.id.clone(),
            kind: EventKind::of_session_state(state),
            occurred_at: at,
            status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name_and_through_json() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for state in SessionState::ALL {
            assert!(EventKind::of_session_state(state).as_str().starts_with("session."));
        }
    }
}
