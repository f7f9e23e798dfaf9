//! Loopback servers, configurations and policies shared by the fetch tests.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use wastatus_media::MediaConfig;
use wastatus_media::fetch::{AddressPolicy, AllowAll, Fetcher};

/// Where blocked targets live.
pub const TARGET_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The one loopback address the [`Only`] policy of redirect tests allows.
pub const ALLOWED_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The bytes served at `/image`.
pub const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n not really a png";

/// A configuration for loopback tests: `http` allowed (loopback servers speak no TLS), private
/// networks refused, short time-outs.
pub fn config() -> MediaConfig {
    MediaConfig {
        allow_http: true,
        allow_private_networks: false,
        connect_timeout: Duration::from_secs(2),
        fetch_timeout: Duration::from_secs(5),
        ..MediaConfig::default()
    }
}

/// A fetcher with the default policy (public addresses only).
pub fn public_only() -> Fetcher {
    Fetcher::new(&config())
}

/// A fetcher that may reach any address.
pub fn allow_all() -> Fetcher {
    allow_all_with(&config())
}

/// A fetcher for `config` that may reach any address.
pub fn allow_all_with(config: &MediaConfig) -> Fetcher {
    Fetcher::with_policy(config, Arc::new(AllowAll))
}

/// A fetcher that may reach [`ALLOWED_IP`] and nothing else.
pub fn only_allowed(config: &MediaConfig) -> Fetcher {
    Fetcher::with_policy(config, Arc::new(Only(IpAddr::V4(ALLOWED_IP))))
}

/// A policy that allows exactly one address.
#[derive(Debug)]
pub struct Only(pub IpAddr);

impl AddressPolicy for Only {
    fn allows(&self, ip: IpAddr) -> bool {
        ip == self.0
    }
}

/// Binds a listener on a free port of `ip`.
async fn bind(ip: Ipv4Addr) -> TcpListener {
    TcpListener::bind((ip, 0)).await.expect("a free loopback port")
}

/// Starts the test origin (an axum app, see [`origin`]) on `ip` and returns its address.
pub async fn spawn_origin(ip: Ipv4Addr) -> SocketAddr {
    let listener = bind(ip).await;
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, origin()).await });
    address
}

/// The routes of the test origin.
fn origin() -> Router {
    Router::new()
        .route("/image", get(|| async { ([(header::CONTENT_TYPE, "image/png")], IMAGE) }))
        .route("/headers", get(echo_headers))
        .route("/bytes/{count}", get(|Path(count): Path<usize>| async move { vec![b'a'; count] }))
        .route("/chunked/{count}", get(|Path(count): Path<usize>| async move { chunked(count) }))
        .route("/endless", get(|| async { endless() }))
        .route("/empty", get(|| async { StatusCode::OK }))
        .route("/empty-chunked", get(|| async { chunked(0) }))
        .route("/status/{code}", get(|Path(code): Path<u16>| async move { status(code) }))
        .route("/redirect/{left}", get(|Path(left): Path<usize>| async move { redirect_chain(left) }))
        .route("/loop", get(|| async { redirect(StatusCode::FOUND, "/loop") }))
        .route("/dir/relative", get(|| async { redirect(StatusCode::FOUND, "../image") }))
        .route("/no-location", get(|| async { StatusCode::FOUND }))
        .route("/to", get(redirect_to))
}

/// Answers `User-Agent|Accept`.
async fn echo_headers(headers: HeaderMap) -> String {
    let text = |name| headers.get(name).and_then(|value: &header::HeaderValue| value.to_str().ok()).unwrap_or("");
    format!("{}|{}", text(header::USER_AGENT), text(header::ACCEPT))
}

/// `count` bytes in chunks of at most 7, without a `Content-Length`.
fn chunked(count: usize) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        vec![b'c'; count].chunks(7).map(|chunk| Ok(Bytes::copy_from_slice(chunk))).collect();
    Body::from_stream(stream::iter(chunks))
}

/// Chunks of 1 KiB forever.
fn endless() -> Body {
    Body::from_stream(stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from_static(&[b'e'; 1024]))))
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("a valid status in the test")
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

