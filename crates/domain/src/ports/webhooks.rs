//! Webhooks: endpoints, deliveries, the outbox they are fanned out from, and sending.

use std::sync::Arc;

use async_trait::async_trait;

use super::{IdGenerator, InsertError, StorageError};
use crate::model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryId, DeliveryPage, DeliveryQuery, DeliveryRecord, TenantId,
    Timestamp, WebhookEndpoint, WebhookId, WebhookMessage, WebhookSecret, WebhookUrl,
};

/// A tenant's webhook endpoints.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WebhookEndpointRepository: Send + Sync {
    /// Fails with [`InsertError::AlreadyExists`] if the id is taken, and with
    /// [`InsertError::ParentMissing`] if the tenant does not exist.
    async fn insert(&self, endpoint: &WebhookEndpoint) -> Result<(), InsertError>;
    /// An endpoint of this tenant; another tenant's endpoint is `None`.
    async fn get(&self, tenant: TenantId, id: WebhookId) -> Result<Option<WebhookEndpoint>, StorageError>;
    /// The tenant's endpoints, oldest first.
    async fn list(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>, StorageError>;
    /// Saves everything but the id, tenant and creation time. Returns whether the tenant has
    /// such an endpoint.
    async fn update(&self, endpoint: &WebhookEndpoint) -> Result<bool, StorageError>;
    /// Deletes the endpoint with its deliveries and their attempts. Returns whether it existed.
    async fn delete(&self, tenant: TenantId, id: WebhookId) -> Result<bool, StorageError>;
    /// Disables the endpoint for `reason` (unless disabled already). Returns whether it exists.
    async fn disable(&self, tenant: TenantId, id: WebhookId, reason: &str, at: Timestamp)
    -> Result<bool, StorageError>;
}

/// What one [`WebhookOutbox::fan_out`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Events taken from the outbox (and marked dispatched).
    pub events: u32,
    /// Deliveries created for them.
    pub deliveries: u32,
    /// Events whose stored form this version cannot read: marked dispatched without
    /// deliveries, so that they do not hold up the others.
    pub unreadable: u32,
}

/// The outbox of events, as the webhook dispatcher reads it.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WebhookOutbox: Send + Sync {
    /// Takes up to `limit` events not yet dispatched, oldest first, and in one transaction
    /// creates, for each, one delivery ([`Delivery::new`], id from `ids`, due at `now`) per
    /// endpoint of the event's tenant that [wants](WebhookEndpoint::wants) it, and marks the
    /// events dispatched. Concurrent callers, in this process or another, never take the same
    /// event; a caller that dies midway leaves nothing behind.
    async fn fan_out(&self, limit: u32, now: Timestamp, ids: Arc<dyn IdGenerator>) -> Result<FanOut, StorageError>;
}

/// What [`WebhookDeliveryRepository::claim_due`] is to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueClaim {
    pub now: Timestamp,
    /// Until when the claimed deliveries are leased to the caller.
    pub lease_until: Timestamp,
    pub limit: u32,
    /// At most this many deliveries of one endpoint.
    pub per_endpoint: u32,
    /// Endpoints to leave alone (the caller is busy with them).
    pub skip: Vec<WebhookId>,
}

/// A delivery claimed for an attempt, with its endpoint as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub endpoint: WebhookEndpoint,
    /// The lease the claim holds; recording the attempt checks it.
    pub lease_until: Timestamp,
}

/// Deliveries and their attempt log.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WebhookDeliveryRepository: Send + Sync {
    /// Stores a delivery with the attempts already made (a ping), in one transaction. Fails
    /// with [`InsertError::ParentMissing`] if the endpoint does not exist.
    async fn insert(&self, delivery: &Delivery, attempts: &[DeliveryAttempt]) -> Result<(), InsertError>;
    /// Claims deliveries that are due: `pending`, `next_attempt_at <= now`, not leased (or
    /// their lease ran out: the process that held it died), of an enabled endpoint not in
    /// `skip` — oldest due first, at most `per_endpoint` of one endpoint. Each is leased until
    /// `lease_until`. Concurrent callers, in this process or another, never claim the same
    /// delivery while its lease runs.
    async fn claim_due(&self, claim: &DueClaim) -> Result<Vec<ClaimedDelivery>, StorageError>;
    /// Appends `attempt` to the log and saves the delivery's state and counters, releasing its
    /// lease, in one transaction — if the delivery is still leased until `lease_until`.
    /// Returns whether it saved; `false` if the delivery is gone or its lease was lost.
    async fn record_attempt(
        &self,
        delivery: &Delivery,
        attempt: &DeliveryAttempt,
        lease_until: Timestamp,
    ) -> Result<bool, StorageError>;
    /// A page of the endpoint's deliveries, newest first, each with its attempts.
    async fn list(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StorageError>;
    /// One delivery of the endpoint, with its attempts.
    async fn get(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryRecord>, StorageError>;
    /// Queues the delivery again (a manual redelivery): `pending`, due at `at`, with a new
    /// round of retries (`round_start = attempts`). A lease still running is kept, so an
    /// attempt in flight finishes first. Returns the delivery as stored afterwards; `None`
    /// if the endpoint has no such delivery.
    async fn requeue(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeliveryId,
        at: Timestamp,
    ) -> Result<Option<DeliveryRecord>, StorageError>;
    /// When the next pending delivery of an enabled endpoint falls due (or its lease runs out);
    /// `None` if none waits.
    async fn next_due(&self) -> Result<Option<Timestamp>, StorageError>;
}

/// Sends a message to an endpoint.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Renders `message` in the endpoint's format, signs it with the endpoint's secrets active
    /// at `at` and POSTs it to the endpoint's URL, under the same address rules as at
    /// registration (checked again: DNS can change). Never fails: whatever went wrong is in the
    /// outcome.
    async fn send(&self, endpoint: &WebhookEndpoint, message: &WebhookMessage, at: Timestamp) -> AttemptOutcome;
}

/// Why a webhook URL may not be used, with a stable snake_case code
/// (`webhook_blocked_address`, `webhook_unresolvable_host`, `webhook_scheme_not_allowed`,
/// `invalid_webhook_url`) and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetRefused {
    pub code: &'static str,
    pub message: String,
}

/// Checks where a webhook URL leads, when an endpoint is registered or its URL changes.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WebhookTargetCheck: Send + Sync {
    /// `Ok` if the URL's scheme is allowed and every address its host stands for may be
    /// connected to (by default: public addresses only).
    async fn check(&self, url: &WebhookUrl) -> Result<(), TargetRefused>;
}

/// Makes webhook signing secrets.
#[cfg_attr(test, mockall::automock)]
pub trait WebhookSecretMint: Send + Sync {
    /// A fresh random secret.
    fn mint(&self) -> WebhookSecret;
}

/// Wakes the webhook dispatcher when there is work for it now (a redelivery), instead of at its
/// next poll.
#[cfg_attr(test, mockall::automock)]
pub trait DispatchSignal: Send + Sync {
    fn nudge(&self);
}
