//! Status use cases: publish (at once, queued or scheduled), run queued jobs, settle
//! interrupted sends, cancel, revoke, read.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::*;
use crate::ports::*;

use super::{ErrorCode, Ports, internal_from_storage, on_started};

/// A request to publish a status, built only from validated values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishStatus {
    pub session: SessionKey,
    pub content: PublishContent,
    pub view_once: bool,
    /// Who sees it (all contacts by default).
    pub audience: Audience,
    pub mode: PublishMode,
}

/// How a publish runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishMode {
    /// Sent at once, for a client waiting for the outcome: one attempt, and a session over its
    /// publish pace is refused rather than waited for.
    #[default]
    Now,
    /// Queued as a job for the workers: paced, and retried after transient failures.
    Queued,
    /// Queued as a job due at this time.
    At(Timestamp),
}

/// A publish whose media is prepared, ready to be stored ([`Statuses::submit`]).
#[derive(Debug, Clone)]
pub struct ReadyToPublish {
    session: SessionKey,
    content: StatusContent,
    media: Option<PreparedMedia>,
    view_once: bool,
    audience: Audience,
    mode: PublishMode,
}

/// A stored publish.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// Stored as `sending` and leased to the caller, which runs it now with
    /// [`Statuses::execute`].
    Claimed { status: Status, media: Option<PreparedMedia> },
    /// Stored as `accepted` or `scheduled`, for the workers.
    Queued(Status),
}

/// How jobs are run: how long a claimed status is leased, how often a transient failure is
/// retried and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPolicy {
    /// How long a status being sent belongs to the process that claimed it. Must exceed the
    /// longest send (uploads included); after it, another process settles the status.
    pub lease: chrono::TimeDelta,
    /// Attempts a queued status gets in all.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles with each attempt.
    pub retry_base: chrono::TimeDelta,
    /// The longest wait between attempts.
    pub retry_max: chrono::TimeDelta,
}

impl Default for JobPolicy {
    fn default() -> Self {
        Self {
            lease: chrono::TimeDelta::minutes(5),
            max_attempts: 5,
            retry_base: chrono::TimeDelta::seconds(5),
            retry_max: chrono::TimeDelta::minutes(10),
        }
    }
}

impl JobPolicy {
    /// The wait before the attempt after `attempts` failed ones: `retry_base × 2^(attempts-1)`,
    /// at most `retry_max`.
    pub fn backoff(&self, attempts: u32) -> chrono::TimeDelta {
        let doublings = attempts.saturating_sub(1).min(20);
        self.retry_base.checked_mul(1 << doublings).map_or(self.retry_max, |wait| wait.min(self.retry_max))
    }
}

