//! The webhook ports: `WebhookEndpointRepository`, `WebhookOutbox` and
//! `WebhookDeliveryRepository`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uuid::Uuid;
use wastatus_domain::ports::{
    ClaimedDelivery, DueClaim, FanOut, IdGenerator, InsertError, WebhookDeliveryRepository, WebhookEndpointRepository,
    WebhookOutbox,
};
use wastatus_domain::{
    AttemptOutcome, Delivery, DeliveryCursor, DeliveryId, DeliveryQuery, DeliveryState, Event, EventFilter, EventId,
    PageLimit, Ping, RetryPolicy, SessionId, SessionKey, SessionState, SigningSecrets, TenantId, Timestamp,
    WebhookEndpoint, WebhookFormat, WebhookId, WebhookMessage, WebhookSecret, WebhookUrl,
};
use wastatus_storage::Storage;

use crate::fixtures::{at, given_session, given_session_of, given_tenant};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    endpoints_round_trip,
    endpoints_are_tenant_scoped,
    an_endpoint_of_an_unknown_tenant_has_no_parent,
    disabling_keeps_the_first_reason,
    fan_out_creates_a_delivery_per_wanting_endpoint,
    fan_out_takes_each_event_once,
    an_unreadable_event_does_not_block_the_outbox,
    concurrent_fan_outs_never_share_an_event,
    due_deliveries_are_claimed_with_a_lease,
    claims_respect_the_per_endpoint_cap_and_the_skip_list,
    deliveries_of_disabled_endpoints_wait,
    an_attempt_is_recorded_only_under_its_lease,
    the_delivery_log_pages_newest_first_with_attempts,
    requeueing_starts_a_new_round,
    a_ping_is_stored_with_its_attempt,
    next_due_is_the_earliest_pending_delivery,
    deleting_an_endpoint_deletes_its_deliveries,
    concurrent_claimers_never_share_a_delivery,
);

fn endpoints(db: &TestDb) -> &dyn WebhookEndpointRepository {
    &db.storage
}

fn deliveries(db: &TestDb) -> &dyn WebhookDeliveryRepository {
    &db.storage
}

fn outbox(db: &TestDb) -> &dyn WebhookOutbox {
    &db.storage
}

/// Fresh v7 ids.
struct Ids;

impl IdGenerator for Ids {
    fn uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}

fn ids() -> Arc<dyn IdGenerator> {
    Arc::new(Ids)
}

fn secret(c: char) -> WebhookSecret {
    WebhookSecret::new(format!("whsec_{}", c.to_string().repeat(32))).unwrap()
}

fn endpoint(tenant: TenantId, created_at: Timestamp) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::from_uuid(Uuid::now_v7()),
        tenant,
        url: WebhookUrl::new("https://hooks.example.com/wastatus?key=1").unwrap(),
        events: EventFilter::All,
        format: WebhookFormat::Native,
        session: None,
        enabled: true,
        disabled_reason: None,
        secrets: SigningSecrets::new(secret('A')),
        created_at,
        updated_at: created_at,
    }
}

async fn given_endpoint(db: &TestDb, endpoint: WebhookEndpoint) -> WebhookEndpoint {
    endpoints(db).insert(&endpoint).await.unwrap();
    endpoint
}

fn session_event(key: &SessionKey, state: SessionState, at: Timestamp) -> Event {
    Event::of_session(EventId::from_uuid(Uuid::now_v7()), key, state, at)
}

/// Stores `state` for the session with its event in the outbox, as the sessions service does.
async fn given_event(db: &TestDb, key: &SessionKey, state: SessionState, at: Timestamp) -> Event {
    let event = session_event(key, state, at);
    assert!(db.sessions().set_state(key, state, at, std::slice::from_ref(&event)).await.unwrap());
    event
}

/// A state different from the one before, for tests that record many changes in a row.
fn alternating(i: i64) -> SessionState {
    if i % 2 == 0 { SessionState::Disconnected } else { SessionState::Connected }
}

