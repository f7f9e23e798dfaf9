//! Builds the domain's ports from the configuration.

use std::sync::Arc;

use anyhow::Context;
use wastatus_auth::ApiKeyMint;
use wastatus_domain::ports::{Clock, FaultInjector, WhatsAppDriver};
use wastatus_domain::service::{Ports, Sessions, Statuses, Tenancy};
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

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/wa"), "postgres://app:***@db:5432/wa");
        assert_eq!(redact("sqlite://wastatus.db?mode=rwc"), "sqlite://wastatus.db?mode=rwc");
    }
}
