//! A row of `webhook_deliveries`: one message for one endpoint.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    /// The event's id (or the ping's), sent as `webhook-id`.
    pub event_id: Uuid,
    /// The event's type (`EventKind::as_str`) or `webhook.ping`.
    pub event_type: String,
    /// The `Event` (or the `Ping`) as JSON (serde).
    pub payload: String,
    /// `DeliveryState::as_str`.
    pub state: String,
    pub attempts: i32,
    pub round_start: i32,
    /// While pending: when the next attempt is due.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// While a dispatcher holds the delivery: until when.
    pub lease_until: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
