//! [`ApiKeyRepository`] on the `api_keys` table.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use wastatus_domain::ports::{ApiKeyRepository, InsertError, StorageError};
use wastatus_domain::{ApiKey, ApiKeyId, KeyHash, Name, TenantId, Timestamp};

use super::credentials::{hash_from_hex, hash_to_hex, scopes_from_text, scopes_to_text};
use super::{convert_all, convert_one};
use crate::Storage;
use crate::entity::api_key::{self, Column};
use crate::error::{failed, insert_failed};

#[async_trait]
impl ApiKeyRepository for Storage {
    async fn insert(&self, key: &ApiKey) -> Result<(), InsertError> {
        let row = api_key::ActiveModel {
            id: Set(*key.id.as_uuid()),
            tenant_id: Set(*key.tenant.as_uuid()),
            name: Set(key.name.as_ref().map(|name| name.as_str().to_owned())),
            display_prefix: Set(key.display_prefix.clone()),
            key_hash: Set(hash_to_hex(&key.hash)),
            scopes: Set(scopes_to_text(key.scopes)),
            created_at: Set(key.created_at),
            expires_at: Set(key.expires_at),
            last_used_at: Set(key.last_used_at),
            revoked_at: Set(key.revoked_at),
        };
        self.execute(api_key::Entity::insert(row)).await.map_err(insert_failed("inserting an API key"))?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, StorageError> {
        const DOING: &str = "looking up an API key";
        let select = api_key::Entity::find().filter(Column::KeyHash.eq(hash_to_hex(hash)));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, key_from_row)
    }

    /// Moves `last_used_at` forward to `at`; an earlier `at` (a request that finished late)
    /// leaves the later value in place.
    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StorageError> {
        let update = api_key::Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(at))
            .filter(Column::Id.eq(*id.as_uuid()))
            .filter(Condition::any().add(Column::LastUsedAt.is_null()).add(Column::LastUsedAt.lt(at)));
        self.execute(update).await.map_err(failed("recording the use of an API key"))?;
        Ok(())
    }

    /// Oldest first; keys created at the same instant in id order.
    async fn list(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StorageError> {
        const DOING: &str = "listing a tenant's API keys";
        let select = api_key::Entity::find()
            .filter(Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, key_from_row)
    }

    /// Sets `revoked_at` where it is NULL, then reads the key back.
    async fn revoke(&self, tenant: TenantId, id: ApiKeyId, at: Timestamp) -> Result<Option<ApiKey>, StorageError> {
        const DOING: &str = "revoking an API key";
        let update = api_key::Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(at))
            .filter(tenants_key(tenant, id))
            .filter(Column::RevokedAt.is_null());
        self.execute(update).await.map_err(failed(DOING))?;
        let row = self
            .fetch_optional(api_key::Entity::find().filter(tenants_key(tenant, id)))
            .await
            .map_err(failed(DOING))?;
        convert_one(DOING, row, key_from_row)
    }
}

/// The condition that selects the key `id` of `tenant` (and never another tenant's).
fn tenants_key(tenant: TenantId, id: ApiKeyId) -> Condition {
    Condition::all().add(Column::TenantId.eq(*tenant.as_uuid())).add(Column::Id.eq(*id.as_uuid()))
}

/// The key a row stores.
fn key_from_row(row: api_key::Model) -> anyhow::Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        name: row.name.map(Name::new).transpose().context("invalid API key name")?,
        display_prefix: row.display_prefix,
        hash: hash_from_hex("api_keys.key_hash", &row.key_hash)?,
        scopes: scopes_from_text("api_keys.scopes", &row.scopes)?,
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}
