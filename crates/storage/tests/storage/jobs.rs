//! `StatusRepository` for statuses as jobs: schedules, prepared media, events in the outbox,
//! claiming due statuses and reclaiming expired leases.

use std::collections::HashSet;
use std::future::Future;

use uuid::Uuid;
use wastatus_domain::ports::{InsertError, StatusRepository};
use wastatus_domain::{
    Event, EventId, EventKind, Failure, FailureCode, MediaKind, MessageId, Plan, SessionKey, Status, StatusId,
    StatusState, Timestamp,
};
use wastatus_storage::Storage;

use crate::fixtures::{
    at, given_session, given_session_of, given_status, given_tenant, image, job_of, prepared, session_key, status,
    status_of, text, video,
};
use crate::harness::{OutboxRow, TestDb, storage_tests};

storage_tests!(
    schedules_round_trip_through_retries,
    media_is_kept_until_the_status_is_settled,
    media_that_does_not_fit_the_status_is_refused,
    a_status_and_its_media_are_inserted_together_or_not_at_all,
    events_are_stored_with_the_update,
    no_event_is_stored_when_the_update_does_not_apply,
    a_failing_event_rolls_the_update_back,
    due_statuses_are_claimed_oldest_first_up_to_the_limit,
    scheduled_statuses_are_not_claimed_before_their_time,
    concurrent_claimers_never_share_a_status,
    only_expired_leases_are_reclaimed,
    concurrent_reclaimers_never_share_a_status,
    the_lease_lasts_while_sending_only,
    next_due_is_the_earliest_waiting_status,
);

fn message_id() -> MessageId {
    MessageId::new("3EB0A1B2C3D4E5F6A7B8C9D0").unwrap()
}

fn event(kind: EventKind, status: &Status) -> Event {
    Event::of_status(EventId::from_uuid(Uuid::now_v7()), kind, status, status.updated_at())
}

fn transient() -> Failure {
    Failure { code: FailureCode::DeviceDisconnected, message: "the session is not connected".to_owned() }
}

/// A queued job (several attempts) of `session`, due at `due`.
fn queued(session: &SessionKey, due: Timestamp) -> Status {
    job_of(session, text("Queued"), Plan { publish_at: None, max_attempts: 3 }, due)
}

/// Stores `status`, without media or lease.
async fn store(db: &TestDb, status: &Status) {
    db.statuses().insert(status, None, None).await.unwrap();
}

async fn stored(db: &TestDb, status: &Status) -> Option<Status> {
    db.statuses().get(status.session().tenant, status.id()).await.unwrap()
}

/// Stores `status` as `sending`, leased until `lease_until` (as a publish sent at once is).
async fn store_sending(db: &TestDb, status: &mut Status, lease_until: Option<Timestamp>) {
    status.start_sending(status.created_at()).unwrap();
    db.statuses().insert(status, None, lease_until).await.unwrap();
}

async fn schedules_round_trip_through_retries(db: TestDb) {
    let session = given_session(&db, "main").await;
    let plan = Plan { publish_at: Some(at(60, 5)), max_attempts: 2 };
    let mut status = job_of(&session, text("Later"), plan, at(0, 0));
    assert_eq!(status.state(), StatusState::Scheduled);
    store(&db, &status).await;
    assert_eq!(stored(&db, &status).await.as_ref(), Some(&status));

    let claimed = db.statuses().claim_due(at(61, 0), at(90, 0), 10).await.unwrap();
    status.start_sending(at(61, 0)).unwrap();
    assert_eq!(claimed, vec![status.clone()]);

    assert!(status.attempt_failed(transient(), at(70, 7), at(62, 0)).unwrap(), "one attempt is left");
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    let retried = stored(&db, &status).await.unwrap();
    assert_eq!(retried, status);
    assert_eq!(retried.schedule().next_attempt_at, at(70, 7));
    assert_eq!((retried.schedule().attempts, retried.schedule().max_attempts), (1, 2));
    assert_eq!(retried.schedule().publish_at, Some(at(60, 5)));
    assert_eq!(retried.failure(), Some(&transient()), "the last attempt's failure is kept while it waits");

    let claimed = db.statuses().claim_due(at(70, 7), at(99, 0), 10).await.unwrap();
    status.start_sending(at(70, 7)).unwrap();
    assert_eq!(claimed, vec![status.clone()]);
    assert!(!status.attempt_failed(transient(), at(80, 0), at(71, 0)).unwrap(), "no attempt is left");
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    assert_eq!(stored(&db, &status).await.unwrap(), status);
    assert_eq!(status.state(), StatusState::Failed);
}

