//! `StatusRepository`.

use uuid::Uuid;
use wastatus_domain::ports::InsertError;
use wastatus_domain::{
    Audience, BackgroundColor, Cursor, Failure, FailureCode, Font, MediaMeta, MediaStatus, MessageId, PageLimit, Plan,
    Reach, Recipient, SessionKey, Status, StatusContent, StatusId, StatusQuery, StatusRecord, StatusState, StatusText,
    TextStatus, Timestamp,
};

use crate::fixtures::{
    at, caption, given_session, given_session_of, given_status, given_status_of, given_tenant, image, session_key,
    status, status_of, text, video,
};
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
    media_statuses_round_trip_through_publishing,
    media_values_round_trip_up_to_the_column_limits,
    media_that_no_row_can_hold_is_refused_on_insert,
    mixed_history_pages_newest_first,
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
    // Asked for a time already past: accepted at once, and the time asked for is kept.
    let plan = Plan { publish_at: Some(at(-5, 123_456)), max_attempts: 4 };
    let audience = Audience::allowlist(&["+919876543210", "123456789012345@lid"]).unwrap();
    let mut status =
        Status::accept(StatusId::from_uuid(Uuid::now_v7()), session.clone(), content, true, plan, at(0, 1))
            .with_audience(audience.clone());
    db.statuses().insert(&status, None, None).await.unwrap();
    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));

    status.start_sending(at(1, 2)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));

    let reach = Reach { recipients: 41_999, unresolved: vec![Recipient::parse("+919876543210").unwrap()] };
    status.mark_published(message_id(), reach.clone(), at(2, 3)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored, status);
    assert_eq!((stored.audience(), stored.reach()), (&audience, Some(&reach)));

    status.mark_revoked(at(3, 4)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Published, &[]).await.unwrap());
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
    assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());

    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored.failure(), Some(&failure));
    assert_eq!(stored, status);
}

