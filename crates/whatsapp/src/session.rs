//! One session: its state, its journal, and the task that runs its whatsapp-rust client.
//!
//! The **core** ([`Core`]) is what everything shares: the state machine, the acknowledgements
//! awaited by publishes, the send journal, the contacts and the session's paths.
//! whatsapp-rust's events reach it through [`SessionEvents`]; connection attempts reach it
//! through [`ObservedTransport`] and [`ObservedHttp`], which wrap the real transport and HTTP
//! client to learn why a connection fails (whatsapp-rust retries failed connects quietly,
//! without an event).
//!
//! The **supervisor** (one Tokio task per session) owns the client. It builds a `Bot` over the
//! session's device store, runs it (whatsapp-rust reconnects by itself after drops, with
//! Fibonacci back-off up to 15 minutes), and when the client's run loop ends it decides what
//! next from the state: wipe the device after a logout; wait for an operator (or a new pairing)
//! after a terminal reason; wait out a temporary ban; wait for a request before a new round of
//! QR codes; otherwise rebuild the client after a back-off. A client that was disconnected
//! cannot be started again, so every restart builds a new `Bot` over the same store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use wastatus_domain::ports::{Clock, DriverError};
use wastatus_domain::{SessionCondition, SessionKey, SessionState};
use whatsapp_rust::bot::Bot;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::store::traits::Backend;
use whatsapp_rust::sync_task::MajorSyncTask;
use whatsapp_rust::transport::{Transport, TransportEvent, TransportFactory};
use whatsapp_rust::types::events::{Event, EventHandler, EventInterest, EventKind, ServerAck};
use whatsapp_rust::wacore::appstate::patch_decode::WAPatchName;
use whatsapp_rust::wacore::store::InMemoryBackend;
use whatsapp_rust::{Client, TokioRuntime};

use crate::config::{DeviceStore, WebDriverConfig};
use crate::contacts::ContactBook;
use crate::ledger::{Entry, Ledger};
use crate::state::{Connection, Effect, Link, Machine, Persisted, SessionStatus, Terminal};

/// The server's verdict on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ack {
    Accepted,
    /// A negative acknowledgement, with its code (e.g. `479`).
    Rejected(String),
}

/// Where a session's files are.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The SQLite device store (`None` for an in-memory store).
    pub db: Option<PathBuf>,
    pub sends: PathBuf,
    pub status: PathBuf,
    pub contacts: PathBuf,
}

impl Paths {
    pub fn of(store: &DeviceStore, key: &SessionKey) -> Self {
        let dir = store.dir().join(key.tenant.to_string());
        let id = key.id.as_str();
        Self {
            db: matches!(store, DeviceStore::Files(_)).then(|| dir.join(format!("{id}.db"))),
            sends: dir.join(format!("{id}.sends.jsonl")),
            status: dir.join(format!("{id}.status.json")),
            contacts: dir.join(format!("{id}.contacts.json")),
        }
    }

    /// Deletes the device store (with SQLite's companions).
    pub fn wipe_device(&self) -> std::io::Result<()> {
        if let Some(db) = &self.db {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                remove_if_exists(&PathBuf::from(format!("{}{suffix}", db.display())))?;
            }
        }
        Ok(())
    }

    /// Deletes everything the session keeps.
    pub fn wipe_all(&self) -> std::io::Result<()> {
        self.wipe_device()?;
        remove_if_exists(&self.sends)?;
        remove_if_exists(&self.contacts)?;
        remove_if_exists(&self.contacts.with_extension("json.tmp"))?;
        remove_if_exists(&self.status)
    }
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What a session shares with its client's event handler, transport and HTTP client.
pub(crate) struct Core {
    pub key: SessionKey,
    pub clock: Arc<dyn Clock>,
    pub paths: Paths,
    pub ledger: Ledger,
    /// The linked account's contacts.
    pub contacts: Arc<ContactBook>,
    machine: Mutex<Machine>,
    /// Bumped on every change, for those who wait for one (pairing, QR codes).
    changed: watch::Sender<u64>,
    /// Message id → the publish waiting for the server's verdict.
    acks: Mutex<HashMap<String, oneshot::Sender<Ack>>>,
    /// A transport was opened and no answer came on it yet (if the next attempt starts first,
    /// the handshake or login failed).
    transport_pending: AtomicBool,
    /// The device was logged out: its store must be wiped once the client has stopped.
    wipe_pending: AtomicBool,
    /// Set when the session is being stopped; observed by the transport and HTTP wrappers so
    /// that a connection attempt in flight ends at once.
    pub stopping: watch::Sender<bool>,
    /// Serialises writes of the status file.
    persisting: Mutex<()>,
    /// The running client, for the work events start (without keeping it alive).
    client: Mutex<Weak<Client>>,
    /// A full sync of the contacts was asked for (see [`Core::backfill_contacts`]).
    backfill_requested: AtomicBool,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> SessionStatus {
        self.lock().status(self.clock.now())
    }

