//! The status aggregate and its lifecycle.
//!
//! ```text
//! accepted ──► sending ──► published ──► revoked
//!     │           │
//!     └───────────┴──► failed
//! ```
//!
//! A status is `published` only once the driver has confirmed the send; every failure carries a
//! [`FailureCode`] and a message. Transitions that the lifecycle does not allow are refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{BackgroundColor, Font, MediaStatus, MessageId, SessionKey, StatusId, StatusText, Timestamp};

/// What kind of status this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusType {
    Text,
    Image,
    Video,
}

impl StatusType {
    pub const ALL: [StatusType; 3] = [StatusType::Text, StatusType::Image, StatusType::Video];

    pub const fn as_str(self) -> &'static str {
        match self {
            StatusType::Text => "text",
            StatusType::Image => "image",
            StatusType::Video => "video",
        }
    }
}

impl FromStr for StatusType {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// What a status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusContent {
    Text(TextStatus),
    Image(MediaStatus),
    Video(MediaStatus),
}

impl StatusContent {
    pub fn status_type(&self) -> StatusType {
        match self {
            StatusContent::Text(_) => StatusType::Text,
            StatusContent::Image(_) => StatusType::Image,
            StatusContent::Video(_) => StatusType::Video,
        }
    }
}

/// A text status: text on a coloured background, in one of WhatsApp's fonts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStatus {
    pub text: StatusText,
    pub background_color: BackgroundColor,
    pub font: Font,
}

/// Where a status is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    /// Stored; nothing sent yet.
    Accepted,
    /// Handed to the driver; the outcome is not known yet.
    Sending,
    /// WhatsApp confirmed it; it has a message id.
    Published,
    /// It was not published; see its failure.
    Failed,
    /// It was published and later deleted from the audience's phones.
    Revoked,
}

impl StatusState {
    pub const ALL: [StatusState; 5] = [
        StatusState::Accepted,
        StatusState::Sending,
        StatusState::Published,
        StatusState::Failed,
        StatusState::Revoked,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StatusState::Accepted => "accepted",
            StatusState::Sending => "sending",
            StatusState::Published => "published",
            StatusState::Failed => "failed",
            StatusState::Revoked => "revoked",
        }
    }
}

impl fmt::Display for StatusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StatusState {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// Why a status was not published. The snake_case code is stable: clients switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The session is not connected to WhatsApp.
    DeviceDisconnected,
    /// The linked device was logged out; the session must be paired again.
    LoggedOut,
    /// The session was never paired.
    NotPaired,
    /// WhatsApp's media servers refused the upload.
    UploadFailed,
    /// The upload did not finish in time.
    UploadTimeout,
    /// The device could not be resolved or refused the message.
    DeviceError,
    /// WhatsApp's server rejected the message.
    ServerRejected,
    /// The configured WhatsApp driver cannot run in this build or configuration.
    DriverUnavailable,
    /// Something inside wastatus went wrong; the logs have the details.
    Internal,
}

impl FailureCode {
    pub const ALL: [FailureCode; 9] = [
        FailureCode::DeviceDisconnected,
        FailureCode::LoggedOut,
        FailureCode::NotPaired,
        FailureCode::UploadFailed,
        FailureCode::UploadTimeout,
        FailureCode::DeviceError,
        FailureCode::ServerRejected,
        FailureCode::DriverUnavailable,
        FailureCode::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            FailureCode::DeviceDisconnected => "device_disconnected",
            FailureCode::LoggedOut => "logged_out",
            FailureCode::NotPaired => "not_paired",
            FailureCode::UploadFailed => "upload_failed",
            FailureCode::UploadTimeout => "upload_timeout",
            FailureCode::DeviceError => "device_error",
            FailureCode::ServerRejected => "server_rejected",
            FailureCode::DriverUnavailable => "driver_unavailable",
            FailureCode::Internal => "internal",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureCode {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// A stored enum value that this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownVariant(pub String);

/// Why a status failed: a stable code and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

/// A transition the lifecycle does not allow, e.g. revoking a status that was never published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a status that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: StatusState,
    pub to: StatusState,
}

/// A status update on one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    id: StatusId,
    session: SessionKey,
    content: StatusContent,
    view_once: bool,
    state: StatusState,
    message_id: Option<MessageId>,
    failure: Option<Failure>,
    created_at: Timestamp,
    updated_at: Timestamp,
    published_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

/// Every field of a [`Status`], for storage adapters that rebuild one from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub id: StatusId,
    pub session: SessionKey,
    pub content: StatusContent,
    pub view_once: bool,
    pub state: StatusState,
    pub message_id: Option<MessageId>,
    pub failure: Option<Failure>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Status {
    /// A newly accepted status.
    pub fn accept(id: StatusId, session: SessionKey, content: StatusContent, view_once: bool, now: Timestamp) -> Self {
        Self {
            id,
            session,
            content,
            view_once,
            state: StatusState::Accepted,
            message_id: None,
            failure: None,
            created_at: now,
            updated_at: now,
            published_at: None,
            revoked_at: None,
        }
    }

    /// Rebuilds a status from storage. The record is trusted: storage only holds statuses that
    /// went through the transitions below.
    pub fn from_record(r: StatusRecord) -> Self {
        Self {
            id: r.id,
            session: r.session,
            content: r.content,
            view_once: r.view_once,
            state: r.state,
            message_id: r.message_id,
            failure: r.failure,
            created_at: r.created_at,
            updated_at: r.updated_at,
            published_at: r.published_at,
            revoked_at: r.revoked_at,
        }
    }

    pub fn id(&self) -> StatusId {
        self.id
    }
    pub fn session(&self) -> &SessionKey {
        &self.session
    }
    pub fn content(&self) -> &StatusContent {
        &self.content
    }
    pub fn status_type(&self) -> StatusType {
        self.content.status_type()
    }
    pub fn view_once(&self) -> bool {
        self.view_once
    }
    pub fn state(&self) -> StatusState {
        self.state
    }
    pub fn message_id(&self) -> Option<&MessageId> {
        self.message_id.as_ref()
    }
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    pub fn published_at(&self) -> Option<Timestamp> {
        self.published_at
    }
    pub fn revoked_at(&self) -> Option<Timestamp> {
        self.revoked_at
    }

    fn transition(
        &mut self,
        allowed_from: &[StatusState],
        to: StatusState,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        if !allowed_from.contains(&self.state) {
            return Err(TransitionError { from: self.state, to });
        }
        self.state = to;
        self.updated_at = now;
        Ok(())
    }

    /// `accepted` → `sending`: the status is about to be handed to the driver.
    pub fn start_sending(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Accepted], StatusState::Sending, now)
    }

