//! Builds the domain's ports from the configuration.

use std::sync::Arc;

use anyhow::Context;
use wastatus_auth::ApiKeyMint;
use wastatus_domain::ports::{Clock, FaultInjector, WhatsAppDriver};
use wastatus_domain::service::{Ports, Sessions, Statuses, Tenancy};
use wastatus_media::MediaPipeline;
use wastatus_sandbox::SandboxDriver;
use wastatus_storage::Storage;

use crate::adapters::{EventLog, SystemClock, UuidV7, WebDriverUnavailable};
use crate::config::{Config, Driver};

/// The wired use cases and the adapters the server needs directly.
pub struct App {
    pub sessions: Sessions,
    pub statuses: Statuses,
    pub tenancy: Tenancy,
    pub storage: Storage,
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
    let (driver, faults): (Arc<dyn WhatsAppDriver>, Option<Arc<dyn FaultInjector>>) =
        match (driver_use, config.whatsapp.driver) {
            (DriverUse::Run, Driver::Sandbox) => {
                let sandbox = Arc::new(SandboxDriver::new(clock.clone()));
                (sandbox.clone(), Some(sandbox))
            }
            (DriverUse::Run, Driver::Web) | (DriverUse::None, _) => (Arc::new(WebDriverUnavailable), None),
        };
    let store = Arc::new(storage.clone());
    let ports = Ports {
        tenants: store.clone(),
        api_keys: store.clone(),
        sessions: store.clone(),
        statuses: store,
        driver,
        faults,
        media: Arc::new(MediaPipeline::new(config.media.clone())),
        clock,
        ids: Arc::new(UuidV7),
        keys: Arc::new(ApiKeyMint),
        events: Arc::new(EventLog),
    };
    Ok(App {
        sessions: Sessions::new(ports.clone()),
        statuses: Statuses::new(ports.clone()),
        tenancy: Tenancy::new(ports),
        storage,
    })
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
