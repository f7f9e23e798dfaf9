//! The prepared media of an image or video status, in `status_media`: written with the status
//! and kept until the status is settled, so that a worker (in this process or, after a restart,
//! another) can send it.
//!
//! `kind` is `image` or `video` and agrees with the status's type: storing media of another
//! kind, or media with a text status, is refused with a [`StorageError`]. Numbers live in
//! `integer` columns, as in `statuses`; a value too large for its column is refused on insert,
//! and a stored value outside the domain's range is a [`StorageError`] when read.
//!
//! [`StorageError`]: wastatus_domain::ports::StorageError

use std::fmt::Display;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use sea_orm::ActiveValue::Set;
use wastatus_domain::{MediaKind, PreparedMedia, Status, StatusType};

use crate::entity::status_media;

/// The row that stores `media`, the prepared media of `status`, or why it cannot be stored.
pub(super) fn prepared_row(status: &Status, media: &PreparedMedia) -> anyhow::Result<status_media::ActiveModel> {
    let kind = match (status.status_type(), media.kind) {
        (StatusType::Image, MediaKind::Image) => "image",
        (StatusType::Video, MediaKind::Video) => "video",
        (status_type, kind) => bail!("{kind} media cannot be stored with a {} status", status_type.as_str()),
    };
    Ok(status_media::ActiveModel {
        status_id: Set(*status.id().as_uuid()),
        kind: Set(kind.to_owned()),
        mime_type: Set(media.mime_type.clone()),
        bytes: Set(media.bytes.to_vec()),
        width: Set(to_column("width", media.width)?),
        height: Set(to_column("height", media.height)?),
        duration_secs: Set(media.duration_secs.map(|secs| to_column("duration_secs", secs)).transpose()?),
        thumbnail: Set(media.thumbnail.to_vec()),
        thumbnail_is_placeholder: Set(media.thumbnail_is_placeholder),
    })
}

/// The prepared media a row stores.
pub(super) fn prepared_from_row(row: status_media::Model) -> anyhow::Result<PreparedMedia> {
    let kind = match row.kind.as_str() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        other => bail!("column status_media.kind holds {other:?}, which this version does not know"),
    };
    Ok(PreparedMedia {
        kind,
        mime_type: row.mime_type,
        bytes: Bytes::from(row.bytes),
        width: from_column("width", row.width)?,
        height: from_column("height", row.height)?,
        duration_secs: row.duration_secs.map(|secs| from_column("duration_secs", secs)).transpose()?,
        thumbnail: Bytes::from(row.thumbnail),
        thumbnail_is_placeholder: row.thumbnail_is_placeholder,
    })
}

/// `value` as the signed type of `column`, which must hold it.
fn to_column<T: Copy + Display, C: TryFrom<T>>(column: &'static str, value: T) -> anyhow::Result<C> {
    C::try_from(value).map_err(|_| anyhow!("{value} is too large for status_media.{column}"))
}

/// The stored `value` of `column` as the domain's type, which must hold it.
fn from_column<S: Copy + Display, T: TryFrom<S>>(column: &'static str, value: S) -> anyhow::Result<T> {
    T::try_from(value).map_err(|_| anyhow!("status_media.{column} holds {value}, which is out of range"))
}
