//! The job runner: an inbound adapter driven by time rather than by requests.
//!
//! A [`Worker`] claims due statuses (queued, scheduled, or waiting for a retry) and runs each
//! in a task of its own, at most [`WorkerConfig::concurrency`] at once; it sleeps until the
//! next one falls due, a poll interval passes, or it is [woken](WorkerHandle::wake) because a
//! status was just queued. Every [`WorkerConfig::recover_every`] (and once at start) it settles
//! statuses whose send was interrupted by a process that died. Several workers, in one process
//! or several sharing a PostgreSQL database, never run the same status twice: claiming is
//! atomic in storage.
//!
//! On shutdown it stops claiming and lets the sends under way finish: a send is never cut off
//! between WhatsApp and storage.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use wastatus_domain::service::{PublishStatusError, Statuses};

/// The shortest sleep between looks for due statuses, so that a due time in the past (a status
/// that could not be claimed) does not spin the loop.
const MIN_SLEEP: Duration = Duration::from_millis(10);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Statuses sent at once.
    pub concurrency: usize,
    /// The longest sleep between looks for due statuses (statuses queued by another process
    /// wake nobody here).
    pub poll_interval: Duration,
    /// How often interrupted sends are looked for.
    pub recover_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { concurrency: 8, poll_interval: Duration::from_secs(1), recover_every: Duration::from_secs(30) }
    }
}

/// Wakes a running worker.
#[derive(Clone, Default)]
pub struct WorkerHandle {
    wake: Arc<Notify>,
}

impl WorkerHandle {
    /// Tells the worker a status was queued, so it looks at once rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Runs jobs until told to stop.
pub struct Worker {
    statuses: Statuses,
    config: WorkerConfig,
    handle: WorkerHandle,
}

impl Worker {
    pub fn new(statuses: Statuses, config: WorkerConfig) -> Self {
        Self { statuses, config, handle: WorkerHandle::default() }
    }

    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// Runs until `stop` turns true, then waits for the sends under way.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        let mut next_recovery = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= next_recovery {
                self.recover_all().await;
                next_recovery = tokio::time::Instant::now() + self.config.recover_every;
            }
            // Reap finished sends so the set does not grow.
            while running.try_join_next().is_some() {}

            let free = u32::try_from(permits.available_permits()).unwrap_or(u32::MAX);
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self.statuses.claim_due(free).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::error!(%error, "could not claim due statuses");
                        Vec::new()
                    }
                }
            };
            let full_batch = free > 0 && claimed.len() == free as usize;
            for status in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let statuses = self.statuses.clone();
                running.spawn(async move {
                    let id = status.id();
                    match statuses.run_claimed(status).await {
                        Ok(status) => tracing::debug!(status = %id, state = %status.state(), "job ran"),
                        Err(PublishStatusError::Failed { status }) => {
                            tracing::info!(status = %id, failure = ?status.failure().map(|f| f.code), "job failed")
                        }
                        Err(error) => tracing::error!(status = %id, %error, "job could not run"),
                    }
                    drop(permit);
                });
            }
            if full_batch {
                // More may be due right now.
                continue;
            }
            let busy = permits.available_permits() == 0;
            // With every slot busy there is nothing to claim: wait for a slot, not for a due
            // time (which may well be now). Otherwise sleep until the next status falls due,
            // at least a little, and at most a poll interval.
            let sleep = if busy {
                self.config.poll_interval
            } else {
                self.until_next_due().await.clamp(MIN_SLEEP, self.config.poll_interval)
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep), if !busy => {}
                _ = self.handle.wake.notified(), if !busy => {}
                _ = permits.clone().acquire_owned(), if busy => {}
                _ = stop.changed() => {}
            }
        }
        if !running.is_empty() {
            tracing::info!(sends = running.len(), "waiting for the sends under way");
        }
        while running.join_next().await.is_some() {}
    }

    /// How long until the next queued status falls due.
    async fn until_next_due(&self) -> Duration {
        match self.statuses.next_due().await {
            Ok(Some(at)) => (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO),
            Ok(None) => self.config.poll_interval,
            Err(error) => {
                tracing::error!(%error, "could not read when the next status is due");
                self.config.poll_interval
            }
        }
    }

    /// Settles every interrupted send there is now.
    async fn recover_all(&self) {
        const BATCH: u32 = 50;
        loop {
            match self.statuses.recover(BATCH).await {
                Ok(settled) => {
                    for status in &settled {
                        tracing::info!(status = %status.id(), state = %status.state(), "interrupted send settled");
                    }
                    if settled.len() < BATCH as usize {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "could not settle interrupted sends");
                    return;
                }
            }
        }
    }
}
