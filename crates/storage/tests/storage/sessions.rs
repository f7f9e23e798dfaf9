//! `SessionRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{Event, EventId, Session, SessionKey, SessionState, StatusQuery, TenantId, Timestamp, UserId};

use crate::fixtures::{
    at, given_session, given_session_of, given_status, given_tenant, given_user, session, session_key,
};
use crate::harness::{OutboxRow, TestDb, storage_tests};

storage_tests!(
    sessions_round_trip,
    a_session_id_is_unique_within_a_tenant_only,
    sessions_are_listed_by_id,
    set_state_saves_the_state_and_the_time,
    set_state_stores_its_events_with_the_state,
    set_state_on_a_missing_session_stores_no_event,
    sessions_are_tenant_scoped,
    deleting_a_session_deletes_its_statuses,
    a_session_of_an_unknown_tenant_has_no_parent,
    an_unknown_stored_state_is_a_storage_error,
    sessions_are_found_by_owner,
    a_user_owns_at_most_one_session,
    an_owner_that_is_not_a_user_of_the_tenant_has_no_parent,
    deleting_a_user_row_leaves_its_session_without_owner,
);

async fn sessions_round_trip(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let session = Session {
        state: SessionState::LoggedOut,
        created_at: at(3, 1),
        updated_at: at(4, 999_999),
        ..session(session_key(tenant.id, "shop_919876543210.v2"))
    };
    db.sessions().insert(&session).await.unwrap();
    let user = given_user(&db, tenant.id).await;
    let owned = Session {
        owner: Some(user.id),
        state: SessionState::Connected,
        created_at: at(5, 42),
        updated_at: at(6, 0),
        ..crate::fixtures::session(session_key(tenant.id, "phone"))
    };
    db.sessions().insert(&owned).await.unwrap();

    assert_eq!(db.sessions().get(&session.key).await.unwrap(), Some(session.clone()));
    assert_eq!(db.sessions().get(&owned.key).await.unwrap(), Some(owned.clone()));
    assert_eq!(db.sessions().get(&session_key(tenant.id, "other")).await.unwrap(), None);
    assert_eq!(db.sessions().list(tenant.id).await.unwrap(), vec![owned.clone(), session.clone()]);
    assert_eq!(db.sessions().list_all().await.unwrap(), vec![owned, session]);
}

async fn a_session_id_is_unique_within_a_tenant_only(db: TestDb) {
    let first = given_session(&db, "main").await;
    let again = Session { state: SessionState::Connected, ..session(first.clone()) };
    let err = db.sessions().insert(&again).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.sessions().get(&first).await.unwrap().unwrap().state, SessionState::Pairing, "untouched");

    let other_tenant = given_tenant(&db).await;
    let same_id_elsewhere = given_session_of(&db, other_tenant.id, "main").await;
    assert_eq!(db.sessions().get(&same_id_elsewhere).await.unwrap(), Some(session(same_id_elsewhere.clone())));
    assert_eq!(db.sessions().get(&first).await.unwrap(), Some(session(first)));
}

async fn sessions_are_listed_by_id(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    // Inserted out of order; listed bytewise, whatever the database's locale.
    let ids = ["b", "a_b", "B", "a.c", "ab", "a-b", "0z", "Z9"];
    for id in ids {
        given_session_of(&db, tenant.id, id).await;
    }
    given_session_of(&db, other.id, "a").await;

    let listed: Vec<String> =
        db.sessions().list(tenant.id).await.unwrap().into_iter().map(|s| s.key.id.as_str().to_owned()).collect();
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(db.sessions().list(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), vec![]);

    let all: Vec<(TenantId, String)> = db
        .sessions()
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.key.tenant, s.key.id.as_str().to_owned()))
        .collect();
    let mut expected_all: Vec<(TenantId, String)> = expected.into_iter().map(|id| (tenant.id, id)).collect();
    expected_all.push((other.id, "a".to_owned()));
    expected_all.sort();
    assert_eq!(all, expected_all);
}

