//! `UserRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{Name, PasswordHash, Scope, Scopes, TenantId, Timestamp, User, UserId};

use crate::fixtures::{at, given_session_of, given_tenant, given_user, hash, session, session_key, user};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    users_round_trip,
    a_taken_user_id_name_or_token_hash_already_exists,
    a_user_of_an_unknown_tenant_has_no_parent,
    names_are_found_exactly,
    users_are_listed_oldest_first,
    users_are_tenant_scoped,
    set_token_replaces_the_token,
    disabling_keeps_the_first_time,
    touch_moves_last_use_forward,
    malformed_stored_users_are_storage_errors,
    deleting_a_tenant_deletes_its_users_and_their_sessions,
);

/// A user with every optional field set.
fn full_user(tenant: TenantId) -> User {
    User {
        name: Name::new("Zoë Ünïcode 🌴").unwrap(),
        scopes: Scopes::of(&[Scope::StatusesWrite, Scope::KeysManage, Scope::Admin]),
        token_prefix: "c0ffee42".to_owned(),
        password_hash: Some(PasswordHash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy".to_owned(),
        )),
        created_at: at(3, 1),
        last_used_at: Some(at(4, 999_999)),
        disabled_at: Some(at(5, 123_456)),
        ..user(tenant)
    }
}

async fn users_round_trip(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let full = full_user(tenant.id);
    let plain = User { scopes: Scopes::NONE, ..user(tenant.id) };
    for u in [&full, &plain] {
        db.users().insert(u).await.unwrap();
    }

    for u in [&full, &plain] {
        let expected = Some(u.clone());
        assert_eq!(db.users().get(tenant.id, u.id).await.unwrap(), expected, "get");
        assert_eq!(db.users().find(u.id).await.unwrap(), expected, "find");
        assert_eq!(db.users().find_by_token_hash(&u.token_hash).await.unwrap(), expected, "disabled or not");
        assert_eq!(db.users().find_by_name(u.name.as_str()).await.unwrap(), expected, "disabled or not");
    }
    let unknown = UserId::from_uuid(Uuid::new_v4());
    assert_eq!(db.users().get(tenant.id, unknown).await.unwrap(), None);
    assert_eq!(db.users().find(unknown).await.unwrap(), None);
    assert_eq!(db.users().find_by_token_hash(&hash()).await.unwrap(), None);
}

async fn a_taken_user_id_name_or_token_hash_already_exists(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other_tenant = given_tenant(&db).await;
    let first = given_user(&db, tenant.id).await;
    let fresh = || User { id: UserId::from_uuid(Uuid::new_v4()), token_hash: hash(), ..user(tenant.id) };

    let cases = [
        ("same id", User { id: first.id, ..fresh() }),
        ("same name", User { name: first.name.clone(), ..fresh() }),
        ("same name in another tenant", User { name: first.name.clone(), ..user(other_tenant.id) }),
        ("same token hash", User { token_hash: first.token_hash, ..fresh() }),
        ("same token hash in another tenant", User { token_hash: first.token_hash, ..user(other_tenant.id) }),
    ];
    for (case, taken) in cases {
        let err = db.users().insert(&taken).await.unwrap_err();
        assert!(matches!(err, InsertError::AlreadyExists), "{case}: {err:?}");
        if taken.id != first.id {
            assert_eq!(db.users().find(taken.id).await.unwrap(), None, "{case}");
        }
    }
    assert_eq!(db.users().list(tenant.id).await.unwrap(), vec![first.clone()], "the first user is untouched");
    assert_eq!(db.users().list(other_tenant.id).await.unwrap(), vec![]);

    // A different name is enough, even one that differs only in case.
    let upper = Name::new(first.name.as_str().to_uppercase()).unwrap();
    let second = User { name: upper, ..fresh() };
    db.users().insert(&second).await.expect("names are compared exactly");
}

async fn a_user_of_an_unknown_tenant_has_no_parent(db: TestDb) {
    let orphan = user(TenantId::from_uuid(Uuid::new_v4()));
    let err = db.users().insert(&orphan).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    assert_eq!(db.users().find(orphan.id).await.unwrap(), None);
    assert_eq!(db.users().find_by_name(orphan.name.as_str()).await.unwrap(), None);
}

