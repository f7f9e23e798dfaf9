//! `StatusRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{
    BackgroundColor, Cursor, Failure, FailureCode, Font, MessageId, PageLimit, SessionKey, Status, StatusContent,
    StatusId, StatusQuery, StatusRecord, StatusState, StatusText, TextStatus, Timestamp,
};

use crate::fixtures::{at, given_session, given_session_of, given_status, given_tenant, session_key, status};
use crate::harness::{TestDb, storage_tests};

storage_tests!(
    statuses_round_trip_through_their_lifecycle,
    failed_statuses_keep_their_failure,
    a_taken_status_id_already_exists,
    a_status_of_an_unknown_session_has_no_parent,
    statuses_are_tenant_scoped,
    history_pages_newest_first_breaking_ties_by_id,
    history_filters_by_state,
    history_is_scoped_to_the_session,
    timestamps_round_trip_to_the_microsecond,
    timestamps_sort_to_the_microsecond,
    concurrent_writers_wait_for_each_other,
    unknown_stored_values_are_storage_errors,
    updates_apply_only_from_the_expected_state,
);

fn message_id() -> MessageId {
    MessageId::new("3EB0A1B2C3D4E5F6A7B8C9D0").unwrap()
}

async fn statuses_round_trip_through_their_lifecycle(db: TestDb) {
    let session = given_session(&db, "main").await;
    let content = StatusContent::Text(TextStatus {
        text: StatusText::new("Flash sale 🌴 ends tonight!\nÜber-deals").unwrap(),
        background_color: BackgroundColor::from_argb(0x80FF_0000),
        font: Font::CourierprimeBold,
    });
    let mut status = Status::accept(StatusId::from_uuid(Uuid::now_v7()), session.clone(), content, true, at(0, 1));
    db.statuses().insert(&status).await.unwrap();
    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));

    status.start_sending(at(1, 2)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted).await.unwrap());
    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));

    status.mark_published(message_id(), at(2, 3)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Sending).await.unwrap());
    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));

    status.mark_revoked(at(3, 4)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Published).await.unwrap());
    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored, status);
    assert_eq!(stored.state(), StatusState::Revoked);
    assert_eq!(stored.message_id(), Some(&message_id()));
    assert_eq!((stored.published_at(), stored.revoked_at()), (Some(at(2, 3)), Some(at(3, 4))));
}

async fn failed_statuses_keep_their_failure(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = given_status(&db, &session, at(0, 0)).await;
    status.start_sending(at(1, 0)).unwrap();
    let failure = Failure { code: FailureCode::UploadTimeout, message: "media upload timed out".to_owned() };
    status.mark_failed(failure.clone(), at(2, 0)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted).await.unwrap());

    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored.failure(), Some(&failure));
    assert_eq!(stored, status);
}

async fn a_taken_status_id_already_exists(db: TestDb) {
    let session = given_session(&db, "main").await;
    let first = given_status(&db, &session, at(0, 0)).await;
    let other_session = given_session_of(&db, session.tenant, "other").await;
    let again = Status::from_record(StatusRecord { session: other_session, created_at: at(9, 0), ..record(&first) });

    let err = db.statuses().insert(&again).await.unwrap_err();
    assert!(matches!(err, InsertError::AlreadyExists), "{err:?}");
    assert_eq!(db.statuses().get(session.tenant, first.id()).await.unwrap(), Some(first));
}

async fn a_status_of_an_unknown_session_has_no_parent(db: TestDb) {
    let tenant = given_tenant(&db).await;
    let nowhere = session_key(tenant.id, "nowhere");
    // Several at once: every insert, however they are scheduled, must meet the foreign key.
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let storage = db.storage.clone();
            let status = status(&nowhere, at(0, 0));
            tokio::spawn(async move {
                let statuses: &dyn wastatus_domain::ports::StatusRepository = &storage;
                statuses.insert(&status).await
            })
        })
        .collect();
    for attempt in attempts {
        let err = attempt.await.unwrap().unwrap_err();
        assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
    }
    assert_eq!(db.statuses().list(&nowhere, &StatusQuery::default()).await.unwrap().items, vec![]);

    // Another tenant's session is no parent either: the key is (tenant, session).
    let theirs = given_session(&db, "shared-name").await;
    let mine = session_key(tenant.id, theirs.id.as_str());
    let err = db.statuses().insert(&status(&mine, at(0, 0))).await.unwrap_err();
    assert!(matches!(err, InsertError::ParentMissing), "{err:?}");
}

async fn statuses_are_tenant_scoped(db: TestDb) {
    let mine = given_session(&db, "main").await;
    let status = given_status(&db, &mine, at(0, 0)).await;
    let intruder = given_tenant(&db).await;
    let theirs = given_session_of(&db, intruder.id, "main").await;

    assert_eq!(db.statuses().get(intruder.id, status.id()).await.unwrap(), None);
    assert_eq!(db.statuses().list(&theirs, &StatusQuery::default()).await.unwrap().items, vec![]);

    // The same id, claimed through another tenant's session, updates nothing.
    let mut forged = Status::from_record(StatusRecord { session: theirs, ..record(&status) });
    forged.start_sending(at(1, 0)).unwrap();
    assert!(!db.statuses().update(&forged, StatusState::Accepted).await.unwrap());
    assert_eq!(db.statuses().get(mine.tenant, status.id()).await.unwrap(), Some(status));
}

