//! The JSON shapes of the native API. Domain types stay free of serialisation concerns that
//! belong to HTTP (OpenAPI schemas, envelopes); these types carry them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wastatus_domain as domain;

use crate::error::ApiError;

/// A session's connection state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Pairing,
    Connected,
    Disconnected,
    LoggedOut,
}

impl From<domain::SessionState> for SessionState {
    fn from(s: domain::SessionState) -> Self {
        match s {
            domain::SessionState::Pairing => Self::Pairing,
            domain::SessionState::Connected => Self::Connected,
            domain::SessionState::Disconnected => Self::Disconnected,
            domain::SessionState::LoggedOut => Self::LoggedOut,
        }
    }
}

/// A linked (or linking) WhatsApp number.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    #[schema(example = "session-main")]
    pub id: String,
    pub state: SessionState,
    /// Why the session is in its state, when there is more to say: `replaced` (another
    /// WhatsApp Web client took over this device; `POST …/restart` when it is gone),
    /// `banned` (temporarily, until the time given), `logged_out`, `refused`, `offline` (cannot
    /// reach WhatsApp; retried on its own), `connecting`, `qr_exhausted` (pair again),
    /// `pairing_failed`, `stopped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<StateReason>,
    /// The user whose device this session is (the one `POST /status/media` publishes through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a session is in its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateReason {
    /// A stable snake_case code.
    #[schema(example = "replaced")]
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl From<domain::Session> for Session {
    fn from(s: domain::Session) -> Self {
        Self {
            id: s.key.id.to_string(),
            state: s.state.into(),
            reason: s.reason.map(|r| StateReason { code: r.code, message: r.message }),
            user_id: s.owner.map(|u| *u.as_uuid()),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<Session>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSession {
    /// 1–64 letters, digits, `-`, `_` or `.`, starting with a letter or digit; unique in the tenant.
    #[schema(example = "session-main")]
    pub id: String,
    /// Makes the session this user's device. A user has at most one.
    #[serde(default)]
    pub user_id: Option<uuid::Uuid>,
}

/// How to link the session to a phone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PairRequest {
    /// Scan a QR code with the phone (WhatsApp → Linked devices).
    Qr,
    /// Type an 8-character code on the phone with this number.
    Code {
        #[schema(example = "919876543210")]
        phone_number: String,
    },
}

/// What the phone needs to complete pairing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairResponse {
    /// `qr` or `code`.
    #[schema(example = "qr")]
    pub method: &'static str,
    /// The QR payload, to render and scan (method `qr`). `GET …/qr` renders it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// The pairing code to type on the phone (method `code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ABCD-EFGH")]
    pub code: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The session after the request; the sandbox links at once.
    pub session: Session,
}

/// The QR code as JSON (`?format=json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct QrJson {
    pub payload: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QrQuery {
    /// `png` (default), `svg`, `text` or `json`.
    pub format: Option<String>,
}

/// A font, by name (`SANS_SERIF`, `SERIF`, `NORICAN_REGULAR`, …) or protocol number (0–10).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FontInput {
    Number(u64),
    Name(String),
}

/// A status to publish. For `type` `text`: `text`, and optionally `background_color` and `font`.
/// For `image` and `video`: `media` (a URL or base64 data) and optionally `caption`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PublishStatusRequest {
    /// `text`, `image` or `video`.
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub status_type: String,
    /// The text of a text status: 1 to 700 characters.
    #[schema(example = "Flash sale ends tonight!")]
    pub text: Option<String>,
    /// `#RRGGBB` or `#AARRGGBB`; `#101010` when omitted.
    #[schema(example = "#25D366")]
    pub background_color: Option<String>,
    /// `SANS_SERIF` when omitted.
    pub font: Option<FontInput>,
    /// Ask viewers' phones not to keep the status.
    #[serde(default)]
    pub view_once: bool,
    /// Who sees the status: all contacts when omitted.
    pub audience: Option<Audience>,
    /// The caption of an image or video: up to 1024 characters.
    #[schema(example = "Weekend vibes")]
    pub caption: Option<String>,
    /// The image or video: exactly one of `url` and `data`.
    pub media: Option<MediaRequest>,
    /// Publish at this time (RFC 3339, in the future) instead of now: the status is
    /// `scheduled` until then, and the answer is `202` at once.
    pub publish_at: Option<DateTime<Utc>>,
    /// Answer `202` at once and publish in the background (like `Prefer: respond-async`):
    /// queued statuses wait for the session's publish pace and are retried after transient
    /// failures. The outcome arrives by webhook and by polling the status.
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

