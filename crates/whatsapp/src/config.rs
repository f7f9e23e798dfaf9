//! How the web driver is set up.

use std::path::PathBuf;
use std::time::Duration;

/// Where each session's device state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStore {
    /// One SQLite file per session, `<dir>/<tenant>/<session>.db` (with its `-wal` and `-shm`
    /// companions), next to the session's send journal, status file and contacts. Survives
    /// restarts.
    Files(PathBuf),
    /// In memory: device state is lost when a session's client is rebuilt or the process ends.
    /// For tests; the send journal, status file and contacts still go to the directory given.
    Memory(PathBuf),
}

impl DeviceStore {
    /// The directory that holds the per-tenant folders.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            DeviceStore::Files(dir) | DeviceStore::Memory(dir) => dir,
        }
    }
}

/// The web driver's settings. [`WebDriverConfig::new`] gives the defaults documented on each
/// field; the app maps its `whatsapp.*` configuration keys onto them.
#[derive(Debug, Clone)]
pub struct WebDriverConfig {
    /// Where device state is kept (`whatsapp.web_dir`, default `wastatus-web`).
    pub store: DeviceStore,
    /// How long a media upload may take, from the first byte to WhatsApp's answer
    /// (`whatsapp.upload_timeout_secs`, default 60 s). The upload is cancelled when it runs out.
    pub upload_timeout: Duration,
    /// How long `publish` and `revoke` wait for the server's acknowledgement of each stanza
    /// after it was written to the socket (`whatsapp.ack_timeout_secs`, default 20 s).
    pub ack_timeout: Duration,
    /// The most recipients one status stanza is encrypted to (`whatsapp.status_chunk_size`,
    /// default 1,000). A larger audience is sent in chunks of this size, one after the other
    /// under the same message id, each acknowledged by the server before the next goes.
    /// Revocations go in the same chunks. Values below 1 count as 1.
    pub status_chunk_size: usize,
    /// How long a change to a session's contacts waits before the contact file is written, so
    /// that a full address-book sync (one event per contact) is written once, not once per
    /// contact; default 2 s. The file is also written when the session stops.
    pub contacts_write_delay: Duration,
    /// How long `pair` and `qr` wait for WhatsApp to hand out a QR or pairing code when none is
    /// there yet (`whatsapp.pair_wait_secs`, default 15 s).
    pub pair_wait: Duration,
    /// Time limit of any other HTTP request (version look-up, media connection), default 30 s.
    pub http_timeout: Duration,
    /// How long opening a TCP connection for HTTP may take, default 10 s.
    pub http_connect_timeout: Duration,
    /// How long a session gets to close cleanly (flush its device state) when it is stopped,
    /// removed or shut down before it is aborted (`whatsapp.shutdown_grace_secs`, default 5 s).
    pub shutdown_grace: Duration,
    /// The first wait before rebuilding a session whose client stopped for a reason that is not
    /// terminal (doubling up to [`Self::restart_backoff_max`]); default 5 s.
    pub restart_backoff: Duration,
    /// The longest wait between such rebuilds, default 15 minutes.
    pub restart_backoff_max: Duration,
    /// The WhatsApp Web version to announce. `None` (the default) looks the current one up on
    /// `web.whatsapp.com` once a day, as WhatsApp Web does; tests set one to stay offline.
    pub version: Option<(u32, u32, u32)>,
}

impl WebDriverConfig {
    /// The defaults, with device state in one SQLite file per session under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            store: DeviceStore::Files(dir.into()),
            upload_timeout: Duration::from_secs(60),
            ack_timeout: Duration::from_secs(20),
            status_chunk_size: 1_000,
            contacts_write_delay: Duration::from_secs(2),
            pair_wait: Duration::from_secs(15),
            http_timeout: Duration::from_secs(30),
            http_connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            restart_backoff: Duration::from_secs(5),
            restart_backoff_max: Duration::from_secs(15 * 60),
            version: None,
        }
    }
}
