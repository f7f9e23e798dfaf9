//! Statuses as jobs: schedules and leases, the prepared media kept until a status is settled,
//! the event outbox and idempotency keys.
//!
//! `statuses` gains six columns:
//! - `publish_at` (nullable timestamp): the time the client asked for, if any;
//! - `next_attempt_at` (timestamp, NOT NULL): when a worker may next claim the status. Existing
//!   rows get their `created_at`. The column is added with a placeholder default (the Unix
//!   epoch) and then backfilled; PostgreSQL then drops the default, so that an insert that
//!   forgets the column fails. SQLite cannot drop a default: there the placeholder stays, unused
//!   (every insert of this crate sets the column).
//! - `attempts` (integer, NOT NULL, default 0): attempts started. Existing rows that went past
//!   `accepted` (sending, published, failed, revoked) get 1: they were handed to the driver once.
//!   Existing `accepted` rows keep 0.
//! - `max_attempts` (integer, NOT NULL, default 1): a status stored before jobs existed was sent
//!   for a client waiting for the outcome, which gets one attempt.
//! - `lease_until` (nullable timestamp): while `sending`, until when the process that claimed
//!   the status owns it; NULL in every other state. Existing `sending` rows have none, which
//!   counts as expired (their process is gone).
//! - `media_source_url` (nullable text): the URL an image's or video's media was fetched from.
//!
//! Two partial indexes serve the workers: `ix_statuses_due` (`next_attempt_at`, `id`) over
//! `accepted` and `scheduled` rows, for claiming due jobs oldest first and for the next due time;
//! `ix_statuses_leases` (`lease_until`) over `sending` rows, for finding expired leases.
//!
//! New tables:
//! - `status_media`: the prepared media of an image or video status (one row per status, its
//!   `status_id` the key), written with the status and deleted once the status is settled; it
//!   goes with its status (`ON DELETE CASCADE`).
//! - `outbox_events`: events, written in the transaction of the change that caused them. `kind`
//!   is the event's name (`status.published`, …), `payload` the whole event as JSON;
//!   `dispatched_at` is NULL until the event is delivered. Indexed by (`dispatched_at`,
//!   `occurred_at`) for the dispatcher, and by tenant for the cascade.
//! - `idempotency_keys`: one row per tenant and key. `fingerprint` is the request's SHA-256 as 64
//!   lowercase hex digits; `state` is `in_flight` or `done`; a `done` row has the response
//!   (`response_status`, `response_headers` as a JSON list of `[name, value]` pairs,
//!   `response_body`). Indexed by `expires_at` for purging. Keys compare bytewise on both
//!   backends (`"C"` collation on PostgreSQL).
//!
//! SQLite adds one column per `ALTER TABLE`; the migration runs in a transaction, so either all
//! of it applies or none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The placeholder default of `statuses.next_attempt_at` while the column is added: every row
/// is then given its `created_at`. Its text is the SQLite format of `crate::time`, which
/// PostgreSQL reads as the same instant.
const EPOCH: &str = "1970-01-01T00:00:00.000000Z";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let columns = [
            timestamp_with_time_zone_null(Statuses::PublishAt),
            timestamp_with_time_zone(Statuses::NextAttemptAt).default(EPOCH).take(),
            integer(Statuses::Attempts).default(0).take(),
            integer(Statuses::MaxAttempts).default(1).take(),
            timestamp_with_time_zone_null(Statuses::LeaseUntil),
            text_null(Statuses::MediaSourceUrl),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Statuses::Table).add_column(column).take()).await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(Statuses::Table)
                    .value(Statuses::NextAttemptAt, Expr::col(Statuses::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Statuses::Table)
                    .value(Statuses::Attempts, 1)
                    .and_where(Expr::col(Statuses::State).ne("accepted"))
                    .take(),
            )
            .await?;
        if backend == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(r#"ALTER TABLE "statuses" ALTER COLUMN "next_attempt_at" DROP DEFAULT"#)
                .await?;
        }
        manager.create_index(statuses_due()).await?;
        manager.create_index(statuses_leases()).await?;

        manager.create_table(status_media()).await?;
        manager.create_table(outbox_events(backend)).await?;
        manager.create_index(outbox_pending()).await?;
        manager.create_index(outbox_by_tenant()).await?;
        manager.create_table(idempotency_keys(backend)).await?;
        manager.create_index(idempotency_by_expiry()).await?;
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
enum Statuses {
    Table,
    Id,
    State,
    CreatedAt,
    PublishAt,
    NextAttemptAt,
    Attempts,
    MaxAttempts,
    LeaseUntil,
    MediaSourceUrl,
}

