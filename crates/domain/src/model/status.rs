//! The status aggregate and its lifecycle.
//!
//! ```text
//! scheduled ─┐
//!            ├─► accepted ◄──► sending ──► published ──► revoked
//!            │      │             │
//!            └──────┴─► cancelled └──► failed
//! ```
//!
//! A status is a job: it is stored (`accepted`, or `scheduled` until its `publish_at`) before
//! any work starts, a worker claims it (`sending`), and the driver's answer settles it. A
//! transient failure puts it back to `accepted` with a later `next_attempt_at`, up to its
//! `max_attempts`; a permanent one, or the last attempt, makes it `failed`. A status is
//! `published` only once the driver has confirmed the send; every failure carries a
//! [`FailureCode`] and a message. Transitions that the lifecycle does not allow are refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    Audience, BackgroundColor, Font, MediaStatus, MessageId, Reach, SessionKey, StatusId, StatusText, Timestamp,
};

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
    /// Stored, to be published at its `publish_at`.
    Scheduled,
    /// Stored and due (or waiting for its next attempt); nothing is being sent.
    Accepted,
    /// Handed to the driver; the outcome is not known yet.
    Sending,
    /// WhatsApp confirmed it; it has a message id.
    Published,
    /// It was not published; see its failure.
    Failed,
    /// It was published and later deleted from the audience's phones.
    Revoked,
    /// It was withdrawn before it was sent.
    Cancelled,
}

impl StatusState {
    pub const ALL: [StatusState; 7] = [
        StatusState::Scheduled,
        StatusState::Accepted,
        StatusState::Sending,
        StatusState::Published,
        StatusState::Failed,
        StatusState::Revoked,
        StatusState::Cancelled,
    ];

    /// Whether the status's outcome is settled: nothing more will be sent for it.
    pub const fn is_settled(self) -> bool {
        matches!(self, StatusState::Published | StatusState::Failed | StatusState::Revoked | StatusState::Cancelled)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            StatusState::Scheduled => "scheduled",
            StatusState::Accepted => "accepted",
            StatusState::Sending => "sending",
            StatusState::Published => "published",
            StatusState::Failed => "failed",
            StatusState::Revoked => "revoked",
            StatusState::Cancelled => "cancelled",
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
    /// Nobody in the audience could be resolved to a WhatsApp account (or the linked account
    /// has no contacts synced yet): there was no one to send it to.
    NoRecipients,
    /// It is not known whether the status went out: the process stopped while it was being
    /// sent and the driver cannot tell, or WhatsApp's server did not confirm it in time. It
    /// is not sent again, to avoid posting it twice.
    OutcomeUnknown,
    /// Something inside wastatus went wrong; the logs have the details.
    Internal,
}

impl FailureCode {
    pub const ALL: [FailureCode; 11] = [
        FailureCode::DeviceDisconnected,
        FailureCode::LoggedOut,
        FailureCode::NotPaired,
        FailureCode::UploadFailed,
        FailureCode::UploadTimeout,
        FailureCode::DeviceError,
        FailureCode::ServerRejected,
        FailureCode::DriverUnavailable,
        FailureCode::NoRecipients,
        FailureCode::OutcomeUnknown,
        FailureCode::Internal,
    ];

    /// Whether a later attempt may succeed where this one failed: the session may come back
    /// online, an upload may go through next time. Everything else fails the status at once.
    pub const fn is_transient(self) -> bool {
        matches!(self, FailureCode::DeviceDisconnected | FailureCode::UploadFailed | FailureCode::UploadTimeout)
    }

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
            FailureCode::NoRecipients => "no_recipients",
            FailureCode::OutcomeUnknown => "outcome_unknown",
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
    audience: Audience,
    state: StatusState,
    message_id: Option<MessageId>,
    /// Who it reached, once published.
    reach: Option<Reach>,
    failure: Option<Failure>,
    schedule: Schedule,
    created_at: Timestamp,
    updated_at: Timestamp,
    published_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

/// When and how often a status is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The time the client asked it to be published at, if any.
    pub publish_at: Option<Timestamp>,
    /// When a worker may next pick it up.
    pub next_attempt_at: Timestamp,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed in all: 1 for a client waiting for the outcome, more for jobs.
    pub max_attempts: u32,
}

/// Every field of a [`Status`], for storage adapters that rebuild one from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub id: StatusId,
    pub session: SessionKey,
    pub content: StatusContent,
    pub view_once: bool,
    pub audience: Audience,
    pub state: StatusState,
    pub message_id: Option<MessageId>,
    pub reach: Option<Reach>,
    pub failure: Option<Failure>,
    pub schedule: Schedule,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// How a new status is to be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Publish at this time rather than now.
    pub publish_at: Option<Timestamp>,
    /// Attempts allowed in all (at least 1).
    pub max_attempts: u32,
}

