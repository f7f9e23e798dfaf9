//! [`StatusRepository`] on the `statuses` table, with `status_media` and `outbox_events`.
//!
//! A status's content is spread over the `type` column and the columns of that type; the columns
//! of other types stay NULL:
//! - `text`: `text`, `background_color`, `font`, all set;
//! - `image`: `caption` (NULL for none), `media_mime_type`, `media_size_bytes`, `media_width`,
//!   `media_height`, all set, `media_duration_secs` NULL and `media_source_url` (NULL for media
//!   sent in the request);
//! - `video`: as `image`, with `media_duration_secs` set.
//!
//! Reading checks all of that: a row that breaks a rule (a missing column, a column of another
//! type, a value out of the domain's range) is a [`StorageError`] that names the column. Writing
//! refuses, with a [`StorageError`], a status that would make such a row (a video without a
//! duration, a size that does not fit the column), so that every row written reads back.
//!
//! A status is a job. Its schedule is in `publish_at`, `next_attempt_at`, `attempts` and
//! `max_attempts`; while it is `sending`, `lease_until` says until when the process that
//! claimed it owns it (NULL in every other state: [`StatusRepository::update`] clears it when the
//! state it saves is not `sending`, and leaves it as it is when it is). Claiming is one
//! `UPDATE … RETURNING` statement that picks its rows with a `SELECT … ORDER BY … LIMIT n`: on
//! PostgreSQL the picking query locks its rows `FOR UPDATE SKIP LOCKED`, so concurrent claimers
//! (in any process) pass over each other's rows; on SQLite the statement holds the database's
//! write lock from its start, so claimers (the single writer connection in a process, and the
//! busy handler between processes) run one after the other.
//!
//! A new kind of content adds its columns in a migration, an arm to [`set_content_columns`] and
//! an arm to [`content_from_row`].

use std::fmt::Display;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use wastatus_domain::ports::{InsertError, StatusRepository, StorageError};
use wastatus_domain::{
    Audience, BackgroundColor, Caption, Cursor, Event, Failure, Font, MediaMeta, MediaStatus, MessageId, Page,
    PreparedMedia, Schedule, SessionId, SessionKey, Status, StatusContent, StatusId, StatusQuery, StatusRecord,
    StatusState, StatusText, StatusType, TenantId, TextStatus, Timestamp,
};

use super::status_media::{prepared_from_row, prepared_row};
use super::{convert_all, convert_one, parse_stored};
use crate::entity::status::{self, Column};
use crate::entity::status_media;
use crate::error::{failed, insert_failed, storage_error};
use crate::{Backend, Storage};

/// Claims due statuses on SQLite. Binds: now, lease until, now, limit. SQLite runs an
/// uncorrelated `IN (SELECT …)` once, before it updates anything.
const CLAIM_DUE_SQLITE: &str = "\
UPDATE statuses
SET state = 'sending', attempts = attempts + 1, updated_at = ?, lease_until = ?
WHERE id IN (
    SELECT id FROM statuses
    WHERE state IN ('accepted', 'scheduled') AND next_attempt_at <= ?
    ORDER BY next_attempt_at, id
    LIMIT ?
) AND state IN ('accepted', 'scheduled')
RETURNING *";

/// Claims due statuses on PostgreSQL. Binds: now, lease until, now, limit.
///
/// The rows are picked in a `MATERIALIZED` CTE, which runs exactly once. Written as `WHERE id IN
/// (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`, the subquery may be rescanned (as the inner side
/// of a nested loop), and a rescan can pick rows other than the first scan's (those the
/// statement has just updated no longer qualify): more than `n` rows were then taken (seen in
/// this crate's tests, with the reclaiming query).
const CLAIM_DUE_POSTGRES: &str = "\
WITH picked AS MATERIALIZED (
    SELECT id FROM statuses
    WHERE state IN ('accepted', 'scheduled') AND next_attempt_at <= $3
    ORDER BY next_attempt_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE statuses
