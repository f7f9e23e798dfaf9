//! Webhooks: endpoints, deliveries and the attempt log.
//!
//! - `webhook_endpoints`: a tenant's endpoints. `events` is `*` or the event types,
//!   space-separated; `format` is `native` or `walytic`; `session_id` the optional session
//!   filter. `secret` is the signing secret (`whsec_…`) **in clear**: signing needs it, so it
//!   cannot be stored as a hash. `previous_secret` and `previous_secret_expires_at` hold the
//!   secret a rotation replaced, while it still signs. Goes with its tenant.
//! - `webhook_deliveries`: one message for one endpoint. `event_type` is the event's name or
//!   `webhook.ping`, `payload` the message as JSON (the whole event, as in the outbox, or the
//!   ping). `state` is `pending`, `succeeded` or `failed`; `next_attempt_at` is set while
//!   pending; `lease_until` while a dispatcher holds it. Unique per (`endpoint_id`, `event_id`),
//!   so an event is never fanned out twice to one endpoint. Goes with its endpoint.
//! - `webhook_attempts`: the attempts of a delivery, numbered from 1. Go with their delivery.
//!
//! Indexes: endpoints by tenant; deliveries by endpoint and time (the delivery log, newest
//! first), due pending deliveries by `next_attempt_at` (partial, for the dispatcher).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(endpoints()).await?;
        manager.create_index(endpoints_by_tenant()).await?;
        manager.create_table(deliveries()).await?;
        manager.create_index(deliveries_by_event()).await?;
        manager.create_index(deliveries_by_endpoint()).await?;
        manager.create_index(deliveries_due()).await?;
        manager.create_table(attempts()).await?;
        Ok(())
    }

    /// SQLite runs DDL in transactions too: a failed migration leaves no half-made schema.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Events,
    Format,
    SessionId,
    Enabled,
    DisabledReason,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    EventId,
    EventType,
    Payload,
    State,
    Attempts,
    RoundStart,
    NextAttemptAt,
    LeaseUntil,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    LastLatencyMs,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    DeliveryId,
    Number,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    Error,
    ResponseExcerpt,
}

fn endpoints() -> TableCreateStatement {
    Table::create()
        .table(WebhookEndpoints::Table)
        .col(pk_uuid(WebhookEndpoints::Id))
        .col(uuid(WebhookEndpoints::TenantId))
        .col(text(WebhookEndpoints::Url))
        .col(text(WebhookEndpoints::Events))
        .col(text(WebhookEndpoints::Format))
        .col(text_null(WebhookEndpoints::SessionId))
        .col(boolean(WebhookEndpoints::Enabled))
        .col(text_null(WebhookEndpoints::DisabledReason))
        .col(text(WebhookEndpoints::Secret))
        .col(text_null(WebhookEndpoints::PreviousSecret))
        .col(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretExpiresAt))
        .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
        .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_webhook_endpoints_tenant")
                .from(WebhookEndpoints::Table, WebhookEndpoints::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Serves a tenant's list (oldest first), the fan-out's lookup and the cascade.
fn endpoints_by_tenant() -> IndexCreateStatement {
    Index::create()
        .name("ix_webhook_endpoints_tenant")
        .table(WebhookEndpoints::Table)
        .col(WebhookEndpoints::TenantId)
        .col(WebhookEndpoints::CreatedAt)
        .take()
}

fn deliveries() -> TableCreateStatement {
    Table::create()
        .table(WebhookDeliveries::Table)
        .col(pk_uuid(WebhookDeliveries::Id))
        .col(uuid(WebhookDeliveries::TenantId))
        .col(uuid(WebhookDeliveries::EndpointId))
        .col(uuid(WebhookDeliveries::EventId))
        .col(text(WebhookDeliveries::EventType))
        .col(text(WebhookDeliveries::Payload))
        .col(text(WebhookDeliveries::State))
        .col(integer(WebhookDeliveries::Attempts))
        .col(integer(WebhookDeliveries::RoundStart))
        .col(timestamp_with_time_zone_null(WebhookDeliveries::NextAttemptAt))
        .col(timestamp_with_time_zone_null(WebhookDeliveries::LeaseUntil))
        .col(timestamp_with_time_zone_null(WebhookDeliveries::LastAttemptAt))
        .col(integer_null(WebhookDeliveries::LastStatusCode))
        .col(text_null(WebhookDeliveries::LastError))
        .col(big_integer_null(WebhookDeliveries::LastLatencyMs))
        .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
        .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_webhook_deliveries_endpoint")
                .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// One delivery per endpoint and event.
fn deliveries_by_event() -> IndexCreateStatement {
    Index::create()
        .name("ux_webhook_deliveries_endpoint_event")
        .table(WebhookDeliveries::Table)
        .col(WebhookDeliveries::EndpointId)
        .col(WebhookDeliveries::EventId)
        .unique()
        .take()
}

/// Serves the delivery log, newest first.
fn deliveries_by_endpoint() -> IndexCreateStatement {
    Index::create()
        .name("ix_webhook_deliveries_endpoint_created")
        .table(WebhookDeliveries::Table)
        .col(WebhookDeliveries::EndpointId)
        .col(WebhookDeliveries::CreatedAt)
        .col(WebhookDeliveries::Id)
        .take()
}

/// Serves claiming due deliveries and the next due time, among the pending ones only.
fn deliveries_due() -> IndexCreateStatement {
    Index::create()
        .name("ix_webhook_deliveries_due")
        .table(WebhookDeliveries::Table)
        .col(WebhookDeliveries::NextAttemptAt)
        .and_where(Expr::col(WebhookDeliveries::State).eq("pending"))
        .take()
}

fn attempts() -> TableCreateStatement {
    Table::create()
        .table(WebhookAttempts::Table)
        .col(uuid(WebhookAttempts::DeliveryId))
        .col(integer(WebhookAttempts::Number))
        .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
        .col(integer_null(WebhookAttempts::StatusCode))
        .col(big_integer(WebhookAttempts::LatencyMs))
        .col(text_null(WebhookAttempts::Error))
        .col(text_null(WebhookAttempts::ResponseExcerpt))
        .primary_key(
            Index::create().name("pk_webhook_attempts").col(WebhookAttempts::DeliveryId).col(WebhookAttempts::Number),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_webhook_attempts_delivery")
                .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}