impl Default for Plan {
    fn default() -> Self {
        Self { publish_at: None, max_attempts: 1 }
    }
}

impl Status {
    /// A newly accepted status: `scheduled` if `plan.publish_at` is in the future, else
    /// `accepted`.
    pub fn accept(
        id: StatusId,
        session: SessionKey,
        content: StatusContent,
        view_once: bool,
        plan: Plan,
        now: Timestamp,
    ) -> Self {
        let scheduled = plan.publish_at.is_some_and(|at| at > now);
        Self {
            id,
            session,
            content,
            view_once,
            audience: Audience::Contacts,
            state: if scheduled { StatusState::Scheduled } else { StatusState::Accepted },
            message_id: None,
            reach: None,
            failure: None,
            schedule: Schedule {
                publish_at: plan.publish_at,
                next_attempt_at: plan.publish_at.filter(|_| scheduled).unwrap_or(now),
                attempts: 0,
                max_attempts: plan.max_attempts.max(1),
            },
            created_at: now,
            updated_at: now,
            published_at: None,
            revoked_at: None,
        }
    }

    /// Shows the status to `audience` instead of all contacts.
    pub fn with_audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self
    }

    /// Rebuilds a status from storage. The record is trusted: storage only holds statuses that
    /// went through the transitions below.
    pub fn from_record(r: StatusRecord) -> Self {
        Self {
            id: r.id,
            session: r.session,
            content: r.content,
            view_once: r.view_once,
            audience: r.audience,
            state: r.state,
            message_id: r.message_id,
            reach: r.reach,
            failure: r.failure,
            schedule: r.schedule,
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
    /// Who is to see it.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }
    pub fn state(&self) -> StatusState {
        self.state
    }
    /// Who it reached, once published.
    pub fn reach(&self) -> Option<&Reach> {
        self.reach.as_ref()
    }
    pub fn message_id(&self) -> Option<&MessageId> {
        self.message_id.as_ref()
    }
    /// Why it failed; while `accepted` after a failed attempt, why that attempt failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
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

    /// `accepted` | `scheduled` → `sending`: an attempt starts; the status is about to be
    /// handed to the driver.
    pub fn start_sending(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Accepted, StatusState::Scheduled], StatusState::Sending, now)?;
        self.schedule.attempts += 1;
        Ok(())
    }

    /// `sending` → `published`: the driver confirmed the send under `message_id`, to the
    /// people `reach` counts.
    pub fn mark_published(
        &mut self,
        message_id: MessageId,
        reach: Reach,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Sending], StatusState::Published, now)?;
        self.message_id = Some(message_id);
        self.reach = Some(reach);
        self.failure = None;
        self.published_at = Some(now);
        Ok(())
    }

    /// `scheduled` | `accepted` | `sending` → `failed`.
    pub fn mark_failed(&mut self, failure: Failure, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(
            &[StatusState::Scheduled, StatusState::Accepted, StatusState::Sending],
            StatusState::Failed,
            now,
        )?;
        self.failure = Some(failure);
        Ok(())
    }

    /// The outcome of an attempt that failed with `failure`: back to `accepted` for another
    /// attempt at `retry_at` if the failure is transient and attempts are left, else `failed`.
    /// Returns whether it will be retried.
    pub fn attempt_failed(
        &mut self,
        failure: Failure,
        retry_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, TransitionError> {
        if !failure.code.is_transient() || self.schedule.attempts >= self.schedule.max_attempts {
            self.mark_failed(failure, now)?;
            return Ok(false);
        }
        self.transition(&[StatusState::Sending], StatusState::Accepted, now)?;
        self.failure = Some(failure);
        self.schedule.next_attempt_at = retry_at;
        Ok(true)
    }

    /// `sending` → `accepted` without counting the attempt: it was put off (the session's
    /// publish pace) before anything was sent.
    pub fn defer(&mut self, until: Timestamp, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Sending], StatusState::Accepted, now)?;
        self.schedule.attempts = self.schedule.attempts.saturating_sub(1);
        self.schedule.next_attempt_at = until;
        Ok(())
    }

    /// `scheduled` | `accepted` → `cancelled`: withdrawn before it was sent.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.transition(&[StatusState::Scheduled, StatusState::Accepted], StatusState::Cancelled, now)
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
        Status::accept(StatusId::from_uuid(uuid::Uuid::nil()), session, content, false, Plan::default(), at(0))
    }

    fn job(max_attempts: u32) -> Status {
        let s = status();
        let plan = Plan { publish_at: None, max_attempts };
        Status::accept(s.id(), s.session().clone(), s.content().clone(), false, plan, at(0))
    }

    fn failure(code: FailureCode) -> Failure {
        Failure { code, message: code.to_string() }
    }

    fn msg() -> MessageId {
        MessageId::new("3EB0000000000000000000AA").unwrap()
    }

    #[test]
    fn the_happy_path_records_when_each_step_happened() {
        let mut s = status();
        assert_eq!(s.state(), StatusState::Accepted);
        s.start_sending(at(1)).unwrap();
        s.mark_published(msg(), Reach::default(), at(2)).unwrap();
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
        let err = s.mark_published(msg(), Reach::default(), at(1)).unwrap_err();
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
        assert!(s.mark_published(msg(), Reach::default(), at(3)).is_err());
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
        s.mark_published(msg(), Reach::default(), at(2)).unwrap();
        s.mark_revoked(at(3)).unwrap();
        assert!(s.mark_revoked(at(4)).is_err(), "revoking twice is refused");
    }

    #[test]
    fn a_future_publish_at_schedules_and_a_past_one_does_not() {
        let s = status();
        let plan = |publish_at| Plan { publish_at: Some(publish_at), max_attempts: 3 };
        let later = Status::accept(s.id(), s.session().clone(), s.content().clone(), false, plan(at(60)), at(0));
        assert_eq!(later.state(), StatusState::Scheduled);
        assert_eq!(later.schedule().next_attempt_at, at(60));
        let past = Status::accept(s.id(), s.session().clone(), s.content().clone(), false, plan(at(-5)), at(0));
        assert_eq!(past.state(), StatusState::Accepted);
        assert_eq!(past.schedule().next_attempt_at, at(0));
        assert_eq!(past.schedule().publish_at, Some(at(-5)), "what the client asked for is kept");
    }

    #[test]
    fn transient_failures_are_retried_until_attempts_run_out() {
        let mut s = job(2);
        s.start_sending(at(1)).unwrap();
        assert!(s.attempt_failed(failure(FailureCode::DeviceDisconnected), at(10), at(2)).unwrap());
        assert_eq!(
            (s.state(), s.schedule().next_attempt_at, s.schedule().attempts),
            (StatusState::Accepted, at(10), 1)
        );
        assert_eq!(s.failure().unwrap().code, FailureCode::DeviceDisconnected, "the last reason is kept");
        s.start_sending(at(10)).unwrap();
        assert!(!s.attempt_failed(failure(FailureCode::UploadTimeout), at(20), at(11)).unwrap());
        assert_eq!((s.state(), s.schedule().attempts), (StatusState::Failed, 2));
        assert_eq!(s.failure().unwrap().code, FailureCode::UploadTimeout);
    }

    #[test]
    fn permanent_failures_and_single_attempts_fail_at_once() {
        let mut s = job(5);
        s.start_sending(at(1)).unwrap();
        assert!(!s.attempt_failed(failure(FailureCode::ServerRejected), at(10), at(2)).unwrap());
        assert_eq!(s.state(), StatusState::Failed);
        let mut s = status();
        s.start_sending(at(1)).unwrap();
        assert!(!s.attempt_failed(failure(FailureCode::DeviceDisconnected), at(10), at(2)).unwrap());
        assert_eq!(s.state(), StatusState::Failed, "a client waiting for the outcome gets one attempt");
    }

    #[test]
    fn a_deferred_attempt_does_not_count_and_a_published_one_clears_the_last_failure() {
        let mut s = job(2);
        s.start_sending(at(1)).unwrap();
        s.defer(at(30), at(1)).unwrap();
        assert_eq!(
            (s.state(), s.schedule().attempts, s.schedule().next_attempt_at),
            (StatusState::Accepted, 0, at(30))
        );
        s.start_sending(at(30)).unwrap();
        s.attempt_failed(failure(FailureCode::UploadFailed), at(40), at(31)).unwrap();
        s.start_sending(at(40)).unwrap();
        s.mark_published(msg(), Reach::default(), at(41)).unwrap();
        assert_eq!(s.failure(), None);
    }

    #[test]
    fn only_statuses_not_yet_sending_can_be_cancelled() {
        let mut s = status();
        s.cancel(at(1)).unwrap();
        assert_eq!(s.state(), StatusState::Cancelled);
        assert!(s.state().is_settled());
        assert!(s.start_sending(at(2)).is_err());
        let mut s = status();
        s.start_sending(at(1)).unwrap();
        assert!(s.cancel(at(2)).is_err());
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
