//! Webhooks: a tenant's endpoints (register, inspect, change, rotate the secret, delete), their
//! delivery log (list, redeliver, ping), and the two steps the dispatcher repeats:
//! [`Webhooks::fan_out`] (outbox events into deliveries) and delivering what is due
//! ([`Webhooks::claim_due`] then [`Webhooks::deliver`], or [`Webhooks::deliver_due`]).

use std::sync::Arc;
use std::time::Duration;

use crate::model::*;
use crate::ports::*;

use super::ErrorCode;

/// The adapters webhooks run on.
#[derive(Clone)]
pub struct WebhookPorts {
    pub endpoints: Arc<dyn WebhookEndpointRepository>,
    pub deliveries: Arc<dyn WebhookDeliveryRepository>,
    pub outbox: Arc<dyn WebhookOutbox>,
    pub sender: Arc<dyn WebhookSender>,
    pub targets: Arc<dyn WebhookTargetCheck>,
    pub secrets: Arc<dyn WebhookSecretMint>,
    pub signal: Arc<dyn DispatchSignal>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// How webhooks behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// When failed deliveries are tried again.
    pub retry: RetryPolicy,
    /// How long a claimed delivery is leased to its dispatcher: longer than a send may take,
    /// so that only a dispatcher that died loses its claims.
    pub lease: Duration,
    /// The most endpoints a tenant may have.
    pub max_endpoints_per_tenant: usize,
    /// How long a rotated-out secret keeps signing, unless the rotation says otherwise.
    pub rotation_overlap: Duration,
    /// The longest overlap a rotation may ask for.
    pub max_rotation_overlap: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(60),
            max_endpoints_per_tenant: 50,
            rotation_overlap: Duration::from_secs(24 * 3600),
            max_rotation_overlap: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook with id {0}")]
    NotFound(WebhookId),
    #[error("the {format} format has no body for {}; leave them out", names(.kinds))]
    UnsupportedEvents { format: WebhookFormat, kinds: Vec<EventKind> },
    #[error(transparent)]
    TargetRefused(TargetRefused),
    #[error("a tenant may have at most {0} webhooks")]
    LimitReached(usize),
    #[error("the previous secret may keep signing for at most {} seconds", .0.as_secs())]
    OverlapTooLong(Duration),
    #[error(transparent)]
    Internal(anyhow::Error),
}

fn names(kinds: &[EventKind]) -> String {
    kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no webhook with id {0}")]
    WebhookNotFound(WebhookId),
    #[error("no delivery with id {0}")]
    NotFound(DeliveryId),
    #[error("the webhook is disabled; enable it first")]
    WebhookDisabled(WebhookId),
    #[error(transparent)]
    Internal(anyhow::Error),
}

super::internal_from_storage!(WebhookError, DeliveryError);

impl ErrorCode for WebhookError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "webhook_not_found",
            Self::UnsupportedEvents { .. } => "webhook_events_unsupported",
            Self::TargetRefused(refused) => refused.code,
            Self::LimitReached(_) => "webhook_limit_reached",
            Self::OverlapTooLong(_) => "invalid_rotation_overlap",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for DeliveryError {
    fn code(&self) -> &'static str {
        match self {
            Self::WebhookNotFound(_) => "webhook_not_found",
            Self::NotFound(_) => "delivery_not_found",
            Self::WebhookDisabled(_) => "webhook_disabled",
            Self::Internal(_) => "internal",
        }
    }
}

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub format: WebhookFormat,
    pub session: Option<SessionId>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub format: Option<WebhookFormat>,
    /// `Some(None)` removes the session filter.
    pub session: Option<Option<SessionId>>,
    pub enabled: Option<bool>,
}

/// An endpoint and its signing secret, as made by a registration or a rotation. The secret is
/// here to be shown once; `Debug` does not print it.
#[derive(Debug, Clone)]
pub struct IssuedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: WebhookSecret,
}

