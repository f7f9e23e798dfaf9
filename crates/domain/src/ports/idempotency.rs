//! Idempotency keys: a request repeated with the same `Idempotency-Key` gets the first
//! answer instead of doing the work twice.

use async_trait::async_trait;

use super::StorageError;
use crate::model::{TenantId, Timestamp};

/// A stored answer to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers worth replaying (`Content-Type`, `Location`), as name and value.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What [`IdempotencyRepository::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is new (or its record expired): the caller does the work, then completes it.
    Started,
    /// The first request with this key is still being handled.
    InFlight,
    /// The key was used with another request (its fingerprint differs).
    Mismatch,
    /// The first request was answered: replay this.
    Replay(StoredResponse),
}

/// Idempotency records, per tenant and key.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Starts handling `key` for a request with `fingerprint` (a digest of its method, path and
    /// body), or says why not. Atomic: of concurrent callers with a new key, one gets
    /// [`Begin::Started`]. A record that expired before `now` counts as absent; a new record
    /// expires at `expires_at`.
    async fn begin(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Begin, StorageError>;
    /// Stores the answer of a started key, for replays.
    async fn complete(&self, tenant: TenantId, key: &str, response: &StoredResponse) -> Result<(), StorageError>;
    /// Forgets a started key whose request produced nothing worth replaying (an internal
    /// error), so the client may try again with it.
    async fn abandon(&self, tenant: TenantId, key: &str) -> Result<(), StorageError>;
    /// Deletes records that expired before `now`; returns how many.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError>;
}
