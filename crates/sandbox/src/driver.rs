//! The sandbox driver: the devices of all sessions behind one lock, and the port implementations.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use wastatus_domain::ports::{
    Clock, DriverError, Fault, FaultInjector, Published, SendCheck, SentRecord, WhatsAppDriver,
};
use wastatus_domain::{
    Contact, MessageId, PairMethod, Pairing, PreparedMedia, QrCode, SessionCondition, SessionKey, SessionState, Status,
};

use crate::device::Device;
use crate::journal::{Journal, Record};
use crate::records::{Revocation, SentMessage};
use crate::rng::{SplitMix64, mix};

/// A deterministic stand-in for WhatsApp, in memory or kept in a journal.
///
/// Each session is a simulated companion device with its own state (see the
/// [crate documentation](crate) for the state machine). Pairing completes at once; publishes
/// succeed unless the session is offline or a fault was injected, and are recorded.
///
/// Given the same seed, the same sequence of calls and the same clock readings, an in-memory
/// driver produces the same QR payloads, pairing codes and message ids. Message ids never
/// repeat within one driver, nor, for a [persistent](SandboxDriver::persistent) driver, across
/// the restarts that share its journal.
///
/// The driver is `Send + Sync`; all state sits behind one mutex that is held only for the
/// duration of a synchronous update (for a persistent driver, including the append of one
/// journal line), never across an `.await`.
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
    journal: Journal,
}

impl SandboxDriver {
    /// An in-memory driver with a random seed: message ids differ from one run to the next, as
    /// they do in WhatsApp. Its state is lost when the process ends (the database's is not);
    /// see [`SandboxDriver::persistent`] for a driver that keeps it.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_seed(clock, rand::random())
    }

    /// An in-memory driver whose output is fixed by `seed`, for reproducible tests.
    pub fn with_seed(clock: Arc<dyn Clock>, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let message_ids = MessageIds::new(&mut rng);
        let inner = Inner { rng, message_ids, devices: HashMap::new(), journal: Journal::none() };
        Self { clock, seed, inner: Mutex::new(inner) }
    }

    /// A driver that keeps what must survive a restart in a journal in `dir`
    /// (`sandbox-journal.jsonl`, created with the directory if need be), and reads it back
    /// first: linked sessions and their state (connected, disconnected, logged out; removed
    /// ones are forgotten), every message sent and every revocation. Each record is appended
    /// before the operation that makes it succeeds, so a publish that returned a message id is
    /// in the journal even if the process is killed right after. Sessions still pairing and
    /// queued publish faults are not kept.
    ///
    /// The seed is random; message ids are checked against those in the journal, so they stay
    /// unique across restarts.
    ///
    /// **One process per directory.** The driver holds an exclusive lock on the journal while it
    /// lives; opening a journal that another driver (of this or another process) holds fails
    /// with [`io::ErrorKind::ResourceBusy`]. A torn last line (the process died while writing
    /// it) is dropped with a warning; any other unreadable line fails with
    /// [`io::ErrorKind::InvalidData`].
    pub fn persistent(clock: Arc<dyn Clock>, dir: &Path) -> io::Result<Self> {
        Self::persistent_with_seed(clock, dir, rand::random())
    }

    /// [`SandboxDriver::persistent`] with a fixed seed, for tests. Replaying the same seed
    /// over a journal does not repeat the journal's message ids: those are skipped.
    pub fn persistent_with_seed(clock: Arc<dyn Clock>, dir: &Path, seed: u64) -> io::Result<Self> {
        let (journal, records) = Journal::open(dir, clock.now())?;
        let mut rng = SplitMix64::new(seed);
        let mut message_ids = MessageIds::new(&mut rng);
        let mut devices: HashMap<SessionKey, Device> = HashMap::new();
        let invalid = |what: String| {
            let path = journal.path().map(|p| p.display().to_string()).unwrap_or_default();
            io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {what}"))
        };
        for record in records {
            let Some(key) = record.session() else { continue };
            if let Record::Sent(line) = &record {
                message_ids.taken.insert(line.message_id().map_err(&invalid)?);
            }
            if let Record::Removed { .. } = record {
                devices.remove(&key);
                continue;
            }
            let device = devices.entry(key.clone()).or_insert_with(Device::restored);
            device.replay(record).map_err(|e| invalid(format!("session {key}: {e}")))?;
        }
        let inner = Inner { rng, message_ids, devices, journal };
        Ok(Self { clock, seed, inner: Mutex::new(inner) })
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

    /// Runs `f` on the session's device, the random source, the message ids and the journal,
    /// under the lock.
    fn with_device<T>(
        &self,
        session: &SessionKey,
        f: impl FnOnce(&mut Device, &mut SplitMix64, &mut MessageIds, &mut Journal) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let mut inner = self.lock();
        let Inner { rng, message_ids, devices, journal } = &mut *inner;
        let device = devices.get_mut(session).ok_or(DriverError::UnknownSession)?;
        f(device, rng, message_ids, journal)
    }
}

