//! Where a webhook may be sent: the address rules of media fetching, applied to webhook URLs.
//!
//! A URL is parsed with WHATWG rules (so odd IPv4 forms such as `http://2130706433/` are seen as
//! the address they stand for), must be `https` (or `http` when allowed), name a host and carry
//! no user name or password. A literal IP host must be allowed by the [`AddressPolicy`]; a host
//! name must resolve only to allowed addresses. [`TargetGuard`] checks this when an endpoint is
//! registered or its URL changes; the sender applies the same rules again at every delivery,
//! through the media crate's checked resolver, because DNS answers can change.

use std::sync::Arc;

use async_trait::async_trait;
use url::Url;
use wastatus_domain::WebhookUrl;
use wastatus_domain::ports::{TargetRefused, WebhookTargetCheck};
use wastatus_media::fetch::{AddressPolicy, AllowAll, HostRefused, PublicOnly, literal_address, resolve_checked};

use crate::WebhookConfig;

/// The address policy `config` asks for: only public addresses, unless
/// `allow_private_networks` is on.
pub fn policy(config: &WebhookConfig) -> Arc<dyn AddressPolicy> {
    if config.allow_private_networks {
        tracing::warn!("webhooks.allow_private_networks is on: webhooks may reach private addresses");
        Arc::new(AllowAll)
    } else {
        Arc::new(PublicOnly)
    }
}

/// The rules every webhook URL passes before anything touches the network.
#[derive(Debug, Clone)]
pub(crate) struct UrlRules {
    pub(crate) allow_http: bool,
    pub(crate) policy: Arc<dyn AddressPolicy>,
}

impl UrlRules {
    /// The parsed URL, if its scheme, host, user-info and literal address pass.
    pub(crate) fn check(&self, raw: &str) -> Result<Url, TargetRefused> {
        let url =
            Url::parse(raw.trim()).map_err(|e| refused("invalid_webhook_url", format!("the URL is not valid: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => {
                let allowed = if self.allow_http { "https or http" } else { "https" };
                return Err(refused("webhook_scheme_not_allowed", format!("webhook URLs use {allowed}")));
            }
        }
        if url.host().is_none() {
            return Err(refused("invalid_webhook_url", "the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("invalid_webhook_url", "user names and passwords are not accepted in webhook URLs"));
        }
        if let Some(address) = literal_address(&url)
            && !self.policy.allows(address)
        {
            return Err(blocked(address));
        }
        Ok(url)
    }
}

fn refused(code: &'static str, message: impl Into<String>) -> TargetRefused {
    TargetRefused { code, message: message.into() }
}

fn blocked(address: std::net::IpAddr) -> TargetRefused {
    refused(
        "webhook_blocked_address",
        format!("the webhook URL leads to a non-public address ({address}); only public addresses may be reached"),
    )
}

/// A refusal by the checked resolver, as a target refusal.
pub(crate) fn host_refused(refusal: &HostRefused) -> TargetRefused {
    match refusal {
        HostRefused::Blocked(address) => blocked(*address),
        HostRefused::Unresolvable(host) => {
            refused("webhook_unresolvable_host", format!("the host {host} could not be resolved"))
        }
    }
}

/// Checks webhook URLs at registration: the rules above, and every address the host resolves
/// to.
#[derive(Debug, Clone)]
pub struct TargetGuard {
    rules: UrlRules,
}

impl TargetGuard {
    pub fn new(config: &WebhookConfig) -> Self {
        Self::with_policy(config, policy(config))
    }

    /// A guard applying `policy`; `allow_private_networks` is ignored. For tests.
    pub fn with_policy(config: &WebhookConfig, policy: Arc<dyn AddressPolicy>) -> Self {
        Self { rules: UrlRules { allow_http: config.allow_http, policy } }
    }
}

#[async_trait]
impl WebhookTargetCheck for TargetGuard {
    async fn check(&self, url: &WebhookUrl) -> Result<(), TargetRefused> {
        let url = self.rules.check(url.as_str())?;
        if literal_address(&url).is_some() {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default();
        // `[…]` never reaches here (IPv6 literals are literal addresses).
        resolve_checked(host, self.rules.policy.as_ref()).await.map(drop).map_err(|e| host_refused(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow_private: bool, allow_http: bool) -> TargetGuard {
        let config = WebhookConfig { allow_private_networks: allow_private, allow_http, ..WebhookConfig::default() };
        TargetGuard::new(&config)
    }

    async fn check(guard: &TargetGuard, raw: &str) -> Result<(), TargetRefused> {
        guard.check(&WebhookUrl::new(raw).unwrap()).await
    }

    #[tokio::test]
    async fn private_loopback_and_metadata_addresses_are_refused() {
        let g = guard(false, true);
        for raw in [
            "http://127.0.0.1:8080/hook",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:127.0.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "https://localhost/hook",
        ] {
            let err = check(&g, raw).await.unwrap_err();
            assert_eq!(err.code, "webhook_blocked_address", "{raw}: {err}");
        }
    }

    #[tokio::test]
    async fn public_literals_pass_and_private_ones_pass_only_when_allowed() {
        assert_eq!(check(&guard(false, true), "https://8.8.8.8/hook").await, Ok(()));
        assert_eq!(check(&guard(true, true), "http://127.0.0.1:9/hook").await, Ok(()));
        assert_eq!(check(&guard(true, true), "http://localhost:9/hook").await, Ok(()));
    }

    #[tokio::test]
    async fn schemes_and_credentials_follow_the_rules() {
        let err = check(&guard(true, false), "http://127.0.0.1/").await.unwrap_err();
        assert_eq!(err.code, "webhook_scheme_not_allowed");
        assert_eq!(check(&guard(true, false), "https://127.0.0.1/").await, Ok(()));
        let rules = UrlRules { allow_http: true, policy: Arc::new(AllowAll) };
        assert_eq!(rules.check("https://u:p@example.com/").unwrap_err().code, "invalid_webhook_url");
        assert_eq!(rules.check("ftp://example.com/").unwrap_err().code, "webhook_scheme_not_allowed");
    }

    #[tokio::test]
    async fn unresolvable_hosts_are_refused() {
        let err = check(&guard(false, true), "https://no-such-host.invalid/hook").await.unwrap_err();
        assert_eq!(err.code, "webhook_unresolvable_host");
    }
}
