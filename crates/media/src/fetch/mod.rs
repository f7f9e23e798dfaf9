//! Server-side fetching of media URLs that cannot be turned against the server (SSRF).
//!
//! A [`Fetcher`] fetches a client's media URL under these rules:
//! - Only `https` (and `http` when `media.allow_http` is on); no user-info in the URL.
//! - Every address the host stands for is checked by an [`AddressPolicy`] before any connection
//!   is made, and only the checked addresses are connected to. Literal IP hosts are checked
//!   before the request, host names by the client's only resolver ([`resolve::CheckedResolver`]),
//!   which refuses the host when any of its addresses is not allowed.
//! - The client never follows redirects itself: the fetcher follows at most
//!   `media.max_redirects`, and each hop passes the same checks as the first.
//! - `media.connect_timeout` bounds connecting, `media.fetch_timeout` the whole fetch (all hops
//!   and the body).
//! - The body is counted while it streams and refused as soon as it passes the limit, whatever
//!   `Content-Length` said.
//! - No proxy is ever used, so no one else resolves or connects on the fetcher's behalf.

mod address;
mod body;
mod resolve;
mod target;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use url::Url;

pub use self::address::{AddressPolicy, AllowAll, PublicOnly, is_public};
use self::body::BodyError;
/// The checked resolver and the literal-address rule, public so that other server-side
/// clients (webhook delivery) apply the same address rules as media fetching.
pub use self::resolve::{CheckedResolver, HostRefused, resolve_checked};
use self::target::HopRules;
pub use self::target::literal_address;
use crate::{MediaConfig, MediaError};

/// The `User-Agent` of every media fetch.
pub const USER_AGENT: &str = concat!("wastatus/", env!("CARGO_PKG_VERSION"));

/// Media fetched from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body, at most the limit given to [`Fetcher::fetch`], never empty.
    pub bytes: Bytes,
    /// The `Content-Type` the origin declared, unchecked; the bytes decide what the media is.
    pub content_type: Option<String>,
    /// The URL the bytes came from, after redirects.
    pub final_url: Url,
}

/// Fetches media URLs safely. Cheap to clone: clones share one HTTP client and its connections.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
    rules: HopRules,
    max_redirects: usize,
    connect_timeout: Duration,
    fetch_timeout: Duration,
}

impl Fetcher {
    /// A fetcher for `config`: only public addresses, unless `allow_private_networks` is on.
    ///
    /// # Panics
    ///
    /// If the HTTP client cannot be built, which with this fixed configuration only happens when
    /// the TLS backend cannot start at all.
    pub fn new(config: &MediaConfig) -> Fetcher {
        let policy: Arc<dyn AddressPolicy> = if config.allow_private_networks {
            tracing::warn!("media.allow_private_networks is on: media URLs may reach private addresses");
            Arc::new(AllowAll)
        } else {
            Arc::new(PublicOnly)
        };
        Fetcher::with_policy(config, policy)
    }

    /// A fetcher for `config` that connects only to addresses `policy` allows; the
    /// `allow_private_networks` switch is ignored. For tests.
    ///
    /// # Panics
    ///
    /// As [`Fetcher::new`].
    pub fn with_policy(config: &MediaConfig, policy: Arc<dyn AddressPolicy>) -> Fetcher {
        let client = build_client(config, Arc::clone(&policy))
            .expect("an HTTP client with a fixed configuration and the bundled TLS backend builds");
        Fetcher {
            client,
            rules: HopRules { allow_http: config.allow_http, policy },
            max_redirects: config.max_redirects,
            connect_timeout: config.connect_timeout,
            fetch_timeout: config.fetch_timeout,
        }
    }

    /// Fetches `url`, following checked redirects, and returns at most `limit` bytes.
    ///
    /// # Errors
    ///
    /// `InvalidUrl`, `SchemeNotAllowed`, `BlockedAddress` and `UnresolvableHost` for a URL (or a
    /// redirect) that breaks the rules, `TooManyRedirects`, `OriginStatus` for a final status
    /// other than 2xx, `FetchTimeout`, `FetchFailed` when a connection fails or breaks off,
    /// `TooLarge` and `Empty`.
    pub async fn fetch(&self, url: &str, limit: usize) -> Result<Fetched, MediaError> {
        match tokio::time::timeout(self.fetch_timeout, self.fetch_unbounded(url, limit)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(MediaError::FetchTimeout(self.fetch_timeout)),
        }
    }

