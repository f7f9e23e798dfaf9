//! The whole path on SQLite: events in the outbox, fan-out, the dispatcher loop, the HTTP
//! sender and a loopback receiver.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;
use wastatus_domain::ports::{
    Clock, IdGenerator, SessionRepository, TenantRepository, WebhookDeliveryRepository, WebhookEndpointRepository,
};
use wastatus_domain::service::{IssuedWebhook, NewWebhook, WebhookPorts, Webhooks};
use wastatus_domain::{
    DeliveryQuery, DeliveryState, Event, EventFilter, EventId, Name, PageLimit, Session, SessionId, SessionKey,
    SessionState, StatusType, Tenant, TenantId, Timestamp, WebhookFormat, WebhookUrl,
};
use wastatus_storage::Storage;
use wastatus_webhooks::{DispatcherConfig, HttpSender, Nudge, SecretMint, TargetGuard, WebhookConfig};

use crate::receiver::{Answer, Received, Receiver};
use crate::sender::published;

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now().trunc_subsecs(6)
    }
}

struct V7;

impl IdGenerator for V7 {
    fn uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A database with a tenant and a session `main`, and the webhook use cases on it.
struct World {
    storage: Storage,
    webhooks: Webhooks,
    nudge: Nudge,
    session: SessionKey,
    config: WebhookConfig,
}

/// A compressed retry schedule: about two seconds in all.
const FAST_RETRIES: &str = "100ms,150ms,200ms,250ms,300ms,400ms,500ms";

impl World {
    async fn new(config: WebhookConfig) -> World {
        let storage = Storage::connect("sqlite::memory:").await.unwrap();
        storage.migrate().await.unwrap();
        let tenant =
            Tenant { id: TenantId::from_uuid(Uuid::now_v7()), name: Name::new("Acme").unwrap(), created_at: now() };
        TenantRepository::insert(&storage, &tenant).await.unwrap();
        let session = SessionKey { tenant: tenant.id, id: SessionId::new("main").unwrap() };
        let row = Session {
            key: session.clone(),
            owner: None,
            state: SessionState::Pairing,
            reason: None,
            created_at: now(),
            updated_at: now(),
        };
        SessionRepository::insert(&storage, &row).await.unwrap();
        let nudge = Nudge::new();
        let ports = WebhookPorts {
            endpoints: Arc::new(storage.clone()),
            deliveries: Arc::new(storage.clone()),
            outbox: Arc::new(storage.clone()),
            sender: Arc::new(HttpSender::new(&config).unwrap()),
            targets: Arc::new(TargetGuard::new(&config)),
            secrets: Arc::new(SecretMint::new(config.secret_bytes)),
            signal: Arc::new(nudge.clone()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(V7),
        };
        let webhooks = Webhooks::new(ports, config.settings().unwrap());
        World { storage, webhooks, nudge, session, config }
    }

    async fn fast() -> World {
        World::new(WebhookConfig {
            allow_private_networks: true,
            retry_schedule: FAST_RETRIES.into(),
            retry_jitter_percent: 0,
            poll_interval_ms: 50,
            ..WebhookConfig::default()
        })
        .await
    }

    async fn register(&self, url: &str, format: WebhookFormat) -> IssuedWebhook {
        let new = NewWebhook {
            url: WebhookUrl::new(url).unwrap(),
            events: EventFilter::All,
            format,
            session: None,
            enabled: true,
        };
        self.webhooks.create(self.session.tenant, new).await.unwrap()
    }

    /// Stores `events` in the outbox the way a state change does, and wakes the dispatcher.
    async fn happen(&self, events: &[Event]) {
        // A real change each time (the same state twice is not stored again).
        let current = SessionRepository::get(&self.storage, &self.session).await.unwrap().unwrap().state;
        let next =
            if current == SessionState::Connected { SessionState::Disconnected } else { SessionState::Connected };
        let stored = SessionRepository::set_state(&self.storage, &self.session, next, now(), events);
        assert!(stored.await.unwrap());
        self.nudge.wake();
    }

    fn connected(&self) -> Event {
        Event::of_session(EventId::from_uuid(Uuid::now_v7()), &self.session, SessionState::Connected, now())
    }

    fn start(&self) -> Running {
        self.start_with(self.config.dispatcher())
    }

    fn start_with(&self, config: DispatcherConfig) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = wastatus_webhooks::run(self.webhooks.clone(), config, self.nudge.clone(), async move {
            let _ = stopped.await;
        });
        Running { stop: Some(stop), task: tokio::spawn(run) }
    }

