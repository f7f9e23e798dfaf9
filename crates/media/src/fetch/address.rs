//! Which addresses a media fetch may connect to.
//!
//! [`is_public`] is the rule of the default [`PublicOnly`] policy: an address is public when a
//! server on the internet could be reached there. Everything else (loopback, private networks,
//! link-local and cloud metadata addresses, carrier-grade NAT, multicast, documentation and
//! reserved ranges) is refused, and so are IPv6 forms that embed such an IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Decides whether the fetcher may connect to an address.
///
/// The policy is asked about every address before any connection is made: literal IP hosts of
/// every hop, and every address a host name resolves to.
pub trait AddressPolicy: Send + Sync + std::fmt::Debug {
    /// Whether connecting to `ip` is allowed.
    fn allows(&self, ip: IpAddr) -> bool;
}

/// The default policy: only public addresses (see [`is_public`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl AddressPolicy for PublicOnly {
    fn allows(&self, ip: IpAddr) -> bool {
        is_public(ip)
    }
}

/// A policy that allows every address, used when `media.allow_private_networks` is on.
///
/// It exists for tests against loopback servers; a production deployment must not use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl AddressPolicy for AllowAll {
    fn allows(&self, _ip: IpAddr) -> bool {
        true
    }
}

/// IPv4 networks that are not public, as (network, prefix length).
const NON_PUBLIC_V4: &[(Ipv4Addr, u32)] = &[
    // "This network", including the unspecified address 0.0.0.0.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    // Private networks.
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // Carrier-grade NAT.
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    // Loopback.
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    // Link-local, including the cloud metadata address 169.254.169.254.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    // IETF protocol assignments.
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    // Documentation (TEST-NET-1, TEST-NET-2, TEST-NET-3).
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    // 6to4 relay anycast.
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    // Benchmarking.
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    // Multicast.
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved, including the broadcast address 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// The IPv6 global unicast range 2000::/3; every IPv6 address outside it is refused, unless it
/// embeds a public IPv4 address (see [`embedded_ipv4`]).
///
/// Outside it lie, among others: discard 100::/64, local-use NAT64 64:ff9b:1::/48, SRv6 5f00::/16,
/// unique-local fc00::/7 (including the AWS metadata address fd00:ec2::254), link-local
/// fe80::/10, site-local fec0::/10 and multicast ff00::/8.
const GLOBAL_UNICAST_V6: (Ipv6Addr, u32) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// IPv6 networks inside 2000::/3 that are not public, as (network, prefix length).
const NON_PUBLIC_V6: &[(Ipv6Addr, u32)] = &[
    // IETF protocol assignments, including Teredo 2001::/32 (which embeds IPv4 addresses) and
    // benchmarking 2001:2::/48.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    // Documentation.
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    // 6to4, which embeds IPv4 addresses.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
];

/// Whether `ip` is a public address that a media fetch may connect to.
///
/// IPv6 addresses that carry an IPv4 address in their last 32 bits (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96` and NAT64 `64:ff9b::/96`) are judged
/// by the IPv4 address they carry. Teredo and 6to4 addresses are refused outright.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

/// Whether an IPv4 address lies outside every non-public network.
fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NON_PUBLIC_V4.iter().any(|&(network, prefix)| in_v4_network(ip, network, prefix))
}

/// Whether an IPv6 address is public.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    if let Some(embedded) = embedded_ipv4(ip) {
        return is_public_v4(embedded);
    }
    let (global, global_prefix) = GLOBAL_UNICAST_V6;
    in_v6_network(ip, global, global_prefix)
        && !NON_PUBLIC_V6.iter().any(|&(network, prefix)| in_v6_network(ip, network, prefix))
}

/// The IPv4 address an IPv6 address carries in its last 32 bits, for the forms that do.
///
/// These are IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`) and the NAT64 well-known prefix (`64:ff9b::a.b.c.d`).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [a, b, c, d, e, f, ..] = ip.segments();
    let carries_ipv4 = matches!(
        (a, b, c, d, e, f),
        (0, 0, 0, 0, 0, 0xffff) | (0, 0, 0, 0, 0xffff, 0) | (0, 0, 0, 0, 0, 0) | (0x64, 0xff9b, 0, 0, 0, 0)
    );
    carries_ipv4.then(|| Ipv4Addr::from(u128::from(ip) as u32))
}

/// Whether `ip` lies in `network/prefix`.
fn in_v4_network(ip: Ipv4Addr, network: Ipv4Addr, prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network)
}

