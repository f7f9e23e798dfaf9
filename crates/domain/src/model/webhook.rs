//! Webhooks: the endpoints a tenant registers to hear of events, and the deliveries of events
//! to them.
//!
//! An event recorded in the outbox is fanned out into one [`Delivery`] per endpoint that
//! [wants](WebhookEndpoint::wants) it. A delivery is attempted until the receiver answers `2xx`
//! (`succeeded`), answers `410 Gone` (`failed`, and the endpoint is disabled), or the
//! [`RetryPolicy`] runs out (`failed`). Each attempt is logged as a [`DeliveryAttempt`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ids::uuid_id;
use super::{Event, EventId, EventKind, InvalidValue, PageLimit, SessionId, TenantId, Timestamp, UnknownVariant};

uuid_id!(
    /// A webhook endpoint (UUID v7).
    WebhookId
);
uuid_id!(
    /// One delivery of one event to one endpoint, with all its attempts (UUID v7).
    DeliveryId
);

/// Where a webhook endpoint receives events: an absolute `http` or `https` URL.
///
/// This checks the URL's shape only. Whether its host may be reached (no private, loopback or
/// metadata address) is the [`crate::ports::WebhookTargetCheck`]'s to say, when the endpoint is
/// registered, and the sender's again at every delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        let url = raw.trim();
        let invalid = |message: &str| Err(InvalidValue::new("url", "invalid_webhook_url", message));
        if url.is_empty() || url.len() > Self::MAX_LEN {
            return invalid("a webhook URL has 1 to 2048 characters");
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("a webhook URL contains no spaces or control characters");
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return invalid("a webhook URL is absolute: https://host/path");
        };
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return invalid("a webhook URL uses https (or http)");
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.starts_with(':') {
            return invalid("a webhook URL names a host");
        }
        if authority.contains('@') {
            return invalid("user names and passwords are not accepted in webhook URLs");
        }
        if url.contains('#') {
            return invalid("a webhook URL has no fragment (#…)");
        }
        Ok(Self(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"type", "timestamp", "data": {…}}`, for every event type.
    #[default]
    Native,
    /// Walytic's flat `statusUpdated` object, for `status.published` only.
    Walytic,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 2] = [WebhookFormat::Native, WebhookFormat::Walytic];

    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Native => "native",
            WebhookFormat::Walytic => "walytic",
        }
    }

    /// Whether this format has a body for events of `kind`.
    pub fn carries(self, kind: EventKind) -> bool {
        match self {
            WebhookFormat::Native => true,
            WebhookFormat::Walytic => kind == EventKind::StatusPublished,
        }
    }

    /// Parses a format name given by a client (`invalid_webhook_format` otherwise).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.parse()
            .map_err(|_| InvalidValue::new("format", "invalid_webhook_format", "the format is `native` or `walytic`"))
    }
}

impl fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookFormat {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// Which events an endpoint receives: all of them (`"*"`), or a non-empty set of types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    /// Never empty, without duplicates, in [`EventKind::ALL`] order.
    Only(Vec<EventKind>),
}

impl EventFilter {
    /// The wildcard that stands for every event type.
    pub const WILDCARD: &'static str = "*";

    /// A filter of these kinds; `invalid_events` when there are none.
    pub fn only(kinds: impl IntoIterator<Item = EventKind>) -> Result<Self, InvalidValue> {
        let given: Vec<EventKind> = kinds.into_iter().collect();
        let kinds: Vec<EventKind> = EventKind::ALL.into_iter().filter(|k| given.contains(k)).collect();
        if kinds.is_empty() {
            return Err(InvalidValue::new("events", "invalid_events", "name at least one event type, or \"*\""));
        }
        Ok(EventFilter::Only(kinds))
    }

    /// Parses event type names as clients give them; `"*"` among them means every type.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidValue> {
        if names.iter().any(|n| n.as_ref() == Self::WILDCARD) {
            return Ok(EventFilter::All);
        }
        let kinds = names
            .iter()
            .map(|name| {
                name.as_ref().parse::<EventKind>().map_err(|_| {
                    InvalidValue::new(
                        "events",
                        "invalid_event_type",
                        format!(
                            "unknown event type {:?}; the types are {} (or \"*\" for all)",
                            name.as_ref(),
                            EventKind::ALL.map(EventKind::as_str).join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::only(kinds)
    }

    pub fn matches(&self, kind: EventKind) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(kinds) => kinds.contains(&kind),
        }
    }

    /// The names, as clients give them (`["*"]` for all).
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            EventFilter::All => vec![Self::WILDCARD],
            EventFilter::Only(kinds) => kinds.iter().map(|k| k.as_str()).collect(),
        }
    }

    /// The kinds this filter lets through that `format` has no body for.
    pub fn unsupported_by(&self, format: WebhookFormat) -> Vec<EventKind> {
        match self {
            EventFilter::All => Vec::new(),
            EventFilter::Only(kinds) => kinds.iter().copied().filter(|k| !format.carries(*k)).collect(),
        }
    }
}

/// A signing secret: `whsec_` and the base64 of 24 to 64 random bytes (Standard Webhooks). The
/// key for the HMAC is the decoded base64. Its `Debug` output leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";

    /// A secret in the `whsec_<base64>` shape; `invalid_webhook_secret` otherwise.
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        let valid = raw.strip_prefix(Self::PREFIX).is_some_and(|b64| {
            (32..=88).contains(&b64.len())
                && b64.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        });
        if !valid {
            return Err(InvalidValue::new(
                "secret",
                "invalid_webhook_secret",
                "a webhook secret is whsec_ followed by the base64 of 24 to 64 bytes",
            ));
        }
        Ok(Self(raw))
    }

    /// The secret itself, for signing (and for showing it once).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `whsec_` and the first four characters after it, to tell secrets apart.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(Self::PREFIX.len() + 4).collect()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({}…)", self.display_prefix())
    }
}

/// A secret replaced by a rotation, still signing until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret: WebhookSecret,
    pub expires_at: Timestamp,
}

/// An endpoint's signing secrets: the current one and, for a while after a rotation, the one
/// before it, so that receivers can switch without missing a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSecrets {
    pub current: WebhookSecret,
    pub previous: Option<PreviousSecret>,
}

impl SigningSecrets {
    pub fn new(current: WebhookSecret) -> Self {
        Self { current, previous: None }
    }

    /// The secrets that sign a message sent at `at`: the current one first, then the previous
    /// one while it has not expired.
    pub fn active(&self, at: Timestamp) -> Vec<&WebhookSecret> {
        let mut secrets = vec![&self.current];
        if let Some(previous) = self.previous.as_ref().filter(|p| p.expires_at > at) {
            secrets.push(&previous.secret);
        }
        secrets
    }

    /// Makes `new` the current secret; the current one keeps signing until `at + overlap`
    /// (not at all with a zero overlap). A still older secret is dropped.
    pub fn rotate(&mut self, new: WebhookSecret, at: Timestamp, overlap: Duration) {
        let old = std::mem::replace(&mut self.current, new);
        let expires_at = at + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX);
        self.previous = (!overlap.is_zero()).then_some(PreviousSecret { secret: old, expires_at });
    }
}

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub tenant: TenantId,
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub format: WebhookFormat,
    /// Only events of this session, when set.
    pub session: Option<SessionId>,
    pub enabled: bool,
    /// Why the endpoint was disabled, when wastatus disabled it (`410 Gone`).
    pub disabled_reason: Option<String>,
    pub secrets: SigningSecrets,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// Whether this endpoint receives `event`: it is enabled, of the event's tenant, its filter
    /// and session filter let the event through, and its format has a body for it.
    pub fn wants(&self, event: &Event) -> bool {
        self.enabled
            && self.tenant == event.tenant
            && self.format.carries(event.kind)
            && self.events.matches(event.kind)
            && self.session.as_ref().is_none_or(|s| *s == event.session)
    }
}

/// The `type` of a test ping.
pub const PING_TYPE: &str = "webhook.ping";

/// A test message sent on request, to check an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub id: EventId,
    pub webhook: WebhookId,
    pub occurred_at: Timestamp,
}

/// What a delivery carries: an event, or a test ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookMessage {
    Event(Event),
    Ping(Ping),
}

impl WebhookMessage {
    /// The message's id, sent as `webhook-id`: the same on every attempt.
    pub fn id(&self) -> EventId {
        match self {
            WebhookMessage::Event(e) => e.id,
            WebhookMessage::Ping(p) => p.id,
        }
    }

    /// The message's type: an event type, or [`PING_TYPE`].
    pub fn type_name(&self) -> &'static str {
        match self {
            WebhookMessage::Event(e) => e.kind.as_str(),
            WebhookMessage::Ping(_) => PING_TYPE,
        }
    }

    pub fn occurred_at(&self) -> Timestamp {
        match self {
            WebhookMessage::Event(e) => e.occurred_at,
            WebhookMessage::Ping(p) => p.occurred_at,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered `2xx`.
    Succeeded,
    /// The receiver answered `410 Gone`, or every attempt failed.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [DeliveryState::Pending, DeliveryState::Succeeded, DeliveryState::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses a state name given by a client (`invalid_state` otherwise).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.parse()
            .map_err(|_| InvalidValue::new("state", "invalid_state", "the state is `pending`, `succeeded` or `failed`"))
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// How one attempt went, as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptOutcome {
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// From sending the request to the end of the answer (or the failure).
    pub latency: Duration,
    /// The receiver's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// Why no answer came (time-out, refused connection, blocked address, …).
    pub error: Option<String>,
    /// The start of the answer's body, as text, for the delivery log.
    pub response_excerpt: Option<String>,
}

impl AttemptOutcome {
    /// Only a `2xx` answer is a success (a redirect is not followed, so it is not one).
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    /// The receiver answered `410 Gone`: it wants no more deliveries.
    pub fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

/// One attempt of a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub delivery: DeliveryId,
    /// 1 for the first attempt of the delivery.
    pub number: u32,
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// One message for one endpoint, until the receiver takes it or the retries run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant: TenantId,
    pub endpoint: WebhookId,
    pub message: WebhookMessage,
    pub state: DeliveryState,
    /// Attempts made, over the delivery's whole life.
    pub attempts: u32,
    /// The attempts made before the current round of retries began (a manual redelivery
    /// starts a new round with the whole retry schedule).
    pub round_start: u32,
    /// When the next attempt is due; `None` once settled.
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_latency: Option<Duration>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What [`Delivery::record`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    Succeeded,
    /// `410 Gone`: the delivery failed and the endpoint is to be disabled.
    Gone,
    /// Another attempt is due after this long.
    Retry(Duration),
    /// The retry schedule is used up.
    Exhausted,
}

impl Delivery {
    /// A new delivery of `message` to `endpoint`, due at `now`.
    pub fn new(id: DeliveryId, endpoint: &WebhookEndpoint, message: WebhookMessage, now: Timestamp) -> Self {
        Self {
            id,
            tenant: endpoint.tenant,
            endpoint: endpoint.id,
            message,
            state: DeliveryState::Pending,
            attempts: 0,
            round_start: 0,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            last_latency: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Records an attempt made at `at` that went as `outcome`, deciding with `policy` what
    /// comes next; returns the attempt for the log and the verdict.
    pub fn record(
        &mut self,
        outcome: &AttemptOutcome,
        at: Timestamp,
        policy: &RetryPolicy,
    ) -> (DeliveryAttempt, AttemptVerdict) {
        self.attempts += 1;
        let attempt = DeliveryAttempt {
            delivery: self.id,
            number: self.attempts,
            attempted_at: at,
            status_code: outcome.status_code,
            latency: outcome.latency,
            error: outcome.error.clone(),
            response_excerpt: outcome.response_excerpt.clone(),
        };
        self.last_attempt_at = Some(at);
        self.last_status_code = outcome.status_code;
        self.last_error = outcome.error.clone();
        self.last_latency = Some(outcome.latency);
        self.updated_at = at;
        let verdict = if outcome.succeeded() {
            AttemptVerdict::Succeeded
        } else if outcome.gone() {
            AttemptVerdict::Gone
        } else {
            let failed_in_round = self.attempts - self.round_start;
            match policy.delay_after(self.id, failed_in_round, outcome.retry_after) {
                Some(delay) => AttemptVerdict::Retry(delay),
                None => AttemptVerdict::Exhausted,
            }
        };
        match verdict {
            AttemptVerdict::Succeeded => self.settle(DeliveryState::Succeeded),
            AttemptVerdict::Gone | AttemptVerdict::Exhausted => self.settle(DeliveryState::Failed),
            AttemptVerdict::Retry(delay) => {
                self.state = DeliveryState::Pending;
                self.next_attempt_at = Some(at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX));
            }
        }
        (attempt, verdict)
    }

    /// Settles the delivery after a single attempt, without retries (a ping).
    pub fn record_once(&mut self, outcome: &AttemptOutcome, at: Timestamp) -> DeliveryAttempt {
        self.record(outcome, at, &RetryPolicy::none()).0
    }

    fn settle(&mut self, state: DeliveryState) {
        self.state = state;
        self.next_attempt_at = None;
    }
}

/// When failed attempts are tried again: after each delay of the schedule in turn, each
/// stretched or shrunk by up to `jitter_percent` (so that deliveries failed together do not
/// all come back together), and never before the receiver's `Retry-After`, which is believed up
/// to `max_retry_after`. When the schedule is used up the delivery fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
    /// 0 to 100.
    pub jitter_percent: u8,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Nine retries over about 16 hours: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h.
    fn default() -> Self {
        Self {
            delays: [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800].map(Duration::from_secs).to_vec(),
            jitter_percent: 20,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The default schedule, as [`RetryPolicy::parse_delays`] reads it.
    pub const DEFAULT_SCHEDULE: &'static str = "5s,30s,2m,10m,30m,1h,2h,4h,8h";

    /// No retries at all.
    pub fn none() -> Self {
        Self { delays: Vec::new(), jitter_percent: 0, max_retry_after: Duration::ZERO }
    }

    /// How long to wait after the `failed`-th failed attempt of a round (1 for the first),
    /// or `None` when the schedule is used up. The jitter is a pure function of the delivery
    /// and the attempt, so the decision can be checked and repeated.
    pub fn delay_after(&self, delivery: DeliveryId, failed: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let index = usize::try_from(failed.checked_sub(1)?).ok()?;
        let base = *self.delays.get(index)?;
        let jitter = f64::from(self.jitter_percent.min(100)) / 100.0;
        // A factor in [1 - jitter, 1 + jitter].
        let unit = spread(delivery, failed);
        let factor = 1.0 + jitter * (2.0 * unit - 1.0);
        let jittered = base.mul_f64(factor.max(0.0));
        let asked = retry_after.map(|r| r.min(self.max_retry_after)).unwrap_or_default();
        Some(jittered.max(asked))
    }

    /// Reads a schedule written as comma-separated durations with a unit: `500ms`, `5s`, `2m`,
    /// `1h` (e.g. [`RetryPolicy::DEFAULT_SCHEDULE`]). An empty text is no retries.
    pub fn parse_delays(text: &str) -> Result<Vec<Duration>, InvalidValue> {
        let invalid = |part: &str| {
            InvalidValue::new(
                "retry_schedule",
                "invalid_retry_schedule",
                format!("{part:?} is not a duration such as 500ms, 5s, 2m or 1h"),
            )
        };
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                let digits = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
                let (number, unit) = part.split_at(digits);
                let number: u64 = number.parse().map_err(|_| invalid(part))?;
                let millis = match unit.trim() {
                    "ms" => 1,
                    "s" => 1_000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    _ => return Err(invalid(part)),
                };
                number.checked_mul(millis).map(Duration::from_millis).ok_or_else(|| invalid(part))
            })
            .collect()
    }
}

/// A number in [0, 1) derived from the delivery and the attempt (SplitMix64).
fn spread(delivery: DeliveryId, attempt: u32) -> f64 {
    let bits = delivery.as_uuid().as_u128();
    let mut x = (bits as u64) ^ ((bits >> 64) as u64) ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The position after the last delivery of a page: deliveries are listed newest first by
/// (`created_at`, `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCursor {
    pub created_at: Timestamp,
    pub id: DeliveryId,
}

/// Which deliveries of an endpoint to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub limit: PageLimit,
    pub after: Option<DeliveryCursor>,
    pub state: Option<DeliveryState>,
}

