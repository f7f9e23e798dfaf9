//! Successful fetches, headers, origin errors, connection failures, schemes and time-outs.

use std::time::{Duration, Instant};

use wastatus_media::fetch::{Fetcher, USER_AGENT};
use wastatus_media::{MediaConfig, MediaError};

use crate::support::{
    ALLOWED_IP, After, FullBacklog, IMAGE, Script, TARGET_IP, Target, allow_all, allow_all_with, closed_port, config,
    only_allowed, public_only, spawn_origin, spawn_raw,
};

const LIMIT: usize = 1024 * 1024;

#[tokio::test]
async fn private_networks_allowed_by_configuration_fetch_bytes_and_content_type() {
    let origin = spawn_origin(TARGET_IP).await;
    let fetcher = Fetcher::new(&MediaConfig { allow_private_networks: true, ..config() });
    let url = format!("http://{origin}/image");

    let fetched = fetcher.fetch(&url, LIMIT).await.expect("fetched");

    assert_eq!(fetched.bytes.as_ref(), IMAGE);
    assert_eq!(fetched.content_type.as_deref(), Some("image/png"));
    assert_eq!(fetched.final_url.as_str(), url);
}

#[tokio::test]
async fn sends_the_wastatus_user_agent_and_accepts_any_type() {
    let origin = spawn_origin(TARGET_IP).await;
    let fetched = allow_all().fetch(&format!("http://{origin}/headers"), LIMIT).await.expect("fetched");
    assert_eq!(fetched.bytes.as_ref(), format!("{USER_AGENT}|*/*").as_bytes());
    assert!(USER_AGENT.starts_with("wastatus/"));
}

#[tokio::test]
async fn host_names_are_resolved_and_connected_to_when_allowed() {
    let origin = spawn_origin(TARGET_IP).await;
    let url = format!("http://localhost:{}/image", origin.port());
    let fetched = allow_all().fetch(&url, LIMIT).await.expect("fetched through the resolver");
    assert_eq!(fetched.bytes.as_ref(), IMAGE);
}

#[tokio::test]
async fn a_non_success_status_is_an_origin_error() {
    let origin = spawn_origin(TARGET_IP).await;
    for code in [404, 403, 500, 204] {
        let result = allow_all().fetch(&format!("http://{origin}/status/{code}"), LIMIT).await;
        let expected = if code == 204 { MediaError::Empty } else { MediaError::OriginStatus(code) };
        assert_eq!(result, Err(expected), "{code}");
    }
}

#[tokio::test]
async fn a_closed_port_fails_naming_only_host_and_port() {
    let port = closed_port().await;
    let result = allow_all().fetch(&format!("http://{TARGET_IP}:{port}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::FetchFailed(format!("could not connect to {TARGET_IP}:{port}"))));
}

#[tokio::test]
async fn an_unresolvable_host_is_reported() {
    let result = public_only().fetch("http://nothing-here.invalid/image.jpg", LIMIT).await;
    assert_eq!(result, Err(MediaError::UnresolvableHost("nothing-here.invalid".to_owned())));
}

#[tokio::test]
async fn only_https_and_allowed_http_schemes_are_fetched() {
    let target = Target::spawn(ALLOWED_IP).await;
    let authority = target.address;
    for url in [
        format!("ftp://{authority}/image"),
        format!("file://{}/etc/passwd", authority.ip()),
        "file:///etc/passwd".to_owned(),
        format!("gopher://{authority}/"),
        format!("ws://{authority}/"),
        "data:image/png;base64,iVBORw0KGgo=".to_owned(),
        "javascript:alert(1)".to_owned(),
    ] {
        let result = only_allowed(&config()).fetch(&url, LIMIT).await;
        assert_eq!(result, Err(MediaError::SchemeNotAllowed { http_allowed: true }), "{url}");
    }

    let https_only = only_allowed(&MediaConfig { allow_http: false, ..config() });
    let result = https_only.fetch(&format!("http://{authority}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::SchemeNotAllowed { http_allowed: false }));
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn urls_without_a_host_or_with_user_info_are_invalid() {
    let target = Target::spawn(ALLOWED_IP).await;
    let authority = target.address;
    for url in [
        "not a url".to_owned(),
        "https://".to_owned(),
        "/image.jpg".to_owned(),
        format!("http://user@{authority}/image"),
        format!("http://user:secret@{authority}/image"),
    ] {
        let result = only_allowed(&config()).fetch(&url, LIMIT).await;
        assert!(matches!(result, Err(MediaError::InvalidUrl(_))), "{url}: {result:?}");
    }
    assert_eq!(target.connections(), 0);
}

/// A fetcher whose whole fetch may take at most 500 ms.
fn impatient() -> (Fetcher, Duration) {
    let bound = Duration::from_millis(500);
    (allow_all_with(&MediaConfig { fetch_timeout: bound, ..config() }), bound)
}

#[tokio::test]
async fn a_body_trickling_forever_times_out_at_the_bound() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n";
    let server = spawn_raw(Script::new(head, After::Trickle)).await;
    let (fetcher, bound) = impatient();

    let started = Instant::now();
    let result = fetcher.fetch(&format!("http://{server}/image"), LIMIT).await;
    let elapsed = started.elapsed();

    assert_eq!(result, Err(MediaError::FetchTimeout(bound)));
    assert!(elapsed >= bound && elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_bound() {
    let server = spawn_raw(Script::new("", After::Hang)).await;
    let (fetcher, bound) = impatient();

    let started = Instant::now();
    let result = fetcher.fetch(&format!("http://{server}/image"), LIMIT).await;

    assert_eq!(result, Err(MediaError::FetchTimeout(bound)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn a_fetch_can_run_on_any_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let fetcher = allow_all();
    assert_send(&fetcher.fetch("https://example.com/", 1));
}

#[tokio::test]
async fn connecting_is_bounded_by_the_connect_timeout() {
    let backlog = FullBacklog::spawn().await;
    let bound = Duration::from_millis(300);
    let fetcher = allow_all_with(&MediaConfig { connect_timeout: bound, ..config() });

    let started = Instant::now();
    let result = fetcher.fetch(&format!("http://{}/image", backlog.address), LIMIT).await;

    assert_eq!(result, Err(MediaError::FetchTimeout(bound)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}
