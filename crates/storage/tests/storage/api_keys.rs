//! `ApiKeyRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{ApiKey, ApiKeyId, Name, Scope, Scopes, TenantId, Timestamp};

use crate::fixtures::{api_key, at, given_key, given_tenant, hash};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    keys_are_found_by_hash,
    scopes_and_expiry_round_trip,
    a_taken_key_id_or_hash_already_exists,
    touch_moves_last_use_forward,
    a_key_of_an_unknown_tenant_has_no_parent,
    keys_are_listed_oldest_first_revoked_ones_included,
    revoking_keeps_the_first_revocation_time,
    revoking_is_tenant_scoped,
    an_unknown_stored_scope_is_a_storage_error,
    keys_stored_without_scopes_get_the_tenant_scopes,
);

async fn keys_are_found_by_hash(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let plain = api_key(tenant.id);
    let full = ApiKey {
        name: Some(Name::new("CI deploys").unwrap()),
        scopes: Scopes::of(&[Scope::StatusesWrite, Scope::SessionsRead]),
        expires_at: Some(at(90, 123_456)),
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

async fn scopes_and_expiry_round_trip(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let cases = [
        (Scopes::NONE, None),
        (Scopes::TENANT, Some(at(-1, 0))),
        (Scopes::USER, Some(at(1, 1))),
        (Scopes::of(&[Scope::Admin]), Some(at(86_400 * 365, 999_999))),
        (Scopes::of(&[Scope::KeysManage]), None),
        (Scope::ALL.into_iter().collect(), Some(at(0, 0))),
    ];
    let mut keys = vec![];
    for (i, (scopes, expires_at)) in (0..).zip(cases) {
        let key = ApiKey { scopes, expires_at, created_at: at(i, 0), ..api_key(tenant.id) };
        db.keys().insert(&key).await.unwrap();
        assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap().as_ref(), Some(&key), "{scopes:?}");
        keys.push(key);
    }
    assert_eq!(db.keys().list(tenant.id).await.unwrap(), keys);
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

    let other_tenant = given_tenant(&db).await;
    let same_hash_elsewhere = ApiKey { id: ApiKeyId::from_uuid(Uuid::new_v4()), ..api_key(other_tenant.id) };
    let same_hash_elsewhere = ApiKey { hash: key.hash, ..same_hash_elsewhere };
    let err = db.keys().insert(&same_hash_elsewhere).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "same hash in another tenant: {err:?}");

    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap(), Some(key.clone()));
    assert_eq!(db.keys().find_by_hash(&same_id.hash).await.unwrap(), None);
    assert_eq!(db.keys().list(tenant.id).await.unwrap(), vec![key]);
    assert_eq!(db.keys().list(other_tenant.id).await.unwrap(), vec![]);
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
    assert_eq!(db.keys().list(key.tenant).await.unwrap(), vec![]);
}

async fn keys_are_listed_oldest_first_revoked_ones_included(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    // Inserted out of order; two share an instant, so the id decides between them.
    let newest = given_key(&db, tenant.id, at(30, 0)).await;
    let oldest = given_key(&db, tenant.id, at(-5, 999_999)).await;
    let tie_a = given_key(&db, tenant.id, at(10, 1)).await;
    let tie_b = given_key(&db, tenant.id, at(10, 1)).await;
    let middle = given_key(&db, tenant.id, at(10, 0)).await;
    given_key(&db, other.id, at(0, 0)).await;
    let revoked = db.keys().revoke(tenant.id, middle.id, at(40, 0)).await.unwrap().expect("revoked");

    let (first_tie, second_tie) = if tie_a.id < tie_b.id { (tie_a, tie_b) } else { (tie_b, tie_a) };
    let listed = db.keys().list(tenant.id).await.unwrap();
    assert_eq!(listed, vec![oldest, revoked, first_tie, second_tie, newest]);
    assert_eq!(db.keys().list(other.id).await.unwrap().len(), 1);
    assert_eq!(db.keys().list(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), vec![]);
}

