//! Image and video statuses: a caption and what is kept about the media.
//!
//! Six nullable columns on `statuses`, used only by `image` and `video` rows (text rows leave
//! them NULL, as media rows leave the text columns NULL):
//! - `caption` (text): NULL for a status without a caption;
//! - `media_mime_type` (text), `media_size_bytes` (bigint), `media_width` and `media_height`
//!   (integer): always set on a media row;
//! - `media_duration_secs` (integer): set on video rows, NULL on image rows.
//!
//! SQLite adds one column per `ALTER TABLE` (sea-query refuses to render more on SQLite), so
//! each column is its own statement; the migration runs in a transaction, so either all six
//! columns are added or none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            text_null(Statuses::Caption),
            text_null(Statuses::MediaMimeType),
            big_integer_null(Statuses::MediaSizeBytes),
            integer_null(Statuses::MediaWidth),
            integer_null(Statuses::MediaHeight),
            integer_null(Statuses::MediaDurationSecs),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Statuses::Table).add_column(column).take()).await?;
        }
        Ok(())
    }

    /// SQLite runs DDL in transactions too: a failed migration leaves no half-made schema.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Statuses {
    Table,
    Caption,
    MediaMimeType,
    MediaSizeBytes,
    MediaWidth,
    MediaHeight,
    MediaDurationSecs,
}
