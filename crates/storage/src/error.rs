//! Turning database errors into the errors the ports promise.
//!
//! Callers never see SQL errors: a unique-key violation on insert becomes
//! [`InsertError::AlreadyExists`], a foreign-key violation [`InsertError::ParentMissing`]; everything else becomes a [`StorageError`] that says what was
//! being done and keeps the database error as its cause, for the logs.

use sea_orm::{DbErr, SqlErr};
use wastatus_domain::ports::{InsertError, StorageError};

/// A storage failure while `doing` something, e.g. `"reading a session"`.
pub(crate) fn storage_error(doing: &'static str, cause: impl Into<anyhow::Error>) -> StorageError {
    StorageError(cause.into().context(format!("storage failed while {doing}")))
}

/// Maps a database error to a [`StorageError`], for use with `map_err`.
pub(crate) fn failed(doing: &'static str) -> impl FnOnce(DbErr) -> StorageError {
    move |err| storage_error(doing, err)
}

/// Maps a failed insert: a unique-key violation means the entity exists, a foreign-key
/// violation that what it belongs to does not.
pub(crate) fn insert_failed(doing: &'static str) -> impl FnOnce(DbErr) -> InsertError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => InsertError::AlreadyExists,
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => InsertError::ParentMissing,
        _ => InsertError::Storage(storage_error(doing, err)),
    }
}
