//! `IdempotencyRepository`.

use std::future::Future;

use wastatus_domain::ports::{Begin, IdempotencyRepository, StoredResponse};
use wastatus_domain::{TenantId, Timestamp};
use wastatus_storage::Storage;

use crate::fixtures::{at, given_tenant};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    a_new_key_starts_and_its_answer_is_replayed,
    another_request_with_the_key_is_a_mismatch,
    keys_are_per_tenant_and_exact,
    an_expired_record_counts_as_absent,
    abandoning_frees_an_unanswered_key_only,
    only_a_started_key_is_answered,
    purging_deletes_expired_records_only,
    concurrent_begins_start_once,
    concurrent_begins_on_an_expired_key_start_once,
    unknown_stored_values_are_storage_errors,
);

const REQUEST: [u8; 32] = [0xA5; 32];
const OTHER_REQUEST: [u8; 32] = {
    let mut fingerprint = REQUEST;
    fingerprint[31] = 0xA6;
    fingerprint
};

fn response() -> StoredResponse {
    StoredResponse {
        status: 202,
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Location".to_owned(), "/v1/statuses/0190c5c4-aaaa-7000-8000-000000000000?x=\"1\"".to_owned()),
        ],
        // Any bytes, not only UTF-8.
        body: b"{\"id\":\"\xff\x00\"}".to_vec(),
    }
}

/// `begin` with the usual hour of validity.
async fn begin(db: &TestDb, tenant: TenantId, key: &str, fingerprint: &[u8; 32], now: Timestamp) -> Begin {
    db.idempotency().begin(tenant, key, fingerprint, now, now + chrono::Duration::hours(1)).await.unwrap()
}

async fn a_new_key_starts_and_its_answer_is_replayed(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    assert_eq!(begin(&db, tenant, "order-1", &REQUEST, at(0, 0)).await, Begin::Started);
    assert_eq!(begin(&db, tenant, "order-1", &REQUEST, at(1, 0)).await, Begin::InFlight);

    db.idempotency().complete(tenant, "order-1", &response()).await.unwrap();
    assert_eq!(begin(&db, tenant, "order-1", &REQUEST, at(2, 0)).await, Begin::Replay(response()));
    assert_eq!(begin(&db, tenant, "order-1", &REQUEST, at(3, 0)).await, Begin::Replay(response()), "again");

    // An answer without headers or body.
    assert_eq!(begin(&db, tenant, "order-2", &REQUEST, at(0, 0)).await, Begin::Started);
    let empty = StoredResponse { status: 204, headers: vec![], body: vec![] };
    db.idempotency().complete(tenant, "order-2", &empty).await.unwrap();
    assert_eq!(begin(&db, tenant, "order-2", &REQUEST, at(1, 0)).await, Begin::Replay(empty));
}

async fn another_request_with_the_key_is_a_mismatch(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    assert_eq!(begin(&db, tenant, "k", &REQUEST, at(0, 0)).await, Begin::Started);
    assert_eq!(begin(&db, tenant, "k", &OTHER_REQUEST, at(1, 0)).await, Begin::Mismatch, "while in flight");
    db.idempotency().complete(tenant, "k", &response()).await.unwrap();
    assert_eq!(begin(&db, tenant, "k", &OTHER_REQUEST, at(2, 0)).await, Begin::Mismatch, "once answered");
    assert_eq!(begin(&db, tenant, "k", &REQUEST, at(3, 0)).await, Begin::Replay(response()), "the record is kept");
}