async fn set_state_saves_the_state_and_the_time(db: TestDb) {
    let key = given_session(&db, "main").await;

    assert!(db.sessions().set_state(&key, SessionState::Connected, at(50, 7), &[]).await.unwrap());

    let stored = db.sessions().get(&key).await.unwrap().unwrap();
    assert_eq!(
        stored,
        Session { state: SessionState::Connected, updated_at: at(50, 7), ..session(key.clone()) },
        "created_at is kept"
    );
    let missing = session_key(key.tenant, "missing");
    assert!(!db.sessions().set_state(&missing, SessionState::Connected, at(51, 0), &[]).await.unwrap());
    assert_eq!(db.sessions().get(&missing).await.unwrap(), None, "set_state does not create sessions");
}

fn session_event(key: &SessionKey, state: SessionState, at: Timestamp) -> Event {
    Event::of_session(EventId::from_uuid(Uuid::now_v7()), key, state, at)
}

async fn set_state_stores_its_events_with_the_state(db: TestDb) {
    let key = given_session(&db, "main").await;
    let connected = session_event(&key, SessionState::Connected, at(50, 7));
    assert!(
        db.sessions()
            .set_state(&key, SessionState::Connected, at(50, 7), std::slice::from_ref(&connected))
            .await
            .unwrap()
    );
    assert_eq!(db.outbox().await, vec![OutboxRow::of(&connected)]);
    assert_eq!(db.outbox().await[0].kind, "session.connected");

    // No event, or several.
    assert!(db.sessions().set_state(&key, SessionState::Disconnected, at(51, 0), &[]).await.unwrap());
    let logged_out = session_event(&key, SessionState::LoggedOut, at(52, 0));
    let pairing = session_event(&key, SessionState::Pairing, at(52, 1));
    let events = [logged_out.clone(), pairing.clone()];
    assert!(db.sessions().set_state(&key, SessionState::Pairing, at(52, 1), &events).await.unwrap());
    let expected: Vec<OutboxRow> = [&connected, &logged_out, &pairing].into_iter().map(OutboxRow::of).collect();
    assert_eq!(db.outbox().await, expected);
    assert_eq!(db.sessions().get(&key).await.unwrap().unwrap().state, SessionState::Pairing);

    // An event that cannot be stored (its id is taken) undoes the state change.
    let err = db
        .sessions()
        .set_state(&key, SessionState::Connected, at(53, 0), std::slice::from_ref(&connected))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("outbox"), "{err:#}");
    let stored = db.sessions().get(&key).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.updated_at), (SessionState::Pairing, at(52, 1)));
    assert_eq!(db.outbox().await, expected);
}

async fn set_state_on_a_missing_session_stores_no_event(db: TestDb) {
    let mine = given_session(&db, "main").await;
    let missing = session_key(mine.tenant, "missing");
    let event = session_event(&missing, SessionState::Connected, at(1, 0));
    assert!(!db.sessions().set_state(&missing, SessionState::Connected, at(1, 0), &[event]).await.unwrap());
    let intruder = given_tenant(&db).await;
    let theirs = session_key(intruder.id, "main");
    let event = session_event(&theirs, SessionState::LoggedOut, at(2, 0));
    assert!(!db.sessions().set_state(&theirs, SessionState::LoggedOut, at(2, 0), &[event]).await.unwrap());
    assert_eq!(db.outbox().await, vec![]);
    assert_eq!(db.sessions().get(&mine).await.unwrap(), Some(session(mine.clone())), "untouched");
}