async fn media_is_kept_until_the_status_is_settled(db: TestDb) {
    let session = given_session(&db, "main").await;
    let queued_plan = Plan { publish_at: None, max_attempts: 3 };
    for (i, outcome) in (0..).zip(["published", "failed", "retried, then cancelled"]) {
        let (content, kind) =
            if i % 2 == 0 { (image("x"), MediaKind::Image) } else { (video("y", 12), MediaKind::Video) };
        let mut status = job_of(&session, content, queued_plan, at(i, 0));
        let media = prepared(kind);
        db.statuses().insert(&status, Some(&media), None).await.unwrap();
        assert_eq!(db.statuses().media(status.id()).await.unwrap().as_ref(), Some(&media), "{outcome}");
        assert_eq!(stored(&db, &status).await.as_ref(), Some(&status), "{outcome}");

        status.start_sending(at(8, 0)).unwrap();
        assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
        assert_eq!(db.statuses().media(status.id()).await.unwrap().as_ref(), Some(&media), "kept while sending");

        match outcome {
            "published" => status.mark_published(message_id(), Default::default(), at(9, 0)).unwrap(),
            "failed" => status.mark_failed(transient(), at(9, 0)).unwrap(),
            _ => assert!(status.attempt_failed(transient(), at(20, 0), at(9, 0)).unwrap()),
        }
        assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
        if status.state() == StatusState::Accepted {
            assert_eq!(db.statuses().media(status.id()).await.unwrap().as_ref(), Some(&media), "kept for a retry");
            status.cancel(at(10, 0)).unwrap();
            assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
        }
        assert!(status.state().is_settled());
        assert_eq!(db.statuses().media(status.id()).await.unwrap(), None, "dropped once {outcome}");
        assert_eq!(stored(&db, &status).await.as_ref(), Some(&status), "the status itself stays");
    }

    // Media with no placeholder thumbnail, no bytes and the largest numbers a column holds.
    let extreme = wastatus_domain::PreparedMedia {
        bytes: bytes::Bytes::new(),
        width: i32::MAX.unsigned_abs(),
        height: 0,
        duration_secs: Some(i32::MAX.unsigned_abs()),
        thumbnail_is_placeholder: false,
        ..prepared(MediaKind::Video)
    };
    let status = status_of(&session, video("", 1), at(20, 0));
    db.statuses().insert(&status, Some(&extreme), None).await.unwrap();
    assert_eq!(db.statuses().media(status.id()).await.unwrap(), Some(extreme));

    // A status stored settled keeps no media.
    let mut settled = status_of(&session, image(""), at(22, 0));
    settled.mark_failed(transient(), at(22, 1)).unwrap();
    db.statuses().insert(&settled, Some(&prepared(MediaKind::Image)), None).await.unwrap();
    assert_eq!(stored(&db, &settled).await.as_ref(), Some(&settled));
    assert_eq!(db.statuses().media(settled.id()).await.unwrap(), None);

    let text_status = given_status(&db, &session, at(21, 0)).await;
    assert_eq!(db.statuses().media(text_status.id()).await.unwrap(), None);
    assert_eq!(db.statuses().media(StatusId::from_uuid(Uuid::new_v4())).await.unwrap(), None);
}

