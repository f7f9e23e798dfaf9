//! [`TenantRepository`] on the `tenants` table.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};
use wastatus_domain::ports::{InsertError, StorageError, TenantRepository};
use wastatus_domain::{Name, Tenant, TenantId};

use super::{convert_all, convert_one};
use crate::Storage;
use crate::entity::tenant::{self, Column};
use crate::error::{failed, insert_failed};

#[async_trait]
impl TenantRepository for Storage {
    async fn insert(&self, tenant: &Tenant) -> Result<(), InsertError> {
        let row = tenant::ActiveModel {
            id: Set(*tenant.id.as_uuid()),
            name: Set(tenant.name.as_str().to_owned()),
            created_at: Set(tenant.created_at),
        };
        self.execute(tenant::Entity::insert(row)).await.map_err(insert_failed("inserting a tenant"))?;
        Ok(())
    }

    async fn get(&self, id: TenantId) -> Result<Option<Tenant>, StorageError> {
        const DOING: &str = "reading a tenant";
        let row = self.fetch_optional(tenant::Entity::find_by_id(*id.as_uuid())).await.map_err(failed(DOING))?;
        convert_one(DOING, row, tenant_from_row)
    }

    /// Oldest first; tenants created at the same instant in id order.
    async fn list(&self) -> Result<Vec<Tenant>, StorageError> {
        const DOING: &str = "listing the tenants";
        let select = tenant::Entity::find().order_by_asc(Column::CreatedAt).order_by_asc(Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, tenant_from_row)
    }
}

/// The tenant a row stores.
fn tenant_from_row(row: tenant::Model) -> anyhow::Result<Tenant> {
    Ok(Tenant {
        id: TenantId::from_uuid(row.id),
        name: Name::new(row.name).context("invalid tenant name")?,
        created_at: row.created_at,
    })
}