SET state = 'sending', attempts = statuses.attempts + 1, updated_at = $1, lease_until = $2
FROM picked
WHERE statuses.id = picked.id
RETURNING statuses.*";

/// Re-leases statuses whose lease expired on SQLite. Binds: lease until, now, limit.
const RECLAIM_EXPIRED_SQLITE: &str = "\
UPDATE statuses
SET lease_until = ?
WHERE id IN (
    SELECT id FROM statuses
    WHERE state = 'sending' AND (lease_until < ? OR lease_until IS NULL)
    ORDER BY lease_until NULLS FIRST, id
    LIMIT ?
) AND state = 'sending'
RETURNING *";

/// Re-leases statuses whose lease expired on PostgreSQL. Binds: lease until, now, limit. The
/// rows are picked once, as in [`CLAIM_DUE_POSTGRES`].
const RECLAIM_EXPIRED_POSTGRES: &str = "\
WITH picked AS MATERIALIZED (
    SELECT id FROM statuses
    WHERE state = 'sending' AND (lease_until < $2 OR lease_until IS NULL)
    ORDER BY lease_until NULLS FIRST, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE statuses
SET lease_until = $1
FROM picked
WHERE statuses.id = picked.id
RETURNING statuses.*";

/// When the next job falls due. The same on both backends.
const NEXT_DUE: &str = "SELECT MIN(next_attempt_at) AS next_due FROM statuses WHERE state IN ('accepted', 'scheduled')";