/// What an attempt by the dispatcher came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub delivery: Delivery,
    pub verdict: AttemptVerdict,
    /// `false` if the attempt could not be recorded because the lease was lost meanwhile
    /// (another dispatcher will attempt it again).
    pub recorded: bool,
}

/// The webhook use cases.
#[derive(Clone)]
pub struct Webhooks {
    ports: WebhookPorts,
    settings: Arc<WebhookSettings>,
}

impl Webhooks {
    pub fn new(ports: WebhookPorts, settings: WebhookSettings) -> Self {
        Self { ports, settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Registers an endpoint with a fresh signing secret, returned this once. Its URL must lead
    /// to addresses that may be reached.
    pub async fn create(&self, tenant: TenantId, new: NewWebhook) -> Result<IssuedWebhook, WebhookError> {
        check_format(&new.events, new.format)?;
        let existing = self.ports.endpoints.list(tenant).await?;
        if existing.len() >= self.settings.max_endpoints_per_tenant {
            return Err(WebhookError::LimitReached(self.settings.max_endpoints_per_tenant));
        }
        self.ports.targets.check(&new.url).await.map_err(WebhookError::TargetRefused)?;
        let secret = self.ports.secrets.mint();
        let now = self.ports.clock.now();
        let endpoint = WebhookEndpoint {
            id: WebhookId::from_uuid(self.ports.ids.uuid()),
            tenant,
            url: new.url,
            events: new.events,
            format: new.format,
            session: new.session,
            enabled: new.enabled,
            disabled_reason: None,
            secrets: SigningSecrets::new(secret.clone()),
            created_at: now,
            updated_at: now,
        };
        self.ports.endpoints.insert(&endpoint).await.map_err(|e| WebhookError::Internal(e.into()))?;
        Ok(IssuedWebhook { endpoint, secret })
    }

    /// The tenant's endpoints, oldest first.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>, WebhookError> {
        Ok(self.ports.endpoints.list(tenant).await?)
    }

    pub async fn get(&self, tenant: TenantId, id: WebhookId) -> Result<WebhookEndpoint, WebhookError> {
        self.ports.endpoints.get(tenant, id).await?.ok_or(WebhookError::NotFound(id))
    }

    /// Changes an endpoint. A new URL is checked like a new endpoint's; enabling an endpoint
    /// clears why it was disabled.
    pub async fn update(
        &self,
        tenant: TenantId,
        id: WebhookId,
        changes: WebhookChanges,
    ) -> Result<WebhookEndpoint, WebhookError> {
        let mut endpoint = self.get(tenant, id).await?;
        if let Some(events) = changes.events {
            endpoint.events = events;
        }
        if let Some(format) = changes.format {
            endpoint.format = format;
        }
        check_format(&endpoint.events, endpoint.format)?;
        if let Some(url) = changes.url
            && url != endpoint.url
        {
            self.ports.targets.check(&url).await.map_err(WebhookError::TargetRefused)?;
            endpoint.url = url;
        }
        if let Some(session) = changes.session {
            endpoint.session = session;
        }
        if let Some(enabled) = changes.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
            }
        }
        endpoint.updated_at = self.ports.clock.now();
        if !self.ports.endpoints.update(&endpoint).await? {
            return Err(WebhookError::NotFound(id));
        }
        Ok(endpoint)
    }

    /// Deletes an endpoint and its delivery log; what was pending for it is not delivered.
    pub async fn delete(&self, tenant: TenantId, id: WebhookId) -> Result<(), WebhookError> {
        if !self.ports.endpoints.delete(tenant, id).await? {
            return Err(WebhookError::NotFound(id));
        }
        Ok(())
    }

    /// Gives the endpoint a new signing secret, returned this once. The old one keeps signing
    /// beside it for `overlap` (the configured default when `None`; not at all with zero), so
    /// receivers can switch without missing a delivery.
    pub async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        overlap: Option<Duration>,
    ) -> Result<IssuedWebhook, WebhookError> {
        let overlap = overlap.unwrap_or(self.settings.rotation_overlap);
        if overlap > self.settings.max_rotation_overlap {
            return Err(WebhookError::OverlapTooLong(self.settings.max_rotation_overlap));
        }
        let mut endpoint = self.get(tenant, id).await?;
        let secret = self.ports.secrets.mint();
        let now = self.ports.clock.now();
        endpoint.secrets.rotate(secret.clone(), now, overlap);
        endpoint.updated_at = now;
        if !self.ports.endpoints.update(&endpoint).await? {
            return Err(WebhookError::NotFound(id));
        }
        Ok(IssuedWebhook { endpoint, secret })
    }

    /// A page of the endpoint's deliveries, newest first, with their attempts.
    pub async fn deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, DeliveryError> {
        self.endpoint_for_deliveries(tenant, webhook).await?;
        Ok(self.ports.deliveries.list(tenant, webhook, query).await?)
    }

    /// One delivery of the endpoint, with its attempts.
    pub async fn delivery(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        id: DeliveryId,
    ) -> Result<DeliveryRecord, DeliveryError> {
        self.endpoint_for_deliveries(tenant, webhook).await?;
        self.ports.deliveries.get(tenant, webhook, id).await?.ok_or(DeliveryError::NotFound(id))
    }

    /// Queues a delivery again, whatever became of it, for an attempt now and, if that fails, a
    /// whole new round of retries. The message keeps its `webhook-id`.
    pub async fn redeliver(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        id: DeliveryId,
    ) -> Result<DeliveryRecord, DeliveryError> {
        let endpoint = self.endpoint_for_deliveries(tenant, webhook).await?;
        if !endpoint.enabled {
            return Err(DeliveryError::WebhookDisabled(webhook));
        }
        let now = self.ports.clock.now();
        let record =
            self.ports.deliveries.requeue(tenant, webhook, id, now).await?.ok_or(DeliveryError::NotFound(id))?;
        self.ports.signal.nudge();
        Ok(record)
    }

    /// Sends a signed `webhook.ping` to the endpoint now (enabled or not), once, and logs it
    /// as a delivery of its own.
    pub async fn ping(&self, tenant: TenantId, id: WebhookId) -> Result<DeliveryRecord, WebhookError> {
        let endpoint = self.get(tenant, id).await?;
        let now = self.ports.clock.now();
        let ping = Ping { id: EventId::from_uuid(self.ports.ids.uuid()), webhook: id, occurred_at: now };
        let delivery_id = DeliveryId::from_uuid(self.ports.ids.uuid());
        let mut delivery = Delivery::new(delivery_id, &endpoint, WebhookMessage::Ping(ping), now);
        let outcome = self.ports.sender.send(&endpoint, &delivery.message, now).await;
        let attempt = delivery.record_once(&outcome, now);
        match self.ports.deliveries.insert(&delivery, std::slice::from_ref(&attempt)).await {
            Ok(()) => {}
            Err(InsertError::ParentMissing) => return Err(WebhookError::NotFound(id)),
            Err(e) => return Err(WebhookError::Internal(e.into())),
        }
        Ok(DeliveryRecord { delivery, attempts: vec![attempt] })
    }

    /// Dispatcher step one: turns up to `limit` outbox events into deliveries.
    pub async fn fan_out(&self, limit: u32) -> Result<FanOut, StorageError> {
        let now = self.ports.clock.now();
        let report = self.ports.outbox.fan_out(limit, now, Arc::clone(&self.ports.ids)).await?;
        if report.unreadable > 0 {
            tracing::warn!(count = report.unreadable, "outbox events this version cannot read were skipped");
        }
        Ok(report)
    }

    /// Dispatcher step two, part one: claims up to `limit` due deliveries, at most
    /// `per_endpoint` of one endpoint and none of those in `skip`, leased for
    /// [`WebhookSettings::lease`].
    pub async fn claim_due(
        &self,
        limit: u32,
        per_endpoint: u32,
        skip: Vec<WebhookId>,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let now = self.ports.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX);
        let claim = DueClaim { now, lease_until, limit, per_endpoint, skip };
        self.ports.deliveries.claim_due(&claim).await
    }

    /// Dispatcher step two, part two: attempts a claimed delivery and records how it went. A
    /// `2xx` settles it; `410 Gone` fails it and disables its endpoint; anything else schedules
    /// a retry, until the schedule is used up.
    pub async fn deliver(&self, claimed: ClaimedDelivery) -> Result<Delivered, StorageError> {
        let ClaimedDelivery { mut delivery, endpoint, lease_until } = claimed;
        let at = self.ports.clock.now();
        let outcome = self.ports.sender.send(&endpoint, &delivery.message, at).await;
        let (attempt, verdict) = delivery.record(&outcome, at, &self.settings.retry);
        let recorded = self.ports.deliveries.record_attempt(&delivery, &attempt, lease_until).await?;
        if !recorded {
            tracing::warn!(delivery = %delivery.id, webhook = %endpoint.id, "webhook delivery lease lost; not recorded");
        }
        tracing::debug!(
            delivery = %delivery.id,
            webhook = %endpoint.id,
            message = %delivery.message.type_name(),
            attempt = attempt.number,
            status = ?outcome.status_code,
            error = ?outcome.error,
            verdict = ?verdict,
            "webhook delivery attempted"
        );
        if verdict == AttemptVerdict::Gone {
            let reason = "the receiver answered 410 Gone";
            self.ports.endpoints.disable(endpoint.tenant, endpoint.id, reason, self.ports.clock.now()).await?;
            tracing::info!(webhook = %endpoint.id, tenant = %endpoint.tenant, "webhook disabled: 410 Gone");
        }
        Ok(Delivered { delivery, verdict, recorded })
    }

    /// Dispatcher step two in one go, one delivery after the other: claims up to `limit` due
    /// deliveries and attempts each. Returns how many were attempted.
    pub async fn deliver_due(&self, limit: u32) -> Result<u32, StorageError> {
        let claimed = self.claim_due(limit, limit, Vec::new()).await?;
        let count = claimed.len() as u32;
        for claim in claimed {
            self.deliver(claim).await?;
        }
        Ok(count)
    }

    /// When the next delivery falls due, for the dispatcher to sleep until then.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, StorageError> {
        self.ports.deliveries.next_due().await
    }

    async fn endpoint_for_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
    ) -> Result<WebhookEndpoint, DeliveryError> {
        self.ports.endpoints.get(tenant, webhook).await?.ok_or(DeliveryError::WebhookNotFound(webhook))
    }
}

