//! The HTTP client whatsapp-rust uses for media uploads and the version look-up, on reqwest.
//!
//! Every request has a time limit, and a request is cancelled when its future is dropped, so an
//! upload wrapped in a time-out really stops (unlike a blocking client on a worker thread).

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};

/// A whatsapp-rust [`HttpClient`] on reqwest (rustls), with a per-request time limit.
///
/// Non-2xx answers are returned as responses, not errors: whatsapp-rust reads the status to
/// tell an expired media token (401/403) from a host that should be skipped.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    request_timeout: Duration,
}

impl ReqwestHttpClient {
    /// A client whose requests fail after `request_timeout` in all (connecting after
    /// `connect_timeout`). Redirects are not followed: WhatsApp's endpoints answer directly.
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Self { client, request_timeout })
    }

    /// The time limit of each request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .with_context(|| format!("invalid HTTP method {:?}", request.method))?;
        let host = host_of(&request.url);
        let mut builder = self.client.request(method, &request.url).timeout(self.request_timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        // The URL carries media auth tokens: only its host goes into error messages.
        let response = builder
            .send()
            .await
            .map_err(|e| anyhow::Error::new(e.without_url()))
            .with_context(|| format!("HTTP request to {host} failed"))?;
        let status_code = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| anyhow::Error::new(e.without_url()))
            .with_context(|| format!("reading the answer of {host} failed"))?;
        Ok(HttpResponse { status_code, body: body.to_vec() })
    }
}

/// The host of a URL, for messages (never its path or query, which may hold tokens).
pub(crate) fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an invalid URL".to_owned())
}
