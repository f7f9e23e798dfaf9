//! What only concerns SQLite.

use wastatus_domain::StatusQuery;
use wastatus_domain::ports::TenantRepository;
use wastatus_storage::Storage;

use crate::fixtures::{at, given_session, given_status_of, given_tenant, image, tenant, video};
use crate::harness::{TestDb, on_sqlite};

#[tokio::test]
async fn timestamps_are_stored_as_fixed_width_utc_text() {
    on_sqlite(|db: TestDb| async move {
        given_tenant(&db).await;
        let stored = db.raw_text("SELECT created_at FROM tenants", "created_at").await;
        let kind = db.raw_text("SELECT typeof(created_at) AS kind FROM tenants", "kind").await;
        assert_eq!((stored.as_str(), kind.as_str()), ("2027-01-15T08:00:00.000000Z", "text"));
    })
    .await;
}

#[tokio::test]
async fn the_pool_runs_in_wal_mode() {
    on_sqlite(|db: TestDb| async move {
        let mode = db.raw_text("PRAGMA journal_mode", "journal_mode").await;
        assert_eq!(mode, "wal");
    })
    .await;
}

#[tokio::test]
async fn in_memory_databases_keep_their_data() {
    let storage = Storage::connect("sqlite::memory:").await.unwrap();
    storage.migrate().await.unwrap();
    let tenants: &dyn TenantRepository = &storage;
    let tenant = tenant();
    tenants.insert(&tenant).await.unwrap();

    assert_eq!(tenants.get(tenant.id).await.unwrap(), Some(tenant.clone()));
    assert_eq!(storage.backend(), "sqlite");

    // Concurrent writers take turns.
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let tenant = crate::fixtures::tenant();
                TenantRepository::insert(&storage, &tenant).await.map(|()| tenant)
            })
        })
        .collect();
    for writer in writers {
        let written = writer.await.unwrap().expect("every write succeeds");
        assert_eq!(tenants.get(written.id).await.unwrap(), Some(written));
    }

    let elsewhere = Storage::connect("sqlite::memory:").await.unwrap();
    elsewhere.migrate().await.unwrap();
    assert_eq!(TenantRepository::get(&elsewhere, tenant.id).await.unwrap(), None, "each pool has its own");
}

/// SQLite's integers are 64-bit whatever the declared type, so a media dimension or duration can
/// hold more than the `integer` column does on PostgreSQL, and more than the domain's `u32`.
#[tokio::test]
async fn media_numbers_too_large_for_their_column_are_storage_errors() {
    on_sqlite(|db: TestDb| async move {
        let session = given_session(&db, "main").await;
        let image = given_status_of(&db, &session, image("x"), at(0, 0)).await;
        let video = given_status_of(&db, &session, video("", 5), at(1, 0)).await;
        let cases = [
            (&image, "media_width = 2147483648", "media_width"),
            (&image, "media_height = 4294967296", "media_height"),
            (&image, "media_width = 5000000000", "media_width"),
            (&video, "media_duration_secs = 4294967295", "media_duration_secs"),
        ];
        for (status, assignment, column) in cases {
            let kind = status.status_type();
            let type_name = if kind == wastatus_domain::StatusType::Image { "image" } else { "video" };
            db.raw(&format!("UPDATE statuses SET {assignment} WHERE type = '{type_name}'")).await;

            let err = db.statuses().get(session.tenant, status.id()).await.unwrap_err();
            assert!(format!("{err:#}").contains(column), "after SET {assignment}, the cause names {column}: {err:#}");
            assert!(db.statuses().list(&session, &StatusQuery::default()).await.is_err(), "{assignment}");

            db.raw(&format!("DELETE FROM statuses WHERE type = '{type_name}'")).await;
            db.statuses().insert(status, None, None).await.unwrap();
            assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(status));
        }
    })
    .await;
}
