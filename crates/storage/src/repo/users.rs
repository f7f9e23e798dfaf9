//! [`UserRepository`] on the `users` table.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use wastatus_domain::ports::{InsertError, StorageError, UserRepository};
use wastatus_domain::{KeyHash, Name, PasswordHash, TenantId, Timestamp, User, UserId};

use super::credentials::{hash_from_hex, hash_to_hex, scopes_from_text, scopes_to_text};
use super::{convert_all, convert_one};
use crate::Storage;
use crate::entity::user::{self, Column};
use crate::error::{failed, insert_failed};

#[async_trait]
impl UserRepository for Storage {
    async fn insert(&self, user: &User) -> Result<(), InsertError> {
        let row = user::ActiveModel {
            id: Set(*user.id.as_uuid()),
            tenant_id: Set(*user.tenant.as_uuid()),
            name: Set(user.name.as_str().to_owned()),
            scopes: Set(scopes_to_text(user.scopes)),
            token_hash: Set(hash_to_hex(&user.token_hash)),
            token_prefix: Set(user.token_prefix.clone()),
            password_hash: Set(user.password_hash.as_ref().map(|hash| hash.0.clone())),
            created_at: Set(user.created_at),
            last_used_at: Set(user.last_used_at),
            disabled_at: Set(user.disabled_at),
        };
        self.execute(user::Entity::insert(row)).await.map_err(insert_failed("inserting a user"))?;
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
        const DOING: &str = "reading a user";
        let row =
            self.fetch_optional(user::Entity::find().filter(tenants_user(tenant, id))).await.map_err(failed(DOING))?;
        convert_one(DOING, row, user_from_row)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, StorageError> {
        const DOING: &str = "looking up a user by id";
        let row = self.fetch_optional(user::Entity::find_by_id(*id.as_uuid())).await.map_err(failed(DOING))?;
        convert_one(DOING, row, user_from_row)
    }

    async fn find_by_token_hash(&self, hash: &KeyHash) -> Result<Option<User>, StorageError> {
        const DOING: &str = "looking up a user by token";
        let select = user::Entity::find().filter(Column::TokenHash.eq(hash_to_hex(hash)));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, user_from_row)
    }

    /// Compares with `=`, which is exact on both backends (bytewise on SQLite; on PostgreSQL,
    /// the database collation is deterministic, so only identical strings are equal).
    async fn find_by_name(&self, name: &str) -> Result<Option<User>, StorageError> {
        const DOING: &str = "looking up a user by name";
        let row =
            self.fetch_optional(user::Entity::find().filter(Column::Name.eq(name))).await.map_err(failed(DOING))?;
        convert_one(DOING, row, user_from_row)
    }

    /// Oldest first; users created at the same instant in id order.
    async fn list(&self, tenant: TenantId) -> Result<Vec<User>, StorageError> {
        const DOING: &str = "listing a tenant's users";
        let select = user::Entity::find()
            .filter(Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, user_from_row)
    }

    async fn set_token(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: &KeyHash,
        prefix: &str,
    ) -> Result<bool, StorageError> {
        let update = user::Entity::update_many()
            .col_expr(Column::TokenHash, Expr::value(hash_to_hex(hash)))
            .col_expr(Column::TokenPrefix, Expr::value(prefix))
            .filter(tenants_user(tenant, id));
        let updated = self.execute(update).await.map_err(failed("replacing a user's token"))?;
        Ok(updated > 0)
    }

    /// Sets `disabled_at` where it is NULL, then reads the user back.
    async fn disable(&self, tenant: TenantId, id: UserId, at: Timestamp) -> Result<Option<User>, StorageError> {
        const DOING: &str = "disabling a user";
        let update = user::Entity::update_many()
            .col_expr(Column::DisabledAt, Expr::value(at))
            .filter(tenants_user(tenant, id))
            .filter(Column::DisabledAt.is_null());
        self.execute(update).await.map_err(failed(DOING))?;
        let row =
            self.fetch_optional(user::Entity::find().filter(tenants_user(tenant, id))).await.map_err(failed(DOING))?;
        convert_one(DOING, row, user_from_row)
    }

    /// Moves `last_used_at` forward to `at`; an earlier `at` (a request that finished late)
    /// leaves the later value in place.
    async fn touch(&self, id: UserId, at: Timestamp) -> Result<(), StorageError> {
        let update = user::Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(at))
            .filter(Column::Id.eq(*id.as_uuid()))
            .filter(Condition::any().add(Column::LastUsedAt.is_null()).add(Column::LastUsedAt.lt(at)));
        self.execute(update).await.map_err(failed("recording the use of a user's credentials"))?;
        Ok(())
    }
}

/// The condition that selects the user `id` of `tenant` (and never another tenant's).
fn tenants_user(tenant: TenantId, id: UserId) -> Condition {
    Condition::all().add(Column::TenantId.eq(*tenant.as_uuid())).add(Column::Id.eq(*id.as_uuid()))
}

/// The user a row stores.
fn user_from_row(row: user::Model) -> anyhow::Result<User> {
    Ok(User {
        id: UserId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        name: Name::new(row.name).context("column users.name holds an invalid name")?,
        scopes: scopes_from_text("users.scopes", &row.scopes)?,
        token_hash: hash_from_hex("users.token_hash", &row.token_hash)?,
        token_prefix: row.token_prefix,
        password_hash: row.password_hash.map(PasswordHash),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        disabled_at: row.disabled_at,
    })
}