async fn history_pages_newest_first_breaking_ties_by_id(db: TestDb) {
    let session = given_session(&db, "main").await;
    // Three statuses share one instant and two share another, so page boundaries fall inside
    // groups of ties.
    let mut expected = vec![];
    for created_at in [at(0, 0), at(1, 0), at(1, 0), at(1, 0), at(2, 0), at(2, 0), at(3, 0), at(4, 0)] {
        expected.push(given_status(&db, &session, created_at).await);
    }
    expected.sort_by_key(|s| std::cmp::Reverse((s.created_at(), s.id())));

    let pages =
        all_pages(&db, &session, StatusQuery { limit: PageLimit::new(3).unwrap(), ..StatusQuery::default() }).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 2]);
    assert_eq!(pages.concat(), expected);

    // A limit that divides the count exactly: the last full page says there is no more.
    let pages =
        all_pages(&db, &session, StatusQuery { limit: PageLimit::new(4).unwrap(), ..StatusQuery::default() }).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4]);
    assert_eq!(pages.concat(), expected);

    let one_page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
    assert_eq!((one_page.items, one_page.next), (expected.clone(), None));

    // A cursor is a position, not an item: it works even if its status is gone.
    let gone = Cursor { created_at: at(1, 0), id: StatusId::from_uuid(Uuid::max()) };
    let after_gone = StatusQuery { after: Some(gone), ..StatusQuery::default() };
    let rest = db.statuses().list(&session, &after_gone).await.unwrap();
    let older: Vec<Status> = expected.iter().filter(|s| s.created_at() <= at(1, 0)).cloned().collect();
    assert_eq!(rest.items, older);
}

async fn history_filters_by_state(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut published = vec![];
    for i in 0..7 {
        let mut status = given_status(&db, &session, at(i, 0)).await;
        match i % 3 {
            0 => {
                status.start_sending(at(i, 1)).unwrap();
                status.mark_published(message_id(), at(i, 2)).unwrap();
                published.push(status.clone());
            }
            1 => status.mark_failed(Failure { code: FailureCode::NotPaired, message: "no".into() }, at(i, 1)).unwrap(),
            _ => {}
        }
        db.statuses().update(&status, StatusState::Accepted).await.unwrap();
    }
    published.reverse();

    let query = StatusQuery {
        limit: PageLimit::new(2).unwrap(),
        state: Some(StatusState::Published),
        ..StatusQuery::default()
    };
    let pages = all_pages(&db, &session, query).await;
    assert_eq!(pages.concat(), published);
    assert_eq!(pages.len(), 2, "three published statuses in pages of two");

    let revoked = StatusQuery { state: Some(StatusState::Revoked), ..StatusQuery::default() };
    let page = db.statuses().list(&session, &revoked).await.unwrap();
    assert_eq!((page.items, page.next), (vec![], None));
}

async fn history_is_scoped_to_the_session(db: TestDb) {
    let session = given_session(&db, "main").await;
    let sibling = given_session_of(&db, session.tenant, "sibling").await;
    let namesake_tenant = given_tenant(&db).await;
    let namesake = given_session_of(&db, namesake_tenant.id, "main").await;
    let mine = given_status(&db, &session, at(0, 0)).await;
    given_status(&db, &sibling, at(1, 0)).await;
    given_status(&db, &namesake, at(2, 0)).await;

    let page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
    assert_eq!((page.items, page.next), (vec![mine], None));
}

/// Instants at the edges of what the precision and the storage formats must get right.
fn tricky_instants() -> Vec<Timestamp> {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    vec![
        at(0, 0),
        at(0, 1),
        at(0, 999_999),
        at(0, 100_000),
        at(0, 100_001),
        at(1, 0),
        parse("1970-01-01T00:00:00Z"),
        parse("1969-12-31T23:59:59.999999Z"),
        parse("2000-02-29T12:34:56.654321Z"),
        parse("2999-12-31T23:59:59.999999Z"),
    ]
}

async fn timestamps_round_trip_to_the_microsecond(db: TestDb) {
    let session = given_session(&db, "main").await;
    for instant in tricky_instants() {
        let mut status = given_status(&db, &session, instant).await;
        status.start_sending(instant).unwrap();
        status.mark_published(message_id(), instant + chrono::Duration::microseconds(1)).unwrap();
        status.mark_revoked(instant + chrono::Duration::microseconds(2)).unwrap();
        db.statuses().update(&status, StatusState::Accepted).await.unwrap();

        let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
        assert_eq!(stored, status, "{instant:?}");
        assert_eq!(stored.revoked_at().unwrap() - stored.created_at(), chrono::Duration::microseconds(2));
    }

    let key = crate::fixtures::api_key(session.tenant);
    let key = wastatus_domain::ApiKey { last_used_at: Some(at(0, 1)), ..key };
    db.keys().insert(&key).await.unwrap();
    assert_eq!(db.keys().find_by_hash(&key.hash).await.unwrap(), Some(key));
}

