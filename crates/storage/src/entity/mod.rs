//! The tables as sea-orm entities: one row type per table, used to build queries and to read
//! rows. The conversions to and from domain values live in [`crate::repo`].

pub mod api_key;
pub mod idempotency_key;
pub mod outbox_event;
pub mod session;
pub mod status;
pub mod status_media;
pub mod tenant;
pub mod user;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