async fn keys_are_per_tenant_and_exact(db: TestDb) {
    let mine = given_tenant(&db).await.id;
    let theirs = given_tenant(&db).await.id;
    assert_eq!(begin(&db, mine, "Key-1", &REQUEST, at(0, 0)).await, Begin::Started);
    db.idempotency().complete(mine, "Key-1", &response()).await.unwrap();

    assert_eq!(begin(&db, theirs, "Key-1", &OTHER_REQUEST, at(1, 0)).await, Begin::Started, "another tenant's key");
    for other_key in ["key-1", "Key-1 ", "Key_1", "Kéy-1"] {
        assert_eq!(begin(&db, mine, other_key, &REQUEST, at(1, 0)).await, Begin::Started, "{other_key:?}");
    }
    // The other tenant's record neither answers nor is touched by this tenant's calls.
    db.idempotency().abandon(mine, "Key-1").await.unwrap();
    db.idempotency().complete(theirs, "Key-1", &StoredResponse { status: 500, ..response() }).await.unwrap();
    assert_eq!(begin(&db, mine, "Key-1", &REQUEST, at(2, 0)).await, Begin::Replay(response()));
    let theirs_answer = StoredResponse { status: 500, ..response() };
    assert_eq!(begin(&db, theirs, "Key-1", &OTHER_REQUEST, at(2, 0)).await, Begin::Replay(theirs_answer));
}

async fn an_expired_record_counts_as_absent(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    let repo = db.idempotency();
    assert_eq!(repo.begin(tenant, "k", &REQUEST, at(0, 0), at(10, 0)).await.unwrap(), Begin::Started);
    assert_eq!(repo.begin(tenant, "k", &REQUEST, at(10, 0), at(20, 0)).await.unwrap(), Begin::InFlight, "live until");
    assert_eq!(
        repo.begin(tenant, "k", &OTHER_REQUEST, at(10, 1), at(30, 0)).await.unwrap(),
        Begin::Started,
        "an expired record in flight is replaced, whatever its request"
    );
    assert_eq!(repo.begin(tenant, "k", &REQUEST, at(11, 0), at(40, 0)).await.unwrap(), Begin::Mismatch);

    repo.complete(tenant, "k", &response()).await.unwrap();
    assert_eq!(repo.begin(tenant, "k", &OTHER_REQUEST, at(30, 0), at(90, 0)).await.unwrap(), Begin::Replay(response()));
    assert_eq!(
        repo.begin(tenant, "k", &OTHER_REQUEST, at(30, 1), at(60, 0)).await.unwrap(),
        Begin::Started,
        "an expired answer is forgotten"
    );
    assert_eq!(repo.begin(tenant, "k", &OTHER_REQUEST, at(31, 0), at(90, 0)).await.unwrap(), Begin::InFlight);
    assert_eq!(repo.begin(tenant, "k", &OTHER_REQUEST, at(59, 0), at(90, 0)).await.unwrap(), Begin::InFlight);
    assert_eq!(repo.begin(tenant, "k", &OTHER_REQUEST, at(61, 0), at(90, 0)).await.unwrap(), Begin::Started);
}

async fn abandoning_frees_an_unanswered_key_only(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    assert_eq!(begin(&db, tenant, "k", &REQUEST, at(0, 0)).await, Begin::Started);
    db.idempotency().abandon(tenant, "k").await.unwrap();
    assert_eq!(begin(&db, tenant, "k", &OTHER_REQUEST, at(1, 0)).await, Begin::Started, "the key is free again");

    db.idempotency().complete(tenant, "k", &response()).await.unwrap();
    db.idempotency().abandon(tenant, "k").await.unwrap();
    assert_eq!(begin(&db, tenant, "k", &OTHER_REQUEST, at(2, 0)).await, Begin::Replay(response()), "answered stays");
    db.idempotency().abandon(tenant, "never-used").await.unwrap();
}

async fn only_a_started_key_is_answered(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    db.idempotency().complete(tenant, "k", &response()).await.unwrap();
    assert_eq!(begin(&db, tenant, "k", &REQUEST, at(0, 0)).await, Begin::Started, "completing made no record");

    db.idempotency().complete(tenant, "k", &response()).await.unwrap();
    let second = StoredResponse { status: 409, headers: vec![], body: b"late".to_vec() };
    db.idempotency().complete(tenant, "k", &second).await.unwrap();
    assert_eq!(begin(&db, tenant, "k", &REQUEST, at(1, 0)).await, Begin::Replay(response()), "the first answer stays");
}