/// A delivery and its attempts, oldest attempt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub delivery: Delivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// One page of an endpoint's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryRecord>,
    pub next: Option<DeliveryCursor>,
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::model::SessionState;

    fn at(secs: i64) -> Timestamp {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn secret(c: char) -> WebhookSecret {
        WebhookSecret::new(format!("whsec_{}", c.to_string().repeat(32))).unwrap()
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: WebhookId::from_uuid(Uuid::from_u128(7)),
            tenant: TenantId::from_uuid(Uuid::from_u128(1)),
            url: WebhookUrl::new("https://hooks.example.com/in").unwrap(),
            events: EventFilter::All,
            format: WebhookFormat::Native,
            session: None,
            enabled: true,
            disabled_reason: None,
            secrets: SigningSecrets::new(secret('A')),
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn event(kind: EventKind, session: &str) -> Event {
        Event {
            id: EventId::from_uuid(Uuid::from_u128(9)),
            tenant: TenantId::from_uuid(Uuid::from_u128(1)),
            session: SessionId::new(session).unwrap(),
            kind,
            occurred_at: at(1),
            status: None,
        }
    }

    #[test]
    fn urls_are_absolute_http_urls_without_credentials() {
        for ok in ["https://example.com", "http://127.0.0.1:8080/hook?x=1", "HTTPS://[::1]/in", " https://a.b/c "] {
            assert!(WebhookUrl::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://example.com/a b",
            "https://example.com/#frag",
            "https://:80/",
            &format!("https://example.com/{}", "a".repeat(2048)),
        ] {
            assert_eq!(WebhookUrl::new(bad).unwrap_err().code, "invalid_webhook_url", "{bad:?}");
        }
    }

    #[test]
    fn event_filters_parse_names_and_the_wildcard() {
        assert_eq!(EventFilter::parse(&["*"]).unwrap(), EventFilter::All);
        assert_eq!(EventFilter::parse(&["status.failed", "*"]).unwrap(), EventFilter::All);
        let filter = EventFilter::parse(&["session.connected", "status.published", "status.published"]).unwrap();
        assert_eq!(filter, EventFilter::Only(vec![EventKind::StatusPublished, EventKind::SessionConnected]));
        assert_eq!(filter.names(), ["status.published", "session.connected"]);
        assert!(filter.matches(EventKind::SessionConnected) && !filter.matches(EventKind::StatusFailed));
        assert_eq!(EventFilter::parse::<&str>(&[]).unwrap_err().code, "invalid_events");
        assert_eq!(EventFilter::parse(&["status.exploded"]).unwrap_err().code, "invalid_event_type");
    }

    #[test]
    fn the_walytic_format_carries_published_statuses_only() {
        for kind in EventKind::ALL {
            assert!(WebhookFormat::Native.carries(kind));
            assert_eq!(WebhookFormat::Walytic.carries(kind), kind == EventKind::StatusPublished);
        }
        let filter = EventFilter::parse(&["status.published", "status.failed"]).unwrap();
        assert_eq!(filter.unsupported_by(WebhookFormat::Walytic), [EventKind::StatusFailed]);
        assert!(EventFilter::All.unsupported_by(WebhookFormat::Walytic).is_empty());
    }

    #[test]
    fn an_endpoint_wants_what_its_filters_let_through() {
        let e = endpoint();
        assert!(e.wants(&event(EventKind::SessionLoggedOut, "main")));
        let only_main = WebhookEndpoint { session: Some(SessionId::new("main").unwrap()), ..endpoint() };
        assert!(only_main.wants(&event(EventKind::StatusFailed, "main")));
        assert!(!only_main.wants(&event(EventKind::StatusFailed, "other")));
        let disabled = WebhookEndpoint { enabled: false, ..endpoint() };
        assert!(!disabled.wants(&event(EventKind::StatusPublished, "main")));
        let walytic = WebhookEndpoint { format: WebhookFormat::Walytic, ..endpoint() };
        assert!(walytic.wants(&event(EventKind::StatusPublished, "main")));
        assert!(!walytic.wants(&event(EventKind::of_session_state(SessionState::Connected), "main")));
        let other_tenant =
            Event { tenant: TenantId::from_uuid(Uuid::from_u128(2)), ..event(EventKind::StatusPublished, "m") };
        assert!(!e.wants(&other_tenant));
    }

    #[test]
    fn secrets_are_checked_and_never_debug_printed() {
        assert!(WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_short", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!"] {
            assert!(WebhookSecret::new(bad).is_err(), "{bad}");
        }
        let s = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(s.display_prefix(), "whsec_MfKQ");
        assert!(!format!("{s:?}").contains("LaLaSw"));
    }

    #[test]
    fn a_rotated_secret_signs_until_its_overlap_ends() {
        let mut secrets = SigningSecrets::new(secret('A'));
        secrets.rotate(secret('B'), at(100), Duration::from_secs(60));
        assert_eq!(secrets.active(at(159)), [&secret('B'), &secret('A')]);
        assert_eq!(secrets.active(at(160)), [&secret('B')]);
        secrets.rotate(secret('C'), at(200), Duration::ZERO);
        assert_eq!(secrets.previous, None);
        assert_eq!(secrets.active(at(200)), [&secret('C')]);
    }

    fn policy(delays: &[u64]) -> RetryPolicy {
        RetryPolicy {
            delays: delays.iter().copied().map(Duration::from_secs).collect(),
            jitter_percent: 20,
            max_retry_after: Duration::from_secs(600),
        }
    }

    #[test]
    fn retries_follow_the_schedule_with_bounded_jitter() {
        let p = policy(&[10, 100]);
        for n in 0..200 {
            let id = DeliveryId::from_uuid(Uuid::from_u128(n * 7919));
            let first = p.delay_after(id, 1, None).unwrap();
            assert!((8.0..=12.0).contains(&first.as_secs_f64()), "{first:?}");
            let second = p.delay_after(id, 2, None).unwrap();
            assert!((80.0..=120.0).contains(&second.as_secs_f64()), "{second:?}");
            assert_eq!(p.delay_after(id, 3, None), None);
            assert_eq!(p.delay_after(id, 1, None), Some(first), "the jitter is repeatable");
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|n| p.delay_after(DeliveryId::from_uuid(Uuid::from_u128(n)), 1, None).unwrap()).collect();
        assert!(spread.len() > 40, "the jitter spreads deliveries apart");
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let p = RetryPolicy { jitter_percent: 0, ..policy(&[10]) };
        let id = DeliveryId::from_uuid(Uuid::from_u128(1));
        assert_eq!(p.delay_after(id, 1, Some(Duration::from_secs(5))), Some(Duration::from_secs(10)));
        assert_eq!(p.delay_after(id, 1, Some(Duration::from_secs(300))), Some(Duration::from_secs(300)));
        assert_eq!(p.delay_after(id, 1, Some(Duration::from_secs(90_000))), Some(Duration::from_secs(600)));
    }

    #[test]
    fn schedules_parse_from_text() {
        assert_eq!(RetryPolicy::parse_delays(RetryPolicy::DEFAULT_SCHEDULE).unwrap(), RetryPolicy::default().delays);
        assert_eq!(
            RetryPolicy::parse_delays("100ms, 1s,2m").unwrap(),
            [Duration::from_millis(100), Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(RetryPolicy::parse_delays("").unwrap(), []);
        for bad in ["5", "5d", "s", "-1s", "1.5s"] {
            assert_eq!(RetryPolicy::parse_delays(bad).unwrap_err().code, "invalid_retry_schedule", "{bad}");
        }
    }

    fn outcome(status: u16) -> AttemptOutcome {
        AttemptOutcome { status_code: Some(status), latency: Duration::from_millis(12), ..AttemptOutcome::default() }
    }

    #[test]
    fn a_delivery_succeeds_on_2xx_only_and_fails_when_the_schedule_is_used_up() {
        let p = RetryPolicy { jitter_percent: 0, ..policy(&[10]) };
        let ping = WebhookMessage::Ping(Ping {
            id: EventId::from_uuid(Uuid::from_u128(3)),
            webhook: endpoint().id,
            occurred_at: at(0),
        });
        let mut d = Delivery::new(DeliveryId::from_uuid(Uuid::from_u128(5)), &endpoint(), ping.clone(), at(0));
        let (attempt, verdict) = d.record(&outcome(302), at(1), &p);
        assert_eq!((attempt.number, verdict), (1, AttemptVerdict::Retry(Duration::from_secs(10))));
        assert_eq!((d.state, d.next_attempt_at, d.last_status_code), (DeliveryState::Pending, Some(at(11)), Some(302)));
        let (_, verdict) = d.record(&outcome(500), at(11), &p);
        assert_eq!(verdict, AttemptVerdict::Exhausted);
        assert_eq!((d.state, d.next_attempt_at, d.attempts), (DeliveryState::Failed, None, 2));

        let mut ok = Delivery::new(DeliveryId::from_uuid(Uuid::from_u128(6)), &endpoint(), ping.clone(), at(0));
        assert_eq!(ok.record(&outcome(204), at(1), &p).1, AttemptVerdict::Succeeded);
        assert_eq!((ok.state, ok.next_attempt_at), (DeliveryState::Succeeded, None));

        let mut gone = Delivery::new(DeliveryId::from_uuid(Uuid::from_u128(8)), &endpoint(), ping, at(0));
        assert_eq!(gone.record(&outcome(410), at(1), &p).1, AttemptVerdict::Gone);
        assert_eq!(gone.state, DeliveryState::Failed);

        let timeout = AttemptOutcome { error: Some("timed out".into()), ..AttemptOutcome::default() };
        assert!(!timeout.succeeded());
        let odd = AttemptOutcome { error: Some("body cut off".into()), ..outcome(200) };
        assert!(!odd.succeeded(), "an answer that broke off is not a success");
    }

    #[test]
    fn a_new_round_gets_the_whole_schedule_again() {
        let p = RetryPolicy { jitter_percent: 0, ..policy(&[10]) };
        let ping = WebhookMessage::Ping(Ping {
            id: EventId::from_uuid(Uuid::from_u128(3)),
            webhook: endpoint().id,
            occurred_at: at(0),
        });
        let mut d = Delivery::new(DeliveryId::from_uuid(Uuid::from_u128(5)), &endpoint(), ping, at(0));
        d.record(&outcome(500), at(1), &p);
        d.record(&outcome(500), at(11), &p);
        assert_eq!(d.state, DeliveryState::Failed);
        d.round_start = d.attempts;
        let (attempt, verdict) = d.record(&outcome(500), at(20), &p);
        assert_eq!((attempt.number, verdict), (3, AttemptVerdict::Retry(Duration::from_secs(10))));
        let once = d.record_once(&outcome(500), at(30));
        assert_eq!((once.number, d.state, d.next_attempt_at), (4, DeliveryState::Failed, None));
    }
}
