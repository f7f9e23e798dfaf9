//! `TenantRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{Name, Tenant, TenantId};

use crate::fixtures::{at, tenant};
use crate::harness::{TestDb, storage_tests};

storage_tests!(tenants_round_trip, a_taken_tenant_id_already_exists, tenants_are_listed_oldest_first);

async fn tenants_round_trip(db: TestDb) {
    let tenant = Tenant { name: Name::new("Café Ünïcode 🌴").unwrap(), created_at: at(0, 123_456), ..tenant() };
    db.tenants().insert(&tenant).await.unwrap();

    assert_eq!(db.tenants().get(tenant.id).await.unwrap(), Some(tenant.clone()));
    assert_eq!(db.tenants().get(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), None);
    assert_eq!(db.tenants().list().await.unwrap(), vec![tenant]);
}

async fn a_taken_tenant_id_already_exists(db: TestDb) {
    let first = tenant();
    db.tenants().insert(&first).await.unwrap();

    let again = Tenant { name: Name::new("Someone Else").unwrap(), ..first.clone() };
    let err = db.tenants().insert(&again).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.tenants().get(first.id).await.unwrap(), Some(first), "the first tenant is untouched");
}

async fn tenants_are_listed_oldest_first(db: TestDb) {
    assert_eq!(db.tenants().list().await.unwrap(), vec![], "none yet");
    let created = |secs, micros| Tenant { created_at: at(secs, micros), ..tenant() };
    // Inserted out of order; two share an instant, so the id decides between them.
    let mut tenants = vec![created(30, 0), created(-5, 0), created(10, 1), created(10, 1), created(10, 0)];
    for tenant in &tenants {
        db.tenants().insert(tenant).await.unwrap();
    }

    tenants.sort_by_key(|t| (t.created_at, t.id));
    assert_eq!(db.tenants().list().await.unwrap(), tenants);
}