#[async_trait]
impl StatusRepository for Storage {
    /// The status row and its media row in one transaction (a status without media is one
    /// statement). The lease is stored only for a status inserted as `sending`, and the media
    /// only for a status that is not settled (it is checked all the same).
    async fn insert<'a>(
        &self,
        status: &Status,
        media: Option<&'a PreparedMedia>,
        lease_until: Option<Timestamp>,
    ) -> Result<(), InsertError> {
        const DOING: &str = "inserting a status";
        let row = status_row(status, lease_until).map_err(|err| storage_error(DOING, err))?;
        let media = media
            .map(|media| prepared_row(status, media))
            .transpose()
            .map_err(|err| storage_error(DOING, err))?
            .filter(|_| !status.state().is_settled());
        let Some(media) = media else {
            self.execute(status::Entity::insert(row)).await.map_err(insert_failed(DOING))?;
            return Ok(());
        };
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        self.execute_in(&txn, status::Entity::insert(row)).await.map_err(insert_failed(DOING))?;
        self.execute_in(&txn, status_media::Entity::insert(media)).await.map_err(insert_failed(DOING))?;
        txn.commit().await.map_err(failed(DOING))?;
        Ok(())
    }

    /// Saves the lifecycle columns (the schedule included); a status's identity, content and
    /// creation time never change. The outbox rows and the deletion of settled media go in the
    /// same transaction, after the compare-and-set succeeded.
    async fn update(&self, status: &Status, expected: StatusState, events: &[Event]) -> Result<bool, StorageError> {
        const DOING: &str = "updating a status";
        let columns = lifecycle_columns(status).map_err(|err| storage_error(DOING, err))?;
        let update = status::Entity::update_many().set(columns).filter(
            Condition::all()
                .add(Column::Id.eq(*status.id().as_uuid()))
                .add(in_session(status.session()))
                .add(Column::State.eq(expected.as_str())),
        );
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        if self.execute_in(&txn, update).await.map_err(failed(DOING))? == 0 {
            txn.rollback().await.map_err(failed(DOING))?;
            return Ok(false);
        }
        self.append_events(&txn, events).await?;
        if status.state().is_settled() {
            let delete =
                status_media::Entity::delete_many().filter(status_media::Column::StatusId.eq(*status.id().as_uuid()));
            self.execute_in(&txn, delete).await.map_err(failed(DOING))?;
        }
        txn.commit().await.map_err(failed(DOING))?;
        Ok(true)
    }

    /// Returned oldest due first (by `next_attempt_at`, then id). A claimed row this version
    /// cannot read (written by a newer one) is logged and left out, not allowed to strand the
    /// rest of the batch; it stays `sending` until a version that can read it reclaims it.
    async fn claim_due(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<Status>, StorageError> {
        const DOING: &str = "claiming due statuses";
        let sql = match self.backend {
            Backend::Sqlite => CLAIM_DUE_SQLITE,
            Backend::Postgres => CLAIM_DUE_POSTGRES,
        };
        let statement = self.raw_statement(sql, [now.into(), lease_until.into(), now.into(), i64::from(limit).into()]);
        let rows = self.write_returning::<status::Entity>(statement).await.map_err(failed(DOING))?;
        let mut claimed = readable(DOING, rows);
        claimed.sort_by_key(|status| (status.schedule().next_attempt_at, status.id()));
        Ok(claimed)
    }

    /// Also takes statuses left `sending` without a lease (stored before leases existed), first.
    /// The statuses are returned as stored: re-leasing changes nothing the domain sees.
    async fn reclaim_expired(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Status>, StorageError> {
        const DOING: &str = "reclaiming statuses with an expired lease";
        let sql = match self.backend {
            Backend::Sqlite => RECLAIM_EXPIRED_SQLITE,
            Backend::Postgres => RECLAIM_EXPIRED_POSTGRES,
        };
        let statement = self.raw_statement(sql, [lease_until.into(), now.into(), i64::from(limit).into()]);
        let rows = self.write_returning::<status::Entity>(statement).await.map_err(failed(DOING))?;
        let mut reclaimed = readable(DOING, rows);
        reclaimed.sort_by_key(|status| (status.updated_at(), status.id()));
        Ok(reclaimed)
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, StorageError> {
        const DOING: &str = "finding when the next status is due";
        let row = self.read_one_raw(self.raw_statement(NEXT_DUE, [])).await.map_err(failed(DOING))?;
        match row {
            Some(row) => row.try_get::<Option<Timestamp>>("", "next_due").map_err(failed(DOING)),
            None => Ok(None),
        }
    }

    async fn media(&self, id: StatusId) -> Result<Option<PreparedMedia>, StorageError> {
        const DOING: &str = "reading a status's media";
        let row = self.fetch_optional(status_media::Entity::find_by_id(*id.as_uuid())).await.map_err(failed(DOING))?;
        convert_one(DOING, row, prepared_from_row)
    }

    async fn get(&self, tenant: TenantId, id: StatusId) -> Result<Option<Status>, StorageError> {
        const DOING: &str = "reading a status";
        let select =
            status::Entity::find().filter(Column::TenantId.eq(*tenant.as_uuid())).filter(Column::Id.eq(*id.as_uuid()));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, status_from_row)
    }

    async fn list(&self, session: &SessionKey, query: &StatusQuery) -> Result<Page<Status>, StorageError> {
        const DOING: &str = "listing a session's statuses";
        let limit = usize::from(query.limit.get());
        let select = status::Entity::find()
            .filter(in_session(session))
            .apply_if(query.state, |select, state| select.filter(Column::State.eq(state.as_str())))
            .apply_if(query.after, |select, cursor| select.filter(older_than(&cursor)))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            // One more than asked tells whether there is a next page.
            .limit(u64::from(query.limit.get()) + 1);
        let mut rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = convert_all(DOING, rows, status_from_row)?;
        let next = if more { items.last().map(cursor_of) } else { None };
        Ok(Page { items, next })
    }
}

/// The condition that selects the statuses of `session` (and never another tenant's).
fn in_session(session: &SessionKey) -> Condition {
    Condition::all().add(Column::TenantId.eq(*session.tenant.as_uuid())).add(Column::SessionId.eq(session.id.as_str()))
}

/// The statuses after `cursor` in newest-first order: `(created_at, id) < (cursor's pair)`.
fn older_than(cursor: &Cursor) -> Expr {
    Expr::tuple([Expr::col((status::Entity, Column::CreatedAt)), Expr::col((status::Entity, Column::Id))])
        .lt(Expr::tuple([Expr::value(cursor.created_at), Expr::value(*cursor.id.as_uuid())]))
}

/// The cursor of the page that ends with `status`.
fn cursor_of(status: &Status) -> Cursor {
    Cursor { created_at: status.created_at(), id: status.id() }
}

/// The row that stores `status`, or why it cannot be stored.
fn status_row(status: &Status, lease_until: Option<Timestamp>) -> anyhow::Result<status::ActiveModel> {
    let mut row = lifecycle_columns(status)?;
    set_content_columns(&mut row, status.content())?;
    row.lease_until = Set(lease_until.filter(|_| status.state() == StatusState::Sending));
    row.id = Set(*status.id().as_uuid());
    row.tenant_id = Set(*status.session().tenant.as_uuid());
    row.session_id = Set(status.session().id.as_str().to_owned());
    row.view_once = Set(status.view_once());
    row.audience = Set(match status.audience() {
        Audience::Contacts => None,
        listed => Some(serde_json::to_string(listed)?),
    });
    row.created_at = Set(status.created_at());
    Ok(row)
}

/// The columns that change as a status moves through its lifecycle, its schedule included.
/// The lease is cleared in every state but `sending`, and left out (unchanged) in `sending`.
fn lifecycle_columns(status: &Status) -> anyhow::Result<status::ActiveModel> {
    let failure = status.failure();
    let Schedule { publish_at, next_attempt_at, attempts, max_attempts } = *status.schedule();
    Ok(status::ActiveModel {
        state: Set(status.state().as_str().to_owned()),
        message_id: Set(status.message_id().map(|id| id.as_str().to_owned())),
        reach: Set(status.reach().map(serde_json::to_string).transpose()?),
        failure_code: Set(failure.map(|f| f.code.as_str().to_owned())),
        failure_message: Set(failure.map(|f| f.message.clone())),
        updated_at: Set(status.updated_at()),
        published_at: Set(status.published_at()),
        revoked_at: Set(status.revoked_at()),
        publish_at: Set(publish_at),
        next_attempt_at: Set(next_attempt_at),
        attempts: Set(to_column("attempts", attempts)?),
        max_attempts: Set(to_column("max_attempts", max_attempts)?),
        lease_until: if status.state() == StatusState::Sending { NotSet } else { Set(None) },
        ..Default::default()
    })
}

/// Sets the `type` column and every content column: those of the content's type from the
/// content, the others to NULL.
fn set_content_columns(row: &mut status::ActiveModel, content: &StatusContent) -> anyhow::Result<()> {
    let kind = content.status_type();
    row.kind = Set(kind.as_str().to_owned());
    row.text = Set(None);
    row.background_color = Set(None);
    row.font = Set(None);
    row.caption = Set(None);
    row.media_mime_type = Set(None);
    row.media_size_bytes = Set(None);
    row.media_width = Set(None);
    row.media_height = Set(None);
    row.media_duration_secs = Set(None);
    row.media_source_url = Set(None);
    match content {
        StatusContent::Text(text) => {
            row.text = Set(Some(text.text.as_str().to_owned()));
            row.background_color = Set(Some(i64::from(text.background_color.argb())));
            row.font = Set(Some(i16::from(text.font.code())));
        }
        StatusContent::Image(media) | StatusContent::Video(media) => {
            let MediaStatus {
                caption,
                media: MediaMeta { mime_type, size_bytes, width, height, duration_secs },
                source_url,
            } = media;
            match (kind, duration_secs) {
                (StatusType::Video, None) => bail!("a video status without a duration (statuses.media_duration_secs)"),
                (StatusType::Image, Some(_)) => {
                    bail!("an image status with a duration (statuses.media_duration_secs is for videos)")
                }
                _ => {}
            }
            row.caption = Set(caption.as_ref().map(|caption| caption.as_str().to_owned()));
            row.media_mime_type = Set(Some(mime_type.clone()));
            row.media_size_bytes = Set(Some(to_column("media_size_bytes", *size_bytes)?));
            row.media_width = Set(Some(to_column("media_width", *width)?));
            row.media_height = Set(Some(to_column("media_height", *height)?));
            row.media_duration_secs =
                Set(duration_secs.map(|secs| to_column("media_duration_secs", secs)).transpose()?);
            row.media_source_url = Set(source_url.clone());
        }
    }
    Ok(())
}

/// `value` as the signed type of `column`, which must hold it.
fn to_column<T: Copy + Display, C: TryFrom<T>>(column: &'static str, value: T) -> anyhow::Result<C> {
    C::try_from(value).map_err(|_| anyhow!("{value} is too large for statuses.{column}"))
}

/// The status a row stores.
fn status_from_row(row: status::Model) -> anyhow::Result<Status> {
    let content = content_from_row(&row)?;
    Ok(Status::from_record(StatusRecord {
        id: StatusId::from_uuid(row.id),
        session: SessionKey { tenant: TenantId::from_uuid(row.tenant_id), id: SessionId::new(row.session_id)? },
        content,
        view_once: row.view_once,
        audience: match row.audience {
            None => Audience::Contacts,
            Some(json) => serde_json::from_str(&json).context("statuses.audience")?,
        },
        state: parse_stored("statuses.state", &row.state)?,
        message_id: row.message_id.map(MessageId::new).transpose()?,
        reach: row.reach.map(|json| serde_json::from_str(&json)).transpose().context("statuses.reach")?,
        failure: failure_from_columns(row.failure_code, row.failure_message)?,
        schedule: Schedule {
            publish_at: row.publish_at,
            next_attempt_at: row.next_attempt_at,
            attempts: from_column("attempts", row.attempts)?,
            max_attempts: from_column("max_attempts", row.max_attempts)?,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
        published_at: row.published_at,
        revoked_at: row.revoked_at,
    }))
}

/// The content that the `type` column and the columns of that type store.
fn content_from_row(row: &status::Model) -> anyhow::Result<StatusContent> {
    let kind = status_type(&row.kind)?;
    let text_columns = [
        ("text", row.text.is_some()),
        ("background_color", row.background_color.is_some()),
        ("font", row.font.is_some()),
    ];
    let media_columns = [
        ("caption", row.caption.is_some()),
        ("media_mime_type", row.media_mime_type.is_some()),
        ("media_size_bytes", row.media_size_bytes.is_some()),
        ("media_width", row.media_width.is_some()),
        ("media_height", row.media_height.is_some()),
        ("media_duration_secs", row.media_duration_secs.is_some()),
        ("media_source_url", row.media_source_url.is_some()),
    ];
    match kind {
        StatusType::Text => {
            unused(kind, &media_columns)?;
            text_from_row(row).map(StatusContent::Text)
        }
        StatusType::Image => {
            unused(kind, &text_columns)?;
            media_from_row(row, kind).map(StatusContent::Image)
        }
        StatusType::Video => {
            unused(kind, &text_columns)?;
            media_from_row(row, kind).map(StatusContent::Video)
        }
    }
}

/// Parses the `type` column.
fn status_type(raw: &str) -> anyhow::Result<StatusType> {
    raw.parse().with_context(|| format!("column statuses.type holds {raw:?}, which this version does not know"))
}

/// Checks that none of `columns`, which a `kind` status does not use, is set (each comes with
/// whether it is).
fn unused(kind: StatusType, columns: &[(&'static str, bool)]) -> anyhow::Result<()> {
    match columns.iter().find(|(_, set)| *set) {
        Some((column, _)) => bail!("statuses.{column} is set in this {} status, which does not use it", kind.as_str()),
        None => Ok(()),
    }
}

/// The value of `column`, which a `kind` status must have.
fn required<T>(kind: StatusType, column: &'static str, value: Option<T>) -> anyhow::Result<T> {
    value.with_context(|| format!("statuses.{column} is NULL in this {} status", kind.as_str()))
}

/// The number in `column`, which a `kind` status must have, as the domain's type.
fn required_number<S: Copy + Display, T: TryFrom<S>>(
    kind: StatusType,
    column: &'static str,
    value: Option<S>,
) -> anyhow::Result<T> {
    from_column(column, required(kind, column, value)?)
}

/// The stored `value` of `column` as the domain's type, which must hold it.
fn from_column<S: Copy + Display, T: TryFrom<S>>(column: &'static str, value: S) -> anyhow::Result<T> {
    T::try_from(value).map_err(|_| anyhow!("statuses.{column} holds {value}, which is out of range"))
}

/// The content of a text status.
fn text_from_row(row: &status::Model) -> anyhow::Result<TextStatus> {
    const KIND: StatusType = StatusType::Text;
    let text = required(KIND, "text", row.text.clone())?;
    let argb = required_number(KIND, "background_color", row.background_color)?;
    let font = required(KIND, "font", row.font)?;
    Ok(TextStatus {
        text: StatusText::new(text).context("statuses.text holds an invalid text")?,
        background_color: BackgroundColor::from_argb(argb),
        font: u64::try_from(font)
            .ok()
            .and_then(Font::from_code)
            .with_context(|| format!("statuses.font holds {font}, which is not a font this version knows"))?,
    })
}

/// The content of an image or video status (`kind`).
fn media_from_row(row: &status::Model, kind: StatusType) -> anyhow::Result<MediaStatus> {
    let caption = match row.caption.clone() {
        Some(raw) => Some(
            Caption::new(raw)
                .context("statuses.caption holds an invalid caption")?
                .context("statuses.caption holds a blank caption (no caption is NULL)")?,
        ),
        None => None,
    };
    let duration_secs = match kind {
        StatusType::Video => Some(required_number(kind, "media_duration_secs", row.media_duration_secs)?),
        _ => {
            unused(kind, &[("media_duration_secs", row.media_duration_secs.is_some())])?;
            None
        }
    };
    Ok(MediaStatus {
        caption,
        media: MediaMeta {
            mime_type: required(kind, "media_mime_type", row.media_mime_type.clone())?,
            size_bytes: required_number(kind, "media_size_bytes", row.media_size_bytes)?,
            width: required_number(kind, "media_width", row.media_width)?,
            height: required_number(kind, "media_height", row.media_height)?,
            duration_secs,
        },
        source_url: row.media_source_url.clone(),
    })
}

/// The failure that the `failure_code` and `failure_message` columns store: both or neither.
fn failure_from_columns(code: Option<String>, message: Option<String>) -> anyhow::Result<Option<Failure>> {
    match (code, message) {
        (Some(code), Some(message)) => {
            Ok(Some(Failure { code: parse_stored("statuses.failure_code", &code)?, message }))
        }
        (None, None) => Ok(None),
        _ => bail!("a status with only one of failure_code and failure_message"),
    }
}

/// The statuses of claimed rows, row by row: an unreadable row is logged and left out, so the
/// others (already claimed) still run.
fn readable(doing: &'static str, rows: Vec<status::Model>) -> Vec<Status> {
    rows.into_iter()
        .filter_map(|row| {
            let id = row.id;
            status_from_row(row)
                .map_err(|error| tracing::error!(status = %id, %doing, error = format!("{error:#}"), "a claimed status cannot be read"))
                .ok()
        })
        .collect()
}
