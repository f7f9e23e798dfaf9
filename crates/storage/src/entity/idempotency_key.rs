//! A row of `idempotency_keys`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The SHA-256 of the request (method, path, body), as 64 lowercase hex digits.
    pub fingerprint: String,
    /// `in_flight` or `done`.
    pub state: String,
    /// `done` rows: the response's HTTP status.
    pub response_status: Option<i32>,
    /// `done` rows: the headers to replay, as a JSON list of `[name, value]` pairs.
    pub response_headers: Option<String>,
    /// `done` rows: the response body.
    pub response_body: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
