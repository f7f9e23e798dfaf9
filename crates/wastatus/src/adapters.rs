//! Small adapters that belong to the running process rather than to an adapter crate: the
//! system clock, id generation, the event log, rate limits for HTTP, and the driver of admin commands for a driver not in this build.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use wastatus_auth::KeyedLimiter;
use wastatus_domain::ports::{Clock, DriverError, EventSink, IdGenerator, Published, WhatsAppDriver};
use wastatus_domain::{
    Contact, Event, EventKind, PairMethod, Pairing, PreparedMedia, QrCode, SessionCondition, SessionKey, SessionState,
    Status, Timestamp,
};
use wastatus_http::{JobQueue, RequestLimit};
use wastatus_worker::WorkerHandle;

/// The system clock, truncated to microseconds (what storage keeps).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now().trunc_subsecs(6)
    }
}

/// Time-ordered UUID v7 ids.
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// Logs events once they are stored, and counts them, and wakes the webhook dispatcher (which
/// reads them from the outbox).
pub struct EventLog(pub wastatus_webhooks::Nudge);

#[async_trait]
impl EventSink for EventLog {
    async fn emit(&self, event: &Event) {
        self.0.wake();
        let kind = event.kind.as_str();
        metrics::counter!("wastatus_events_total", "type" => kind).increment(1);
        let session = &event.session;
        match &event.status {
            Some(status) => match &status.failure_code {
                Some(failure) if event.kind == EventKind::StatusFailed => {
                    tracing::warn!(event = kind, status = %status.id, %session, failure = failure.as_str());
                }
                _ => tracing::info!(event = kind, status = %status.id, %session, message_id = ?status.message_id),
            },
            None => tracing::info!(event = kind, %session),
        }
    }
}

/// A keyed rate limit (per credential, per username) as the HTTP adapter asks for it.
pub struct KeyedLimit(pub KeyedLimiter<String>);

impl RequestLimit for KeyedLimit {
    fn admit(&self, key: &str) -> Result<(), Duration> {
        self.0.check(&key.to_owned())
    }
}

/// Wakes the job workers when the HTTP API queues a status.
pub struct WakeWorker(pub WorkerHandle);

impl JobQueue for WakeWorker {
    fn queued(&self) {
        self.0.wake();
    }
}

/// The driver of processes that must not run WhatsApp sessions (the admin CLI, while a server
/// may be running them): every operation answers [`DriverError::Unavailable`], so nothing
/// pretends to work and no second client ever connects on a device's credentials.
pub struct NoDriver;

impl NoDriver {
    fn error() -> DriverError {
        DriverError::Unavailable("this process does not run WhatsApp sessions; the server does".to_owned())
    }
}

#[async_trait]
impl WhatsAppDriver for NoDriver {
    async fn start(&self, _: &SessionKey) -> Result<SessionState, DriverError> {
        Err(Self::error())
    }
    async fn state(&self, _: &SessionKey) -> Result<SessionCondition, DriverError> {
        Err(Self::error())
    }
    async fn restart(&self, _: &SessionKey) -> Result<SessionState, DriverError> {
        Err(Self::error())
    }
    async fn contacts(&self, _: &SessionKey) -> Result<Vec<Contact>, DriverError> {
        Err(Self::error())
    }
    async fn pair(&self, _: &SessionKey, _: &PairMethod) -> Result<Pairing, DriverError> {
        Err(Self::error())
    }
    async fn qr(&self, _: &SessionKey) -> Result<QrCode, DriverError> {
        Err(Self::error())
    }
    async fn logout(&self, _: &SessionKey) -> Result<(), DriverError> {
        Err(Self::error())
    }
    async fn remove(&self, _: &SessionKey) -> Result<(), DriverError> {
        Ok(())
    }
    async fn publish(&self, _: &SessionKey, _: &Status, _: Option<PreparedMedia>) -> Result<Published, DriverError> {
        Err(Self::error())
    }
    async fn revoke(&self, _: &SessionKey, _: &Status) -> Result<(), DriverError> {
        Err(Self::error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_keeps_microseconds_only() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn ids_are_v7_and_increasing() {
        let a = UuidV7.uuid();
        let b = UuidV7.uuid();
        assert_eq!(a.get_version_num(), 7);
        assert!(b > a);
    }
}
