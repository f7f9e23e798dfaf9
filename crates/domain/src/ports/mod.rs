//! The ports: what the domain needs from the outside world, as traits.
//!
//! Adapters implement them (`wastatus-storage`, `wastatus-sandbox`, `wastatus-auth`, …). Each
//! method's documentation says which error variants an adapter must return, because the use
//! cases rely on telling them apart.

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::*;

mod idempotency;
mod webhooks;

pub use idempotency::*;
pub use webhooks::*;

/// A storage failure the domain cannot do anything about (connection lost, disk full, …).
/// Use cases report it as an internal error; the cause is logged, never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StorageError(#[from] pub anyhow::Error);

/// Why an insert did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// An entity with the same identity exists. Adapters MUST return this (not `Storage`) on a
    /// unique-key violation.
    #[error("already exists")]
    AlreadyExists,
    /// What the entity belongs to (its tenant, its session) does not exist. Adapters MUST
    /// return this (not `Storage`) on a foreign-key violation.
    #[error("what it belongs to does not exist")]
    ParentMissing,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TenantRepository: Send + Sync {
    async fn insert(&self, tenant: &Tenant) -> Result<(), InsertError>;
    async fn get(&self, id: TenantId) -> Result<Option<Tenant>, StorageError>;
    /// Every tenant, oldest first.
    async fn list(&self) -> Result<Vec<Tenant>, StorageError>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Fails with [`InsertError::AlreadyExists`] if the id or the hash is taken, and with
    /// [`InsertError::ParentMissing`] if the tenant does not exist.
    async fn insert(&self, key: &ApiKey) -> Result<(), InsertError>;
    /// The key with this hash, revoked or not.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, StorageError>;
    /// Records that the key was used. Best effort: callers may ignore the error.
    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StorageError>;
    /// The tenant's keys, revoked ones included, oldest first.
    async fn list(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StorageError>;
    /// Revokes the tenant's key at `at`, unless it is revoked already (the first revocation
    /// time stays). Returns the key as stored afterwards; `None` if the tenant has no such key.
    async fn revoke(&self, tenant: TenantId, id: ApiKeyId, at: Timestamp) -> Result<Option<ApiKey>, StorageError>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Fails with [`InsertError::AlreadyExists`] if the id, the name (usernames are unique
    /// across tenants) or the token hash is taken, and with [`InsertError::ParentMissing`] if
    /// the tenant does not exist.
    async fn insert(&self, user: &User) -> Result<(), InsertError>;
    /// A user of this tenant; another tenant's user is `None`.
    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError>;
    /// A user by id, whatever the tenant (for a JWT, which names the user).
    async fn find(&self, id: UserId) -> Result<Option<User>, StorageError>;
    /// The user whose per-user token has this hash, disabled or not.
    async fn find_by_token_hash(&self, hash: &KeyHash) -> Result<Option<User>, StorageError>;
    /// The user with this (exact) name, disabled or not.
    async fn find_by_name(&self, name: &str) -> Result<Option<User>, StorageError>;
    /// The tenant's users, oldest first.
    async fn list(&self, tenant: TenantId) -> Result<Vec<User>, StorageError>;
    /// Replaces the user's token. Returns whether the tenant has such a user.
    async fn set_token(&self, tenant: TenantId, id: UserId, hash: &KeyHash, prefix: &str)
    -> Result<bool, StorageError>;
    /// Disables the user at `at`, unless disabled already (the first time stays). Returns the
    /// user as stored afterwards; `None` if the tenant has no such user.
    async fn disable(&self, tenant: TenantId, id: UserId, at: Timestamp) -> Result<Option<User>, StorageError>;
    /// Records that the user authenticated. Best effort: callers may ignore the error.
    async fn touch(&self, id: UserId, at: Timestamp) -> Result<(), StorageError>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Fails with [`InsertError::AlreadyExists`] if the tenant has a session with this id, and
    /// with [`InsertError::ParentMissing`] if the tenant does not exist.
    async fn insert(&self, session: &Session) -> Result<(), InsertError>;
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StorageError>;
    /// The session the user owns (a user owns at most one: its device).
    async fn find_by_owner(&self, tenant: TenantId, owner: UserId) -> Result<Option<Session>, StorageError>;
    /// The tenant's sessions, ordered by id.
    async fn list(&self, tenant: TenantId) -> Result<Vec<Session>, StorageError>;
    /// Every session of every tenant, for resuming them when the process starts.
    async fn list_all(&self) -> Result<Vec<Session>, StorageError>;
    /// Stores the session's state and appends `events` to the outbox, in one transaction, if
    /// the state changes. Returns whether it stored anything: `false` if the session does not
    /// exist or is already in `state` (then nothing is written).
    async fn set_state(
        &self,
        key: &SessionKey,
        state: SessionState,
        at: Timestamp,
        events: &[Event],
    ) -> Result<bool, StorageError>;
    /// Deletes the session and its statuses. Returns whether it existed.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StorageError>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait StatusRepository: Send + Sync {
    /// Stores a new status with the prepared media of an image or video (kept until the status
    /// is settled), in one transaction. A status inserted as `sending` is leased until
    /// `lease_until` (see [`StatusRepository::reclaim_expired`]). Fails with
    /// [`InsertError::AlreadyExists`] if the id is taken, and with [`InsertError::ParentMissing`]
    /// if the tenant has no such session.
    async fn insert<'a>(
        &self,
        status: &Status,
        media: Option<&'a PreparedMedia>,
        lease_until: Option<Timestamp>,
    ) -> Result<(), InsertError>;
    /// Saves the status's lifecycle fields if its stored state is still `expected` (a
    /// compare-and-set, so two concurrent transitions cannot both win), appends `events` to the
    /// outbox, and drops the stored media once the status is settled — all in one transaction.
    /// Returns whether it saved; `false` if the status is gone or another transition got there
    /// first (then nothing is written).
    async fn update(&self, status: &Status, expected: StatusState, events: &[Event]) -> Result<bool, StorageError>;
    /// Claims up to `limit` statuses that are due (`accepted` or `scheduled` with
    /// `next_attempt_at <= now`), oldest due first: each becomes `sending` (an attempt started,
    /// as [`Status::start_sending`] does), leased until `lease_until`. Concurrent callers, in
    /// this process or another, never claim the same status.
    async fn claim_due(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<Status>, StorageError>;
    /// Claims up to `limit` statuses left `sending` whose lease ran out before `now` (their
    /// process died mid-send), leasing them again until `lease_until`, so that one caller
    /// settles each.
    async fn reclaim_expired(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Status>, StorageError>;
    /// When the next `accepted` or `scheduled` status falls due; `None` if none waits.
    async fn next_due(&self) -> Result<Option<Timestamp>, StorageError>;
    /// The prepared media stored with an unsettled status.
    async fn media(&self, status: StatusId) -> Result<Option<PreparedMedia>, StorageError>;
    /// A status of this tenant; another tenant's status is `None`.
    async fn get(&self, tenant: TenantId, id: StatusId) -> Result<Option<Status>, StorageError>;
    /// A page of a session's statuses, newest first.
    async fn list(&self, session: &SessionKey, query: &StatusQuery) -> Result<Page<Status>, StorageError>;
}

/// What a WhatsApp driver reports when it cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The driver does not know this session (it was never started, or was removed).
    #[error("the driver does not know this session")]
    UnknownSession,
    /// Pairing was asked of a session that is already linked to a phone.
    #[error("the session is already paired")]
    AlreadyPaired,
    /// No QR code is available now: the session is linked, or is pairing by code.
    #[error("no QR code is available for this session")]
    NoQrCode,
    /// The session is not connected to WhatsApp.
    #[error("the session is not connected")]
    Disconnected,
    /// The phone removed the linked device.
    #[error("the session was logged out")]
    LoggedOut,
    /// The session was never paired.
    #[error("the session is not paired")]
    NotPaired,
    #[error("media upload failed: {0}")]
    UploadFailed(String),
    #[error("media upload timed out")]
    UploadTimeout,
    #[error("device error: {0}")]
    DeviceError(String),
    #[error("rejected by the WhatsApp server: {0}")]
    ServerRejected(String),
    /// Nobody to send to: no one in the audience could be resolved to a WhatsApp account.
    #[error("{0}")]
    NoRecipients(String),
    /// The message left, but WhatsApp's server did not confirm it in time: it may or may not
    /// be visible.
    #[error("{0}")]
    Unconfirmed(String),
    /// This driver cannot run in this build or configuration.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl DriverError {
    /// The failure recorded on a status that this error stopped.
    pub fn failure(&self) -> Failure {
        let code = match self {
            DriverError::Disconnected => FailureCode::DeviceDisconnected,
            DriverError::LoggedOut => FailureCode::LoggedOut,
            DriverError::NotPaired => FailureCode::NotPaired,
            DriverError::UploadFailed(_) => FailureCode::UploadFailed,
            DriverError::UploadTimeout => FailureCode::UploadTimeout,
            DriverError::DeviceError(_) => FailureCode::DeviceError,
            DriverError::ServerRejected(_) => FailureCode::ServerRejected,
            DriverError::NoRecipients(_) => FailureCode::NoRecipients,
            DriverError::Unconfirmed(_) => FailureCode::OutcomeUnknown,
            DriverError::Unavailable(_) => FailureCode::DriverUnavailable,
            DriverError::UnknownSession
            | DriverError::AlreadyPaired
            | DriverError::NoQrCode
            | DriverError::Other(_) => FailureCode::Internal,
        };
        let message = match self {
            // Internal causes stay in the logs.
            DriverError::Other(_) => "the driver failed unexpectedly".to_owned(),
            other => other.to_string(),
        };
        Failure { code, message }
    }
}

/// A WhatsApp driver: links sessions to phones and sends through them.
///
/// The real driver speaks the WhatsApp Web multi-device protocol; the sandbox simulates it.
/// Both keep their own per-session device state; the domain keeps the session records.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WhatsAppDriver: Send + Sync {
    /// Starts (or resumes, after a restart) a session and returns its current state. A new
    /// session starts in [`SessionState::Pairing`]. Starting a running session is harmless.
    async fn start(&self, session: &SessionKey) -> Result<SessionState, DriverError>;

    /// The session's live state, with the reason for it when there is one.
    /// [`DriverError::UnknownSession`] if it was never started.
    async fn state(&self, session: &SessionKey) -> Result<SessionCondition, DriverError>;

    /// Connects a session again that stopped for a reason the driver does not retry by itself
    /// (replaced by another client, banned, refused): an operator's decision. Harmless for a
    /// session that runs; [`DriverError::LoggedOut`] for one that must be paired again.
    async fn restart(&self, session: &SessionKey) -> Result<SessionState, DriverError>;

    /// Begins linking the session to a phone. [`DriverError::AlreadyPaired`] if it is linked.
    async fn pair(&self, session: &SessionKey, method: &PairMethod) -> Result<Pairing, DriverError>;

    /// The QR code to scan now. [`DriverError::NoQrCode`] when there is none.
    async fn qr(&self, session: &SessionKey) -> Result<QrCode, DriverError>;

    /// Unlinks the device from the phone; the session must be paired again to publish.
    async fn logout(&self, session: &SessionKey) -> Result<(), DriverError>;

    /// Stops the session and wipes its device state. Removing an unknown session succeeds.
    async fn remove(&self, session: &SessionKey) -> Result<(), DriverError>;

    /// Publishes a status to its audience and returns WhatsApp's message id and who it went
    /// to, once the send is confirmed. Must return an error, never a message id, when the
    /// outcome is not a confirmed send. `media` is the prepared media of an image or video
    /// status (and `None` for text); it is cheap to clone (the bytes are shared).
    ///
    /// The audience ([`Status::audience`]) is resolved to WhatsApp accounts first; the people
    /// who cannot be resolved are reported in the [`Reach`], and an audience with nobody
    /// left is [`DriverError::NoRecipients`].
    async fn publish(
        &self,
        session: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<Published, DriverError>;

    /// The linked account's contacts, as WhatsApp last synced its address book (empty until
    /// the session is linked and the first sync arrived).
    async fn contacts(&self, session: &SessionKey) -> Result<Vec<Contact>, DriverError>;

    /// Deletes a published status from the audience's phones.
    async fn revoke(&self, session: &SessionKey, status: &Status) -> Result<(), DriverError>;

    /// Whether `status` was sent, for a status whose send was interrupted (the process died
    /// between handing it to the driver and storing the outcome). Used to settle such a status
    /// without sending it twice. A driver that cannot tell answers [`SendCheck::Unknown`].
    async fn reconcile(&self, session: &SessionKey, status: &Status) -> Result<SendCheck, DriverError> {
        let _ = (session, status);
        Ok(SendCheck::Unknown)
    }
}

/// A send WhatsApp confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub message_id: MessageId,
    pub reach: Reach,
}

/// What a driver knows of an interrupted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendCheck {
    /// It was sent, under this message id, to these people.
    Sent(Published),
    /// It was certainly not sent: sending it now is safe.
    NotSent,
    /// The driver cannot tell.
    Unknown,
}

