//! Who sees a status, and who it reached.
//!
//! `statuses` gains two nullable text columns, each a JSON document:
//! - `audience`: the audience the client asked for, `{"mode": "allowlist", "jids": [...]}` or
//!   `{"mode": "denylist", ...}`; NULL means all contacts (`{"mode": "contacts"}`), which is
//!   what the API accepted before this migration (the sandbox sent every status to all
//!   contacts; the web driver, unreleased then, took a configured list instead).
//! - `reach`: once published, who it went to, `{"recipients": N, "unresolved": [...]}`; NULL
//!   before, and for statuses published before this migration (not recorded then).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [text_null(Statuses::Audience), text_null(Statuses::Reach)] {
            manager.alter_table(Table::alter().table(Statuses::Table).add_column(column).take()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Statuses {
    Table,
    Audience,
    Reach,
}
