//! The initial schema: tenants, API keys, sessions and text statuses.
//!
//! Column types per backend, as the schema builder writes them:
//! - ids are `uuid` on PostgreSQL; on SQLite the column is declared `uuid_text` and holds the
//!   16 bytes as a BLOB (how sqlx binds a `Uuid`), so ids compare and sort bytewise on both;
//! - timestamps are `timestamp with time zone` on PostgreSQL; on SQLite they are text in the
//!   fixed-width format of [`crate::time`], which sorts chronologically;
//! - session ids use the `"C"` collation on PostgreSQL, so that they sort bytewise as on SQLite
//!   whatever the database's default locale.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager.create_table(tenants()).await?;
        manager.create_table(api_keys()).await?;
        manager.create_index(api_keys_by_hash()).await?;
        manager.create_index(api_keys_by_tenant()).await?;
        manager.create_table(sessions(backend)).await?;
        manager.create_table(statuses(backend)).await?;
        manager.create_index(status_history()).await?;
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
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    DisplayPrefix,
    KeyHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TenantId,
    Id,
    State,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Statuses {
    Table,
    Id,
    TenantId,
    SessionId,
    Type,
    Text,
    BackgroundColor,
    Font,
    ViewOnce,
    State,
    MessageId,
    FailureCode,
    FailureMessage,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
    RevokedAt,
}

fn tenants() -> TableCreateStatement {
    Table::create()
        .table(Tenants::Table)
        .col(pk_uuid(Tenants::Id))
        .col(text(Tenants::Name))
        .col(timestamp_with_time_zone(Tenants::CreatedAt))
        .take()
}

/// API keys. `key_hash` is the SHA-256 of the secret as 64 lowercase hex digits.
fn api_keys() -> TableCreateStatement {
    Table::create()
        .table(ApiKeys::Table)
        .col(pk_uuid(ApiKeys::Id))
        .col(uuid(ApiKeys::TenantId))
        .col(text_null(ApiKeys::Name))
        .col(text(ApiKeys::DisplayPrefix))
        .col(text(ApiKeys::KeyHash))
        .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
        .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
        .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_api_keys_tenant")
                .from(ApiKeys::Table, ApiKeys::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// The unique index that makes a hash identify one key (and serves the lookup by hash).
fn api_keys_by_hash() -> IndexCreateStatement {
    Index::create().name("ux_api_keys_key_hash").table(ApiKeys::Table).col(ApiKeys::KeyHash).unique().take()
}

/// Serves the cascade from a deleted tenant (PostgreSQL does not index foreign keys itself).
fn api_keys_by_tenant() -> IndexCreateStatement {
    Index::create().name("ix_api_keys_tenant_id").table(ApiKeys::Table).col(ApiKeys::TenantId).take()
}

fn sessions(backend: DbBackend) -> TableCreateStatement {
    Table::create()
        .table(Sessions::Table)
        .col(uuid(Sessions::TenantId))
        .col(session_id(Sessions::Id, backend))
        .col(text(Sessions::State))
        .col(timestamp_with_time_zone(Sessions::CreatedAt))
        .col(timestamp_with_time_zone(Sessions::UpdatedAt))
        .primary_key(Index::create().name("pk_sessions").col(Sessions::TenantId).col(Sessions::Id))
        .foreign_key(
            ForeignKey::create()
                .name("fk_sessions_tenant")
                .from(Sessions::Table, Sessions::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Statuses. The content columns (`type` and the columns of that type) are filled by the
/// content's variant; columns of other variants stay NULL.
fn statuses(backend: DbBackend) -> TableCreateStatement {
    Table::create()
        .table(Statuses::Table)
        .col(pk_uuid(Statuses::Id))
        .col(uuid(Statuses::TenantId))
        .col(session_id(Statuses::SessionId, backend))
        .col(text(Statuses::Type))
        .col(text_null(Statuses::Text))
        .col(big_integer_null(Statuses::BackgroundColor))
        .col(small_integer_null(Statuses::Font))
        .col(boolean(Statuses::ViewOnce))
        .col(text(Statuses::State))
        .col(text_null(Statuses::MessageId))
        .col(text_null(Statuses::FailureCode))
        .col(text_null(Statuses::FailureMessage))
        .col(timestamp_with_time_zone(Statuses::CreatedAt))
        .col(timestamp_with_time_zone(Statuses::UpdatedAt))
        .col(timestamp_with_time_zone_null(Statuses::PublishedAt))
        .col(timestamp_with_time_zone_null(Statuses::RevokedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_statuses_session")
                .from(Statuses::Table, (Statuses::TenantId, Statuses::SessionId))
                .to(Sessions::Table, (Sessions::TenantId, Sessions::Id))
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Serves a session's history, newest first by (`created_at`, `id`), and the cascade from a
/// deleted session.
fn status_history() -> IndexCreateStatement {
    Index::create()
        .name("ix_statuses_history")
        .table(Statuses::Table)
        .col(Statuses::TenantId)
        .col(Statuses::SessionId)
        .col((Statuses::CreatedAt, IndexOrder::Desc))
        .col((Statuses::Id, IndexOrder::Desc))
        .take()
}

/// A session id column: text, compared bytewise on both backends.
fn session_id<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut column = text(name);
    if backend == DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}