/// A pending delivery of a ping to `endpoint`, due at `due`.
fn ping_delivery(endpoint: &WebhookEndpoint, due: Timestamp) -> Delivery {
    let ping = Ping { id: EventId::from_uuid(Uuid::now_v7()), webhook: endpoint.id, occurred_at: due };
    Delivery::new(DeliveryId::from_uuid(Uuid::now_v7()), endpoint, WebhookMessage::Ping(ping), due)
}

async fn given_delivery(db: &TestDb, endpoint: &WebhookEndpoint, due: Timestamp) -> Delivery {
    let delivery = ping_delivery(endpoint, due);
    deliveries(db).insert(&delivery, &[]).await.unwrap();
    delivery
}

fn claim(now: Timestamp, limit: u32) -> DueClaim {
    DueClaim { now, lease_until: now + chrono::Duration::seconds(60), limit, per_endpoint: limit, skip: Vec::new() }
}

fn claimed_ids(claimed: &[ClaimedDelivery]) -> Vec<DeliveryId> {
    claimed.iter().map(|c| c.delivery.id).collect()
}

fn outcome(status: u16) -> AttemptOutcome {
    AttemptOutcome {
        status_code: Some(status),
        latency: Duration::from_millis(42),
        response_excerpt: Some("nope".to_owned()),
        ..AttemptOutcome::default()
    }
}

fn retries() -> RetryPolicy {
    RetryPolicy { delays: vec![Duration::from_secs(10)], jitter_percent: 0, max_retry_after: Duration::ZERO }
}

async fn endpoints_round_trip(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let plain = given_endpoint(&db, endpoint(tenant.id, at(1, 5))).await;
    let mut secrets = SigningSecrets::new(secret('B'));
    secrets.rotate(secret('C'), at(2, 0), Duration::from_secs(3600));
    let fancy = WebhookEndpoint {
        url: WebhookUrl::new("http://127.0.0.1:9000/in").unwrap(),
        events: EventFilter::parse(&["status.published"]).unwrap(),
        format: WebhookFormat::Walytic,
        session: Some(SessionId::new("shop_919876543210.v2").unwrap()),
        enabled: false,
        disabled_reason: Some("the receiver answered 410 Gone".to_owned()),
        secrets,
        ..endpoint(tenant.id, at(2, 999_999))
    };
    let fancy = given_endpoint(&db, fancy).await;

    assert_eq!(endpoints(&db).get(tenant.id, plain.id).await.unwrap(), Some(plain.clone()));
    assert_eq!(endpoints(&db).get(tenant.id, fancy.id).await.unwrap(), Some(fancy.clone()));
    assert_eq!(endpoints(&db).list(tenant.id).await.unwrap(), vec![plain.clone(), fancy.clone()]);

    let changed = WebhookEndpoint {
        url: WebhookUrl::new("https://other.example.com/").unwrap(),
        events: EventFilter::parse(&["session.logged_out", "status.failed"]).unwrap(),
        session: None,
        enabled: true,
        disabled_reason: None,
        format: WebhookFormat::Native,
        updated_at: at(9, 0),
        // Neither the tenant nor the creation time change.
        created_at: at(0, 0),
        ..fancy.clone()
    };
    assert!(endpoints(&db).update(&changed).await.unwrap());
    let stored = endpoints(&db).get(tenant.id, fancy.id).await.unwrap().unwrap();
    assert_eq!(stored, WebhookEndpoint { created_at: fancy.created_at, ..changed });

    assert!(endpoints(&db).delete(tenant.id, plain.id).await.unwrap());
    assert!(!endpoints(&db).delete(tenant.id, plain.id).await.unwrap());
    assert_eq!(endpoints(&db).get(tenant.id, plain.id).await.unwrap(), None);
    let secret_column = db
        .raw_text(
            &format!("SELECT secret FROM webhook_endpoints WHERE id = {}", db.uuid_literal(fancy.id.as_uuid())),
            "secret",
        )
        .await;
    assert_eq!(secret_column, secret('C').expose(), "the secret is stored as it is, for signing");
}

