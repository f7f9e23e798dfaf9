//! The rules every hop of a fetch must pass before anything touches the network: scheme, host,
//! no user-info, and a literal IP host allowed by the address policy.

use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use super::address::AddressPolicy;
use crate::MediaError;

/// Parses a URL given by a client, with WHATWG rules.
///
/// WHATWG parsing normalises odd IPv4 forms (`2130706433`, `0x7f.1`, `017700000001`, `127.1`) to
/// the dotted address they stand for, so the address rule sees the real address.
pub(crate) fn parse(raw: &str) -> Result<Url, MediaError> {
    Url::parse(raw.trim()).map_err(|error| MediaError::InvalidUrl(error.to_string()))
}

/// Resolves a redirect's `Location` against the URL that answered with it.
pub(crate) fn follow(current: &Url, location: &str) -> Result<Url, MediaError> {
    current
        .join(location)
        .map_err(|error| MediaError::InvalidUrl(format!("the redirect location is not valid: {error}")))
}

/// The checks applied to every hop.
#[derive(Debug, Clone)]
pub(crate) struct HopRules {
    /// Whether `http` is accepted besides `https`.
    pub(crate) allow_http: bool,
    /// Which addresses may be connected to.
    pub(crate) policy: Arc<dyn AddressPolicy>,
}

impl HopRules {
    /// Checks one hop's URL; on success the hop may be requested, and a host name is then checked
    /// again, address by address, when it is resolved.
    pub(crate) fn check(&self, url: &Url) -> Result<(), MediaError> {
        self.check_scheme(url)?;
        check_host_and_user_info(url)?;
        self.check_literal_address(url)
    }

    /// Only `https`, or also `http` when allowed.
    fn check_scheme(&self, url: &Url) -> Result<(), MediaError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http => Ok(()),
            _ => Err(MediaError::SchemeNotAllowed { http_allowed: self.allow_http }),
        }
    }

    /// A literal IP host is checked here because it is never resolved, so the resolver never
    /// sees it.
    fn check_literal_address(&self, url: &Url) -> Result<(), MediaError> {
        match literal_address(url) {
            Some(address) if !self.policy.allows(address) => Err(MediaError::BlockedAddress { address }),
            _ => Ok(()),
        }
    }
}

/// A URL must name a host, and must not carry a user name or password.
fn check_host_and_user_info(url: &Url) -> Result<(), MediaError> {
    if url.host().is_none() {
        return Err(MediaError::InvalidUrl("the URL has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MediaError::InvalidUrl("user names and passwords are not accepted in media URLs".to_owned()));
    }
    Ok(())
}

/// The IP address of a URL whose host is a literal address.
///
/// A domain that parses as an address is treated as one too, in case a connector would take it
/// for a literal; WHATWG parsing of `http` and `https` URLs never produces such a domain.
pub fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(domain) => domain.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{AllowAll, PublicOnly};

    fn rules(allow_http: bool) -> HopRules {
        HopRules { allow_http, policy: Arc::new(PublicOnly) }
    }

    fn check(rules: &HopRules, raw: &str) -> Result<(), MediaError> {
        rules.check(&parse(raw)?)
    }

    #[test]
    fn https_is_always_accepted_and_http_only_when_allowed() {
        assert_eq!(check(&rules(false), "https://example.com/a.jpg"), Ok(()));
        assert_eq!(check(&rules(true), "https://example.com/a.jpg"), Ok(()));
        assert_eq!(check(&rules(true), "http://example.com/a.jpg"), Ok(()));
        assert_eq!(
            check(&rules(false), "http://example.com/a.jpg"),
            Err(MediaError::SchemeNotAllowed { http_allowed: false })
        );
    }

    #[test]
    fn a_redirect_from_https_to_http_is_refused_unless_http_is_allowed() {
        let current = parse("https://example.com/a.jpg").expect("valid");
        let next = follow(&current, "http://example.com/b.jpg").expect("valid");
        assert_eq!(rules(false).check(&next), Err(MediaError::SchemeNotAllowed { http_allowed: false }));
        assert_eq!(rules(true).check(&next), Ok(()));
    }

    #[test]
    fn other_schemes_are_refused() {
        for raw in
            ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://example.com/", "data:image/png;base64,AA"]
        {
            assert_eq!(check(&rules(true), raw), Err(MediaError::SchemeNotAllowed { http_allowed: true }), "{raw}");
        }
    }

    #[test]
    fn unparsable_urls_and_user_info_are_invalid() {
        for raw in [
            "not a url",
            "https://",
            "https://user@example.com/",
            "https://user:secret@example.com/",
            "https://:secret@example.com/",
        ] {
            assert!(matches!(check(&rules(false), raw), Err(MediaError::InvalidUrl(_))), "{raw}");
        }
    }

    #[test]
    fn odd_ipv4_forms_are_normalised_and_refused() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        for raw in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0x7f000001/",
            "https://017700000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://127.0.0.1./",
            "https://127.000.000.001/",
            // Full-width digits, and percent-encoded characters in the host.
            "https://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
            "https://127.0.0.1%2e/",
            "https://%31%32%37.0.0.1/",
        ] {
            assert_eq!(check(&rules(false), raw), Err(MediaError::BlockedAddress { address: loopback }), "{raw}");
        }
    }

    #[test]
    fn literal_ipv6_hosts_are_checked() {
        for raw in [
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[fd00:ec2::254]/",
        ] {
            assert!(matches!(check(&rules(false), raw), Err(MediaError::BlockedAddress { .. })), "{raw}");
        }
        assert_eq!(check(&rules(false), "https://[2606:4700:4700::1111]/"), Ok(()));
    }

    #[test]
    fn allow_all_lets_literal_private_addresses_through() {
        let rules = HopRules { allow_http: false, policy: Arc::new(AllowAll) };
        assert_eq!(check(&rules, "https://127.0.0.1/"), Ok(()));
    }

    #[test]
    fn redirects_resolve_against_the_current_url() {
        let current = parse("https://example.com/dir/a.jpg").expect("valid");
        assert_eq!(follow(&current, "../b.jpg").expect("valid").as_str(), "https://example.com/b.jpg");
        assert_eq!(follow(&current, "//0x7f.1/c").expect("valid").as_str(), "https://127.0.0.1/c");
    }
}