async fn sessions_are_tenant_scoped(db: TestDb) {
    let mine = given_session(&db, "main").await;
    let status = given_status(&db, &mine, at(10, 0)).await;
    let intruder = given_tenant(&db).await;
    let theirs = session_key(intruder.id, "main");

    assert_eq!(db.sessions().get(&theirs).await.unwrap(), None);
    assert!(!db.sessions().set_state(&theirs, SessionState::LoggedOut, at(60, 0), &[]).await.unwrap());
    assert!(!db.sessions().delete(&theirs).await.unwrap());
    assert_eq!(db.sessions().list(intruder.id).await.unwrap(), vec![]);

    assert_eq!(db.sessions().get(&mine).await.unwrap(), Some(session(mine.clone())), "untouched");
    assert_eq!(db.statuses().get(mine.tenant, status.id()).await.unwrap(), Some(status));
}

async fn deleting_a_session_deletes_its_statuses(db: TestDb) {
    let doomed = given_session(&db, "doomed").await;
    let kept = given_session_of(&db, doomed.tenant, "kept").await;
    let mut doomed_statuses = vec![];
    for i in 0..3 {
        doomed_statuses.push(given_status(&db, &doomed, at(i, 0)).await);
    }
    let kept_status = given_status(&db, &kept, at(0, 0)).await;

    assert!(db.sessions().delete(&doomed).await.unwrap());

    assert_eq!(db.sessions().get(&doomed).await.unwrap(), None);
    for status in &doomed_statuses {
        assert_eq!(db.statuses().get(doomed.tenant, status.id()).await.unwrap(), None, "cascaded");
    }
    assert_eq!(db.statuses().list(&doomed, &StatusQuery::default()).await.unwrap().items, vec![]);
    assert_eq!(db.statuses().get(kept.tenant, kept_status.id()).await.unwrap(), Some(kept_status));
    assert!(db.sessions().get(&kept).await.unwrap().is_some());
    assert!(!db.sessions().delete(&doomed).await.unwrap(), "deleting twice finds nothing");

    // The id is free again, with no statuses left over.
    let reborn = given_session_of(&db, doomed.tenant, "doomed").await;
    assert_eq!(db.statuses().list(&reborn, &StatusQuery::default()).await.unwrap().items, vec![]);
}

async fn a_session_of_an_unknown_tenant_has_no_parent(db: TestDb) {
    let key = session_key(TenantId::from_uuid(Uuid::new_v4()), "main");
    let err = db.sessions().insert(&session(key.clone())).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    assert_eq!(db.sessions().get(&key).await.unwrap(), None);
}

async fn an_unknown_stored_state_is_a_storage_error(db: TestDb) {
    let key = given_session(&db, "main").await;
    db.raw("UPDATE sessions SET state = 'hibernating'").await;

    let err = db.sessions().get(&key).await.unwrap_err();
    assert!(format!("{err:#}").contains("hibernating"), "the cause names the value: {err:#}");
    assert!(db.sessions().list(key.tenant).await.is_err());
    assert!(db.sessions().list_all().await.is_err());
}

/// A session of `tenant` called `id`, owned by `owner`.
fn owned(tenant: TenantId, id: &str, owner: UserId) -> Session {
    Session { owner: Some(owner), ..session(session_key(tenant, id)) }
}

