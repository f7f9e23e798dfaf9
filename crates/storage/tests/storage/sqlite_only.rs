//! What only concerns SQLite.

use wastatus_domain::ports::TenantRepository;
use wastatus_storage::Storage;

use crate::fixtures::{given_tenant, tenant};
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
