//! A row of `status_media`: the prepared media of an unsettled image or video status.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_media")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub status_id: Uuid,
    /// `image` or `video`.
    pub kind: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    pub width: i32,
    pub height: i32,
    /// Videos: the length in whole seconds; NULL for images.
    pub duration_secs: Option<i32>,
    /// A small JPEG preview.
    pub thumbnail: Vec<u8>,
    pub thumbnail_is_placeholder: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
