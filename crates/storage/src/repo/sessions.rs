//! [`SessionRepository`] on the `sessions` table.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use wastatus_domain::ports::{InsertError, SessionRepository, StorageError};
use wastatus_domain::{Session, SessionId, SessionKey, SessionState, TenantId, Timestamp};

use super::{convert_all, convert_one, parse_stored};
use crate::Storage;
use crate::entity::session::{self, Column};
use crate::error::{failed, insert_failed};

#[async_trait]
impl SessionRepository for Storage {
    async fn insert(&self, session: &Session) -> Result<(), InsertError> {
        let row = session::ActiveModel {
            tenant_id: Set(*session.key.tenant.as_uuid()),
            id: Set(session.key.id.as_str().to_owned()),
            state: Set(session.state.as_str().to_owned()),
            created_at: Set(session.created_at),
            updated_at: Set(session.updated_at),
        };
        self.execute(session::Entity::insert(row)).await.map_err(insert_failed("inserting a session"))?;
        Ok(())
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StorageError> {
        const DOING: &str = "reading a session";
        let select = session::Entity::find().filter(is_session(key));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, session_from_row)
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<Session>, StorageError> {
        const DOING: &str = "listing a tenant's sessions";
        let select = session::Entity::find().filter(Column::TenantId.eq(*tenant.as_uuid())).order_by_asc(Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, session_from_row)
    }

    async fn list_all(&self) -> Result<Vec<Session>, StorageError> {
        const DOING: &str = "listing all sessions";
        let select = session::Entity::find().order_by_asc(Column::TenantId).order_by_asc(Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, session_from_row)
    }

    async fn set_state(&self, key: &SessionKey, state: SessionState, at: Timestamp) -> Result<bool, StorageError> {
        let update = session::Entity::update_many()
            .col_expr(Column::State, Expr::value(state.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(is_session(key));
        let updated = self.execute(update).await.map_err(failed("updating a session's state"))?;
        Ok(updated > 0)
    }

    /// The session's statuses go with it, by the foreign key's `ON DELETE CASCADE`.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StorageError> {
        let delete = session::Entity::delete_many().filter(is_session(key));
        let deleted = self.execute(delete).await.map_err(failed("deleting a session"))?;
        Ok(deleted > 0)
    }
}

/// The condition that selects the session `key` (and never another tenant's).
fn is_session(key: &SessionKey) -> sea_orm::Condition {
    sea_orm::Condition::all().add(Column::TenantId.eq(*key.tenant.as_uuid())).add(Column::Id.eq(key.id.as_str()))
}

/// The session a row stores.
fn session_from_row(row: session::Model) -> anyhow::Result<Session> {
    Ok(Session {
        key: SessionKey { tenant: TenantId::from_uuid(row.tenant_id), id: SessionId::new(row.id)? },
        state: parse_stored("sessions.state", &row.state)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
