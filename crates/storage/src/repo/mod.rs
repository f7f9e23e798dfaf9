//! The repository ports, implemented on [`crate::Storage`], and the conversions between rows and
//! domain values.

use std::str::FromStr;

use anyhow::Context;
use wastatus_domain::ports::StorageError;

use crate::error::storage_error;

mod api_keys;
mod credentials;
mod idempotency;
mod outbox;
mod sessions;
mod status_media;
mod statuses;
mod tenants;
mod users;
mod webhooks;

/// Converts a row read while `doing` something into a domain value.
fn convert_one<R, T>(
    doing: &'static str,
    row: Option<R>,
    convert: impl FnOnce(R) -> anyhow::Result<T>,
) -> Result<Option<T>, StorageError> {
    row.map(convert).transpose().map_err(|err| storage_error(doing, err))
}

/// Converts rows read while `doing` something into domain values; one bad row fails them all.
fn convert_all<R, T>(
    doing: &'static str,
    rows: Vec<R>,
    convert: impl FnMut(R) -> anyhow::Result<T>,
) -> Result<Vec<T>, StorageError> {
    rows.into_iter().map(convert).collect::<anyhow::Result<_>>().map_err(|err| storage_error(doing, err))
}

/// Parses an enum stored under its domain name (`as_str`) in `column`.
fn parse_stored<T>(column: &'static str, raw: &str) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    raw.parse().with_context(|| format!("column {column} holds a value this version does not know"))
}
