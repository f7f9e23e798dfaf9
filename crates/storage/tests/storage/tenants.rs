//! `TenantRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{Name, Tenant, TenantId};

use crate::fixtures::{at, tenant};
use crate::harness::{TestDb, storage_tests};

storage_tests!(tenants_round_trip, a_taken_tenant_id_already_exists);

async fn tenants_round_trip(db: TestDb) {
    let tenant = Tenant { name: Name::new("Café Ünïcode 🌴").unwrap(), created_at: at(0, 123_456), ..tenant() };
    db.tenants().insert(&tenant).await.unwrap();

    assert_eq!(db.tenants().get(tenant.id).await.unwrap(), Some(tenant));
    assert_eq!(db.tenants().get(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), None);
}

async fn a_taken_tenant_id_already_exists(db: TestDb) {
    let first = tenant();
    db.tenants().insert(&first).await.unwrap();

    let again = Tenant { name: Name::new("Someone Else").unwrap(), ..first.clone() };
    let err = db.tenants().insert(&again).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.tenants().get(first.id).await.unwrap(), Some(first), "the first tenant is untouched");
}
