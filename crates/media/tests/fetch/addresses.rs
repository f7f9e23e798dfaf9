//! With the default policy, every non-public address form is refused before any connection.

use std::net::{IpAddr, Ipv4Addr};

use wastatus_media::MediaError;

use crate::support::{TARGET_IP, Target, public_only};

const LIMIT: usize = 1024;

/// Fetches `url` with the default policy and expects it refused for `address`.
async fn assert_blocked(url: &str, address: IpAddr) {
    let result = public_only().fetch(url, LIMIT).await;
    assert_eq!(result, Err(MediaError::BlockedAddress { address }), "{url}");
}

#[tokio::test]
async fn every_literal_form_of_loopback_is_refused_before_connecting() {
    let target = Target::spawn(TARGET_IP).await;
    let port = target.port();
    let loopback = IpAddr::V4(TARGET_IP);
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "017700000001",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "127.0.0.1.",
        "127.000.000.001",
    ] {
        assert_blocked(&format!("http://{host}:{port}/image"), loopback).await;
    }
    assert_blocked(&format!("https://127.0.0.1:{port}/image"), loopback).await;
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn unspecified_and_ipv6_forms_that_reach_loopback_are_refused_before_connecting() {
    let target = Target::spawn(TARGET_IP).await;
    let port = target.port();
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    assert_blocked(&format!("http://0.0.0.0:{port}/image"), unspecified).await;
    assert_blocked(&format!("http://0:{port}/image"), unspecified).await;
    for host in
        ["::1", "::", "::ffff:127.0.0.1", "::ffff:7f00:1", "::127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b::7f00:1"]
    {
        let address: IpAddr = host.parse().expect("an IPv6 address");
        assert_blocked(&format!("http://[{host}]:{port}/image"), address).await;
    }
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn metadata_private_and_embedding_addresses_are_refused() {
    for host in [
        "169.254.169.254",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[fc00::1]",
        "[ff02::1]",
        "[::ffff:169.254.169.254]",
        "[64:ff9b::a9fe:a9fe]",
        "[2001::1]",
        "[2002:7f00:1::]",
        "[2001:db8::1]",
    ] {
        let address: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().expect("an address");
        assert_blocked(&format!("http://{host}/latest/meta-data/"), address).await;
    }
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_before_connecting() {
    let target = Target::spawn(TARGET_IP).await;
    for host in ["localhost", "LOCALHOST"] {
        let result = public_only().fetch(&format!("http://{host}:{}/image", target.port()), LIMIT).await;
        assert!(
            matches!(result, Err(MediaError::BlockedAddress { address }) if address.is_loopback()),
            "{host}: {result:?}"
        );
    }
    assert_eq!(target.connections(), 0);
}
