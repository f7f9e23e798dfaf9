//! [`ApiKeyRepository`] on the `api_keys` table.

use std::fmt::Write as _;

use anyhow::{Context, ensure};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};
use wastatus_domain::ports::{ApiKeyRepository, InsertError, StorageError};
use wastatus_domain::{ApiKey, ApiKeyId, KeyHash, Name, TenantId, Timestamp};

use super::convert_one;
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
            created_at: Set(key.created_at),
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
}

/// The key a row stores.
fn key_from_row(row: api_key::Model) -> anyhow::Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        name: row.name.map(Name::new).transpose().context("invalid API key name")?,
        display_prefix: row.display_prefix,
        hash: hash_from_hex(&row.key_hash)?,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// A key hash as stored: 64 lowercase hex digits.
fn hash_to_hex(hash: &KeyHash) -> String {
    hash.0.iter().fold(String::with_capacity(64), |mut hex, byte| {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Reads a key hash stored by [`hash_to_hex`].
fn hash_from_hex(hex: &str) -> anyhow::Result<KeyHash> {
    let digits = hex.as_bytes();
    ensure!(digits.len() == 64, "column key_hash holds {} characters instead of 64 hex digits", digits.len());
    let mut hash = [0_u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(KeyHash(hash))
}

/// The value of one hex digit.
fn nibble(digit: u8) -> anyhow::Result<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
        .context("column key_hash holds a character that is not a hex digit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = KeyHash(std::array::from_fn(|i| u8::try_from(i * 7 + 3).unwrap_or(0)));
        let hex = hash_to_hex(&hash);
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("030a1118"), "{hex}");
        assert_eq!(hash_from_hex(&hex).unwrap(), hash);
        assert_eq!(hash_to_hex(&KeyHash([0xAB; 32])), "ab".repeat(32));
    }

    #[test]
    fn malformed_hex_is_an_error() {
        for bad in ["", "ab", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65), &format!("+{}", "a".repeat(63))] {
            assert!(hash_from_hex(bad).is_err(), "{bad:?}");
        }
    }
}
