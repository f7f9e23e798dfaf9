//! The sandbox driver: the devices of all sessions behind one lock, and the port implementations.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use wastatus_domain::ports::{Clock, DriverError, Fault, FaultInjector, WhatsAppDriver};
use wastatus_domain::{MessageId, PairMethod, Pairing, PreparedMedia, QrCode, SessionKey, SessionState, Status};

use crate::device::Device;
use crate::records::{Revocation, SentMessage};
use crate::rng::{SplitMix64, mix};

/// A deterministic, in-memory stand-in for WhatsApp.
///
/// Each session is a simulated companion device with its own state (see the
/// [crate documentation](crate) for the state machine). Pairing completes at once; publishes
/// succeed unless the session is offline or a fault was injected, and are recorded.
///
/// Given the same seed, the same sequence of calls and the same clock readings, the driver
/// produces the same QR payloads, pairing codes and message ids. Message ids never repeat
/// within one driver.
///
/// The driver is `Send + Sync`; all state sits behind one mutex that is held only for the
/// duration of a synchronous update, never across an `.await`.
pub struct SandboxDriver {
    clock: Arc<dyn Clock>,
    seed: u64,
    inner: Mutex<Inner>,
}

/// Everything that changes, guarded together.
struct Inner {
    rng: SplitMix64,
    message_ids: MessageIds,
    devices: HashMap<SessionKey, Device>,
}

impl SandboxDriver {
    /// A driver with a random seed, for running the product: message ids then differ from one
    /// run to the next, as they do in WhatsApp (sandbox state is lost on restart, the database
    /// is not).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_seed(clock, rand::random())
    }

    /// A driver whose output is fixed by `seed`, for reproducible tests.
    pub fn with_seed(clock: Arc<dyn Clock>, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let message_ids = MessageIds::new(&mut rng);
        Self { clock, seed, inner: Mutex::new(Inner { rng, message_ids, devices: HashMap::new() }) }
    }

    /// The seed this driver was made with; pass it to [`SandboxDriver::with_seed`] to replay.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What the session sent, oldest first; empty for a session the driver does not know.
    pub fn sent(&self, session: &SessionKey) -> Vec<SentMessage> {
        self.lock().devices.get(session).map(|device| device.sent.clone()).unwrap_or_default()
    }

    /// What the session revoked, oldest first; empty for a session the driver does not know.
    pub fn revocations(&self, session: &SessionKey) -> Vec<Revocation> {
        self.lock().devices.get(session).map(|device| device.revocations.clone()).unwrap_or_default()
    }

    /// The publish faults still queued for the session, in the order they will happen, each
    /// with how many publishes it will still fail.
    pub fn pending_faults(&self, session: &SessionKey) -> Vec<(Fault, u32)> {
        self.lock().devices.get(session).map(Device::pending_faults).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update checks before it changes anything, so a panic elsewhere while the lock
        // was held cannot have left a device half-updated: the state is still sound to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the session's device and the random source, under the lock.
    fn with_device<T>(
        &self,
        session: &SessionKey,
        f: impl FnOnce(&mut Device, &mut SplitMix64, &mut MessageIds) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let mut inner = self.lock();
        let Inner { rng, message_ids, devices } = &mut *inner;
        let device = devices.get_mut(session).ok_or(DriverError::UnknownSession)?;
        f(device, rng, message_ids)
    }
}

impl fmt::Debug for SandboxDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`, so that formatting never waits (or deadlocks) on the driver's own lock.
        let sessions = self.inner.try_lock().map(|inner| inner.devices.len()).ok();
        f.debug_struct("SandboxDriver").field("seed", &self.seed).field("sessions", &sessions).finish_non_exhaustive()
    }
}

#[async_trait]
impl WhatsAppDriver for SandboxDriver {
    async fn start(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        let mut inner = self.lock();
        let Inner { rng, devices, .. } = &mut *inner;
        Ok(devices.entry(session.clone()).or_insert_with(|| Device::new(rng)).state())
    }

    async fn state(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        self.with_device(session, |device, _, _| Ok(device.state()))
    }

    async fn pair(&self, session: &SessionKey, method: &PairMethod) -> Result<Pairing, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, rng, _| device.pair(method, rng, now))
    }

    async fn qr(&self, session: &SessionKey) -> Result<QrCode, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, rng, _| device.qr(rng, now))
    }

    async fn logout(&self, session: &SessionKey) -> Result<(), DriverError> {
        self.with_device(session, |device, _, _| device.logout())
    }

    async fn remove(&self, session: &SessionKey) -> Result<(), DriverError> {
        self.lock().devices.remove(session);
        Ok(())
    }

    async fn publish(
        &self,
        session: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<MessageId, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, ids| device.publish(session, status, media, now, || ids.next()))
    }

    async fn revoke(&self, session: &SessionKey, status: &Status) -> Result<(), DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, _| device.revoke(session, status, now))
    }
}

#[async_trait]
impl FaultInjector for SandboxDriver {
    async fn inject(&self, session: &SessionKey, fault: Fault, count: u32) -> Result<(), DriverError> {
        self.with_device(session, |device, _, _| device.inject(fault, count))
    }
}

/// Makes WhatsApp-style message ids: `3EB0` and 20 upper-case hex digits (80 bits).
///
/// The low 64 bits are a bijection of a counter, so ids cannot repeat within one driver; the
/// keys, drawn from the seed, make them look random and differ between seeds.
struct MessageIds {
    next: u64,
    low_key: u64,
    high_key: u64,
}

impl MessageIds {
    /// What every id starts with, as for messages sent from WhatsApp Web companions.
    const PREFIX: &'static str = "3EB0";

    fn new(rng: &mut SplitMix64) -> Self {
        Self { next: 0, low_key: rng.next_u64(), high_key: rng.next_u64() }
    }

    fn next(&mut self) -> MessageId {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        // Adding a constant and `mix` are both bijections, so distinct counters give distinct
        // low halves.
        let low = mix(n.wrapping_add(self.low_key));
        let high = mix(n ^ self.high_key) >> 48;
        let id = format!("{}{high:04X}{low:016X}", Self::PREFIX);
        // 24 ASCII letters and digits always make a valid message id.
        MessageId::new(id).expect("a 3EB0 id of 24 hex digits is a valid message id")
    }
}

#[cfg(test)]
mod tests;
