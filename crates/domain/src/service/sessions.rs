//! Session use cases: create, inspect, pair, log out, delete.

use crate::model::*;
use crate::ports::*;

use super::{ErrorCode, Ports, internal_from_storage, on_started};

#[derive(Debug, thiserror::Error)]
pub enum CreateSessionError {
    #[error("a session with id {0} already exists")]
    AlreadyExists(SessionId),
    #[error("no user with id {0}")]
    OwnerNotFound(UserId),
    #[error("user {0} already owns a session; a user has one device")]
    OwnerHasDevice(UserId),
    #[error("{0}")]
    DriverUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session with id {0}")]
    NotFound(SessionId),
    #[error("{0}")]
    DriverUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum PairSessionError {
    #[error("no session with id {0}")]
    NotFound(SessionId),
    #[error("the session is already paired; log it out first to pair another phone")]
    AlreadyPaired,
    #[error("{0}")]
    DriverUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RestartSessionError {
    #[error("no session with id {0}")]
    NotFound(SessionId),
    #[error("the session was logged out; pair it again instead")]
    LoggedOut,
    #[error("{0}")]
    DriverUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ErrorCode for RestartSessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "session_not_found",
            Self::LoggedOut => "session_logged_out",
            Self::DriverUnavailable(_) => "driver_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QrCodeError {
    #[error("no session with id {0}")]
    NotFound(SessionId),
    #[error("no QR code is available: the session is already paired, or is pairing by code")]
    NoQrCode,
    #[error("{0}")]
    DriverUnavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum InjectFaultError {
    #[error("no session with id {0}")]
    NotFound(SessionId),
    #[error("fault injection exists only with the sandbox driver")]
    Unsupported,
    /// The fault makes no sense in the session's state (e.g. disconnecting an unpaired session).
    #[error("{0}")]
    NotApplicable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The principal is not a user, or the user owns no session.
    #[error("no session is linked to this user")]
    NoDevice,
    #[error(transparent)]
    Internal(anyhow::Error),
}

internal_from_storage!(
    CreateSessionError,
    SessionError,
    PairSessionError,
    QrCodeError,
    InjectFaultError,
    DeviceError,
    RestartSessionError
);

impl ErrorCode for DeviceError {
    fn code(&self) -> &'static str {
        match self {
            Self::NoDevice => "no_device",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for CreateSessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists(_) => "session_already_exists",
            Self::OwnerNotFound(_) => "user_not_found",
            Self::OwnerHasDevice(_) => "user_has_device",
            Self::DriverUnavailable(_) => "driver_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for SessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "session_not_found",
            Self::DriverUnavailable(_) => "driver_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for PairSessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "session_not_found",
            Self::AlreadyPaired => "session_already_paired",
            Self::DriverUnavailable(_) => "driver_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for QrCodeError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "session_not_found",
            Self::NoQrCode => "qr_not_available",
            Self::DriverUnavailable(_) => "driver_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for InjectFaultError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "session_not_found",
            Self::Unsupported => "sandbox_only",
            Self::NotApplicable(_) => "fault_not_applicable",
            Self::Internal(_) => "internal",
        }
    }
}

/// Session use cases.
#[derive(Clone)]
pub struct Sessions {
    pub(super) ports: Ports,
}

impl Sessions {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Creates a session and starts it in the driver (state `pairing`). With an `owner`, the
    /// session becomes that user's device.
    pub async fn create(
        &self,
        tenant: TenantId,
        id: SessionId,
        owner: Option<UserId>,
    ) -> Result<Session, CreateSessionError> {
        let mut session = self.insert(tenant, id, owner).await?;
        let key = session.key.clone();
        let now = session.created_at;
        match self.ports.driver.start(&key).await {
            Ok(state) => session.state = state,
            Err(e) => {
                // Without a running driver session the record would be a lie; take it back.
                self.ports.sessions.delete(&key).await?;
                return Err(match e {
                    DriverError::Unavailable(why) => CreateSessionError::DriverUnavailable(why),
                    other => CreateSessionError::Internal(other.into()),
                });
            }
        }
        if session.state != SessionState::Pairing {
            self.store_state(&key, session.state, now).await?;
        }
        Ok(session)
    }

    /// Records a session without starting it, for processes that do not run the driver (the
    /// admin CLI). The serving process starts it at boot or on first use.
    pub async fn register(
        &self,
        tenant: TenantId,
        id: SessionId,
        owner: Option<UserId>,
    ) -> Result<Session, CreateSessionError> {
        self.insert(tenant, id, owner).await
    }

    /// Stores a new session record in `pairing`, checking its owner belongs to the tenant and
    /// has no device yet.
    async fn insert(
        &self,
        tenant: TenantId,
        id: SessionId,
        owner: Option<UserId>,
    ) -> Result<Session, CreateSessionError> {
        if let Some(user) = owner {
            if self.ports.users.get(tenant, user).await?.is_none() {
                return Err(CreateSessionError::OwnerNotFound(user));
            }
            if self.ports.sessions.find_by_owner(tenant, user).await?.is_some() {
                return Err(CreateSessionError::OwnerHasDevice(user));
            }
        }
        let now = self.ports.clock.now();
        let session = Session {
            key: SessionKey { tenant, id },
            owner,
            state: SessionState::Pairing,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        match self.ports.sessions.insert(&session).await {
            Ok(()) => Ok(session),
            Err(InsertError::AlreadyExists) => match owner {
                // The owner's device appeared since the check above.
                Some(user) if self.ports.sessions.find_by_owner(tenant, user).await?.is_some() => {
                    Err(CreateSessionError::OwnerHasDevice(user))
                }
                _ => Err(CreateSessionError::AlreadyExists(session.key.id)),
            },
            Err(e) => Err(CreateSessionError::Internal(e.into())),
        }
    }

    /// The session a user publishes through (WUTS's "user device"), with its live state.
    pub async fn device_of(&self, tenant: TenantId, user: Option<UserId>) -> Result<Session, DeviceError> {
        let user = user.ok_or(DeviceError::NoDevice)?;
        let session = self.ports.sessions.find_by_owner(tenant, user).await?.ok_or(DeviceError::NoDevice)?;
        Ok(self.refresh(session).await?)
    }

    /// Starts every stored session in the driver, as after a restart. A session the driver
    /// cannot start is logged by the caller and does not stop the others.
    pub async fn resume_all(&self) -> Result<Vec<(SessionKey, Result<SessionState, DriverError>)>, StorageError> {
        let mut outcomes = Vec::new();
        for session in self.ports.sessions.list_all().await? {
            let outcome = self.ports.driver.start(&session.key).await;
            if let Ok(state) = outcome {
                self.record_state(&session, state).await?;
            }
            outcomes.push((session.key, outcome));
        }
        Ok(outcomes)
    }

    /// One session, with its live state.
    pub async fn get(&self, key: &SessionKey) -> Result<Session, SessionError> {
        let session = self.find(key).await?;
        Ok(self.refresh(session).await?)
    }

    /// The tenant's sessions, with their live states.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<Session>, SessionError> {
        let mut sessions = Vec::new();
        for session in self.ports.sessions.list(tenant).await? {
            sessions.push(self.refresh(session).await?);
        }
        Ok(sessions)
    }

    /// Begins pairing; the sandbox links at once, a real phone later.
    pub async fn pair(&self, key: &SessionKey, method: &PairMethod) -> Result<(Pairing, Session), PairSessionError> {
        let session = self.find(key).await.map_err(not_found_or_internal(PairSessionError::NotFound))?;
        let driver = self.ports.driver.as_ref();
        let pairing = on_started(&self.ports, key, || driver.pair(key, method)).await.map_err(|e| match e {
            DriverError::AlreadyPaired => PairSessionError::AlreadyPaired,
            DriverError::Unavailable(why) => PairSessionError::DriverUnavailable(why),
            other => PairSessionError::Internal(other.into()),
        })?;
        let session = self.refresh(session).await?;
        Ok((pairing, session))
    }

    /// The QR code to scan now.
    pub async fn qr(&self, key: &SessionKey) -> Result<QrCode, QrCodeError> {
        self.find(key).await.map_err(not_found_or_internal(QrCodeError::NotFound))?;
        let driver = self.ports.driver.as_ref();
        on_started(&self.ports, key, || driver.qr(key)).await.map_err(|e| match e {
            DriverError::NoQrCode | DriverError::AlreadyPaired => QrCodeError::NoQrCode,
            DriverError::Unavailable(why) => QrCodeError::DriverUnavailable(why),
            other => QrCodeError::Internal(other.into()),
        })
    }

    /// The linked account's contacts, as WhatsApp last synced them.
    pub async fn contacts(&self, key: &SessionKey) -> Result<Vec<Contact>, SessionError> {
        self.find(key).await?;
        let driver = self.ports.driver.as_ref();
        on_started(&self.ports, key, || driver.contacts(key)).await.map_err(|e| match e {
            DriverError::Unavailable(why) => SessionError::DriverUnavailable(why),
            other => SessionError::Internal(other.into()),
        })
    }

    /// Connects the session again after it stopped for a reason the driver does not retry by
    /// itself (replaced by another client, banned); harmless for a session that runs.
    pub async fn restart(&self, key: &SessionKey) -> Result<Session, RestartSessionError> {
        let session = self.find(key).await.map_err(not_found_or_internal(RestartSessionError::NotFound))?;
        let driver = self.ports.driver.as_ref();
        on_started(&self.ports, key, || driver.restart(key)).await.map_err(|e| match e {
            DriverError::LoggedOut => RestartSessionError::LoggedOut,
            DriverError::Unavailable(why) => RestartSessionError::DriverUnavailable(why),
            other => RestartSessionError::Internal(other.into()),
        })?;
        Ok(self.refresh(session).await?)
    }

    /// Unlinks the phone. Logging out a session that is not linked is harmless.
    pub async fn logout(&self, key: &SessionKey) -> Result<Session, SessionError> {
        let session = self.find(key).await?;
        let driver = self.ports.driver.as_ref();
        match on_started(&self.ports, key, || driver.logout(key)).await {
            Ok(()) | Err(DriverError::NotPaired | DriverError::LoggedOut) => {}
            Err(DriverError::Unavailable(why)) => return Err(SessionError::DriverUnavailable(why)),
            Err(e) => return Err(SessionError::Internal(e.into())),
        }
        Ok(self.refresh(session).await?)
    }

    /// Deletes the session with its statuses, then stops it and wipes its device state.
    ///
    /// The record goes first: once it is gone no request can start the session again (see
    /// `on_started`). Should the driver then fail to wipe the device, the session is deleted
    /// all the same and the failure is logged for the operator.
    pub async fn delete(&self, key: &SessionKey) -> Result<(), SessionError> {
        if !self.ports.sessions.delete(key).await? {
            return Err(SessionError::NotFound(key.id.clone()));
        }
        if let Err(error) = self.ports.driver.remove(key).await {
            tracing::error!(session = %key, %error, "deleted session's device state could not be wiped");
        }
        Ok(())
    }

    /// Whether the driver can simulate faults (the sandbox).
    pub fn supports_faults(&self) -> bool {
        self.ports.faults.is_some()
    }

    /// Sandbox only: makes the driver simulate a fault.
    pub async fn inject_fault(&self, key: &SessionKey, fault: Fault, count: u32) -> Result<Session, InjectFaultError> {
        let injector = self.ports.faults.as_ref().ok_or(InjectFaultError::Unsupported)?;
        let session = self.find(key).await.map_err(not_found_or_internal(InjectFaultError::NotFound))?;
        on_started(&self.ports, key, || injector.inject(key, fault, count)).await.map_err(|e| match e {
            DriverError::NotPaired | DriverError::LoggedOut => {
                InjectFaultError::NotApplicable(format!("this fault does not apply now: {e}"))
            }
            other => InjectFaultError::Internal(other.into()),
        })?;
        Ok(self.refresh(session).await?)
    }

    async fn find(&self, key: &SessionKey) -> Result<Session, SessionError> {
        self.ports.sessions.get(key).await?.ok_or_else(|| SessionError::NotFound(key.id.clone()))
    }

    /// Brings the stored state in line with the driver's, announcing any change.
    async fn refresh(&self, mut session: Session) -> Result<Session, StorageError> {
        let driver = self.ports.driver.as_ref();
        match on_started(&self.ports, &session.key, || driver.state(&session.key)).await {
            Ok(SessionCondition { state, reason }) => {
                if let Some(at) = self.record_state(&session, state).await? {
                    session.state = state;
                    session.updated_at = at;
                }
                session.reason = reason;
            }
            // The stored state is the best answer left; the driver's trouble is not the caller's.
            Err(error) => tracing::warn!(session = %session.key, %error, "driver could not report the session state"),
        }
        Ok(session)
    }

    /// Stores a state reported by the driver if it changed; returns when it did.
    async fn record_state(&self, session: &Session, state: SessionState) -> Result<Option<Timestamp>, StorageError> {
        if session.state == state {
            return Ok(None);
        }
        let at = self.ports.clock.now();
        self.store_state(&session.key, state, at).await?;
        Ok(Some(at))
    }

    /// Stores a state with the event it causes, in one transaction, then tells the event sink.
    async fn store_state(&self, key: &SessionKey, state: SessionState, at: Timestamp) -> Result<(), StorageError> {
        let event = Event::of_session(EventId::from_uuid(self.ports.ids.uuid()), key, state, at);
        if self.ports.sessions.set_state(key, state, at, std::slice::from_ref(&event)).await? {
            self.ports.events.emit(&event).await;
        }
        Ok(())
    }
}

fn not_found_or_internal<E: From<anyhow::Error>>(not_found: fn(SessionId) -> E) -> impl FnOnce(SessionError) -> E {
    move |e| match e {
        SessionError::NotFound(id) => not_found(id),
        other @ SessionError::DriverUnavailable(_) => E::from(anyhow::anyhow!(other)),
        SessionError::Internal(e) => E::from(e),
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::service::test_support::*;

    #[tokio::test]
    async fn creating_a_session_stores_it_and_starts_it_in_the_driver() {
        let mut m = Mocks::default();
        m.sessions
            .expect_insert()
            .withf(|s| s.key == key("s1") && s.state == SessionState::Pairing)
            .times(1)
            .returning(|_| Ok(()));
        m.driver.expect_start().with(eq(key("s1"))).times(1).returning(|_| Ok(SessionState::Pairing));
        let session =
            Sessions::new(m.into_ports()).create(tenant(), SessionId::new("s1").unwrap(), None).await.unwrap();
        assert_eq!(session.state, SessionState::Pairing);
        assert_eq!(session.created_at, at(10));
    }

    #[tokio::test]
    async fn a_taken_id_is_a_conflict_and_the_driver_is_not_touched() {
        let mut m = Mocks::default();
        m.sessions.expect_insert().returning(|_| Err(InsertError::AlreadyExists));
        m.driver.expect_start().never();
        let err =
            Sessions::new(m.into_ports()).create(tenant(), SessionId::new("s1").unwrap(), None).await.unwrap_err();
        assert!(matches!(err, CreateSessionError::AlreadyExists(_)));
        assert_eq!(err.code(), "session_already_exists");
    }

    fn user_id() -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(21))
    }

    fn a_user() -> User {
        User {
            id: user_id(),
            tenant: tenant(),
            name: Name::new("ana").unwrap(),
            scopes: Scopes::USER,
            token_hash: KeyHash([8; 32]),
            token_prefix: "0b5e2d1c".into(),
            password_hash: None,
            created_at: at(0),
            last_used_at: None,
            disabled_at: None,
        }
    }

    #[tokio::test]
    async fn a_session_can_be_a_users_device_once() {
        let mut m = Mocks::default();
        m.users.expect_get().returning(|_, _| Ok(Some(a_user())));
        m.sessions.expect_find_by_owner().times(1).returning(|_, _| Ok(None));
        m.sessions.expect_insert().withf(|s| s.owner == Some(user_id())).times(1).returning(|_| Ok(()));
        let s = Sessions::new(m.into_ports()).register(tenant(), SessionId::new("s1").unwrap(), Some(user_id())).await;
        assert_eq!(s.unwrap().owner, Some(user_id()));

        let mut m = Mocks::default();
        m.users.expect_get().returning(|_, _| Ok(Some(a_user())));
        m.sessions.expect_find_by_owner().returning(|_, _| Ok(Some(session("s0", SessionState::Connected))));
        m.sessions.expect_insert().never();
        let err =
            Sessions::new(m.into_ports()).register(tenant(), SessionId::new("s1").unwrap(), Some(user_id())).await;
        assert_eq!(err.unwrap_err().code(), "user_has_device");

        let mut m = Mocks::default();
        m.users.expect_get().returning(|_, _| Ok(None));
        m.sessions.expect_insert().never();
        let err =
            Sessions::new(m.into_ports()).register(tenant(), SessionId::new("s1").unwrap(), Some(user_id())).await;
        assert_eq!(err.unwrap_err().code(), "user_not_found");
    }

    #[tokio::test]
    async fn a_users_device_is_found_by_owner_and_api_keys_have_none() {
        let mut m = Mocks::default();
        m.sessions.expect_find_by_owner().returning(|_, _| Ok(Some(session("phone", SessionState::Connected))));
        m.driver.expect_state().returning(|_| Ok(SessionState::Connected.into()));
        let sessions = Sessions::new(m.into_ports());
        assert_eq!(sessions.device_of(tenant(), Some(user_id())).await.unwrap().key, key("phone"));
        assert_eq!(sessions.device_of(tenant(), None).await.unwrap_err().code(), "no_device");
    }

    #[tokio::test]
    async fn a_driver_that_cannot_start_leaves_no_session_behind() {
        let mut m = Mocks::default();
        m.sessions.expect_insert().returning(|_| Ok(()));
        m.driver.expect_start().returning(|_| Err(DriverError::Unavailable("not built in".into())));
        m.sessions.expect_delete().with(eq(key("s1"))).times(1).returning(|_| Ok(true));
        let err =
            Sessions::new(m.into_ports()).create(tenant(), SessionId::new("s1").unwrap(), None).await.unwrap_err();
        assert_eq!(err.code(), "driver_unavailable");
    }

    #[tokio::test]
    async fn reading_a_session_records_and_announces_a_state_change() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        m.driver.expect_state().returning(|_| {
            let reason = StateReason { code: "replaced", message: "another client took over".to_owned() };
            Ok(SessionCondition { state: SessionState::Disconnected, reason: Some(reason) })
        });
        m.sessions
            .expect_set_state()
            .withf(|k, state, at_, events| {
                *k == key("s1")
                    && *state == SessionState::Disconnected
                    && *at_ == at(10)
                    && events.len() == 1
                    && events[0].kind == EventKind::SessionDisconnected
            })
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        m.events.expect_emit().withf(|e| e.kind.as_str() == "session.disconnected").times(1).returning(|_| ());
        let s = Sessions::new(m.into_ports()).get(&key("s1")).await.unwrap();
        assert_eq!(s.state, SessionState::Disconnected);
        assert_eq!(s.reason.map(|r| r.code), Some("replaced"), "the driver's reason is shown");
        assert_eq!(s.updated_at, at(10));
    }

