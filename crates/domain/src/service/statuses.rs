//! Status use cases: publish, revoke, read.

use crate::model::*;
use crate::ports::*;

use super::{ErrorCode, Ports, internal_from_storage, on_started};

/// A request to publish a status, built only from validated values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishStatus {
    pub session: SessionKey,
    pub content: PublishContent,
    pub view_once: bool,
}

/// A publish whose media is prepared, ready to be stored and sent ([`Statuses::send`]).
#[derive(Debug, Clone)]
pub struct ReadyToPublish {
    session: SessionKey,
    content: StatusContent,
    media: Option<PreparedMedia>,
    view_once: bool,
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
    #[error("only a published status can be revoked; this one is {0}")]
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
}

impl Statuses {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// [`Statuses::prepare`] then [`Statuses::send`].
    pub async fn publish(&self, command: PublishStatus) -> Result<Status, PublishStatusError> {
        let ready = self.prepare(command).await?;
        self.send(ready).await
    }

    /// Everything a publish does before anything is stored or sent: for media, checks the session
    /// and fetches, checks and prepares the media. Abandoning it (a client that goes away, a
    /// time-out) leaves no trace, so callers may run it in the request itself.
    pub async fn prepare(&self, command: PublishStatus) -> Result<ReadyToPublish, PublishStatusError> {
        let PublishStatus { session, content, view_once } = command;
        let (content, media) = match content {
            PublishContent::Text(text) => {
                self.admit(&session)?;
                (StatusContent::Text(text), None)
            }
            PublishContent::Media { kind, caption, input } => {
                // Fetching and preparing media is the expensive part: do it only for a session
                // that exists and may publish now.
                if self.ports.sessions.get(&session).await?.is_none() {
                    return Err(PublishStatusError::SessionNotFound(session.id));
                }
                self.admit(&session)?;
                let prepared = self.ports.media.prepare(input, kind).await.map_err(PublishStatusError::InvalidMedia)?;
                let status = MediaStatus { caption, media: prepared.meta() };
                let content = match prepared.kind {
                    MediaKind::Image => StatusContent::Image(status),
                    MediaKind::Video => StatusContent::Video(status),
                };
                (content, Some(prepared))
            }
        };
        Ok(ReadyToPublish { session, content, media, view_once })
    }

    /// Takes a slot of the session's publish pace, if publishing is paced.
    fn admit(&self, session: &SessionKey) -> Result<(), PublishStatusError> {
        match &self.ports.pace {
            Some(pace) => pace.admit(session).map_err(|retry_after| PublishStatusError::Paced { retry_after }),
            None => Ok(()),
        }
    }

    /// Stores the status (as `sending`), hands it to the driver and records the outcome.
    ///
    /// The status is `published` only if the driver confirmed the send. Any other outcome
    /// stores it as `failed` with the reason and returns [`PublishStatusError::Failed`]. Once
    /// started, this must run to its end: callers run it in a task of its own.
    pub async fn send(&self, ready: ReadyToPublish) -> Result<Status, PublishStatusError> {
        let ReadyToPublish { session, content, media, view_once } = ready;
        let id = StatusId::from_uuid(self.ports.ids.uuid());
        let now = self.ports.clock.now();
        let mut status = Status::accept(id, session.clone(), content, view_once, now);
        // Sent at once, so it is first stored as `sending`: one write, and a crash before the
        // outcome is recorded leaves a status whose outcome is known to be uncertain. The insert
        // also checks that the tenant has this session, without a read of its own.
        status.start_sending(now).map_err(|e| PublishStatusError::Internal(e.into()))?;
        match self.ports.statuses.insert(&status).await {
            Ok(()) => {}
            Err(InsertError::ParentMissing) => return Err(PublishStatusError::SessionNotFound(session.id)),
            Err(e) => return Err(PublishStatusError::Internal(e.into())),
        }

        let driver = self.ports.driver.as_ref();
        let outcome = on_started(&self.ports, &session, || driver.publish(&session, &status, media.clone())).await;
        let now = self.ports.clock.now();
        let transition = match &outcome {
            Ok(message_id) => status.mark_published(message_id.clone(), now),
            Err(error) => status.mark_failed(error.failure(), now),
        };
        transition.map_err(|e| PublishStatusError::Internal(e.into()))?;
        match self.ports.statuses.update(&status, StatusState::Sending).await {
            Ok(true) => {}
            // The session (and with it the status) was deleted while the send was under way.
            Ok(false) => {
                tracing::warn!(status = %status.id(), state = %status.state(), "status gone before its outcome was stored")
            }
            Err(e) => {
                tracing::error!(
                    status = %status.id(),
                    message_id = ?status.message_id(),
                    state = %status.state(),
                    "the outcome of a send could not be stored"
                );
                return Err(e.into());
            }
        }

        match outcome {
            Ok(_) => {
                self.ports.events.emit(DomainEvent::StatusPublished(status.clone())).await;
                Ok(status)
            }
            Err(error) => {
                if let DriverError::Other(cause) = &error {
                    tracing::error!(status = %status.id(), error = ?cause, "the driver failed unexpectedly");
                }
                self.ports.events.emit(DomainEvent::StatusFailed(status.clone())).await;
                Err(PublishStatusError::Failed { status: Box::new(status) })
            }
        }
    }