    pub fn state(&self) -> SessionState {
        self.lock().state()
    }

    /// The state, with its reason.
    pub fn condition(&self) -> SessionCondition {
        self.lock().condition()
    }

    pub fn link(&self) -> Link {
        self.lock().link()
    }

    /// Runs `f` on the state machine and tells the waiters.
    pub fn update<T>(&self, f: impl FnOnce(&mut Machine) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Applies one of the client's events.
    pub fn on_event(self: &Arc<Self>, event: &Event) {
        // Contacts come by the thousand during a sync and say nothing about the state. They
        // belong to the linked account: once it is logged out, a sync still in flight must not
        // bring its address book back (nor hand it to the next phone to pair).
        if matches!(event, Event::ContactUpdate(_) | Event::ContactNumberChanged(_)) {
            if self.lock().link() == Link::Paired {
                self.contacts.on_event(event);
            }
            return;
        }
        let now = self.clock.now();
        if matches!(event, Event::PairingQrCode(_) | Event::Connected(_) | Event::PairSuccess(_)) {
            self.transport_pending.store(false, Ordering::SeqCst);
        }
        if let Event::ServerAck(ack) = event {
            self.on_ack(ack);
        }
        let effect = self.update(|m| m.apply(event, now));
        match effect {
            Effect::None => {}
            Effect::WipeDevice => {
                self.contacts.clear();
                self.wipe_pending.store(true, Ordering::SeqCst);
                self.persist();
            }
            Effect::PersistTerminal => self.persist(),
        }
        match event {
            Event::Connected(_) => {
                tracing::info!(session = %self.key, "WhatsApp session connected");
                self.backfill_contacts();
            }
            Event::PairSuccess(_) => {
                // A new account: nothing of an earlier one's address book carries over.
                self.contacts.clear();
                tracing::info!(session = %self.key, "WhatsApp session paired");
            }
            Event::Disconnected(_)
            | Event::LoggedOut(_)
            | Event::StreamReplaced(_)
            | Event::TemporaryBan(_)
            | Event::ConnectFailure(_)
            | Event::ClientOutdated(_) => {
                let status = self.status();
                tracing::warn!(session = %self.key, state = %status.state, reason = ?status.reason, "WhatsApp session changed");
            }
            _ => {}
        }
    }

    /// Asks for a full sync of the contacts collection (`critical_unblock_low`) once per run
    /// of a session that has none when it connects. A device paired by this driver got them
    /// before it connected (whatsapp-rust syncs the collection as a snapshot after pairing),
    /// but one paired before the driver kept contacts, or whose contacts file was lost, only
    /// gets later changes: its device store says the collection is up to date.
    fn backfill_contacts(&self) {
        if !self.contacts.is_empty() || self.backfill_requested.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(client) = self.client.lock().unwrap_or_else(PoisonError::into_inner).upgrade() else {
            self.backfill_requested.store(false, Ordering::SeqCst);
            return;
        };
        tracing::info!(session = %self.key, "no contacts known: asking WhatsApp for the address book");
        spawn_detached(async move {
            // whatsapp-rust retries it by itself until the collection synced (or the client
            // stops); the contacts arrive as events.
            let task = MajorSyncTask::AppStateSync { name: WAPatchName::CriticalUnblockLow, full_sync: true };
            client.process_sync_task(task).await;
        });
    }

    /// Remembers the running client (or that none runs).
    fn set_client(&self, client: Option<&Arc<Client>>) {
        // A new client may ask for the address book again: the last one's request may have
        // died with it.
        self.backfill_requested.store(false, Ordering::SeqCst);
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = client.map(Arc::downgrade).unwrap_or_default();
    }

    /// Deletes the device state and the contacts of a logged-out device.
    pub fn wipe_device(&self) -> std::io::Result<()> {
        self.contacts.wipe()?;
        self.paths.wipe_device()
    }

    fn on_ack(&self, ack: &ServerAck) {
        if ack.class.as_deref().is_some_and(|class| class != "message") {
            return;
        }
        let verdict = match &ack.error {
            Some(code) => Ack::Rejected(code.clone()),
            None => Ack::Accepted,
        };
        let waiter = self.acks.lock().unwrap_or_else(PoisonError::into_inner).remove(&ack.id);
        let verdict = match waiter {
            Some(waiter) => match waiter.send(verdict) {
                Ok(()) => return,
                // The publish stopped waiting (time-out): record the late verdict ourselves.
                Err(verdict) => verdict,
            },
            None => verdict,
        };
        if self.ledger.knows(&ack.id) {
            let at = self.clock.now();
            let entry = match verdict {
                // The journal knows which chunk was waiting for it.
                Ack::Accepted => Entry::Acked { message_id: ack.id.clone(), chunk: None, at },
                Ack::Rejected(code) => Entry::Rejected { message_id: ack.id.clone(), chunk: None, code, at },
            };
            let ledger = self.ledger.clone();
            let key = self.key.clone();
            spawn_detached(async move {
                if let Err(e) = ledger.append(entry).await {
                    tracing::error!(session = %key, error = %e, "could not record a late acknowledgement");
                }
            });
        }
    }

    /// Waits for the server's verdict on `message_id` from now on; the receiver gets it.
    pub fn expect_ack(&self, message_id: &str) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        self.acks.lock().unwrap_or_else(PoisonError::into_inner).insert(message_id.to_owned(), tx);
        rx
    }

