//! [`StatusRepository`] on the `statuses` table.
//!
//! A status's content is spread over the `type` column and the columns of that type; the columns
//! of other types stay NULL:
//! - `text`: `text`, `background_color`, `font`, all set;
//! - `image`: `caption` (NULL for none), `media_mime_type`, `media_size_bytes`, `media_width`,
//!   `media_height`, all set, and `media_duration_secs` NULL;
//! - `video`: as `image`, with `media_duration_secs` set.
//!
//! Reading checks all of that: a row that breaks a rule (a missing column, a column of another
//! type, a value out of the domain's range) is a [`StorageError`] that names the column. Writing
//! refuses, with a [`StorageError`], a status that would make such a row (a video without a
//! duration, a size that does not fit the column), so that every row written reads back.
//!
//! A new kind of content adds its columns in a migration, an arm to [`set_content_columns`] and
//! an arm to [`content_from_row`].

use std::fmt::Display;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use wastatus_domain::ports::{InsertError, StatusRepository, StorageError};
use wastatus_domain::{
    BackgroundColor, Caption, Cursor, Failure, Font, MediaMeta, MediaStatus, MessageId, Page, SessionId, SessionKey,
    Status, StatusContent, StatusId, StatusQuery, StatusRecord, StatusState, StatusText, StatusType, TenantId,
    TextStatus,
};

use super::{convert_all, convert_one, parse_stored};
use crate::Storage;
use crate::entity::status::{self, Column};
use crate::error::{failed, insert_failed, storage_error};

#[async_trait]
impl StatusRepository for Storage {
    async fn insert(&self, status: &Status) -> Result<(), InsertError> {
        const DOING: &str = "inserting a status";
        let row = status_row(status).map_err(|err| storage_error(DOING, err))?;
        self.execute(status::Entity::insert(row)).await.map_err(insert_failed(DOING))?;
        Ok(())
    }

    /// Saves the lifecycle columns; a status's identity, content and creation time never change.
    async fn update(&self, status: &Status, expected: StatusState) -> Result<bool, StorageError> {
        let update = status::Entity::update_many().set(lifecycle_columns(status)).filter(
            Condition::all()
                .add(Column::Id.eq(*status.id().as_uuid()))
                .add(in_session(status.session()))
                .add(Column::State.eq(expected.as_str())),
        );
        let updated = self.execute(update).await.map_err(failed("updating a status"))?;
        Ok(updated > 0)
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
fn status_row(status: &Status) -> anyhow::Result<status::ActiveModel> {
    let mut row = lifecycle_columns(status);
    set_content_columns(&mut row, status.content())?;
    row.id = Set(*status.id().as_uuid());
    row.tenant_id = Set(*status.session().tenant.as_uuid());
    row.session_id = Set(status.session().id.as_str().to_owned());
    row.view_once = Set(status.view_once());
    row.created_at = Set(status.created_at());
    Ok(row)
}

/// The columns that change as a status moves through its lifecycle.
fn lifecycle_columns(status: &Status) -> status::ActiveModel {
    let failure = status.failure();
    status::ActiveModel {
        state: Set(status.state().as_str().to_owned()),
        message_id: Set(status.message_id().map(|id| id.as_str().to_owned())),
        failure_code: Set(failure.map(|f| f.code.as_str().to_owned())),
        failure_message: Set(failure.map(|f| f.message.clone())),
        updated_at: Set(status.updated_at()),
        published_at: Set(status.published_at()),
        revoked_at: Set(status.revoked_at()),
        ..Default::default()
    }
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
    match content {
        StatusContent::Text(text) => {
            row.text = Set(Some(text.text.as_str().to_owned()));
            row.background_color = Set(Some(i64::from(text.background_color.argb())));
            row.font = Set(Some(i16::from(text.font.code())));
        }
        StatusContent::Image(media) | StatusContent::Video(media) => {
            let MediaStatus { caption, media: MediaMeta { mime_type, size_bytes, width, height, duration_secs } } =
                media;
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
        state: parse_stored("statuses.state", &row.state)?,
        message_id: row.message_id.map(MessageId::new).transpose()?,
        failure: failure_from_columns(row.failure_code, row.failure_message)?,
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