/// The media of an image or video status. JPEG, PNG and WEBP images (sent as JPEG) and MP4 and
/// MOV videos with H.264; the type is read from the bytes.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MediaRequest {
    /// An `https` URL the server fetches. It must resolve to a public address.
    #[schema(example = "https://cdn.example.com/promos/today.jpg")]
    pub url: Option<String>,
    /// The file as base64, standard or URL-safe; a `data:` URL is accepted too.
    pub data: Option<String>,
    /// The type you expect (`image/jpeg`, `video/mp4`, …); it must agree with the bytes.
    #[schema(example = "image/jpeg")]
    pub mime_type: Option<String>,
}

/// The same request as a `multipart/form-data` upload: the file in the part `file`, the other
/// members as text parts.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PublishUpload {
    /// `image` or `video` (or `text`, without a file).
    #[schema(rename = "type", example = "image")]
    pub status_type: String,
    #[schema(format = Binary, value_type = String)]
    pub file: Vec<u8>,
    pub caption: Option<String>,
    /// Defaults to the file part's own content type.
    pub mime_type: Option<String>,
    pub view_once: Option<bool>,
    pub text: Option<String>,
    pub background_color: Option<String>,
    pub font: Option<String>,
    pub publish_at: Option<String>,
    #[schema(rename = "async")]
    pub run_async: Option<bool>,
    /// The audience as JSON text, e.g. `{"mode": "allowlist", "jids": ["+919876543210"]}`
    /// (up to 16 KiB in a part; send longer lists as JSON).
    pub audience: Option<String>,
}

/// Who sees a status. `contacts`: every contact of the linked account (as WhatsApp last
/// synced its address book; see `GET /v1/sessions/{session_id}/contacts`). `allowlist`: only
/// the people in `jids`, contacts or not. `denylist`: every contact but those in `jids`.
/// People are named by phone number in international form (`+919876543210`) or by JID
/// (`919876543210@s.whatsapp.net`, `…@lid`); at most 50,000. The sender always sees their
/// own status. Recipients that cannot be resolved to a WhatsApp account are reported in the
/// status's `reach`; a status with nobody to send to fails with `no_recipients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// `contacts`, `allowlist` or `denylist`.
    #[schema(example = "allowlist")]
    pub mode: String,
    /// The people an `allowlist` or `denylist` names.
    #[schema(example = json!(["+919876543210", "15551234567@s.whatsapp.net"]))]
    #[serde(default, deserialize_with = "bounded_list")]
    pub jids: Option<Vec<String>>,
}

/// A list of at most one entry more than an audience may name: enough to refuse a longer one
/// with `audience_too_large`, without holding millions of strings from a large body first.
fn bounded_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of phone numbers or JIDs")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::new();
            while let Some(entry) = seq.next_element::<String>()? {
                if kept.len() > domain::Audience::MAX_LISTED {
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    break;
                }
                kept.push(entry);
            }
            Ok(kept)
        }
    }
    d.deserialize_seq(Bounded).map(Some)
}

impl Audience {
    /// The domain's audience, or why this one is not valid.
    pub fn into_domain(self) -> Result<domain::Audience, ApiError> {
        let jids = self.jids.unwrap_or_default();
        match self.mode.as_str() {
            "contacts" if jids.is_empty() => Ok(domain::Audience::Contacts),
            "contacts" => Err(ApiError::from(domain::InvalidValue::new(
                "audience",
                "invalid_audience",
                "the `contacts` audience names nobody: use `allowlist` or `denylist` to list people",
            ))),
            "allowlist" => Ok(domain::Audience::allowlist(&jids)?),
            "denylist" => Ok(domain::Audience::denylist(&jids)?),
            other => Err(ApiError::from(domain::InvalidValue::new(
                "audience",
                "unsupported_audience",
                format!("{other:?} is not an audience mode; use `contacts`, `allowlist` or `denylist`"),
            ))),
        }
    }

