//! Builds the domain's ports from the configuration.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wastatus_auth::{ApiKeyMint, Argon2Passwords, JwtTokens, KeyedLimiter, SessionPace};
use wastatus_domain::ports::{Clock, FaultInjector, PublishPace, WhatsAppDriver};
use wastatus_domain::service::{JobPolicy, Ports, Sessions, Statuses, Tenancy, WebhookPorts, Webhooks};
use wastatus_http::RequestLimit;
use wastatus_media::MediaPipeline;
use wastatus_sandbox::SandboxDriver;
use wastatus_storage::Storage;
use wastatus_webhooks::{HttpSender, Nudge, SecretMint, TargetGuard};
use wastatus_whatsapp::{WebDriver, WebDriverConfig};

use crate::adapters::{EventLog, KeyedLimit, NoDriver, SystemClock, UuidV7};
use crate::config::{Config, Driver};

/// The wired use cases and the adapters the server needs directly.
pub struct App {
    pub sessions: Sessions,
    pub statuses: Statuses,
    pub tenancy: Tenancy,
    pub storage: Storage,
    /// Webhook endpoints and deliveries.
    pub webhooks: Webhooks,
    /// Wakes the webhook dispatcher (events stored, deliveries queued again).
    pub nudge: Nudge,
    /// Requests per credential.
    pub request_limit: Option<Arc<dyn RequestLimit>>,
    /// Login attempts per username.
    pub login_limit: Option<Arc<dyn RequestLimit>>,
    /// The WhatsApp Web driver, when it runs: stopped last, at shutdown.
    pub web: Option<WebDriver>,
}

/// Connects to the database and applies pending migrations.
pub async fn connect(config: &Config) -> anyhow::Result<Storage> {
    let storage = Storage::connect(&config.database.url)
        .await
        .with_context(|| format!("connecting to the database ({})", redact(&config.database.url)))?;
    storage.migrate().await.context("applying database migrations")?;
    Ok(storage)
}

/// `wastatus migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let storage = connect(config).await?;
    tracing::info!(backend = storage.backend(), "migrations applied");
    Ok(())
}

/// How the app will use the WhatsApp driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverUse {
    /// The serving process: run the configured driver.
    Run,
    /// A short-lived admin command: never start WhatsApp sessions.
    None,
}