/// A fault the sandbox driver can be told to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The session goes `disconnected` until a `Reconnect`.
    Disconnect,
    /// The session comes back `connected`.
    Reconnect,
    /// The next publishes fail as a failed media upload.
    UploadFailed,
    /// The next publishes fail as an upload time-out.
    UploadTimeout,
    /// The next publishes fail as a device error.
    DeviceError,
    /// The next publishes are rejected by the server.
    ServerReject,
}

/// Fault injection and inspection, offered only by the sandbox driver.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait FaultInjector: Send + Sync {
    /// Applies `fault`; for the publish faults, to the next `count` publishes.
    async fn inject(&self, session: &SessionKey, fault: Fault, count: u32) -> Result<(), DriverError>;

    /// Every message the session sent, oldest first, including any sent twice: the record
    /// that shows whether a status was ever published more than once.
    async fn sent(&self, session: &SessionKey) -> Result<Vec<SentRecord>, DriverError>;
}

/// A message the sandbox sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    pub message_id: MessageId,
    /// The status it was sent for.
    pub status: StatusId,
    pub status_type: StatusType,
    /// Who it was sent to.
    pub recipients: Vec<Recipient>,
    pub sent_at: Timestamp,
}

/// Media that cannot be used, with a stable snake_case code (`media_too_large`,
/// `media_blocked_address`, `video_too_long`, …) and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaRejected {
    pub code: &'static str,
    pub message: String,
}

