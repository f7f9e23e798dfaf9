//! Redirects are followed by the fetcher, at most `max_redirects`, each hop checked like the first.
//!
//! The origin lives on 127.0.0.2, the only address the policy allows; blocked targets live on
//! 127.0.0.1 and count their connections.

use std::net::{IpAddr, SocketAddr};

use wastatus_media::{MediaConfig, MediaError};

use crate::support::{ALLOWED_IP, IMAGE, TARGET_IP, Target, config, only_allowed, redirect_to_path, spawn_origin};

const LIMIT: usize = 1024 * 1024;

async fn origin() -> SocketAddr {
    spawn_origin(ALLOWED_IP).await
}

#[tokio::test]
async fn a_chain_within_the_limit_is_followed_to_the_end() {
    let origin = origin().await;
    let fetched = only_allowed(&config()).fetch(&format!("http://{origin}/redirect/4"), LIMIT).await.expect("fetched");
    assert_eq!(fetched.bytes.as_ref(), IMAGE);
    assert_eq!(fetched.final_url.as_str(), format!("http://{origin}/image"));
}

#[tokio::test]
async fn exactly_max_redirects_are_followed_and_one_more_is_refused() {
    let origin = origin().await;
    let fetcher = only_allowed(&MediaConfig { max_redirects: 3, ..config() });
    // `/redirect/2` takes three redirects: to /redirect/1, /redirect/0 and /image.
    assert!(fetcher.fetch(&format!("http://{origin}/redirect/2"), LIMIT).await.is_ok());
    let result = fetcher.fetch(&format!("http://{origin}/redirect/3"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooManyRedirects(3)));
}

#[tokio::test]
async fn no_redirect_is_followed_when_none_is_allowed() {
    let origin = origin().await;
    let fetcher = only_allowed(&MediaConfig { max_redirects: 0, ..config() });
    assert!(fetcher.fetch(&format!("http://{origin}/image"), LIMIT).await.is_ok());
    let result = fetcher.fetch(&format!("http://{origin}/redirect/0"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooManyRedirects(0)));
}

#[tokio::test]
async fn a_redirect_loop_ends_in_too_many_redirects() {
    let origin = origin().await;
    let result = only_allowed(&config()).fetch(&format!("http://{origin}/loop"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooManyRedirects(config().max_redirects)));
}

#[tokio::test]
async fn every_redirect_status_is_followed_and_relative_locations_resolve() {
    let origin = origin().await;
    let fetcher = only_allowed(&config());
    for status in [301, 302, 303, 307, 308] {
        let fetched = fetcher.fetch(&format!("http://{origin}{}", redirect_to_path("/image", status)), LIMIT).await;
        assert_eq!(fetched.expect("followed").bytes.as_ref(), IMAGE, "{status}");
    }
    let fetched = fetcher.fetch(&format!("http://{origin}/dir/relative"), LIMIT).await.expect("followed");
    assert_eq!(fetched.final_url.as_str(), format!("http://{origin}/image"));
}

#[tokio::test]
async fn a_redirect_without_location_is_an_origin_error() {
    let origin = origin().await;
    let result = only_allowed(&config()).fetch(&format!("http://{origin}/no-location"), LIMIT).await;
    assert_eq!(result, Err(MediaError::OriginStatus(302)));
}

#[tokio::test]
async fn a_redirect_to_a_blocked_address_is_refused_before_connecting() {
    let origin = origin().await;
    let target = Target::spawn(TARGET_IP).await;
    let port = target.port();
    let loopback = IpAddr::V4(TARGET_IP);
    let fetcher = only_allowed(&config());
    // The policy allows the origin and nothing else, so the loopback target is as off-limits as
    // a private address is under the default policy.
    for location in [
        format!("http://127.0.0.1:{port}/secret"),
        format!("http://2130706433:{port}/secret"),
        format!("http://0x7f.1:{port}/secret"),
        format!("//127.1:{port}/secret"),
        format!("https://127.0.0.1:{port}/secret"),
    ] {
        let result = fetcher.fetch(&format!("http://{origin}{}", redirect_to_path(&location, 302)), LIMIT).await;
        assert_eq!(result, Err(MediaError::BlockedAddress { address: loopback }), "{location}");
    }
    for location in [format!("http://[::ffff:127.0.0.1]:{port}/secret"), format!("http://0.0.0.0:{port}/secret")] {
        let result = fetcher.fetch(&format!("http://{origin}{}", redirect_to_path(&location, 307)), LIMIT).await;
        assert!(matches!(result, Err(MediaError::BlockedAddress { .. })), "{location}: {result:?}");
    }
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_host_name_resolving_to_a_blocked_address_is_refused_before_connecting() {
    let origin = origin().await;
    let target = Target::spawn(TARGET_IP).await;
    let location = format!("http://localhost:{}/secret", target.port());
    let result =
        only_allowed(&config()).fetch(&format!("http://{origin}{}", redirect_to_path(&location, 302)), LIMIT).await;
    assert!(matches!(result, Err(MediaError::BlockedAddress { address }) if address.is_loopback()), "{result:?}");
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_another_scheme_or_with_user_info_is_refused() {
    let origin = origin().await;
    let fetcher = only_allowed(&config());
    for location in ["ftp://127.0.0.2/image", "file:///etc/passwd", "gopher://127.0.0.2:70/"] {
        let result = fetcher.fetch(&format!("http://{origin}{}", redirect_to_path(location, 302)), LIMIT).await;
        assert_eq!(result, Err(MediaError::SchemeNotAllowed { http_allowed: true }), "{location}");
    }
    let location = format!("http://user:secret@{origin}/image");
    let result = fetcher.fetch(&format!("http://{origin}{}", redirect_to_path(&location, 302)), LIMIT).await;
    assert!(matches!(result, Err(MediaError::InvalidUrl(_))), "{result:?}");
}

#[tokio::test]
async fn the_policy_allows_the_origin_itself() {
    // Guards the redirect tests above: they refuse because of the target, not the origin.
    let origin = origin().await;
    assert_eq!(origin.ip(), IpAddr::V4(ALLOWED_IP));
    assert!(only_allowed(&config()).fetch(&format!("http://{origin}/image"), LIMIT).await.is_ok());
}
