//! What the sandbox sent and revoked, kept for inspection (tests read it through the driver).

use bytes::Bytes;
use serde::Serialize;
use wastatus_domain::{
    BackgroundColor, Caption, Font, MessageId, PreparedMedia, Reach, Recipient, SessionId, StatusContent, StatusId,
    StatusText, StatusType, TenantId, Timestamp,
};

/// A status the sandbox "sent" to WhatsApp: one per successful publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    /// The tenant of the session that sent it.
    pub tenant: TenantId,
    /// The session that sent it.
    pub session: SessionId,
    /// The WhatsApp-style id the sandbox gave it (`3EB0` + 20 upper-case hex digits).
    pub message_id: MessageId,
    /// The wastatus status it carried.
    pub status_id: StatusId,
    /// What kind of status it was.
    pub status_type: StatusType,
    /// The text of a text status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<StatusText>,
    /// The background colour of a text status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_color: Option<BackgroundColor>,
    /// The font of a text status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<Font>,
    /// The caption of an image or video status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<Caption>,
    /// The media of an image or video status, exactly as the driver received it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<SentMedia>,
    /// Whether it was sent as view-once.
    pub view_once: bool,
    /// Who it was sent to.
    pub recipients: Vec<Recipient>,
    /// Who of its audience could not be reached (not on WhatsApp).
    pub unresolved: Vec<Recipient>,
    /// When the sandbox accepted the send, by the driver's clock.
    pub sent_at: Timestamp,
    /// When it was first revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl SentMessage {
    /// Records the content of a status as sent under `message_id`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tenant: TenantId,
        session: SessionId,
        message_id: MessageId,
        status_id: StatusId,
        content: &StatusContent,
        media: Option<PreparedMedia>,
        view_once: bool,
        recipients: Vec<Recipient>,
        unresolved: Vec<Recipient>,
        sent_at: Timestamp,
    ) -> Self {
        let mut sent = Self {
            tenant,
            session,
            message_id,
            status_id,
            status_type: content.status_type(),
            text: None,
            background_color: None,
            font: None,
            caption: None,
            media: media.map(SentMedia::from),
            view_once,
            recipients,
            unresolved,
            sent_at,
            revoked_at: None,
        };
        // Exhaustive on purpose: a new kind of content must decide what the sandbox records.
        match content {
            StatusContent::Text(text) => {
                sent.text = Some(text.text.clone());
                sent.background_color = Some(text.background_color);
                sent.font = Some(text.font);
            }
            StatusContent::Image(media) | StatusContent::Video(media) => sent.caption = media.caption.clone(),
        }
        sent
    }
}

impl SentMessage {
    /// Who the send reached, as the driver reported it.
    pub fn reach(&self) -> Reach {
        Reach {
            recipients: u32::try_from(self.recipients.len()).unwrap_or(u32::MAX),
            unresolved: self.unresolved.clone(),
        }
    }
}

/// The media of a sent status. The bytes are kept for tests to inspect; JSON shows their size.
///
/// The journal of a persistent driver keeps only the metadata: for a message read back from it
/// (sent before the last restart) `bytes` and `thumbnail` are empty, and `size_bytes` still
/// tells the size that was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMedia {
    pub mime_type: String,
    #[serde(skip)]
    pub bytes: Bytes,
    pub size_bytes: usize,
    pub width: u32,
    pub height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u32>,
    #[serde(skip)]
    pub thumbnail: Bytes,
    pub thumbnail_is_placeholder: bool,
}

impl From<PreparedMedia> for SentMedia {
    fn from(m: PreparedMedia) -> Self {
        Self {
            mime_type: m.mime_type,
            size_bytes: m.bytes.len(),
            bytes: m.bytes,
            width: m.width,
            height: m.height,
            duration_secs: m.duration_secs,
            thumbnail: m.thumbnail,
            thumbnail_is_placeholder: m.thumbnail_is_placeholder,
        }
    }
}

/// A revocation the sandbox "sent": one per successful revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// The tenant of the session that revoked it.
    pub tenant: TenantId,
    /// The session that revoked it.
    pub session: SessionId,
    /// The id of the message that was revoked.
    pub message_id: MessageId,
    /// The wastatus status that was revoked.
    pub status_id: StatusId,
    /// When the sandbox accepted the revocation, by the driver's clock.
    pub revoked_at: Timestamp,
}
