//! The tables as sea-orm entities: one row type per table, used to build queries and to read
//! rows. The conversions to and from domain values live in [`crate::repo`].

pub mod api_key;
pub mod session;
pub mod status;
pub mod tenant;
pub mod user;
