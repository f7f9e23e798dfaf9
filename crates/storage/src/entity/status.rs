//! A row of `statuses`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statuses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: String,
    /// The content's type (`StatusType::as_str`); it says which content columns are used.
    #[sea_orm(column_name = "type")]
    pub kind: String,
    /// Text statuses: the text.
    pub text: Option<String>,
    /// Text statuses: the background colour, 32-bit ARGB.
    pub background_color: Option<i64>,
    /// Text statuses: the font's protocol number.
    pub font: Option<i16>,
    /// Image and video statuses: the caption, NULL for none.
    pub caption: Option<String>,
    /// Image and video statuses: the media's MIME type.
    pub media_mime_type: Option<String>,
    /// Image and video statuses: the media's size in bytes.
    pub media_size_bytes: Option<i64>,
    /// Image and video statuses: the media's width in pixels.
    pub media_width: Option<i32>,
    /// Image and video statuses: the media's height in pixels.
    pub media_height: Option<i32>,
    /// Video statuses: the length in whole seconds (NULL for images).
    pub media_duration_secs: Option<i32>,
    pub view_once: bool,
    pub state: String,
    pub message_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The time the client asked the status to be published at, if any.
    pub publish_at: Option<DateTimeUtc>,
    /// When a worker may next claim the status.
    pub next_attempt_at: DateTimeUtc,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed in all.
    pub max_attempts: i32,
    /// While `sending`: until when the process that claimed it owns it. NULL in other states.
    pub lease_until: Option<DateTimeUtc>,
    /// Image and video statuses: the URL the media was fetched from, NULL for media sent in the
    /// request.
    pub media_source_url: Option<String>,
    /// Who is to see it, as JSON (`{"mode": "allowlist", "jids": [...]}`); NULL for all
    /// contacts.
    pub audience: Option<String>,
    /// Once published: who it reached, as JSON (`{"recipients": N, "unresolved": [...]}`).
    pub reach: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