async fn media_that_does_not_fit_the_status_is_refused(db: TestDb) {
    let session = given_session(&db, "main").await;
    let too_large = wastatus_domain::PreparedMedia { width: u32::MAX, ..prepared(MediaKind::Image) };
    let cases = [
        (status(&session, at(0, 0)), prepared(MediaKind::Image), "text status"),
        (status_of(&session, image(""), at(1, 0)), prepared(MediaKind::Video), "image status"),
        (status_of(&session, video("", 3), at(2, 0)), prepared(MediaKind::Image), "video status"),
        (status_of(&session, image(""), at(3, 0)), too_large, "status_media.width"),
    ];
    for (status, media, clue) in cases {
        let err = db.statuses().insert(&status, Some(&media), None).await.unwrap_err();
        let InsertError::Storage(err) = err else { panic!("{clue}: a storage error, not {err:?}") };
        assert!(format!("{err:#}").contains(clue), "the cause names {clue:?}: {err:#}");
        assert_eq!(stored(&db, &status).await, None, "{clue}: nothing is stored");
        assert_eq!(db.statuses().media(status.id()).await.unwrap(), None, "{clue}");
    }
}

async fn a_status_and_its_media_are_inserted_together_or_not_at_all(db: TestDb) {
    let session = given_session(&db, "main").await;
    let tenant = session.tenant;
    let nowhere = session_key(tenant, "nowhere");
    let orphan = status_of(&nowhere, image("x"), at(0, 0));
    let err = db.statuses().insert(&orphan, Some(&prepared(MediaKind::Image)), None).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    assert_eq!(db.statuses().media(orphan.id()).await.unwrap(), None);

    let first = status_of(&session, image("first"), at(1, 0));
    let media = prepared(MediaKind::Image);
    db.statuses().insert(&first, Some(&media), None).await.unwrap();
    let other = given_session_of(&db, tenant, "other").await;
    let again = wastatus_domain::PreparedMedia { mime_type: "image/png".to_owned(), ..media.clone() };
    let duplicate =
        Status::from_record(wastatus_domain::StatusRecord { session: other, ..crate::statuses::record(&first) });
    let err = db.statuses().insert(&duplicate, Some(&again), None).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.statuses().media(first.id()).await.unwrap(), Some(media), "the first media stays");
    assert_eq!(stored(&db, &first).await, Some(first));
}

async fn events_are_stored_with_the_update(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut sent = status_of(&session, image("Weekend vibes"), at(0, 0));
    store_sending(&db, &mut sent, Some(at(100, 0))).await;
    sent.mark_published(message_id(), Default::default(), at(1, 5)).unwrap();
    let published = event(EventKind::StatusPublished, &sent);
    assert!(db.statuses().update(&sent, StatusState::Sending, std::slice::from_ref(&published)).await.unwrap());
    assert_eq!(db.outbox().await, vec![OutboxRow::of(&published)]);
    let summary = published.status.as_ref().unwrap();
    assert_eq!(summary.message_id.as_deref(), Some(message_id().as_str()));
    assert_eq!(summary.media_url.as_deref(), Some("https://cdn.example.com/summer/launch.jpg?v=2&size=full"));

    // Several events with one update; a status of another session and tenant.
    let elsewhere = given_session(&db, "elsewhere").await;
    let mut other = status(&elsewhere, at(2, 0));
    store(&db, &other).await;
    other.mark_failed(transient(), at(3, 0)).unwrap();
    let failed = event(EventKind::StatusFailed, &other);
    let extra = Event { id: EventId::from_uuid(Uuid::now_v7()), occurred_at: at(3, 1), ..failed.clone() };
    assert!(db.statuses().update(&other, StatusState::Accepted, &[failed.clone(), extra.clone()]).await.unwrap());
    let outbox = db.outbox().await;
    assert_eq!(outbox, vec![OutboxRow::of(&published), OutboxRow::of(&failed), OutboxRow::of(&extra)]);
    assert_eq!(outbox[1].tenant, *elsewhere.tenant.as_uuid());
    assert_eq!(outbox[1].event.status.as_ref().unwrap().failure_code, Some(FailureCode::DeviceDisconnected));
}

