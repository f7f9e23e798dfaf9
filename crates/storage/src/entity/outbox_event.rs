//! A row of `outbox_events`: an event, stored with the change that caused it, until (and after)
//! it is delivered.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: String,
    /// The event's kind (`EventKind::as_str`, e.g. `status.published`).
    pub kind: String,
    /// The whole `Event`, as JSON (serde).
    pub payload: String,
    pub occurred_at: DateTimeUtc,
    /// When the event was delivered; NULL until then.
    pub dispatched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
