//! The dispatcher loop: fans outbox events out into deliveries and attempts due deliveries
//! with a bounded pool, until told to stop.
//!
//! Each round it fans out (until the outbox is empty), then claims as many due deliveries as
//! the pool has room for, at most `per_endpoint` of one endpoint per claim and none of an
//! endpoint that already has that many in flight, so one slow receiver holds at most a few
//! slots while the others go on. It then waits for a [`Nudge`] (an event was stored, a
//! delivery was queued again), a finished attempt, the next due retry, or the poll interval,
//! whichever comes first.
//!
//! Every claim is leased, so several dispatchers (in one process or many, on PostgreSQL) never
//! attempt the same delivery at once, and a dispatcher that dies loses its claims to the others
//! when the lease runs out: deliveries are at least once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use wastatus_domain::ports::{DispatchSignal, EventSink};
use wastatus_domain::service::Webhooks;
use wastatus_domain::{AttemptVerdict, Event, WebhookId};

/// Wakes the dispatcher. Cheap to clone; every clone wakes the same dispatcher.
///
/// It is the domain's [`DispatchSignal`] (a delivery was queued again) and an [`EventSink`]
/// (an event was stored in the outbox), so the app can hand it to the use cases.
#[derive(Debug, Clone, Default)]
pub struct Nudge(Arc<Notify>);

impl Nudge {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the dispatcher now, or at its next wait if it is busy.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl DispatchSignal for Nudge {
    fn nudge(&self) {
        self.wake();
    }
}

#[async_trait]
impl EventSink for Nudge {
    async fn emit(&self, _event: &Event) {
        self.wake();
    }
}

/// How the dispatcher runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// How often to look for work when nothing wakes the dispatcher.
    pub poll_interval: Duration,
    /// Outbox events taken per fan-out.
    pub batch_size: u32,
    /// Attempts in flight at once, in all.
    pub max_concurrency: usize,
    /// Deliveries of one endpoint claimed at once.
    pub per_endpoint: u32,
    /// How long attempts in flight may finish after the stop; the rest are abandoned (their
    /// lease runs out and another dispatcher, or this one after a restart, attempts them).
    pub shutdown_grace: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        crate::WebhookConfig::default().dispatcher()
    }
}

/// Runs the dispatcher until `shutdown` completes, then lets attempts in flight finish (up to
/// the grace period).
pub async fn run<F>(webhooks: Webhooks, config: DispatcherConfig, nudge: Nudge, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let mut pool = Pool::new(config.max_concurrency, config.per_endpoint);
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(
        concurrency = config.max_concurrency,
        per_endpoint = config.per_endpoint,
        "webhook dispatcher started"
    );
    loop {
        fan_out(&webhooks, config.batch_size).await;
        let claimed = pool.fill(&webhooks).await;
        let wait = if pool.is_full() {
            // Only a finished attempt makes room.
            config.poll_interval
        } else {
            match until_next_due(&webhooks).await {
                // Due now but not claimed: its endpoint is busy; a finished attempt wakes us.
                Some(until) if until.is_zero() && claimed == 0 => config.poll_interval,
                // A little slack, so that the delivery is due when the claim runs.
                Some(until) => (until + Duration::from_millis(5)).min(config.poll_interval),
                None => config.poll_interval,
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = nudge.0.notified() => {}
            Some(done) = pool.tasks.join_next(), if !pool.tasks.is_empty() => {
                pool.finished(done);
                // Gather whatever else finished, so the next claim fills several slots at once.
                while let Some(done) = pool.tasks.try_join_next() {
                    pool.finished(done);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    pool.drain(config.shutdown_grace).await;
    tracing::info!("webhook dispatcher stopped");
}

/// Fans out until the outbox has no more events than one batch.
async fn fan_out(webhooks: &Webhooks, batch: u32) {
    loop {
        match webhooks.fan_out(batch).await {
            Ok(report) if report.events >= batch => continue,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(error = ?error.0, "webhook fan-out failed; trying again later");
                return;
            }
        }
    }
}

/// How long until the next delivery falls due (zero if one is due already); `None` if none
/// waits (or that cannot be read).
async fn until_next_due(webhooks: &Webhooks) -> Option<Duration> {
    match webhooks.next_due().await {
        Ok(due) => due.map(|due| (due - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)),
        Err(error) => {
            tracing::warn!(error = ?error.0, "could not read when the next webhook delivery is due");
            None
        }
    }
}

/// The attempts in flight.
struct Pool {
    tasks: JoinSet<WebhookId>,
    by_endpoint: HashMap<WebhookId, u32>,
    max: usize,
    per_endpoint: u32,
}

impl Pool {
    fn new(max: usize, per_endpoint: u32) -> Self {
        Self { tasks: JoinSet::new(), by_endpoint: HashMap::new(), max, per_endpoint }
    }

    fn is_full(&self) -> bool {
        self.tasks.len() >= self.max
    }

    /// Claims due deliveries for the free slots and starts their attempts; returns how many.
    async fn fill(&mut self, webhooks: &Webhooks) -> usize {
        let room = self.max.saturating_sub(self.tasks.len());
        if room == 0 {
            return 0;
        }
        let busy: Vec<WebhookId> =
            self.by_endpoint.iter().filter(|(_, n)| **n >= self.per_endpoint).map(|(id, _)| *id).collect();
        let claimed = match webhooks.claim_due(room as u32, self.per_endpoint, busy).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = ?error.0, "claiming webhook deliveries failed; trying again later");
                return 0;
            }
        };
        let count = claimed.len();
        for claim in claimed {
            let endpoint = claim.endpoint.id;
            *self.by_endpoint.entry(endpoint).or_default() += 1;
            let webhooks = webhooks.clone();
            self.tasks.spawn(async move {
                let result = match webhooks.deliver(claim).await {
                    Ok(delivered) => match delivered.verdict {
                        AttemptVerdict::Succeeded => "succeeded",
                        AttemptVerdict::Retry(_) => "retry",
                        AttemptVerdict::Exhausted => "exhausted",
                        AttemptVerdict::Gone => "gone",
                    },
                    Err(error) => {
                        tracing::warn!(error = ?error.0, webhook = %endpoint, "recording a webhook attempt failed");
                        "error"
                    }
                };
                metrics::counter!("wastatus_webhook_attempts_total", "result" => result).increment(1);
                endpoint
            });
        }
        count
    }

    /// Books a finished attempt.
    fn finished(&mut self, done: Result<WebhookId, tokio::task::JoinError>) {
        match done {
            Ok(endpoint) => {
                if let Some(count) = self.by_endpoint.get_mut(&endpoint) {
                    *count -= 1;
                    if *count == 0 {
                        self.by_endpoint.remove(&endpoint);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "a webhook attempt panicked");
                // Its endpoint cannot be told; recount from what is left at the next drain.
                if self.tasks.is_empty() {
                    self.by_endpoint.clear();
                }
            }
        }
    }

    /// Lets the attempts in flight finish within `grace`, then abandons the rest.
    async fn drain(&mut self, grace: Duration) {
        if self.tasks.is_empty() {
            return;
        }
        let finished = tokio::time::timeout(grace, async {
            while let Some(done) = self.tasks.join_next().await {
                self.finished(done);
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(left = self.tasks.len(), "webhook attempts still in flight at shutdown were abandoned");
            self.tasks.abort_all();
        }
    }
}