async fn timestamps_sort_to_the_microsecond(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut expected = vec![];
    for instant in tricky_instants() {
        expected.push(given_status(&db, &session, instant).await);
    }
    expected.sort_by_key(|s| std::cmp::Reverse((s.created_at(), s.id())));

    let pages =
        all_pages(&db, &session, StatusQuery { limit: PageLimit::new(1).unwrap(), ..StatusQuery::default() }).await;
    assert_eq!(pages.concat(), expected, "each page starts strictly after the previous one's instant");
}

async fn concurrent_writers_wait_for_each_other(db: TestDb) {
    let session = given_session(&db, "main").await;
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let storage = db.storage.clone();
            let session = session.clone();
            tokio::spawn(async move {
                let statuses: &dyn wastatus_domain::ports::StatusRepository = &storage;
                let mut status = status(&session, at(i, 0));
                statuses.insert(&status).await?;
                status.start_sending(at(i, 1)).unwrap();
                statuses.update(&status, StatusState::Accepted).await.map_err(InsertError::from)?;
                Ok::<_, InsertError>(status)
            })
        })
        .collect();
    let mut written = vec![];
    for writer in writers {
        written.push(writer.await.unwrap().expect("every write succeeds"));
    }
    written.sort_by_key(|s| std::cmp::Reverse((s.created_at(), s.id())));

    let all = StatusQuery { limit: PageLimit::new(100).unwrap(), ..StatusQuery::default() };
    assert_eq!(db.statuses().list(&session, &all).await.unwrap().items, written);
}

async fn unknown_stored_values_are_storage_errors(db: TestDb) {
    let session = given_session(&db, "main").await;
    let status = given_status(&db, &session, at(0, 0)).await;
    let corruptions = [
        ("state = 'lost'", "lost"),
        ("type = 'hologram'", "hologram"),
        ("font = 99", "99"),
        ("background_color = -1", "colour"),
        ("text = NULL", "without text"),
        ("failure_code = 'gremlins', failure_message = 'boo'", "gremlins"),
        ("failure_message = 'a message without a code'", "failure"),
        ("message_id = 'not a message id!'", "message"),
    ];
    for (assignment, clue) in corruptions {
        db.raw(&format!("UPDATE statuses SET {assignment}")).await;

        let err = db.statuses().get(session.tenant, status.id()).await.unwrap_err();
        assert!(format!("{err:#}").contains(clue), "after SET {assignment}, the cause names {clue:?}: {err:#}");
        assert!(db.statuses().list(&session, &StatusQuery::default()).await.is_err(), "{assignment}");

        // Put the row back as it was.
        db.raw("UPDATE statuses SET state = 'accepted'").await;
        assert!(db.statuses().update(&status, StatusState::Accepted).await.unwrap());
        db.raw("UPDATE statuses SET type = 'text', text = 'Flash sale!', font = 0, background_color = 4279242768")
            .await;
        assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));
    }
}

/// Lists every page of a session's statuses, checking that each `next` is the cursor of the
/// page's last item and that only the last page has none.
async fn all_pages(db: &TestDb, session: &SessionKey, mut query: StatusQuery) -> Vec<Vec<Status>> {
    let mut pages = vec![];
    loop {
        let page = db.statuses().list(session, &query).await.unwrap();
        assert!(page.items.len() <= usize::from(query.limit.get()));
        match page.next {
            Some(next) => {
                assert_eq!(page.items.len(), usize::from(query.limit.get()), "only the last page is short");
                let last = page.items.last().expect("a page with a next cursor has items");
                assert_eq!(next, Cursor { created_at: last.created_at(), id: last.id() });
                query.after = Some(next);
                pages.push(page.items);
            }
            None => {
                pages.push(page.items);
                return pages;
            }
        }
        assert!(pages.len() <= 100, "paging does not end");
    }
}

/// Every field of `status`, to make a variant of it.
fn record(status: &Status) -> StatusRecord {
    StatusRecord {
        id: status.id(),
        session: status.session().clone(),
        content: status.content().clone(),
        view_once: status.view_once(),
        state: status.state(),
        message_id: status.message_id().cloned(),
        failure: status.failure().cloned(),
        created_at: status.created_at(),
        updated_at: status.updated_at(),
        published_at: status.published_at(),
        revoked_at: status.revoked_at(),
    }
}

async fn updates_apply_only_from_the_expected_state(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = given_status(&db, &session, at(0, 0)).await;
    status.start_sending(at(1, 0)).unwrap();
    status.mark_published(message_id(), at(2, 0)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted).await.unwrap());

    // Two revokes race: the first moves it on from `published`, the second finds it moved.
    let mut first = status.clone();
    first.mark_revoked(at(3, 0)).unwrap();
    let mut second = status.clone();
    second.mark_revoked(at(4, 0)).unwrap();
    assert!(db.statuses().update(&first, StatusState::Published).await.unwrap());
    assert!(!db.statuses().update(&second, StatusState::Published).await.unwrap());
    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at(), Some(at(3, 0)), "the first transition stands");
}