/// `/redirect/{left}` redirects to `/redirect/{left - 1}`, and `/redirect/0` to `/image`.
fn redirect_chain(left: usize) -> Response {
    match left {
        0 => redirect(StatusCode::FOUND, "/image"),
        left => redirect(StatusCode::FOUND, &format!("/redirect/{}", left - 1)),
    }
}

/// `/to?location=…&status=…` redirects to `location` with `status` (302 by default).
async fn redirect_to(Query(query): Query<HashMap<String, String>>) -> Response {
    let code = query.get("status").and_then(|code| code.parse().ok()).unwrap_or(302);
    redirect(status(code), query.get("location").map_or("/image", String::as_str))
}

/// The path and query of `/to` redirecting to `location`.
pub fn redirect_to_path(location: &str, status: u16) -> String {
    let location: String = url::form_urlencoded::byte_serialize(location.as_bytes()).collect();
    format!("/to?status={status}&location={location}")
}

/// A listener that counts the connections it accepts and answers each with a small page.
pub struct Target {
    pub address: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Target {
    /// Starts a target on `ip`.
    pub async fn spawn(ip: Ipv4Addr) -> Target {
        let listener = bind(ip).await;
        let address = listener.local_addr().expect("a bound address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret";
                tokio::spawn(serve_script(socket, Script::new(head, After::Close)));
            }
        });
        Target { address, connections }
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The port the target listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

/// What a raw server sends after its first bytes.
#[derive(Debug, Clone, Copy)]
pub enum After {
    /// Closes the connection.
    Close,
    /// Keeps the connection open and sends nothing more.
    Hang,
    /// Sends one byte every 100 ms, forever.
    Trickle,
}

/// What a raw server answers to every request.
#[derive(Debug, Clone)]
pub struct Script {
    first: Vec<u8>,
    after: After,
}

impl Script {
    /// Sends `first` (the response head, and possibly a body), then does `after`.
    pub fn new(first: impl Into<Vec<u8>>, after: After) -> Script {
        Script { first: first.into(), after }
    }
}

/// Starts a raw HTTP server on [`TARGET_IP`] that answers every connection with `script`.
pub async fn spawn_raw(script: Script) -> SocketAddr {
    let listener = bind(TARGET_IP).await;
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve_script(socket, script.clone()));
        }
    });
    address
}

/// Reads the request head, then plays the script.
async fn serve_script(mut socket: TcpStream, script: Script) -> std::io::Result<()> {
    read_request_head(&mut socket).await?;
    socket.write_all(&script.first).await?;
    match script.after {
        After::Close => socket.shutdown().await,
        After::Hang => {
            let mut sink = [0u8; 1024];
            while socket.read(&mut sink).await? > 0 {}
            Ok(())
        }
        After::Trickle => loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            socket.write_all(b"x").await?;
        },
    }
}

/// Reads until the blank line that ends a request head.
async fn read_request_head(socket: &mut TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let read = socket.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(())
}

/// A port on [`TARGET_IP`] where nothing listens.
pub async fn closed_port() -> u16 {
    let listener = bind(TARGET_IP).await;
    listener.local_addr().expect("a bound address").port()
}

/// A listener that never accepts and whose accept queue is full, so that the kernel leaves
/// further connection attempts unanswered: connecting to it hangs.
pub struct FullBacklog {
    pub address: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl FullBacklog {
    /// Listens on [`TARGET_IP`] with the smallest queue and fills it.
    pub async fn spawn() -> FullBacklog {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.bind(SocketAddr::from((TARGET_IP, 0))).expect("a free loopback port");
        let address = socket.local_addr().expect("a bound address");
        let listener = socket.listen(1).expect("listening");
        let mut queued = Vec::new();
        for _ in 0..8 {
            match tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(address)).await {
                Ok(Ok(stream)) => queued.push(stream),
                Ok(Err(error)) => panic!("filling the accept queue: {error}"),
                Err(_hanging) => return FullBacklog { address, _listener: listener, _queued: queued },
            }
        }
        panic!("the accept queue never filled up");
    }
}