async fn endpoints_are_tenant_scoped(db: TestDb) {
    let a = given_tenant(&db).await;
    let b = given_tenant(&db).await;
    let mine = given_endpoint(&db, endpoint(a.id, at(1, 0))).await;
    assert_eq!(endpoints(&db).get(b.id, mine.id).await.unwrap(), None);
    assert_eq!(endpoints(&db).list(b.id).await.unwrap(), vec![]);
    assert!(!endpoints(&db).update(&WebhookEndpoint { tenant: b.id, ..mine.clone() }).await.unwrap());
    assert!(!endpoints(&db).delete(b.id, mine.id).await.unwrap());
    assert!(!endpoints(&db).disable(b.id, mine.id, "x", at(2, 0)).await.unwrap());
    assert_eq!(endpoints(&db).get(a.id, mine.id).await.unwrap(), Some(mine.clone()), "untouched");
    let delivery = given_delivery(&db, &mine, at(1, 0)).await;
    assert_eq!(deliveries(&db).get(b.id, mine.id, delivery.id).await.unwrap(), None);
    let page = deliveries(&db).list(b.id, mine.id, &DeliveryQuery::default()).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(deliveries(&db).requeue(b.id, mine.id, delivery.id, at(3, 0)).await.unwrap(), None);
}

async fn an_endpoint_of_an_unknown_tenant_has_no_parent(db: TestDb) {
    let err = endpoints(&db).insert(&endpoint(TenantId::from_uuid(Uuid::new_v4()), at(1, 0))).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    let tenant = given_tenant(&db).await;
    let orphan = endpoint(tenant.id, at(1, 0));
    let err = deliveries(&db).insert(&ping_delivery(&orphan, at(1, 0)), &[]).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
}

async fn disabling_keeps_the_first_reason(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    assert!(endpoints(&db).disable(tenant.id, hook.id, "first", at(2, 0)).await.unwrap());
    assert!(endpoints(&db).disable(tenant.id, hook.id, "second", at(3, 0)).await.unwrap());
    let stored = endpoints(&db).get(tenant.id, hook.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.enabled, stored.disabled_reason.as_deref(), stored.updated_at),
        (false, Some("first"), at(2, 0))
    );
    assert!(!endpoints(&db).disable(tenant.id, WebhookId::from_uuid(Uuid::now_v7()), "x", at(2, 0)).await.unwrap());
}

async fn fan_out_creates_a_delivery_per_wanting_endpoint(db: TestDb) {
    let main = given_session(&db, "main").await;
    let tenant = main.tenant;
    let other = given_session_of(&db, tenant, "other").await;
    let everything = given_endpoint(&db, endpoint(tenant, at(1, 0))).await;
    let only_main =
        given_endpoint(&db, WebhookEndpoint { session: Some(main.id.clone()), ..endpoint(tenant, at(1, 1)) }).await;
    let only_logouts = given_endpoint(
        &db,
        WebhookEndpoint { events: EventFilter::parse(&["session.logged_out"]).unwrap(), ..endpoint(tenant, at(1, 2)) },
    )
    .await;
    let walytic =
        given_endpoint(&db, WebhookEndpoint { format: WebhookFormat::Walytic, ..endpoint(tenant, at(1, 3)) }).await;
    let disabled = given_endpoint(&db, WebhookEndpoint { enabled: false, ..endpoint(tenant, at(1, 4)) }).await;
    let elsewhere = given_session(&db, "main").await;
    let foreign = given_endpoint(&db, endpoint(elsewhere.tenant, at(1, 5))).await;

    let connected = given_event(&db, &main, SessionState::Connected, at(10, 0)).await;
    let logged_out = given_event(&db, &other, SessionState::LoggedOut, at(11, 0)).await;

    let report = outbox(&db).fan_out(10, at(20, 0), ids()).await.unwrap();
    assert_eq!(report, FanOut { events: 2, deliveries: 4, unreadable: 0 });
    assert!(db.outbox().await.iter().all(|row| row.dispatched_at == Some(at(20, 0))));

    let events_of = |hook: &WebhookEndpoint| {
        let hook = hook.clone();
        let db = &db;
        async move {
            let page = deliveries(db).list(hook.tenant, hook.id, &DeliveryQuery::default()).await.unwrap();
            page.items.into_iter().map(|r| r.delivery).collect::<Vec<_>>()
        }
    };
    let got = events_of(&everything).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message, WebhookMessage::Event(logged_out.clone()), "newest first");
    assert_eq!(got[1].message, WebhookMessage::Event(connected.clone()));
    assert!(got.iter().all(|d| d.state == DeliveryState::Pending && d.next_attempt_at == Some(at(20, 0))));
    assert_eq!(events_of(&only_main).await.iter().map(|d| d.message.id()).collect::<Vec<_>>(), [connected.id]);
    assert_eq!(events_of(&only_logouts).await.iter().map(|d| d.message.id()).collect::<Vec<_>>(), [logged_out.id]);
    assert!(events_of(&walytic).await.is_empty(), "walytic carries published statuses only");
    assert!(events_of(&disabled).await.is_empty());
    assert!(events_of(&foreign).await.is_empty());
}