    #[tokio::test]
    async fn an_unchanged_state_writes_nothing() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        m.driver.expect_state().returning(|_| Ok(SessionState::Connected.into()));
        m.sessions.expect_set_state().never();
        m.events.expect_emit().never();
        Sessions::new(m.into_ports()).get(&key("s1")).await.unwrap();
    }

    #[tokio::test]
    async fn another_tenants_session_is_not_found() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(None));
        m.driver.expect_pair().never();
        let ports = m.into_ports();
        let err = Sessions::new(ports).pair(&key("theirs"), &PairMethod::Qr).await.unwrap_err();
        assert_eq!(err.code(), "session_not_found");
    }

    #[tokio::test]
    async fn pairing_a_paired_session_is_a_conflict() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Connected))));
        m.driver.expect_pair().returning(|_, _| Err(DriverError::AlreadyPaired));
        let err = Sessions::new(m.into_ports()).pair(&key("s1"), &PairMethod::Qr).await.unwrap_err();
        assert_eq!(err.code(), "session_already_paired");
    }

    #[tokio::test]
    async fn deleting_removes_the_record_before_the_device_state() {
        let mut m = Mocks::default();
        let mut seq = mockall::Sequence::new();
        m.sessions.expect_delete().times(1).in_sequence(&mut seq).returning(|_| Ok(true));
        m.driver.expect_remove().times(1).in_sequence(&mut seq).returning(|_| Ok(()));
        Sessions::new(m.into_ports()).delete(&key("s1")).await.unwrap();
    }

    #[tokio::test]
    async fn a_deleted_session_is_not_started_again() {
        let mut m = Mocks::default();
        // The request read the session, then a delete won the race.
        let mut reads = 0;
        m.sessions.expect_get().returning(move |_| {
            reads += 1;
            Ok((reads == 1).then(|| session("s1", SessionState::Pairing)))
        });
        m.driver.expect_pair().returning(|_, _| Err(DriverError::UnknownSession));
        m.driver.expect_start().never();
        let err = Sessions::new(m.into_ports()).pair(&key("s1"), &PairMethod::Qr).await.unwrap_err();
        assert_eq!(err.code(), "internal");
    }

    #[tokio::test]
    async fn a_session_unknown_to_the_driver_is_started_on_first_use() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|_| Ok(Some(session("s1", SessionState::Pairing))));
        let mut seq = mockall::Sequence::new();
        m.driver.expect_pair().times(1).in_sequence(&mut seq).returning(|_, _| Err(DriverError::UnknownSession));
        m.driver.expect_start().times(1).in_sequence(&mut seq).returning(|_| Ok(SessionState::Pairing));
        m.driver
            .expect_pair()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(Pairing::Qr(QrCode { payload: "2@x".into(), expires_at: at(70) })));
        m.driver.expect_state().returning(|_| Ok(SessionState::Connected.into()));
        m.sessions.expect_set_state().returning(|_, _, _, _| Ok(true));
        m.events.expect_emit().returning(|_| ());
        let (pairing, s) = Sessions::new(m.into_ports()).pair(&key("s1"), &PairMethod::Qr).await.unwrap();
        assert!(matches!(pairing, Pairing::Qr(_)));
        assert_eq!(s.state, SessionState::Connected);
    }

    #[tokio::test]
    async fn registering_does_not_touch_the_driver() {
        let mut m = Mocks::default();
        m.sessions.expect_insert().times(1).returning(|_| Ok(()));
        m.driver.expect_start().never();
        let s = Sessions::new(m.into_ports()).register(tenant(), SessionId::new("s1").unwrap(), None).await.unwrap();
        assert_eq!(s.state, SessionState::Pairing);
    }

    #[tokio::test]
    async fn faults_need_the_sandbox() {
        let m = Mocks::default();
        let err = Sessions::new(m.into_ports()).inject_fault(&key("s1"), Fault::Disconnect, 1).await.unwrap_err();
        assert_eq!(err.code(), "sandbox_only");
    }
}