async fn a_taken_status_id_already_exists(db: TestDb) {
    let session = given_session(&db, "main").await;
    let first = given_status(&db, &session, at(0, 0)).await;
    let other_session = given_session_of(&db, session.tenant, "other").await;
    let again = Status::from_record(StatusRecord { session: other_session, created_at: at(9, 0), ..record(&first) });

    let err = db.statuses().insert(&again, None, None).await.unwrap_err();
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
                statuses.insert(&status, None, None).await
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
    let err = db.statuses().insert(&status(&mine, at(0, 0)), None, None).await.unwrap_err();
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
    assert!(!db.statuses().update(&forged, StatusState::Accepted, &[]).await.unwrap());
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
                status.mark_published(message_id(), Default::default(), at(i, 2)).unwrap();
                published.push(status.clone());
            }
            1 => status.mark_failed(Failure { code: FailureCode::NotPaired, message: "no".into() }, at(i, 1)).unwrap(),
            _ => {}
        }
        db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap();
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
        status.mark_published(message_id(), Default::default(), instant + chrono::Duration::microseconds(1)).unwrap();
        status.mark_revoked(instant + chrono::Duration::microseconds(2)).unwrap();
        db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap();

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
                statuses.insert(&status, None, None).await?;
                status.start_sending(at(i, 1)).unwrap();
                statuses.update(&status, StatusState::Accepted, &[]).await.map_err(InsertError::from)?;
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
    let tenant = given_tenant(&db).await;
    // One status per session, so that raw SQL can pick a row by its session id on both backends.
    let mut text_status = status(&given_session_of(&db, tenant.id, "text").await, at(0, 0));
    text_status.start_sending(at(1, 0)).unwrap();
    text_status.mark_published(message_id(), Default::default(), at(2, 0)).unwrap();
    let image_status = status_of(&given_session_of(&db, tenant.id, "image").await, image("Weekend vibes"), at(0, 0));
    let video_status = status_of(&given_session_of(&db, tenant.id, "video").await, video("", 12), at(0, 0));

    let too_long_caption = "x".repeat(1025);
    let cases = [
        (&text_status, "state = 'lost'", "lost"),
        (&text_status, "type = 'hologram'", "hologram"),
        (&text_status, "font = 99", "statuses.font holds 99"),
        (&text_status, "background_color = -1", "statuses.background_color holds -1"),
        (&text_status, "text = NULL", "statuses.text is NULL"),
        (&text_status, "text = '   '", "statuses.text holds an invalid text"),
        (&text_status, "failure_code = 'gremlins', failure_message = 'boo'", "gremlins"),
        (&text_status, "failure_message = 'a message without a code'", "failure"),
        (&text_status, "message_id = 'not a message id!'", "message"),
        // Columns of another type.
        (&text_status, "caption = 'stray'", "statuses.caption is set in this text status"),
        (&text_status, "media_width = 10", "statuses.media_width is set in this text status"),
        (&text_status, "type = 'image'", "statuses.text is set in this image status"),
        (&image_status, "type = 'text'", "statuses.caption is set in this text status"),
        (&image_status, "font = 0", "statuses.font is set in this image status"),
        (&video_status, "background_color = 0", "statuses.background_color is set in this video status"),
        // Missing media columns.
        (&image_status, "media_mime_type = NULL", "statuses.media_mime_type is NULL in this image status"),
        (&image_status, "media_size_bytes = NULL", "statuses.media_size_bytes is NULL in this image status"),
        (&image_status, "media_width = NULL", "statuses.media_width is NULL in this image status"),
        (&image_status, "media_height = NULL", "statuses.media_height is NULL in this image status"),
        (&video_status, "media_width = NULL", "statuses.media_width is NULL in this video status"),
        (&video_status, "media_duration_secs = NULL", "statuses.media_duration_secs is NULL in this video status"),
        // A duration is for videos only.
        (&image_status, "media_duration_secs = 3", "statuses.media_duration_secs is set in this image status"),
        (&video_status, "type = 'image'", "statuses.media_duration_secs is set in this image status"),
        // Values outside the domain's range.
        (&image_status, "media_size_bytes = -1", "statuses.media_size_bytes holds -1"),
        (&image_status, "media_width = -1", "statuses.media_width holds -1"),
        (&image_status, "media_height = -2147483648", "statuses.media_height holds -2147483648"),
        (&video_status, "media_duration_secs = -5", "statuses.media_duration_secs holds -5"),
        (&image_status, "caption = '  '", "statuses.caption holds a blank caption"),
        (&video_status, &format!("caption = '{too_long_caption}'"), "statuses.caption holds an invalid caption"),
    ];
    for status in [&text_status, &image_status, &video_status] {
        db.statuses().insert(status, None, None).await.unwrap();
    }
    for (status, assignment, clue) in cases {
        let session = status.session();
        let where_clause = format!("WHERE session_id = '{}'", session.id.as_str());
        db.raw(&format!("UPDATE statuses SET {assignment} {where_clause}")).await;

        let err = db.statuses().get(session.tenant, status.id()).await.unwrap_err();
        let context = format!("after SET {} on a {:?} status", abridged(assignment), status.status_type());
        assert!(format!("{err:#}").contains(clue), "{context}, the cause names {clue:?}: {err:#}");
        assert!(db.statuses().list(session, &StatusQuery::default()).await.is_err(), "{context}");

        // Put the row back as it was.
        db.raw(&format!("DELETE FROM statuses {where_clause}")).await;
        db.statuses().insert(status, None, None).await.unwrap();
        assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(status));
    }
}

