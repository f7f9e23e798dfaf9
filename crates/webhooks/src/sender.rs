//! [`HttpSender`]: renders, signs and POSTs a message to an endpoint.
//!
//! - The body is rendered once and those exact bytes are both signed and sent.
//! - Headers: `content-type: application/json`, `webhook-id` (the event's id, the same on every
//!   attempt), `webhook-timestamp` (the attempt's Unix time), `webhook-signature` (one `v1,…`
//!   per active secret, space-separated), and `user-agent: wastatus-webhooks/<version>`.
//! - The address rules of media fetching apply at every attempt: the URL is checked again, and
//!   the client's only resolver is the media crate's checked resolver, which connects only to
//!   addresses it has checked (DNS answers can change after registration).
//! - Redirects are not followed (a `3xx` is a failed attempt); no proxy is used; one attempt
//!   may take `webhooks.timeout_secs` in all.
//! - Only the status, `Retry-After` and the first kilobyte of the answer are read.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use reqwest::header::{self, HeaderValue};
use reqwest::{Client, Response};
use url::Url;
use wastatus_domain::ports::WebhookSender;
use wastatus_domain::{AttemptOutcome, Timestamp, WebhookEndpoint, WebhookMessage};
use wastatus_media::fetch::{AddressPolicy, CheckedResolver, HostRefused};

use crate::WebhookConfig;
use crate::render::render;
use crate::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, signature_header};
use crate::target::{UrlRules, host_refused, policy};

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("wastatus-webhooks/", env!("CARGO_PKG_VERSION"));

/// How much of an answer's body is kept for the delivery log.
const EXCERPT_BYTES: usize = 1024;

/// Sends webhooks over HTTP. Cheap to clone: clones share one client and its connections.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: Client,
    rules: UrlRules,
    timeout: Duration,
}

impl HttpSender {
    /// A sender for `config`: only public addresses, unless `allow_private_networks` is on.
    ///
    /// # Errors
    ///
    /// If the HTTP client cannot be built (the TLS backend cannot start).
    pub fn new(config: &WebhookConfig) -> anyhow::Result<Self> {
        Self::with_policy(config, policy(config))
    }

    /// A sender connecting only where `policy` allows; `allow_private_networks` is ignored.
    ///
    /// # Errors
    ///
    /// As [`HttpSender::new`].
    pub fn with_policy(config: &WebhookConfig, policy: Arc<dyn AddressPolicy>) -> anyhow::Result<Self> {
        let timeout = config.timeout();
        let client = Client::builder()
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(CheckedResolver::new(Arc::clone(&policy))))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .https_only(!config.allow_http)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs.max(1)).min(timeout))
            .timeout(timeout)
            .build()?;
        Ok(Self { client, rules: UrlRules { allow_http: config.allow_http, policy }, timeout })
    }

    /// Why a request got no answer, as `code: message`, saying no more than the host and port.
    fn describe(&self, error: &reqwest::Error, url: &Url) -> String {
        if let Some(refused) = find_cause::<HostRefused>(error) {
            let refused = host_refused(refused);
            return format!("{}: {}", refused.code, refused.message);
        }
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        tracing::debug!(error = %error_chain(error), authority, "webhook request failed");
        if error.is_timeout() {
            format!("timeout: no answer from {authority} within {} s", self.timeout.as_secs())
        } else if error.is_connect() {
            format!("connection_failed: could not connect to {authority}")
        } else {
            format!("request_failed: the connection to {authority} failed or broke off")
        }
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, endpoint: &WebhookEndpoint, message: &WebhookMessage, at: Timestamp) -> AttemptOutcome {
        let started = Instant::now();
        let failed = |error: String| AttemptOutcome {
            error: Some(error),
            latency: started.elapsed(),
            ..AttemptOutcome::default()
        };
        let Some(body) = render(endpoint.format, message) else {
            return failed(format!("no_body: the {} format has no body for {}", endpoint.format, message.type_name()));
        };
        let url = match self.rules.check(endpoint.url.as_str()) {
            Ok(url) => url,
            Err(refused) => return failed(format!("{}: {}", refused.code, refused.message)),
        };
        let id = message.id().to_string();
        let timestamp = at.timestamp();
        let Some(signature) = signature_header(endpoint.secrets.active(at), &id, timestamp, &body) else {
            return failed("invalid_secret: the endpoint's signing secret is not valid base64".to_owned());
        };
        let request = self
            .client
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(WEBHOOK_ID, &id)
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(WEBHOOK_SIGNATURE, signature)
            .body(body);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(self.describe(&error, &url)),
        };
        let status_code = response.status().as_u16();
        let retry_after = retry_after(response.headers().get(header::RETRY_AFTER), SystemTime::now());
        let response_excerpt = excerpt(response).await;
        AttemptOutcome {
            status_code: Some(status_code),
            latency: started.elapsed(),
            retry_after,
            error: None,
            response_excerpt,
        }
    }
}

/// The first kilobyte of the body, as text; `None` for an empty body. The receiver has
/// answered with its status, which is what counts: a body that breaks off is left at that.
async fn excerpt(mut response: Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `Retry-After` as seconds or as an HTTP date, as a wait from `now`.
fn retry_after(value: Option<&HeaderValue>, now: SystemTime) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The first cause of type `T` in an error's chain of sources.
fn find_cause<'e, T: StdError + 'static>(error: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// An error and all its causes on one line, for the log.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let header = |v: &'static str| Some(HeaderValue::from_static(v));
        assert_eq!(retry_after(header("120").as_ref(), now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(header(" 0 ").as_ref(), now), Some(Duration::ZERO));
        // 2015-10-21T07:28:00Z is 1445412480 + 0.
        assert_eq!(retry_after(header("Wed, 21 Oct 2015 07:29:00 GMT").as_ref(), now), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(header("Wed, 21 Oct 2015 07:00:00 GMT").as_ref(), now), Some(Duration::ZERO));
        assert_eq!(retry_after(header("soon").as_ref(), now), None);
        assert_eq!(retry_after(None, now), None);
    }
}