    /// Stops waiting for `message_id`'s verdict.
    pub fn forget_ack(&self, message_id: &str) {
        self.acks.lock().unwrap_or_else(PoisonError::into_inner).remove(message_id);
    }

    /// A connection attempt begins.
    fn attempt_started(&self) {
        if self.transport_pending.swap(false, Ordering::SeqCst) {
            let now = self.clock.now();
            let reason = "WhatsApp closed the connection before logging in (handshake or login failed); retrying";
            self.update(|m| m.connect_failed(reason.to_owned(), now));
        }
    }

    /// A connection attempt failed before any event.
    fn connect_failed(&self, reason: String) {
        let now = self.clock.now();
        tracing::debug!(session = %self.key, %reason, "WhatsApp connection attempt failed");
        self.update(|m| m.connect_failed(reason, now));
    }

    fn is_online(&self) -> bool {
        matches!(self.lock().connection(), Connection::Online)
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Writes the terminal reason to the status file, in the background.
    fn persist(self: &Arc<Self>) {
        let core = self.clone();
        spawn_detached(async move {
            let key = core.key.clone();
            let written = tokio::task::spawn_blocking(move || core.persist_now()).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::error!(session = %key, error = %e, "could not keep the session's status");
            }
        });
    }

    /// Writes the terminal reason to the status file now. Writes are serialised and each
    /// writes the state of its own moment, so the last one leaves the latest state.
    pub fn persist_now(&self) -> std::io::Result<()> {
        let _one_at_a_time = self.persisting.lock().unwrap_or_else(PoisonError::into_inner);
        let persisted = Persisted { terminal: self.lock().terminal().cloned() };
        write_persisted(&self.paths.status, &persisted)
    }
}

fn write_persisted(path: &Path, persisted: &Persisted) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_vec(persisted).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

fn read_persisted(path: &Path) -> Option<Persisted> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(persisted) => Some(persisted),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable session status file");
            None
        }
    }
}

/// Spawns on the current Tokio runtime, if there is one (events are dispatched on it).
pub(crate) fn spawn_detached(future: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(future);
    }
}

/// Hands whatsapp-rust's events to the session's core. Runs inline on the dispatch path, so it
/// only updates memory (and spawns the rare file write).
pub(crate) struct SessionEvents(pub Arc<Core>);

