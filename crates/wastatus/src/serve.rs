//! `wastatus serve`: the HTTP server, with graceful shutdown.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusBuilder;
use wastatus_http::{ApiState, HttpConfig, Readiness};
use wastatus_storage::Storage;
use wastatus_worker::{Worker, WorkerConfig};

use crate::adapters::WakeWorker;
use crate::config::Config;
use crate::wiring::{self, DriverUse};

struct DatabaseReadiness(Storage);

#[async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            "the database is not reachable".to_owned()
        })
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics = PrometheusBuilder::new().install_recorder().context("installing the metrics recorder")?;
    let app = wiring::build(&config, DriverUse::Run).await?;
    tracing::info!(driver = ?config.whatsapp.driver, database = app.storage.backend(), "starting");

    for (session, outcome) in app.sessions.resume_all().await.context("resuming sessions")? {
        match outcome {
            Ok(state) => tracing::info!(%session, %state, "session resumed"),
            Err(error) => tracing::warn!(%session, %error, "session could not be resumed"),
        }
    }

    let jobs = &config.jobs;
    let worker_config = WorkerConfig {
        concurrency: jobs.concurrency.max(1),
        poll_interval: Duration::from_millis(jobs.poll_interval_ms.max(10)),
        recover_every: Duration::from_secs(jobs.recover_every_secs.max(1)),
    };
    let worker = Worker::new(app.statuses.clone(), worker_config);
    let wake = worker.handle();
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run(worker_stopped));

    // The webhook dispatcher: outbox events to deliveries, deliveries to receivers.
    let (stop_webhooks, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
    let dispatcher = config.webhooks.dispatch.then(|| {
        let stopped = async move {
            let _ = webhooks_stopped.await;
        };
        tokio::spawn(wastatus_webhooks::run(
            app.webhooks.clone(),
            config.webhooks.dispatcher(),
            app.nudge.clone(),
            stopped,
        ))
    });

    let web = app.web.clone();
    let sends = tokio_util::task::TaskTracker::new();
    let state = ApiState {
        sends: sends.clone(),
        sessions: app.sessions,
        statuses: app.statuses,
        jobs: Some(Arc::new(WakeWorker(wake))),
        sync_wait: Duration::from_secs(jobs.sync_wait_secs),
        idempotency: Arc::new(app.storage.clone()),
        tenancy: app.tenancy,
        webhooks: app.webhooks,
        readiness: Arc::new(DatabaseReadiness(app.storage)),
        metrics: Some(metrics),
        request_limit: app.request_limit,
        login_limit: app.login_limit,
    };
    let http = HttpConfig {
        body_limit: config.server.body_limit,
        publish_body_limit: config.media.publish_body_limit(),
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
    };
    let router = wastatus_http::router(state, &http);

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // Scripts wait for this exact line on stdout.
    println!("listening on http://{addr}");
    std::io::stdout().flush().ok();

    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel();
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = signalled_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    // The grace period starts with the signal and covers requests and sends alike.
    let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(None::<tokio::time::Instant>);
    tokio::spawn(async move {
        if signalled_rx.await.is_ok() {
            let _ = deadline_tx.send(Some(tokio::time::Instant::now() + grace));
        }
    });
    let deadline = move || {
        let mut rx = deadline_rx.clone();
        async move {
            let at = loop {
                if let Some(at) = *rx.borrow_and_update() {
                    break at;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::time::sleep_until(at).await
        }
    };
    tokio::select! {
        result = &mut server => result.context("server task")?.context("serving HTTP")?,
        _ = deadline() => {
            tracing::warn!(?grace, "in-flight requests did not finish in time; stopping anyway");
        }
    }
    // No new requests: stop claiming jobs and let the sends under way finish, those of the
    // requests included.
    let _ = stop_worker.send(true);
    sends.close();
    tokio::select! {
        _ = async { let _ = worker.await; sends.wait().await } => {}
        _ = deadline() => tracing::warn!(?grace, "sends under way did not finish in time; stopping anyway"),
    }
    // Then the webhook attempts under way (the dispatcher gives them a few seconds).
    let _ = stop_webhooks.send(());
    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
    // Last, the WhatsApp sessions: nothing sends through them any more.
    if let Some(web) = web {
        web.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
