//! Access control: scoped, expiring API keys; users; sessions owned by a user.
//!
//! - `api_keys` gains `scopes` (text, NOT NULL, space-separated scope names; existing keys get
//!   the default, every scope of a tenant) and `expires_at` (nullable timestamp).
//! - `users` is new: a tenant's users, each with a per-user token (its SHA-256 as 64 lowercase
//!   hex digits in `token_hash`, unique) and optionally a password hash (PHC string). `name` is
//!   the username for logging in, unique across the server (not only within a tenant).
//! - `sessions` gains `owner_user_id` (nullable), the user whose device the session is. A user
//!   owns at most one session (a unique index; NULLs do not conflict on either backend). Users
//!   are disabled, not deleted, so the foreign key's `ON DELETE SET NULL` is a safety net.
//!
//! SQLite adds one column per `ALTER TABLE`, and sea-query refuses to add a foreign key to an
//! existing table on SQLite. The owner column therefore carries its foreign key as a column
//! constraint (`REFERENCES … ON DELETE SET NULL`, written with [`ColumnDef::extra`]), which both
//! backends accept in `ADD COLUMN`; SQLite accepts it because the column's default is NULL.
//! The migration runs in a transaction, so either all of it applies or none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The scopes existing API keys get: what `Scopes::TENANT` (every scope but `admin`) was when
/// this migration was written. Migrations never change, so the names are spelled out here.
const TENANT_SCOPES: &str = "statuses:read statuses:write sessions:read sessions:manage webhooks:manage keys:manage";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let key_columns =
            [text(ApiKeys::Scopes).default(TENANT_SCOPES).take(), timestamp_with_time_zone_null(ApiKeys::ExpiresAt)];
        for column in key_columns {
            manager.alter_table(Table::alter().table(ApiKeys::Table).add_column(column).take()).await?;
        }
        manager.create_table(users()).await?;
        manager.create_index(users_by_name()).await?;
        manager.create_index(users_by_token_hash()).await?;
        manager.create_index(users_by_tenant()).await?;
        manager.alter_table(Table::alter().table(Sessions::Table).add_column(session_owner()).take()).await?;
        manager.create_index(sessions_by_owner()).await?;
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
enum ApiKeys {
    Table,
    Scopes,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Name,
    Scopes,
    TokenHash,
    TokenPrefix,
    PasswordHash,
    CreatedAt,
    LastUsedAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    OwnerUserId,
}

/// Users. `token_hash` is the SHA-256 of the per-user token as 64 lowercase hex digits;
/// `password_hash` a PHC string, NULL for a user without a password.
fn users() -> TableCreateStatement {
    Table::create()
        .table(Users::Table)
        .col(pk_uuid(Users::Id))
        .col(uuid(Users::TenantId))
        .col(text(Users::Name))
        .col(text(Users::Scopes))
        .col(text(Users::TokenHash))
        .col(text(Users::TokenPrefix))
        .col(text_null(Users::PasswordHash))
        .col(timestamp_with_time_zone(Users::CreatedAt))
        .col(timestamp_with_time_zone_null(Users::LastUsedAt))
        .col(timestamp_with_time_zone_null(Users::DisabledAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_users_tenant")
                .from(Users::Table, Users::TenantId)
                .to(Tenants::Table, Tenants::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

/// Makes a username identify one user across the server (and serves the login lookup).
fn users_by_name() -> IndexCreateStatement {
    Index::create().name("ux_users_name").table(Users::Table).col(Users::Name).unique().take()
}

/// Makes a token hash identify one user (and serves the lookup by hash).
fn users_by_token_hash() -> IndexCreateStatement {
    Index::create().name("ux_users_token_hash").table(Users::Table).col(Users::TokenHash).unique().take()
}

/// Serves a tenant's list of users and the cascade from a deleted tenant.
fn users_by_tenant() -> IndexCreateStatement {
    Index::create().name("ix_users_tenant_id").table(Users::Table).col(Users::TenantId).take()
}

/// `sessions.owner_user_id`, a nullable reference to `users`. The constraint is written out
/// because sea-query cannot add a foreign key to an existing SQLite table; the identifiers are
/// quoted as both backends quote them.
fn session_owner() -> ColumnDef {
    uuid_null(Sessions::OwnerUserId)
        .extra(r#"CONSTRAINT "fk_sessions_owner" REFERENCES "users" ("id") ON DELETE SET NULL"#)
        .take()
}

/// Makes a user own at most one session (and serves the lookup by owner and the `SET NULL`
/// from a deleted user).
fn sessions_by_owner() -> IndexCreateStatement {
    Index::create().name("ux_sessions_owner_user_id").table(Sessions::Table).col(Sessions::OwnerUserId).unique().take()
}