    fn from_domain(audience: &domain::Audience) -> Self {
        let listed = audience.listed();
        Self {
            mode: audience.mode().to_owned(),
            jids: (!matches!(audience, domain::Audience::Contacts))
                .then(|| listed.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The audience as the status object shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceView {
    #[schema(example = "allowlist")]
    pub mode: String,
    /// For `allowlist` and `denylist`, as normalised: `+<digits>` for phone numbers,
    /// `<digits>@lid` for LIDs, sorted, without duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jids: Option<Vec<String>>,
}

impl From<&domain::Audience> for AudienceView {
    fn from(a: &domain::Audience) -> Self {
        let Audience { mode, jids } = Audience::from_domain(a);
        Self { mode, jids }
    }
}

/// Who a published status reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReachView {
    /// How many people it was sent to (the sender's own devices not counted).
    #[schema(example = 412)]
    pub recipients: u32,
    /// People of the audience it could not be sent to: not on WhatsApp, or not resolvable.
    #[schema(example = json!(["+15550000000"]))]
    pub unresolved: Vec<String>,
}

impl From<&domain::Reach> for ReachView {
    fn from(r: &domain::Reach) -> Self {
        Self { recipients: r.recipients, unresolved: r.unresolved.iter().map(ToString::to_string).collect() }
    }
}

/// A contact of the linked account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// `+<digits>`, when known.
    #[schema(example = "+919876543210")]
    pub phone_number: Option<String>,
    /// `<digits>@lid`, when known.
    #[schema(example = "123456789012345@lid")]
    pub lid: Option<String>,
    /// The name the account saved for them.
    #[schema(example = "Ada Lovelace")]
    pub name: Option<String>,
}

impl From<domain::Contact> for ContactView {
    fn from(c: domain::Contact) -> Self {
        Self {
            phone_number: c.phone.map(|p| domain::Recipient::Phone(p).to_string()),
            lid: c.lid.map(|l| domain::Recipient::Lid(l).to_string()),
            name: c.name,
        }
    }
}

/// The linked account's contacts, as WhatsApp last synced its address book.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub items: Vec<ContactView>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusType {
    Text,
    Image,
    Video,
}

impl From<domain::StatusType> for StatusType {
    fn from(t: domain::StatusType) -> Self {
        match t {
            domain::StatusType::Text => Self::Text,
            domain::StatusType::Image => Self::Image,
            domain::StatusType::Video => Self::Video,
        }
    }
}

/// Where a status is in its lifecycle: (`scheduled` →) `accepted` → `sending` → `published` |
/// `failed`; `published` → `revoked`; `scheduled` | `accepted` → `cancelled`. A queued status
/// whose attempt failed for a passing reason goes back to `accepted` until its next attempt.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    Scheduled,
    Accepted,
    Sending,
    Published,
    Failed,
    Revoked,
    Cancelled,
}

impl From<domain::StatusState> for StatusState {
    fn from(s: domain::StatusState) -> Self {
        match s {
            domain::StatusState::Scheduled => Self::Scheduled,
            domain::StatusState::Cancelled => Self::Cancelled,
            domain::StatusState::Accepted => Self::Accepted,
            domain::StatusState::Sending => Self::Sending,
            domain::StatusState::Published => Self::Published,
            domain::StatusState::Failed => Self::Failed,
            domain::StatusState::Revoked => Self::Revoked,
        }
    }
}

/// Why a status was not published.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusFailure {
    /// A stable code: `device_disconnected`, `logged_out`, `not_paired`, `upload_failed`,
    /// `upload_timeout`, `device_error`, `server_rejected`, `driver_unavailable`,
    /// `no_recipients`, `outcome_unknown` or `internal`. While a queued status is `accepted` again after a
    /// failed attempt, the reason that attempt failed.
    #[schema(example = "device_disconnected")]
    pub code: &'static str,
    pub message: String,
}

/// A status update and where it is in its lifecycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub id: uuid::Uuid,
    #[schema(example = "session-main")]
    pub session_id: String,
    #[serde(rename = "type")]
    pub status_type: StatusType,
    pub state: StatusState,
    /// WhatsApp's message id, once published.
    #[schema(example = "3EB0A1B2C3D4E5F6A7B8C9D0")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `#AARRGGBB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "#FF25D366")]
    pub background_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "SANS_SERIF")]
    pub font: Option<&'static str>,
    pub view_once: bool,
    /// Who is to see it.
    pub audience: AudienceView,
    /// Once published: how many people it went to, and who of the audience it could not reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<ReachView>,
    /// The caption of an image or video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// What was sent, for an image or video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaView>,
    pub failure: Option<StatusFailure>,
    /// The time it was asked to be published at, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<DateTime<Utc>>,
    /// Attempts started so far, and how many it gets in all.
    pub attempts: u32,
    pub max_attempts: u32,
    /// When it is next tried, while `scheduled` or `accepted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The media of an image or video status, as sent (after preparation).
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    /// Whole seconds, for videos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u32>,
}