async fn purging_deletes_expired_records_only(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    let other = given_tenant(&db).await.id;
    let repo = db.idempotency();
    for (tenant, key, expires_at) in [(tenant, "a", at(5, 0)), (other, "b", at(10, 0)), (tenant, "c", at(20, 0))] {
        assert_eq!(repo.begin(tenant, key, &REQUEST, at(0, 0), expires_at).await.unwrap(), Begin::Started);
    }
    repo.complete(tenant, "a", &response()).await.unwrap();

    assert_eq!(repo.purge_expired(at(5, 0)).await.unwrap(), 0, "expiring now is not expired");
    assert_eq!(repo.purge_expired(at(10, 0)).await.unwrap(), 1, "an answered record goes too");
    assert_eq!(repo.purge_expired(at(10, 0)).await.unwrap(), 0);
    assert_eq!(repo.begin(other, "b", &OTHER_REQUEST, at(9, 0), at(99, 0)).await.unwrap(), Begin::Mismatch, "kept");
    assert_eq!(repo.purge_expired(at(30, 0)).await.unwrap(), 2);
    assert_eq!(repo.begin(tenant, "a", &OTHER_REQUEST, at(0, 0), at(99, 0)).await.unwrap(), Begin::Started);
}

/// Runs `begin` for one key in `tasks` tasks at once, half of them on a second storage (a
/// second process); returns what each got.
async fn begin_concurrently<F, Fut>(db: &TestDb, tasks: usize, begin: F) -> Vec<Begin>
where
    F: Fn(Storage) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Begin> + Send + 'static,
{
    let other = db.another_process().await;
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let storage = if i % 2 == 0 { db.storage.clone() } else { other.clone() };
            tokio::spawn(begin.clone()(storage))
        })
        .collect();
    let mut outcomes = vec![];
    for handle in handles {
        outcomes.push(handle.await.expect("a task"));
    }
    outcomes
}

async fn concurrent_begins_start_once(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    let outcomes = begin_concurrently(&db, 16, move |storage| async move {
        let repo: &dyn IdempotencyRepository = &storage;
        repo.begin(tenant, "race", &REQUEST, at(0, 0), at(60, 0)).await.unwrap()
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| **o == Begin::Started).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Begin::InFlight).count(), 15, "{outcomes:?}");
}

async fn concurrent_begins_on_an_expired_key_start_once(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    let repo = db.idempotency();
    assert_eq!(repo.begin(tenant, "race", &OTHER_REQUEST, at(0, 0), at(10, 0)).await.unwrap(), Begin::Started);
    repo.complete(tenant, "race", &response()).await.unwrap();

    let outcomes = begin_concurrently(&db, 16, move |storage| async move {
        let repo: &dyn IdempotencyRepository = &storage;
        repo.begin(tenant, "race", &REQUEST, at(20, 0), at(60, 0)).await.unwrap()
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| **o == Begin::Started).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Begin::InFlight).count(), 15, "{outcomes:?}");
}

async fn unknown_stored_values_are_storage_errors(db: TestDb) {
    let tenant = given_tenant(&db).await.id;
    let cases = [
        ("state = 'pending'", "pending"),
        ("fingerprint = 'not hex'", "idempotency_keys.fingerprint"),
        ("state = 'done', response_status = NULL", "idempotency_keys.response_status is NULL"),
        ("state = 'done', response_status = 70000, response_headers = '[]'", "70000"),
        ("state = 'done', response_status = 200, response_headers = '{}'", "response_headers"),
    ];
    for (assignment, clue) in cases {
        assert_eq!(begin(&db, tenant, "k", &REQUEST, at(0, 0)).await, Begin::Started);
        db.raw(&format!("UPDATE idempotency_keys SET {assignment}")).await;
        let err = db.idempotency().begin(tenant, "k", &REQUEST, at(1, 0), at(99, 0)).await.unwrap_err();
        assert!(format!("{err:#}").contains(clue), "after SET {assignment}, the cause names {clue:?}: {err:#}");
        db.raw("DELETE FROM idempotency_keys").await;
    }
}