    /// The fetch without its overall time-out.
    async fn fetch_unbounded(&self, url: &str, limit: usize) -> Result<Fetched, MediaError> {
        let mut url = target::parse(url)?;
        let mut redirects = 0;
        loop {
            self.rules.check(&url)?;
            let response = self.send(&url).await?;
            let Some(next) = redirect_target(&response, &url)? else {
                return self.read(response, url, limit).await;
            };
            if redirects == self.max_redirects {
                return Err(MediaError::TooManyRedirects(self.max_redirects));
            }
            redirects += 1;
            url = next;
        }
    }

    /// Sends one GET request and waits for the response head.
    async fn send(&self, url: &Url) -> Result<Response, MediaError> {
        let sent = self.client.get(url.clone()).send().await;
        sent.map_err(|error| self.request_error(&error, url))
    }

    /// Checks the final response and reads its body under `limit`.
    async fn read(&self, response: Response, url: Url, limit: usize) -> Result<Fetched, MediaError> {
        let status = response.status();
        if !status.is_success() {
            return Err(MediaError::OriginStatus(status.as_u16()));
        }
        let declared = response.content_length();
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(MediaError::TooLarge { limit });
        }
        let content_type = header_text(&response, header::CONTENT_TYPE);
        let bytes = body::read_capped(response.bytes_stream(), limit, declared).await.map_err(|error| match error {
            BodyError::TooLarge => MediaError::TooLarge { limit },
            BodyError::Stream(error) => self.request_error(&error, &url),
        })?;
        if bytes.is_empty() {
            return Err(MediaError::Empty);
        }
        Ok(Fetched { bytes, content_type, final_url: url })
    }

    /// Turns a client error into a media error that says no more than the host and port.
    ///
    /// A host refused by the resolver comes back as the cause of a connect error.
    fn request_error(&self, error: &reqwest::Error, url: &Url) -> MediaError {
        if let Some(refused) = find_cause::<HostRefused>(error) {
            return refused.clone().into();
        }
        let authority = authority(url);
        tracing::debug!(error = %error_chain(error), authority, "media fetch failed");
        if error.is_connect() && error.is_timeout() {
            MediaError::FetchTimeout(self.connect_timeout)
        } else if error.is_timeout() {
            MediaError::FetchTimeout(self.fetch_timeout)
        } else if error.is_connect() {
            MediaError::FetchFailed(format!("could not connect to {authority}"))
        } else {
            MediaError::FetchFailed(format!("the connection to {authority} failed or broke off"))
        }
    }
}

/// The HTTP client behind a fetcher: the checked resolver, no redirects, no proxy.
fn build_client(config: &MediaConfig, policy: Arc<dyn AddressPolicy>) -> reqwest::Result<Client> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    Client::builder()
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .dns_resolver(Arc::new(CheckedResolver::new(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        .https_only(!config.allow_http)
        .connect_timeout(config.connect_timeout)
        .build()
}

/// Where a redirect response points, resolved against the URL that gave it; `None` when the
/// response is not a redirect to follow.
fn redirect_target(response: &Response, current: &Url) -> Result<Option<Url>, MediaError> {
    let followed = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    if !followed.contains(&response.status()) {
        return Ok(None);
    }
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let location =
        location.to_str().map_err(|_| MediaError::InvalidUrl("the redirect location is not valid text".to_owned()))?;
    target::follow(current, location).map(Some)
}

/// A response header as text, when it is text.
fn header_text(response: &Response, name: header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// `host:port` of a URL, for error messages.
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
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
    fn the_user_agent_names_wastatus_and_its_version() {
        assert_eq!(USER_AGENT, format!("wastatus/{}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn a_fetcher_builds_with_the_default_configuration() {
        let fetcher = Fetcher::new(&MediaConfig::default());
        assert!(!fetcher.rules.allow_http);
        assert_eq!(fetcher.max_redirects, 5);
    }

    #[test]
    fn causes_are_found_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] HostRefused);
        let error = Outer(HostRefused::Unresolvable("example.invalid".to_owned()));
        assert_eq!(find_cause::<HostRefused>(&error), Some(&HostRefused::Unresolvable("example.invalid".to_owned())));
        assert_eq!(error_chain(&error), "outer: the host example.invalid could not be resolved");
    }

    #[test]
    fn the_authority_names_host_and_port() {
        let url = Url::parse("https://example.com/a.jpg").expect("valid");
        assert_eq!(authority(&url), "example.com:443");
        let url = Url::parse("http://[::1]:8080/a.jpg").expect("valid");
        assert_eq!(authority(&url), "[::1]:8080");
    }
}