async fn no_event_is_stored_when_the_update_does_not_apply(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = given_status(&db, &session, at(0, 0)).await;
    status.start_sending(at(1, 0)).unwrap();
    status.mark_published(message_id(), Default::default(), at(2, 0)).unwrap();
    let published = event(EventKind::StatusPublished, &status);
    // Stored as `accepted`, not `sending`: the compare-and-set fails.
    assert!(!db.statuses().update(&status, StatusState::Sending, std::slice::from_ref(&published)).await.unwrap());
    assert_eq!(db.outbox().await, vec![]);
    assert_eq!(stored(&db, &status).await.unwrap().state(), StatusState::Accepted);

    // A status that does not exist, and one claimed through another tenant's session.
    let ghost = status_of(&session, text("ghost"), at(3, 0));
    assert!(
        !db.statuses().update(&ghost, StatusState::Accepted, &[event(EventKind::StatusFailed, &ghost)]).await.unwrap()
    );
    let intruder = given_session(&db, "main").await;
    let forged =
        Status::from_record(wastatus_domain::StatusRecord { session: intruder, ..crate::statuses::record(&status) });
    assert!(
        !db.statuses()
            .update(&forged, StatusState::Accepted, &[event(EventKind::StatusPublished, &forged)])
            .await
            .unwrap()
    );
    assert_eq!(db.outbox().await, vec![]);
    assert_eq!(stored(&db, &status).await.unwrap().state(), StatusState::Accepted);
}

async fn a_failing_event_rolls_the_update_back(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = status_of(&session, video("", 4), at(0, 0));
    let media = prepared(MediaKind::Video);
    status.start_sending(at(0, 0)).unwrap();
    db.statuses().insert(&status, Some(&media), Some(at(50, 0))).await.unwrap();
    let before = stored(&db, &status).await.unwrap();

    status.mark_published(message_id(), Default::default(), at(1, 0)).unwrap();
    let published = event(EventKind::StatusPublished, &status);
    // The same event twice: the second outbox row breaks the primary key.
    let err = db.statuses().update(&status, StatusState::Sending, &[published.clone(), published]).await.unwrap_err();
    assert!(format!("{err:#}").contains("outbox"), "{err:#}");
    assert_eq!(stored(&db, &status).await, Some(before), "the status is as it was");
    assert_eq!(db.statuses().media(status.id()).await.unwrap(), Some(media), "and so is its media");
    assert_eq!(db.outbox().await, vec![]);
    let lease = db.statuses().reclaim_expired(at(49, 0), at(60, 0), 10).await.unwrap();
    assert_eq!(lease, vec![], "the lease is as it was");
}

