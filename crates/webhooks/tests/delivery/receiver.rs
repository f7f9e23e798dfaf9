//! A loopback webhook receiver that records what it gets, verifies signatures the way a real
//! receiver would, and answers as a test tells it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use wastatus_domain::WebhookSecret;
use wastatus_webhooks::signing::verify;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub content_type: String,
    pub user_agent: String,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether `secret` verifies this request, as a Standard Webhooks receiver checks it.
    pub fn verifies_with(&self, secret: &WebhookSecret) -> bool {
        let now = chrono::Utc::now().timestamp();
        verify(secret, &self.id, self.timestamp, &self.signature, &self.body, now, 300).is_ok()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub delay: Duration,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'static str,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self { status, delay: Duration::ZERO, headers: Vec::new(), body: "" }
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    /// Answers for the next requests, in order; then `default`.
    script: VecDeque<Answer>,
    default: Option<Answer>,
}

/// A running receiver; stopped on drop.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver on a free loopback port, answering 204.
    pub async fn start() -> Receiver {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A receiver on `addr` (to come back on the port of one that was stopped).
    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared { default: Some(Answer::status(204)), ..Shared::default() }));
        let app = Router::new().route("/{*path}", post(receive)).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the receiver serves");
        });
        Receiver { addr, shared, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.lock().unwrap().script.extend(answers);
    }

    /// Answers every request not scripted with this.
    pub fn always(&self, answer: Answer) {
        self.shared.lock().unwrap().default = Some(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Waits until `done` holds for what was received, or panics after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver did not get what was expected: {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening (the port refuses connections until a receiver starts on it again).
    pub async fn stop(mut self) -> SocketAddr {
        self.server.abort();
        let _ = (&mut self.server).await;
        self.addr
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let received = Received {
        path: uri.path().to_owned(),
        id: text("webhook-id"),
        timestamp: text("webhook-timestamp").parse().unwrap_or_default(),
        signature: text("webhook-signature"),
        content_type: text("content-type"),
        user_agent: text("user-agent"),
        body,
    };
    let answer = {
        let mut shared = shared.lock().unwrap();
        shared.received.push(received);
        shared.script.pop_front().or_else(|| shared.default.clone()).unwrap_or(Answer::status(204))
    };
    tokio::time::sleep(answer.delay).await;
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).unwrap());
    }
    response
}
