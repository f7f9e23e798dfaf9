//! Name resolution that only ever hands checked addresses to the HTTP client.
//!
//! [`CheckedResolver`] is the client's only resolver: it resolves a host name, refuses the whole
//! host when any of its addresses is not allowed by the policy, and otherwise returns exactly the
//! addresses it checked, so the client cannot connect anywhere else. Because the checked
//! addresses are the very ones connected to, a host whose DNS answers change from one lookup to
//! the next (DNS rebinding) cannot get an unchecked address used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::AddressPolicy;
use crate::MediaError;

/// Why a host name was refused while resolving it. It travels through the HTTP client as the
/// cause of its connect error, and is turned back into a [`MediaError`] by the fetcher (other
/// clients built on [`CheckedResolver`], such as webhook delivery, find it the same way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    /// One of the host's addresses is not allowed.
    #[error("the host resolves to a non-public address ({0})")]
    Blocked(IpAddr),
    /// The host has no address.
    #[error("the host {0} could not be resolved")]
    Unresolvable(String),
}

impl From<HostRefused> for MediaError {
    fn from(refused: HostRefused) -> Self {
        match refused {
            HostRefused::Blocked(address) => MediaError::BlockedAddress { address },
            HostRefused::Unresolvable(host) => MediaError::UnresolvableHost(host),
        }
    }
}

/// A resolver that returns only addresses the policy allows, and refuses hosts with any other.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    policy: Arc<dyn AddressPolicy>,
}

impl CheckedResolver {
    /// A resolver applying `policy` to every address.
    pub fn new(policy: Arc<dyn AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve_checked(&host, policy.as_ref()).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` (A and AAAA) and checks every address against `policy`.
pub async fn resolve_checked(host: &str, policy: &dyn AddressPolicy) -> Result<Vec<SocketAddr>, HostRefused> {
    let found = tokio::net::lookup_host((host, 0)).await;
    let addresses = found.map_err(|_| HostRefused::Unresolvable(host.to_owned()))?.collect();
    check_all(host, addresses, policy)
}

/// Refuses the host if it has no address or if any address is not allowed; otherwise returns the
/// addresses unchanged.
fn check_all(
    host: &str,
    addresses: Vec<SocketAddr>,
    policy: &dyn AddressPolicy,
) -> Result<Vec<SocketAddr>, HostRefused> {
    if addresses.is_empty() {
        return Err(HostRefused::Unresolvable(host.to_owned()));
    }
    match addresses.iter().find(|address| !policy.allows(address.ip())) {
        Some(blocked) => {
            tracing::info!(host, address = %blocked.ip(), "media host refused: it resolves to a non-public address");
            Err(HostRefused::Blocked(blocked.ip()))
        }
        None => Ok(addresses),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{AllowAll, PublicOnly};

    fn at(ip: [u8; 4]) -> SocketAddr {
        SocketAddr::from((ip, 0))
    }

    #[test]
    fn a_host_with_only_public_addresses_keeps_all_of_them() {
        let addresses = vec![at([8, 8, 8, 8]), at([1, 1, 1, 1])];
        assert_eq!(check_all("example.com", addresses.clone(), &PublicOnly), Ok(addresses));
    }

    #[test]
    fn one_private_address_among_public_ones_refuses_the_host() {
        let addresses = vec![at([8, 8, 8, 8]), at([10, 0, 0, 1]), at([1, 1, 1, 1])];
        assert_eq!(
            check_all("example.com", addresses, &PublicOnly),
            Err(HostRefused::Blocked(IpAddr::from([10, 0, 0, 1])))
        );
    }

    #[test]
    fn a_host_without_addresses_is_unresolvable() {
        assert_eq!(
            check_all("example.com", Vec::new(), &AllowAll),
            Err(HostRefused::Unresolvable("example.com".to_owned()))
        );
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_and_is_refused() {
        let refused = resolve_checked("localhost", &PublicOnly).await;
        assert!(matches!(refused, Err(HostRefused::Blocked(ip)) if ip.is_loopback()), "{refused:?}");
        let allowed = resolve_checked("localhost", &AllowAll).await.expect("localhost resolves");
        assert!(allowed.iter().all(|address| address.ip().is_loopback()));
    }
}
