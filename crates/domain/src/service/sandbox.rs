//! Sandbox-only session use cases beyond fault injection: reading what the sandbox sent.

use crate::model::*;
use crate::ports::*;

use super::InjectFaultError;
use super::Sessions;

impl Sessions {
    /// Sandbox only: every message the driver sent for the session, oldest first, with a status
    /// sent twice showing twice (the record that proves whether any status was).
    ///
    /// [`InjectFaultError::Unsupported`] without the sandbox, [`InjectFaultError::NotFound`]
    /// if the tenant has no such session (whatever the driver remembers). A stored session the
    /// driver does not know sent nothing: an empty list. Never `NotApplicable`.
    pub async fn sandbox_sent(&self, key: &SessionKey) -> Result<Vec<SentRecord>, InjectFaultError> {
        let injector = self.ports.faults.as_ref().ok_or(InjectFaultError::Unsupported)?;
        if self.ports.sessions.get(key).await?.is_none() {
            return Err(InjectFaultError::NotFound(key.id.clone()));
        }
        match injector.sent(key).await {
            Ok(sent) => Ok(sent),
            Err(DriverError::UnknownSession) => Ok(Vec::new()),
            Err(other) => Err(InjectFaultError::Internal(other.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::service::ErrorCode;
    use crate::service::test_support::*;

    fn record(n: u128) -> SentRecord {
        SentRecord {
            message_id: MessageId::new(format!("3EB0{n:020X}")).unwrap(),
            status: StatusId::from_uuid(uuid::Uuid::from_u128(n)),
            status_type: StatusType::Text,
            recipients: vec![Recipient::parse("+15550100001").unwrap()],
            sent_at: at(n as i64),
        }
    }

    #[tokio::test]
    async fn the_sent_record_needs_the_sandbox() {
        let err = Sessions::new(Mocks::default().into_ports()).sandbox_sent(&key("s1")).await.unwrap_err();
        assert_eq!(err.code(), "sandbox_only");
    }

    #[tokio::test]
    async fn the_sent_record_needs_a_stored_session() {
        let mut m = Mocks::default();
        m.sessions.expect_get().with(eq(key("s1"))).returning(|_| Ok(None));
        m.faults = Some(MockFaultInjector::new());
        let err = Sessions::new(m.into_ports()).sandbox_sent(&key("s1")).await.unwrap_err();
        assert!(matches!(err, InjectFaultError::NotFound(_)), "{err:?}");
        assert_eq!(err.code(), "session_not_found");
    }

    #[tokio::test]
    async fn the_sent_record_comes_from_the_driver() {
        let mut m = Mocks::default();
        m.sessions.expect_get().returning(|k| Ok(Some(session(k.id.as_str(), SessionState::Connected))));
        let mut faults = MockFaultInjector::new();
        faults.expect_sent().with(eq(key("s1"))).returning(|_| Ok(vec![record(1), record(2)]));
        faults.expect_sent().with(eq(key("s2"))).returning(|_| Err(DriverError::UnknownSession));
        faults.expect_sent().with(eq(key("s3"))).returning(|_| Err(DriverError::Other(anyhow::anyhow!("disk"))));
        m.faults = Some(faults);
        let sessions = Sessions::new(m.into_ports());
        assert_eq!(sessions.sandbox_sent(&key("s1")).await.unwrap(), vec![record(1), record(2)]);
        assert!(sessions.sandbox_sent(&key("s2")).await.unwrap().is_empty());
        assert_eq!(sessions.sandbox_sent(&key("s3")).await.unwrap_err().code(), "internal");
    }
}
