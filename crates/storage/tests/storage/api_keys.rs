//! `ApiKeyRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{ApiKey, ApiKeyId, Name, TenantId, Timestamp};

use crate::fixtures::{api_key, at, given_tenant, hash};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    keys_are_found_by_hash,
    a_taken_key_id_or_hash_already_exists,
    touch_moves_last_use_forward,
    a_key_of_an_unknown_tenant_has_no_parent,
);

async fn keys_are_found_by_hash(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let plain = api_key(tenant.id);
    let full = ApiKey {
        name: Some(Name::new("CI deploys").unwrap()),
        last_used_at: Some(at(5, 1)),
        revoked_at: Some(at(6, 999_999)),
        ..api_key(tenant.id)
    };
    let others = api_key(other.id);
    for key in [&plain, &full, &others] {
        db.keys().insert(key).await.unwrap();
    }

    assert_eq!(db.keys().find_by_hash(&plain.hash).await.unwrap(), Some(plain));
    assert_eq!(db.keys().find_by_hash(&full.hash).await.unwrap(), Some(full), "revoked keys are found too");
    assert_eq!(db.keys().find_by_hash(&others.hash).await.unwrap(), Some(others));
    assert_eq!(db.keys().find_by_hash(&hash()).await.unwrap(), None);
}

async fn a_taken_key_id_or_hash_already_exists(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let key = api_key(tenant.id);
    db.keys().insert(&key).await.unwrap();

    let same_hash = ApiKey { id: ApiKeyId::from_uuid(Uuid::new_v4()), ..key.clone() };
    let err = db.keys().insert(&same_hash).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "same hash: {err:?}");

    let same_id = ApiKey { hash: hash(), ..key.clone() };
    let err = db.keys().insert(&same_id).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "same id: {err:?}");

    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap(), Some(key));
    assert_eq!(db.keys().find_by_hash(&same_id.hash).await.unwrap(), None);
}

async fn touch_moves_last_use_forward(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let key = api_key(tenant.id);
    let untouched = api_key(tenant.id);
    db.keys().insert(&key).await.unwrap();
    db.keys().insert(&untouched).await.unwrap();

    db.keys().touch(key.id, at(10, 500)).await.unwrap();
    assert_eq!(last_used(&db, &key).await, Some(at(10, 500)));

    db.keys().touch(key.id, at(10, 499)).await.unwrap();
    assert_eq!(last_used(&db, &key).await, Some(at(10, 500)), "a late, older touch does not move it back");

    db.keys().touch(key.id, at(11, 0)).await.unwrap();
    assert_eq!(last_used(&db, &key).await, Some(at(11, 0)));

    assert_eq!(last_used(&db, &untouched).await, None, "other keys are not touched");
    db.keys().touch(ApiKeyId::from_uuid(Uuid::new_v4()), at(12, 0)).await.expect("touching an unknown key is fine");
}

/// The stored `last_used_at` of `key`.
async fn last_used(db: &TestDb, key: &ApiKey) -> Option<Timestamp> {
    db.keys().find_by_hash(&key.hash).await.unwrap().expect("the key exists").last_used_at
}

async fn a_key_of_an_unknown_tenant_has_no_parent(db: TestDb) {
    let key = api_key(TenantId::from_uuid(Uuid::new_v4()));
    let err = db.keys().insert(&key).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap(), None);
}