async fn due_statuses_are_claimed_oldest_first_up_to_the_limit(db: TestDb) {
    let session = given_session(&db, "main").await;
    let other_tenant = given_session(&db, "other").await;
    let mut due = vec![];
    // Due times out of order, ties included; two tenants: workers serve every tenant.
    for (session, secs) in [(&session, 5), (&other_tenant, 1), (&session, 3), (&session, 3), (&other_tenant, 4)] {
        let status = queued(session, at(secs, 0));
        store(&db, &status).await;
        due.push(status);
    }
    // Due: a schedule whose time came (due at 2s), and a retry (due at 6s).
    let scheduled = job_of(&session, text("at 2s"), Plan { publish_at: Some(at(2, 0)), max_attempts: 1 }, at(0, 0));
    store(&db, &scheduled).await;
    due.push(scheduled);
    let mut retry = queued(&session, at(0, 500));
    store(&db, &retry).await;
    retry.start_sending(at(0, 600)).unwrap();
    retry.attempt_failed(transient(), at(6, 0), at(0, 700)).unwrap();
    assert!(db.statuses().update(&retry, StatusState::Accepted, &[]).await.unwrap());
    due.push(retry);
    // Not due: later, or in a state workers do not take.
    store(&db, &queued(&session, at(7, 1))).await;
    let mut not_waiting = vec![];
    for i in 0..4 {
        let mut status = queued(&session, at(0, i));
        store(&db, &status).await;
        let from = status.state();
        match i {
            0 => status.cancel(at(1, 0)).unwrap(),
            1 => status.mark_failed(transient(), at(1, 0)).unwrap(),
            2 => {
                status.start_sending(at(1, 0)).unwrap();
                status.mark_published(message_id(), Default::default(), at(1, 1)).unwrap();
            }
            _ => status.start_sending(at(1, 0)).unwrap(),
        }
        assert!(db.statuses().update(&status, from, &[]).await.unwrap());
        not_waiting.push(status);
    }

    let now = at(7, 0);
    due.sort_by_key(|s| (s.schedule().next_attempt_at, s.id()));
    let expected: Vec<Status> = due
        .into_iter()
        .map(|mut s| {
            s.start_sending(now).unwrap();
            s
        })
        .collect();
    assert_eq!(db.statuses().claim_due(now, at(60, 0), 0).await.unwrap(), vec![], "a limit of none claims none");
    let first = db.statuses().claim_due(now, at(60, 0), 3).await.unwrap();
    assert_eq!(first, expected[..3]);
    let rest = db.statuses().claim_due(now, at(60, 0), 100).await.unwrap();
    assert_eq!(rest, expected[3..]);
    assert_eq!(db.statuses().claim_due(now, at(60, 0), 100).await.unwrap(), vec![], "each is claimed once");
    for status in expected.iter().chain(&not_waiting) {
        assert_eq!(stored(&db, status).await.as_ref(), Some(status), "as claimed, or untouched");
    }
    let retried = expected.iter().find(|s| s.schedule().next_attempt_at == at(6, 0)).unwrap();
    assert_eq!(retried.schedule().attempts, 2, "a claim counts an attempt");
}

async fn scheduled_statuses_are_not_claimed_before_their_time(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut later = job_of(&session, text("noon"), Plan { publish_at: Some(at(100, 0)), max_attempts: 3 }, at(0, 0));
    store(&db, &later).await;
    assert_eq!(later.state(), StatusState::Scheduled);

    assert_eq!(db.statuses().claim_due(at(99, 999_999), at(200, 0), 10).await.unwrap(), vec![]);
    assert_eq!(stored(&db, &later).await.as_ref(), Some(&later));
    let claimed = db.statuses().claim_due(at(100, 0), at(200, 0), 10).await.unwrap();
    later.start_sending(at(100, 0)).unwrap();
    assert_eq!(claimed, vec![later], "due at its time exactly");
}

/// Claims with `claim` in `tasks` tasks, half on `db`'s storage and half on a second storage (a
/// second process), each until nothing is left; returns the ids claimed, duplicates included.
async fn claim_concurrently<F, Fut>(db: &TestDb, tasks: usize, limit: usize, claim: F) -> Vec<StatusId>
where
    F: Fn(Storage) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Vec<Status>> + Send + 'static,
{
    let other = db.another_process().await;
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let storage = if i % 2 == 0 { db.storage.clone() } else { other.clone() };
            let claim = claim.clone();
            tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let batch = claim(storage.clone()).await;
                    assert!(batch.len() <= limit, "{} claimed at once, over the limit of {limit}", batch.len());
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.iter().map(Status::id));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut claimed = vec![];
    for handle in handles {
        claimed.extend(handle.await.expect("a claimer"));
    }
    claimed
}