impl fmt::Debug for SandboxDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`, so that formatting never waits (or deadlocks) on the driver's own lock.
        let inner = self.inner.try_lock().ok();
        let sessions = inner.as_ref().map(|inner| inner.devices.len());
        let journal = inner.as_ref().map(|inner| inner.journal.path().map(Path::to_path_buf));
        f.debug_struct("SandboxDriver")
            .field("seed", &self.seed)
            .field("sessions", &sessions)
            .field("journal", &journal)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl WhatsAppDriver for SandboxDriver {
    async fn start(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        let mut inner = self.lock();
        let Inner { rng, devices, .. } = &mut *inner;
        Ok(devices.entry(session.clone()).or_insert_with(|| Device::new(rng)).state())
    }

    async fn state(&self, session: &SessionKey) -> Result<SessionCondition, DriverError> {
        self.with_device(session, |device, _, _, _| Ok(device.condition()))
    }

    async fn restart(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, _, journal| device.restart(session, now, journal))
    }

    async fn contacts(&self, session: &SessionKey) -> Result<Vec<Contact>, DriverError> {
        self.with_device(session, |device, _, _, _| Ok(device.contacts()))
    }

    async fn pair(&self, session: &SessionKey, method: &PairMethod) -> Result<Pairing, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, rng, _, journal| device.pair(session, method, rng, now, journal))
    }

    async fn qr(&self, session: &SessionKey) -> Result<QrCode, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, rng, _, _| device.qr(rng, now))
    }

    async fn logout(&self, session: &SessionKey) -> Result<(), DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, _, journal| device.logout(session, now, journal))
    }

    async fn remove(&self, session: &SessionKey) -> Result<(), DriverError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if inner.devices.contains_key(session) {
            inner.journal.append(|| Record::Removed {
                tenant: session.tenant,
                session: session.id.clone(),
                at: now,
            })?;
            inner.devices.remove(session);
        }
        Ok(())
    }

    async fn publish(
        &self,
        session: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<Published, DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, ids, journal| {
            device.publish(session, status, media, now, || ids.next(), journal)
        })
    }

    async fn revoke(&self, session: &SessionKey, status: &Status) -> Result<(), DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, _, journal| device.revoke(session, status, now, journal))
    }

    /// [`SendCheck::Sent`] with the message id of the latest send of `status` by this session,
    /// else [`SendCheck::NotSent`]: every send is recorded (and, for a persistent driver,
    /// journaled) before `publish` returns, so one that is not recorded did not happen. An
    /// unknown session sent nothing. A removed session's sends are forgotten with it.
    async fn reconcile(&self, session: &SessionKey, status: &Status) -> Result<SendCheck, DriverError> {
        let inner = self.lock();
        // A session this driver has no device for may have been sent through by another
        // process (with a journal of its own): this one cannot tell.
        let Some(device) = inner.devices.get(session) else { return Ok(SendCheck::Unknown) };
        let latest = device.sent.iter().rev().find(|sent| sent.status_id == status.id());
        Ok(latest.map_or(SendCheck::NotSent, |sent| {
            SendCheck::Sent(Published { message_id: sent.message_id.clone(), reach: sent.reach() })
        }))
    }
}

#[async_trait]
impl FaultInjector for SandboxDriver {
    async fn inject(&self, session: &SessionKey, fault: Fault, count: u32) -> Result<(), DriverError> {
        let now = self.clock.now();
        self.with_device(session, |device, _, _, journal| device.inject(session, fault, count, now, journal))
    }

    /// Every message the session sent, oldest first (one record per send: a status sent twice
    /// shows twice). A session the driver does not know sent nothing and gets an empty list,
    /// like [`SandboxDriver::sent`]: the use case checks that the session exists.
    async fn sent(&self, session: &SessionKey) -> Result<Vec<SentRecord>, DriverError> {
        let inner = self.lock();
        let Some(device) = inner.devices.get(session) else { return Ok(Vec::new()) };
        Ok(device
            .sent
            .iter()
            .map(|sent| SentRecord {
                message_id: sent.message_id.clone(),
                status: sent.status_id,
                status_type: sent.status_type,
                recipients: sent.recipients.clone(),
                sent_at: sent.sent_at,
            })
            .collect())
    }
}

/// Makes WhatsApp-style message ids: `3EB0` and 20 upper-case hex digits (80 bits).
///
/// The low 64 bits are a bijection of a counter, so ids cannot repeat within one driver; the
/// keys, drawn from the seed, make them look random and differ between seeds. Ids of earlier
/// runs (read from the journal) are `taken` and skipped, so they cannot repeat across restarts
/// either, whatever the seeds.
struct MessageIds {
    next: u64,
    low_key: u64,
    high_key: u64,
    taken: HashSet<MessageId>,
}

impl MessageIds {
    /// What every id starts with, as for messages sent from WhatsApp Web companions.
    const PREFIX: &'static str = "3EB0";

    fn new(rng: &mut SplitMix64) -> Self {
        Self { next: 0, low_key: rng.next_u64(), high_key: rng.next_u64(), taken: HashSet::new() }
    }

    /// The next id that no earlier run used.
    fn next(&mut self) -> MessageId {
        loop {
            let id = self.generate();
            if !self.taken.contains(&id) {
                return id;
            }
        }
    }

    fn generate(&mut self) -> MessageId {
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