/// Whether `ip` lies in `network/prefix`.
fn in_v6_network(ip: Ipv6Addr, network: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every non-public range with its first and last address, and the neighbours just outside.
    const EDGES_V4: &[(&str, bool)] = &[
        ("0.0.0.0", false),
        ("0.255.255.255", false),
        ("1.0.0.0", true),
        ("1.1.1.1", true),
        ("8.8.8.8", true),
        ("9.255.255.255", true),
        ("10.0.0.0", false),
        ("10.255.255.255", false),
        ("11.0.0.0", true),
        ("100.63.255.255", true),
        ("100.64.0.0", false),
        ("100.127.255.255", false),
        ("100.128.0.0", true),
        ("126.255.255.255", true),
        ("127.0.0.0", false),
        ("127.0.0.1", false),
        ("127.255.255.255", false),
        ("128.0.0.0", true),
        ("169.253.255.255", true),
        ("169.254.0.0", false),
        ("169.254.169.254", false),
        ("169.254.255.255", false),
        ("169.255.0.0", true),
        ("172.15.255.255", true),
        ("172.16.0.0", false),
        ("172.31.255.255", false),
        ("172.32.0.0", true),
        ("191.255.255.255", true),
        ("192.0.0.0", false),
        ("192.0.0.255", false),
        ("192.0.1.0", true),
        ("192.0.1.255", true),
        ("192.0.2.0", false),
        ("192.0.2.255", false),
        ("192.0.3.0", true),
        ("192.88.98.255", true),
        ("192.88.99.0", false),
        ("192.88.99.255", false),
        ("192.88.100.0", true),
        ("192.167.255.255", true),
        ("192.168.0.0", false),
        ("192.168.255.255", false),
        ("192.169.0.0", true),
        ("198.17.255.255", true),
        ("198.18.0.0", false),
        ("198.19.255.255", false),
        ("198.20.0.0", true),
        ("198.51.99.255", true),
        ("198.51.100.0", false),
        ("198.51.100.255", false),
        ("198.51.101.0", true),
        ("203.0.112.255", true),
        ("203.0.113.0", false),
        ("203.0.113.255", false),
        ("203.0.114.0", true),
        ("223.255.255.255", true),
        ("224.0.0.0", false),
        ("239.255.255.255", false),
        ("240.0.0.0", false),
        ("255.255.255.254", false),
        ("255.255.255.255", false),
    ];

    /// The IPv6 ranges with their edges, and the IPv4 embeddings judged by their IPv4 address.
    const EDGES_V6: &[(&str, bool)] = &[
        ("::", false),
        ("::1", false),
        ("::2", false),
        // IPv4-mapped.
        ("::ffff:0.0.0.0", false),
        ("::ffff:127.0.0.1", false),
        ("::ffff:7f00:1", false),
        ("::ffff:10.0.0.1", false),
        ("::ffff:169.254.169.254", false),
        ("::ffff:255.255.255.255", false),
        ("::ffff:8.8.8.8", true),
        ("::fffe:ffff:ffff", false),
        ("::1:0:0:0", false),
        // IPv4-compatible and IPv4-translated.
        ("::127.0.0.1", false),
        ("::192.168.0.1", false),
        ("::8.8.8.8", true),
        ("::ffff:0:127.0.0.1", false),
        ("::ffff:0:8.8.8.8", true),
        // NAT64, well-known and local-use prefixes.
        ("64:ff9b::127.0.0.1", false),
        ("64:ff9b::169.254.169.254", false),
        ("64:ff9b::8.8.8.8", true),
        ("64:ff9b::1:8.8.8.8", false),
        ("64:ff9b:1::8.8.8.8", false),
        // Discard.
        ("100::", false),
        ("100::ffff:ffff:ffff:ffff", false),
        // Just below and at the start of global unicast.
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2000::", true),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        // IETF protocol assignments, Teredo and benchmarking.
        ("2001::", false),
        ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:2::1", false),
        ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:200::", true),
        // Documentation.
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2001:db8::", false),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:db9::", true),
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("3fff::", false),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("3fff:1000::", true),
        // 6to4.
        ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2002::", false),
        ("2002:7f00:1::", false),
        ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2003::", true),
        ("2606:4700:4700::1111", true),
        ("2a00:1450:4001::200e", true),
        ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("4000::", false),
        // SRv6 segment identifiers.
        ("5f00::", false),
        // Unique-local, including the AWS metadata address.
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("fc00::", false),
        ("fd00:ec2::254", false),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        // Link-local and site-local.
        ("fe80::", false),
        ("fe80::1", false),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("fec0::", false),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        // Multicast.
        ("ff00::", false),
        ("ff02::1", false),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ];

    fn check(table: &[(&str, bool)]) {
        let wrong: Vec<String> = table
            .iter()
            .filter_map(|&(text, expected)| {
                let ip: IpAddr = text.parse().expect("a valid address in the table");
                (is_public(ip) != expected).then(|| format!("{text}: expected public = {expected}"))
            })
            .collect();
        assert!(wrong.is_empty(), "misjudged addresses:\n{}", wrong.join("\n"));
    }

    #[test]
    fn ipv4_ranges_and_their_edges() {
        check(EDGES_V4);
    }

    #[test]
    fn ipv6_ranges_their_edges_and_ipv4_embeddings() {
        check(EDGES_V6);
    }

    #[test]
    fn the_policies_follow_their_rule() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let public = IpAddr::from([8, 8, 8, 8]);
        assert!(!PublicOnly.allows(loopback));
        assert!(PublicOnly.allows(public));
        assert!(AllowAll.allows(loopback));
        assert!(AllowAll.allows(public));
    }
}
