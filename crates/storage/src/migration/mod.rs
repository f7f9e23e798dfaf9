//! The schema, as a sequence of sea-orm-migration migrations.
//!
//! Migrations are append-only: once released, a migration never changes; a schema change is a
//! new migration at the end of [`Migrator::migrations`]. They are written with the schema
//! builder so that the same migration runs on SQLite and PostgreSQL.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261121_000001_initial;
mod m20261121_000002_media;
mod m20261121_000003_access;
mod m20261121_000004_jobs;
mod m20261121_000005_webhooks;
mod m20261121_000006_audience;

/// Applies the schema migrations (`Storage::migrate` runs it).
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261121_000002_media::Migration),
            Box::new(m20261121_000003_access::Migration),
            Box::new(m20261121_000004_jobs::Migration),
            Box::new(m20261121_000005_webhooks::Migration),
            Box::new(m20261121_000006_audience::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use sea_orm::ConnectionTrait;
    use uuid::Uuid;
    use wastatus_domain::ports::{ApiKeyRepository, SessionRepository, StatusRepository};
    use wastatus_domain::{
        ApiKey, ApiKeyId, KeyHash, Name, Scopes, Session, SessionId, SessionKey, SessionState, StatusId, TenantId,
    };

    use super::*;
    use crate::Storage;

    /// A SQLite database made before access control, with a key, a session and a status, gains
    /// the new columns: the key may do everything within its tenant and never expires, the
    /// session has no owner, and nothing else changes. (SQLite's `ALTER TABLE` is the limited
    /// one; the integration tests check the same on PostgreSQL.)
    #[tokio::test]
    async fn the_access_migration_keeps_existing_keys_and_sessions() {
        let storage = Storage::connect("sqlite::memory:").await.expect("connect");
        Migrator::up(&storage.writer, Some(2)).await.expect("the first two migrations");
        let (tenant, key, status) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let blob = |id: Uuid| format!("X'{}'", id.simple());
        let created = "'2027-01-15T08:00:00.000001Z'";
        for sql in [
            format!("INSERT INTO tenants (id, name, created_at) VALUES ({}, 'Acme', {created})", blob(tenant)),
            format!(
                "INSERT INTO api_keys (id, tenant_id, name, display_prefix, key_hash, created_at) \
                 VALUES ({}, {}, 'CI', 'wsk_AbCd', '{}', {created})",
                blob(key),
                blob(tenant),
                "ab".repeat(32)
            ),
            format!(
                "INSERT INTO sessions (tenant_id, id, state, created_at, updated_at) \
                 VALUES ({}, 'main', 'connected', {created}, {created})",
                blob(tenant)
            ),
            format!(
                "INSERT INTO statuses (id, tenant_id, session_id, type, text, background_color, font, view_once, \
                 state, created_at, updated_at) \
                 VALUES ({}, {}, 'main', 'text', 'Hello', 4283215696, 0, false, 'accepted', {created}, {created})",
                blob(status),
                blob(tenant)
            ),
        ] {
            storage.writer.execute_unprepared(&sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        }

        storage.migrate().await.expect("the access migration on a database with data");

        let created = DateTime::from_timestamp(1_800_000_000, 1_000).expect("a valid instant");
        let tenant = TenantId::from_uuid(tenant);
        let expected_key = ApiKey {
            id: ApiKeyId::from_uuid(key),
            tenant,
            name: Some(Name::new("CI").unwrap()),
            display_prefix: "wsk_AbCd".to_owned(),
            hash: KeyHash([0xAB; 32]),
            scopes: Scopes::TENANT,
            created_at: created,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(ApiKeyRepository::list(&storage, tenant).await.unwrap(), vec![expected_key]);
        let session = SessionKey { tenant, id: SessionId::new("main").unwrap() };
        let expected_session = Session {
            key: session.clone(),
            owner: None,
            state: SessionState::Connected,
            reason: None,
            created_at: created,
            updated_at: created,
        };
        assert_eq!(SessionRepository::get(&storage, &session).await.unwrap(), Some(expected_session));
        let status = StatusRepository::get(&storage, tenant, StatusId::from_uuid(status)).await.unwrap();
        assert_eq!(status.map(|s| s.created_at()), Some(created));
    }
}
