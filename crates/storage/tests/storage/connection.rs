//! Connecting, migrating and probing.

use wastatus_domain::{
    ApiKey, Event, EventId, EventKind, Failure, FailureCode, MediaKind, MessageId, Plan, Schedule, Scopes, Session,
    Status, StatusQuery, StatusRecord, StatusState,
};
use wastatus_storage::Storage;

use crate::fixtures::{
    api_key, at, given_session, given_status, given_tenant, given_user, job_of, prepared, text, video,
};
use crate::harness::{TestDb, on_postgres, postgres_url, storage_tests};

storage_tests!(
    migrating_again_is_harmless,
    ping_and_backend,
    the_media_migration_keeps_existing_statuses,
    the_jobs_migration_schedules_existing_statuses,
);

async fn migrating_again_is_harmless(db: TestDb) {
    let tenant = given_tenant(&db).await;

    db.storage.migrate().await.expect("a second migrate");
    db.storage.migrate().await.expect("a third migrate");

    assert_eq!(db.tenants().get(tenant.id).await.unwrap(), Some(tenant), "data survives");
    given_tenant(&db).await;
}

/// A database made before image and video statuses gains their columns and keeps its text
/// statuses as they were.
async fn the_media_migration_keeps_existing_statuses(db: TestDb) {
    let session = given_session(&db, "main").await;
    let mut status = given_status(&db, &session, at(0, 0)).await;
    status.start_sending(at(1, 0)).unwrap();
    assert!(db.statuses().update(&status, wastatus_domain::StatusState::Accepted, &[]).await.unwrap());
    // Back to the schema of the first migration (SQLite drops one column per statement).
    for column in
        ["caption", "media_mime_type", "media_size_bytes", "media_width", "media_height", "media_duration_secs"]
    {
        db.raw(&format!("ALTER TABLE statuses DROP COLUMN {column}")).await;
    }
    db.raw("DELETE FROM seaql_migrations WHERE version = 'm20261121_000002_media'").await;

    db.storage.migrate().await.expect("the media migration on a database with statuses");

    assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap().as_ref(), Some(&status));
    let page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
    assert_eq!(page.items, vec![status]);
}