async fn concurrent_claimers_never_share_a_status(db: TestDb) {
    let sessions = [given_session(&db, "a").await, given_session(&db, "b").await];
    let mut ids = HashSet::new();
    for i in 0..100 {
        let status = queued(&sessions[i % 2], at(i64::try_from(i % 7).unwrap(), 0));
        store(&db, &status).await;
        ids.insert(status.id());
    }

    let claimed = claim_concurrently(&db, 8, 7, |storage| async move {
        let statuses: &dyn StatusRepository = &storage;
        statuses.claim_due(at(10, 0), at(100, 0), 7).await.expect("claim")
    })
    .await;
    assert_eq!(claimed.len(), 100, "every status once, none twice");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
    for id in ids {
        let status = db.statuses().get(sessions[0].tenant, id).await.unwrap();
        let status = match status {
            Some(status) => status,
            None => db.statuses().get(sessions[1].tenant, id).await.unwrap().unwrap(),
        };
        assert_eq!((status.state(), status.schedule().attempts), (StatusState::Sending, 1));
    }
}

async fn only_expired_leases_are_reclaimed(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut leased = vec![];
    for (i, lease) in [(0, at(10, 0)), (1, at(20, 0)), (2, at(30, 0))] {
        let mut status = status(&session, at(i, 0));
        store_sending(&db, &mut status, Some(lease)).await;
        leased.push(status);
    }
    // Left `sending` without a lease (a row from before leases existed): expired.
    let mut unleased = status(&session, at(3, 0));
    store_sending(&db, &mut unleased, None).await;
    // Waiting or settled statuses have no lease to expire.
    let waiting = given_status(&db, &session, at(4, 0)).await;
    let mut settled = status(&session, at(5, 0));
    store_sending(&db, &mut settled, Some(at(1, 0))).await;
    settled.mark_published(message_id(), Default::default(), at(5, 1)).unwrap();
    assert!(db.statuses().update(&settled, StatusState::Sending, &[]).await.unwrap());

    let mut reclaimed = db.statuses().reclaim_expired(at(20, 0), at(200, 0), 10).await.unwrap();
    reclaimed.sort_by_key(Status::created_at);
    assert_eq!(reclaimed, vec![leased[0].clone(), unleased.clone()], "expired before now; a lease ending now is not");
    for status in [&leased[0], &unleased, &waiting, &settled] {
        assert_eq!(stored(&db, status).await.as_ref(), Some(status), "re-leasing changes nothing else");
    }
    assert_eq!(db.statuses().reclaim_expired(at(20, 0), at(200, 0), 10).await.unwrap(), vec![], "leased again");

    let one = db.statuses().reclaim_expired(at(100, 0), at(300, 0), 1).await.unwrap();
    assert_eq!(one, vec![leased[1].clone()], "the oldest lease first, up to the limit");
    assert_eq!(db.statuses().reclaim_expired(at(100, 0), at(300, 0), 0).await.unwrap(), vec![]);
    assert_eq!(db.statuses().reclaim_expired(at(100, 0), at(300, 0), 5).await.unwrap(), vec![leased[2].clone()]);
    let mut all = db.statuses().reclaim_expired(at(200, 1), at(400, 0), 5).await.unwrap();
    all.sort_by_key(Status::created_at);
    assert_eq!(all, vec![leased[0].clone(), unleased], "the new leases ran out in turn");
}

async fn concurrent_reclaimers_never_share_a_status(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut ids = HashSet::new();
    for i in 0..60 {
        let mut status = status(&session, at(i, 0));
        let lease = if i % 10 == 0 { None } else { Some(at(i, 1)) };
        store_sending(&db, &mut status, lease).await;
        ids.insert(status.id());
    }

    let reclaimed = claim_concurrently(&db, 4, 4, |storage| async move {
        let statuses: &dyn StatusRepository = &storage;
        statuses.reclaim_expired(at(100, 0), at(1000, 0), 4).await.expect("reclaim")
    })
    .await;
    assert_eq!(reclaimed.len(), 60, "every status once, none twice");
    assert_eq!(reclaimed.into_iter().collect::<HashSet<_>>(), ids);
}