async fn sessions_are_found_by_owner(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let owner = given_user(&db, tenant.id).await;
    let without_device = given_user(&db, tenant.id).await;
    given_session_of(&db, tenant.id, "unowned").await;
    let device = owned(tenant.id, "phone", owner.id);
    db.sessions().insert(&device).await.unwrap();
    let their_owner = given_user(&db, other.id).await;
    let their_device = owned(other.id, "phone", their_owner.id);
    db.sessions().insert(&their_device).await.unwrap();

    assert_eq!(db.sessions().find_by_owner(tenant.id, owner.id).await.unwrap(), Some(device.clone()));
    assert_eq!(db.sessions().find_by_owner(other.id, their_owner.id).await.unwrap(), Some(their_device));
    assert_eq!(db.sessions().find_by_owner(tenant.id, without_device.id).await.unwrap(), None);
    assert_eq!(db.sessions().find_by_owner(other.id, owner.id).await.unwrap(), None, "another tenant's user");
    assert_eq!(db.sessions().find_by_owner(tenant.id, their_owner.id).await.unwrap(), None, "another tenant's");
    let unknown = UserId::from_uuid(Uuid::new_v4());
    assert_eq!(db.sessions().find_by_owner(tenant.id, unknown).await.unwrap(), None);

    // Once the device is deleted, the user has none, and may have a new one.
    assert!(db.sessions().delete(&device.key).await.unwrap());
    assert_eq!(db.sessions().find_by_owner(tenant.id, owner.id).await.unwrap(), None);
    let replacement = owned(tenant.id, "new-phone", owner.id);
    db.sessions().insert(&replacement).await.unwrap();
    assert_eq!(db.sessions().find_by_owner(tenant.id, owner.id).await.unwrap(), Some(replacement));
}

async fn a_user_owns_at_most_one_session(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let owner = given_user(&db, tenant.id).await;
    let first = owned(tenant.id, "phone", owner.id);
    db.sessions().insert(&first).await.unwrap();

    let second = owned(tenant.id, "tablet", owner.id);
    let err = db.sessions().insert(&second).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.sessions().get(&second.key).await.unwrap(), None);
    assert_eq!(db.sessions().find_by_owner(tenant.id, owner.id).await.unwrap(), Some(first.clone()), "untouched");

    // The same id with another owner is taken too.
    let someone = given_user(&db, tenant.id).await;
    let err = db.sessions().insert(&owned(tenant.id, "phone", someone.id)).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.sessions().find_by_owner(tenant.id, someone.id).await.unwrap(), None);
    assert_eq!(db.sessions().get(&first.key).await.unwrap(), Some(first));

    // Sessions without an owner do not conflict with each other.
    for id in ["a", "b", "c"] {
        given_session_of(&db, tenant.id, id).await;
    }
    assert_eq!(db.sessions().list(tenant.id).await.unwrap().len(), 4);
}

async fn an_owner_that_is_not_a_user_of_the_tenant_has_no_parent(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let other = given_tenant(&db).await;
    let their_user = given_user(&db, other.id).await;
    let cases = [
        ("an unknown user", owned(tenant.id, "phone", UserId::from_uuid(Uuid::new_v4()))),
        ("another tenant's user", owned(tenant.id, "phone", their_user.id)),
        ("an unknown tenant", owned(TenantId::from_uuid(Uuid::new_v4()), "phone", their_user.id)),
    ];
    for (case, orphan) in cases {
        let err = db.sessions().insert(&orphan).await.unwrap_err();
        assert!(matches!(err, InsertError::ParentMissing), "{case}: {err:?}");
        assert_eq!(db.sessions().get(&orphan.key).await.unwrap(), None, "{case}");
    }
    assert_eq!(db.sessions().list_all().await.unwrap(), vec![]);
    assert_eq!(db.sessions().find_by_owner(other.id, their_user.id).await.unwrap(), None);
}

/// Users are disabled, never deleted, by the app; should a row go, its session stays, unowned.
async fn deleting_a_user_row_leaves_its_session_without_owner(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let owner = given_user(&db, tenant.id).await;
    let device = owned(tenant.id, "phone", owner.id);
    db.sessions().insert(&device).await.unwrap();
    let status = given_status(&db, &device.key, at(3, 0)).await;

    db.raw(&format!("DELETE FROM users WHERE id = {}", db.uuid_literal(owner.id.as_uuid()))).await;

    assert_eq!(db.sessions().get(&device.key).await.unwrap(), Some(Session { owner: None, ..device.clone() }));
    assert_eq!(db.sessions().find_by_owner(tenant.id, owner.id).await.unwrap(), None);
    assert_eq!(db.statuses().get(tenant.id, status.id()).await.unwrap(), Some(status), "its statuses stay");
}