/// Fetches (for a URL), checks and prepares the media of an image or video status.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MediaPreparer: Send + Sync {
    /// Prepared media of `kind` (with `None`, of whichever kind the bytes are), or why the
    /// input cannot be used. Never a partial result.
    async fn prepare(&self, input: MediaInput, kind: Option<MediaKind>) -> Result<PreparedMedia, MediaRejected>;
}

/// Tells the time. Implementations truncate to microseconds (see [`Timestamp`]).
#[cfg_attr(test, mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Makes identifiers.
#[cfg_attr(test, mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh, time-ordered (v7) UUID.
    fn uuid(&self) -> Uuid;
}

/// Makes and checks API key secrets.
#[cfg_attr(test, mockall::automock)]
pub trait KeyMint: Send + Sync {
    /// A fresh secret, its hash and its display prefix.
    fn mint(&self) -> MintedKey;
    /// The hash of a presented secret, or `None` if it is not in the format `mint` produces
    /// (so malformed credentials never reach storage).
    fn hash(&self, presented: &str) -> Option<KeyHash>;
    /// A fresh per-user token (a random UUID v4), its hash and its display prefix.
    fn mint_user_token(&self) -> MintedKey;
    /// The hash of a presented per-user token, or `None` if it is not a UUID v4.
    fn hash_user_token(&self, presented: &str) -> Option<KeyHash>;
}