impl From<&domain::MediaStatus> for MediaView {
    fn from(m: &domain::MediaStatus) -> Self {
        Self {
            mime_type: m.media.mime_type.clone(),
            size_bytes: m.media.size_bytes,
            width: m.media.width,
            height: m.media.height,
            duration_secs: m.media.duration_secs,
        }
    }
}

impl From<&domain::Status> for Status {
    fn from(s: &domain::Status) -> Self {
        let (mut text, mut background_color, mut font, mut caption, mut media) = (None, None, None, None, None);
        match s.content() {
            domain::StatusContent::Text(t) => {
                text = Some(t.text.as_str().to_owned());
                background_color = Some(t.background_color.to_string());
                font = Some(t.font.name());
            }
            domain::StatusContent::Image(m) | domain::StatusContent::Video(m) => {
                caption = m.caption.as_ref().map(|c| c.as_str().to_owned());
                media = Some(MediaView::from(m));
            }
        }
        Self {
            id: *s.id().as_uuid(),
            session_id: s.session().id.to_string(),
            status_type: s.status_type().into(),
            state: s.state().into(),
            message_id: s.message_id().map(|m| m.as_str().to_owned()),
            text,
            background_color,
            font,
            view_once: s.view_once(),
            audience: s.audience().into(),
            reach: s.reach().map(ReachView::from),
            caption,
            media,
            failure: s.failure().map(|f| StatusFailure { code: f.code.as_str(), message: f.message.clone() }),
            publish_at: s.schedule().publish_at,
            attempts: s.schedule().attempts,
            max_attempts: s.schedule().max_attempts,
            next_attempt_at: matches!(s.state(), domain::StatusState::Scheduled | domain::StatusState::Accepted)
                .then_some(s.schedule().next_attempt_at),
            created_at: s.created_at(),
            updated_at: s.updated_at(),
            published_at: s.published_at(),
            revoked_at: s.revoked_at(),
        }
    }
}

/// One page of statuses, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusPage {
    pub items: Vec<Status>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatusListQuery {
    /// 1–100, default 20.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only statuses in this state.
    pub state: Option<String>,
}

/// Encodes a cursor as an opaque, URL-safe string.
pub fn encode_cursor(c: &domain::Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.created_at.timestamp_micros(), c.id))
}

pub fn decode_cursor(raw: &str) -> Result<domain::Cursor, ApiError> {
    let invalid = || ApiError::new("invalid_cursor", "the cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?).ok_or_else(invalid)?;
    // Every status was created in these years; anything else was not issued by this API, and
    // would be out of range for storage.
    if !(1970..=9999).contains(&created_at.year()) {
        return Err(invalid());
    }
    Ok(domain::Cursor { created_at, id: id.parse().map_err(|_| invalid())? })
}

/// A fault for the sandbox driver to simulate.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FaultRequest {
    /// `disconnect`, `reconnect`, `upload_failed`, `upload_timeout`, `device_error` or `server_reject`.
    #[schema(example = "disconnect")]
    pub fault: String,
    /// For the publish faults: how many of the next publishes fail (1–1000, default 1).
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = domain::Cursor {
            created_at: DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            id: domain::StatusId::from_uuid(uuid::Uuid::now_v7()),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        let far_past = URL_SAFE_NO_PAD.encode(format!("{}:{}", i64::MIN / 2, uuid::Uuid::nil()));
        let far_future = URL_SAFE_NO_PAD.encode(format!("{}:{}", 253_402_300_800_000_000_i64, uuid::Uuid::nil()));
        for bad in ["", "!!", "bm9jb2xvbg", "MTIzOm5vdC1hLXV1aWQ", &far_past, &far_future] {
            assert_eq!(decode_cursor(bad).unwrap_err().code(), "invalid_cursor", "{bad}");
        }
    }
}