/// What to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishContent {
    Text(TextStatus),
    /// An image or video, still to be fetched, checked and prepared. `kind: None` publishes
    /// whichever of the two the bytes turn out to be.
    Media {
        kind: Option<MediaKind>,
        caption: Option<Caption>,
        input: MediaInput,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PublishStatusError {
    #[error("no session with id {0}")]
    SessionNotFound(SessionId),
    /// The media cannot be used; nothing was stored or sent.
    #[error(transparent)]
    InvalidMedia(MediaRejected),
    /// The session has published as many statuses as its pace allows for now.
    #[error("this session publishes too fast; the next status may be published in {}s", .retry_after.as_secs().max(1))]
    Paced { retry_after: std::time::Duration },
    /// `publish_at` is not in the future.
    #[error("publish_at must be in the future")]
    PublishAtInPast,
    /// The status was stored and then failed; it is kept, in state `failed`, with this reason.
    #[error("{}", .status.failure().map_or("the status failed", |f| f.message.as_str()))]
    Failed { status: Box<Status> },
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no status with id {0}")]
    NotFound(StatusId),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ListStatusesError {
    #[error("no session with id {0}")]
    SessionNotFound(SessionId),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeStatusError {
    #[error("no status with id {0}")]
    NotFound(StatusId),
    #[error("only a published status can be revoked, and a scheduled or queued one cancelled; this one is {0}")]
    NotRevocable(StatusState),
    /// The driver could not revoke it; the status stays `published`.
    #[error("{}", .0.message)]
    Driver(Failure),
    #[error(transparent)]
    Internal(anyhow::Error),
}

internal_from_storage!(PublishStatusError, StatusError, ListStatusesError, RevokeStatusError);

impl ErrorCode for PublishStatusError {
    fn code(&self) -> &'static str {
        match self {
            Self::SessionNotFound(_) => "session_not_found",
            Self::InvalidMedia(rejected) => rejected.code,
            Self::Paced { .. } => "publish_pace_exceeded",
            Self::PublishAtInPast => "invalid_publish_at",
            Self::Failed { status } => status.failure().map_or("internal", |f| f.code.as_str()),
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for StatusError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "status_not_found",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for ListStatusesError {
    fn code(&self) -> &'static str {
        match self {
            Self::SessionNotFound(_) => "session_not_found",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for RevokeStatusError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "status_not_found",
            Self::NotRevocable(_) => "status_not_revocable",
            Self::Driver(failure) => failure.code.as_str(),
            Self::Internal(_) => "internal",
        }
    }
}

/// Status use cases.
#[derive(Clone)]
pub struct Statuses {
    ports: Ports,
    policy: JobPolicy,
    /// The statuses this process is sending now: recovery leaves them alone even if their
    /// lease ran out, so a slow send is never sent again beside itself.
    running: Arc<Mutex<HashSet<StatusId>>>,
}

/// Marks a status as being sent by this process while it lives.
struct Running {
    running: Arc<Mutex<HashSet<StatusId>>>,
    id: StatusId,
}

impl Running {
    fn start(running: &Arc<Mutex<HashSet<StatusId>>>, id: StatusId) -> Self {
        running.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
        Self { running: running.clone(), id }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

impl Statuses {
    pub fn new(ports: Ports) -> Self {
        Self::with_policy(ports, JobPolicy::default())
    }

    pub fn with_policy(ports: Ports, policy: JobPolicy) -> Self {
        Self { ports, policy, running: Arc::default() }
    }

    pub fn policy(&self) -> &JobPolicy {
        &self.policy
    }

    /// [`Statuses::prepare`], [`Statuses::submit`] and, for [`PublishMode::Now`],
    /// [`Statuses::execute`].
    pub async fn publish(&self, command: PublishStatus) -> Result<Status, PublishStatusError> {
        let ready = self.prepare(command).await?;
        match self.submit(ready).await? {
            Submitted::Claimed { status, media } => self.execute(status, media).await,
            Submitted::Queued(status) => Ok(status),
        }
    }

    /// Everything a publish does before anything is stored or sent: for media, checks the session
    /// and fetches, checks and prepares the media. Abandoning it (a client that goes away, a
    /// time-out) leaves no trace, so callers may run it in the request itself.
    pub async fn prepare(&self, command: PublishStatus) -> Result<ReadyToPublish, PublishStatusError> {
        let PublishStatus { session, content, view_once, audience, mode } = command;
        if let PublishMode::At(at) = mode
            && at <= self.ports.clock.now()
        {
            return Err(PublishStatusError::PublishAtInPast);
        }
        let (content, media) = match content {
            PublishContent::Text(text) => (StatusContent::Text(text), None),
            PublishContent::Media { kind, caption, input } => {
                // Fetching and preparing media is the expensive part: do it only for a session
                // that exists.
                if self.ports.sessions.get(&session).await?.is_none() {
                    return Err(PublishStatusError::SessionNotFound(session.id));
                }
                let source_url = match &input.source {
                    MediaSource::Url(url) => Some(url.clone()),
                    _ => None,
                };
                let prepared = self.ports.media.prepare(input, kind).await.map_err(PublishStatusError::InvalidMedia)?;
                let status = MediaStatus { caption, media: prepared.meta(), source_url };
                let content = match prepared.kind {
                    MediaKind::Image => StatusContent::Image(status),
                    MediaKind::Video => StatusContent::Video(status),
                };
                (content, Some(prepared))
            }
        };
        Ok(ReadyToPublish { session, content, media, view_once, audience, mode })
    }

    /// Takes a slot of the session's publish pace for a publish sent at once, once everything
    /// else about it is known to be in order (refused media spends no slot). Queued publishes
    /// wait for their slot when they run instead.
    fn admit_now(&self, session: &SessionKey, mode: PublishMode) -> Result<(), PublishStatusError> {
        match (&self.ports.pace, mode) {
            (Some(pace), PublishMode::Now) => {
                pace.admit(session).map_err(|retry_after| PublishStatusError::Paced { retry_after })
            }
            _ => Ok(()),
        }
    }

    /// Stores the status, with its prepared media, before anything is sent. A publish sent at
    /// once is stored as `sending`, leased to the caller, which runs it next with
    /// [`Statuses::execute`]; a queued or scheduled one is left to the workers. The insert also
    /// checks that the tenant has this session, without a read of its own.
    pub async fn submit(&self, ready: ReadyToPublish) -> Result<Submitted, PublishStatusError> {
        let ReadyToPublish { session, content, media, view_once, audience, mode } = ready;
        self.admit_now(&session, mode)?;
        let id = StatusId::from_uuid(self.ports.ids.uuid());
        let now = self.ports.clock.now();
        let plan = match mode {
            PublishMode::Now => Plan { publish_at: None, max_attempts: 1 },
            PublishMode::Queued => Plan { publish_at: None, max_attempts: self.policy.max_attempts },
            PublishMode::At(at) => Plan { publish_at: Some(at), max_attempts: self.policy.max_attempts },
        };
        let mut status = Status::accept(id, session.clone(), content, view_once, plan, now).with_audience(audience);
        let lease_until = if mode == PublishMode::Now {
            status.start_sending(now).map_err(|e| PublishStatusError::Internal(e.into()))?;
            Some(now + self.policy.lease)
        } else {
            None
        };
        match self.ports.statuses.insert(&status, media.as_ref(), lease_until).await {
            Ok(()) => {}
            Err(InsertError::ParentMissing) => return Err(PublishStatusError::SessionNotFound(session.id)),
            Err(e) => return Err(PublishStatusError::Internal(e.into())),
        }
        Ok(match mode {
            PublishMode::Now => Submitted::Claimed { status, media },
            _ => Submitted::Queued(status),
        })
    }

    /// [`Statuses::prepare`] then [`Statuses::submit`] then [`Statuses::execute`], for a
    /// publish prepared with [`PublishMode::Now`].
    pub async fn send(&self, ready: ReadyToPublish) -> Result<Status, PublishStatusError> {
        match self.submit(ready).await? {
            Submitted::Claimed { status, media } => self.execute(status, media).await,
            Submitted::Queued(status) => Ok(status),
        }
    }

    /// Hands a claimed (`sending`) status to the driver and stores the outcome, with its event,
    /// in one transaction: `published` only if the driver confirmed the send; after a
    /// transient failure with attempts left, back to `accepted` for a later attempt; else
    /// `failed` with the reason ([`PublishStatusError::Failed`]). Once started, this must run to
    /// its end: callers run it in a task of its own.
    pub async fn execute(
        &self,
        mut status: Status,
        media: Option<PreparedMedia>,
    ) -> Result<Status, PublishStatusError> {
        let _running = Running::start(&self.running, status.id());
        let session = status.session().clone();
        let driver = self.ports.driver.as_ref();
        let outcome = on_started(&self.ports, &session, || driver.publish(&session, &status, media.clone())).await;
        let now = self.ports.clock.now();
        let kind = match &outcome {
            Ok(Published { message_id, reach }) => {
                status
                    .mark_published(message_id.clone(), reach.clone(), now)
                    .map_err(|e| PublishStatusError::Internal(e.into()))?;
                Some(EventKind::StatusPublished)
            }
            Err(error) => {
                if let DriverError::Other(cause) = error {
                    tracing::error!(status = %status.id(), error = ?cause, "the driver failed unexpectedly");
                }
                let retry_at = now + self.policy.backoff(status.schedule().attempts);
                let retried = status
                    .attempt_failed(error.failure(), retry_at, now)
                    .map_err(|e| PublishStatusError::Internal(e.into()))?;
                (!retried).then_some(EventKind::StatusFailed)
            }
        };
        self.store_outcome(&status, StatusState::Sending, kind).await?;
        match status.state() {
            StatusState::Failed => Err(PublishStatusError::Failed { status: Box::new(status) }),
            _ => Ok(status),
        }
    }

    /// Saves a transition from `expected` with the event it causes, then tells the event
    /// sink. A status deleted meanwhile (its session was) is logged, not an error.
    async fn store_outcome(
        &self,
        status: &Status,
        expected: StatusState,
        kind: Option<EventKind>,
    ) -> Result<bool, StorageError> {
        let now = status.updated_at();
        let event = kind.map(|kind| Event::of_status(EventId::from_uuid(self.ports.ids.uuid()), kind, status, now));
        let events = event.as_slice();
        match self.ports.statuses.update(status, expected, events).await {
            Ok(true) => {
                for event in events {
                    self.ports.events.emit(event).await;
                }
                Ok(true)
            }
            Ok(false) => {
                tracing::warn!(status = %status.id(), state = %status.state(), "status changed or gone before its outcome was stored");
                Ok(false)
            }
            Err(e) => {
                tracing::error!(
                    status = %status.id(),
                    message_id = ?status.message_id(),
                    state = %status.state(),
                    "the outcome of a send could not be stored"
                );
                Err(e)
            }
        }
    }

    /// Claims up to `limit` due jobs for this process; run each with [`Statuses::run_claimed`].
    pub async fn claim_due(&self, limit: u32) -> Result<Vec<Status>, StorageError> {
        let now = self.ports.clock.now();
        self.ports.statuses.claim_due(now, now + self.policy.lease, limit).await
    }

    /// When the next queued job falls due.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, StorageError> {
        self.ports.statuses.next_due().await
    }

    /// Runs a claimed job: waits for the session's publish pace (putting the job back until
    /// its slot, without counting an attempt), then [`Statuses::execute`]s it with its stored
    /// media.
    pub async fn run_claimed(&self, mut status: Status) -> Result<Status, PublishStatusError> {
        if let Some(pace) = &self.ports.pace
            && let Err(wait) = pace.admit(status.session())
        {
            let now = self.ports.clock.now();
            let until = now + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::seconds(1));
            status.defer(until, now).map_err(|e| PublishStatusError::Internal(e.into()))?;
            self.store_outcome(&status, StatusState::Sending, None).await?;
            return Ok(status);
        }
        let media = match status.status_type() {
            StatusType::Text => None,
            StatusType::Image | StatusType::Video => match self.ports.statuses.media(status.id()).await? {
                Some(media) => Some(media),
                None => {
                    let failure = Failure {
                        code: FailureCode::Internal,
                        message: "the status's prepared media is missing".to_owned(),
                    };
                    tracing::error!(status = %status.id(), "a queued media status has no stored media");
                    let now = self.ports.clock.now();
                    status.mark_failed(failure, now).map_err(|e| PublishStatusError::Internal(e.into()))?;
                    self.store_outcome(&status, StatusState::Sending, Some(EventKind::StatusFailed)).await?;
                    return Err(PublishStatusError::Failed { status: Box::new(status) });
                }
            },
        };
        self.execute(status, media).await
    }

    /// Settles up to `limit` statuses whose send was interrupted (left `sending` by a process
    /// that died): the driver says whether each went out. Sent: `published`. Certainly not
    /// sent: sent now. Unknown: `failed` with `outcome_unknown`, never sent twice. Returns the
    /// statuses as settled.
    pub async fn recover(&self, limit: u32) -> Result<Vec<Status>, StorageError> {
        let now = self.ports.clock.now();
        let stranded = self.ports.statuses.reclaim_expired(now, now + self.policy.lease, limit).await?;
        let mut settled = Vec::with_capacity(stranded.len());
        for mut status in stranded {
            if self.running.lock().unwrap_or_else(PoisonError::into_inner).contains(&status.id()) {
                // Still being sent here, only slowly: its own task settles it.
                continue;
            }
            let session = status.session().clone();
            let driver = self.ports.driver.as_ref();
            let check = on_started(&self.ports, &session, || driver.reconcile(&session, &status)).await;
            let now = self.ports.clock.now();
            match check {
                Ok(SendCheck::Sent(Published { message_id, reach })) => {
                    tracing::info!(status = %status.id(), %message_id, "an interrupted send had gone out");
                    if status.mark_published(message_id, reach, now).is_ok() {
                        self.store_outcome(&status, StatusState::Sending, Some(EventKind::StatusPublished)).await?;
                    }
                    settled.push(status);
                }
                Ok(SendCheck::NotSent) => {
                    tracing::info!(status = %status.id(), "an interrupted send had not gone out; sending it now");
                    let media = match status.status_type() {
                        StatusType::Text => None,
                        _ => self.ports.statuses.media(status.id()).await?,
                    };
                    match self.execute(status, media).await {
                        Ok(status) => settled.push(status),
                        Err(PublishStatusError::Failed { status }) => settled.push(*status),
                        Err(error) => tracing::error!(%error, "an interrupted send could not be settled"),
                    }
                }
                Err(error) => {
                    // The driver cannot tell yet (say, the session is still connecting after a
                    // restart): the status stays leased and is looked at again when the lease
                    // runs out.
                    tracing::warn!(status = %status.id(), %error, "an interrupted send could not be checked yet");
                }
                Ok(SendCheck::Unknown) => {
                    let failure = Failure {
                        code: FailureCode::OutcomeUnknown,
                        message: "the process stopped during the send and WhatsApp's answer is unknown; \
                                  it was not sent again"
                            .to_owned(),
                    };
                    tracing::warn!(status = %status.id(), "an interrupted send cannot be checked; failing it");
                    if status.mark_failed(failure, now).is_ok() {
                        self.store_outcome(&status, StatusState::Sending, Some(EventKind::StatusFailed)).await?;
                    }
                    settled.push(status);
                }
            }
        }
        Ok(settled)
    }

    /// Withdraws a status: a published one is revoked from the audience's phones; a scheduled
    /// or queued one is cancelled before it is sent.
    pub async fn revoke(&self, tenant: TenantId, id: StatusId) -> Result<Status, RevokeStatusError> {
        let mut status = self.ports.statuses.get(tenant, id).await?.ok_or(RevokeStatusError::NotFound(id))?;
        match status.state() {
            StatusState::Published => {}
            StatusState::Scheduled | StatusState::Accepted => {
                let from = status.state();
                status.cancel(self.ports.clock.now()).map_err(|e| RevokeStatusError::Internal(e.into()))?;
                if !self.ports.statuses.update(&status, from, &[]).await? {
                    // A worker claimed it meanwhile.
                    let current = self.ports.statuses.get(tenant, id).await?.ok_or(RevokeStatusError::NotFound(id))?;
                    return Err(RevokeStatusError::NotRevocable(current.state()));
                }
                return Ok(status);
            }
            other => return Err(RevokeStatusError::NotRevocable(other)),
        }
        let session = status.session().clone();
        let driver = self.ports.driver.as_ref();
        on_started(&self.ports, &session, || driver.revoke(&session, &status))
            .await
            .map_err(|e| RevokeStatusError::Driver(e.failure()))?;
        status.mark_revoked(self.ports.clock.now()).map_err(|e| RevokeStatusError::Internal(e.into()))?;
        if !self.store_outcome(&status, StatusState::Published, Some(EventKind::StatusRevoked)).await? {
            // A concurrent revoke (or delete) got there first.
            let current = self.ports.statuses.get(tenant, id).await?.ok_or(RevokeStatusError::NotFound(id))?;
            return Err(RevokeStatusError::NotRevocable(current.state()));
        }
        Ok(status)
    }

    pub async fn get(&self, tenant: TenantId, id: StatusId) -> Result<Status, StatusError> {
        self.ports.statuses.get(tenant, id).await?.ok_or(StatusError::NotFound(id))
    }

    /// A session's statuses, newest first.
    pub async fn list(&self, session: &SessionKey, query: &StatusQuery) -> Result<Page<Status>, ListStatusesError> {
        if self.ports.sessions.get(session).await?.is_none() {
            return Err(ListStatusesError::SessionNotFound(session.id.clone()));
        }
        Ok(self.ports.statuses.list(session, query).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::service::test_support::*;

    fn command() -> PublishStatus {
        let StatusContent::Text(text) = text_content("Flash sale ends tonight!") else { unreachable!() };
        PublishStatus {
            session: key("s1"),
            content: PublishContent::Text(text),
            view_once: false,
            audience: Audience::Contacts,
            mode: PublishMode::Now,
        }
    }

    /// Records every state a status is saved in.
    fn recording_statuses(m: &mut Mocks) -> Arc<Mutex<Vec<StatusState>>> {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let on_insert = saved.clone();
        m.statuses.expect_insert().times(1).returning(move |s, _, _| {
            on_insert.lock().unwrap().push(s.state());
            Ok(())
        });
        let on_update = saved.clone();
        m.statuses.expect_update().returning(move |s, expected, _| {
            assert_eq!(expected, StatusState::Sending, "the outcome replaces `sending` only");
            on_update.lock().unwrap().push(s.state());
            Ok(true)
        });
        saved
    }

    #[tokio::test]
    async fn a_paced_session_stores_and_sends_nothing() {
        let mut m = Mocks::default();
        let mut pace = MockPublishPace::new();
        pace.expect_admit().times(1).returning(|_| Err(std::time::Duration::from_millis(2500)));
        m.pace = Some(pace);
        m.statuses.expect_insert().never();
        m.driver.expect_publish().never();
        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "publish_pace_exceeded");
        assert!(matches!(err, PublishStatusError::Paced { retry_after } if retry_after.as_millis() == 2500));
        assert!(err.to_string().contains("2s"), "{err}");
    }

    #[tokio::test]
    async fn a_confirmed_send_is_published_with_its_message_id_and_reach() {
        let mut m = Mocks::default();
        let saved = recording_statuses(&mut m);
        m.driver
            .expect_publish()
            .withf(|_, s, media| {
                s.state() == StatusState::Sending && media.is_none() && *s.audience() == Audience::Contacts
            })
            .times(1)
            .returning(|_, _, _| Ok(confirmed("3EB0AAAAAAAAAAAAAAAAAAAA")));
        m.events.expect_emit().withf(|e| e.kind.as_str() == "status.published").times(1).returning(|_| ());

        let status = Statuses::new(m.into_ports()).publish(command()).await.unwrap();
        assert_eq!(status.state(), StatusState::Published);
        assert_eq!(status.message_id().unwrap().as_str(), "3EB0AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(status.reach(), Some(&confirmed("3EB0AAAAAAAAAAAAAAAAAAAA").reach));
        assert_eq!(*saved.lock().unwrap(), [StatusState::Sending, StatusState::Published]);
    }

    #[tokio::test]
    async fn a_disconnected_session_fails_the_status_and_keeps_it() {
        let mut m = Mocks::default();
        let saved = recording_statuses(&mut m);
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Disconnected));
        m.events.expect_emit().withf(|e| e.kind.as_str() == "status.failed").times(1).returning(|_| ());

        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "device_disconnected");
        let PublishStatusError::Failed { status } = err else { panic!("expected a failed status") };
        assert_eq!(status.state(), StatusState::Failed);
        assert_eq!(status.message_id(), None);
        assert_eq!(status.failure().unwrap().code, FailureCode::DeviceDisconnected);
        assert_eq!(*saved.lock().unwrap(), [StatusState::Sending, StatusState::Failed]);
    }

    #[tokio::test]
    async fn an_unexpected_driver_error_does_not_leak_its_cause() {
        let mut m = Mocks::default();
        recording_statuses(&mut m);
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Other(anyhow::anyhow!("secret db path"))));
        m.events.expect_emit().returning(|_| ());
        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "internal");
        assert!(!err.to_string().contains("secret"));
    }

    fn image_command() -> PublishStatus {
        let input = MediaInput { source: MediaSource::Url("https://cdn.example/x.jpg".into()), declared_mime: None };
        let caption = Caption::new("Weekend vibes").unwrap();
        PublishStatus {
            session: key("s1"),
            content: PublishContent::Media { kind: Some(MediaKind::Image), caption, input },
            view_once: false,
            audience: Audience::Contacts,
            mode: PublishMode::Now,
        }
    }

    fn prepared_jpeg() -> PreparedMedia {
        PreparedMedia {
            kind: MediaKind::Image,
            mime_type: "image/jpeg".into(),
            bytes: bytes::Bytes::from_static(b"\xff\xd8jpeg"),
            width: 640,
            height: 480,
            duration_secs: None,
            thumbnail: bytes::Bytes::from_static(b"\xff\xd8thumb"),
            thumbnail_is_placeholder: false,
        }
    }

    #[tokio::test]
    async fn an_image_is_prepared_then_sent_with_its_media() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        m.media
            .expect_prepare()
            .withf(|_, kind| *kind == Some(MediaKind::Image))
            .times(1)
            .returning(|_, _| Ok(prepared_jpeg()));
        recording_statuses(&mut m);
        m.driver
            .expect_publish()
            .withf(|_, status, media| {
                status.status_type() == StatusType::Image && media.as_ref() == Some(&prepared_jpeg())
            })
            .times(1)
            .returning(|_, _, _| Ok(confirmed("3EB0CCCCCCCCCCCCCCCCCCCC")));
        m.events.expect_emit().returning(|_| ());
        let status = Statuses::new(m.into_ports()).publish(image_command()).await.unwrap();
        let StatusContent::Image(image) = status.content() else { panic!("an image status") };
        assert_eq!(image.caption.as_ref().unwrap().as_str(), "Weekend vibes");
        assert_eq!(image.media, prepared_jpeg().meta());
    }

    #[tokio::test]
    async fn media_of_either_kind_becomes_the_kind_its_bytes_are() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        let video = PreparedMedia { kind: MediaKind::Video, duration_secs: Some(12), ..prepared_jpeg() };
        let prepared = video.clone();
        m.media.expect_prepare().withf(|_, kind| kind.is_none()).times(1).returning(move |_, _| Ok(prepared.clone()));
        recording_statuses(&mut m);
        m.driver.expect_publish().returning(|_, _, _| Ok(confirmed("3EB0DDDDDDDDDDDDDDDDDDDD")));
        m.events.expect_emit().returning(|_| ());
        let mut command = image_command();
        let PublishContent::Media { kind, .. } = &mut command.content else { unreachable!() };
        *kind = None;
        let status = Statuses::new(m.into_ports()).publish(command).await.unwrap();
        assert_eq!(status.status_type(), StatusType::Video);
    }

    #[tokio::test]
    async fn unusable_media_stores_and_sends_nothing() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        m.media.expect_prepare().returning(|_, _| {
            Err(MediaRejected { code: "media_blocked_address", message: "non-public address".into() })
        });
        m.statuses.expect_insert().never();
        m.driver.expect_publish().never();
        let err = Statuses::new(m.into_ports()).publish(image_command()).await.unwrap_err();
        assert_eq!(err.code(), "media_blocked_address");
    }

    #[tokio::test]
    async fn media_for_an_unknown_session_is_not_even_fetched() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(None));
        m.media.expect_prepare().never();
        let err = Statuses::new(m.into_ports()).publish(image_command()).await.unwrap_err();
        assert_eq!(err.code(), "session_not_found");
    }

    #[tokio::test]
    async fn publishing_to_an_unknown_session_sends_nothing() {
        let mut m = Mocks::default();
        m.statuses.expect_insert().times(1).returning(|_, _, _| Err(InsertError::ParentMissing));
        m.statuses.expect_update().never();
        m.driver.expect_publish().never();
        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "session_not_found");
    }

    fn queued(mode: PublishMode) -> PublishStatus {
        PublishStatus { mode, ..command() }
    }

    /// A claimed (`sending`) job with `max_attempts`.
    fn claimed_job(max_attempts: u32) -> Status {
        let plan = Plan { publish_at: None, max_attempts };
        let mut s = Status::accept(
            StatusId::from_uuid(uuid::Uuid::from_u128(8)),
            key("s1"),
            text_content("x"),
            false,
            plan,
            at(0),
        );
        s.start_sending(at(1)).unwrap();
        s
    }

    #[tokio::test]
    async fn a_queued_publish_is_stored_for_the_workers_and_not_sent() {
        let mut m = Mocks::default();
        let mut pace = MockPublishPace::new();
        pace.expect_admit().never();
        m.pace = Some(pace);
        m.statuses
            .expect_insert()
            .withf(|s, media, lease| {
                s.state() == StatusState::Accepted
                    && s.schedule().max_attempts == 5
                    && media.is_none()
                    && lease.is_none()
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        m.driver.expect_publish().never();
        let status = Statuses::new(m.into_ports()).publish(queued(PublishMode::Queued)).await.unwrap();
        assert_eq!(status.state(), StatusState::Accepted);
    }

    #[tokio::test]
    async fn a_scheduled_publish_waits_for_its_time_and_the_past_is_refused() {
        let mut m = Mocks::default();
        m.statuses
            .expect_insert()
            .withf(|s, _, _| s.state() == StatusState::Scheduled && s.schedule().next_attempt_at == at(70))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let statuses = Statuses::new(m.into_ports());
        assert_eq!(statuses.publish(queued(PublishMode::At(at(70)))).await.unwrap().state(), StatusState::Scheduled);
        // The clock says at(10).
        let err = statuses.publish(queued(PublishMode::At(at(10)))).await.unwrap_err();
        assert_eq!(err.code(), "invalid_publish_at");
    }

    #[tokio::test]
    async fn a_job_over_its_pace_is_put_off_without_an_attempt() {
        let mut m = Mocks::default();
        let mut pace = MockPublishPace::new();
        pace.expect_admit().returning(|_| Err(std::time::Duration::from_secs(20)));
        m.pace = Some(pace);
        m.driver.expect_publish().never();
        m.statuses
            .expect_update()
            .withf(|s, expected, events| {
                *expected == StatusState::Sending
                    && s.state() == StatusState::Accepted
                    && s.schedule().next_attempt_at == at(30)
                    && s.schedule().attempts == 0
                    && events.is_empty()
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        let s = Statuses::new(m.into_ports()).run_claimed(claimed_job(3)).await.unwrap();
        assert_eq!(s.state(), StatusState::Accepted);
    }

    #[tokio::test]
    async fn a_transient_failure_of_a_job_is_retried_later_without_an_event() {
        let mut m = Mocks::default();
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Disconnected));
        m.statuses
            .expect_update()
            .withf(|s, _, events| {
                s.state() == StatusState::Accepted
                    && s.schedule().next_attempt_at == at(15)
                    && s.failure().is_some_and(|f| f.code == FailureCode::DeviceDisconnected)
                    && events.is_empty()
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.events.expect_emit().never();
        let s = Statuses::new(m.into_ports()).run_claimed(claimed_job(3)).await.unwrap();
        assert_eq!(s.state(), StatusState::Accepted);

        // The last attempt fails the status, with its event.
        let mut m = Mocks::default();
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Disconnected));
        m.statuses
            .expect_update()
            .withf(|s, _, events| {
                s.state() == StatusState::Failed && events.iter().map(|e| e.kind).eq([EventKind::StatusFailed])
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.events.expect_emit().times(1).returning(|_| ());
        let err = Statuses::new(m.into_ports()).run_claimed(claimed_job(1)).await.unwrap_err();
        assert_eq!(err.code(), "device_disconnected");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let policy = JobPolicy::default();
        assert_eq!(policy.backoff(1), chrono::TimeDelta::seconds(5));
        assert_eq!(policy.backoff(2), chrono::TimeDelta::seconds(10));
        assert_eq!(policy.backoff(4), chrono::TimeDelta::seconds(40));
        assert_eq!(policy.backoff(60), policy.retry_max);
    }

    /// Every state a status was saved in, with the events saved along.
    type Saved = Arc<Mutex<Vec<(StatusState, Vec<EventKind>)>>>;

    fn recovering(check: SendCheck) -> (Mocks, Saved) {
        let mut m = Mocks::default();
        m.statuses.expect_reclaim_expired().times(1).returning(|_, _, _| Ok(vec![claimed_job(1)]));
        m.driver.expect_reconcile().times(1).returning(move |_, _| Ok(check.clone()));
        let saved = Arc::new(Mutex::new(Vec::new()));
        let record = saved.clone();
        m.statuses.expect_update().returning(move |s, expected, events| {
            assert_eq!(expected, StatusState::Sending);
            record.lock().unwrap().push((s.state(), events.iter().map(|e| e.kind).collect()));
            Ok(true)
        });
        m.events.expect_emit().returning(|_| ());
        (m, saved)
    }

    #[tokio::test]
    async fn an_interrupted_send_that_went_out_is_published_not_resent() {
        let (mut m, saved) = recovering(SendCheck::Sent(confirmed("3EB0EEEEEEEEEEEEEEEEEEEE")));
        m.driver.expect_publish().never();
        let settled = Statuses::new(m.into_ports()).recover(10).await.unwrap();
        assert_eq!(settled[0].message_id().unwrap().as_str(), "3EB0EEEEEEEEEEEEEEEEEEEE");
        assert_eq!(*saved.lock().unwrap(), [(StatusState::Published, vec![EventKind::StatusPublished])]);
    }

    #[tokio::test]
    async fn an_interrupted_send_that_did_not_go_out_is_sent_now() {
        let (mut m, saved) = recovering(SendCheck::NotSent);
        m.driver.expect_publish().times(1).returning(|_, _, _| Ok(confirmed("3EB0FFFFFFFFFFFFFFFFFFFF")));
        Statuses::new(m.into_ports()).recover(10).await.unwrap();
        assert_eq!(*saved.lock().unwrap(), [(StatusState::Published, vec![EventKind::StatusPublished])]);
    }

    #[tokio::test]
    async fn an_interrupted_send_nobody_can_check_fails_and_is_never_resent() {
        let (mut m, saved) = recovering(SendCheck::Unknown);
        m.driver.expect_publish().never();
        let settled = Statuses::new(m.into_ports()).recover(10).await.unwrap();
        assert_eq!(settled[0].failure().unwrap().code, FailureCode::OutcomeUnknown);
        assert_eq!(*saved.lock().unwrap(), [(StatusState::Failed, vec![EventKind::StatusFailed])]);
    }

    #[tokio::test]
    async fn a_queued_status_is_cancelled_and_a_sending_one_is_not() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| {
            let plan = Plan { publish_at: Some(at(100)), max_attempts: 3 };
            Ok(Some(Status::accept(
                StatusId::from_uuid(uuid::Uuid::from_u128(9)),
                key("s1"),
                text_content("x"),
                false,
                plan,
                at(0),
            )))
        });
        m.statuses
            .expect_update()
            .withf(|s, expected, _| s.state() == StatusState::Cancelled && *expected == StatusState::Scheduled)
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.driver.expect_revoke().never();
        let s = Statuses::new(m.into_ports()).revoke(tenant(), StatusId::from_uuid(uuid::Uuid::from_u128(9))).await;
        assert_eq!(s.unwrap().state(), StatusState::Cancelled);

        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| Ok(Some(claimed_job(1))));
        let err = Statuses::new(m.into_ports()).revoke(tenant(), claimed_job(1).id()).await.unwrap_err();
        assert_eq!(err.code(), "status_not_revocable");
    }

    fn published() -> Status {
        let mut s = Status::accept(
            StatusId::from_uuid(uuid::Uuid::from_u128(7)),
            key("s1"),
            text_content("x"),
            false,
            Plan::default(),
            at(0),
        );
        s.start_sending(at(1)).unwrap();
        s.mark_published(MessageId::new("3EB0BBBBBBBBBBBBBBBBBBBB").unwrap(), Reach::default(), at(2)).unwrap();
        s
    }

    #[tokio::test]
    async fn revoking_a_published_status() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| Ok(Some(published())));
        m.driver.expect_revoke().times(1).returning(|_, _| Ok(()));
        m.statuses
            .expect_update()
            .withf(|s, expected, events| {
                s.state() == StatusState::Revoked
                    && *expected == StatusState::Published
                    && events.iter().map(|e| e.kind).eq([EventKind::StatusRevoked])
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.events.expect_emit().withf(|e| e.kind.as_str() == "status.revoked").times(1).returning(|_| ());
        let s = Statuses::new(m.into_ports()).revoke(tenant(), published().id()).await.unwrap();
        assert_eq!(s.revoked_at(), Some(at(10)));
    }

    #[tokio::test]
    async fn of_two_concurrent_revokes_one_wins() {
        let mut m = Mocks::default();
        let mut reads = 0;
        m.statuses.expect_get().returning(move |_, _| {
            reads += 1;
            let mut s = published();
            if reads > 1 {
                s.mark_revoked(at(5)).unwrap();
            }
            Ok(Some(s))
        });
        m.driver.expect_revoke().returning(|_, _| Ok(()));
        m.statuses.expect_update().returning(|_, _, _| Ok(false));
        m.events.expect_emit().never();
        let err = Statuses::new(m.into_ports()).revoke(tenant(), published().id()).await.unwrap_err();
        assert_eq!(err.code(), "status_not_revocable");
    }

    #[tokio::test]
    async fn an_unavailable_driver_fails_the_status_as_such() {
        let mut m = Mocks::default();
        recording_statuses(&mut m);
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Unavailable("not in this build".into())));
        m.events.expect_emit().returning(|_| ());
        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "driver_unavailable");
    }

    #[tokio::test]
    async fn a_failed_revoke_leaves_the_status_published() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| Ok(Some(published())));
        m.driver.expect_revoke().returning(|_, _| Err(DriverError::Disconnected));
        m.statuses.expect_update().never();
        let err = Statuses::new(m.into_ports()).revoke(tenant(), published().id()).await.unwrap_err();
        assert_eq!(err.code(), "device_disconnected");
    }

    #[tokio::test]
    async fn only_published_statuses_are_revocable() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| {
            let mut s = published();
            s.mark_revoked(at(3)).unwrap();
            Ok(Some(s))
        });
        m.driver.expect_revoke().never();
        let err = Statuses::new(m.into_ports()).revoke(tenant(), published().id()).await.unwrap_err();
        assert_eq!(err.code(), "status_not_revocable");
    }

    #[tokio::test]
    async fn another_tenants_status_is_not_found() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| Ok(None));
        let err = Statuses::new(m.into_ports()).get(tenant(), published().id()).await.unwrap_err();
        assert_eq!(err.code(), "status_not_found");
    }
}