/// Hashes passwords for storage (argon2id) and checks presented ones. Slow on purpose, so the
/// methods are async: adapters run them off the request threads.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StorageError>;
    /// Whether `password` matches `hash`. With no hash (unknown user, or a user without a
    /// password) it does the same work against a dummy hash and answers `false`, so the answer
    /// takes as long either way.
    async fn verify<'a>(&self, password: &Password, hash: Option<&'a PasswordHash>) -> bool;
}

/// What a valid access token (JWT) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    /// The tenant, when the token names one; it must be the user's.
    pub tenant: Option<TenantId>,
}

/// Issues and checks access tokens (JWTs).
#[cfg_attr(test, mockall::automock)]
pub trait AccessTokens: Send + Sync {
    /// Whether tokens can be issued here (a signing secret is configured).
    fn can_issue(&self) -> bool;
    /// A short-lived token for the user; `None` when [`Self::can_issue`] is false.
    fn issue(&self, user: &User) -> Option<AccessToken>;
    /// The claims of a valid token: signature, algorithm, expiry, issuer and audience checked.
    /// `None` for anything else, which callers treat like any other bad credential.
    fn verify(&self, token: &str) -> Option<AccessClaims>;
}

/// Limits how fast a session publishes, to protect its number from being banned.
#[cfg_attr(test, mockall::automock)]
pub trait PublishPace: Send + Sync {
    /// Takes a publish slot for the session, or says how long until one is free.
    fn admit(&self, session: &SessionKey) -> Result<(), std::time::Duration>;
}

/// A secret made by [`KeyMint::mint`]. Its `Debug` output leaves the secret out.
#[derive(Clone)]
pub struct MintedKey {
    pub secret: String,
    pub hash: KeyHash,
    pub display_prefix: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("secret", &"<redacted>")
            .field("hash", &self.hash)
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

/// Hears of events once they are stored (for logs and metrics). Delivery to webhooks does not
/// depend on it: it reads the outbox the events were stored in. Emitting never fails the use
/// case that emits.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn emit(&self, event: &Event);
}