impl EventHandler for SessionEvents {
    fn handle_event(&self, event: Arc<Event>) {
        self.0.on_event(&event);
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(&[
            EventKind::Connected,
            EventKind::Disconnected,
            EventKind::PairSuccess,
            EventKind::PairError,
            EventKind::LoggedOut,
            EventKind::PairingQrCode,
            EventKind::PairingCode,
            EventKind::PairingCodeError,
            EventKind::PairingQrCodesExhausted,
            EventKind::QrScannedWithoutMultidevice,
            EventKind::ClientOutdated,
            EventKind::StreamReplaced,
            EventKind::TemporaryBan,
            EventKind::ConnectFailure,
            EventKind::ServerAck,
            EventKind::ContactUpdate,
            EventKind::ContactNumberChanged,
        ])
    }
}

/// Waits until `stopping` is set.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The transport factory a session's client uses: the real one (or a test's), watched.
pub(crate) struct ObservedTransport {
    pub inner: Arc<dyn TransportFactory>,
    pub core: Arc<Core>,
}

#[async_trait]
impl TransportFactory for ObservedTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, whatsapp_rust::async_channel::Receiver<TransportEvent>), anyhow::Error> {
        self.core.attempt_started();
        let result = tokio::select! {
            result = self.inner.create_transport() => result,
            () = stopped(self.core.stopping.subscribe()) => Err(anyhow::anyhow!("the session is stopping")),
        };
        match &result {
            Ok(_) => self.core.transport_pending.store(true, Ordering::SeqCst),
            Err(_) if self.core.is_stopping() => {}
            Err(e) => self.core.connect_failed(format!("cannot reach WhatsApp: {e:#}; retrying with back-off")),
        }
        result
    }
}

/// The HTTP client a session's client uses, watched: a failure while not connected (the
/// version look-up made at each connect) is why the connection fails.
pub(crate) struct ObservedHttp {
    pub inner: Arc<dyn HttpClient>,
    pub core: Arc<Core>,
}

#[async_trait]
impl HttpClient for ObservedHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let host = crate::http::host_of(&request.url);
        let result = tokio::select! {
            result = self.inner.execute(request) => result,
            () = stopped(self.core.stopping.subscribe()) => Err(anyhow::anyhow!("the session is stopping")),
        };
        if let Err(e) = &result
            && !self.core.is_online()
            && !self.core.is_stopping()
        {
            self.core.connect_failed(format!("cannot reach WhatsApp ({host}): {e:#}; retrying with back-off"));
        }
        result
    }
}

/// What every session needs from the driver.
#[derive(Clone)]
pub(crate) struct Deps {
    pub config: Arc<WebDriverConfig>,
    pub clock: Arc<dyn Clock>,
    pub transport: Arc<dyn TransportFactory>,
    pub http: Arc<dyn HttpClient>,
}

/// A running session: its core and the handle of its supervisor.
pub(crate) struct Session {
    pub core: Arc<Core>,
    client: Arc<Mutex<Option<Arc<Client>>>>,
    wake: Arc<Notify>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    /// Opens the session's files, builds its first client (offline: this only reads the device
    /// store) and starts its supervisor. A session stopped for a terminal reason stays stopped.
    pub async fn launch(key: &SessionKey, deps: &Deps) -> Result<Self, DriverError> {
        let paths = Paths::of(&deps.config.store, key);
        let ledger = Ledger::open(&paths.sends).map_err(|e| {
            DriverError::Other(anyhow::anyhow!("opening the send journal {}: {e}", paths.sends.display()))
        })?;
        let terminal = read_persisted(&paths.status).and_then(|p| p.terminal);
        let contacts = Arc::new(ContactBook::open(paths.contacts.clone(), deps.config.contacts_write_delay));
        let now = deps.clock.now();
        let core = Arc::new(Core {
            key: key.clone(),
            clock: deps.clock.clone(),
            paths,
            ledger,
            contacts,
            machine: Mutex::new(Machine::new(Link::Unpaired, terminal.clone(), now)),
            changed: watch::channel(0).0,
            acks: Mutex::new(HashMap::new()),
            transport_pending: AtomicBool::new(false),
            wipe_pending: AtomicBool::new(false),
            stopping: watch::channel(false).0,
            persisting: Mutex::new(()),
            client: Mutex::new(Weak::new()),
            backfill_requested: AtomicBool::new(false),
        });
        let first = match &terminal {
            // A logged-out device was wiped; nothing to build until it pairs again.
            Some(Terminal::LoggedOut { .. }) => None,
            _ => {
                let (bot, link) = build_bot(&core, deps).await.map_err(|e| {
                    DriverError::Other(anyhow::anyhow!("opening the device store of session {key}: {e:#}"))
                })?;
                core.update(|m| *m = Machine::new(link, terminal.clone(), now));
                Some(bot)
            }
        };
        let session = Self {
            core: core.clone(),
            client: Arc::new(Mutex::new(None)),
            wake: Arc::new(Notify::new()),
            supervisor: Mutex::new(None),
        };
        let supervisor =
            tokio::spawn(supervise(core, deps.clone(), first, session.client.clone(), session.wake.clone()));
        *session.supervisor.lock().unwrap_or_else(PoisonError::into_inner) = Some(supervisor);
        Ok(session)
    }