#[derive(DeriveIden)]
enum StatusMedia {
    Table,
    StatusId,
    Kind,
    MimeType,
    Bytes,
    Width,
    Height,
    DurationSecs,
    Thumbnail,
    ThumbnailIsPlaceholder,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Id,
    TenantId,
    SessionId,
    Kind,
    Payload,
    OccurredAt,
    DispatchedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TenantId,
    Key,
    Fingerprint,
    State,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

/// Serves claiming due jobs (oldest `next_attempt_at` first) and the next due time. Partial:
/// only the rows a worker may claim, the few among many settled ones.
fn statuses_due() -> IndexCreateStatement {
    Index::create()
        .name("ix_statuses_due")
        .table(Statuses::Table)
        .col(Statuses::NextAttemptAt)
        .col(Statuses::Id)
        .and_where(Expr::col(Statuses::State).is_in(["accepted", "scheduled"]))
        .take()
}

/// Serves finding expired leases, among the rows being sent.
fn statuses_leases() -> IndexCreateStatement {
    Index::create()
        .name("ix_statuses_leases")
        .table(Statuses::Table)
        .col(Statuses::LeaseUntil)
        .and_where(Expr::col(Statuses::State).eq("sending"))
        .take()
}

/// The prepared media of an unsettled image or video status.
fn status_media() -> TableCreateStatement {
    Table::create()
        .table(StatusMedia::Table)
        .col(pk_uuid(StatusMedia::StatusId))
        .col(text(StatusMedia::Kind))
        .col(text(StatusMedia::MimeType))
        .col(blob(StatusMedia::Bytes))
        .col(integer(StatusMedia::Width))
        .col(integer(StatusMedia::Height))
        .col(integer_null(StatusMedia::DurationSecs))
        .col(blob(StatusMedia::Thumbnail))
        .col(boolean(StatusMedia::ThumbnailIsPlaceholder))
        .foreign_key(
            ForeignKey::create()
                .name("fk_status_media_status")
                .from(StatusMedia::Table, StatusMedia::StatusId)
                .to(Statuses::Table, Statuses::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Events waiting for (or done with) delivery.
fn outbox_events(backend: DbBackend) -> TableCreateStatement {
    Table::create()
        .table(OutboxEvents::Table)
        .col(pk_uuid(OutboxEvents::Id))
        .col(uuid(OutboxEvents::TenantId))
        .col(bytewise_text(OutboxEvents::SessionId, backend))
        .col(text(OutboxEvents::Kind))
        .col(text(OutboxEvents::Payload))
        .col(timestamp_with_time_zone(OutboxEvents::OccurredAt))
        .col(timestamp_with_time_zone_null(OutboxEvents::DispatchedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_outbox_events_tenant")
                .from(OutboxEvents::Table, OutboxEvents::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Serves the dispatcher: undispatched events (`dispatched_at IS NULL`) in the order they
/// happened, and old dispatched ones by when they were delivered.
fn outbox_pending() -> IndexCreateStatement {
    Index::create()
        .name("ix_outbox_events_pending")
        .table(OutboxEvents::Table)
        .col(OutboxEvents::DispatchedAt)
        .col(OutboxEvents::OccurredAt)
        .take()
}

/// Serves the cascade from a deleted tenant (PostgreSQL does not index foreign keys itself).
fn outbox_by_tenant() -> IndexCreateStatement {
    Index::create().name("ix_outbox_events_tenant_id").table(OutboxEvents::Table).col(OutboxEvents::TenantId).take()
}

/// Idempotency records, per tenant and key.
fn idempotency_keys(backend: DbBackend) -> TableCreateStatement {
    Table::create()
        .table(IdempotencyKeys::Table)
        .col(uuid(IdempotencyKeys::TenantId))
        .col(bytewise_text(IdempotencyKeys::Key, backend))
        .col(text(IdempotencyKeys::Fingerprint))
        .col(text(IdempotencyKeys::State))
        .col(integer_null(IdempotencyKeys::ResponseStatus))
        .col(text_null(IdempotencyKeys::ResponseHeaders))
        .col(blob_null(IdempotencyKeys::ResponseBody))
        .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
        .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
        .primary_key(
            Index::create().name("pk_idempotency_keys").col(IdempotencyKeys::TenantId).col(IdempotencyKeys::Key),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_idempotency_keys_tenant")
                .from(IdempotencyKeys::Table, IdempotencyKeys::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Serves purging expired records.
fn idempotency_by_expiry() -> IndexCreateStatement {
    Index::create()
        .name("ix_idempotency_keys_expires_at")
        .table(IdempotencyKeys::Table)
        .col(IdempotencyKeys::ExpiresAt)
        .take()
}

/// A text column compared bytewise on both backends.
fn bytewise_text<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut column = text(name);
    if backend == DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}