    /// Deletes a published status from the audience's phones.
    pub async fn revoke(&self, tenant: TenantId, id: StatusId) -> Result<Status, RevokeStatusError> {
        let mut status = self.ports.statuses.get(tenant, id).await?.ok_or(RevokeStatusError::NotFound(id))?;
        if status.state() != StatusState::Published {
            return Err(RevokeStatusError::NotRevocable(status.state()));
        }
        let session = status.session().clone();
        let driver = self.ports.driver.as_ref();
        on_started(&self.ports, &session, || driver.revoke(&session, &status))
            .await
            .map_err(|e| RevokeStatusError::Driver(e.failure()))?;
        status.mark_revoked(self.ports.clock.now()).map_err(|e| RevokeStatusError::Internal(e.into()))?;
        if !self.ports.statuses.update(&status, StatusState::Published).await? {
            // A concurrent revoke (or delete) got there first.
            let current = self.ports.statuses.get(tenant, id).await?.ok_or(RevokeStatusError::NotFound(id))?;
            return Err(RevokeStatusError::NotRevocable(current.state()));
        }
        self.ports.events.emit(DomainEvent::StatusRevoked(status.clone())).await;
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
        PublishStatus { session: key("s1"), content: PublishContent::Text(text), view_once: false }
    }

    /// Records every state a status is saved in.
    fn recording_statuses(m: &mut Mocks) -> Arc<Mutex<Vec<StatusState>>> {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let on_insert = saved.clone();
        m.statuses.expect_insert().times(1).returning(move |s| {
            on_insert.lock().unwrap().push(s.state());
            Ok(())
        });
        let on_update = saved.clone();
        m.statuses.expect_update().returning(move |s, expected| {
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
    async fn a_confirmed_send_is_published_with_its_message_id() {
        let mut m = Mocks::default();
        let saved = recording_statuses(&mut m);
        m.driver
            .expect_publish()
            .withf(|_, s, media| s.state() == StatusState::Sending && media.is_none())
            .times(1)
            .returning(|_, _, _| Ok(MessageId::new("3EB0AAAAAAAAAAAAAAAAAAAA").unwrap()));
        m.events.expect_emit().withf(|e| e.kind() == "status.published").times(1).returning(|_| ());

        let status = Statuses::new(m.into_ports()).publish(command()).await.unwrap();
        assert_eq!(status.state(), StatusState::Published);
        assert_eq!(status.message_id().unwrap().as_str(), "3EB0AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(*saved.lock().unwrap(), [StatusState::Sending, StatusState::Published]);
    }

    #[tokio::test]
    async fn a_disconnected_session_fails_the_status_and_keeps_it() {
        let mut m = Mocks::default();
        let saved = recording_statuses(&mut m);
        m.driver.expect_publish().returning(|_, _, _| Err(DriverError::Disconnected));
        m.events.expect_emit().withf(|e| e.kind() == "status.failed").times(1).returning(|_| ());

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
            .returning(|_, _, _| Ok(MessageId::new("3EB0CCCCCCCCCCCCCCCCCCCC").unwrap()));
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
        m.driver.expect_publish().returning(|_, _, _| Ok(MessageId::new("3EB0DDDDDDDDDDDDDDDDDDDD").unwrap()));
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
        m.statuses.expect_insert().times(1).returning(|_| Err(InsertError::ParentMissing));
        m.statuses.expect_update().never();
        m.driver.expect_publish().never();
        let err = Statuses::new(m.into_ports()).publish(command()).await.unwrap_err();
        assert_eq!(err.code(), "session_not_found");
    }

    fn published() -> Status {
        let mut s =
            Status::accept(StatusId::from_uuid(uuid::Uuid::from_u128(7)), key("s1"), text_content("x"), false, at(0));
        s.start_sending(at(1)).unwrap();
        s.mark_published(MessageId::new("3EB0BBBBBBBBBBBBBBBBBBBB").unwrap(), at(2)).unwrap();
        s
    }

    #[tokio::test]
    async fn revoking_a_published_status() {
        let mut m = Mocks::default();
        m.statuses.expect_get().returning(|_, _| Ok(Some(published())));
        m.driver.expect_revoke().times(1).returning(|_, _| Ok(()));
        m.statuses
            .expect_update()
            .withf(|s, expected| s.state() == StatusState::Revoked && *expected == StatusState::Published)
            .times(1)
            .returning(|_, _| Ok(true));
        m.events.expect_emit().withf(|e| e.kind() == "status.revoked").times(1).returning(|_| ());
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
        m.statuses.expect_update().returning(|_, _| Ok(false));
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