pub async fn build(config: &Config, driver_use: DriverUse) -> anyhow::Result<App> {
    let storage = connect(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut web_handle = None;
    let (driver, faults): (Arc<dyn WhatsAppDriver>, Option<Arc<dyn FaultInjector>>) =
        match (driver_use, config.whatsapp.driver) {
            (DriverUse::Run, Driver::Sandbox) => {
                let dir = &config.whatsapp.sandbox_dir;
                let sandbox = SandboxDriver::persistent(clock.clone(), dir)
                    .with_context(|| format!("opening the sandbox journal in {}", dir.display()))?;
                let sandbox = Arc::new(sandbox);
                (sandbox.clone(), Some(sandbox))
            }
            (DriverUse::Run, Driver::Web) => {
                let web = web_driver(config, clock.clone())?;
                web_handle = Some(web.clone());
                (Arc::new(web), None)
            }
            (DriverUse::None, _) => (Arc::new(NoDriver), None),
        };
    let store = Arc::new(storage.clone());
    let limits = &config.limits;
    let pace = limits.statuses_per_minute(config.whatsapp.driver).map(|per_minute| {
        Arc::new(SessionPace::new(nonzero(per_minute), nonzero(limits.status_burst))) as Arc<dyn PublishPace>
    });
    let access_tokens = JwtTokens::new(&config.auth.jwt).context("invalid auth.jwt configuration")?;
    let nudge = Nudge::new();
    let hooks = &config.webhooks;
    let webhooks = Webhooks::new(
        WebhookPorts {
            endpoints: Arc::new(storage.clone()),
            deliveries: Arc::new(storage.clone()),
            outbox: Arc::new(storage.clone()),
            sender: Arc::new(HttpSender::new(hooks).context("building the webhook HTTP client")?),
            targets: Arc::new(TargetGuard::new(hooks)),
            secrets: Arc::new(SecretMint::new(hooks.secret_bytes)),
            signal: Arc::new(nudge.clone()),
            clock: clock.clone(),
            ids: Arc::new(UuidV7),
        },
        hooks.settings().context("invalid webhooks configuration")?,
    );
    let ports = Ports {
        tenants: store.clone(),
        api_keys: store.clone(),
        users: store.clone(),
        sessions: store.clone(),
        statuses: store,
        driver,
        faults,
        media: Arc::new(MediaPipeline::new(config.media.clone())),
        clock,
        ids: Arc::new(UuidV7),
        keys: Arc::new(ApiKeyMint),
        passwords: Arc::new(Argon2Passwords::new()),
        access_tokens: Arc::new(access_tokens),
        pace,
        events: Arc::new(EventLog(nudge.clone())),
    };
    let jobs = &config.jobs;
    let whatsapp = &config.whatsapp;
    let longest_send = whatsapp.upload_timeout_secs + whatsapp.ack_timeout_secs;
    if config.whatsapp.driver == Driver::Web && jobs.lease_secs <= longest_send {
        anyhow::bail!(
            "jobs.lease_secs ({}) must exceed the longest send, whatsapp.upload_timeout_secs + \
             whatsapp.ack_timeout_secs ({longest_send}): another process would take over sends still under way",
            jobs.lease_secs
        );
    }
    let secs = |s: u64| chrono::TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    let policy = JobPolicy {
        lease: secs(jobs.lease_secs),
        max_attempts: jobs.max_attempts.max(1),
        retry_base: secs(jobs.retry_base_secs),
        retry_max: secs(jobs.retry_max_secs),
    };
    Ok(App {
        sessions: Sessions::new(ports.clone()),
        statuses: Statuses::with_policy(ports.clone(), policy),
        tenancy: Tenancy::new(ports),
        storage,
        webhooks,
        nudge,
        request_limit: limiter(limits.requests_per_minute, limits.request_burst),
        login_limit: limiter(limits.logins_per_minute, limits.logins_per_minute),
        web: web_handle,
    })
}

/// The real WhatsApp driver, as configured.
fn web_driver(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<WebDriver> {
    let whatsapp = &config.whatsapp;
    let mut web = WebDriverConfig::new(&whatsapp.web_dir);
    web.upload_timeout = Duration::from_secs(whatsapp.upload_timeout_secs);
    web.ack_timeout = Duration::from_secs(whatsapp.ack_timeout_secs);
    web.pair_wait = Duration::from_secs(whatsapp.pair_wait_secs);
    if whatsapp.status_chunk_size == 0 {
        anyhow::bail!("whatsapp.status_chunk_size must be at least 1");
    }
    web.status_chunk_size = whatsapp.status_chunk_size;
    WebDriver::builder(web, clock).build().context("starting the WhatsApp Web driver")
}

/// A keyed limit of `per_minute` with bursts of `burst`; `None` when `per_minute` is 0.
fn limiter(per_minute: u32, burst: u32) -> Option<Arc<dyn RequestLimit>> {
    (per_minute > 0).then(|| Arc::new(KeyedLimit(KeyedLimiter::new(nonzero(per_minute), nonzero(burst)))) as _)
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// A database URL without its password (in the authority or as a `password` query
/// parameter), for messages. What does not parse as a URL is not shown at all.
pub fn redact(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparsable database URL>".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
            (k.into_owned(), if secret { "***".to_owned() } else { v.into_owned() })
        })
        .collect();
    if !query.is_empty() {
        url.query_pairs_mut().clear().extend_pairs(query);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/wa"), "postgres://app:***@db:5432/wa");
        assert_eq!(redact("sqlite://wastatus.db?mode=rwc"), "sqlite://wastatus.db?mode=rwc");
        let query = redact("postgres://db/wa?user=app&password=s3cret&sslmode=require");
        assert!(!query.contains("s3cret") && query.contains("sslmode=require"), "{query}");
        assert!(!redact("postgres://app:p@ss:word@db/wa").contains("word@"));
    }
}
