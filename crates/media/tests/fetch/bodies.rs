//! The size cap holds while streaming, whatever `Content-Length` says; empty bodies are refused.

use std::time::{Duration, Instant};

use wastatus_media::MediaError;

use crate::support::{After, Script, TARGET_IP, allow_all, spawn_origin, spawn_raw};

const LIMIT: usize = 100;

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_refused() {
    let origin = spawn_origin(TARGET_IP).await;
    let fetcher = allow_all();
    // With a Content-Length.
    let fetched = fetcher.fetch(&format!("http://{origin}/bytes/{LIMIT}"), LIMIT).await.expect("at the limit");
    assert_eq!(fetched.bytes.len(), LIMIT);
    let result = fetcher.fetch(&format!("http://{origin}/bytes/{}", LIMIT + 1), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: LIMIT }));
    // Chunked, without a Content-Length.
    let fetched = fetcher.fetch(&format!("http://{origin}/chunked/{LIMIT}"), LIMIT).await.expect("at the limit");
    assert_eq!(fetched.bytes.len(), LIMIT);
    let result = fetcher.fetch(&format!("http://{origin}/chunked/{}", LIMIT + 1), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: LIMIT }));
}

#[tokio::test]
async fn an_endless_chunked_body_stops_at_the_limit() {
    let origin = spawn_origin(TARGET_IP).await;
    let started = Instant::now();
    let result = allow_all().fetch(&format!("http://{origin}/endless"), 64 * 1024).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: 64 * 1024 }));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_without_waiting_for_the_body() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000000\r\n\r\n";
    let server = spawn_raw(Script::new(head, After::Hang)).await;
    let started = Instant::now();
    let result = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: LIMIT }));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_small_content_length_over_a_larger_chunked_body_is_not_trusted() {
    // Transfer-Encoding wins over Content-Length: the body is 5 chunks of 100 bytes.
    let chunk = format!("64\r\n{}\r\n", "x".repeat(100));
    let body = format!("{}0\r\n\r\n", chunk.repeat(5));
    let response = format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
    let server = spawn_raw(Script::new(response, After::Close)).await;
    let result = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: LIMIT }));
}

#[tokio::test]
async fn bytes_beyond_a_content_length_are_never_read() {
    let response = format!("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "y".repeat(1000));
    let server = spawn_raw(Script::new(response, After::Close)).await;
    let fetched = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await.expect("ten bytes");
    assert_eq!(fetched.bytes.as_ref(), b"yyyyyyyyyy");
}

#[tokio::test]
async fn a_body_delimited_by_closing_the_connection_is_capped_too() {
    let response = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", "z".repeat(1000));
    let server = spawn_raw(Script::new(response, After::Close)).await;
    let result = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::TooLarge { limit: LIMIT }));

    let response = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", "z".repeat(LIMIT));
    let server = spawn_raw(Script::new(response, After::Close)).await;
    let fetched = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await.expect("at the limit");
    assert_eq!(fetched.bytes.len(), LIMIT);
}

#[tokio::test]
async fn an_empty_body_is_refused() {
    let origin = spawn_origin(TARGET_IP).await;
    for path in ["empty", "empty-chunked", "bytes/0", "chunked/0"] {
        let result = allow_all().fetch(&format!("http://{origin}/{path}"), LIMIT).await;
        assert_eq!(result, Err(MediaError::Empty), "{path}");
    }
}

#[tokio::test]
async fn a_body_cut_short_fails() {
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly a few bytes";
    let server = spawn_raw(Script::new(response, After::Close)).await;
    let result = allow_all().fetch(&format!("http://{server}/image"), LIMIT).await;
    assert_eq!(result, Err(MediaError::FetchFailed(format!("the connection to {server} failed or broke off"))));
}
