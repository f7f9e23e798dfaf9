//! What the sandbox sent and revoked, kept for inspection (tests read it through the driver).

use serde::Serialize;
use wastatus_domain::{
    BackgroundColor, Font, MessageId, SessionId, StatusContent, StatusId, StatusText, StatusType, TenantId, Timestamp,
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
    /// Whether it was sent as view-once.
    pub view_once: bool,
    /// When the sandbox accepted the send, by the driver's clock.
    pub sent_at: Timestamp,
    /// When it was first revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl SentMessage {
    /// Records the content of a status as sent under `message_id`.
    pub(crate) fn new(
        tenant: TenantId,
        session: SessionId,
        message_id: MessageId,
        status_id: StatusId,
        content: &StatusContent,
        view_once: bool,
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
            view_once,
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
        }
        sent
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