/// `sql`, cut short for a message.
fn abridged(sql: &str) -> String {
    if sql.chars().count() > 60 { format!("{}…", sql.chars().take(60).collect::<String>()) } else { sql.to_owned() }
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
pub fn record(status: &Status) -> StatusRecord {
    StatusRecord {
        id: status.id(),
        session: status.session().clone(),
        content: status.content().clone(),
        view_once: status.view_once(),
        audience: status.audience().clone(),
        state: status.state(),
        message_id: status.message_id().cloned(),
        reach: status.reach().cloned(),
        failure: status.failure().cloned(),
        schedule: *status.schedule(),
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
    status.mark_published(message_id(), Default::default(), at(2, 0)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());

    // Two revokes race: the first moves it on from `published`, the second finds it moved.
    let mut first = status.clone();
    first.mark_revoked(at(3, 0)).unwrap();
    let mut second = status.clone();
    second.mark_revoked(at(4, 0)).unwrap();
    assert!(db.statuses().update(&first, StatusState::Published, &[]).await.unwrap());
    assert!(!db.statuses().update(&second, StatusState::Published, &[]).await.unwrap());
    let stored = db.statuses().get(session.tenant, status.id()).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at(), Some(at(3, 0)), "the first transition stands");
}

/// Inserts `status`, then walks it to `published`, checking at each step that `get` and `list`
/// return exactly what was saved. Returns the published status.
async fn publish_and_check(db: &TestDb, mut status: Status) -> Status {
    let session = status.session().clone();
    let expect_stored = |status: &Status| {
        let expected = status.clone();
        let session = session.clone();
        async move {
            assert_eq!(db.statuses().get(session.tenant, expected.id()).await.unwrap().as_ref(), Some(&expected));
            let page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
            assert!(page.items.contains(&expected), "{expected:?} in {:?}", page.items);
        }
    };
    db.statuses().insert(&status, None, None).await.unwrap();
    expect_stored(&status).await;

    status.start_sending(status.created_at() + chrono::Duration::microseconds(1)).unwrap();
    assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
    expect_stored(&status).await;

    status
        .mark_published(message_id(), Default::default(), status.created_at() + chrono::Duration::microseconds(2))
        .unwrap();
    assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
    expect_stored(&status).await;
    status
}

async fn media_statuses_round_trip_through_publishing(db: TestDb) {
    let session = given_session(&db, "main").await;
    let contents = [
        image("Weekend vibes 🌴\nÜber-deals \"quoted\" and 'quoted'"),
        image(""),
        video("Behind the scenes", 27),
        video("", 1),
    ];
    let mut published = vec![];
    for (i, content) in (0..).zip(contents) {
        published.push(publish_and_check(&db, status_of(&session, content, at(i, 0))).await);
    }
    assert!(matches!(published[1].content(), StatusContent::Image(MediaStatus { caption: None, .. })));
    assert!(matches!(
        published[2].content(),
        StatusContent::Video(MediaStatus { media: MediaMeta { duration_secs: Some(27), .. }, .. })
    ));

    published.reverse();
    let page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
    assert_eq!((page.items, page.next), (published, None));
}

/// A media status of `kind` (`image` or `video`) with `media`.
fn media(kind: &str, caption_text: &str, media: MediaMeta) -> StatusContent {
    // Images come from a (long) URL, videos from the request.
    let source_url = (kind == "image").then(|| format!("https://cdn.example.com/{}.jpg", "a".repeat(2000)));
    let status = MediaStatus { caption: caption(caption_text), media, source_url };
    match kind {
        "image" => StatusContent::Image(status),
        _ => StatusContent::Video(status),
    }
}

async fn media_values_round_trip_up_to_the_column_limits(db: TestDb) {
    let session = given_session(&db, "main").await;
    let largest = MediaMeta {
        mime_type: "video/quicktime".to_owned(),
        size_bytes: i64::MAX.unsigned_abs(),
        width: i32::MAX.unsigned_abs(),
        height: i32::MAX.unsigned_abs(),
        duration_secs: Some(i32::MAX.unsigned_abs()),
    };
    let smallest = MediaMeta { mime_type: String::new(), size_bytes: 0, width: 0, height: 0, duration_secs: None };
    let longest_caption = "é".repeat(wastatus_domain::Caption::MAX_CHARS);
    let contents = [
        media("video", &longest_caption, largest.clone()),
        media("video", "", MediaMeta { duration_secs: Some(0), ..smallest.clone() }),
        media("image", "x", smallest),
        media("image", &longest_caption, MediaMeta { duration_secs: None, ..largest }),
    ];
    for (i, content) in (0..).zip(contents) {
        publish_and_check(&db, status_of(&session, content, at(i, 0))).await;
    }
}

async fn media_that_no_row_can_hold_is_refused_on_insert(db: TestDb) {
    let session = given_session(&db, "main").await;
    let StatusContent::Video(MediaStatus { media: fine, .. }) = video("", 12) else { unreachable!() };
    let too_large = i32::MAX.unsigned_abs() + 1;
    let cases = [
        ("video", MediaMeta { size_bytes: u64::MAX, ..fine.clone() }, "media_size_bytes"),
        ("video", MediaMeta { size_bytes: i64::MAX.unsigned_abs() + 1, ..fine.clone() }, "media_size_bytes"),
        ("video", MediaMeta { width: too_large, ..fine.clone() }, "media_width"),
        ("video", MediaMeta { height: u32::MAX, ..fine.clone() }, "media_height"),
        ("video", MediaMeta { duration_secs: Some(too_large), ..fine.clone() }, "media_duration_secs"),
        // Rows that could be written but not read back.
        ("video", MediaMeta { duration_secs: None, ..fine.clone() }, "video status without a duration"),
        ("image", fine.clone(), "image status with a duration"),
    ];
    for (i, (kind, meta, clue)) in (0..).zip(cases) {
        let status = status_of(&session, media(kind, "", meta), at(i, 0));
        let err = db.statuses().insert(&status, None, None).await.unwrap_err();
        let InsertError::Storage(err) = err else { panic!("{kind} {clue}: a storage error, not {err:?}") };
        assert!(format!("{err:#}").contains(clue), "the cause names {clue:?}: {err:#}");
        assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap(), None, "{clue}");
    }
    assert_eq!(db.statuses().list(&session, &StatusQuery::default()).await.unwrap().items, vec![]);
}