async fn fan_out_takes_each_event_once(db: TestDb) {
    let main = given_session(&db, "main").await;
    let hook = given_endpoint(&db, endpoint(main.tenant, at(1, 0))).await;
    for i in 0..5 {
        given_event(&db, &main, alternating(i), at(10 + i, 0)).await;
    }
    assert_eq!(outbox(&db).fan_out(3, at(20, 0), ids()).await.unwrap().events, 3);
    assert_eq!(outbox(&db).fan_out(3, at(21, 0), ids()).await.unwrap().events, 2);
    assert_eq!(outbox(&db).fan_out(3, at(22, 0), ids()).await.unwrap(), FanOut::default());
    let page = deliveries(&db).list(main.tenant, hook.id, &DeliveryQuery::default()).await.unwrap();
    let unique: HashSet<EventId> = page.items.iter().map(|r| r.delivery.message.id()).collect();
    assert_eq!((page.items.len(), unique.len()), (5, 5));
    let rows = db.outbox().await;
    assert_eq!(rows.iter().filter(|r| r.dispatched_at == Some(at(20, 0))).count(), 3, "the oldest first");
    assert!(rows[..3].iter().all(|r| r.dispatched_at == Some(at(20, 0))));
}

async fn an_unreadable_event_does_not_block_the_outbox(db: TestDb) {
    let main = given_session(&db, "main").await;
    let hook = given_endpoint(&db, endpoint(main.tenant, at(1, 0))).await;
    let id = Uuid::now_v7();
    let occurred = if db.is_sqlite() { "'2027-01-15T08:00:05.000000Z'" } else { "'2027-01-15T08:00:05Z'" };
    db.raw(&format!(
        "INSERT INTO outbox_events (id, tenant_id, session_id, kind, payload, occurred_at) \
         VALUES ({}, {}, 'main', 'status.exploded', '{{\"not\": \"an event\"}}', {occurred})",
        db.uuid_literal(&id),
        db.uuid_literal(main.tenant.as_uuid())
    ))
    .await;
    given_event(&db, &main, SessionState::Connected, at(10, 0)).await;
    let report = outbox(&db).fan_out(10, at(20, 0), ids()).await.unwrap();
    assert_eq!(report, FanOut { events: 2, deliveries: 1, unreadable: 1 });
    let page = deliveries(&db).list(main.tenant, hook.id, &DeliveryQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn concurrent_fan_outs_never_share_an_event(db: TestDb) {
    let main = given_session(&db, "main").await;
    let hook = given_endpoint(&db, endpoint(main.tenant, at(1, 0))).await;
    for i in 0..60 {
        given_event(&db, &main, alternating(i64::from(i)), at(10, i)).await;
    }
    let other = db.another_process().await;
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let storage = if i % 2 == 0 { db.storage.clone() } else { other.clone() };
            tokio::spawn(async move {
                let mut events = 0;
                loop {
                    let report = WebhookOutbox::fan_out(&storage, 4, at(20, 0), ids()).await.expect("fan out");
                    if report.events == 0 {
                        return events;
                    }
                    events += report.events;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    assert_eq!(total, 60, "each event taken once");
    let query = DeliveryQuery { limit: PageLimit::new(100).unwrap(), ..DeliveryQuery::default() };
    let page = deliveries(&db).list(main.tenant, hook.id, &query).await.unwrap();
    assert_eq!(page.items.len(), 60);
}

async fn due_deliveries_are_claimed_with_a_lease(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let late = given_delivery(&db, &hook, at(30, 0)).await;
    let early = given_delivery(&db, &hook, at(10, 0)).await;
    let exact = given_delivery(&db, &hook, at(20, 0)).await;
    let claimed = deliveries(&db).claim_due(&claim(at(20, 0), 10)).await.unwrap();
    assert_eq!(claimed_ids(&claimed), [early.id, exact.id], "due ones, oldest first");
    assert_eq!(claimed[0].endpoint, hook);
    assert_eq!(claimed[0].lease_until, at(80, 0));
    assert_eq!(claimed[0].delivery, early);
    assert!(deliveries(&db).claim_due(&claim(at(79, 0), 10)).await.unwrap().iter().all(|c| c.delivery.id == late.id));
    // The first claim's lease runs out at 80: its deliveries are claimed again.
    let again = deliveries(&db).claim_due(&claim(at(80, 0), 10)).await.unwrap();
    assert_eq!(claimed_ids(&again), [early.id, exact.id]);
}

async fn claims_respect_the_per_endpoint_cap_and_the_skip_list(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let busy = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let quiet = given_endpoint(&db, endpoint(tenant.id, at(1, 1))).await;
    let mut busy_ones = Vec::new();
    for i in 0..5 {
        busy_ones.push(given_delivery(&db, &busy, at(10, i)).await);
    }
    let quiet_one = given_delivery(&db, &quiet, at(15, 0)).await;
    let capped = DueClaim { per_endpoint: 2, ..claim(at(20, 0), 10) };
    let claimed = deliveries(&db).claim_due(&capped).await.unwrap();
    assert_eq!(claimed_ids(&claimed), [busy_ones[0].id, busy_ones[1].id, quiet_one.id]);
    let skipping = DueClaim { skip: vec![quiet.id], ..claim(at(20, 0), 10) };
    let claimed = deliveries(&db).claim_due(&skipping).await.unwrap();
    assert_eq!(claimed_ids(&claimed), busy_ones[2..].iter().map(|d| d.id).collect::<Vec<_>>());
}

async fn deliveries_of_disabled_endpoints_wait(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let delivery = given_delivery(&db, &hook, at(10, 0)).await;
    endpoints(&db).disable(tenant.id, hook.id, "410", at(11, 0)).await.unwrap();
    assert!(deliveries(&db).claim_due(&claim(at(20, 0), 10)).await.unwrap().is_empty());
    assert_eq!(deliveries(&db).next_due().await.unwrap(), None);
    let enabled = WebhookEndpoint { enabled: true, disabled_reason: None, ..hook.clone() };
    endpoints(&db).update(&enabled).await.unwrap();
    assert_eq!(claimed_ids(&deliveries(&db).claim_due(&claim(at(20, 0), 10)).await.unwrap()), [delivery.id]);
}

async fn an_attempt_is_recorded_only_under_its_lease(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    given_delivery(&db, &hook, at(10, 0)).await;
    let mut claimed = deliveries(&db).claim_due(&claim(at(20, 0), 1)).await.unwrap().remove(0);
    let (attempt, _) = claimed.delivery.record(&outcome(503), at(21, 0), &retries());
    // A lease that is not the one held: nothing is saved.
    assert!(!deliveries(&db).record_attempt(&claimed.delivery, &attempt, at(81, 0)).await.unwrap());
    assert!(deliveries(&db).record_attempt(&claimed.delivery, &attempt, claimed.lease_until).await.unwrap());
    let record = deliveries(&db).get(tenant.id, hook.id, claimed.delivery.id).await.unwrap().unwrap();
    assert_eq!(record.delivery, claimed.delivery);
    assert_eq!(record.delivery.next_attempt_at, Some(at(31, 0)));
    assert_eq!(record.attempts, vec![attempt]);
    // The lease was released: the retry is claimable when due, not before.
    assert!(deliveries(&db).claim_due(&claim(at(30, 0), 1)).await.unwrap().is_empty());
    assert_eq!(deliveries(&db).claim_due(&claim(at(31, 0), 1)).await.unwrap().len(), 1);
    // Recording twice under a released lease fails.
    assert!(
        !deliveries(&db).record_attempt(&claimed.delivery, &record.attempts[0], claimed.lease_until).await.unwrap()
    );
}

async fn the_delivery_log_pages_newest_first_with_attempts(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let mut all = Vec::new();
    for i in 0..5 {
        // Two per instant: ties are broken by id.
        all.push(given_delivery(&db, &hook, at(10 + i / 2, 0)).await);
    }
    let mut failing = deliveries(&db).claim_due(&claim(at(10, 0), 1)).await.unwrap().remove(0);
    let (first, _) = failing.delivery.record(&outcome(500), at(10, 1), &retries());
    deliveries(&db).record_attempt(&failing.delivery, &first, failing.lease_until).await.unwrap();
    let all_due = deliveries(&db).claim_due(&claim(at(30, 0), 10)).await.unwrap();
    let mut again = all_due.into_iter().find(|c| c.delivery.id == failing.delivery.id).expect("its retry is due");
    let (second, _) = again.delivery.record(&outcome(500), at(30, 1), &retries());
    deliveries(&db).record_attempt(&again.delivery, &second, again.lease_until).await.unwrap();

    let mut expected: Vec<DeliveryId> = all.iter().map(|d| d.id).collect();
    expected.sort_by_key(|id| std::cmp::Reverse((all.iter().find(|d| d.id == *id).unwrap().created_at, *id)));
    let mut seen = Vec::new();
    let mut query = DeliveryQuery { limit: PageLimit::new(2).unwrap(), ..DeliveryQuery::default() };
    loop {
        let page = deliveries(&db).list(tenant.id, hook.id, &query).await.unwrap();
        seen.extend(page.items.iter().map(|r| r.delivery.id));
        for record in &page.items {
            if record.delivery.id == failing.delivery.id {
                assert_eq!(record.attempts, vec![first.clone(), second.clone()]);
                assert_eq!(record.delivery.state, DeliveryState::Failed);
                assert_eq!(record.delivery.last_latency, Some(Duration::from_millis(42)));
            } else {
                assert!(record.attempts.is_empty());
            }
        }
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let failed = DeliveryQuery { state: Some(DeliveryState::Failed), ..DeliveryQuery::default() };
    let page = deliveries(&db).list(tenant.id, hook.id, &failed).await.unwrap();
    assert_eq!(page.items.iter().map(|r| r.delivery.id).collect::<Vec<_>>(), [failing.delivery.id]);
    let after_all = DeliveryQuery {
        after: Some(DeliveryCursor { created_at: at(0, 0), id: DeliveryId::from_uuid(Uuid::nil()) }),
        ..DeliveryQuery::default()
    };
    assert!(deliveries(&db).list(tenant.id, hook.id, &after_all).await.unwrap().items.is_empty());
}

async fn requeueing_starts_a_new_round(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    given_delivery(&db, &hook, at(10, 0)).await;
    let mut claimed = deliveries(&db).claim_due(&claim(at(10, 0), 1)).await.unwrap().remove(0);
    let attempt = claimed.delivery.record_once(&outcome(500), at(11, 0));
    deliveries(&db).record_attempt(&claimed.delivery, &attempt, claimed.lease_until).await.unwrap();
    let record = deliveries(&db).requeue(tenant.id, hook.id, claimed.delivery.id, at(50, 0)).await.unwrap().unwrap();
    assert_eq!(record.delivery.state, DeliveryState::Pending);
    assert_eq!(record.delivery.next_attempt_at, Some(at(50, 0)));
    assert_eq!((record.delivery.attempts, record.delivery.round_start), (1, 1));
    assert_eq!(record.attempts.len(), 1, "the log stays");
    assert_eq!(claimed_ids(&deliveries(&db).claim_due(&claim(at(50, 0), 1)).await.unwrap()), [claimed.delivery.id]);
    let missing = DeliveryId::from_uuid(Uuid::now_v7());
    assert_eq!(deliveries(&db).requeue(tenant.id, hook.id, missing, at(50, 0)).await.unwrap(), None);
}

async fn a_ping_is_stored_with_its_attempt(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let mut ping = ping_delivery(&hook, at(5, 0));
    let attempt = ping.record_once(&outcome(204), at(5, 0));
    deliveries(&db).insert(&ping, std::slice::from_ref(&attempt)).await.unwrap();
    let record = deliveries(&db).get(tenant.id, hook.id, ping.id).await.unwrap().unwrap();
    assert_eq!(record.delivery, ping);
    assert_eq!(record.delivery.state, DeliveryState::Succeeded);
    assert_eq!(record.attempts, vec![attempt]);
    assert!(deliveries(&db).claim_due(&claim(at(100, 0), 10)).await.unwrap().is_empty(), "settled: never claimed");
}

async fn next_due_is_the_earliest_pending_delivery(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    assert_eq!(deliveries(&db).next_due().await.unwrap(), None);
    given_delivery(&db, &hook, at(30, 0)).await;
    given_delivery(&db, &hook, at(20, 5)).await;
    assert_eq!(deliveries(&db).next_due().await.unwrap(), Some(at(20, 5)));
    // Leased until 80: the next due is the other one, then the lease's end.
    deliveries(&db).claim_due(&claim(at(20, 5), 1)).await.unwrap();
    assert_eq!(deliveries(&db).next_due().await.unwrap(), Some(at(30, 0)));
}

async fn deleting_an_endpoint_deletes_its_deliveries(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let hook = given_endpoint(&db, endpoint(tenant.id, at(1, 0))).await;
    let mut ping = ping_delivery(&hook, at(5, 0));
    let attempt = ping.record_once(&outcome(500), at(5, 0));
    deliveries(&db).insert(&ping, &[attempt]).await.unwrap();
    assert!(endpoints(&db).delete(tenant.id, hook.id).await.unwrap());
    let count = db.raw_text("SELECT CAST(COUNT(*) AS TEXT) AS n FROM webhook_attempts", "n").await;
    assert_eq!(count, "0");
    let count = db.raw_text("SELECT CAST(COUNT(*) AS TEXT) AS n FROM webhook_deliveries", "n").await;
    assert_eq!(count, "0");
}

async fn concurrent_claimers_never_share_a_delivery(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let mut expected = HashSet::new();
    for e in 0..4 {
        let hook = given_endpoint(&db, endpoint(tenant.id, at(1, e))).await;
        for i in 0..30 {
            expected.insert(given_delivery(&db, &hook, at(10, i)).await.id);
        }
    }
    let other = db.another_process().await;
    let rounds = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let storage: Storage = if i % 2 == 0 { db.storage.clone() } else { other.clone() };
            let rounds = Arc::clone(&rounds);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = WebhookDeliveryRepository::claim_due(
                        &storage,
                        &DueClaim { per_endpoint: 3, ..claim(at(20, 0), 5) },
                    )
                    .await
                    .expect("claim");
                    rounds.fetch_add(1, Ordering::Relaxed);
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed_ids(&batch));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for handle in handles {
        claimed.extend(handle.await.unwrap());
    }
    let unique: HashSet<DeliveryId> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "no delivery claimed twice");
    assert_eq!(unique, expected, "every delivery claimed");
}