    /// The running client, if any.
    pub fn client(&self) -> Option<Arc<Client>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Clears a terminal reason (or an exhausted round of QR codes, or a logout) and has the
    /// supervisor build a client again, as a device that is `link`ed.
    pub fn restart(&self, link: Link) {
        let now = self.core.clock.now();
        self.core.update(|m| m.restart(link, now));
        if let Err(e) = self.core.persist_now() {
            tracing::error!(session = %self.core.key, error = %e, "could not keep the session's status");
        }
        self.wake.notify_one();
    }

    /// Stops the client (letting it flush its device state for up to `grace`) and the
    /// supervisor.
    pub async fn stop(&self, grace: Duration) {
        self.core.stopping.send_replace(true);
        self.wake.notify_one();
        let supervisor = self.supervisor.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut supervisor) = supervisor {
            // The supervisor gives the client `grace` itself; this bound only guards against a
            // supervisor stuck elsewhere.
            if tokio::time::timeout(grace + Duration::from_secs(1), &mut supervisor).await.is_err() {
                tracing::warn!(session = %self.core.key, "the session did not stop in time; aborting it");
                supervisor.abort();
                let _ = supervisor.await;
            }
        }
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let now = self.core.clock.now();
        self.core.update(|m| m.stopped("the session was stopped", now));
        let contacts = self.core.contacts.clone();
        let written = tokio::task::spawn_blocking(move || contacts.flush()).await;
        if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
            tracing::error!(session = %self.core.key, error = %e, "could not write the session's contacts");
        }
    }
}

/// Builds a client over the session's device store; says whether the device is paired.
async fn build_bot(core: &Arc<Core>, deps: &Deps) -> anyhow::Result<(Bot, Link)> {
    let backend: Arc<dyn Backend> = match &core.paths.db {
        Some(db) => {
            if let Some(parent) = db.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let url = db.to_str().ok_or_else(|| anyhow::anyhow!("the path {} is not UTF-8", db.display()))?;
            Arc::new(SqliteStore::new(url).await?)
        }
        None => Arc::new(InMemoryBackend::new()),
    };
    let mut builder = Bot::builder()
        .with_backend_arc(backend)
        .with_transport_factory(ObservedTransport { inner: deps.transport.clone(), core: core.clone() })
        .with_http_client(ObservedHttp { inner: deps.http.clone(), core: core.clone() })
        .with_runtime(TokioRuntime)
        .with_event_handler(SessionEvents(core.clone()))
        // Statuses need no chat history; skipping it saves downloads and storage.
        .skip_history_sync();
    if let Some(version) = deps.config.version {
        builder = builder.with_version(version);
    }
    let bot = builder.build().await?;
    let paired = bot.client().persistence_manager().get_device_snapshot().pn.is_some();
    Ok((bot, if paired { Link::Paired } else { Link::Unpaired }))
}

/// Waits for `duration`, a wake-up, the stop signal or (with `on_change`) any change of the
/// session's state; says whether to stop.
async fn pause(core: &Core, wake: &Notify, duration: Option<Duration>, on_change: bool) -> bool {
    let mut changes = core.subscribe();
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let changed = async {
        if !on_change || changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = sleep => {}
        () = changed => {}
        () = wake.notified() => {}
        () = stopped(core.stopping.subscribe()) => {}
    }
    core.is_stopping()
}

/// Whether the running client must be stopped because of the session's state: a terminal
/// reason, a logout to wipe, or a round of QR codes that ran out. (whatsapp-rust stops the
/// client itself in these cases, but not while it is inside a connection attempt.)
fn must_halt(core: &Core) -> bool {
    if core.wipe_pending.load(Ordering::SeqCst) {
        return true;
    }
    let status = core.status();
    status.terminal.is_some() || status.qr_exhausted
}

