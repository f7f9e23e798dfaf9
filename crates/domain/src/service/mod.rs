//! The use cases. Each takes validated commands, talks to the outside only through
//! [`crate::ports`], and fails with an error enum of its own whose variants carry a stable
//! snake_case [`ErrorCode::code`].

mod access;
mod sandbox;
mod sessions;
mod statuses;
mod tenancy;
mod webhooks;

use std::sync::Arc;

pub use access::*;
pub use sessions::*;
pub use statuses::*;
pub use tenancy::*;
pub use webhooks::*;

use crate::ports::*;

/// A stable, snake_case code for an error, which clients can switch on.
pub trait ErrorCode {
    fn code(&self) -> &'static str;
}

/// The adapters the use cases run on.
#[derive(Clone)]
pub struct Ports {
    pub tenants: Arc<dyn TenantRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub statuses: Arc<dyn StatusRepository>,
    pub driver: Arc<dyn WhatsAppDriver>,
    /// Present only with the sandbox driver.
    pub faults: Option<Arc<dyn FaultInjector>>,
    pub media: Arc<dyn MediaPreparer>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub keys: Arc<dyn KeyMint>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub access_tokens: Arc<dyn AccessTokens>,
    /// How fast each session may publish; `None` leaves publishing unpaced.
    pub pace: Option<Arc<dyn PublishPace>>,
    pub events: Arc<dyn EventSink>,
}

/// Runs a driver operation on a stored session, starting the session in the driver first if
/// the driver does not know it yet: the session records are the truth, and a driver (after a
/// restart, or for a session registered by another process) catches up on first use.
///
/// A session is started only while its record exists, so a request racing a delete cannot
/// bring the deleted session back to life in the driver.
pub(crate) async fn on_started<T, F, Fut>(
    ports: &Ports,
    key: &crate::model::SessionKey,
    op: F,
) -> Result<T, DriverError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, DriverError>>,
{
    match op().await {
        Err(DriverError::UnknownSession) => {
            let stored = ports.sessions.get(key).await.map_err(|e| DriverError::Other(e.0))?;
            if stored.is_none() {
                return Err(DriverError::UnknownSession);
            }
            ports.driver.start(key).await?;
            op().await
        }
        other => other,
    }
}

/// Implements `From<StorageError>` and `From<anyhow::Error>` for use-case errors with an
/// `Internal(anyhow::Error)` variant.
macro_rules! internal_from_storage {
    ($($error:ty),* $(,)?) => {$(
        impl From<$crate::ports::StorageError> for $error {
            fn from(e: $crate::ports::StorageError) -> Self {
                Self::Internal(e.0)
            }
        }

        impl From<anyhow::Error> for $error {
            fn from(e: anyhow::Error) -> Self {
                Self::Internal(e)
            }
        }
    )*};
}
pub(crate) use internal_from_storage;

#[cfg(test)]
pub(crate) mod test_support {
    //! Mock ports with sensible defaults, so each test states only what matters to it.

    use std::sync::Arc;

    use chrono::DateTime;

    use super::Ports;
    use crate::model::*;
    use crate::ports::*;

    /// A confirmed send under `message_id`, to three people, one of the audience unresolved.
    pub fn confirmed(message_id: &str) -> Published {
        let unresolved = vec![Recipient::parse("+15550100000").unwrap()];
        Published { message_id: MessageId::new(message_id).unwrap(), reach: Reach { recipients: 3, unresolved } }
    }

    pub fn at(secs: i64) -> Timestamp {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    pub fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(1))
    }

    pub fn key(id: &str) -> SessionKey {
        SessionKey { tenant: tenant(), id: SessionId::new(id).unwrap() }
    }

    pub fn session(id: &str, state: SessionState) -> Session {
        Session { key: key(id), owner: None, state, reason: None, created_at: at(0), updated_at: at(0) }
    }

    pub fn text_content(text: &str) -> StatusContent {
        StatusContent::Text(TextStatus {
            text: StatusText::new(text).unwrap(),
            background_color: BackgroundColor::DEFAULT,
            font: Font::SansSerif,
        })
    }

    /// The mocks, to be given expectations and then turned into [`Ports`].
    #[derive(Default)]
    pub struct Mocks {
        pub tenants: MockTenantRepository,
        pub api_keys: MockApiKeyRepository,
        pub users: MockUserRepository,
        pub sessions: MockSessionRepository,
        pub statuses: MockStatusRepository,
        pub driver: MockWhatsAppDriver,
        pub faults: Option<MockFaultInjector>,
        pub media: MockMediaPreparer,
        pub keys: MockKeyMint,
        pub passwords: MockPasswordHasher,
        pub access_tokens: MockAccessTokens,
        pub pace: Option<MockPublishPace>,
        pub events: MockEventSink,
    }

    impl Mocks {
        pub fn into_ports(self) -> Ports {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(at(10));
            let mut ids = MockIdGenerator::new();
            ids.expect_uuid().returning(|| uuid::Uuid::from_u128(42));
            Ports {
                tenants: Arc::new(self.tenants),
                api_keys: Arc::new(self.api_keys),
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                statuses: Arc::new(self.statuses),
                driver: Arc::new(self.driver),
                faults: self.faults.map(|f| Arc::new(f) as Arc<dyn FaultInjector>),
                media: Arc::new(self.media),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
                keys: Arc::new(self.keys),
                passwords: Arc::new(self.passwords),
                access_tokens: Arc::new(self.access_tokens),
                pace: self.pace.map(|p| Arc::new(p) as Arc<dyn PublishPace>),
                events: Arc::new(self.events),
            }
        }
    }
}