    /// `sending` → `published`: the driver confirmed the send under `message_id`.
    pub fn mark_published(&mut self, message_id: MessageId, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Sending], StatusState::Published, now)?;
        self.message_id = Some(message_id);
        self.published_at = Some(now);
        Ok(())
    }

    /// `accepted` | `sending` → `failed`.
    pub fn mark_failed(&mut self, failure: Failure, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Accepted, StatusState::Sending], StatusState::Failed, now)?;
        self.failure = Some(failure);
        Ok(())
    }

    /// `published` → `revoked`.
    pub fn mark_revoked(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Published], StatusState::Revoked, now)?;
        self.revoked_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SessionId, TenantId};

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn status() -> Status {
        let session = SessionKey { tenant: TenantId::from_uuid(uuid::Uuid::nil()), id: SessionId::new("s1").unwrap() };
        let content = StatusContent::Text(TextStatus {
            text: StatusText::new("hi").unwrap(),
            background_color: BackgroundColor::DEFAULT,
            font: Font::SansSerif,
        });
        Status::accept(StatusId::from_uuid(uuid::Uuid::nil()), session, content, false, at(0))
    }

    fn msg() -> MessageId {
        MessageId::new("3EB0000000000000000000AA").unwrap()
    }

    #[test]
    fn the_happy_path_records_when_each_step_happened() {
        let mut s = status();
        assert_eq!(s.state(), StatusState::Accepted);
        s.start_sending(at(1)).unwrap();
        s.mark_published(msg(), at(2)).unwrap();
        assert_eq!(s.state(), StatusState::Published);
        assert_eq!(s.message_id(), Some(&msg()));
        assert_eq!(s.published_at(), Some(at(2)));
        s.mark_revoked(at(3)).unwrap();
        assert_eq!(s.state(), StatusState::Revoked);
        assert_eq!(s.revoked_at(), Some(at(3)));
        assert_eq!(s.updated_at(), at(3));
        assert_eq!(s.created_at(), at(0));
    }

    #[test]
    fn a_status_is_never_published_without_being_sent() {
        let mut s = status();
        let err = s.mark_published(msg(), at(1)).unwrap_err();
        assert_eq!(err, TransitionError { from: StatusState::Accepted, to: StatusState::Published });
        assert_eq!(s.message_id(), None);
    }

    #[test]
    fn failures_are_terminal_and_keep_their_reason() {
        let mut s = status();
        s.start_sending(at(1)).unwrap();
        let failure = Failure { code: FailureCode::DeviceDisconnected, message: "offline".into() };
        s.mark_failed(failure.clone(), at(2)).unwrap();
        assert_eq!(s.failure(), Some(&failure));
        assert!(s.mark_published(msg(), at(3)).is_err());
        assert!(s.mark_revoked(at(3)).is_err());
        assert!(s.start_sending(at(3)).is_err());
        assert_eq!(s.state(), StatusState::Failed);
    }

    #[test]
    fn only_published_statuses_can_be_revoked() {
        let mut s = status();
        assert!(s.mark_revoked(at(1)).is_err());
        s.start_sending(at(1)).unwrap();
        assert!(s.mark_revoked(at(1)).is_err());
        s.mark_published(msg(), at(2)).unwrap();
        s.mark_revoked(at(3)).unwrap();
        assert!(s.mark_revoked(at(4)).is_err(), "revoking twice is refused");
    }

    #[test]
    fn codes_round_trip() {
        for code in FailureCode::ALL {
            assert_eq!(code.as_str().parse::<FailureCode>().unwrap(), code);
        }
        for state in StatusState::ALL {
            assert_eq!(state.as_str().parse::<StatusState>().unwrap(), state);
        }
        for t in StatusType::ALL {
            assert_eq!(t.as_str().parse::<StatusType>().unwrap(), t);
        }
        assert!("nope".parse::<StatusState>().is_err());
    }
}