/// Resolves once [`must_halt`] holds.
async fn halted(core: &Core) {
    let mut changes = core.subscribe();
    loop {
        if must_halt(core) {
            return;
        }
        if changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How a client's run ended.
enum Ended {
    /// Its run loop ended by itself.
    ByItself,
    /// The session is being stopped.
    Stop,
    /// The session's state says it must stop.
    Halt,
}

/// Stops a running client: disconnects it (which flushes its device state) and waits up to
/// `grace` for its run loop to end, then aborts it.
async fn stop_client(handle: whatsapp_rust::bot::BotHandle, grace: Duration, key: &SessionKey) {
    let (done_tx, done_rx) = oneshot::channel();
    let stopper = tokio::spawn(async move {
        handle.shutdown().await;
        let _ = done_tx.send(());
    });
    if tokio::time::timeout(grace, done_rx).await.is_err() {
        tracing::debug!(session = %key, "the WhatsApp client did not stop in time; aborting it");
        // Dropping the handle (with the task) aborts the client's run loop.
        stopper.abort();
        let _ = stopper.await;
    }
}

/// Runs a session's clients until it is stopped.
async fn supervise(
    core: Arc<Core>,
    deps: Deps,
    mut next: Option<Bot>,
    slot: Arc<Mutex<Option<Arc<Client>>>>,
    wake: Arc<Notify>,
) {
    let config = deps.config.clone();
    let mut backoff = config.restart_backoff;
    loop {
        if core.is_stopping() {
            break;
        }
        if core.wipe_pending.swap(false, Ordering::SeqCst) {
            next = None;
            if let Err(e) = core.wipe_device() {
                tracing::error!(session = %core.key, error = %e, "could not wipe the logged-out device's state");
            }
        }
        // Wait while something other than the client's own back-off keeps the session down.
        let status = core.status();
        match status.terminal {
            Some(Terminal::Banned { until, .. }) => {
                let left = (until - core.clock.now()).to_std().unwrap_or_default();
                if left.is_zero() {
                    let link = core.link();
                    let now = core.clock.now();
                    core.update(|m| m.restart(link, now));
                    let _ = core.persist_now();
                } else if pause(&core, &wake, Some(left), true).await {
                    break;
                }
                continue;
            }
            Some(_) => {
                next = None;
                if pause(&core, &wake, None, true).await {
                    break;
                }
                continue;
            }
            None if status.qr_exhausted => {
                next = None;
                if pause(&core, &wake, None, true).await {
                    break;
                }
                continue;
            }
            None => {}
        }
        let bot = match next.take() {
            Some(bot) => bot,
            None => match build_bot(&core, &deps).await {
                Ok((bot, link)) => {
                    let now = core.clock.now();
                    core.update(|m| {
                        if m.link() != link {
                            m.restart(link, now);
                        }
                        m.connecting(now);
                    });
                    bot
                }
                Err(e) => {
                    core.connect_failed(format!("cannot open the device store: {e:#}"));
                    if pause(&core, &wake, Some(backoff), false).await {
                        break;
                    }
                    backoff = (backoff * 2).min(config.restart_backoff_max);
                    continue;
                }
            },
        };
        let mut handle = bot.spawn();
        core.set_client(Some(&handle.client()));
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle.client());
        let started = tokio::time::Instant::now();
        let ended = tokio::select! {
            () = &mut handle => Ended::ByItself,
            () = stopped(core.stopping.subscribe()) => Ended::Stop,
            () = halted(&core) => Ended::Halt,
        };
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
        core.set_client(None);
        match ended {
            Ended::Stop => {
                stop_client(handle, config.shutdown_grace, &core.key).await;
                break;
            }
            Ended::Halt => {
                stop_client(handle, config.shutdown_grace, &core.key).await;
                continue;
            }
            Ended::ByItself => drop(handle),
        }
        if must_halt(&core) {
            continue;
        }
        // The run loop ended for no reason we know of: build a new client after a back-off.
        if started.elapsed() > config.restart_backoff_max {
            backoff = config.restart_backoff;
        }
        let now = core.clock.now();
        core.update(|m| m.connect_failed("the WhatsApp client stopped; restarting it".to_owned(), now));
        if pause(&core, &wake, Some(backoff), false).await {
            break;
        }
        backoff = (backoff * 2).min(config.restart_backoff_max);
    }
    drop(next);
}
