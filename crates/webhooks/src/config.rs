//! The `webhooks` section of the configuration, with safe defaults.
//!
//! The app reads this struct directly as its `webhooks` section, so each field is a
//! configuration key (`webhooks.timeout_secs`, …). Durations are whole seconds under `*_secs`
//! keys or milliseconds under `*_ms` keys; the retry schedule is one text, so that it can be
//! set from an environment variable too.

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use wastatus_domain::RetryPolicy;
use wastatus_domain::service::WebhookSettings;

use crate::dispatcher::DispatcherConfig;

/// How webhooks are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Let webhook URLs reach loopback, private, link-local and other non-public addresses, at
    /// registration and at delivery. For tests only.
    pub allow_private_networks: bool,
    /// Accept `http://` webhook URLs besides `https://`. Payloads are signed either way, but
    /// only `https` keeps them confidential.
    pub allow_http: bool,
    /// How long one delivery attempt may take, connecting and the answer included.
    pub timeout_secs: u64,
    /// How long connecting to a receiver may take.
    pub connect_timeout_secs: u64,
    /// The delays between attempts, comma-separated with units (`500ms`, `5s`, `2m`, `1h`);
    /// after the last one the delivery fails.
    pub retry_schedule: String,
    /// How much each delay is stretched or shrunk at random, in percent (0–100).
    pub retry_jitter_percent: u8,
    /// The longest `Retry-After` believed; a receiver asking for more waits this long.
    pub max_retry_after_secs: u64,
    /// Whether this process runs the dispatcher. Every process may (deliveries are claimed, so
    /// none is attempted twice at once), but one is enough.
    pub dispatch: bool,
    /// How often the dispatcher looks for work when nothing wakes it.
    pub poll_interval_ms: u64,
    /// How many outbox events one fan-out takes at most.
    pub batch_size: u32,
    /// How many deliveries are attempted at once, in all.
    pub max_concurrency: usize,
    /// How many deliveries of one endpoint are claimed at once, so that one slow receiver
    /// cannot take the whole pool.
    pub per_endpoint_concurrency: u32,
    /// How long a rotated-out secret keeps signing, unless the rotation says otherwise.
    pub rotation_overlap_secs: u64,
    /// The most endpoints a tenant may register.
    pub max_endpoints_per_tenant: usize,
    /// The random bytes of a new signing secret (24–64).
    pub secret_bytes: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_http: true,
            timeout_secs: 15,
            connect_timeout_secs: 5,
            retry_schedule: RetryPolicy::DEFAULT_SCHEDULE.to_owned(),
            retry_jitter_percent: 20,
            max_retry_after_secs: 3600,
            dispatch: true,
            poll_interval_ms: 1000,
            batch_size: 100,
            max_concurrency: 32,
            per_endpoint_concurrency: 4,
            rotation_overlap_secs: 24 * 3600,
            max_endpoints_per_tenant: 50,
            secret_bytes: 32,
        }
    }
}

impl WebhookConfig {
    /// How long one attempt may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// The domain's settings: the retry policy (with the schedule parsed) and the limits.
    ///
    /// # Errors
    ///
    /// A retry schedule that does not parse, a jitter over 100 %, or a secret size out of range.
    pub fn settings(&self) -> anyhow::Result<WebhookSettings> {
        let delays = RetryPolicy::parse_delays(&self.retry_schedule).context("webhooks.retry_schedule")?;
        anyhow::ensure!(self.retry_jitter_percent <= 100, "webhooks.retry_jitter_percent is at most 100");
        anyhow::ensure!((24..=64).contains(&self.secret_bytes), "webhooks.secret_bytes is between 24 and 64");
        let defaults = WebhookSettings::default();
        Ok(WebhookSettings {
            retry: RetryPolicy {
                delays,
                jitter_percent: self.retry_jitter_percent,
                max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            },
            // A lease outlives the longest attempt (the time-out bounds it) by a wide margin:
            // only a dispatcher that died loses its claims.
            lease: self.timeout() * 2 + Duration::from_secs(5),
            max_endpoints_per_tenant: self.max_endpoints_per_tenant,
            rotation_overlap: Duration::from_secs(self.rotation_overlap_secs),
            max_rotation_overlap: defaults.max_rotation_overlap.max(Duration::from_secs(self.rotation_overlap_secs)),
        })
    }

    /// The dispatcher loop's settings.
    pub fn dispatcher(&self) -> DispatcherConfig {
        DispatcherConfig {
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(10)),
            batch_size: self.batch_size.max(1),
            max_concurrency: self.max_concurrency.max(1),
            per_endpoint: self.per_endpoint_concurrency.max(1),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_make_valid_settings() {
        let settings = WebhookConfig::default().settings().unwrap();
        assert_eq!(settings.retry, RetryPolicy::default());
        assert_eq!(settings.lease, Duration::from_secs(35));
        assert_eq!(WebhookConfig::default().timeout(), Duration::from_secs(15));
    }

    #[test]
    fn a_bad_schedule_is_refused() {
        let config = WebhookConfig { retry_schedule: "5s,soon".into(), ..WebhookConfig::default() };
        let err = config.settings().unwrap_err();
        assert!(format!("{err:#}").contains("retry_schedule"), "{err:#}");
        let config = WebhookConfig { secret_bytes: 16, ..WebhookConfig::default() };
        assert!(config.settings().is_err());
    }
}
