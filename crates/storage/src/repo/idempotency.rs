//! [`IdempotencyRepository`] on the `idempotency_keys` table.
//!
//! One row per tenant and key: the request's fingerprint (64 lowercase hex digits), its state
//! (`in_flight` while the first request is handled, `done` once its answer is stored) and, when
//! `done`, the answer. [`IdempotencyRepository::begin`] is one upsert: `INSERT … ON CONFLICT
//! (tenant_id, key) DO UPDATE … WHERE idempotency_keys.expires_at < now`, which inserts a new
//! key, replaces an expired record and leaves a live one alone, atomically on both backends (on
//! PostgreSQL a concurrent upsert of the same key waits for the first and then sees its row; on
//! SQLite writers take turns). Only when it changed nothing is the live record read, to say why.

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};
use wastatus_domain::ports::{Begin, IdempotencyRepository, StorageError, StoredResponse};
use wastatus_domain::{KeyHash, TenantId, Timestamp};

use super::credentials::{hash_from_hex, hash_to_hex};
use crate::Storage;
use crate::entity::idempotency_key::{self, Column};
use crate::error::{failed, storage_error};

/// `state` while the first request with the key is being handled.
const IN_FLIGHT: &str = "in_flight";
/// `state` once its answer is stored.
const DONE: &str = "done";

/// How many times [`IdempotencyRepository::begin`] tries when the live record it found is gone
/// by the time it reads it (abandoned or purged meanwhile).
const BEGIN_TRIES: usize = 3;

#[async_trait]
impl IdempotencyRepository for Storage {
    async fn begin(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Begin, StorageError> {
        const DOING: &str = "starting an idempotent request";
        let fingerprint = KeyHash(*fingerprint);
        for _ in 0..BEGIN_TRIES {
            let row = idempotency_key::ActiveModel {
                tenant_id: Set(*tenant.as_uuid()),
                key: Set(key.to_owned()),
                fingerprint: Set(hash_to_hex(&fingerprint)),
                state: Set(IN_FLIGHT.to_owned()),
                response_status: Set(None),
                response_headers: Set(None),
                response_body: Set(None),
                created_at: Set(now),
                expires_at: Set(expires_at),
            };
            let replace_expired = OnConflict::columns([Column::TenantId, Column::Key])
                .update_columns([
                    Column::Fingerprint,
                    Column::State,
                    Column::ResponseStatus,
                    Column::ResponseHeaders,
                    Column::ResponseBody,
                    Column::CreatedAt,
                    Column::ExpiresAt,
                ])
                .action_and_where(Expr::col((idempotency_key::Entity, Column::ExpiresAt)).lt(now))
                .to_owned();
            let insert = idempotency_key::Entity::insert(row).on_conflict(replace_expired);
            if self.execute(insert).await.map_err(failed(DOING))? > 0 {
                return Ok(Begin::Started);
            }
            let select = idempotency_key::Entity::find().filter(is_key(tenant, key));
            if let Some(row) = self.fetch_optional(select).await.map_err(failed(DOING))? {
                return found(row, &fingerprint).map_err(|err| storage_error(DOING, err));
            }
        }
        Err(storage_error(DOING, anyhow!("the live record of the key kept disappearing")))
    }

    /// Stores the answer on an `in_flight` record; a record that is gone (abandoned, purged) or
    /// already `done` is left as it is.
    async fn complete(&self, tenant: TenantId, key: &str, response: &StoredResponse) -> Result<(), StorageError> {
        const DOING: &str = "storing the answer to an idempotent request";
        let headers = serde_json::to_string(&response.headers)
            .context("could not serialise the headers")
            .map_err(|err| storage_error(DOING, err))?;
        let update = idempotency_key::Entity::update_many()
            .col_expr(Column::State, Expr::value(DONE))
            .col_expr(Column::ResponseStatus, Expr::value(i32::from(response.status)))
            .col_expr(Column::ResponseHeaders, Expr::value(headers))
            .col_expr(Column::ResponseBody, Expr::value(response.body.clone()))
            .filter(is_key(tenant, key))
            .filter(Column::State.eq(IN_FLIGHT));
        self.execute(update).await.map_err(failed(DOING))?;
        Ok(())
    }

    /// Deletes the record only while it is `in_flight`: an answered key stays answered.
    async fn abandon(&self, tenant: TenantId, key: &str) -> Result<(), StorageError> {
        let delete =
            idempotency_key::Entity::delete_many().filter(is_key(tenant, key)).filter(Column::State.eq(IN_FLIGHT));
        self.execute(delete).await.map_err(failed("abandoning an idempotent request"))?;
        Ok(())
    }

    /// Records in either state, `expires_at < now`.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError> {
        let delete = idempotency_key::Entity::delete_many().filter(Column::ExpiresAt.lt(now));
        self.execute(delete).await.map_err(failed("purging expired idempotency keys"))
    }
}

/// The condition that selects the record of `key` of `tenant` (and never another tenant's).
fn is_key(tenant: TenantId, key: &str) -> Condition {
    Condition::all().add(Column::TenantId.eq(*tenant.as_uuid())).add(Column::Key.eq(key))
}

/// What a live record says to a request with `fingerprint`: another request's key is a
/// mismatch, whatever its state; the same request's is in flight or answered.
fn found(row: idempotency_key::Model, fingerprint: &KeyHash) -> anyhow::Result<Begin> {
    if hash_from_hex("idempotency_keys.fingerprint", &row.fingerprint)? != *fingerprint {
        return Ok(Begin::Mismatch);
    }
    match row.state.as_str() {
        IN_FLIGHT => Ok(Begin::InFlight),
        DONE => Ok(Begin::Replay(response_from_row(row)?)),
        other => bail!("column idempotency_keys.state holds {other:?}, which this version does not know"),
    }
}

/// The answer a `done` record stores.
fn response_from_row(row: idempotency_key::Model) -> anyhow::Result<StoredResponse> {
    let status = row.response_status.context("idempotency_keys.response_status is NULL in a done record")?;
    let headers = row.response_headers.context("idempotency_keys.response_headers is NULL in a done record")?;
    Ok(StoredResponse {
        status: u16::try_from(status)
            .map_err(|_| anyhow!("idempotency_keys.response_status holds {status}, which is out of range"))?,
        headers: serde_json::from_str(&headers)
            .context("idempotency_keys.response_headers does not hold a list of [name, value] pairs")?,
        body: row.response_body.context("idempotency_keys.response_body is NULL in a done record")?,
    })
}