/// The event types must all have a body in the format.
fn check_format(events: &EventFilter, format: WebhookFormat) -> Result<(), WebhookError> {
    let kinds = events.unsupported_by(format);
    if kinds.is_empty() { Ok(()) } else { Err(WebhookError::UnsupportedEvents { format, kinds }) }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;

    fn at(secs: i64) -> Timestamp {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::from_uuid(Uuid::from_u128(1))
    }

    fn secret(c: char) -> WebhookSecret {
        WebhookSecret::new(format!("whsec_{}", c.to_string().repeat(32))).unwrap()
    }

    fn hook_id() -> WebhookId {
        WebhookId::from_uuid(Uuid::from_u128(7))
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: hook_id(),
            tenant: tenant(),
            url: WebhookUrl::new("https://hooks.example.com/in").unwrap(),
            events: EventFilter::All,
            format: WebhookFormat::Native,
            session: None,
            enabled: true,
            disabled_reason: None,
            secrets: SigningSecrets::new(secret('A')),
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn new_webhook(url: &str) -> NewWebhook {
        NewWebhook {
            url: WebhookUrl::new(url).unwrap(),
            events: EventFilter::All,
            format: WebhookFormat::Native,
            session: None,
            enabled: true,
        }
    }

    fn event() -> Event {
        Event {
            id: EventId::from_uuid(Uuid::from_u128(9)),
            tenant: tenant(),
            session: SessionId::new("main").unwrap(),
            kind: EventKind::StatusPublished,
            occurred_at: at(1),
            status: None,
        }
    }

    fn outcome(status: u16) -> AttemptOutcome {
        AttemptOutcome { status_code: Some(status), latency: Duration::from_millis(5), ..AttemptOutcome::default() }
    }

    #[derive(Default)]
    struct Mocks {
        endpoints: MockWebhookEndpointRepository,
        deliveries: MockWebhookDeliveryRepository,
        outbox: MockWebhookOutbox,
        sender: MockWebhookSender,
        targets: MockWebhookTargetCheck,
        secrets: MockWebhookSecretMint,
        signal: MockDispatchSignal,
    }

    impl Mocks {
        fn service(self) -> Webhooks {
            self.service_with(WebhookSettings {
                retry: RetryPolicy { jitter_percent: 0, ..RetryPolicy::default() },
                ..WebhookSettings::default()
            })
        }

        fn service_with(self, settings: WebhookSettings) -> Webhooks {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(at(10));
            let mut ids = MockIdGenerator::new();
            let next = Mutex::new(100_u128);
            ids.expect_uuid().returning(move || {
                let mut n = next.lock().unwrap();
                *n += 1;
                Uuid::from_u128(*n)
            });
            let ports = WebhookPorts {
                endpoints: Arc::new(self.endpoints),
                deliveries: Arc::new(self.deliveries),
                outbox: Arc::new(self.outbox),
                sender: Arc::new(self.sender),
                targets: Arc::new(self.targets),
                secrets: Arc::new(self.secrets),
                signal: Arc::new(self.signal),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
            };
            Webhooks::new(ports, settings)
        }
    }

    #[tokio::test]
    async fn creating_checks_the_target_and_returns_the_secret_once() {
        let mut m = Mocks::default();
        m.endpoints.expect_list().returning(|_| Ok(Vec::new()));
        m.targets.expect_check().withf(|u| u.as_str() == "https://hooks.example.com/in").returning(|_| Ok(()));
        m.secrets.expect_mint().returning(|| secret('S'));
        m.endpoints
            .expect_insert()
            .withf(|e| e.secrets.current == secret('S') && e.enabled && e.created_at == at(10))
            .times(1)
            .returning(|_| Ok(()));
        let issued = m.service().create(tenant(), new_webhook("https://hooks.example.com/in")).await.unwrap();
        assert_eq!(issued.secret, secret('S'));
        assert_eq!(issued.endpoint.tenant, tenant());
        assert!(!format!("{issued:?}").contains("SSSSSSSS"), "the secret never reaches Debug output");
    }

    #[tokio::test]
    async fn a_refused_target_registers_nothing() {
        let mut m = Mocks::default();
        m.endpoints.expect_list().returning(|_| Ok(Vec::new()));
        m.targets
            .expect_check()
            .returning(|_| Err(TargetRefused { code: "webhook_blocked_address", message: "private address".into() }));
        m.endpoints.expect_insert().never();
        let err = m.service().create(tenant(), new_webhook("https://10.0.0.1/")).await.unwrap_err();
        assert_eq!(err.code(), "webhook_blocked_address");
    }

    #[tokio::test]
    async fn the_walytic_format_refuses_events_it_cannot_carry() {
        let mut m = Mocks::default();
        m.targets.expect_check().never();
        m.endpoints.expect_insert().never();
        let new = NewWebhook {
            format: WebhookFormat::Walytic,
            events: EventFilter::parse(&["status.published", "session.connected"]).unwrap(),
            ..new_webhook("https://hooks.example.com/in")
        };
        let err = m.service().create(tenant(), new).await.unwrap_err();
        assert_eq!(err.code(), "webhook_events_unsupported");
        assert!(err.to_string().contains("session.connected"), "{err}");
    }

    #[tokio::test]
    async fn a_tenant_has_a_bounded_number_of_endpoints() {
        let mut m = Mocks::default();
        m.endpoints.expect_list().returning(|_| Ok(vec![endpoint(), endpoint()]));
        m.endpoints.expect_insert().never();
        let settings = WebhookSettings { max_endpoints_per_tenant: 2, ..WebhookSettings::default() };
        let err = m.service_with(settings).create(tenant(), new_webhook("https://a.example/")).await.unwrap_err();
        assert_eq!(err.code(), "webhook_limit_reached");
    }

    #[tokio::test]
    async fn updating_checks_a_new_url_and_enabling_clears_the_reason() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| {
            Ok(Some(WebhookEndpoint { enabled: false, disabled_reason: Some("410".into()), ..endpoint() }))
        });
        m.targets.expect_check().withf(|u| u.as_str() == "https://new.example/").times(1).returning(|_| Ok(()));
        m.endpoints
            .expect_update()
            .withf(|e| e.enabled && e.disabled_reason.is_none() && e.url.as_str() == "https://new.example/")
            .times(1)
            .returning(|_| Ok(true));
        let changes = WebhookChanges {
            url: Some(WebhookUrl::new("https://new.example/").unwrap()),
            enabled: Some(true),
            ..WebhookChanges::default()
        };
        let updated = m.service().update(tenant(), hook_id(), changes).await.unwrap();
        assert_eq!(updated.updated_at, at(10));
    }

    #[tokio::test]
    async fn an_unchanged_url_is_not_checked_again_and_formats_are_checked_with_the_events() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| Ok(Some(endpoint())));
        m.targets.expect_check().never();
        m.endpoints.expect_update().never();
        let changes = WebhookChanges {
            url: Some(endpoint().url),
            format: Some(WebhookFormat::Walytic),
            events: Some(EventFilter::parse(&["status.failed"]).unwrap()),
            ..WebhookChanges::default()
        };
        let err = m.service().update(tenant(), hook_id(), changes).await.unwrap_err();
        assert_eq!(err.code(), "webhook_events_unsupported");
    }

    #[tokio::test]
    async fn another_tenants_webhook_is_not_found() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| Ok(None));
        m.endpoints.expect_delete().returning(|_, _| Ok(false));
        m.deliveries.expect_list().never();
        let service = m.service();
        assert_eq!(service.get(tenant(), hook_id()).await.unwrap_err().code(), "webhook_not_found");
        assert_eq!(service.delete(tenant(), hook_id()).await.unwrap_err().code(), "webhook_not_found");
        let err = service.deliveries(tenant(), hook_id(), &DeliveryQuery::default()).await.unwrap_err();
        assert_eq!(err.code(), "webhook_not_found");
        assert_eq!(service.ping(tenant(), hook_id()).await.unwrap_err().code(), "webhook_not_found");
    }

    #[tokio::test]
    async fn rotating_keeps_the_old_secret_signing_for_the_overlap() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| Ok(Some(endpoint())));
        m.secrets.expect_mint().returning(|| secret('B'));
        m.endpoints
            .expect_update()
            .withf(|e| {
                e.secrets.current == secret('B')
                    && e.secrets.previous == Some(PreviousSecret { secret: secret('A'), expires_at: at(70) })
            })
            .times(1)
            .returning(|_| Ok(true));
        let service = m.service();
        let issued = service.rotate_secret(tenant(), hook_id(), Some(Duration::from_secs(60))).await.unwrap();
        assert_eq!(issued.secret, secret('B'));
        let err = service.rotate_secret(tenant(), hook_id(), Some(Duration::from_secs(8 * 86_400))).await.unwrap_err();
        assert_eq!(err.code(), "invalid_rotation_overlap");
    }

    #[tokio::test]
    async fn a_ping_is_sent_once_and_logged() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| Ok(Some(WebhookEndpoint { enabled: false, ..endpoint() })));
        m.sender
            .expect_send()
            .withf(|_, message, at_| {
                matches!(message, WebhookMessage::Ping(p) if p.webhook == hook_id()) && *at_ == at(10)
            })
            .times(1)
            .returning(|_, _, _| outcome(500));
        m.deliveries
            .expect_insert()
            .withf(|d, attempts| d.state == DeliveryState::Failed && d.next_attempt_at.is_none() && attempts.len() == 1)
            .times(1)
            .returning(|_, _| Ok(()));
        let record = m.service().ping(tenant(), hook_id()).await.unwrap();
        assert_eq!(record.attempts[0].status_code, Some(500));
        assert_eq!(record.delivery.message.type_name(), "webhook.ping");
    }

    #[tokio::test]
    async fn redelivering_requeues_and_nudges_the_dispatcher() {
        let mut m = Mocks::default();
        m.endpoints.expect_get().returning(|_, _| Ok(Some(endpoint())));
        let id = DeliveryId::from_uuid(Uuid::from_u128(55));
        m.deliveries.expect_requeue().withf(move |_, _, d, t| *d == id && *t == at(10)).times(1).returning(
            |_, _, _, _| {
                let delivery = Delivery::new(
                    DeliveryId::from_uuid(Uuid::from_u128(55)),
                    &endpoint(),
                    WebhookMessage::Event(event()),
                    at(10),
                );
                Ok(Some(DeliveryRecord { delivery, attempts: Vec::new() }))
            },
        );
        m.signal.expect_nudge().times(1).return_const(());
        let record = m.service().redeliver(tenant(), hook_id(), id).await.unwrap();
        assert_eq!(record.delivery.next_attempt_at, Some(at(10)));
    }

    #[tokio::test]
    async fn redelivering_needs_an_enabled_endpoint_and_a_known_delivery() {
        let mut m = Mocks::default();
        let enabled = Mutex::new(false);
        m.endpoints.expect_get().returning(move |_, _| {
            let mut e = enabled.lock().unwrap();
            let endpoint = WebhookEndpoint { enabled: *e, ..endpoint() };
            *e = true;
            Ok(Some(endpoint))
        });
        m.deliveries.expect_requeue().returning(|_, _, _, _| Ok(None));
        m.signal.expect_nudge().never();
        let service = m.service();
        let id = DeliveryId::from_uuid(Uuid::from_u128(55));
        assert_eq!(service.redeliver(tenant(), hook_id(), id).await.unwrap_err().code(), "webhook_disabled");
        assert_eq!(service.redeliver(tenant(), hook_id(), id).await.unwrap_err().code(), "delivery_not_found");
    }

    fn claimed(delivery: Delivery) -> ClaimedDelivery {
        ClaimedDelivery { delivery, endpoint: endpoint(), lease_until: at(70) }
    }

    fn pending() -> Delivery {
        Delivery::new(DeliveryId::from_uuid(Uuid::from_u128(60)), &endpoint(), WebhookMessage::Event(event()), at(1))
    }

    #[tokio::test]
    async fn claims_are_leased_for_the_configured_time() {
        let mut m = Mocks::default();
        m.deliveries
            .expect_claim_due()
            .withf(|c| {
                c.now == at(10)
                    && c.lease_until == at(70)
                    && c.limit == 8
                    && c.per_endpoint == 2
                    && c.skip == [hook_id()]
            })
            .times(1)
            .returning(|_| Ok(Vec::new()));
        assert!(m.service().claim_due(8, 2, vec![hook_id()]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_attempt_is_recorded_and_retried_later() {
        let mut m = Mocks::default();
        m.sender.expect_send().times(1).returning(|_, _, _| outcome(503));
        m.deliveries
            .expect_record_attempt()
            .withf(|d, a, lease| {
                d.state == DeliveryState::Pending
                    && d.next_attempt_at == Some(at(15))
                    && a.number == 1
                    && a.status_code == Some(503)
                    && *lease == at(70)
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.endpoints.expect_disable().never();
        let delivered = m.service().deliver(claimed(pending())).await.unwrap();
        assert_eq!(delivered.verdict, AttemptVerdict::Retry(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn retry_after_pushes_the_next_attempt_back() {
        let mut m = Mocks::default();
        m.sender
            .expect_send()
            .returning(|_, _, _| AttemptOutcome { retry_after: Some(Duration::from_secs(120)), ..outcome(429) });
        m.deliveries
            .expect_record_attempt()
            .withf(|d, _, _| d.next_attempt_at == Some(at(130)))
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.service().deliver(claimed(pending())).await.unwrap();
    }

    #[tokio::test]
    async fn gone_fails_the_delivery_and_disables_the_endpoint() {
        let mut m = Mocks::default();
        m.sender.expect_send().returning(|_, _, _| outcome(410));
        m.deliveries
            .expect_record_attempt()
            .withf(|d, _, _| d.state == DeliveryState::Failed && d.next_attempt_at.is_none())
            .times(1)
            .returning(|_, _, _| Ok(true));
        m.endpoints
            .expect_disable()
            .withf(|t, id, reason, _| *t == tenant() && *id == hook_id() && reason.contains("410"))
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let delivered = m.service().deliver(claimed(pending())).await.unwrap();
        assert_eq!(delivered.verdict, AttemptVerdict::Gone);
    }

    #[tokio::test]
    async fn the_last_failure_of_the_schedule_fails_the_delivery() {
        let mut m = Mocks::default();
        m.sender.expect_send().returning(|_, _, _| AttemptOutcome {
            error: Some("timed out after 15 s".into()),
            latency: Duration::from_secs(15),
            ..AttemptOutcome::default()
        });
        m.deliveries
            .expect_record_attempt()
            .withf(|d, a, _| d.state == DeliveryState::Failed && a.number == 3 && a.error.is_some())
            .times(1)
            .returning(|_, _, _| Ok(true));
        let settings = WebhookSettings {
            retry: RetryPolicy { delays: vec![Duration::from_secs(1), Duration::from_secs(2)], ..RetryPolicy::none() },
            ..WebhookSettings::default()
        };
        let delivery = Delivery { attempts: 2, ..pending() };
        let delivered = m.service_with(settings).deliver(claimed(delivery)).await.unwrap();
        assert_eq!(delivered.verdict, AttemptVerdict::Exhausted);
    }

    #[tokio::test]
    async fn success_settles_the_delivery_and_a_lost_lease_is_reported() {
        let mut m = Mocks::default();
        m.sender.expect_send().returning(|_, _, _| outcome(204));
        m.deliveries
            .expect_record_attempt()
            .withf(|d, _, _| d.state == DeliveryState::Succeeded)
            .returning(|_, _, _| Ok(false));
        let delivered = m.service().deliver(claimed(pending())).await.unwrap();
        assert_eq!((delivered.verdict, delivered.recorded), (AttemptVerdict::Succeeded, false));
    }

    #[tokio::test]
    async fn deliver_due_claims_and_attempts_each() {
        let mut m = Mocks::default();
        m.deliveries.expect_claim_due().times(1).returning(|_| Ok(vec![claimed(pending()), claimed(pending())]));
        m.sender.expect_send().times(2).returning(|_, _, _| outcome(200));
        m.deliveries.expect_record_attempt().times(2).returning(|_, _, _| Ok(true));
        assert_eq!(m.service().deliver_due(10).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn fan_out_passes_the_time_and_the_ids() {
        let mut m = Mocks::default();
        m.outbox.expect_fan_out().withf(|limit, now, _| *limit == 50 && *now == at(10)).times(1).returning(
            |_, _, ids| {
                assert_ne!(ids.uuid(), ids.uuid(), "fresh ids");
                Ok(FanOut { events: 3, deliveries: 4, unreadable: 0 })
            },
        );
        assert_eq!(m.service().fan_out(50).await.unwrap(), FanOut { events: 3, deliveries: 4, unreadable: 0 });
    }
}