async fn names_are_found_exactly(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let alice = User { name: Name::new("alice").unwrap(), ..user(tenant.id) };
    let alice_upper = User { name: Name::new("Alice").unwrap(), ..user(other.id) };
    let zoe = User { name: Name::new("zoë").unwrap(), ..user(tenant.id) };
    for u in [&alice, &alice_upper, &zoe] {
        db.users().insert(u).await.unwrap();
    }

    assert_eq!(db.users().find_by_name("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.users().find_by_name("Alice").await.unwrap(), Some(alice_upper), "whatever the tenant");
    assert_eq!(db.users().find_by_name("zoë").await.unwrap(), Some(zoe));
    // `zoe` followed by a combining diaeresis: looks the same, is not the same.
    for near_miss in ["ALICE", "alic", "alice ", " alice", "al%", "al_ce", "zoe", "zoe\u{308}", ""] {
        assert_eq!(db.users().find_by_name(near_miss).await.unwrap(), None, "{near_miss:?}");
    }
}

async fn users_are_listed_oldest_first(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let at_time = |created_at: Timestamp| User { created_at, ..user(tenant.id) };
    // Inserted out of order; two share an instant, so the id decides between them.
    let users = [at_time(at(30, 0)), at_time(at(-5, 0)), at_time(at(10, 1)), at_time(at(10, 1)), at_time(at(10, 0))];
    for u in &users {
        db.users().insert(u).await.unwrap();
    }
    given_user(&db, other.id).await;
    let disabled = db.users().disable(tenant.id, users[0].id, at(40, 0)).await.unwrap().expect("disabled");

    let mut expected = users.to_vec();
    expected[0] = disabled;
    expected.sort_by_key(|u| (u.created_at, u.id));
    assert_eq!(db.users().list(tenant.id).await.unwrap(), expected, "disabled users included");
    assert_eq!(db.users().list(other.id).await.unwrap().len(), 1);
    assert_eq!(db.users().list(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), vec![]);
}

async fn users_are_tenant_scoped(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let intruder = given_tenant(&db).await;
    let mine = given_user(&db, tenant.id).await;

    assert_eq!(db.users().get(intruder.id, mine.id).await.unwrap(), None);
    assert_eq!(db.users().list(intruder.id).await.unwrap(), vec![]);
    assert!(!db.users().set_token(intruder.id, mine.id, &hash(), "evil").await.unwrap());
    assert_eq!(db.users().disable(intruder.id, mine.id, at(9, 0)).await.unwrap(), None);

    assert_eq!(db.users().get(tenant.id, mine.id).await.unwrap().as_ref(), Some(&mine), "untouched");
    assert_eq!(db.users().find_by_token_hash(&mine.token_hash).await.unwrap().as_ref(), Some(&mine));
    // `find` is for credentials that name the user, whatever the tenant.
    assert_eq!(db.users().find(mine.id).await.unwrap(), Some(mine));
}

async fn set_token_replaces_the_token(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let target = User { last_used_at: Some(at(2, 0)), ..full_user(tenant.id) };
    db.users().insert(&target).await.unwrap();
    let bystander = given_user(&db, tenant.id).await;

    let new_hash = hash();
    assert!(db.users().set_token(tenant.id, target.id, &new_hash, "9a8b").await.unwrap());

    let expected = User { token_hash: new_hash, token_prefix: "9a8b".to_owned(), ..target.clone() };
    assert_eq!(db.users().get(tenant.id, target.id).await.unwrap().as_ref(), Some(&expected), "only the token");
    assert_eq!(db.users().find_by_token_hash(&new_hash).await.unwrap().as_ref(), Some(&expected));
    assert_eq!(db.users().find_by_token_hash(&target.token_hash).await.unwrap(), None, "the old token is gone");
    assert_eq!(db.users().find(bystander.id).await.unwrap().as_ref(), Some(&bystander));

    // Setting the same token again still finds the user.
    assert!(db.users().set_token(tenant.id, target.id, &new_hash, "9a8b").await.unwrap());
    // Another user's token hash is taken: a storage error (hashes of fresh tokens never collide).
    assert!(db.users().set_token(tenant.id, target.id, &bystander.token_hash, "dupe").await.is_err());
    assert_eq!(db.users().find(target.id).await.unwrap().as_ref(), Some(&expected), "unchanged");
    let unknown = UserId::from_uuid(Uuid::new_v4());
    assert!(!db.users().set_token(tenant.id, unknown, &hash(), "0000").await.unwrap());
}

async fn disabling_keeps_the_first_time(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let target = given_user(&db, tenant.id).await;
    let bystander = given_user(&db, tenant.id).await;

    let disabled = db.users().disable(tenant.id, target.id, at(20, 7)).await.unwrap();
    let expected = User { disabled_at: Some(at(20, 7)), ..target.clone() };
    assert_eq!(disabled.as_ref(), Some(&expected), "only disabled_at changes");
    assert_eq!(db.users().find(target.id).await.unwrap().as_ref(), Some(&expected));

    for later_or_earlier in [at(30, 0), at(10, 0)] {
        let again = db.users().disable(tenant.id, target.id, later_or_earlier).await.unwrap();
        assert_eq!(again.as_ref(), Some(&expected), "the first time stays");
    }
    assert_eq!(db.users().find(bystander.id).await.unwrap(), Some(bystander), "other users untouched");
    let unknown = UserId::from_uuid(Uuid::new_v4());
    assert_eq!(db.users().disable(tenant.id, unknown, at(9, 0)).await.unwrap(), None);
}

async fn touch_moves_last_use_forward(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let target = given_user(&db, tenant.id).await;
    let untouched = given_user(&db, tenant.id).await;
    let last_used = |id: UserId| {
        let db = &db;
        async move { db.users().find(id).await.unwrap().expect("the user exists").last_used_at }
    };

    db.users().touch(target.id, at(10, 500)).await.unwrap();
    assert_eq!(last_used(target.id).await, Some(at(10, 500)));

    db.users().touch(target.id, at(10, 499)).await.unwrap();
    assert_eq!(last_used(target.id).await, Some(at(10, 500)), "a late, older touch does not move it back");

    db.users().touch(target.id, at(11, 0)).await.unwrap();
    assert_eq!(last_used(target.id).await, Some(at(11, 0)));

    assert_eq!(last_used(untouched.id).await, None, "other users are not touched");
    db.users().touch(UserId::from_uuid(Uuid::new_v4()), at(12, 0)).await.expect("touching an unknown user is fine");
}

async fn malformed_stored_users_are_storage_errors(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let stored = given_user(&db, tenant.id).await;
    let cases = [
        ("scopes = 'statuses:read root'", "users.scopes"),
        ("token_hash = 'abc'", "users.token_hash"),
        (&format!("token_hash = '{}'", "G".repeat(64)), "users.token_hash"),
        ("name = '   '", "users.name"),
    ];
    for (assignment, clue) in cases {
        db.raw(&format!("UPDATE users SET {assignment}")).await;

        let err = db.users().get(tenant.id, stored.id).await.unwrap_err();
        assert!(format!("{err:#}").contains(clue), "after SET {assignment}, the cause names {clue}: {err:#}");
        assert!(db.users().find(stored.id).await.is_err(), "{assignment}");
        assert!(db.users().list(tenant.id).await.is_err(), "{assignment}");

        db.raw("DELETE FROM users").await;
        db.users().insert(&stored).await.unwrap();
    }
}

/// Tenants are not deleted through the ports; the foreign keys still make it clean.
async fn deleting_a_tenant_deletes_its_users_and_their_sessions(db: TestDb) {
    let doomed = given_tenant(&db).await;
    let kept = given_tenant(&db).await;
    let doomed_user = given_user(&db, doomed.id).await;
    let kept_user = given_user(&db, kept.id).await;
    let owned = wastatus_domain::Session { owner: Some(doomed_user.id), ..session(session_key(doomed.id, "phone")) };
    db.sessions().insert(&owned).await.unwrap();
    given_session_of(&db, doomed.id, "unowned").await;

    db.raw(&format!("DELETE FROM tenants WHERE id = {}", db.uuid_literal(doomed.id.as_uuid()))).await;

    assert_eq!(db.users().find(doomed_user.id).await.unwrap(), None);
    assert_eq!(db.sessions().list(doomed.id).await.unwrap(), vec![]);
    assert_eq!(db.users().find(kept_user.id).await.unwrap(), Some(kept_user));
}