async fn mixed_history_pages_newest_first(db: TestDb) {
    let session = given_session(&db, "main").await;
    let contents = [
        text("first"),
        image("one"),
        video("two", 5),
        image(""),
        text("second"),
        video("", 60),
        image("three"),
        text("third"),
        video("four", 9),
    ];
    // Several statuses share an instant, so page boundaries fall between ties of mixed types.
    let instants = [at(0, 0), at(1, 0), at(1, 0), at(1, 0), at(2, 0), at(2, 0), at(3, 0), at(3, 0), at(4, 0)];
    let mut expected = vec![];
    let mut published = vec![];
    for (i, (content, created_at)) in contents.into_iter().zip(instants).enumerate() {
        let mut status = given_status_of(&db, &session, content, created_at).await;
        if i % 2 == 0 {
            status.start_sending(created_at).unwrap();
            status.mark_published(message_id(), Default::default(), created_at).unwrap();
            assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
            published.push(status.clone());
        }
        expected.push(status);
    }
    expected.sort_by_key(|s| std::cmp::Reverse((s.created_at(), s.id())));
    published.sort_by_key(|s| std::cmp::Reverse((s.created_at(), s.id())));

    for limit in [1, 2, 4] {
        let query = StatusQuery { limit: PageLimit::new(limit).unwrap(), ..StatusQuery::default() };
        assert_eq!(all_pages(&db, &session, query).await.concat(), expected, "pages of {limit}");
    }
    let query = StatusQuery {
        limit: PageLimit::new(2).unwrap(),
        state: Some(StatusState::Published),
        ..StatusQuery::default()
    };
    assert_eq!(all_pages(&db, &session, query).await.concat(), published);

    // Each row uses exactly the columns of its type.
    let misfits = db
        .raw_text(
            "SELECT CAST(COUNT(*) AS TEXT) AS n FROM statuses WHERE NOT ( \
               (type = 'text' AND text IS NOT NULL AND background_color IS NOT NULL AND font IS NOT NULL \
                AND caption IS NULL AND media_mime_type IS NULL AND media_size_bytes IS NULL \
                AND media_width IS NULL AND media_height IS NULL AND media_duration_secs IS NULL) \
               OR (type IN ('image', 'video') AND text IS NULL AND background_color IS NULL AND font IS NULL \
                AND media_mime_type IS NOT NULL AND media_size_bytes IS NOT NULL \
                AND media_width IS NOT NULL AND media_height IS NOT NULL \
                AND (type = 'video') = (media_duration_secs IS NOT NULL)))",
            "n",
        )
        .await;
    assert_eq!(misfits, "0");
    let without_caption = db
        .raw_text("SELECT CAST(COUNT(*) AS TEXT) AS n FROM statuses WHERE type <> 'text' AND caption IS NULL", "n")
        .await;
    assert_eq!(without_caption, "2", "no caption is NULL");
}