    async fn log(&self, hook: &IssuedWebhook) -> Vec<wastatus_domain::DeliveryRecord> {
        let query = DeliveryQuery { limit: PageLimit::new(100).unwrap(), ..DeliveryQuery::default() };
        let page = WebhookDeliveryRepository::list(&self.storage, hook.endpoint.tenant, hook.endpoint.id, &query);
        page.await.unwrap().items
    }
}

fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// A running dispatcher, stopped on drop.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("the dispatcher stops").unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ids(received: &[Received]) -> HashSet<String> {
    received.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn events_reach_receivers_signed_in_their_format() {
    let world = World::fast().await;
    let receiver = Receiver::start().await;
    let native = world.register(&receiver.url("/native"), WebhookFormat::Native).await;
    let walytic = world.register(&receiver.url("/walytic"), WebhookFormat::Walytic).await;
    let dispatcher = world.start();

    let connected = world.connected();
    let image =
        published(world.session.tenant, "main", StatusType::Image, "Good Morning", Some("https://example.com/p.jpg"));
    world.happen(&[connected.clone(), image.clone()]).await;

    let got = receiver.wait_for(Duration::from_secs(5), |r| r.len() >= 3).await;
    let at = |path: &str| got.iter().filter(|r| r.path == path).cloned().collect::<Vec<_>>();
    let natives = at("/native");
    assert_eq!(ids(&natives), HashSet::from([connected.id.to_string(), image.id.to_string()]));
    assert!(natives.iter().all(|r| r.verifies_with(&native.secret)));
    assert!(natives.iter().all(|r| !r.verifies_with(&walytic.secret)));
    let walytics = at("/walytic");
    assert_eq!(walytics.len(), 1, "walytic carries the published status only");
    assert!(walytics[0].verifies_with(&walytic.secret));
    assert_eq!(walytics[0].json()["event"], "statusUpdated");
    assert_eq!(walytics[0].json()["fileUrl"], "https://example.com/p.jpg");

    dispatcher.stop().await;
    let log = world.log(&native).await;
    assert_eq!(log.len(), 2);
    for record in log {
        assert_eq!(record.delivery.state, DeliveryState::Succeeded);
        assert_eq!(record.attempts.len(), 1);
        assert_eq!(record.attempts[0].status_code, Some(204));
    }
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_when_it_is_back() {
    let world = World::fast().await;
    let addr = Receiver::start().await.stop().await;
    let hook = world.register(&format!("http://{addr}/hook"), WebhookFormat::Native).await;
    let dispatcher = world.start();
    let events: Vec<Event> = (0..5).map(|_| world.connected()).collect();
    world.happen(&events).await;

    // Down: the first attempts fail and are scheduled again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let receiver = Receiver::start_on(addr).await;
    let expected: HashSet<String> = events.iter().map(|e| e.id.to_string()).collect();
    let got = receiver.wait_for(Duration::from_secs(10), |r| ids(r).is_superset(&expected)).await;
    assert!(got.iter().all(|r| r.verifies_with(&hook.secret)));
    dispatcher.stop().await;

    let log = world.log(&hook).await;
    assert_eq!(log.len(), 5);
    for record in log {
        assert_eq!(record.delivery.state, DeliveryState::Succeeded, "{record:#?}");
        assert!(record.attempts.len() >= 2, "it failed first: {record:#?}");
        let first = &record.attempts[0];
        assert!(first.error.as_deref().unwrap_or_default().starts_with("connection_failed:"), "{first:?}");
        assert_eq!(record.attempts.last().unwrap().status_code, Some(204));
    }
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let world = World::fast().await;
    let receiver = Receiver::start().await;
    receiver.always(Answer::status(410));
    let hook = world.register(&receiver.url("/gone"), WebhookFormat::Native).await;
    let dispatcher = world.start();
    world.happen(&[world.connected()]).await;
    receiver.wait_for(Duration::from_secs(5), |r| !r.is_empty()).await;

    let tenant = world.session.tenant;
    let mut endpoint = None;
    for _ in 0..100 {
        endpoint = WebhookEndpointRepository::get(&world.storage, tenant, hook.endpoint.id).await.unwrap();
        if endpoint.as_ref().is_some_and(|e| !e.enabled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let endpoint = endpoint.unwrap();
    assert!(!endpoint.enabled);
    assert_eq!(endpoint.disabled_reason.as_deref(), Some("the receiver answered 410 Gone"));
    let log = world.log(&hook).await;
    assert_eq!(log[0].delivery.state, DeliveryState::Failed);
    assert_eq!(log[0].attempts.len(), 1, "no retry after 410");

    // Later events are not delivered to it.
    world.happen(&[world.connected()]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    dispatcher.stop().await;
}

#[tokio::test]
async fn retries_run_out_and_the_delivery_fails() {
    let world = World::new(WebhookConfig {
        allow_private_networks: true,
        retry_schedule: "50ms,50ms".into(),
        poll_interval_ms: 50,
        ..WebhookConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.always(Answer { body: "broken", ..Answer::status(500) });
    let hook = world.register(&receiver.url("/broken"), WebhookFormat::Native).await;
    let dispatcher = world.start();
    let event = world.connected();
    world.happen(std::slice::from_ref(&event)).await;
    receiver.wait_for(Duration::from_secs(5), |r| r.len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    dispatcher.stop().await;

    assert_eq!(receiver.received().len(), 3, "one attempt and two retries");
    assert!(receiver.received().iter().all(|r| r.id == event.id.to_string()), "the same webhook-id every time");
    let log = world.log(&hook).await;
    let record = &log[0];
    assert_eq!(record.delivery.state, DeliveryState::Failed);
    assert_eq!(record.delivery.next_attempt_at, None);
    assert_eq!(record.attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(), [Some(500); 3]);
    assert_eq!(record.attempts[0].response_excerpt.as_deref(), Some("broken"));
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_the_others() {
    let world = World::fast().await;
    let slow = Receiver::start().await;
    slow.always(Answer { delay: Duration::from_secs(3), ..Answer::status(204) });
    let fast = Receiver::start().await;
    world.register(&slow.url("/slow"), WebhookFormat::Native).await;
    world.register(&fast.url("/fast"), WebhookFormat::Native).await;
    let config = DispatcherConfig { max_concurrency: 6, per_endpoint: 2, ..world.config.dispatcher() };
    let dispatcher = world.start_with(config);
    let events: Vec<Event> = (0..12).map(|_| world.connected()).collect();
    world.happen(&events).await;

    let started = std::time::Instant::now();
    fast.wait_for(Duration::from_secs(2), |r| r.len() == 12).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(slow.received().len() <= 4, "the slow one holds at most a few slots: {}", slow.received().len());
    drop(dispatcher);
}

#[tokio::test]
async fn two_dispatchers_never_send_the_same_attempt_twice() {
    let world = World::fast().await;
    let receiver = Receiver::start().await;
    receiver.always(Answer { delay: Duration::from_millis(20), ..Answer::status(204) });
    world.register(&receiver.url("/a"), WebhookFormat::Native).await;
    world.register(&receiver.url("/b"), WebhookFormat::Native).await;
    let one = world.start();
    let two = world.start();
    let events: Vec<Event> = (0..40).map(|_| world.connected()).collect();
    for chunk in events.chunks(5) {
        world.happen(chunk).await;
    }
    let got = receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 80).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = receiver.received();
    assert_eq!(got_after.len(), 80, "nothing delivered twice");
    let pairs: HashSet<(String, String)> = got.iter().map(|r| (r.path.clone(), r.id.clone())).collect();
    assert_eq!(pairs.len(), 80);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn redelivery_sends_the_same_message_again_and_ping_checks_an_endpoint() {
    let world = World::fast().await;
    let receiver = Receiver::start().await;
    let hook = world.register(&receiver.url("/again"), WebhookFormat::Walytic).await;
    let dispatcher = world.start();
    let event = published(world.session.tenant, "main", StatusType::Text, "Hello", None);
    world.happen(std::slice::from_ref(&event)).await;
    receiver.wait_for(Duration::from_secs(5), |r| r.len() == 1).await;
    let delivery = world.log(&hook).await[0].delivery.id;
    let tenant = world.session.tenant;
    // Settled (succeeded) first, then queued again.
    for _ in 0..100 {
        if world.log(&hook).await[0].delivery.state == DeliveryState::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = world.webhooks.redeliver(tenant, hook.endpoint.id, delivery).await.unwrap();
    assert_eq!(record.delivery.state, DeliveryState::Pending);
    let got = receiver.wait_for(Duration::from_secs(5), |r| r.len() == 2).await;
    assert_eq!(got[0].id, got[1].id, "the same webhook-id");
    assert_eq!(got[0].body, got[1].body, "the same body");

    receiver.always(Answer::status(418));
    let ping = world.webhooks.ping(tenant, hook.endpoint.id).await.unwrap();
    assert_eq!(ping.attempts[0].status_code, Some(418));
    assert_eq!(ping.delivery.state, DeliveryState::Failed);
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.json()["type"], "webhook.ping");
    assert!(last.verifies_with(&hook.secret));
    dispatcher.stop().await;
    let log = world.log(&hook).await;
    assert_eq!(log.len(), 2, "the ping is in the log");
    assert_eq!(log.iter().find(|r| r.delivery.id == delivery).unwrap().attempts.len(), 2);
}