/// A database made before statuses were jobs gains their columns and tables. Its statuses are due
/// since they were created and allowed one attempt (a client was waiting for the outcome),
/// which those that went past `accepted` have made; a status left `sending` has no lease, so
/// it is reclaimed at once.
async fn the_jobs_migration_schedules_existing_statuses(db: TestDb) {
    let session = given_session(&db, "main").await;
    let message_id = MessageId::new("3EB0A1B2C3D4E5F6A7B8C9D0").unwrap();
    let failure = Failure { code: FailureCode::DeviceError, message: "refused".to_owned() };
    // One status in each state a status could be in before jobs, with schedules that the
    // migration must not keep: they were never stored then.
    let plan = Plan { publish_at: Some(at(-100, 0)), max_attempts: 5 };
    let mut before = vec![];
    for (i, state) in (0..).zip(["accepted", "sending", "published", "failed", "revoked"]) {
        let content = if state == "published" { video("clip", 5) } else { text(state) };
        let mut status = job_of(&session, content, plan, at(i * 10, 0));
        let media = (state == "published").then(|| prepared(MediaKind::Video));
        db.statuses().insert(&status, media.as_ref(), None).await.unwrap();
        if state != "accepted" {
            status.start_sending(at(i * 10 + 1, 0)).unwrap();
            assert!(db.statuses().update(&status, StatusState::Accepted, &[]).await.unwrap());
        }
        match state {
            "published" | "revoked" => {
                status.mark_published(message_id.clone(), Default::default(), at(i * 10 + 2, 0)).unwrap();
                let event = Event::of_status(
                    EventId::from_uuid(uuid::Uuid::now_v7()),
                    EventKind::StatusPublished,
                    &status,
                    at(i * 10 + 2, 0),
                );
                assert!(db.statuses().update(&status, StatusState::Sending, &[event]).await.unwrap());
                if state == "revoked" {
                    status.mark_revoked(at(i * 10 + 3, 0)).unwrap();
                    assert!(db.statuses().update(&status, StatusState::Published, &[]).await.unwrap());
                }
            }
            "failed" => {
                status.mark_failed(failure.clone(), at(i * 10 + 2, 0)).unwrap();
                assert!(db.statuses().update(&status, StatusState::Sending, &[]).await.unwrap());
            }
            _ => {}
        }
        before.push(status);
    }
    // Back to the schema of the third migration.
    let cascade = if db.is_sqlite() { "" } else { " CASCADE" };
    for table in ["status_media", "outbox_events", "idempotency_keys"] {
        db.raw(&format!("DROP TABLE {table}{cascade}")).await;
    }
    db.raw("DROP INDEX ix_statuses_due").await;
    db.raw("DROP INDEX ix_statuses_leases").await;
    for column in ["publish_at", "next_attempt_at", "attempts", "max_attempts", "lease_until", "media_source_url"] {
        db.raw(&format!("ALTER TABLE statuses DROP COLUMN {column}")).await;
    }
    db.raw("DELETE FROM seaql_migrations WHERE version = 'm20261121_000004_jobs'").await;

    db.storage.migrate().await.expect("the jobs migration on a database with statuses");

    let expected: Vec<Status> = before
        .iter()
        .map(|status| {
            let schedule = Schedule {
                publish_at: None,
                next_attempt_at: status.created_at(),
                attempts: u32::from(status.state() != StatusState::Accepted),
                max_attempts: 1,
            };
            Status::from_record(StatusRecord { schedule, ..crate::statuses::record(status) })
        })
        .collect();
    for status in &expected {
        let stored = db.statuses().get(session.tenant, status.id()).await.unwrap();
        assert_eq!(stored.as_ref(), Some(status), "{}", status.state());
    }
    let page = db.statuses().list(&session, &StatusQuery::default()).await.unwrap();
    assert_eq!(page.items, expected.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(db.statuses().media(expected[2].id()).await.unwrap(), None, "no media was kept before");
    assert_eq!(db.outbox().await, vec![]);

    // The workers take over: the `accepted` status is due, the `sending` one reclaimed.
    assert_eq!(db.statuses().next_due().await.unwrap(), Some(at(0, 0)));
    let reclaimed = db.statuses().reclaim_expired(at(100, 0), at(200, 0), 10).await.unwrap();
    assert_eq!(reclaimed, vec![expected[1].clone()]);
    let mut due = expected[0].clone();
    due.start_sending(at(100, 0)).unwrap();
    assert_eq!(db.statuses().claim_due(at(100, 0), at(200, 0), 10).await.unwrap(), vec![due]);
    if !db.is_sqlite() {
        let defaults = db
            .raw_text(
                "SELECT CAST(COUNT(*) AS TEXT) AS n FROM information_schema.columns \
                 WHERE table_name = 'statuses' AND column_name = 'next_attempt_at' AND column_default IS NULL",
                "n",
            )
            .await;
        assert_eq!(defaults, "1", "inserts must say when a status is due");
    }
}

/// A PostgreSQL database made before access control gains the new columns and table: existing
/// keys may do everything within their tenant and never expire, existing sessions have no owner.
/// (SQLite cannot drop a column that has a foreign key, so the same check on SQLite is a unit
/// test of the migrations, which can stop after the second one.)
#[tokio::test]
async fn the_access_migration_keeps_existing_keys_and_sessions_on_postgres() {
    on_postgres(|db: TestDb| async move {
        let session = given_session(&db, "main").await;
        let status = given_status(&db, &session, at(0, 0)).await;
        let key = ApiKey { scopes: Scopes::NONE, ..api_key(session.tenant) };
        db.keys().insert(&key).await.unwrap();
        // Back to the schema of the second migration.
        for sql in [
            "DROP TABLE users CASCADE",
            "ALTER TABLE sessions DROP COLUMN owner_user_id",
            "ALTER TABLE api_keys DROP COLUMN scopes, DROP COLUMN expires_at",
            "DELETE FROM seaql_migrations WHERE version = 'm20261121_000003_access'",
        ] {
            db.raw(sql).await;
        }

        db.storage.migrate().await.expect("the access migration on a database with data");

        let migrated = db.keys().find_by_hash(&key.hash).await.unwrap();
        assert_eq!(migrated, Some(ApiKey { scopes: Scopes::TENANT, expires_at: None, ..key }));
        let stored = db.sessions().get(&session).await.unwrap().expect("the session");
        assert_eq!(stored, Session { owner: None, ..crate::fixtures::session(session.clone()) });
        assert_eq!(db.statuses().get(session.tenant, status.id()).await.unwrap(), Some(status));
        let user = given_user(&db, session.tenant).await;
        assert_eq!(db.users().list(session.tenant).await.unwrap(), vec![user]);
    })
    .await;
}

async fn ping_and_backend(db: TestDb) {
    db.storage.ping().await.expect("ping");
    let expected = if db.is_sqlite() { "sqlite" } else { "postgres" };
    assert_eq!(db.storage.backend(), expected);
    assert_eq!(db.storage.clone().backend(), expected, "clones share the pool");
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_secrets() {
    for url in ["mysql://admin:hunter2@localhost/db", "not a url with hunter2", "postgres://admin:hunter2@[::1"] {
        let err = Storage::connect(url).await.expect_err(url);
        assert!(!format!("{err:#}").contains("hunter2"), "{err:#}");
    }
    let err = Storage::connect("mysql://localhost/db").await.unwrap_err();
    assert!(format!("{err:#}").contains("mysql"), "{err:#}");
}

#[tokio::test]
async fn login_failures_do_not_echo_the_password() {
    let mut url = url::Url::parse(&postgres_url()).unwrap();
    url.set_username("wastatus_no_such_role").unwrap();
    url.set_password(Some("hunter2")).unwrap();
    let err = Storage::connect(url.as_str()).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("postgres"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
