//! [`SessionRepository`] on the `sessions` table (and `outbox_events`, for state changes).
//!
//! A session's owner is a user of the session's tenant. Inserting a session with an owner copies
//! the owner's id from the `users` row of that tenant (`INSERT … SELECT … FROM users`), so an
//! owner that is not a user of the tenant inserts nothing, which is reported as
//! [`InsertError::ParentMissing`], just as for an unknown user: another tenant's user answers as
//! if it did not exist. The foreign key to `users` still guards against a user deleted meanwhile.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use wastatus_domain::ports::{InsertError, SessionRepository, StorageError};
use wastatus_domain::{Event, Session, SessionId, SessionKey, SessionState, TenantId, Timestamp, UserId};

use super::{convert_all, convert_one, parse_stored};
use crate::Storage;
use crate::entity::session::{self, Column};
use crate::entity::user;
use crate::error::{failed, insert_failed, storage_error};

#[async_trait]
impl SessionRepository for Storage {
    async fn insert(&self, session: &Session) -> Result<(), InsertError> {
        const DOING: &str = "inserting a session";
        let inserted = match session.owner {
            None => {
                let row = session::ActiveModel {
                    tenant_id: Set(*session.key.tenant.as_uuid()),
                    id: Set(session.key.id.as_str().to_owned()),
                    owner_user_id: Set(None),
                    state: Set(session.state.as_str().to_owned()),
                    created_at: Set(session.created_at),
                    updated_at: Set(session.updated_at),
                };
                self.execute(session::Entity::insert(row)).await
            }
            Some(owner) => {
                let insert = owned_session_insert(session, owner).map_err(|err| storage_error(DOING, err))?;
                self.execute_statement(&insert).await
            }
        }
        .map_err(insert_failed(DOING))?;
        if inserted == 0 {
            // The owner is not a user of the tenant.
            return Err(InsertError::ParentMissing);
        }
        Ok(())
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StorageError> {
        const DOING: &str = "reading a session";
        let select = session::Entity::find().filter(is_session(key));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, session_from_row)
    }

    async fn find_by_owner(&self, tenant: TenantId, owner: UserId) -> Result<Option<Session>, StorageError> {
        const DOING: &str = "looking up a user's session";
        let select = session::Entity::find()
            .filter(Column::TenantId.eq(*tenant.as_uuid()))
            .filter(Column::OwnerUserId.eq(*owner.as_uuid()));
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

    /// The update and the outbox rows in one transaction; for a session that does not exist,
    /// the transaction is rolled back before any event is written.
    async fn set_state(
        &self,
        key: &SessionKey,
        state: SessionState,
        at: Timestamp,
        events: &[Event],
    ) -> Result<bool, StorageError> {
        const DOING: &str = "updating a session's state";
        let update = session::Entity::update_many()
            .col_expr(Column::State, Expr::value(state.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(is_session(key))
            // Only a change is stored, with its event: two callers that saw the same change
            // do not both record it.
            .filter(Column::State.ne(state.as_str()));
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        if self.execute_in(&txn, update).await.map_err(failed(DOING))? == 0 {
            txn.rollback().await.map_err(failed(DOING))?;
            return Ok(false);
        }
        self.append_events(&txn, events).await?;
        txn.commit().await.map_err(failed(DOING))?;
        Ok(true)
    }

    /// The session's statuses go with it, by the foreign key's `ON DELETE CASCADE`.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StorageError> {
        let delete = session::Entity::delete_many().filter(is_session(key));
        let deleted = self.execute(delete).await.map_err(failed("deleting a session"))?;
        Ok(deleted > 0)
    }
}

/// The condition that selects the session `key` (and never another tenant's).
fn is_session(key: &SessionKey) -> Condition {
    Condition::all().add(Column::TenantId.eq(*key.tenant.as_uuid())).add(Column::Id.eq(key.id.as_str()))
}

/// `INSERT INTO sessions (…) SELECT tenant_id, …, id, … FROM users WHERE id = owner AND
/// tenant_id = the session's tenant`: inserts `session` if `owner` is a user of its tenant, and
/// nothing otherwise.
fn owned_session_insert(session: &Session, owner: UserId) -> anyhow::Result<sea_orm::sea_query::InsertStatement> {
    let owner_row = Query::select()
        .expr(Expr::col((user::Entity, user::Column::TenantId)))
        .expr(Expr::value(session.key.id.as_str()))
        .expr(Expr::col((user::Entity, user::Column::Id)))
        .expr(Expr::value(session.state.as_str()))
        .expr(Expr::value(session.created_at))
        .expr(Expr::value(session.updated_at))
        .from(user::Entity)
        .and_where(user::Column::Id.eq(*owner.as_uuid()))
        .and_where(user::Column::TenantId.eq(*session.key.tenant.as_uuid()))
        .take();
    let mut insert = Query::insert();
    insert
        .into_table(session::Entity)
        .columns([
            Column::TenantId,
            Column::Id,
            Column::OwnerUserId,
            Column::State,
            Column::CreatedAt,
            Column::UpdatedAt,
        ])
        .select_from(owner_row)?;
    Ok(insert)
}

/// The session a row stores.
fn session_from_row(row: session::Model) -> anyhow::Result<Session> {
    Ok(Session {
        key: SessionKey { tenant: TenantId::from_uuid(row.tenant_id), id: SessionId::new(row.id)? },
        owner: row.owner_user_id.map(UserId::from_uuid),
        state: parse_stored("sessions.state", &row.state)?,
        reason: None,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
