//! A row of `users`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The username, unique across the server.
    pub name: String,
    /// Space-separated scope names (`Scopes`'s `Display`).
    pub scopes: String,
    /// The SHA-256 of the per-user token, as 64 lowercase hex digits.
    pub token_hash: String,
    pub token_prefix: String,
    /// A PHC string; NULL for a user without a password.
    pub password_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
