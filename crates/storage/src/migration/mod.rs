//! The schema, as a sequence of sea-orm-migration migrations.
//!
//! Migrations are append-only: once released, a migration never changes; a schema change is a
//! new migration at the end of [`Migrator::migrations`]. They are written with the schema
//! builder so that the same migration runs on SQLite and PostgreSQL.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261121_000001_initial;
mod m20261121_000002_media;

/// Applies the schema migrations (`Storage::migrate` runs it).
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261121_000001_initial::Migration), Box::new(m20261121_000002_media::Migration)]
    }
}