async fn revoking_keeps_the_first_revocation_time(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let key = ApiKey { last_used_at: Some(at(3, 0)), expires_at: Some(at(100, 0)), ..api_key(tenant.id) };
    db.keys().insert(&key).await.unwrap();
    let bystander = given_key(&db, tenant.id, at(2, 0)).await;

    let revoked = db.keys().revoke(tenant.id, key.id, at(20, 7)).await.unwrap();
    let expected = ApiKey { revoked_at: Some(at(20, 7)), ..key.clone() };
    assert_eq!(revoked.as_ref(), Some(&expected), "only revoked_at changes");
    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap().as_ref(), Some(&expected));

    for later_or_earlier in [at(30, 0), at(10, 0)] {
        let again = db.keys().revoke(tenant.id, key.id, later_or_earlier).await.unwrap();
        assert_eq!(again.as_ref(), Some(&expected), "the first revocation time stays");
    }
    assert_eq!(db.keys().find_by_hash(&bystander.hash).await.unwrap(), Some(bystander), "other keys untouched");

    // A key stored revoked keeps its time too.
    let born_revoked = ApiKey { revoked_at: Some(at(5, 0)), ..api_key(tenant.id) };
    db.keys().insert(&born_revoked).await.unwrap();
    assert_eq!(db.keys().revoke(tenant.id, born_revoked.id, at(50, 0)).await.unwrap(), Some(born_revoked));
}

async fn revoking_is_tenant_scoped(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let intruder = given_tenant(&db).await;
    let key = given_key(&db, tenant.id, at(1, 0)).await;

    assert_eq!(db.keys().revoke(intruder.id, key.id, at(9, 0)).await.unwrap(), None, "another tenant's key");
    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap().as_ref(), Some(&key), "untouched");
    assert_eq!(db.keys().list(intruder.id).await.unwrap(), vec![]);

    let unknown = ApiKeyId::from_uuid(Uuid::new_v4());
    assert_eq!(db.keys().revoke(tenant.id, unknown, at(9, 0)).await.unwrap(), None, "an unknown key");
    assert_eq!(db.keys().list(tenant.id).await.unwrap(), vec![key]);
}

async fn an_unknown_stored_scope_is_a_storage_error(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let key = given_key(&db, tenant.id, at(1, 0)).await;
    db.raw("UPDATE api_keys SET scopes = 'statuses:read statuses:delete'").await;

    let err = db.keys().find_by_hash(&key.hash).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("api_keys.scopes") && message.contains("statuses:delete"), "{message}");
    assert!(db.keys().list(tenant.id).await.is_err());
    assert!(db.keys().revoke(tenant.id, key.id, at(2, 0)).await.is_err());

    // Any whitespace separates names.
    db.raw("UPDATE api_keys SET scopes = '  statuses:read\tadmin  '").await;
    let read = db.keys().find_by_hash(&key.hash).await.unwrap().expect("the key");
    assert_eq!(read.scopes, Scopes::of(&[Scope::StatusesRead, Scope::Admin]));
}

/// Keys made before scopes existed (rows that leave the new columns out) may do everything
/// within their tenant, and never expire.
async fn keys_stored_without_scopes_get_the_tenant_scopes(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let key = api_key(tenant.id);
    let hex: String = key.hash.0.iter().map(|byte| format!("{byte:02x}")).collect();
    db.raw(&format!(
        "INSERT INTO api_keys (id, tenant_id, name, display_prefix, key_hash, created_at) \
         VALUES ({}, {}, NULL, 'wsk_AbCd', '{hex}', '2027-01-15T08:00:01.000000Z')",
        db.uuid_literal(key.id.as_uuid()),
        db.uuid_literal(tenant.id.as_uuid()),
    ))
    .await;

    let stored = db.keys().find_by_hash(&key.hash).await.unwrap();
    assert_eq!(stored, Some(ApiKey { scopes: Scopes::TENANT, expires_at: None, ..key }));
}
