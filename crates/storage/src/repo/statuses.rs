//! [`StatusRepository`] on the `statuses` table.
//!
//! A status's content is spread over the `type` column and the columns of that type (for text:
//! `text`, `background_color`, `font`); the columns of other types stay NULL. A new kind of
//! content adds its columns in a migration, an arm to [`content_columns`] and an arm to
//! [`content_from_row`].

use anyhow::{Context, bail};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use wastatus_domain::ports::{InsertError, StatusRepository, StorageError};
use wastatus_domain::{
    BackgroundColor, Cursor, Failure, Font, MessageId, Page, SessionId, SessionKey, Status, StatusContent, StatusId,
    StatusQuery, StatusRecord, StatusState, StatusText, StatusType, TenantId, TextStatus,
};

use super::{convert_all, convert_one, parse_stored};
use crate::Storage;
use crate::entity::status::{self, Column};
use crate::error::{failed, insert_failed};

#[async_trait]
impl StatusRepository for Storage {
    async fn insert(&self, status: &Status) -> Result<(), InsertError> {
        self.execute(status::Entity::insert(status_row(status))).await.map_err(insert_failed("inserting a status"))?;
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

/// The row that stores `status`.
fn status_row(status: &Status) -> status::ActiveModel {
    let mut row = lifecycle_columns(status);
    let content = content_columns(status.content());
    row.kind = content.kind;
    row.text = content.text;
    row.background_color = content.background_color;
    row.font = content.font;
    row.id = Set(*status.id().as_uuid());
    row.tenant_id = Set(*status.session().tenant.as_uuid());
    row.session_id = Set(status.session().id.as_str().to_owned());
    row.view_once = Set(status.view_once());
    row.created_at = Set(status.created_at());
    row
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

/// The `type` column and the content columns of that type; the other columns are left unset.
fn content_columns(content: &StatusContent) -> status::ActiveModel {
    match content {
        StatusContent::Text(text) => status::ActiveModel {
            kind: Set(StatusType::Text.as_str().to_owned()),
            text: Set(Some(text.text.as_str().to_owned())),
            background_color: Set(Some(i64::from(text.background_color.argb()))),
            font: Set(Some(i16::from(text.font.code()))),
            ..Default::default()
        },
    }
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
    match status_type(&row.kind)? {
        StatusType::Text => text_from_row(row).map(StatusContent::Text),
        other @ (StatusType::Image | StatusType::Video) => {
            bail!("{} statuses are not supported by this version", other.as_str())
        }
    }
}

/// Parses the `type` column.
fn status_type(raw: &str) -> anyhow::Result<StatusType> {
    raw.parse().with_context(|| format!("column statuses.type holds {raw:?}, which this version does not know"))
}

/// The content of a text status.
fn text_from_row(row: &status::Model) -> anyhow::Result<TextStatus> {
    let text = row.text.clone().context("a text status without text")?;
    let argb = row.background_color.context("a text status without a background colour")?;
    let font = row.font.context("a text status without a font")?;
    Ok(TextStatus {
        text: StatusText::new(text)?,
        background_color: BackgroundColor::from_argb(u32::try_from(argb).context("background colour out of range")?),
        font: u64::try_from(font).ok().and_then(Font::from_code).with_context(|| format!("unknown font {font}"))?,
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