async fn the_lease_lasts_while_sending_only(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = queued(&session, at(0, 0));
    // A lease given with a status that is not `sending` is not kept.
    db.statuses().insert(&status, None, Some(at(1, 0))).await.unwrap();
    let claimed = db.statuses().claim_due(at(2, 0), at(50, 0), 1).await.unwrap();
    status.start_sending(at(2, 0)).unwrap();
    assert_eq!(claimed, vec![status.clone()]);
    assert_eq!(db.statuses().reclaim_expired(at(49, 0), at(60, 0), 1).await.unwrap(), vec![], "leased by the claim");

    // Saving a `sending` status keeps its lease.
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    assert_eq!(db.statuses().reclaim_expired(at(50, 0), at(60, 0), 1).await.unwrap(), vec![]);

    // Back to `accepted` for a retry: the lease goes, so a later claim takes it, not a reclaim.
    assert!(status.attempt_failed(transient(), at(70, 0), at(3, 0)).unwrap());
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    assert_eq!(db.statuses().reclaim_expired(at(1000, 0), at(2000, 0), 1).await.unwrap(), vec![]);
    let lease_cleared = db
        .raw_text(
            "SELECT CAST(COUNT(*) AS TEXT) AS n FROM statuses WHERE lease_until IS NULL AND state = 'accepted'",
            "n",
        )
        .await;
    assert_eq!(lease_cleared, "1");
    let claimed = db.statuses().claim_due(at(70, 0), at(100, 0), 1).await.unwrap();
    status.start_sending(at(70, 0)).unwrap();
    assert_eq!(claimed, vec![status.clone()]);
    let reclaimed = db.statuses().reclaim_expired(at(100, 1), at(200, 0), 1).await.unwrap();
    assert_eq!(reclaimed, vec![status.clone()], "the second claim's lease");

    status.mark_published(message_id(), Default::default(), at(101, 0)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    let leases = db.raw_text("SELECT CAST(COUNT(lease_until) AS TEXT) AS n FROM statuses", "n").await;
    assert_eq!(leases, "0", "a settled status has no lease");
}

async fn next_due_is_the_earliest_waiting_status(db: TestDb) {
    assert_eq!(db.statuses().next_due().await.unwrap(), None, "nothing stored");
    let tenant = given_tenant(&db).await;
    let session = given_session_of(&db, tenant.id, "main").await;
    let mut sending = status(&session, at(0, 0));
    store_sending(&db, &mut sending, Some(at(1, 0))).await;
    assert_eq!(db.statuses().next_due().await.unwrap(), None, "nothing waits");

    store(&db, &queued(&session, at(30, 0))).await;
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(30, 0)));
    let plan = Plan { publish_at: Some(at(20, 7)), max_attempts: 1 };
    store(&db, &job_of(&session, text("scheduled"), plan, at(10, 0))).await;
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(20, 7)), "a scheduled status counts");
    let mut cancelled = queued(&session, at(5, 0));
    store(&db, &cancelled).await;
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(5, 0)));
    cancelled.cancel(at(6, 0)).unwrap();
    assert!(db.statuses().update(&cancelled, StatusState::Accepted, &[]).await.unwrap());
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(20, 7)), "a cancelled status does not");

    // Not due yet, or overdue: next_due says when, whatever now is.
    assert_eq!(db.statuses().claim_due(at(25, 0), at(99, 0), 10).await.unwrap().len(), 1);
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(30, 0)));
    assert_eq!(db.statuses().claim_due(at(40, 0), at(99, 0), 10).await.unwrap().len(), 1);
    assert_eq!(db.statuses().next_due().await.unwrap(), None);
}
