//! Domain values for the tests, and shortcuts that store them.

use chrono::DateTime;
use uuid::Uuid;
use wastatus_domain::{
    ApiKey, ApiKeyId, BackgroundColor, Caption, Font, KeyHash, MediaKind, MediaMeta, MediaStatus, Name, Plan,
    PreparedMedia, Scopes, Session, SessionId, SessionKey, SessionState, Status, StatusContent, StatusId, StatusText,
    Tenant, TenantId, TextStatus, Timestamp, User, UserId,
};

use crate::harness::TestDb;

/// An instant `secs` seconds and `micros` microseconds after a fixed origin (2027-01-15T08:00Z).
pub fn at(secs: i64, micros: u32) -> Timestamp {
    DateTime::from_timestamp(1_800_000_000 + secs, micros * 1_000).expect("a valid instant")
}

pub fn tenant() -> Tenant {
    Tenant { id: TenantId::from_uuid(Uuid::new_v4()), name: Name::new("Acme Retail").unwrap(), created_at: at(0, 0) }
}

/// A random key hash.
pub fn hash() -> KeyHash {
    let mut bytes = [0_u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    KeyHash(bytes)
}

/// A fresh, never used, unrevoked key of `tenant` with the tenant scopes and no expiry.
pub fn api_key(tenant: TenantId) -> ApiKey {
    ApiKey {
        id: ApiKeyId::from_uuid(Uuid::new_v4()),
        tenant,
        name: None,
        display_prefix: "wsk_AbCd".to_owned(),
        hash: hash(),
        scopes: Scopes::TENANT,
        created_at: at(1, 0),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

/// Stores a new key of `tenant` created at `created_at`, and returns it.
pub async fn given_key(db: &TestDb, tenant: TenantId, created_at: Timestamp) -> ApiKey {
    let key = ApiKey { created_at, ..api_key(tenant) };
    db.keys().insert(&key).await.unwrap();
    key
}

/// A fresh, never used, enabled user of `tenant` with the default user scopes, no password and
/// a random name (usernames are unique across tenants).
pub fn user(tenant: TenantId) -> User {
    let id = Uuid::new_v4();
    User {
        id: UserId::from_uuid(id),
        tenant,
        name: Name::new(format!("user-{}", id.simple())).unwrap(),
        scopes: Scopes::USER,
        token_hash: hash(),
        token_prefix: "4f1c".to_owned(),
        password_hash: None,
        created_at: at(1, 0),
        last_used_at: None,
        disabled_at: None,
    }
}

/// Stores a new user of `tenant`, and returns it.
pub async fn given_user(db: &TestDb, tenant: TenantId) -> User {
    let user = user(tenant);
    db.users().insert(&user).await.unwrap();
    user
}

pub fn session_key(tenant: TenantId, id: &str) -> SessionKey {
    SessionKey { tenant, id: SessionId::new(id).unwrap() }
}

pub fn session(key: SessionKey) -> Session {
    Session { key, owner: None, state: SessionState::Pairing, reason: None, created_at: at(2, 0), updated_at: at(2, 0) }
}

pub fn text(text: &str) -> StatusContent {
    StatusContent::Text(TextStatus {
        text: StatusText::new(text).unwrap(),
        background_color: BackgroundColor::DEFAULT,
        font: Font::SansSerif,
    })
}

/// A caption; `caption("")` is none.
pub fn caption(raw: &str) -> Option<Caption> {
    Caption::new(raw).unwrap()
}

/// An image status: a portrait JPEG.
pub fn image(caption_text: &str) -> StatusContent {
    StatusContent::Image(MediaStatus {
        caption: caption(caption_text),
        media: MediaMeta {
            mime_type: "image/jpeg".to_owned(),
            size_bytes: 182_044,
            width: 1080,
            height: 1920,
            duration_secs: None,
        },
        source_url: Some("https://cdn.example.com/summer/launch.jpg?v=2&size=full".to_owned()),
    })
}

/// A video status: an MP4 of `duration_secs` seconds.
pub fn video(caption_text: &str, duration_secs: u32) -> StatusContent {
    StatusContent::Video(MediaStatus {
        caption: caption(caption_text),
        media: MediaMeta {
            mime_type: "video/mp4".to_owned(),
            size_bytes: 9_437_184,
            width: 720,
            height: 1280,
            duration_secs: Some(duration_secs),
        },
        source_url: None,
    })
}

/// A newly accepted text status with a random id, so that ties on `created_at` are broken in
/// no particular order.
pub fn status(session: &SessionKey, created_at: Timestamp) -> Status {
    status_of(session, text("Flash sale!"), created_at)
}

/// Stores a new tenant and returns it.
pub async fn given_tenant(db: &TestDb) -> Tenant {
    let tenant = tenant();
    db.tenants().insert(&tenant).await.unwrap();
    tenant
}

/// Stores a new tenant with one session called `id`, and returns the session's key.
pub async fn given_session(db: &TestDb, id: &str) -> SessionKey {
    let tenant = given_tenant(db).await;
    given_session_of(db, tenant.id, id).await
}

/// Stores a session called `id` for an existing tenant, and returns its key.
pub async fn given_session_of(db: &TestDb, tenant: TenantId, id: &str) -> SessionKey {
    let key = session_key(tenant, id);
    db.sessions().insert(&session(key.clone())).await.unwrap();
    key
}

/// A newly accepted status of `content` with a random id.
pub fn status_of(session: &SessionKey, content: StatusContent, created_at: Timestamp) -> Status {
    job_of(session, content, Plan::default(), created_at)
}

/// A newly accepted (or scheduled) status of `content` run by `plan`, with a random id.
pub fn job_of(session: &SessionKey, content: StatusContent, plan: Plan, created_at: Timestamp) -> Status {
    Status::accept(StatusId::from_uuid(Uuid::new_v4()), session.clone(), content, false, plan, created_at)
}

/// Stores a new status of `content`, and returns it.
pub async fn given_status_of(
    db: &TestDb,
    session: &SessionKey,
    content: StatusContent,
    created_at: Timestamp,
) -> Status {
    let status = status_of(session, content, created_at);
    db.statuses().insert(&status, None, None).await.unwrap();
    status
}

/// Stores a new status of `session` created at `created_at`, and returns it.
pub async fn given_status(db: &TestDb, session: &SessionKey, created_at: Timestamp) -> Status {
    let status = status(session, created_at);
    db.statuses().insert(&status, None, None).await.unwrap();
    status
}

/// Prepared media of `kind` with distinct, recognisable bytes (a video lasts 12 seconds).
pub fn prepared(kind: MediaKind) -> PreparedMedia {
    let (mime_type, duration_secs) = match kind {
        MediaKind::Image => ("image/jpeg", None),
        MediaKind::Video => ("video/mp4", Some(12)),
    };
    PreparedMedia {
        kind,
        mime_type: mime_type.to_owned(),
        // Every byte value, NULs and invalid UTF-8 included, and more than a page.
        bytes: (0..=255_u8).cycle().take(70_000).collect::<Vec<u8>>().into(),
        width: 1080,
        height: 1920,
        duration_secs,
        thumbnail: bytes::Bytes::from_static(b"\xff\xd8\xff\xe0\0thumb\xff\xd9"),
        thumbnail_is_placeholder: kind == MediaKind::Video,
    }
}
